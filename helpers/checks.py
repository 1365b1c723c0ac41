"""Checks of explanations: agreement between maps (Spearman, SSIM, top-k overlap, Adebayo et al.'s
normalisation), the deletion and insertion curves of faithfulness, and bootstrap intervals."""

from __future__ import annotations

import numpy as np

from helpers import validate
from helpers.errors import InputError


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation between two attribution maps of the same shape (flattened)."""
    from scipy.stats import spearmanr

    a, b = validate.finite("a", a), validate.finite("b", b)
    if a.shape != b.shape:
        raise InputError(f"the maps have different shapes {a.shape} and {b.shape}; compare maps of one image.")
    for name, m in (("a", a), ("b", b)):
        if np.ptp(m) == 0:
            raise InputError(f"map {name} is constant ({m.ravel()[0]:g} everywhere): it ranks no pixel above "
                             "another, so its rank correlation is undefined. An all-zero map usually means an "
                             "explanation against a background equal to the input, or a dead network; check it.")
    return float(spearmanr(a.ravel(), b.ravel()).statistic)


def pixel_order(attribution: np.ndarray) -> np.ndarray:
    """Pixel indexes (into H*W) from the most to the least important, by attribution summed over channels.

    Ties keep their original order (a stable sort), so a constant map gives the identity order.
    """
    attribution = validate.finite("attribution", attribution)
    if attribution.ndim != 3:
        raise InputError(f"attribution must be one image's map (H, W, C), got shape {attribution.shape}.")
    return np.argsort(-attribution.sum(axis=-1).ravel(), kind="stable")


def area_under_curve(scores: np.ndarray) -> float:
    """Area under a deletion or insertion curve, with the fraction of pixels taken running from 0 to 1."""
    scores = validate.finite("scores", scores).astype(float)
    if scores.ndim != 1 or len(scores) < 2:
        raise InputError(f"a curve needs at least two points, got shape {scores.shape}.")
    return float(np.trapezoid(scores, dx=1 / (len(scores) - 1)))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Structural similarity of two maps of the same shape (scikit-image), over their joint value range."""
    from skimage.metrics import structural_similarity

    a, b = validate.finite("a", a).astype(float), validate.finite("b", b).astype(float)
    if a.shape != b.shape or a.ndim != 2:
        raise InputError(f"ssim compares two 2-D maps of one shape, got {a.shape} and {b.shape}.")
    span = max(a.max(), b.max()) - min(a.min(), b.min())
    return float(structural_similarity(a, b, data_range=span or 1.0))


def agreement(a: np.ndarray, b: np.ndarray) -> dict[str, np.ndarray]:
    """Per-image Spearman rank correlation between two batches of attribution maps ``(N, H, W, C)``.

    ``magnitude`` ranks pixels by |attribution| summed over channels (where the model looks); ``signed`` by
    the signed sum (whether each pixel argues for or against). Returns both, one value per image.
    """
    a, b = validate.finite("a", a), validate.finite("b", b)
    if a.shape != b.shape or a.ndim != 4:
        raise InputError(f"agreement compares two batches of maps (N, H, W, C) of one shape, got {a.shape} "
                         f"and {b.shape}.")
    return {
        "magnitude": np.array([rank_correlation(np.abs(x).sum(-1), np.abs(y).sum(-1))
                               for x, y in zip(a, b, strict=True)]),
        "signed": np.array([rank_correlation(x.sum(-1), y.sum(-1)) for x, y in zip(a, b, strict=True)]),
    }


def normalise_map(attribution: np.ndarray, signed: bool = False, percentile: float = 99.0) -> np.ndarray:
    """Normalise one attribution map before comparing maps, in the spirit of Adebayo et al. (2018).

    Their code (``sanity_checks_saliency``, ``src/utils.py``: ``abs_grayscale_norm`` and ``diverging_norm``)
    turns a map into one value per pixel. Ours:

    - ``signed=False`` (magnitude): a 2-D map becomes ``|a| / max |a|``; a map with channels ``(H, W, C)``
      becomes, as the ``saliency`` package's ``VisualizeImageGrayscale`` does, ``sum_c |a|`` rescaled so its
      minimum is 0 and its ``percentile``-th percentile is 1, clipped to [0, 1].
    - ``signed=True``: the map (summed over channels if it has them) divided by its largest absolute value,
      so it lies in [-1, 1] and keeps its signs. (Their diverging normalisation of a colour map divides by a
      99th-percentile span and clips; only SSIM, not a rank correlation, sees the difference.)

    A map that is zero everywhere stays zero. Returns an ``(H, W)`` float array.
    """
    a = validate.finite("attribution", attribution).astype(float)
    if a.ndim not in (2, 3):
        raise InputError(f"attribution must be one map (H, W) or (H, W, C), got shape {a.shape}.")
    if not 0 < percentile <= 100:
        raise InputError(f"percentile={percentile} must lie in (0, 100].")
    if signed:
        flat = a.sum(axis=-1) if a.ndim == 3 else a
        scale = np.abs(flat).max()
        return flat / scale if scale > 0 else np.zeros_like(flat)
    if a.ndim == 2:
        scale = np.abs(a).max()
        return np.abs(a) / scale if scale > 0 else np.zeros_like(a)
    flat = np.abs(a).sum(axis=-1)
    low, high = flat.min(), np.percentile(flat, percentile)
    if high <= low:
        return np.zeros_like(flat)
    return np.clip((flat - low) / (high - low), 0, 1)


