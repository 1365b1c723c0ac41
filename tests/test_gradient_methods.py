import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers.errors import InputError
from helpers.gradient_methods import grad_cam, integrated_gradients, path_gradients, smoothgrad
from helpers.surgery import logit_model


@pytest.fixture(scope="module")
def tiny_cnn():
    """A small softmax classifier on 8 x 8 x 3 images, built like VGG19 (convolutions, then a softmax Dense)."""
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
                             keras.layers.MaxPooling2D(), keras.layers.Flatten(name="flatten"),
                             keras.layers.Dense(3, activation="softmax", name="predictions")], name="tiny")


@pytest.fixture(scope="module")
def tiny_logits(tiny_cnn):
    return logit_model(tiny_cnn)


@pytest.fixture(scope="module")
def linear_image_model():
    """f_c(x) = sum_i w_ic x_i + b_c on 4 x 4 x 2 images: its integrated gradients are (x - r) * w exactly."""
    inp = keras.Input((4, 4, 2))
    dense = keras.layers.Dense(2)
    model = keras.Model(inp, dense(keras.layers.Flatten()(inp)), name="linear")
    weights = np.random.default_rng(3).normal(size=(32, 2)).astype("float32")
    dense.set_weights([weights, np.array([0.5, -1.0], "float32")])
    return model, weights


def test_logit_model_undoes_the_softmax(tiny_cnn, tiny_logits):
    x = np.random.default_rng(0).random((5, 8, 8, 3), dtype=np.float32)
    probabilities = tiny_cnn.predict(x, verbose=0)
    logits = tiny_logits.predict(x, verbose=0)
    np.testing.assert_allclose(tf.nn.softmax(logits).numpy(), probabilities, rtol=1e-5, atol=1e-7)
    assert not np.allclose(logits, probabilities)  # the logits are not the probabilities
    assert tiny_logits.get_layer("conv") is tiny_cnn.get_layer("conv")  # layers are shared, not copied


def test_logit_model_rejects_a_model_without_softmax(tiny_logits, linear_image_model):
    with pytest.raises(InputError, match="not a Dense layer with a softmax"):
        logit_model(tiny_logits)
    with pytest.raises(InputError, match="not a Dense layer with a softmax"):
        logit_model(linear_image_model[0])


def test_integrated_gradients_of_a_linear_model_are_exact(linear_image_model):
    model, weights = linear_image_model
    rng = np.random.default_rng(1)
    x, r = rng.random((4, 4, 2), dtype=np.float32), rng.random((4, 4, 2), dtype=np.float32)
    expected = (x - r) * weights[:, 1].reshape(4, 4, 2)
    for steps in (1, 7):
        np.testing.assert_allclose(integrated_gradients(model, x, r, 1, steps=steps), expected, rtol=1e-5, atol=1e-6)


def test_integrated_gradients_complete_up_to_quadrature_error(tiny_logits):
    rng = np.random.default_rng(2)
    x, r = rng.random((8, 8, 3), dtype=np.float32), np.zeros((8, 8, 3), dtype=np.float32)
    outputs = tiny_logits.predict(np.stack([x, r]), verbose=0)
    target = outputs[0, 2] - outputs[1, 2]
    gaps = [abs(integrated_gradients(tiny_logits, x, r, 2, steps=s, batch_size=5).sum() - target) for s in (1, 64)]
    assert gaps[1] < 1e-2 * abs(target)  # many steps: complete
    assert gaps[0] > gaps[1]  # one step (the two end points) is a worse quadrature


def test_path_gradients_equal_one_batch(tiny_logits):
    points = np.random.default_rng(4).random((5, 8, 8, 3), dtype=np.float32)
    with tf.GradientTape() as tape:
        batch = tf.constant(points)
        tape.watch(batch)
        score = tiny_logits(batch)[:, 0]
    np.testing.assert_allclose(path_gradients(tiny_logits, points, 0, batch_size=2), tape.gradient(score, batch),
                               rtol=1e-5, atol=1e-7)


def test_smoothgrad_without_noise_is_the_gradient_and_is_seeded(tiny_logits):
    x = np.random.default_rng(5).random((8, 8, 3), dtype=np.float32)
    plain = path_gradients(tiny_logits, x[None], 1)[0]
    np.testing.assert_allclose(smoothgrad(tiny_logits, x, 1, sigma=0.0, samples=3), plain, rtol=1e-5, atol=1e-7)
    a = smoothgrad(tiny_logits, x, 1, sigma=0.3, samples=4, seed=7)
    np.testing.assert_array_equal(a, smoothgrad(tiny_logits, x, 1, sigma=0.3, samples=4, seed=7))
    assert not np.allclose(a, smoothgrad(tiny_logits, x, 1, sigma=0.3, samples=4, seed=8))


def test_grad_cam_matches_its_formula(tiny_logits):
    x = np.random.default_rng(6).random((8, 8, 3), dtype=np.float32)
    cam = grad_cam(tiny_logits, x, 0, "conv")
    assert cam.shape == (6, 6) and cam.min() >= 0
    both = keras.Model(tiny_logits.inputs, [tiny_logits.get_layer("conv").output, tiny_logits.output])
    with tf.GradientTape() as tape:
        maps, scores = both(x[None])
        score = scores[:, 0]
    grads = tape.gradient(score, maps).numpy()[0]
    by_hand = np.maximum((maps.numpy()[0] * grads.mean(axis=(0, 1))).sum(-1), 0)
    np.testing.assert_allclose(cam, by_hand, rtol=1e-5, atol=1e-7)


