import numpy as np
import pytest

from helpers import checks
from helpers.errors import InputError
from tests.toy_models import pixel_sum_model


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


def test_deletion_and_insertion_curves():
    model = pixel_sum_model()
    image = np.array([[1.0, 0.0], [0.0, 1.0]], "float32")[None, ..., None]   # two bright pixels
    good = np.array([[0, 3, 1, 2]])   # bright pixels first
    bad = np.array([[1, 2, 0, 3]])
    deletion, insertion = checks.deletion_insertion_curves(model, image, good, [0], 0.0, steps=4)
    np.testing.assert_allclose(deletion[0], [0.5, 0.25, 0.0, 0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(insertion[0], [0.0, 0.25, 0.5, 0.5, 0.5], atol=1e-6)
    bad_deletion, bad_insertion = checks.deletion_insertion_curves(model, image, bad, [0], 0.0, steps=4)
    assert checks.area_under_curve(deletion[0]) < checks.area_under_curve(bad_deletion[0])
    assert checks.area_under_curve(insertion[0]) > checks.area_under_curve(bad_insertion[0])


def test_area_under_curve():
    assert checks.area_under_curve(np.array([1.0, 0.0])) == pytest.approx(0.5)
    assert checks.area_under_curve(np.array([1.0, 1.0, 1.0])) == pytest.approx(1.0)
    with pytest.raises(InputError, match="at least two points"):
        checks.area_under_curve(np.array([1.0]))


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


def test_rank_correlation_refuses_constant_and_non_finite_maps():
    a = np.arange(12.0).reshape(3, 4)
    with pytest.raises(InputError, match="map b is constant .* rank correlation is undefined"):
        checks.rank_correlation(a, np.zeros_like(a))
    with pytest.raises(InputError, match="a holds 1 NaN"):
        checks.rank_correlation(np.where(a == 3, np.nan, a), a)
    with pytest.raises(InputError, match="constant"):  # agreement goes through it
        checks.agreement(np.zeros((1, 2, 2, 1)), np.ones((1, 2, 2, 1)))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"classes": [2]}, "must lie in 0..1"),
    ({"classes": [-1]}, "must lie in 0..1"),
    ({"classes": [0.5]}, "integer class indexes"),
    ({"classes": [0, 1]}, "one class per image"),
    ({"steps": 0}, "steps=0 must be a positive integer"),
    ({"steps": 2.5}, "positive integer"),
    ({"steps": True}, "positive integer"),
    ({"steps": 5}, "between 1 and the number of pixels, 4"),
    ({"batch_size": 0}, "batch_size=0 must be a positive integer"),
    ({"baselines": np.zeros((3, 3, 1))}, "do not fit the images"),
    ({"baselines": np.full((2, 2, 1), np.nan)}, "baselines holds 4 NaN"),
    ({"images": np.full((1, 2, 2, 1), np.nan)}, "images holds 4 NaN"),
    ({"images": np.full((2, 2, 1), 0.5)}, "must have 4 axes"),
    ({"images": np.zeros((0, 2, 2, 1))}, "empty batch"),
    ({"images": np.full((1, 2, 2, 1), 255.0), "baselines": 0.5}, "different scales"),
    ({"orders": np.array([[0, 0, 1, 2]])}, "permutation"),
    ({"orders": np.arange(4)}, "one pixel order"),
])
def test_deletion_insertion_curves_reject_bad_input(kwargs, message):
    arguments = {"images": np.full((1, 2, 2, 1), 0.5), "orders": np.arange(4)[None], "classes": [0],
                 "baselines": 0.0, "steps": 4} | kwargs
    with pytest.raises(InputError, match=message):
        checks.deletion_insertion_curves(pixel_sum_model(), **arguments)


def test_curves_and_maps_refuse_non_finite_values():
    with pytest.raises(InputError, match="scores holds 1 NaN"):
        checks.area_under_curve(np.array([1.0, np.nan]))
    with pytest.raises(InputError, match="attribution holds"):
        checks.pixel_order(np.full((2, 2, 1), np.inf))
    with pytest.raises(InputError, match="a holds"):
        checks.ssim(np.full((4, 4), np.nan), np.zeros((4, 4)))


MAP = np.arange(12.0).reshape(2, 2, 3)
MAP_WITH_NAN = np.where(MAP == 5, np.nan, MAP)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: checks.normalise_map(MAP_WITH_NAN), "attribution holds 1 NaN"),
    (lambda: checks.normalise_map(MAP_WITH_NAN, signed=True), "attribution holds 1 NaN"),
    (lambda: checks.bootstrap_interval(np.array([1.0, np.nan, 2.0])), "values holds 1 NaN"),
    (lambda: checks.top_k_overlap(MAP_WITH_NAN, MAP, 0.25), "a holds 1 NaN"),
    (lambda: checks.top_k_overlap(MAP, np.full(12, np.inf), 0.25), "b holds 12 NaN or infinite"),
    (lambda: checks.top_k_overlap([], [], 0.25), "a is empty"),
])
def test_normalise_map_bootstrap_and_top_k_refuse_non_finite_values(call, message):
    with pytest.raises(InputError, match=message):
        call()


