"""Tiny models whose outputs and gradients are known by hand, shared by the unit tests."""

import keras
import numpy as np


def linear_model(weights: np.ndarray):
    inp = keras.Input((weights.shape[0],))
    dense = keras.layers.Dense(weights.shape[1], use_bias=True)
    model = keras.Model([inp], dense(inp))
    dense.set_weights([weights, np.arange(weights.shape[1], dtype="float32")])
    return model


def pixel_sum_model():
    """Outputs [sum of pixels, 1 - sum of pixels] / 4 for a 2x2x1 image: a transparent 'classifier'."""
    inp = keras.Input((2, 2, 1))
    total = keras.layers.Flatten()(inp)
    out = keras.layers.Dense(2)(total)
    model = keras.Model(inp, out)
    model.layers[-1].set_weights([np.array([[0.25, -0.25]] * 4, "float32"), np.array([0.0, 1.0], "float32")])
    return model
