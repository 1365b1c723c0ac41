"""Figures: attribution maps at pixel size, learning curves, photos with their labels, colour bars."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from helpers import validate
from helpers.errors import InputError


def to_pixel_maps(values: np.ndarray, image_size: int) -> list[np.ndarray]:
    """Turn layer attributions into per-pixel maps that ``shap.image_plot`` can draw over a photo.

    ``values`` has shape ``(N, h, w, C, K)`` (shap's layout: K explained classes last). The channels are
    summed and each map is enlarged to ``image_size`` by repeating its cells (an intermediate layer's map
    is coarse, and the figure should show that), divided by the number of repeats so that the map's total
    attribution is unchanged. Returns a list of K arrays ``(N, image_size, image_size, 1)``, one per class,
    which is the layout ``shap.image_plot`` expects.
    """
    values = validate.finite("values", values)
    if values.ndim != 5:
        raise InputError(f"values must have shape (N, h, w, channels, classes), got {values.shape}.")
    validate.positive_int("image_size", image_size)
    n, h, w, _, k = values.shape
    if h != w or image_size % h:
        raise InputError(f"a {h}x{w} map cannot be enlarged to {image_size}x{image_size} by whole repeats; "
                         "use a square map whose side divides the image size.")
    factor = image_size // h
    summed = values.sum(axis=3)  # (N, h, w, K)
    big = summed.repeat(factor, axis=1).repeat(factor, axis=2) / factor**2
    return [big[..., c : c + 1] for c in range(k)]


def learning_curves(history: dict[str, list[float]]):
    """Plot training and validation accuracy and loss per epoch from ``model.fit(...).history``."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    needed = ("accuracy", "val_accuracy", "loss", "val_loss")
    missing = [key for key in needed if key not in history]
    if missing:
        raise InputError(f"history lacks {missing}: compile with metrics=['accuracy'] and fit with validation "
                         "data, then pass fit(...).history.")
    lengths = {key: len(history[key]) for key in needed}
    if len(set(lengths.values())) != 1 or not lengths["loss"]:
        raise InputError(f"history holds {lengths} values per key: it needs one value per epoch, at least one "
                         "epoch, the same number for each key.")
    epochs = np.arange(1, len(history["loss"]) + 1)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, key, label in ((axes[0], "accuracy", "accuracy"), (axes[1], "loss", "loss")):
        ax.plot(epochs, history[key], "o-", label="training")
        ax.plot(epochs, history[f"val_{key}"], "s--", label="validation")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # whole epochs only
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig


def actual_vs_predicted(images: np.ndarray, actual: np.ndarray, predicted: np.ndarray,
                        names: Sequence[str], columns: int = 5):
    """Draw images in a grid, each titled with its actual and predicted class (wrong ones in red).

    ``images`` are ``(N, H, W, 3)`` in 0..1; ``actual`` and ``predicted`` are class ids of length N.
    """
    import matplotlib.pyplot as plt

    images = validate.batch("images", images)
    validate.image_scale("images", images)
    validate.positive_int("columns", columns)
    actual, predicted = np.asarray(actual).ravel(), np.asarray(predicted).ravel()
    if images.ndim != 4 or not len(images) == len(actual) == len(predicted):
        raise InputError(f"need N images (N, H, W, 3) with N actual and N predicted labels; got {images.shape}, "
                         f"{actual.shape} and {predicted.shape}.")
    validate.class_indexes("actual", actual, len(names))
    validate.class_indexes("predicted", predicted, len(names))
    rows = -(-len(images) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(2.2 * columns, 2.9 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    for ax, image, a, p in zip(axes.ravel()[: len(images)], images, actual, predicted, strict=True):
        ax.imshow(image, interpolation="nearest")
        ax.set_title(f"actual: {names[a]}\npredicted: {names[p]}", fontsize=9,
                     color="black" if a == p else "tab:red")
    fig.tight_layout()
    return fig



def snug_colorbar(fig, gap: float = 0.3):
    """Move the colour bar of a ``shap.image_plot`` figure up to ``gap`` inches under its last row of panels.

    ``shap.image_plot`` reserves a fixed share of the figure's height for its colour bar, which leaves a band
    of white between the last row and the bar that grows with the number of rows. With the bar moved up, the
    white is all below it, where saving or displaying with ``bbox_inches="tight"`` (Jupyter's default) crops
    it. Returns ``fig``.
    """
    if len(fig.axes) < 2 or fig.axes[-1].get_label() != "<colorbar>":
        raise InputError("snug_colorbar expects a figure drawn by shap.image_plot (panels, then a colour bar); "
                         "call it right after shap.image_plot(..., show=False), with plt.gcf().")
    *panels, bar = fig.axes
    height = fig.get_size_inches()[1]
    for ax in panels:
        ax.apply_aspect()  # the boxes as drawn: square images shrink their panels
    lowest = min(ax.get_position().y0 for ax in panels)
    box = bar.get_position()
    bar.set_position([box.x0, lowest - gap / height - box.height, box.width, box.height])
    return fig
