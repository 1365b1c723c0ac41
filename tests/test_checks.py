import keras
import numpy as np
import pytest

from helpers import checks
from helpers.errors import InputError


def linear_model(weights: np.ndarray):
    inp = keras.Input((weights.shape[0],))
    dense = keras.layers.Dense(weights.shape[1], use_bias=True)
    model = keras.Model([inp], dense(inp))
    dense.set_weights([weights, np.arange(weights.shape[1], dtype="float32")])
    return model


def test_sample_totals_are_exact_for_a_linear_model():
    # For a linear f, d/dt f(r + t (x - r)) = f(x) - f(r) for every t: each draw is exact for its reference.
    rng = np.random.default_rng(0)
    w = rng.normal(size=(6, 3)).astype("float32")
    model = linear_model(w)
    background = rng.normal(size=(4, 6)).astype("float32")
    x = rng.normal(size=6).astype("float32")
    totals = checks.expected_gradients_sample_totals(model, x, background, np.array([2, 0]), n=50, seed=1)
    per_reference = (x - background) @ w[:, [2, 0]]
    assert totals.shape == (50, 2)
    for row in totals:  # every draw equals f(x) - f(r) for one of the references
        assert np.abs(per_reference - row).sum(axis=1).min() < 1e-4


def test_sample_totals_reject_mismatched_shapes():
    model = linear_model(np.ones((6, 2), "float32"))
    with pytest.raises(InputError, match="without its batch axis"):
        checks.expected_gradients_sample_totals(model, np.ones((1, 6)), np.ones((4, 6)), np.array([0]), n=4)
    with pytest.raises(InputError, match="at least 2 draws"):
        checks.expected_gradients_sample_totals(model, np.ones(6), np.ones((4, 6)), np.array([0]), n=1)


def test_completeness_table_pairs_slots_with_their_classes():
    values = np.zeros((2, 2, 2))
    values[..., 0] = 0.25   # sums to 1.0, for class 3
    values[..., 1] = -0.5   # sums to -2.0, for class 1
    f_x = np.array([0.0, -1.0, 0.0, 2.0])
    f_bg = np.array([0.0, 1.0, 0.0, 1.0])
    rows = checks.completeness_table(values, f_x, f_bg, np.array([3, 1]))
    assert [(r["class"], r["sum"], r["target"], r["gap"]) for r in rows] == [(3, 1.0, 1.0, 0.0), (1, -2.0, -2.0, 0.0)]


def test_completeness_table_rejects_wrong_class_count():
    with pytest.raises(InputError, match="2 classes on its last axis but 3"):
        checks.completeness_table(np.zeros((2, 2)), np.zeros(4), np.zeros(4), np.array([0, 1, 2]))


def test_rank_correlation():
    a = np.arange(12.0).reshape(3, 4)
    assert checks.rank_correlation(a, a**3) == pytest.approx(1.0)
    assert checks.rank_correlation(a, -a) == pytest.approx(-1.0)
    with pytest.raises(InputError, match="different shapes"):
        checks.rank_correlation(a, a.ravel())


def test_pixel_order_ranks_by_channel_sum():
    attribution = np.zeros((2, 2, 3))
    attribution[1, 0] = [1, 1, 1]
    attribution[0, 1] = [0, 0, 2]
    assert checks.pixel_order(attribution).tolist() == [2, 1, 0, 3]
    with pytest.raises(InputError, match="one image's map"):
        checks.pixel_order(np.zeros((2, 2)))


def pixel_sum_model():
    """Outputs [sum of pixels, 1 - sum of pixels] / 4 for a 2x2x1 image: a transparent 'classifier'."""
    inp = keras.Input((2, 2, 1))
    total = keras.layers.Flatten()(inp)
    out = keras.layers.Dense(2)(total)
    model = keras.Model(inp, out)
    model.layers[-1].set_weights([np.array([[0.25, -0.25]] * 4, "float32"), np.array([0.0, 1.0], "float32")])
    return model


def test_deletion_and_insertion_curves():
    model = pixel_sum_model()
    image = np.array([[1.0, 0.0], [0.0, 1.0]], "float32")[..., None]   # two bright pixels
    good = np.array([0, 3, 1, 2])   # bright pixels first
    bad = np.array([1, 2, 0, 3])
    deletion, insertion = checks.deletion_insertion(model, image, good, 0, baseline=0.0, steps=4)
    np.testing.assert_allclose(deletion, [0.5, 0.25, 0.0, 0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(insertion, [0.0, 0.25, 0.5, 0.5, 0.5], atol=1e-6)
    bad_deletion, bad_insertion = checks.deletion_insertion(model, image, bad, 0, baseline=0.0, steps=4)
    assert checks.area_under_curve(deletion) < checks.area_under_curve(bad_deletion)
    assert checks.area_under_curve(insertion) > checks.area_under_curve(bad_insertion)
    with pytest.raises(InputError, match="permutation"):
        checks.deletion_insertion(model, image, np.array([0, 0, 1, 2]), 0, baseline=0.0)


def test_area_under_curve():
    assert checks.area_under_curve(np.array([1.0, 0.0])) == pytest.approx(0.5)
    assert checks.area_under_curve(np.array([1.0, 1.0, 1.0])) == pytest.approx(1.0)
    with pytest.raises(InputError, match="at least two points"):
        checks.area_under_curve(np.array([1.0]))


def test_saliency_is_the_gradient():
    model = pixel_sum_model()
    grads = checks.saliency(model, np.zeros((2, 2, 2, 1)), np.array([0, 1]))
    np.testing.assert_allclose(grads[0], 0.25)
    np.testing.assert_allclose(grads[1], -0.25)
    with pytest.raises(InputError, match="one class per image"):
        checks.saliency(model, np.zeros((2, 2, 2, 1)), np.array([0]))


def test_reinitialise_top_layers_keeps_the_rest():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(2)])
    copy = checks.reinitialise_top_layers(model, 1, seed=1)
    np.testing.assert_array_equal(copy.layers[0].get_weights()[0], model.layers[0].get_weights()[0])
    assert not np.allclose(copy.layers[1].get_weights()[0], model.layers[1].get_weights()[0])
    assert np.allclose(checks.reinitialise_top_layers(model, 0).get_weights()[2], model.get_weights()[2])
    again = checks.reinitialise_top_layers(model, 2, seed=1)
    other = checks.reinitialise_top_layers(model, 2, seed=2)
    np.testing.assert_array_equal(again.layers[1].get_weights()[0], copy.layers[1].get_weights()[0])
    assert not np.allclose(other.layers[1].get_weights()[0], again.layers[1].get_weights()[0])
    assert not np.allclose(other.layers[0].get_weights()[0], again.layers[0].get_weights()[0])
    with pytest.raises(InputError, match="has 2 layers with weights"):
        checks.reinitialise_top_layers(model, 3)


def test_ssim():
    a = np.random.default_rng(0).random((16, 16))
    assert checks.ssim(a, a) == pytest.approx(1.0)
    assert checks.ssim(a, np.random.default_rng(1).random((16, 16))) < 0.5
    with pytest.raises(InputError, match="2-D maps"):
        checks.ssim(a, a[:8])


def test_agreement_separates_magnitude_from_sign():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(3, 4, 4, 2))
    flipped = a * rng.choice([-1.0, 1.0], size=a.shape[:3] + (1,))  # same magnitudes, random signs per pixel
    result = checks.agreement(a, flipped)
    np.testing.assert_allclose(result["magnitude"], 1.0)
    assert np.all(result["signed"] < 0.9)
    with pytest.raises(InputError, match="two batches of maps"):
        checks.agreement(a, a[0])
