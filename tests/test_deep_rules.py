"""helpers.deep_rules: each rule on its own (additivity to round-off and the value against a hand computation),
the registration (exactly reversible, TensorFlow intact after a failure, a model no rule covers refused before
anything changes), and whole Keras Applications networks (random weights, small inputs) against ResNet50, a family shap
supports without help."""

import math
import time

import keras
import numpy as np
import pytest
import shap
import tensorflow as tf
from shap.explainers._deep import deep_tf

from helpers import checks, deep_rules, rule_coverage, shap_guard
from helpers.explainers import expected_gradients
from helpers.shap_guard import UnsupportedOperationError
from tests.toy_models import cubed_model, mobile_block


@pytest.fixture(autouse=True)
def clean_state():
    """Every test starts and ends with shap's table and TensorFlow's gradients as shap left them."""
    before = dict(deep_tf.op_handlers)
    silu = tf.nn.silu
    yield
    shap_guard.repair_gradients()
    assert dict(deep_tf.op_handlers) == before and tf.nn.silu is silu, "a test left rules registered"


def explain(model, background, images, rules=True):
    """DeepExplainer's values (N, *input, outputs) and expected value, inside deep_rules.registered() (or only
    guarded); the additivity check is done by the caller."""
    context = deep_rules.registered() if rules else shap_guard.guarded()
    with context:
        explainer = shap.DeepExplainer(model, background)
        values = explainer.shap_values(images, check_additivity=False)
    return np.asarray(values, dtype=np.float64), np.asarray(explainer.expected_value, dtype=np.float64)


def additivity_gap(model, values, expected, images) -> float:
    """max |sum of the values + expected value - model output| over images and outputs."""
    sums = values.reshape(len(images), -1, values.shape[-1]).sum(axis=1) + expected
    return float(np.abs(sums - np.asarray(model(images), dtype=np.float64)).max())


def one_pixel_model(layer):
    inp = keras.Input((1, 1, 1))
    return keras.Model([inp], keras.layers.Flatten()(layer(inp)))


def pixels(*values):
    return np.array(values, dtype=np.float32).reshape(-1, 1, 1, 1)


# One reference r = 1 and several inputs, chosen where a gradient would be wrong (relu6's gradient is 0 at 7.5).
REFERENCE = pixels(1.0)
INPUTS = pixels(7.5, 3.0, -1.0, 0.25)


def swish(t):
    return t / (1 + np.exp(-t))


def gelu(t):
    return 0.5 * t * np.vectorize(math.erfc)(-t / math.sqrt(2))


def relu6(t):
    return np.clip(t, 0, 6)


ELEMENTWISE = {
    "Relu6": (lambda: keras.layers.ReLU(max_value=6.0), relu6),
    "Erf": (lambda: keras.layers.Lambda(keras.ops.erf), np.vectorize(math.erf)),
    "Erfc": (lambda: keras.layers.Lambda(tf.math.erfc), np.vectorize(math.erfc)),
    "Neg": (lambda: keras.layers.Lambda(keras.ops.negative), np.negative),
    "swish": (lambda: keras.layers.Activation("swish"), swish),
    "gelu": (lambda: keras.layers.Activation("gelu"), gelu),
}


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_elementwise_rule_gives_the_change_of_the_function(name):
    """One pixel, one reference: the attribution is g(x) - g(r), whatever the rule (rescale, linear, identity)."""
    layer, g = ELEMENTWISE[name]
    model = one_pixel_model(layer())
    if name in deep_rules.RULES:  # shap alone stops there, and the guard's message points here
        with pytest.raises(UnsupportedOperationError, match=f"operation {name} .*deep_rules has a DeepLIFT rule"):
            explain(model, REFERENCE, INPUTS, rules=False)
    values, expected = explain(model, REFERENCE, INPUTS)
    assert additivity_gap(model, values, expected, INPUTS) < 1e-5
    hand = g(INPUTS.astype(np.float64)) - g(REFERENCE.astype(np.float64))
    np.testing.assert_allclose(values.reshape(-1), hand.reshape(-1), atol=1e-5)


def test_swish_needs_the_rules():
    """Without the rules TensorFlow's custom gradient of swish stands in for a rule: the values do not add up."""
    model = one_pixel_model(keras.layers.Activation("swish"))
    values, expected = explain(model, REFERENCE, INPUTS, rules=False)
    assert additivity_gap(model, values, expected, INPUTS) > 1e-2