def test_bad_input_is_rejected(tiny_logits):
    x = np.zeros((8, 8, 3), dtype=np.float32)
    with pytest.raises(InputError, match="takes images of shape"):
        integrated_gradients(tiny_logits, np.zeros((1, 8, 8, 3)), x, 0)
    with pytest.raises(InputError, match="baseline has shape"):
        integrated_gradients(tiny_logits, x, np.zeros((8, 8, 1)), 0)
    with pytest.raises(InputError, match="steps=0"):
        integrated_gradients(tiny_logits, x, x, 0, steps=0)
    with pytest.raises(InputError, match="class_index=3"):
        integrated_gradients(tiny_logits, x, x, 3)
    with pytest.raises(InputError, match="batch_size=0"):
        path_gradients(tiny_logits, x[None], 0, batch_size=0)
    with pytest.raises(InputError, match="non-empty batch"):
        path_gradients(tiny_logits, x, 0)
    with pytest.raises(InputError, match="sigma=-1"):
        smoothgrad(tiny_logits, x, 0, sigma=-1.0)
    with pytest.raises(InputError, match="samples=0"):
        smoothgrad(tiny_logits, x, 0, sigma=1.0, samples=0)
    with pytest.raises(InputError, match="has no layer 'block5_conv4'"):
        grad_cam(tiny_logits, x, 0, "block5_conv4")
    with pytest.raises(InputError, match="not feature maps"):
        grad_cam(tiny_logits, x, 0, "flatten")


UNIT = np.random.default_rng(7).random((8, 8, 3), dtype=np.float32)
UNIT_WITH_NAN = np.where(np.arange(UNIT.size).reshape(UNIT.shape) == 5, np.nan, UNIT)


@pytest.mark.parametrize(("call", "message"), [
    (lambda m: integrated_gradients(m, UNIT_WITH_NAN, UNIT, 0), "x holds 1 NaN"),
    (lambda m: integrated_gradients(m, UNIT, UNIT_WITH_NAN, 0), "baseline holds 1 NaN"),
    (lambda m: integrated_gradients(m, UNIT, UNIT * 255, 0), "x reaches .* but baseline .* different scales"),
    (lambda m: integrated_gradients(m, UNIT * 255, UNIT, 0), "different scales"),
    (lambda m: smoothgrad(m, UNIT_WITH_NAN, 0, sigma=0.1), "x holds 1 NaN"),
    (lambda m: grad_cam(m, UNIT_WITH_NAN, 0, "conv"), "x holds 1 NaN"),
    (lambda m: path_gradients(m, np.stack([UNIT, UNIT_WITH_NAN]), 0), "points holds 1 NaN"),
])
def test_non_finite_images_and_baselines_on_another_scale_are_rejected(tiny_logits, call, message):
    with pytest.raises(InputError, match=message):
        call(tiny_logits)


def test_path_gradients_keep_no_model_alive():
    import gc
    import weakref

    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((4, 4, 2)), keras.layers.Flatten(), keras.layers.Dense(2)])
    x = np.ones((3, 4, 4, 2), "float32")
    eager = []
    for point in x:
        with tf.GradientTape() as tape:
            batch = tf.constant(point[None])
            tape.watch(batch)
            score = model(batch)[:, 1]
        eager.append(tape.gradient(score, batch).numpy()[0])
    np.testing.assert_allclose(path_gradients(model, x, 1, batch_size=2), np.stack(eager), rtol=1e-6)
    alive = weakref.ref(model)
    del model
    gc.collect()
    assert alive() is None  # the cached graph does not keep a random network's weights in memory


def test_model_graph_builds_once_per_model_and_kind_and_keeps_no_model_alive():
    import gc
    import weakref

    from helpers.explainers import expected_gradients_sample_totals
    from helpers.gradient_methods import model_graph

    keras.utils.set_random_seed(2)
    model = keras.Sequential([keras.Input((4, 4, 2)), keras.layers.Flatten(), keras.layers.Dense(2)])
    built = []
    first = model_graph(model, "test", lambda weak: built.append(weak) or (lambda: weak()))
    assert model_graph(model, "test", lambda weak: built.append(weak)) is first and len(built) == 1
    assert first() is model  # the builder got a (weak) reference to this model
    assert model_graph(model, "other", lambda weak: "other graph") == "other graph"  # kinds are kept apart
    # both graphs of the helpers, the gradient and the forward-mode derivative, go through the same cache
    x, background = np.ones((4, 4, 2), "float32"), np.zeros((3, 4, 4, 2), "float32")
    path_gradients(model, x[None], 0)
    expected_gradients_sample_totals(model, x, background, np.array([0, 1]), n=2)
    alive = weakref.ref(model)
    del model, first  # (built holds only weak references)
    gc.collect()
    assert alive() is None
