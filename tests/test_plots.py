import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from helpers import plots
from helpers.errors import InputError


def test_to_pixel_maps_keeps_classes_apart_and_totals():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(2, 4, 4, 3, 5))
    maps = plots.to_pixel_maps(values, image_size=16)
    assert isinstance(maps, list) and len(maps) == 5
    assert maps[0].shape == (2, 16, 16, 1)
    for c in range(5):
        np.testing.assert_allclose(maps[c].sum(axis=(1, 2, 3)), values[..., c].sum(axis=(1, 2, 3)))
    # the top-left 4x4 block of pixels carries cell (0, 0) summed over channels
    np.testing.assert_allclose(maps[1][0, :4, :4, 0], values[0, 0, 0, :, 1].sum() / 16)


@pytest.mark.parametrize(("shape", "size", "message"), [
    ((2, 4, 4, 5), 16, "must have shape"), ((1, 4, 4, 2, 1), 18, "whole repeats"), ((1, 4, 3, 2, 1), 12, "whole")])
def test_to_pixel_maps_rejects_bad_shapes(shape, size, message):
    with pytest.raises(InputError, match=message):
        plots.to_pixel_maps(np.zeros(shape), image_size=size)


def test_learning_curves_needs_validation_history():
    history = {"accuracy": [0.3, 0.5], "val_accuracy": [0.3, 0.4], "loss": [2.0, 1.5], "val_loss": [2.1, 1.8]}
    fig = plots.learning_curves(history)
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) == 2
    fig.canvas.draw()
    for ax in fig.axes:  # whole epochs only, no 1.5
        assert all(float(t).is_integer() for t in ax.get_xticks()), ax.get_xticks()
    del history["val_loss"]
    with pytest.raises(InputError, match="lacks \\['val_loss'\\]"):
        plots.learning_curves(history)


def test_actual_vs_predicted_marks_mistakes():
    images = np.zeros((3, 4, 4, 3))
    fig = plots.actual_vs_predicted(images, np.array([0, 1, 2]), np.array([0, 2, 2]), ["a", "b", "c"], columns=2)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["actual: a\npredicted: a", "actual: b\npredicted: c", "actual: c\npredicted: c"]
    assert fig.axes[1].title.get_color() == "tab:red"


UNIT_IMAGES = np.linspace(0, 1, 3 * 4 * 4 * 3).reshape(3, 4, 4, 3)


@pytest.mark.parametrize(("images", "actual", "predicted", "message"), [
    (UNIT_IMAGES, np.array([0, 1]), np.array([0, 1, 2]), "need N images"),
    (UNIT_IMAGES, np.array([0, 1, 5]), np.array([0, 1, 2]), "0..2"),
    (UNIT_IMAGES * 255, np.array([0, 1, 2]), np.array([0, 1, 2]), "outside 0..1 for float64 pixels: .*by 255"),
    (UNIT_IMAGES - 0.5, np.array([0, 1, 2]), np.array([0, 1, 2]), "images holds values in -0.5..0.5, outside 0..1"),
    ((UNIT_IMAGES * 300).astype(int), np.array([0, 1, 2]), np.array([0, 1, 2]), "outside 0..255 for int64"),
])
def test_actual_vs_predicted_rejects_bad_input(images, actual, predicted, message):
    with pytest.raises(InputError, match=message):
        plots.actual_vs_predicted(images, actual, predicted, ["a", "b", "c"])


def test_actual_vs_predicted_draws_uint8_images_as_before():
    images = (UNIT_IMAGES * 255).astype(np.uint8)
    fig = plots.actual_vs_predicted(images, np.array([0, 1, 2]), np.array([0, 1, 2]), ["a", "b", "c"])
    np.testing.assert_array_equal(fig.axes[2].images[0].get_array(), images[2])


def test_plots_reject_empty_and_non_finite_input():
    with pytest.raises(InputError, match="values holds 1 NaN"):
        plots.to_pixel_maps(np.where(np.arange(16).reshape(1, 2, 2, 2, 2) == 3, np.nan, 0.0), 4)
    with pytest.raises(InputError, match="image_size=0 must be a positive integer"):
        plots.to_pixel_maps(np.zeros((1, 2, 2, 1, 1)), 0)
    with pytest.raises(InputError, match="images is an empty batch"):
        plots.actual_vs_predicted(np.zeros((0, 4, 4, 3)), [], [], ["a"])
    with pytest.raises(InputError, match="at least one epoch"):
        plots.learning_curves({"accuracy": [], "val_accuracy": [], "loss": [], "val_loss": []})




def test_snug_colorbar_moves_the_bar_under_the_last_row():
    import matplotlib.pyplot as plt
    import shap

    rng = np.random.default_rng(0)
    maps = [rng.normal(size=(6, 8, 8, 3)) for _ in range(2)]
    shap.image_plot(maps, rng.uniform(size=(6, 8, 8, 3)), np.array([["a", "b"]] * 6), show=False)
    fig = plt.gcf()
    *panels, bar = fig.axes
    before = bar.get_position().y1
    plots.snug_colorbar(fig, gap=0.3)
    lowest = min(ax.get_position().y0 for ax in panels)
    gap_inches = (lowest - bar.get_position().y1) * fig.get_size_inches()[1]
    assert bar.get_position().y1 > before and abs(gap_inches - 0.3) < 1e-6
    plt.close(fig)


def test_snug_colorbar_rejects_other_figures():
    import matplotlib.pyplot as plt

    fig, _ = plt.subplots(1, 2)
    with pytest.raises(InputError, match="shap.image_plot"):
        plots.snug_colorbar(fig)
    plt.close(fig)