def test_depthwise_convolution_is_linear():
    keras.utils.set_random_seed(0)
    inp = keras.Input((2, 2, 2))
    conv = keras.layers.DepthwiseConv2D(2)
    model = keras.Model([inp], keras.layers.Flatten()(conv(inp)))
    kernel = np.array([[[[1.0], [-2.0]], [[0.5], [3.0]]], [[[-1.5], [0.25]], [[2.0], [-0.5]]]], dtype=np.float32)
    conv.set_weights([kernel, np.array([0.3, -0.7], dtype=np.float32)])
    rng = np.random.default_rng(0)
    reference, images = rng.normal(size=(1, 2, 2, 2)).astype(np.float32), rng.normal(size=(3, 2, 2, 2)).astype(
        np.float32)
    values, expected = explain(model, reference, images)
    assert additivity_gap(model, values, expected, images) < 1e-5
    for c in range(2):  # output c: its own channel's kernel times the change; nothing from the other channel
        hand = np.zeros_like(values[..., c])
        hand[..., c] = kernel[:, :, c, 0] * (images[..., c] - reference[..., c])
        np.testing.assert_allclose(values[..., c], hand, atol=1e-6)


def squeeze_excite_model():
    """x * mean over space(x), averaged over space: the multiplication of a squeeze-and-excitation block."""
    inp = keras.Input((2, 2, 2))
    gate = keras.layers.GlobalAveragePooling2D(keepdims=True)(inp)
    return keras.Model([inp], keras.layers.GlobalAveragePooling2D()(keras.layers.Multiply()([inp, gate])))


def test_product_with_both_factors_varying_and_broadcast():
    """out_c = s_c(x)^2 with s_c the spatial mean: the two-input rule gives pixel (h, w, c) the share
    (s_c(x) + s_c(r)) / 4 * (x_hwc - r_hwc), which sums to s_c(x)^2 - s_c(r)^2."""
    model = squeeze_excite_model()
    rng = np.random.default_rng(1)
    reference, images = rng.normal(size=(1, 2, 2, 2)).astype(np.float32), rng.normal(size=(2, 2, 2, 2)).astype(
        np.float32)
    values, expected = explain(model, reference, images)
    assert additivity_gap(model, values, expected, images) < 1e-5
    s_x, s_r = images.mean(axis=(1, 2)), reference.mean(axis=(1, 2))
    for c in range(2):
        hand = np.zeros_like(values[..., c])
        hand[..., c] = (s_x[:, None, None, c] + s_r[:, None, None, c]) / 4 * (images[..., c] - reference[..., c])
        np.testing.assert_allclose(values[..., c], hand, atol=1e-6)


def test_shaps_own_product_rule_fails_on_a_broadcast_over_two_axes():
    """Why Mul is replaced: shap 0.54.1 sums the gate's multipliers over one broadcast axis of two. If this
    test fails, shap has fixed it (keep the closed form anyway: it has no 1e-7 cut-off)."""
    model = squeeze_excite_model()
    rng = np.random.default_rng(1)
    # the wrongly shaped multipliers fail in the next operation's gradient (here a reshape; in EfficientNetB0,
    # "The two arguments to a cwise op must have same number of elements")
    with pytest.raises((ValueError, tf.errors.InvalidArgumentError), match="reshape|same number of elements"):
        explain(model, rng.normal(size=(1, 2, 2, 2)).astype(np.float32),
                rng.normal(size=(1, 2, 2, 2)).astype(np.float32), rules=False)
    assert shap_guard.gradient_state_problems() == []


def layer_norm_by_hand(x, r, w, eps):
    """The composed rules on Keras's layer normalisation of one vector (gamma = 1, beta = 0), in float64:
    mean; var = mean((x - stop_gradient(mean))**2); inv = rsqrt(var + eps); out = x * inv + (-mean) * inv.
    Returns the attributions of sum_k w_k out_k, and the share the stop-gradient path would have carried."""
    n = len(x)
    mean_x, mean_r = x.mean(), r.mean()
    var_x, var_r = ((x - mean_x) ** 2).mean(), ((r - mean_r) ** 2).mean()
    inv_x, inv_r = 1 / np.sqrt(var_x + eps), 1 / np.sqrt(var_r + eps)
    # out_k = x_k * inv + res, res = (-mean) * inv: Mul's two-input rule, each factor gets the other's mean value
    m_x = w * (inv_x + inv_r) / 2
    m_inv = (w * (x + r) / 2).sum() + w.sum() * (-mean_x - mean_r) / 2
    m_mean = -w.sum() * (inv_x + inv_r) / 2
    # rsqrt: the secant
    m_var = m_inv * (inv_x - inv_r) / (var_x - var_r)
    # d_k = (x_k - s)**2 with s = stop_gradient(mean): shap's two-input rule; var = mean(d)
    m_d = m_var / n
    sq = lambda a, b: (a - b) ** 2  # noqa: E731
    share_x = 0.5 * (sq(x, mean_x) - sq(r, mean_x) + sq(x, mean_r) - sq(r, mean_r))
    share_s = 0.5 * (sq(x, mean_x) - sq(x, mean_r) + sq(r, mean_x) - sq(r, mean_r))
    m_x = m_x + m_d * share_x / (x - r)
    dropped = (m_d * share_s).sum()  # TensorFlow's tape does not record StopGradient: this share goes nowhere
    m_x = m_x + m_mean / n
    return m_x * (x - r), dropped


