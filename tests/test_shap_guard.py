"""The gradient-override protection: shap's DeepExplainer, failing on an operation it has no rule for, leaves
TensorFlow recording every gradient as shap_<type>; later gradients fail. These tests reproduce the breakage
without the guard and show it gone with it."""

import keras
import numpy as np
import pytest
import shap
import tensorflow as tf

from helpers import shap_guard
from helpers.errors import BookError, InputError
from helpers.shap_guard import UnsupportedOperationError, guarded
from tests.toy_models import mobile_block


def relu6_model():
    return mobile_block("softmax")


@pytest.fixture
def model_and_data():
    rng = np.random.default_rng(0)
    yield relu6_model(), rng.random((5, 8, 8, 3), dtype=np.float32), rng.random((2, 8, 8, 3), dtype=np.float32)
    shap_guard.repair_gradients()  # whatever a test did, leave this process clean


def gradient_explainer_works(model, background, images) -> bool:
    try:
        shap.GradientExplainer(model, background).shap_values(images, nsamples=2, rseed=0)
    except Exception as err:
        assert "gradient registry has no entry for: shap_" in str(err), err
        return False
    return True


def test_unguarded_failure_breaks_later_gradients_and_repair_fixes_them(model_and_data):
    model, background, images = model_and_data
    assert shap_guard.gradient_state_problems() == []
    with pytest.raises(Exception, match="gradient registry has no entry for: shap_"):
        shap.DeepExplainer(model, background).shap_values(images)
    assert shap_guard.gradient_state_problems(), (
        f"shap {shap.__version__} left no trace: the guard may no longer be needed")
    assert not gradient_explainer_works(model, background, images)  # the breakage readers meet
    with pytest.raises(Exception, match="no entry for: shap_"):  # even a plain tape
        x = tf.constant(images)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = model(x)
        tape.gradient(y, x)
    assert shap_guard.repair_gradients()  # says what it repaired
    assert shap_guard.gradient_state_problems() == []
    assert gradient_explainer_works(model, background, images)


def test_guarded_failure_names_the_operation_and_leaves_gradients_working(model_and_data):
    model, background, images = model_and_data
    explainer = shap.DeepExplainer(model, background)
    with pytest.raises(UnsupportedOperationError, match=r"no rule for the TensorFlow operation (Relu6|Depthwise)"
                                                        r".*GradientExplainer.*restored") as caught:
        with guarded():
            explainer.shap_values(images)
    assert isinstance(caught.value, BookError) and caught.value.__cause__ is not None  # shap's error is kept
    assert shap_guard.gradient_state_problems() == []
    assert gradient_explainer_works(model, background, images)


def test_guarded_repairs_an_earlier_unguarded_failure(model_and_data):
    model, background, images = model_and_data
    with pytest.raises(Exception, match="no entry for: shap_"):
        shap.DeepExplainer(model, background).shap_values(images)
    with guarded():
        assert shap_guard.gradient_state_problems() == []
        values = shap.GradientExplainer(model, background).shap_values(images, nsamples=2, rseed=0)
    assert np.asarray(values).shape == (2, 8, 8, 3, 3)


def test_guarded_passes_other_errors_through_and_works_as_a_decorator():
    @guarded()
    def fails():
        raise ValueError("something else")

    with pytest.raises(ValueError, match="something else"):
        fails()
    assert shap_guard.gradient_state_problems() == []


def test_book_helpers_survive_an_unguarded_failure(model_and_data):
    """helpers.explainers repairs on entry: a reader's earlier failure does not break them."""
    from helpers.explainers import saliency

    model, background, images = model_and_data
    with pytest.raises(Exception, match="no entry for: shap_"):
        shap.DeepExplainer(model, background).shap_values(images)
    assert saliency(model, images, np.array([0, 1])).shape == images.shape


def test_unsupported_operations_lists_what_deep_explainer_lacks(model_and_data):
    model, _, _ = model_and_data
    report = shap_guard.unsupported_operations(model)
    assert report.without_rule == ["DepthwiseConv2dNative", "Relu6"]
    assert "Conv2D" in report.with_rule and report.custom_gradient == []
    swish = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="swish")])
    assert shap_guard.unsupported_operations(swish).custom_gradient == ["IdentityN"]
    with pytest.raises(InputError, match="exactly one input"):
        shap_guard.unsupported_operations(object())


def test_unsupported_operations_skip_what_only_constants_feed():
    # Normalization takes the square root of its stored variance, a captured constant: not on the image's path
    normalised = keras.Sequential([keras.Input((4,)), keras.layers.Normalization(mean=1.0, variance=4.0),
                                   keras.layers.Dense(2)])
    assert "Sqrt" not in shap_guard.unsupported_operations(normalised).without_rule
    # the same operation applied to the image is on the path, and reported
    rooted = keras.Sequential([keras.Input((4,)), keras.layers.Lambda(lambda x: keras.ops.sqrt(x)),
                               keras.layers.Dense(2)])
    assert "Sqrt" in shap_guard.unsupported_operations(rooted).without_rule
