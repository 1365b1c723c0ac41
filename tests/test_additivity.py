"""helpers.additivity: the gap and its scale against a hand computation, and each diagnostic on a tiny model
built to trip it (and only it)."""

import keras
import numpy as np
import pytest

from helpers import additivity
from helpers.errors import InputError

RNG = np.random.default_rng(0)
BACKGROUND = RNG.random((6, 8, 8, 3), dtype=np.float32)
IMAGES = RNG.random((3, 8, 8, 3), dtype=np.float32)
CLEAN = {"random": False, "batch-dependent": False, "float16": False, "custom gradient": []}


def tiny_net(extra=None, activation="relu", dtype=None):
    """Convolution, an optional ``extra`` layer function, pooling and a softmax over 3 classes. Seeded."""
    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation=activation)(inp)
    if extra is not None:
        x = extra(x)
    x = keras.layers.Flatten()(keras.layers.MaxPooling2D()(x))
    return keras.Model([inp], keras.layers.Dense(3, activation="softmax", dtype=dtype)(x), name="tiny")


@pytest.fixture(scope="module")
def plain():
    return tiny_net()


def without_gap(row):
    return {key: value for key, value in row.items() if key not in ("gap", "relative")}


def test_gap_and_scale_of_a_model_that_adds_up(plain):
    gap, scale = additivity.gap(plain, IMAGES, BACKGROUND)
    probs = np.asarray(plain(IMAGES), dtype="float64")
    top = probs.argmax(axis=1)
    mean = np.asarray(plain(BACKGROUND), dtype="float64").mean(axis=0)
    np.testing.assert_allclose(scale, np.abs(probs[np.arange(3), top] - mean[top]).max(), rtol=1e-5)
    assert 0 <= gap < 1e-5 and scale > 1e-2  # float32 round-off, against a target of a few percent


def test_diagnose_finds_nothing_wrong_in_a_model_that_adds_up(plain):
    row = additivity.diagnose(plain, IMAGES, BACKGROUND)
    assert row["relative"] < 1e-4 and row["relative"] == row["gap"] / additivity.gap(plain, IMAGES, BACKGROUND)[1]
    assert without_gap(row) == CLEAN


def test_dropout_in_training_mode_is_random():
    model = tiny_net(extra=lambda x: keras.layers.Dropout(0.5)(x, training=True))
    row = additivity.diagnose(model, IMAGES, BACKGROUND)
    assert without_gap(row) == {**CLEAN, "random": True}
    assert row["relative"] > 1e-2


def test_batch_normalisation_in_training_mode_is_batch_dependent():
    model = tiny_net(extra=lambda x: keras.layers.BatchNormalization()(x, training=True))
    row = additivity.diagnose(model, IMAGES, BACKGROUND)
    assert without_gap(row) == {**CLEAN, "batch-dependent": True}
    assert row["relative"] > 1e-2


def test_float16_layers_are_reported():
    row = additivity.diagnose(tiny_net(dtype="mixed_float16"), IMAGES, BACKGROUND)
    assert without_gap(row) == {**CLEAN, "float16": True}


def test_swish_is_a_custom_gradient_operation():
    row = additivity.diagnose(tiny_net(activation="swish"), IMAGES, BACKGROUND)
    assert without_gap(row) == {**CLEAN, "custom gradient": ["IdentityN"]}
    assert row["gap"] > 1e-6


@pytest.mark.parametrize(("model", "images", "background", "message"), [
    (None, IMAGES, BACKGROUND, "need a Keras model with one input tensor, got NoneType"),
    ("plain", IMAGES[0], BACKGROUND, r"images has shape \(8, 8, 3\), but tiny takes inputs of shape \(8, 8, 3\)"),
    ("plain", IMAGES, BACKGROUND[..., :1], "background has shape .* pass a batch of such inputs"),
    ("plain", IMAGES * 255, BACKGROUND, "different scales"),
    ("plain", IMAGES[:0], BACKGROUND, "images is an empty batch"),
    ("plain", np.full_like(IMAGES, np.nan), BACKGROUND, "NaN"),
])
def test_bad_arguments_are_named(plain, model, images, background, message):
    model = plain if model == "plain" else model
    for check in (additivity.gap, additivity.diagnose):
        with pytest.raises(InputError, match=message):
            check(model, images, background)
