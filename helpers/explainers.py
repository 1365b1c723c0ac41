"""Explainers: faster equivalents of shap's DeepExplainer and GradientExplainer, the expected-gradients
per-sample totals that measure GradientExplainer's sampling error, and plain-gradient saliency."""

from __future__ import annotations

import numpy as np

from helpers import gradient_methods, validate
from helpers.errors import InputError
from helpers.shap_guard import guarded


def _deep_inputs(background, images) -> tuple[np.ndarray, np.ndarray]:
    """The background and images for DeepExplainer (and the per-image expected gradients), checked: float32
    batches of inputs of one shape and scale."""
    validate.batch("background", background)
    validate.batch("images", images)
    validate.same_scale("images", images, "background", background)
    background = np.asarray(background, dtype=np.float32)
    images = np.asarray(images, dtype=np.float32)
    if background.ndim < 2 or images.shape[1:] != background.shape[1:]:
        raise InputError(f"images {images.shape} and background {background.shape} must hold inputs of the "
                         "same shape, each with a batch axis first.")
    return background, images


def _one_class_per_image(model, classes, n_images: int) -> np.ndarray:
    """``classes`` checked as one output index of ``model`` for each of ``n_images`` images."""
    classes = validate.class_indexes("classes", np.asarray(classes), model.output_shape[-1])
    if classes.shape != (n_images,):
        raise InputError(f"give one class per image: {n_images} images but classes of shape {classes.shape}.")
    return classes


def _swap_background(explainer, background: np.ndarray) -> None:
    """Give a ``shap.DeepExplainer`` another background without building a new one (its traced graphs stay
    valid). shap has no public way to do this: it sets the TensorFlow explainer's private ``data`` list, the
    one place in the helpers that does. ``tests/test_explainers.py`` compares the results with stock shap's
    for a whole background, so a change in shap fails there."""
    explainer.explainer.data = [background]


