"""helpers.rule_coverage: the rule each operation of a model gets, and the refusal, naming the layer and the
alternatives, of what no rule covers (a Pow, a custom gradient, a StopGradient outside tf.nn.moments, a matrix
product of two varying factors)."""

import keras
import pytest
import tensorflow as tf

from helpers import rule_coverage
from helpers.errors import InputError
from helpers.shap_guard import UnsupportedOperationError
from tests.toy_models import cubed_model, mobile_block


def test_an_operation_without_a_rule_is_listed_with_its_layer_and_refused():
    model = cubed_model()
    rows = {row.operation: row for row in rule_coverage.operation_rules(model)}
    assert rows["Pow"].rule is None and rows["Pow"].layers == ("cube",)
    assert rows["Conv2D"].source == "shap"
    with pytest.raises(UnsupportedOperationError, match=r"Pow .*layer\(s\) cube.*GradientExplainer.*"
                                                        r"split_at_layer\(model, 'flat'\)"):
        rule_coverage.check(model)


def test_a_stop_gradient_elsewhere_is_refused():
    """Outside tf.nn.moments a StopGradient on the path would silently take its share away."""
    inp = keras.Input((3,))
    x = keras.layers.Lambda(keras.ops.stop_gradient, name="frozen")(inp)
    model = keras.Model([inp], keras.layers.Dense(2)(keras.layers.Add()([inp, x])))
    with pytest.raises(UnsupportedOperationError, match="StopGradient .*does not record.*frozen"):
        rule_coverage.check(model)


def test_a_custom_gradient_is_refused():
    @tf.custom_gradient
    def clipped_identity(t):
        return tf.identity(t), lambda dy: tf.clip_by_value(dy, -1.0, 1.0)

    inp = keras.Input((3,))
    x = keras.layers.Lambda(clipped_identity, name="straight_through")(inp)
    model = keras.Model([inp], keras.layers.Dense(2, name="logits")(x))
    rows = {row.operation: row for row in rule_coverage.operation_rules(model)}
    assert rows["IdentityN"].rule is None and rows["IdentityN"].layers == ("straight_through",)
    with pytest.raises(UnsupportedOperationError, match="IdentityN .*custom_gradient.*straight_through"):
        rule_coverage.check(model)


def test_a_matrix_product_of_two_varying_factors_is_refused():
    """shap's two-input rule for MatMul divides element by element: no rule for x @ x^T (attention-like)."""
    inp = keras.Input((2, 3))
    gram = keras.layers.Lambda(lambda t: keras.ops.matmul(t, keras.ops.transpose(t, (0, 2, 1))), name="gram")(inp)
    model = keras.Model([inp], keras.layers.Dense(2)(keras.layers.Flatten()(gram)))
    with pytest.raises(UnsupportedOperationError, match=r"MatMul\w*\(both inputs varying\) .*matrix product.*gram"):
        rule_coverage.check(model)


def test_check_needs_a_single_input_keras_model():
    with pytest.raises(InputError, match="exactly one input"):
        rule_coverage.check(object())


def test_operation_rules_names_the_rule_of_each_operation():
    rows = {row.operation: row for row in rule_coverage.operation_rules(mobile_block())}
    assert rows["Relu6"].rule == "rescale" and rows["Relu6"].source == "helpers.deep_rules"
    assert rows["DepthwiseConv2dNative"].rule == "linear: gradient"
    assert rows["Conv2D"].source == "shap" and all(row.rule for row in rows.values())
