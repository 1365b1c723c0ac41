"""Checks of explanations: completeness (additivity) and agreement between attribution maps."""

from __future__ import annotations

import numpy as np

from helpers.errors import InputError


def expected_gradients_sample_totals(
    model, x: np.ndarray, background: np.ndarray, classes: np.ndarray, n: int, seed: int = 0
) -> np.ndarray:
    """Draw ``n`` single-sample expected-gradients totals for one input.

    Expected gradients (shap's ``GradientExplainer``) averages, over random references ``r`` from the
    background and random ``t`` in [0, 1], the terms ``grad f(r + t (x - r)) * (x - r)``. Summed over the
    features, one term is ``T = d/dt f(r + t (x - r))``, an unbiased estimate of ``f(x) - E f(r)``. Their
    spread sets the sampling error of the attribution sum: ``std(T) / sqrt(nsamples)``.

    ``T`` is a directional derivative, so one forward-mode pass gives it for every class at once. Returns an
    array ``(n, len(classes))``.
    """
    import tensorflow as tf

    x = np.asarray(x, dtype=np.float32)
    background = np.asarray(background, dtype=np.float32)
    if x.shape != background.shape[1:]:
        raise InputError(f"x has shape {x.shape} but the background holds inputs of shape {background.shape[1:]}; "
                         "pass one input without its batch axis.")
    if n < 2:
        raise InputError(f"n={n}: at least 2 draws are needed to estimate a spread.")
    rng = np.random.default_rng(seed)
    refs = background[rng.integers(0, len(background), size=n)]
    t = rng.uniform(size=(n,) + (1,) * x.ndim).astype(np.float32)
    points = tf.constant(refs + t * (x - refs))
    with tf.autodiff.ForwardAccumulator(points, tf.constant(x - refs)) as acc:
        out = model([points], training=False)
    return np.asarray(acc.jvp(out))[:, np.asarray(classes)]


def completeness_table(
    values: np.ndarray, f_x: np.ndarray, f_background_mean: np.ndarray, classes: np.ndarray
) -> list[dict[str, float]]:
    """Compare the sum of attributions with the change in output they should add up to.

    ``values`` are one input's attributions with the explained classes on the last axis, shape
    ``(..., K)``; ``f_x`` and ``f_background_mean`` are the model's outputs for the input and their mean over
    the background, shape ``(n_outputs,)``; ``classes`` the K output indexes explained. Returns one row per
    class: ``class``, ``sum`` (of attributions), ``target`` (f(x) - E f(background)) and ``gap``.
    """
    values = np.asarray(values)
    classes = np.asarray(classes)
    if values.shape[-1] != classes.shape[0]:
        raise InputError(f"values has {values.shape[-1]} classes on its last axis but {classes.shape[0]} class "
                         "indexes were given; pass the indexes that shap returned with the values.")
    sums = values.reshape(-1, values.shape[-1]).sum(0)
    rows = []
    for k, c in enumerate(classes):
        target = float(f_x[c] - f_background_mean[c])
        rows.append({"class": int(c), "sum": float(sums[k]), "target": target, "gap": float(sums[k]) - target})
    return rows


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation between two attribution maps of the same shape (flattened)."""
    from scipy.stats import spearmanr

    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise InputError(f"the maps have different shapes {a.shape} and {b.shape}; compare maps of one image.")
    return float(spearmanr(a.ravel(), b.ravel()).statistic)