def test_layer_normalisation_composes_rules_that_add_up():
    """ConvNeXt's LayerNormalization is no one operation: Mean, SquaredDifference, Rsqrt, Neg and Mul, each with
    its rule, and a StopGradient whose dropped share sums to zero; the composition adds up and equals the hand
    computation."""
    inp = keras.Input((1, 1, 4))
    norm = keras.layers.LayerNormalization(epsilon=1e-3)
    model = keras.Model([inp], keras.layers.Flatten()(norm(inp)))
    assert {"Neg", "StopGradient"} <= set(shap_guard.unsupported_operations(model).without_rule)
    reference = np.array([[[[0.2, -1.0, 0.5, 2.0]]]], dtype=np.float32)
    images = np.array([[[[1.0, 0.3, -0.4, 0.9]]], [[[3.0, -2.0, 0.0, 1.0]]]], dtype=np.float32)
    values, expected = explain(model, reference, images)
    assert additivity_gap(model, values, expected, images) < 1e-5
    for i, image in enumerate(images.astype(np.float64)):
        for k in range(4):
            hand, dropped = layer_norm_by_hand(image.ravel(), reference.ravel().astype(np.float64), np.eye(4)[k],
                                               1e-3)
            np.testing.assert_allclose(values[i, 0, 0, :, k], hand, atol=2e-6)
            assert abs(dropped) < 1e-12
    rows = {row.operation: row for row in rule_coverage.operation_rules(model)}
    assert rows["StopGradient(moments)"].rule.startswith("multiplier 0")


# --- registration -------------------------------------------------------------------------------------------


def test_register_adds_and_removes_exactly_its_own_entries():
    before = list(deep_tf.op_handlers.items())
    shap_mul, silu = deep_tf.op_handlers["Mul"], tf.nn.silu
    registration = deep_rules.register()
    added = set(deep_rules.RULES) - {"Mul", deep_rules.SWISH}
    assert added == {"DepthwiseConv2dNative", "Neg", "Relu6", "Erf", "Erfc"}
    assert set(registration.added) == added and set(registration.replaced) == {"Mul"}
    assert deep_tf.op_handlers["Mul"] is not shap_mul and tf.nn.silu is not silu and registration.active
    inner = deep_rules.register()  # nested: everything is in place already, so it changes nothing
    assert not inner.added and not inner.replaced and not inner.silu and sorted(inner.skipped) == sorted(
        added | {"Mul"})
    inner.remove()
    assert registration.active and "Relu6" in deep_tf.op_handlers
    registration.remove()
    assert list(deep_tf.op_handlers.items()) == before and tf.nn.silu is silu and not registration.active
    registration.remove()  # twice is harmless
    assert list(deep_tf.op_handlers.items()) == before


def test_a_rule_shap_already_has_is_left_alone(monkeypatch):
    own = deep_tf.nonlinearity_1d(0)
    monkeypatch.setitem(deep_tf.op_handlers, "Relu6", own)  # as a newer shap (or the reader) might
    with deep_rules.registered() as registration:
        assert "Relu6" in registration.skipped and deep_tf.op_handlers["Relu6"] is own
    assert deep_tf.op_handlers["Relu6"] is own




def gradient_explainer_works(model, background, images) -> bool:
    try:
        shap.GradientExplainer(model, background).shap_values(images, nsamples=2, rseed=0)
    except Exception:
        return False
    return True


