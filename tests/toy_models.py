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


def mobile_block(activation: str | None = None):
    """A MobileNet-style block on 8 x 8 x 3 images: convolution, ReLU6, depthwise convolution, pooling and a
    dense layer of 3 outputs (``activation``: ``None`` for logits, ``"softmax"`` for probabilities). Seeded."""
    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same")(inp)
    x = keras.layers.ReLU(max_value=6.0)(x)
    x = keras.layers.DepthwiseConv2D(3, padding="same")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model([inp], keras.layers.Dense(3, activation=activation)(x))


def cubed_model():
    """Convolution, x**3 (a Pow, which no DeepLIFT rule covers), dense: a model DeepExplainer must refuse."""
    keras.utils.set_random_seed(0)
    inp = keras.Input((4, 4, 1))
    x = keras.layers.Conv2D(2, 3, padding="same", name="conv")(inp)
    x = keras.layers.Lambda(lambda t: keras.ops.power(t, 3.0), name="cube")(x)
    x = keras.layers.Flatten(name="flat")(x)
    return keras.Model([inp], keras.layers.Dense(2, name="logits")(x))
