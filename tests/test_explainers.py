import keras
import numpy as np
import pytest
import shap

from helpers import models
from helpers.errors import InputError
from helpers.explainers import deep_shap_values


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


def test_seed_cnn_keeps_only_its_last_convolution():
    seed = models.seed_cifar_cnn()
    convolutions = [layer for layer in seed.layers if isinstance(layer, keras.layers.Conv2D)]
    assert len(convolutions) == 1 and convolutions[0].filters == 32
    assert seed.layers[1] is convolutions[0]  # fed straight from the input


def test_cifar_cnn_chains_its_blocks():
    model = models.cifar_cnn()
    convolutions = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [c.filters for c in convolutions] == [32, 64, 64]
    assert model.output_shape == (None, 10)


def test_train_classifier_learns_and_rejects_bad_input():
    rng = np.random.default_rng(0)
    x = rng.random((64, 32, 32, 3), dtype=np.float32)
    y = (x[:, :16].mean(axis=(1, 2, 3)) > x[:, 16:].mean(axis=(1, 2, 3))).astype(int)  # top vs bottom half
    history = models.train_classifier(models.cifar_cnn(n_classes=2), x, y, epochs=2, batch_size=16)
    assert set(history) >= {"accuracy", "val_accuracy", "loss", "val_loss"} and len(history["loss"]) == 2
    with pytest.raises(InputError, match="scaled to 0..1"):
        models.train_classifier(models.cifar_cnn(), x * 255, y, epochs=1)
    with pytest.raises(InputError, match="one label each"):
        models.train_classifier(models.cifar_cnn(), x, y[:10], epochs=1)


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


def test_cnn_builders_depend_only_on_their_seed():
    import keras

    first = models.cifar_cnn(seed=3).get_weights()
    keras.utils.set_random_seed(99)  # whatever came before
    np.testing.assert_array_equal(models.cifar_cnn(seed=3).get_weights()[0], first[0])
    assert not np.allclose(models.cifar_cnn(seed=4).get_weights()[0], first[0])
