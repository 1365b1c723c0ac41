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
