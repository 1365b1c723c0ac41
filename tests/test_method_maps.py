import keras
import numpy as np
import pytest
import shap
import tensorflow as tf

from helpers import gradient_methods
from helpers.errors import InputError
from helpers.method_maps import Budget, every_method

BUDGET = Budget(max_evals=12, ig_steps=3, eg_samples=4, sg_samples=3, sg_sigma=20.0, cam_layer="conv",
                blur=(2, 2), batch_size=4, seed=1)


def preprocess(images):
    """Like VGG19's: a constant per channel subtracted, in place."""
    images -= 120.0
    return images


@pytest.fixture(scope="module")
def setting():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 3))
    features = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    net = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(features)), name="tiny_logits")
    photos = np.random.default_rng(0).uniform(0, 255, (5, 8, 8, 3)).astype(np.float32)
    masker = shap.maskers.Image("blur(2,2)", photos[0].shape)
    return net, photos, masker, preprocess(photos.copy())


def test_every_method_returns_the_calls_one_by_one(setting):
    net, photos, masker, background = setting
    photo, c = photos[2], 1
    maps, seconds = every_method(net, photo, c, preprocess=preprocess, masker=masker, background=background,
                                 budget=BUDGET)
    assert set(maps) == set(seconds) == {"Partition (blur)", "IG (black)", "IG (blurred)", "expected gradients",
                                         "SmoothGrad x input", "Grad-CAM"}
    assert all(m.shape == (8, 8) for m in maps.values()) and all(s >= 0 for s in seconds.values())

    import cv2
    x, black = preprocess(photo.copy()), preprocess(np.zeros_like(photo))
    blurred = preprocess(cv2.blur(photo, BUDGET.blur))
    ig = gradient_methods.integrated_gradients(net, x, blurred, c, steps=3, batch_size=4).sum(-1)
    np.testing.assert_allclose(maps["IG (blurred)"], ig, rtol=1e-5, atol=1e-6)
    ig_black = gradient_methods.integrated_gradients(net, x, black, c, steps=3, batch_size=4).sum(-1)
    np.testing.assert_allclose(maps["IG (black)"], ig_black, rtol=1e-5, atol=1e-6)
    assert not np.allclose(ig, ig_black)  # the two baselines give two maps
    smooth = gradient_methods.smoothgrad(net, x, c, sigma=20.0, samples=3, seed=1, batch_size=4)
    np.testing.assert_allclose(maps["SmoothGrad x input"], (smooth * (x - black)).sum(-1), rtol=1e-5, atol=1e-6)
    cam = gradient_methods.grad_cam(net, x, c, "conv")
    np.testing.assert_allclose(maps["Grad-CAM"], tf.image.resize(cam[..., None], (8, 8)).numpy()[..., 0],
                               rtol=1e-5, atol=1e-6)
    values, _ = shap.GradientExplainer(net, background, batch_size=4).shap_values(
        x[None], nsamples=4, ranked_outputs=np.array([[c]]), output_rank_order="custom", rseed=1)
    np.testing.assert_allclose(maps["expected gradients"], values[0, ..., 0].sum(-1), rtol=1e-5, atol=1e-6)

    def f(batch):
        return net.predict(preprocess(batch.copy()), verbose=0)

    np.random.seed(1)
    run = shap.Explainer(f, masker)(photo[None], max_evals=12, batch_size=50, outputs=[c], silent=True)
    np.testing.assert_allclose(maps["Partition (blur)"], run.values[0, ..., 0].sum(-1), rtol=1e-5, atol=1e-6)
    # the Partition map adds up to f(photo) - f(fully blurred photo), as shap's explanation says
    assert maps["Partition (blur)"].sum() == pytest.approx(f(photo[None])[0, c] - run.base_values[0, 0], abs=1e-3)


def test_every_method_leaves_the_photo_alone(setting):
    net, photos, masker, background = setting
    photo = photos[0].copy()
    every_method(net, photo, 0, preprocess=preprocess, masker=masker, background=background, budget=BUDGET)
    np.testing.assert_array_equal(photo, photos[0])


@pytest.mark.parametrize("photo, message", [
    (np.full((8, 8, 3), 0.5, np.float32), "raw RGB photo"),
    (np.full((8, 8), 100.0, np.float32), "raw RGB photo"),
    (np.full((8, 8, 3), np.nan, np.float32), "NaN"),
])
def test_every_method_rejects_a_photo_off_the_raw_scale(setting, photo, message):
    net, _, masker, background = setting
    with pytest.raises(InputError, match=message):
        every_method(net, photo, 0, preprocess=preprocess, masker=masker, background=background, budget=BUDGET)


def test_every_method_rejects_a_class_the_network_lacks(setting):
    net, photos, masker, background = setting
    with pytest.raises(InputError, match="0..2"):
        every_method(net, photos[0], 3, preprocess=preprocess, masker=masker, background=background,
                     budget=BUDGET)


def test_forward_is_predict(setting):
    from helpers.method_maps import forward

    net = setting[0]
    images = np.random.default_rng(3).uniform(-1, 1, (7,) + tuple(net.input_shape[1:])).astype("float32")
    np.testing.assert_allclose(forward(net, images, 3), net.predict(images, verbose=0, batch_size=3),
                               rtol=1e-5, atol=1e-6)


def test_distinct_evaluations_evaluates_each_input_once():
    from helpers.method_maps import DistinctEvaluations

    seen = []

    def f(batch):
        seen.append(len(batch))
        return batch.reshape(len(batch), -1).sum(axis=1, keepdims=True) * np.array([[1.0, -1.0]])

    wrapped = DistinctEvaluations(f)
    a, b = np.zeros((2, 2)), np.ones((2, 2))
    first = wrapped(np.stack([a, b, a]))
    second = wrapped(np.stack([b, a + 2]))
    np.testing.assert_array_equal(first, f(np.stack([a, b, a])))
    np.testing.assert_array_equal(second, f(np.stack([b, a + 2])))
    # three distinct inputs reached f, in two calls (a repeat inside a batch and across batches answered)
    assert seen[:2] == [2, 1] and (wrapped.requested, wrapped.evaluated) == (5, 3)


def test_distinct_evaluations_leave_a_partition_run_unchanged():
    """The same Owen values with the store as without; a smaller budget after a larger one needs no new
    evaluation (each run is the start of the larger one)."""
    from helpers.method_maps import DistinctEvaluations

    rng = np.random.default_rng(0)
    photo = rng.uniform(0, 255, (16, 16, 3))
    weights = rng.normal(size=(16 * 16 * 3, 3))

    def f(batch):
        return np.tanh(batch.reshape(len(batch), -1) @ weights / 4000)

    masker = shap.maskers.Image("blur(4,4)", photo.shape)
    wrapped = DistinctEvaluations(f)
    runs = {}
    for n, model in ((40, f), (40, wrapped), (20, wrapped)):
        np.random.seed(0)
        runs[(n, model is f)] = shap.Explainer(model, masker)(photo[None], max_evals=n, batch_size=10,
                                                               outputs=[0], silent=True).values
        if n == 40 and model is wrapped:
            after_large = wrapped.evaluated
    np.testing.assert_array_equal(runs[(40, True)], runs[(40, False)])
    assert wrapped.evaluated == after_large and wrapped.requested > after_large


def test_distinct_evaluations_reject_a_function_that_drops_rows():
    from helpers.method_maps import DistinctEvaluations

    with pytest.raises(InputError, match="one row of outputs per input"):
        DistinctEvaluations(lambda batch: batch[:1].reshape(1, -1))(np.arange(8.0).reshape(2, 4))
