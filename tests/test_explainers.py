import keras
import numpy as np
import pytest
import shap

from helpers.errors import InputError
from helpers.explainers import deep_shap_terms, deep_shap_values, expected_gradients_sample_totals, saliency
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


def test_terms_are_what_deep_explainer_averages(tiny_cnn):
    rng = np.random.default_rng(2)
    background = rng.random((4, 8, 8, 3), dtype=np.float32)
    images = rng.random((2, 8, 8, 3), dtype=np.float32)
    terms = deep_shap_terms(tiny_cnn, background, images)
    assert terms.shape == (4, 2, 8, 8, 3, 3)
    values, _ = deep_shap_values(tiny_cnn, background, images)
    np.testing.assert_allclose(terms.mean(axis=0), values, rtol=1e-4, atol=1e-7)
    # each term adds up to the change of the output between its one reference and the image
    change = tiny_cnn.predict(images, verbose=0)[None] - tiny_cnn.predict(background, verbose=0)[:, None]
    np.testing.assert_allclose(terms.sum(axis=(2, 3, 4)), change, atol=1e-5)
    with pytest.raises(InputError, match="same shape"):
        deep_shap_terms(tiny_cnn, background, np.zeros((1, 8, 8, 1), np.float32))


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


@pytest.fixture
def deterministic():
    """TensorFlow with op determinism on for one test, put back as it was afterwards."""
    import tensorflow as tf
    from tensorflow.python.framework import config as tf_config

    was_on = tf_config.is_op_determinism_enabled()
    tf.config.experimental.enable_op_determinism()
    yield
    if not was_on:
        tf_config.disable_op_determinism()


def test_expected_gradients_refuses_xla_under_op_determinism(tiny_cnn, deterministic):
    from helpers.explainers import expected_gradients

    with pytest.raises(InputError, match="needs TensorFlow's op determinism off"):
        expected_gradients(tiny_cnn, np.zeros((8, 8, 3)), np.zeros((4, 8, 8, 3)), [0], jit_compile=True)


def test_expected_gradients_rejects_bad_input(tiny_cnn):
    from helpers.explainers import expected_gradients

    background = np.zeros((4, 8, 8, 3))
    with pytest.raises(InputError, match="no batch axis"):
        expected_gradients(tiny_cnn, np.zeros((1, 8, 8, 3)), background, [0])
    with pytest.raises(InputError, match=r"must lie in 0..2 \(the model has 3 outputs\)"):
        expected_gradients(tiny_cnn, np.zeros((8, 8, 3)), background, [3])
    with pytest.raises(InputError, match="must be a positive integer"):
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


def test_sample_totals_are_directional_derivatives_and_keep_no_model_alive():
    # On a nonlinear network each total is grad f(point) . (x - r): check the graph's forward-mode pass against
    # reverse-mode gradients at the same draws, then that its cached graph lets the model be freed.
    import gc
    import weakref

    import tensorflow as tf

    keras.utils.set_random_seed(2)
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3, activation="relu"),
                              keras.layers.MaxPooling2D(), keras.layers.Flatten(),
                              keras.layers.Dense(3, activation="softmax")])
    rng = np.random.default_rng(0)
    background = rng.random((5, 8, 8, 3), dtype=np.float32)
    x = rng.random((8, 8, 3), dtype=np.float32)
    totals = expected_gradients_sample_totals(model, x, background, np.array([2, 0]), n=6, seed=3)
    draw = np.random.default_rng(3)  # the same draws as the helper's
    refs = background[draw.integers(0, len(background), size=6)]
    t = draw.uniform(size=(6, 1, 1, 1)).astype(np.float32)
    points = tf.constant(refs + t * (x - refs))
    for k, c in enumerate((2, 0)):
        with tf.GradientTape() as tape:
            tape.watch(points)
            score = model(points)[:, c]
        expected = (tape.gradient(score, points).numpy() * (x - refs)).sum(axis=(1, 2, 3))
        np.testing.assert_allclose(totals[:, k], expected, rtol=1e-4, atol=1e-7)
    alive = weakref.ref(model)
    del model
    gc.collect()
    assert alive() is None


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


def test_stratified_draws_use_every_reference_and_stretch_of_the_path_equally():
    from helpers.explainers import expected_gradients_draws

    references, ts = expected_gradients_draws(20, 7, rseed=3, sampling="stratified")
    counts = np.bincount(references, minlength=7)
    assert counts.min() >= 20 // 7 and counts.max() <= 20 // 7 + 1
    assert sorted(np.floor(ts * 20).astype(int).tolist()) == list(range(20))  # one point per twentieth of [0, 1]
    again = expected_gradients_draws(20, 7, rseed=3, sampling="stratified")
    np.testing.assert_array_equal(again[0], references)
    with pytest.raises(InputError, match="not one of"):
        expected_gradients_draws(20, 7, sampling="sobol")


