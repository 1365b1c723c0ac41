"""Additivity of DeepExplainer's values: the gap between their sum and f(x) - E[f(r)], and the diagnostics that
say why a model's gap is larger than float32 round-off (the own-model chapter, section 3)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from helpers import shap_guard, validate
from helpers.errors import InputError

if TYPE_CHECKING:
    import keras

# An image explained alone and the same image inside a batch may differ by float32 round-off (other kernels
# for other batch sizes); a larger difference means the model's output depends on the rest of the batch.
BATCH_TOLERANCE = 1e-4


def _inputs(model, images, background) -> tuple[np.ndarray, np.ndarray]:
    """``images`` and ``background`` as arrays, checked: batches of the model's input shape, on one scale."""
    images = validate.batch("images", images)
    background = validate.batch("background", background)
    validate.same_scale("images", images, "background", background)
    inputs = getattr(model, "inputs", None)
    if not inputs or len(inputs) != 1:
        raise InputError(f"the additivity checks need a Keras model with one input tensor, got "
                         f"{type(model).__name__}: pass the model itself (keras.Model), not its predictions.")
    expected = tuple(inputs[0].shape[1:])
    for name, array in (("images", images), ("background", background)):
        if array.shape[1:] != expected:
            raise InputError(f"{name} has shape {array.shape}, but {model.name} takes inputs of shape "
                             f"{expected}: pass a batch of such inputs, the batch axis first (x[None] for one).")
    return images, background


def gap(model: keras.Model, images, background) -> tuple[float, float]:
    """The additivity gap of ``shap.DeepExplainer(model, background)`` on ``images``, and its scale.

    Each image is explained for the class the model ranks first. The gap is the largest
    |sum of the image's values - (f(x) - E[f(r)])| over the images, where f is that class's output and E[f(r)]
    its mean over the background; the scale is the largest |f(x) - E[f(r)]|, so that ``gap / scale`` is the
    gap relative to what the values should add up to. Both are computed in float64 (NumPy floats).
    """
    import shap

    images, background = _inputs(model, images, background)
    explainer = shap.DeepExplainer(model, background)
    values, ranked = explainer.shap_values(images, ranked_outputs=1, check_additivity=False)
    classes = ranked[:, 0]
    f_x = np.asarray(model(images), dtype="float64")[np.arange(len(images)), classes]
    target = f_x - np.asarray(explainer.expected_value, dtype="float64")[classes]
    # values: (images, *input shape, 1 ranked class); sum everything but the image axis
    total = values.sum(axis=tuple(range(1, values.ndim)))
    return np.abs(total - target).max(), np.abs(target).max()


def diagnose(model: keras.Model, images, background) -> dict:
    """The additivity gap of ``model`` on ``images`` (see :func:`gap`) and what may cause a large one.

    Returns a dict with:

    - ``"gap"`` and ``"relative"``: the gap, and the gap divided by the largest |f(x) - E[f(r)]|;
    - ``"random"``: two calls of the model on the same images differ (a layer such as ``Dropout`` called
      with ``training=True``): the forward pass, and so every explanation, is random;
    - ``"batch-dependent"``: not random, but the first image alone gives another output than the same image
      in the batch, by more than :data:`BATCH_TOLERANCE` (``BatchNormalization`` called with
      ``training=True`` normalises with the batch's statistics, and shap tiles each image next to the
      background in one batch);
    - ``"float16"``: some layer computes in float16 (Keras's ``mixed_float16`` policy): a gap of the order of
      float16's resolution, about 1e-3 of the target, is expected;
    - ``"custom gradient"``: the operations with a custom gradient that DeepExplainer does not intercept (from
      :func:`helpers.shap_guard.unsupported_operations`), where the plain gradient stands in for a rule.
    """
    images, background = _inputs(model, images, background)
    gap_, scale = gap(model, images, background)
    twice = np.asarray(model(images)) - np.asarray(model(images))
    alone = np.asarray(model(images[:1])) - np.asarray(model(images))[:1]
    return {
        "gap": gap_, "relative": gap_ / scale,
        "random": bool(np.abs(twice).max() > 0),
        "batch-dependent": bool(np.abs(twice).max() == 0 and np.abs(alone).max() > BATCH_TOLERANCE),
        "float16": any(layer.compute_dtype == "float16" for layer in model.layers),
        "custom gradient": shap_guard.unsupported_operations(model).custom_gradient,
    }
