"""Checks of arguments shared by the helpers: each raises an :class:`~helpers.errors.InputError` that names
the argument, what is wrong with it and how to fix it, instead of letting a library fail later with its own
message (or, worse, return a silent NaN)."""

from __future__ import annotations

import numpy as np

from helpers.errors import InputError

# Two arrays whose largest magnitudes differ by more than this factor are taken to be on different scales
# (0..255 against 0..1 differ by 255). Activations of one layer for different images differ far less.
SCALE_RATIO = 50.0


def finite(name: str, array, *, allow_empty: bool = False) -> np.ndarray:
    """Return ``array`` as a NumPy array after checking that it is numeric, non-empty and has no NaN or inf."""
    array = np.asarray(array)
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise InputError(f"{name} must be a numeric array, got dtype {array.dtype}.")
    if array.size == 0 and not allow_empty:
        raise InputError(f"{name} is empty (shape {array.shape}): pass at least one item.")
    if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
        bad = int((~np.isfinite(array)).sum())
        raise InputError(f"{name} holds {bad} NaN or infinite value(s) of {array.size}: find where they come from "
                         "(a division by zero, a failed load, an overflow in float16) and fix or drop those items.")
    return array


def batch(name: str, array, ndim: int | None = None) -> np.ndarray:
    """Check a batch of inputs: finite, with at least one item on its first axis (and ``ndim`` axes if given)."""
    array = finite(name, array, allow_empty=True)
    if array.ndim == 0 or array.shape[0] == 0:
        raise InputError(f"{name} is an empty batch (shape {array.shape}): pass at least one item, with the batch "
                         "axis first.")
    if ndim is not None and array.ndim != ndim:
        raise InputError(f"{name} must have {ndim} axes (a batch first), got shape {array.shape}.")
    return array


def same_scale(name_a: str, a: np.ndarray, name_b: str, b: np.ndarray) -> None:
    """Reject two arrays that should be on one scale but are not: integer against float pixels, or largest
    magnitudes that differ by more than :data:`SCALE_RATIO` (uint8 0..255 against float 0..1).

    An all-zero array (a black background) has no scale and passes.
    """
    a, b = np.asarray(a), np.asarray(b)
    if np.issubdtype(a.dtype, np.integer) != np.issubdtype(b.dtype, np.integer):
        raise InputError(f"{name_a} has dtype {a.dtype} but {name_b} has dtype {b.dtype}: prepare both the same "
                         "way (for images, float32 scaled to 0..1: divide uint8 pixels by 255).")
    top_a, top_b = float(np.abs(a).max()), float(np.abs(b).max())
    if top_a > 0 and top_b > 0 and max(top_a / top_b, top_b / top_a) > SCALE_RATIO:
        raise InputError(f"{name_a} reaches {top_a:.4g} but {name_b} only {top_b:.4g} (a factor of "
                         f"{max(top_a / top_b, top_b / top_a):.0f}): they look like different scales, such as "
                         "0..255 against 0..1. Scale both the same way (divide 0..255 pixels by 255).")


def image_scale(name: str, images) -> np.ndarray:
    """Check images to draw on matplotlib's two scales: float pixels in 0..1, integer pixels in 0..255 (a float
    image in 0..255 would be clipped to white without a word)."""
    images = finite(name, images)
    top = 255 if np.issubdtype(images.dtype, np.integer) else 1
    low, high = float(images.min()), float(images.max())
    if low < 0 or high > top:
        raise InputError(f"{name} holds values in {low:.4g}..{high:.4g}, outside 0..{top} for {images.dtype} pixels: "
                         "pass float pixels in 0..1 (divide 0..255 pixels by 255) or integer pixels in 0..255.")
    return images


def class_indexes(name: str, classes, n_classes: int) -> np.ndarray:
    """Check integer class indexes in ``0 .. n_classes - 1``; return them as an int array."""
    classes = np.asarray(classes)
    if classes.size and not (np.issubdtype(classes.dtype, np.integer)
                             or (np.issubdtype(classes.dtype, np.floating) and np.all(classes == np.round(classes)))):
        raise InputError(f"{name} must be integer class indexes, got {classes.dtype} values.")
    if classes.size and (classes.min() < 0 or classes.max() >= n_classes):
        raise InputError(f"{name} must lie in 0..{n_classes - 1} (the model has {n_classes} outputs), found "
                         f"{classes.min():g}..{classes.max():g}.")
    return classes.astype(int)


def integer(name: str, value, low: int | None = None, high: int | None = None, why: str = "") -> int:
    """Check an integer argument, a Python or NumPy integer (never a bool), in ``low .. high`` (both included,
    either left open with ``None``); return it as an ``int``. ``why`` replaces the default message with one that
    names the fix in the caller's terms."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
            or (low is not None and value < low) or (high is not None and value > high):
        bounds = (f" in {low}..{high}" if low is not None and high is not None
                  else f" of at least {low}" if low is not None else f" of at most {high}" if high is not None else "")
        raise InputError(why or f"{name}={value!r} must be an integer{bounds}.")
    return int(value)


def positive_int(name: str, value) -> int:
    """Check a positive integer argument (epochs, steps, sample counts)."""
    return integer(name, value, low=1, why=f"{name}={value!r} must be a positive integer.")