@pytest.mark.parametrize(("nsamples", "n_background", "message"), [
    (0, 7, "nsamples=0 must be a positive integer"),
    (20.0, 7, "nsamples=20.0 must be a positive integer"),
    (20, 0, "n_background=0 must be a positive integer"),
    (20, 7.0, "n_background=7.0 must be a positive integer"),
])
@pytest.mark.parametrize("sampling", ["shap", "stratified"])
def test_expected_gradients_draws_reject_bad_counts(nsamples, n_background, message, sampling):
    from helpers.explainers import expected_gradients_draws

    with pytest.raises(InputError, match=message):
        expected_gradients_draws(nsamples, n_background, sampling=sampling)


def test_stratified_expected_gradients_is_exact_for_a_linear_model_with_one_reference():
    """For a linear f and one reference every draw gives (x - r) w, whatever t: any sampling is exact."""
    from helpers.explainers import expected_gradients

    w = np.random.default_rng(0).normal(size=(6, 3)).astype("float32")
    model = linear_model(w)
    x, r = np.ones(6, "float32"), np.zeros((1, 6), "float32")
    values = expected_gradients(model, x, r, [0, 2], nsamples=9, sampling="stratified", batch_size=4)
    np.testing.assert_allclose(values, (x - r[0])[:, None] * w[:, [0, 2]], rtol=1e-5)


# Bad input the explainers reject before shap or TensorFlow fail with their own messages (or return NaN).
GOOD_BACKGROUND = np.random.default_rng(2).random((4, 8, 8, 3), dtype=np.float32)
GOOD_IMAGES = np.random.default_rng(3).random((2, 8, 8, 3), dtype=np.float32)
WITH_NAN = GOOD_IMAGES.copy()
WITH_NAN[0, 1, 1, 1] = np.nan


@pytest.mark.parametrize(("background", "images", "message"), [
    (GOOD_BACKGROUND[:0], GOOD_IMAGES, "background is an empty batch"),
    (GOOD_BACKGROUND, GOOD_IMAGES[:0], "images is an empty batch"),
    (GOOD_BACKGROUND, (GOOD_IMAGES * 255).astype(np.uint8), "dtype uint8 but background has dtype float32"),
    (GOOD_BACKGROUND, GOOD_IMAGES * 255, "different scales, such as 0..255 against 0..1"),
    (GOOD_BACKGROUND, WITH_NAN, "images holds 1 NaN or infinite"),
    (np.full_like(GOOD_BACKGROUND, np.inf), GOOD_IMAGES, "background holds 768 NaN or infinite"),
])
def test_deep_shap_values_rejects_bad_batches(tiny_cnn, background, images, message):
    with pytest.raises(InputError, match=message):
        deep_shap_values(tiny_cnn, background, images)


def test_a_black_background_is_not_a_scale_mismatch(tiny_cnn):
    values, expected = deep_shap_values(tiny_cnn, np.zeros((1, 8, 8, 3), np.float32), GOOD_IMAGES)
    np.testing.assert_allclose(values.sum(axis=(1, 2, 3)) + expected, tiny_cnn.predict(GOOD_IMAGES, verbose=0),
                               atol=1e-5)


@pytest.mark.parametrize(("x", "background", "classes", "message"), [
    (GOOD_IMAGES[0], GOOD_BACKGROUND[:0], [0], "background is an empty batch"),
    (GOOD_IMAGES[0] * 255, GOOD_BACKGROUND, [0], "different scales"),
    (WITH_NAN[0], GOOD_BACKGROUND, [0], "x holds 1 NaN"),
    (GOOD_IMAGES[0], GOOD_BACKGROUND, [-1], "must lie in 0..2"),
    (GOOD_IMAGES[0], GOOD_BACKGROUND, [0.5], "integer class indexes"),
])
def test_expected_gradients_and_sample_totals_reject_bad_input(tiny_cnn, x, background, classes, message):
    from helpers.explainers import expected_gradients

    with pytest.raises(InputError, match=message):
        expected_gradients(tiny_cnn, x, background, classes, nsamples=2)
    with pytest.raises(InputError, match=message):
        expected_gradients_sample_totals(tiny_cnn, x, background, np.array(classes), n=4)


def test_saliency_rejects_bad_input(tiny_cnn):
    with pytest.raises(InputError, match="must lie in 0..2"):
        saliency(tiny_cnn, GOOD_IMAGES, np.array([0, 3]))
    with pytest.raises(InputError, match="images is an empty batch"):
        saliency(tiny_cnn, GOOD_IMAGES[:0], np.array([], int))
    with pytest.raises(InputError, match="NaN"):
        saliency(tiny_cnn, WITH_NAN, np.array([0, 1]))


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