@guarded()
def deep_shap_values(model, background: np.ndarray, images: np.ndarray, chunk_size: int = 50
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Return ``shap.DeepExplainer(model, background).shap_values(images)`` and its expected value, faster.

    DeepExplainer pairs each image with every background image independently and averages the per-pair
    attributions; shap pushes all the pairs through the model in one batch per image and class. With a
    thousand backgrounds those batches are so large that most of the time goes to allocating memory. Here the
    background is split into chunks of ``chunk_size``, one explainer runs over each chunk in turn (the traced
    graphs are reused), and the chunk results are averaged, weighted by chunk size: the same average, in
    smaller batches. Returns the values ``(N, H, W, C, K)`` and the expected value ``(K,)``, the model's mean
    output over the whole background. shap's own additivity check is left to the caller (check it!).
    It runs inside :class:`helpers.shap_guard.guarded`: a failure leaves TensorFlow's gradients intact.
    """
    import shap

    background, images = _deep_inputs(background, images)
    chunk_size = validate.positive_int("chunk_size", chunk_size)
    explainer = shap.DeepExplainer(model, background[:chunk_size])
    total = np.zeros(())
    for start in range(0, len(background), chunk_size):
        chunk = background[start : start + chunk_size]
        _swap_background(explainer, chunk)
        total = total + explainer.shap_values(images, check_additivity=False) * len(chunk)
    expected = np.asarray(model.predict(background, verbose=0, batch_size=256)).mean(axis=0)
    return total / len(background), expected


@guarded()
def deep_shap_own_class(model, background: np.ndarray, images: np.ndarray, classes: np.ndarray,
                        chunk_size: int = 50) -> np.ndarray:
    """DeepExplainer's values of each image for its own class: ``deep_shap_values(model, background,
    images)[0][i, ..., classes[i]]`` for every image ``i``, shaped like ``images``.

    shap's DeepExplainer explains every output of the model, one backward pass per output and image, and has no
    way to ask for one given class per image. Here the model's output ``c`` alone becomes a one-output model
    for the images of class ``c``, so each image costs one backward pass instead of one per class: the same
    values (each output's attributions depend on that output alone) for a fraction of the work when there are
    many classes."""
    import keras

    background, images = _deep_inputs(background, images)
    classes = _one_class_per_image(model, classes, len(images))
    values = np.empty_like(images)
    for c in np.unique(classes):
        rows = np.flatnonzero(classes == c)
        take = keras.layers.Lambda(lambda outputs, c=int(c): outputs[:, c : c + 1], name=f"class_{c}")
        one_output = keras.Model(model.inputs, take(model.outputs[0]))
        values[rows] = deep_shap_values(one_output, background, images[rows], chunk_size)[0][..., 0]
    return values


@guarded()
def deep_shap_terms(model, background: np.ndarray, images: np.ndarray) -> np.ndarray:
    """Return the terms DeepExplainer averages: the values against each background image alone.

    ``shap.DeepExplainer(model, background).shap_values(images)`` is the mean, over the background images
    ``r``, of one attribution per reference, whose sum over the input is ``f(x) - f(r)``. This function
    returns those terms instead of their mean, shaped ``(R, N, H, W, C, K)`` for ``R`` background images:
    ``terms.mean(axis=0)`` equals :func:`deep_shap_values`. One explainer serves every reference (the
    background is swapped, as in :func:`deep_shap_values`), so the cost grows with ``R`` as the mean's does.
    """
    import shap

    background, images = _deep_inputs(background, images)
    explainer = shap.DeepExplainer(model, background[:1])
    terms = []
    for reference in background:
        _swap_background(explainer, reference[None])
        terms.append(explainer.shap_values(images, check_additivity=False))
    return np.stack(terms)


SAMPLINGS = ("shap", "stratified")


def expected_gradients_draws(nsamples: int, n_background: int, rseed: int = 0, sampling: str = "shap"
                             ) -> tuple[np.ndarray, np.ndarray]:
    """The (reference index, path point) draws of expected gradients: ``nsamples`` of each.

    ``sampling="shap"`` reproduces shap's ``GradientExplainer`` exactly: NumPy's global generator reseeded with
    ``rseed``, then, per sample, a background index uniformly at random and a point ``t`` uniform in [0, 1].
    ``sampling="stratified"`` draws the same distribution in strata: every background image is used equally
    often (``nsamples // n_background`` or one more times, in a random order), and the path points are one
    uniform draw in each of ``nsamples`` equal sub-intervals of [0, 1], paired with the references at random.
    Both estimate the same expectation without bias; the stratified draws leave out the variance that comes
    from some references and some stretches of the path being drawn more often than others.
    """
    if sampling not in SAMPLINGS:
        raise InputError(f"sampling={sampling!r} is not one of {SAMPLINGS}.")
    nsamples = validate.positive_int("nsamples", nsamples)
    n_background = validate.positive_int("n_background", n_background)
    if sampling == "shap":
        np.random.seed(rseed)
        references = np.empty((nsamples,), dtype=int)
        ts = np.empty((nsamples,), dtype=np.float64)
        for k in range(nsamples):
            references[k] = np.random.choice(n_background)
            ts[k] = np.random.uniform()
        return references, ts
    rng = np.random.default_rng(rseed)
    rounds = -(-nsamples // n_background)
    references = np.concatenate([rng.permutation(n_background) for _ in range(rounds)])[:nsamples]
    ts = (rng.permutation(nsamples) + rng.uniform(size=nsamples)) / nsamples
    return references, ts


def _class_gradients_graph(model, classes: list[int], jit_compile: bool):
    """``points -> (batch, *point shape, len(classes))``: the gradients of the ``classes`` outputs, all from one
    forward pass, as a graph built once per model, classes and compilation
    (:func:`helpers.gradient_methods.model_graph`)."""
    import tensorflow as tf

    def build(weak_model):
        selector = tf.constant(classes)

        @tf.function(jit_compile=jit_compile, reduce_retracing=True)
        def class_gradients(points):
            with tf.GradientTape(persistent=True) as tape:
                tape.watch(points)
                outputs = tf.gather(weak_model()([points], training=False), selector, axis=1)
                parts = [outputs[:, k] for k in range(len(classes))]
            return tf.stack([tape.gradient(part, points) for part in parts], axis=-1)

        return class_gradients

    kind = f"gradients of classes {classes}" + (" (XLA)" if jit_compile else "")
    return gradient_methods.model_graph(model, kind, build)


@guarded()
def expected_gradients(model, x: np.ndarray, background: np.ndarray, classes, nsamples: int = 200,
                       rseed: int = 0, batch_size: int = 20, jit_compile: bool = False,
                       return_totals: bool = False, sampling: str = "shap"
                       ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """shap's ``GradientExplainer`` estimate for one input and several classes, sharing the work.

    Returns the same numbers as ``shap.GradientExplainer(model, background).shap_values(x[None],
    nsamples=nsamples, rseed=rseed, ...)`` with ``local_smoothing=0``, for the given output ``classes``, as an
    array ``x.shape + (len(classes),)``. shap reseeds NumPy with ``rseed`` for every class, so all classes are
    estimated at the same sample points; here each batch of points goes through the model once, and all the
    classes' gradients come from that one forward pass. ``jit_compile=True`` also compiles the graph with
    XLA, which TensorFlow refuses for max-pooling gradients while op determinism is on (as
    :func:`helpers.config.seed_everything` sets it), so it is off by default. ``sampling="stratified"``
    estimates the same quantity from stratified draws (:func:`expected_gradients_draws`) instead of shap's.

    ``batch_size`` sample points go through the model at a time (as in shap): the memory used grows with it.
    With ``return_totals=True`` the function also returns each draw's total ``sum_i grad_i * (x_i - r_i)`` per
    class, shape ``(nsamples, len(classes))``: the attribution sum of that single draw, whose mean is the sum
    of the returned values and whose spread gives their sampling error (see
    :func:`expected_gradients_sample_totals`). They cost nothing extra.
    """
    import tensorflow as tf

    validate.finite("x", x)
    validate.batch("background", background)
    validate.same_scale("x", x, "background", background)
    validate.positive_int("nsamples", nsamples)
    validate.positive_int("batch_size", batch_size)
    x = np.asarray(x, dtype=np.float32)
    background = np.asarray(background, dtype=np.float32)
    classes = [int(c) for c in validate.class_indexes("classes", np.atleast_1d(classes), model.output_shape[-1])]
    if x.shape != background.shape[1:]:
        raise InputError(f"x {x.shape} must be one input shaped like the background's {background.shape[1:]} "
                         "(no batch axis).")

    references, ts = expected_gradients_draws(nsamples, len(background), rseed, sampling)
    class_gradients = _class_gradients_graph(model, classes, jit_compile)

    total = np.zeros(x.shape + (len(classes),), dtype=np.float64)
    totals = np.empty((nsamples, len(classes)), dtype=np.float64)
    for start in range(0, nsamples, batch_size):
        refs = background[references[start : start + batch_size]]
        t = ts[start : start + batch_size].reshape((-1,) + (1,) * x.ndim)
        # shap computes each point in float32 from the float64 t and 1 - t: round them the same way, since a
        # last-bit change can flip a ReLU or a max-pooling choice
        points = t.astype(np.float32) * x + (1 - t).astype(np.float32) * refs
        try:
            grads = np.asarray(class_gradients(tf.constant(points)))
        except tf.errors.UnimplementedError as err:
            if "deterministic" not in str(err):
                raise
            raise InputError("jit_compile=True needs TensorFlow's op determinism off (XLA has no deterministic "
                             "gradient for some layers, max pooling among them); run in a process that has not "
                             "called seed_everything, or keep jit_compile=False.") from None
        terms = grads * (x - refs)[..., None]  # (batch, *x.shape, classes)
        total += terms.sum(axis=0)
        totals[start : start + len(refs)] = terms.reshape(len(refs), -1, len(classes)).sum(axis=1, dtype=np.float64)
    values = (total / nsamples).astype(np.float32)
    return (values, totals) if return_totals else values


@guarded()
def expected_gradients_per_image(model, images: np.ndarray, background: np.ndarray, classes: np.ndarray,
                                 nsamples: int = 200, rseed: int = 0, batch_size: int = 50) -> np.ndarray:
    """shap's ``GradientExplainer`` estimate for a batch of images, each for its own class, from one gradient
    graph per model.

    Returns the same numbers as ``shap.GradientExplainer(model, background, batch_size=batch_size)
    .shap_values(images, nsamples=nsamples, rseed=rseed, ranked_outputs=classes[:, None],
    output_rank_order="custom")[0][..., 0]`` (``local_smoothing=0``), shaped like ``images``. shap builds and
    traces a gradient graph for every class it explains, once per explainer and batch shape, which costs more
    than the gradients of a small network; here the class is an input of the one graph of
    :func:`helpers.gradient_methods.path_gradients`. The draws are shap's: NumPy's global generator reseeded
    with ``rseed``, then ``nsamples`` (reference, path point) pairs for each image in turn.
    """
    background, images = _deep_inputs(background, images)  # the same checks as DeepExplainer's inputs
    validate.positive_int("nsamples", nsamples)
    validate.positive_int("batch_size", batch_size)
    classes = _one_class_per_image(model, classes, len(images))
    references, ts = expected_gradients_draws(nsamples * len(images), len(background), rseed)
    values = np.empty_like(images)
    for j, (image, c) in enumerate(zip(images, classes, strict=True)):
        drawn = slice(j * nsamples, (j + 1) * nsamples)
        refs = background[references[drawn]]
        t = ts[drawn].reshape((-1,) + (1,) * image.ndim)
        # rounded as shap rounds them (see expected_gradients)
        points = t.astype(np.float32) * image + (1 - t).astype(np.float32) * refs
        grads = gradient_methods.path_gradients(model, points, int(c), batch_size=batch_size)
        values[j] = (grads * (image - refs)).mean(axis=0)
    return values


@guarded()
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

    validate.finite("x", x)
    validate.batch("background", background)
    validate.same_scale("x", x, "background", background)
    classes = validate.class_indexes("classes", np.atleast_1d(classes), model.output_shape[-1])
    validate.integer("n", n, why=f"n={n!r} must be an integer number of draws.")
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
    derivative = _directional_derivative_graph(model)
    return np.asarray(derivative(tf.constant(refs + t * (x - refs)), tf.constant(x - refs)))[:, np.asarray(classes)]


def _directional_derivative_graph(model):
    """``(points, directions) -> d model(points + h directions) / dh at h = 0`` as a TensorFlow graph (one
    forward-mode pass), built once per model by :func:`helpers.gradient_methods.model_graph`."""
    import tensorflow as tf

    def build(weak_model):
        @tf.function(reduce_retracing=True)
        def derivative(points, directions):
            with tf.autodiff.ForwardAccumulator(points, directions) as acc:
                out = weak_model()([points], training=False)
            return acc.jvp(out)

        return derivative

    return gradient_methods.model_graph(model, "directional derivative", build)


@guarded()
def saliency(model, images: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Plain gradients of each image's class output with respect to its pixels (Simonyan et al. 2014), from the
    one gradient graph per model of :func:`helpers.gradient_methods.path_gradients`, a class at a time."""
    validate.batch("images", images)
    images = np.asarray(images, dtype=np.float32)
    classes = _one_class_per_image(model, classes, len(images))
    gradients = np.empty_like(images)
    for c in np.unique(classes):
        rows = np.flatnonzero(classes == c)
        gradients[rows] = gradient_methods.path_gradients(model, images[rows], int(c), batch_size=len(rows))
    return gradients