def bootstrap_interval(values: np.ndarray, level: float = 0.95, resamples: int = 2000, seed: int = 0
                       ) -> tuple[float, float, float]:
    """Mean of ``values`` and a percentile-bootstrap confidence interval for it: ``(mean, low, high)``.

    The values are resampled with replacement ``resamples`` times (seeded); the interval holds the central
    ``level`` of the resampled means. Pass per-image differences to get an interval for a paired difference.
    """
    values = validate.finite("values", values, allow_empty=True).astype(float)
    if values.ndim != 1 or len(values) < 2:
        raise InputError(f"values must be one number per case, at least two; got shape {values.shape}.")
    if not 0 < level < 1:
        raise InputError(f"level={level} must lie strictly between 0 and 1 (0.95 for a 95% interval).")
    validate.integer("resamples", resamples, low=100,
                     why=f"resamples={resamples!r}: use at least 100 bootstrap resamples.")
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(resamples, len(values)))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(values.mean()), float(low), float(high)


def deletion_insertion_curves(model, images: np.ndarray, orders: np.ndarray, classes: np.ndarray,
                              baselines: np.ndarray, steps: int = 32, batch_size: int = 2048
                              ) -> tuple[np.ndarray, np.ndarray]:
    """Deletion and insertion curves (Petsiuk et al. 2018, RISE) of a batch of images: ``(N, steps + 1)`` each.

    Each image's pixels are taken in its ``order`` (most important first, as :func:`pixel_order` gives),
    ``steps`` equal blocks at a time. *Deletion* starts from the image and replaces the taken pixels by the
    baseline; *insertion* starts from the baseline and puts the image's pixels back. Each curve holds the
    model's output for the image's class after 0, 1, ..., ``steps`` blocks. A faithful attribution makes
    deletion fall fast and insertion rise fast.

    ``images`` ``(N, H, W, C)``, ``orders`` one pixel permutation per image ``(N, H*W)``, ``classes`` one output
    index per image, ``baselines`` broadcastable to ``images`` (0 for black, one value per channel, or one
    blurred copy per image). The model runs in batches of ``batch_size``.
    """
    images = validate.batch("images", images, ndim=4).astype(np.float32)
    n, height, width = images.shape[:3]
    baselines = validate.finite("baselines", baselines).astype(np.float32)
    try:
        baselines = np.broadcast_to(baselines, images.shape)
    except ValueError:
        raise InputError(f"baselines {baselines.shape} do not fit the images {images.shape}: pass one value, one "
                         "value per channel, one image, or one image per image.") from None
    validate.same_scale("images", images, "baselines", baselines)
    orders = validate.finite("orders", orders)
    classes = validate.class_indexes("classes", classes, model.output_shape[-1])
    if orders.shape != (n, height * width) or classes.shape != (n,):
        raise InputError(f"give one pixel order (shape ({n}, {height * width})) and one class per image; got "
                         f"orders {orders.shape} and classes {classes.shape}.")
    if not np.array_equal(np.sort(orders, axis=1), np.broadcast_to(np.arange(height * width), orders.shape)):
        raise InputError(f"each order must be a permutation of the {height * width} pixels of its image.")
    steps = validate.positive_int("steps", steps)
    batch_size = validate.positive_int("batch_size", batch_size)
    if steps > height * width:
        raise InputError(f"steps={steps} must lie between 1 and the number of pixels, {height * width}.")
    bounds = np.linspace(0, height * width, steps + 1).round().astype(int)[1:-1]  # the points inside the curves
    # rank[i, p]: the position of pixel p in image i's order; a pixel is taken after k blocks if rank < bound
    rank = np.argsort(orders, axis=1)
    taken = (rank[:, None, :] < bounds[None, :, None]).reshape(n, steps - 1, height, width, 1)
    deleted = np.where(taken, baselines[:, None], images[:, None])
    inserted = np.where(taken, images[:, None], baselines[:, None])
    # Every curve ends at the image and at its baseline, whatever the order: run each distinct one once (a
    # chapter that compares several orders on one photo pays for its two ends once, not once per order).
    ends, which = np.unique(np.concatenate([images, baselines]).reshape(2 * n, -1), axis=0, return_inverse=True)
    batch = np.concatenate([ends.reshape((-1,) + images.shape[1:]),
                            np.concatenate([deleted, inserted], axis=1).reshape((-1,) + images.shape[1:])])
    from helpers.method_maps import forward  # predict's numbers without its work around every batch

    scores = forward(model, batch, batch_size)
    end_scores = scores[: len(ends)][which.ravel(), :].reshape(2, n, -1)[:, np.arange(n), classes]
    inside = scores[len(ends) :].reshape(n, 2 * (steps - 1), scores.shape[-1])[np.arange(n), :, classes]
    at_image, at_baseline = end_scores[0][:, None], end_scores[1][:, None]
    deletion = np.concatenate([at_image, inside[:, : steps - 1], at_baseline], axis=1)
    insertion = np.concatenate([at_baseline, inside[:, steps - 1 :], at_image], axis=1)
    return deletion, insertion


def top_k_overlap(a: np.ndarray, b: np.ndarray, fraction: float = 0.05) -> float:
    """Share of the ``fraction`` highest-ranked cells of map ``a`` that are also among those of map ``b``.

    Cells are ranked by signed value, most positive first (the most supporting evidence). 1 means the two
    maps put the same cells on top; two unrelated maps overlap by about ``fraction`` by chance.
    """
    a, b = validate.finite("a", a).astype(float).ravel(), validate.finite("b", b).astype(float).ravel()
    if a.shape != b.shape:
        raise InputError(f"the maps have different sizes {a.size} and {b.size}; compare maps of one input.")
    if not 0 < fraction <= 1:
        raise InputError(f"fraction={fraction} must lie in (0, 1].")
    k = max(1, int(round(fraction * a.size)))
    top_a = np.argsort(-a, kind="stable")[:k]
    top_b = np.argsort(-b, kind="stable")[:k]
    return len(np.intersect1d(top_a, top_b)) / k
