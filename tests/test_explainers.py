import keras
import numpy as np
import pytest
import shap

from helpers.errors import InputError
from helpers.explainers import deep_shap_values, expected_gradients_sample_totals, saliency
from tests.toy_models import linear_model, pixel_sum_model


@pytest.fixture(scope="module")
def tiny_cnn():
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3, activation="relu"),
                              keras.layers.MaxPooling2D(), keras.layers.Flatten(),
                              keras.layers.Dense(3, activation="softmax")])
    return model


def test_chunked_values_equal_stock_deep_explainer(tiny_cnn):
    rng = np.random.default_rng(0)
    background = rng.random((13, 8, 8, 3), dtype=np.float32)
    images = rng.random((2, 8, 8, 3), dtype=np.float32)
    stock = shap.DeepExplainer(tiny_cnn, background)
    expected_values = stock.shap_values(images)
    values, expected = deep_shap_values(tiny_cnn, background, images, chunk_size=5)  # chunks of 5, 5, 3
    np.testing.assert_allclose(values, expected_values, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(expected, stock.expected_value, rtol=1e-5)
    # additivity: the values plus the expected value give the model's output
    np.testing.assert_allclose(values.sum(axis=(1, 2, 3)) + expected, tiny_cnn.predict(images, verbose=0), atol=1e-5)


def test_chunked_values_reject_bad_input(tiny_cnn):
    with pytest.raises(InputError, match="same shape"):
        deep_shap_values(tiny_cnn, np.zeros((4, 8, 8, 3)), np.zeros((1, 8, 8, 1)))
    with pytest.raises(InputError, match="positive integer"):
        deep_shap_values(tiny_cnn, np.zeros((4, 8, 8, 3)), np.zeros((1, 8, 8, 3)), chunk_size=0)


@pytest.fixture
def nondeterministic():
    """TensorFlow without op determinism for one test (XLA needs it off), restored afterwards.

    TensorFlow's public API can only turn determinism on; the switch back is in its framework module."""
    from tensorflow.python.framework import config as tf_config

    was_on = tf_config.is_op_determinism_enabled()
    tf_config.disable_op_determinism()
    yield
    if was_on:
        tf_config.enable_op_determinism()


@pytest.mark.parametrize("jit_compile", [False, True])
def test_expected_gradients_equals_shap_gradient_explainer(tiny_cnn, jit_compile, nondeterministic):
    from helpers.explainers import expected_gradients

    rng = np.random.default_rng(1)
    background = rng.random((7, 8, 8, 3), dtype=np.float32)
    x = rng.random((8, 8, 3), dtype=np.float32)
    stock, ranked = shap.GradientExplainer(tiny_cnn, background).shap_values(
        x[None], nsamples=23, ranked_outputs=2, rseed=5)
    ours = expected_gradients(tiny_cnn, x, background, ranked[0], nsamples=23, rseed=5, batch_size=10,
                              jit_compile=jit_compile)
    assert ours.shape == (8, 8, 3, 2)
    np.testing.assert_allclose(ours, stock[0], rtol=1e-4, atol=1e-6)


def test_expected_gradients_refuses_xla_under_op_determinism(tiny_cnn):
    import tensorflow as tf

    from helpers.explainers import expected_gradients

    tf.config.experimental.enable_op_determinism()
    with pytest.raises(InputError, match="needs TensorFlow's op determinism off"):
        expected_gradients(tiny_cnn, np.zeros((8, 8, 3)), np.zeros((4, 8, 8, 3)), [0], jit_compile=True)


def test_expected_gradients_rejects_bad_input(tiny_cnn):
    from helpers.explainers import expected_gradients

    background = np.zeros((4, 8, 8, 3))
    with pytest.raises(InputError, match="no batch axis"):
        expected_gradients(tiny_cnn, np.zeros((1, 8, 8, 3)), background, [0])
    with pytest.raises(InputError, match="output indexes in 0..2"):
        expected_gradients(tiny_cnn, np.zeros((8, 8, 3)), background, [3])
    with pytest.raises(InputError, match="must be positive"):
        expected_gradients(tiny_cnn, np.zeros((8, 8, 3)), background, [0], nsamples=0)


def test_sample_totals_are_exact_for_a_linear_model():
    # For a linear f, d/dt f(r + t (x - r)) = f(x) - f(r) for every t: each draw is exact for its reference.
    rng = np.random.default_rng(0)
    w = rng.normal(size=(6, 3)).astype("float32")
    model = linear_model(w)
    background = rng.normal(size=(4, 6)).astype("float32")
    x = rng.normal(size=6).astype("float32")
    totals = expected_gradients_sample_totals(model, x, background, np.array([2, 0]), n=50, seed=1)
    per_reference = (x - background) @ w[:, [2, 0]]
    assert totals.shape == (50, 2)
    for row in totals:  # every draw equals f(x) - f(r) for one of the references
        assert np.abs(per_reference - row).sum(axis=1).min() < 1e-4


def test_sample_totals_reject_mismatched_shapes():
    model = linear_model(np.ones((6, 2), "float32"))
    with pytest.raises(InputError, match="without its batch axis"):
        expected_gradients_sample_totals(model, np.ones((1, 6)), np.ones((4, 6)), np.array([0]), n=4)
    with pytest.raises(InputError, match="at least 2 draws"):
        expected_gradients_sample_totals(model, np.ones(6), np.ones((4, 6)), np.array([0]), n=1)


def test_saliency_is_the_gradient():
    model = pixel_sum_model()
    grads = saliency(model, np.zeros((2, 2, 2, 1)), np.array([0, 1]))
    np.testing.assert_allclose(grads[0], 0.25)
    np.testing.assert_allclose(grads[1], -0.25)
    with pytest.raises(InputError, match="one class per image"):
        saliency(model, np.zeros((2, 2, 2, 1)), np.array([0]))


def test_expected_gradients_totals_are_the_per_draw_sums(tiny_cnn):
    from helpers.explainers import expected_gradients

    rng = np.random.default_rng(2)
    background = rng.random((5, 8, 8, 3), dtype=np.float32)
    x = rng.random((8, 8, 3), dtype=np.float32)
    values, totals = expected_gradients(tiny_cnn, x, background, [2, 0], nsamples=9, rseed=3, batch_size=4,
                                        return_totals=True)
    assert totals.shape == (9, 2)
    # the values are the mean of the draws' terms, so their sum is the mean of the draws' totals
    np.testing.assert_allclose(values.reshape(-1, 2).sum(axis=0), totals.mean(axis=0), rtol=1e-4, atol=1e-7)
    # each total is the directional derivative at shap's draw: recompute it in forward mode for the first draw
    np.random.seed(3)
    ref, t = np.random.choice(len(background)), np.random.uniform()
    import tensorflow as tf

    point = tf.constant((t * x + (1 - t) * background[ref])[None])
    with tf.autodiff.ForwardAccumulator(point, tf.constant((x - background[ref])[None])) as acc:
        out = tiny_cnn(point, training=False)
    np.testing.assert_allclose(totals[0], np.asarray(acc.jvp(out))[0, [2, 0]], rtol=1e-4, atol=1e-7)
    assert np.allclose(expected_gradients(tiny_cnn, x, background, [2, 0], nsamples=9, rseed=3, batch_size=4),
                       values)
