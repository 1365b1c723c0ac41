"""Gradient attribution methods the comparisons chapter puts beside shap: integrated gradients, SmoothGrad and
Grad-CAM (the logit model they explain is :func:`helpers.surgery.logit_model`).

Each function takes one image ``x`` ``(H, W, C)`` (already preprocessed for the model) and one output index,
and returns a NumPy array; the model is a Keras model whose output is ``(batch, classes)``.
"""

from __future__ import annotations

import weakref

import numpy as np

from helpers import validate
from helpers.errors import InputError


def _check_image(model, x: np.ndarray, class_index: int) -> np.ndarray:
    x = validate.finite("x", x).astype(np.float32)
    expected = tuple(model.input_shape[1:])
    if x.shape != expected:
        raise InputError(f"x has shape {x.shape}, but {model.name} takes images of shape {expected}: pass one "
                         "preprocessed image without its batch axis.")
    n_outputs = model.output_shape[-1]
    validate.integer("class_index", class_index, 0, n_outputs - 1,
                     why=f"class_index={class_index!r} must be an integer output index in 0..{n_outputs - 1}.")
    return x


_GRAPHS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> {kind: graph}


def model_graph(model, kind: str, build):
    """The graph ``build(weak_model)`` returns for ``model`` (a ``tf.function``), built once per model and
    ``kind`` and kept only as long as the model lives: the cache holds the model weakly, and ``build`` gets a
    weak reference (a strong one in the graph would keep the model, its key, alive), so random networks can be
    freed. Every gradient graph of the helpers is made here (:func:`_gradient_graph`, the several classes'
    gradients of :func:`helpers.explainers.expected_gradients`, and the forward-mode derivative of
    :func:`helpers.explainers.expected_gradients_sample_totals`)."""
    graphs = _GRAPHS.setdefault(model, {})
    if kind not in graphs:
        graphs[kind] = build(weakref.ref(model))
    return graphs[kind]


def _gradient_graph(model):
    """``(batch, class_index) -> d model(batch)[:, class_index] / d batch`` as a TensorFlow graph, one per model.

    A graph runs without the per-operation overhead of eager execution; :func:`model_graph` builds it once
    per model.
    """
    import tensorflow as tf

    def build(weak_model):
        @tf.function(reduce_retracing=True)
        def gradient(batch, class_index):
            with tf.GradientTape() as tape:
                tape.watch(batch)
                score = tf.gather(weak_model()(batch, training=False), class_index, axis=1)
            return tape.gradient(score, batch)

        return gradient

    return model_graph(model, "gradient", build)


def path_gradients(model, points: np.ndarray, class_index: int, batch_size: int = 8) -> np.ndarray:
    """Gradients of output ``class_index`` with respect to each of ``points`` ``(N, H, W, C)``, in batches."""
    import tensorflow as tf

    points = np.asarray(points, dtype=np.float32)
    if points.ndim != 4 or len(points) == 0:
        raise InputError(f"points must be a non-empty batch of images (N, H, W, C), got shape {points.shape}.")
    validate.finite("points", points)
    _check_image(model, points[0], class_index)
    validate.positive_int("batch_size", batch_size)
    gradient = _gradient_graph(model)
    index = tf.constant(int(class_index))
    return np.concatenate([gradient(tf.constant(points[start : start + batch_size]), index).numpy()
                           for start in range(0, len(points), batch_size)])


def integrated_gradients(model, x: np.ndarray, baseline: np.ndarray, class_index: int, steps: int = 32,
                         batch_size: int = 8) -> np.ndarray:
    """Integrated gradients of output ``class_index`` at ``x`` against one ``baseline`` (Sundararajan et al. 2017).

    IG_i = (x_i - r_i) * integral over a in [0, 1] of df/dx_i(r + a (x - r)), the integral by the trapezoid
    rule on ``steps`` equal intervals (``steps + 1`` gradients, both ends included). The attributions add up
    to f(x) - f(r) up to the quadrature error, which vanishes in the limit of many steps but need not fall at
    every refinement (check it). Returns an array shaped like x.
    """
    x = _check_image(model, x, class_index)
    baseline = validate.finite("baseline", baseline).astype(np.float32)
    if baseline.shape != x.shape:
        raise InputError(f"baseline has shape {baseline.shape} but x has {x.shape}: give one reference image "
                         "shaped like x.")
    validate.same_scale("x", x, "baseline", baseline)
    steps = validate.positive_int("steps", steps)
    alphas = np.linspace(0, 1, steps + 1, dtype=np.float32).reshape(-1, 1, 1, 1)
    grads = path_gradients(model, baseline + alphas * (x - baseline), class_index, batch_size)
    return (x - baseline) * np.trapezoid(grads, dx=1 / steps, axis=0)


def smoothgrad(model, x: np.ndarray, class_index: int, sigma: float, samples: int = 32, seed: int = 0,
               batch_size: int = 8) -> np.ndarray:
    """SmoothGrad (Smilkov et al. 2017): the gradient of output ``class_index`` averaged over noisy copies of x.

    Returns (1/n) sum_k df/dx(x + e_k) with e_k ~ N(0, sigma^2) per pixel, ``samples`` copies, seeded by
    ``seed``; ``sigma`` is in the units of x (the paper uses 10-20 % of the input range). This is the smoothed
    *gradient*: multiply by an input difference to make an attribution (gradient x input).
    """
    x = _check_image(model, x, class_index)
    if not np.isfinite(sigma) or sigma < 0:
        raise InputError(f"sigma={sigma!r} must be a non-negative number (the noise's standard deviation).")
    samples = validate.positive_int("samples", samples)
    noise = np.random.default_rng(seed).normal(0.0, sigma, size=(samples,) + x.shape).astype(np.float32)
    return path_gradients(model, x + noise, class_index, batch_size).mean(axis=0)


def grad_cam(model, x: np.ndarray, class_index: int, layer_name: str) -> np.ndarray:
    """Grad-CAM (Selvaraju et al. 2017) of output ``class_index`` at the convolutional layer ``layer_name``.

    With A^k the layer's feature maps and a_k the spatial mean of d y / d A^k, returns
    ReLU(sum_k a_k A^k), one value per position of the layer's grid ``(h, w)``: a coarse, non-negative map
    (not an attribution that adds up to anything). ``model`` should output the pre-softmax score, as in the
    paper (see :func:`logit_model`).
    """
    import keras
    import tensorflow as tf

    x = _check_image(model, x, class_index)
    names = [layer.name for layer in model.layers]
    if layer_name not in names:
        raise InputError(f"{model.name} has no layer {layer_name!r}; choose a convolutional layer, one of "
                         f"{[n for n in names if 'conv' in n][-3:]} for example.")
    layer = model.get_layer(layer_name)
    if len(layer.output.shape) != 4:
        raise InputError(f"layer {layer_name!r} outputs shape {layer.output.shape}, not feature maps "
                         "(batch, h, w, channels): choose a convolutional layer.")
    both = keras.Model(model.inputs, [layer.output, model.output])
    with tf.GradientTape() as tape:
        maps, scores = both(tf.constant(x[None]), training=False)
        score = scores[:, class_index]
    weights = tf.reduce_mean(tape.gradient(score, maps), axis=(1, 2))  # a_k, shape (1, channels)
    cam = tf.nn.relu(tf.reduce_sum(maps * weights[:, None, None, :], axis=-1))
    return np.asarray(cam[0])