@pytest.mark.parametrize("where", ["Relu6", "DepthwiseConv2dNative", "Mul"])
def test_a_failing_rule_leaves_tensorflow_and_the_table_as_before(monkeypatch, where):
    """A rule that raises (here deliberately) inside registered(): the error comes out, shap's table is exactly
    as before, tf.nn.silu is TensorFlow's, and a later GradientExplainer in the same process works."""
    model = squeeze_excite_model() if where == "Mul" else mobile_block()
    rng = np.random.default_rng(0)
    shape = model.inputs[0].shape[1:]
    background, images = rng.random((2, *shape), dtype=np.float32), rng.random((1, *shape), dtype=np.float32)
    before, silu = list(deep_tf.op_handlers.items()), tf.nn.silu

    def broken(explainer, op, *grads):
        raise RuntimeError(f"deliberately broken rule for {op.type}")

    real = deep_rules.handlers
    monkeypatch.setattr(deep_rules, "handlers", lambda: {**real(), where: broken})
    with pytest.raises(RuntimeError, match="deliberately broken"):
        with deep_rules.registered():
            shap.DeepExplainer(model, background).shap_values(images, check_additivity=False)
    assert list(deep_tf.op_handlers.items()) == before and tf.nn.silu is silu
    assert shap_guard.gradient_state_problems() == []
    assert gradient_explainer_works(model, background, images)


# --- what no rule covers ------------------------------------------------------------------------------------


def test_registered_refuses_an_operation_without_a_rule_before_changing_anything():
    model = cubed_model()
    before = list(deep_tf.op_handlers.items())
    with pytest.raises(UnsupportedOperationError, match=r"Pow .*layer\(s\) cube.*GradientExplainer.*"
                                                        r"split_at_layer\(model, 'flat'\)"):
        with deep_rules.registered(model):
            pass
    assert list(deep_tf.op_handlers.items()) == before  # refused before anything changed
    # without the check, shap stops on the operation and the guard names it; TensorFlow stays intact
    rng = np.random.default_rng(0)
    background, images = rng.random((2, 4, 4, 1), dtype=np.float32), rng.random((1, 4, 4, 1), dtype=np.float32)
    with pytest.raises(UnsupportedOperationError, match="Pow"):
        explain(model, background, images)
    assert gradient_explainer_works(model, background, images)


# --- whole networks -----------------------------------------------------------------------------------------

FAMILIES = {  # constructor, input size, pixel scale (EfficientNet and ConvNeXt rescale 0..255 themselves)
    "ResNet50": (keras.applications.ResNet50, 32, 1.0),
    "MobileNetV2": (keras.applications.MobileNetV2, 32, 1.0),
    "EfficientNetB0": (keras.applications.EfficientNetB0, 32, 255.0),
    "Xception": (keras.applications.Xception, 71, 1.0),
    "ConvNeXtTiny": (keras.applications.ConvNeXtTiny, 32, 255.0),
}
# ConvNeXtTiny is slow here (tens of seconds per test): Keras runs its grouped convolutions through XLA, which
# compiles them again for every new batch size, and slowly in float64.
NEED_RULES = ["MobileNetV2", "EfficientNetB0", "Xception", "ConvNeXtTiny"]
EXPLAINED = [pytest.param(name, marks=pytest.mark.slow) if name == "ConvNeXtTiny" else name for name in NEED_RULES]
BACKGROUND, SAMPLES = 3, 40  # 40 expected-gradients samples: two batches of 20, one shape to compile
AGREEMENT_FLOOR = 0.3  # Spearman of |map|; two unrelated 32 x 32 maps give 0 +- 0.03


def smooth_images(n, size, scale, seed, dtype):
    """Random images with structure: 8 x 8 noise resized to size x size, plus a little pixel noise."""
    rng = np.random.default_rng(seed)
    coarse = tf.image.resize(rng.random((n, 8, 8, 3)), (size, size)).numpy()
    return (np.clip(coarse + 0.05 * rng.standard_normal(coarse.shape), 0, 1) * scale).astype(dtype)


def network(name, dtype):
    """The family with random weights, batch normalisation calibrated on 16 images (with weights=None it is the
    identity, and the logits come out between 1e-13 and 1e-6: any gap would pass) and the classifier scaled to
    logits of spread 1."""
    build, size, scale = FAMILIES[name]
    keras.utils.set_random_seed(0)
    floatx, policy = keras.config.floatx(), keras.config.dtype_policy()
    keras.config.set_floatx(dtype)
    keras.config.set_dtype_policy(dtype)
    try:
        model = build(weights=None, input_shape=(size, size, 3), classes=10, classifier_activation=None)
    finally:
        keras.config.set_floatx(floatx)
        keras.config.set_dtype_policy(policy)
    assert model.inputs[0].dtype == dtype and model.layers[-1].compute_dtype == dtype
    calibration = smooth_images(16, size, scale, 1, dtype)
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in norms:
        layer.momentum = 0.0  # one training-mode call sets the moving statistics to this batch's
    model(calibration, training=True)
    for layer in norms:
        layer.momentum = 0.99
    kernel, bias = model.layers[-1].get_weights()
    model.layers[-1].set_weights([kernel / np.asarray(model(calibration)).std(), bias])
    return model, smooth_images(BACKGROUND, size, scale, 2, dtype), smooth_images(1, size, scale, 3, dtype)


