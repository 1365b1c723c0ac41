"""Every attribution method of the comparisons chapter on one photo, in one call.

The chapter runs each method once, call by call, on its main photo; the deletion test and the random-network
floor need the same maps for more photos and for other networks. :func:`every_method` makes the same calls
with the same settings, gathered in one function, and times each.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from helpers import gradient_methods, validate
from helpers.errors import InputError


def forward(net, images: np.ndarray, batch_size: int) -> np.ndarray:
    """``net``'s outputs for a batch of its inputs, ``batch_size`` at a time, from one graph per network.

    The same numbers as ``net.predict(images, batch_size=batch_size)``, without the work Keras's ``predict``
    does around every batch (its data pipeline and callbacks): shap's Partition explainer calls the model many
    times with a few images each, and for a few VGG19 photos per batch that work is a sizeable share of the
    forward pass itself."""
    import tensorflow as tf

    images = validate.batch("images", images)
    validate.positive_int("batch_size", batch_size)

    def build(weak_model):
        @tf.function(reduce_retracing=True)
        def outputs(batch):
            return weak_model()(batch, training=False)

        return outputs

    graph = gradient_methods.model_graph(net, "forward", build)
    return np.concatenate([graph(tf.constant(images[start : start + batch_size], dtype=tf.float32)).numpy()
                           for start in range(0, len(images), batch_size)])


class DistinctEvaluations:
    """A model function for shap's explainers that evaluates each distinct input once.

    Runs of the Partition explainer on one photo ask for many of the same masked images: a smaller
    ``max_evals`` evaluates a subset of a larger one's images (the same splits in the same order, given the
    same seed, ``batch_size`` and outputs, and a deterministic model), and runs
    for one class or for several share the first splits. Wrapping the model function ``f`` (a batch in, one
    row of outputs per input out) in this class answers every input it has seen from a store keyed by the
    input's bytes (a 128-bit BLAKE2 digest), so only new inputs reach the model. ``requested`` counts the
    inputs asked for, ``evaluated`` those that reached ``f``. Valid only for a deterministic ``f``."""

    def __init__(self, f: Callable[[np.ndarray], np.ndarray]) -> None:
        self.f = f
        self.requested = 0
        self.evaluated = 0
        self._store: dict[bytes, np.ndarray] = {}

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        batch = np.asarray(batch)
        keys = [hashlib.blake2b(np.ascontiguousarray(row).tobytes(), digest_size=16).digest() for row in batch]
        new: dict[bytes, int] = {}
        for row, key in enumerate(keys):
            if key not in self._store and key not in new:
                new[key] = row
        if new:
            outputs = np.asarray(self.f(batch[list(new.values())]))
            if len(outputs) != len(new):
                raise InputError(f"the model function returned {len(outputs)} rows for {len(new)} inputs: it "
                                 "must return one row of outputs per input.")
            self._store.update(zip(new, outputs, strict=True))
        self.requested += len(batch)
        self.evaluated += len(new)
        return np.stack([self._store[key] for key in keys])


@dataclass(frozen=True)
class Budget:
    """The sizes of the methods' runs: the Partition explainer's model evaluations, integrated gradients'
    trapezoid intervals, expected gradients' and SmoothGrad's samples, SmoothGrad's noise (in raw pixel
    units), Grad-CAM's layer, the box blur of the blur masker and baseline, the images per model call, and
    the seed of every random draw."""

    max_evals: int
    ig_steps: int
    eg_samples: int
    sg_samples: int
    sg_sigma: float
    cam_layer: str
    blur: tuple[int, int]
    batch_size: int
    seed: int = 0


def every_method(net, photo: np.ndarray, class_index: int, *, preprocess: Callable[[np.ndarray], np.ndarray],
                 masker, background: np.ndarray, budget: Budget
                 ) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Maps of output ``class_index`` of ``net`` for one raw ``photo`` (height, width, 3; RGB 0..255) by the
    Partition explainer with ``masker``, integrated gradients against black and against the blurred photo,
    expected gradients over ``background`` (preprocessed photos), SmoothGrad x input (black as the input's
    reference) and Grad-CAM upsampled bilinearly to the photo. ``preprocess`` maps raw photos to the network's
    inputs (it may change its argument in place; it gets copies).

    Returns two dicts keyed by method name: the maps (height, width), summed over colour channels, and the
    seconds each method took."""
    import cv2
    import shap
    import tensorflow as tf

    photo = validate.finite("photo", photo)
    if photo.ndim != 3 or photo.shape[-1] != 3 or float(photo.max()) <= 1.0:
        raise InputError(f"photo has shape {photo.shape} and largest value {float(photo.max()):.4g}: pass one raw "
                         "RGB photo (height, width, 3) on 0..255, as the masker and preprocess expect.")
    # the gradient methods' own check of the input and the class, before the Partition explainer runs
    x = gradient_methods._check_image(net, preprocess(photo.copy()), class_index)
    black = preprocess(np.zeros_like(photo))
    blurred = preprocess(cv2.blur(photo, budget.blur))
    batch = budget.batch_size

    def f_net(images):
        return forward(net, preprocess(images.copy()), batch)

    def partition_map():
        np.random.seed(budget.seed)  # the explainer breaks ties at random
        run = shap.Explainer(f_net, masker)(photo[None], max_evals=budget.max_evals, batch_size=50,
                                            outputs=[class_index], silent=True)
        return run.values[0, ..., 0].sum(-1)

    def expected_gradients_map():
        explainer = shap.GradientExplainer(net, background, batch_size=batch)
        values, _ = explainer.shap_values(x[None], nsamples=budget.eg_samples,
                                          ranked_outputs=np.array([[class_index]]),
                                          output_rank_order="custom", rseed=budget.seed)
        return values[0, ..., 0].sum(-1)

    def integrated(baseline):
        return gradient_methods.integrated_gradients(net, x, baseline, class_index, steps=budget.ig_steps,
                                                     batch_size=batch).sum(-1)

    def smooth_times_input():
        gradient = gradient_methods.smoothgrad(net, x, class_index, sigma=budget.sg_sigma,
                                               samples=budget.sg_samples, seed=budget.seed, batch_size=batch)
        return (gradient * (x - black)).sum(-1)

    def cam():
        coarse = gradient_methods.grad_cam(net, x, class_index, budget.cam_layer)
        return tf.image.resize(coarse[..., None], photo.shape[:2], method="bilinear").numpy()[..., 0]

    methods = {
        "Partition (blur)": partition_map,
        "IG (black)": lambda: integrated(black),
        "IG (blurred)": lambda: integrated(blurred),
        "expected gradients": expected_gradients_map,
        "SmoothGrad x input": smooth_times_input,
        "Grad-CAM": cam,
    }
    maps, seconds = {}, {}
    for name, compute in methods.items():
        start = time.perf_counter()
        maps[name] = compute()
        seconds[name] = time.perf_counter() - start
    return maps, seconds
