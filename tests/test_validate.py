import numpy as np
import pytest

from helpers import validate
from helpers.errors import InputError


def test_finite_and_batch():
    assert validate.finite("a", [1.0, 2.0]).shape == (2,)
    with pytest.raises(InputError, match="a must be a numeric array"):
        validate.finite("a", np.array(["x"]))
    with pytest.raises(InputError, match="a is empty"):
        validate.finite("a", [])
    with pytest.raises(InputError, match="a holds 2 NaN or infinite value"):
        validate.finite("a", [np.nan, np.inf, 0.0])
    with pytest.raises(InputError, match="b is an empty batch"):
        validate.batch("b", np.zeros((0, 3)))
    with pytest.raises(InputError, match="must have 4 axes"):
        validate.batch("b", np.zeros((2, 3)), ndim=4)


def test_same_scale_catches_uint8_against_unit_floats_only():
    unit = np.linspace(0, 1, 12, dtype=np.float32)
    validate.same_scale("a", unit, "b", unit * 0.5)          # same scale
    validate.same_scale("a", unit, "b", np.zeros(12))         # a black background has no scale
    validate.same_scale("a", unit * 30 - 10, "b", unit * 20)  # layer activations vary less than 50x
    with pytest.raises(InputError, match="a has dtype uint8 but b has dtype float32"):
        validate.same_scale("a", (unit * 255).astype(np.uint8), "b", unit)
    with pytest.raises(InputError, match="a reaches 255 but b only 1 .a factor of 255"):
        validate.same_scale("a", unit * 255, "b", unit)


def test_image_scale_takes_float_pixels_in_0_1_and_integer_pixels_in_0_255():
    validate.image_scale("im", np.linspace(0, 1, 12))
    validate.image_scale("im", np.arange(256, dtype=np.uint8))
    with pytest.raises(InputError, match=r"im holds values in 0..255, outside 0..1 for float64 pixels: .*divide"):
        validate.image_scale("im", np.linspace(0, 255, 12))
    with pytest.raises(InputError, match=r"im holds values in -1..1, outside 0..1"):
        validate.image_scale("im", np.linspace(-1, 1, 12))
    with pytest.raises(InputError, match=r"outside 0..255 for int64 pixels"):
        validate.image_scale("im", np.array([0, 300]))
    with pytest.raises(InputError, match="im holds 1 NaN"):
        validate.image_scale("im", np.array([0.5, np.nan]))


def test_class_indexes_and_positive_int():
    assert validate.class_indexes("c", [0, 2.0], 3).tolist() == [0, 2]
    with pytest.raises(InputError, match="c must lie in 0..2 .the model has 3 outputs., found 0..3"):
        validate.class_indexes("c", [0, 3], 3)
    with pytest.raises(InputError, match="integer class indexes"):
        validate.class_indexes("c", [0.5], 3)
    assert validate.positive_int("n", np.int64(3)) == 3
    for bad in (0, -1, 2.0, True, "3"):
        with pytest.raises(InputError, match="must be a positive integer"):
            validate.positive_int("n", bad)


def test_integer_accepts_numpy_integers_and_refuses_bools_floats_and_out_of_range():
    assert validate.integer("k", np.int64(3), 1, 5) == 3 and type(validate.integer("k", np.int64(3))) is int
    for bad in (True, 2.0, "2", 0, 6):
        with pytest.raises(InputError, match=r"k=.* must be an integer in 1\.\.5"):
            validate.integer("k", bad, 1, 5)
    with pytest.raises(InputError, match="of at least 100"):
        validate.integer("resamples", 99, low=100)
    with pytest.raises(InputError, match="^use fewer$"):
        validate.integer("k", 1, high=0, why="use fewer")