def deep_top_class(model, background, image):
    """DeepExplainer (rules registered) for the top class: values (H, W, C), the class, the additivity gap."""
    with deep_rules.registered():
        explainer = shap.DeepExplainer(model, background)
        values, ranked = explainer.shap_values(image, ranked_outputs=1, check_additivity=False)
    c = int(ranked[0, 0])
    target = float(np.asarray(model(image))[0, c]) - float(np.asarray(explainer.expected_value)[c])
    values = np.asarray(values[0, ..., 0], dtype=np.float64)
    return values, c, abs(values.sum() - target)


def agreement(name) -> tuple[float, float, float]:
    """float32: (Spearman of |map| summed over channels with expected gradients, additivity gap, sum |values|)."""
    model, background, image = network(name, "float32")
    values, c, gap = deep_top_class(model, background, image)
    eg = expected_gradients(model, image[0], background, [c], nsamples=SAMPLES, rseed=0)[..., 0]
    return checks.rank_correlation(np.abs(values).sum(-1), np.abs(eg).sum(-1)), gap, float(np.abs(values).sum())


@pytest.fixture(scope="module")
def resnet_agreement():
    return agreement("ResNet50")


@pytest.mark.parametrize("name", NEED_RULES)
def test_network_needs_the_rules_and_has_a_rule_for_every_operation(name):
    model, _, _ = network(name, "float32")
    report = shap_guard.unsupported_operations(model)
    assert report.without_rule or report.custom_gradient  # shap alone stops (or would not add up)
    assert all(row.rule for row in rule_coverage.check(model))


@pytest.mark.parametrize("name", ["ResNet50", *EXPLAINED])
def test_network_adds_up_in_float64(name):
    """In float64 round-off is out of the way: what is left is the rules' own error (measured 1e-15 to 1e-13,
    and 3e-11 on ConvNeXtTiny from the 1e-7 cut-off of shap's SquaredDifference rule; shap's own Mul rule left
    1e-7 on EfficientNetB0)."""
    start = time.perf_counter()
    model, background, image = network(name, "float64")
    _, _, gap = deep_top_class(model, background, image)
    print(f"{name} float64: additivity gap {gap:.1e} ({time.perf_counter() - start:.1f} s)")
    assert gap < 1e-9


@pytest.mark.parametrize("name", EXPLAINED)
def test_network_float32_round_off_and_agreement_with_expected_gradients(name, resnet_agreement):
    """float32 gaps are round-off, of the order of float32's precision times the magnitudes that cancel
    (sum |values|, hundreds on these random networks; ResNet50 shows the same without any rule of ours).
    The maps agree with expected gradients on the same images at least about as well as ResNet50's do."""
    start = time.perf_counter()
    rho, gap, total = agreement(name)
    ref_rho, ref_gap, ref_total = resnet_agreement
    print(f"{name} float32: Spearman with expected gradients {rho:.2f} (ResNet50 {ref_rho:.2f}), gap {gap:.1e} "
          f"with sum |values| {total:.0f} (ResNet50 {ref_gap:.1e} with {ref_total:.0f}) "
          f"({time.perf_counter() - start:.1f} s)")
    assert gap < 1e-6 * total and ref_gap < 1e-6 * ref_total
    assert rho > AGREEMENT_FLOOR and ref_rho > AGREEMENT_FLOOR
    assert rho > ref_rho - 0.1


def test_installed_names_what_an_active_registration_put_in():
    assert not deep_rules.installed()
    with deep_rules.registered():
        assert {"Relu6", "DepthwiseConv2dNative", "Mul"} <= deep_rules.installed()
    assert not deep_rules.installed()


def test_swish_written_out_replaces_silu_for_the_block_and_tells_whether_it_ran():
    silu = tf.nn.silu
    t = tf.constant([-1.0, 0.5, 2.0])
    with deep_rules.swish_written_out() as called:
        assert tf.nn.silu is not silu and not called()
        np.testing.assert_allclose(tf.nn.silu(t), silu(t), rtol=1e-6)
        assert called()
    assert tf.nn.silu is silu