def test_normalise_map_follows_adebayo_et_al():
    rng = np.random.default_rng(0)
    flat = rng.normal(size=(8, 8))
    np.testing.assert_allclose(checks.normalise_map(flat), np.abs(flat) / np.abs(flat).max())
    np.testing.assert_allclose(checks.normalise_map(flat, signed=True), flat / np.abs(flat).max())
    rgb = rng.normal(size=(10, 10, 3))
    rgb[0, 0] = 100.0  # one outlier: clipped at the 99th percentile, so the rest keeps its contrast
    magnitude = np.abs(rgb).sum(-1)
    expected = np.clip((magnitude - magnitude.min()) / (np.percentile(magnitude, 99) - magnitude.min()), 0, 1)
    result = checks.normalise_map(rgb)
    np.testing.assert_allclose(result, expected)
    assert result.shape == (10, 10) and result.min() == 0.0 and result.max() == 1.0 and result[0, 0] == 1.0
    signed = checks.normalise_map(rgb, signed=True)
    np.testing.assert_allclose(signed, rgb.sum(-1) / np.abs(rgb.sum(-1)).max())
    assert signed[0, 0] == 1.0 and signed.min() < 0
    np.testing.assert_array_equal(checks.normalise_map(np.zeros((4, 4, 3))), np.zeros((4, 4)))
    with pytest.raises(InputError, match="one map"):
        checks.normalise_map(np.zeros(5))


def test_bootstrap_interval_covers_the_mean_and_shrinks_with_more_cases():
    rng = np.random.default_rng(0)
    small, large = rng.normal(1.0, 1.0, 20), rng.normal(1.0, 1.0, 2000)
    mean, low, high = checks.bootstrap_interval(small)
    assert low < mean < high and mean == pytest.approx(small.mean())
    _, large_low, large_high = checks.bootstrap_interval(large)
    assert large_low < 1.0 < large_high and large_high - large_low < (high - low) / 5
    assert checks.bootstrap_interval(small, seed=3) == checks.bootstrap_interval(small, seed=3)
    assert checks.bootstrap_interval(np.array([2.0, 2.0, 2.0])) == (2.0, 2.0, 2.0)
    with pytest.raises(InputError, match="at least two"):
        checks.bootstrap_interval(np.array([1.0]))
    with pytest.raises(InputError, match="level"):
        checks.bootstrap_interval(small, level=95)


def test_deletion_insertion_curves_match_a_direct_loop():
    """The vectorised curves against the definition, one masked image at a time."""
    model = pixel_sum_model()
    rng = np.random.default_rng(0)
    images = rng.random((3, 2, 2, 1)).astype("float32")
    orders = np.stack([rng.permutation(4) for _ in range(3)])
    classes = np.array([0, 1, 0])
    baselines = rng.random((3, 2, 2, 1)).astype("float32")
    deletion, insertion = checks.deletion_insertion_curves(model, images, orders, classes, baselines, steps=4)
    for i in range(3):
        for k in range(5):  # after k blocks of one pixel
            taken = np.isin(np.arange(4), orders[i, :k]).reshape(2, 2, 1)
            deleted = np.where(taken, baselines[i], images[i])
            inserted = np.where(taken, images[i], baselines[i])
            out = model.predict(np.stack([deleted, inserted]), verbose=0)[:, classes[i]]
            np.testing.assert_allclose([deletion[i, k], insertion[i, k]], out, atol=1e-6)


def test_top_k_overlap_ranks_by_signed_value():
    a = np.arange(100.0)
    assert checks.top_k_overlap(a, a**3, 0.1) == 1.0
    assert checks.top_k_overlap(a, -a, 0.1) == 0.0  # the most negative cells are not the top ones
    b = a.copy()
    b[[99, 98]] = -1  # two of the top ten fall out
    assert checks.top_k_overlap(a, b, 0.1) == pytest.approx(0.8)
    with pytest.raises(InputError, match="different sizes"):
        checks.top_k_overlap(a, a[:50])


def test_deletion_insertion_curves_run_each_distinct_end_once(monkeypatch):
    from helpers import method_maps

    model = pixel_sum_model()
    seen = []
    real_forward = method_maps.forward

    def counting(net, batch, batch_size):
        seen.append(len(batch))
        return real_forward(net, batch, batch_size)

    monkeypatch.setattr(method_maps, "forward", counting)
    image = np.array([[1.0, 0.0], [0.0, 1.0]], "float32")[..., None]
    orders = np.array([[0, 3, 1, 2], [1, 2, 0, 3], [3, 2, 1, 0]])
    images, classes = np.repeat(image[None], 3, axis=0), np.zeros(3, int)
    deletion, insertion = checks.deletion_insertion_curves(model, images, orders, classes, 0.0, steps=4)
    assert sum(seen) == 2 + 3 * 2 * 3  # the image and the black baseline once; 3 inner points per curve
    np.testing.assert_allclose(deletion[0], [0.5, 0.25, 0.0, 0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(insertion[1], [0.0, 0.0, 0.0, 0.25, 0.5], atol=1e-6)
    deletion, insertion = checks.deletion_insertion_curves(model, images, orders, classes, 0.0, steps=1)
    np.testing.assert_allclose(deletion, [[0.5, 0.0]] * 3, atol=1e-6)  # no inner point: the two ends
    np.testing.assert_allclose(insertion, [[0.0, 0.5]] * 3, atol=1e-6)