def test_expected_gradients_builds_one_graph_per_model_and_classes():
    """Calls with the same model and classes reuse one traced graph (not one per call); other classes get
    their own, and the graph keeps no model alive."""
    import gc
    import weakref

    from helpers import gradient_methods
    from helpers.explainers import expected_gradients

    model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(3, activation="softmax")])
    rng = np.random.default_rng(0)
    background = rng.random((3, 4, 4, 1), dtype=np.float32)
    for seed in range(3):
        expected_gradients(model, background[0], background, [1, 2], nsamples=4, rseed=seed, batch_size=4)
    graphs = gradient_methods._GRAPHS[model]
    assert list(graphs) == ["gradients of classes [1, 2]"]
    assert graphs["gradients of classes [1, 2]"].experimental_get_tracing_count() == 1
    expected_gradients(model, background[0], background, [0], nsamples=4, batch_size=4)
    assert len(gradient_methods._GRAPHS[model]) == 2
    alive = weakref.ref(model)
    del model, graphs
    gc.collect()
    assert alive() is None


def test_every_explainer_that_runs_gradients_is_guarded():
    """Each runs inside shap_guard.guarded(): it repairs what an earlier shap failure left and restores
    TensorFlow's gradients after its own (a decorator moved by an edit once left expected_gradients bare)."""
    from helpers import explainers

    for name in ("deep_shap_values", "deep_shap_own_class", "deep_shap_terms", "expected_gradients",
                 "expected_gradients_per_image", "expected_gradients_sample_totals", "saliency"):
        assert hasattr(getattr(explainers, name), "__wrapped__"), f"{name} is not decorated with @guarded()"


def test_expected_gradients_per_image_equals_shap_gradient_explainer(tiny_cnn):
    """Each image explained for its own class, with shap's draws: the numbers of stock shap's ranked_outputs=
    custom call. A changed draw order (the images' draws swapped) fails it."""
    from helpers.explainers import expected_gradients_per_image

    rng = np.random.default_rng(2)
    background = rng.random((6, 8, 8, 3), dtype=np.float32)
    images = rng.random((4, 8, 8, 3), dtype=np.float32)
    classes = np.array([2, 0, 2, 1])
    stock, _ = shap.GradientExplainer(tiny_cnn, background, batch_size=5).shap_values(
        images, nsamples=7, rseed=3, ranked_outputs=classes[:, None], output_rank_order="custom")
    ours = expected_gradients_per_image(tiny_cnn, images, background, classes, nsamples=7, rseed=3, batch_size=5)
    assert ours.shape == images.shape
    np.testing.assert_allclose(ours, stock[..., 0], rtol=1e-4, atol=1e-7)
    # the negative control: the first two images' draws exchanged no longer match
    swapped = expected_gradients_per_image(tiny_cnn, images[[1, 0]], background, classes[[1, 0]], nsamples=7,
                                           rseed=3, batch_size=5)
    assert not np.allclose(swapped[[1, 0]], stock[:2, ..., 0], rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize(("classes", "message"), [
    (np.array([0, 1]), "one class per image"),
    (np.array([0, 1, 5]), "class"),
])
def test_expected_gradients_per_image_rejects_bad_classes(tiny_cnn, classes, message):
    from helpers.explainers import expected_gradients_per_image

    with pytest.raises(InputError, match=message):
        expected_gradients_per_image(tiny_cnn, np.zeros((3, 8, 8, 3)), np.zeros((2, 8, 8, 3)), classes, nsamples=2)


def test_deep_shap_own_class_is_each_images_column_of_the_full_values(tiny_cnn):
    from helpers.explainers import deep_shap_own_class

    rng = np.random.default_rng(4)
    background = rng.random((6, 8, 8, 3), dtype=np.float32)
    images = rng.random((4, 8, 8, 3), dtype=np.float32)
    classes = np.array([2, 0, 2, 1])
    full, _ = deep_shap_values(tiny_cnn, background, images)
    ours = deep_shap_own_class(tiny_cnn, background, images, classes)
    np.testing.assert_allclose(ours, full[np.arange(4), ..., classes], rtol=1e-4, atol=1e-7)
    # the negative control: another class per image is another map
    assert not np.allclose(ours, full[np.arange(4), ..., (classes + 1) % 3], rtol=1e-4, atol=1e-7)
    with pytest.raises(InputError, match="one class per image"):
        deep_shap_own_class(tiny_cnn, background, images, classes[:2])
