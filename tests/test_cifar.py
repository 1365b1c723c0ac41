"""helpers.cifar: the one CIFAR-10 recipe (data, background, the trained network saved and reused)."""

import keras
import numpy as np
import pytest

from helpers import cifar, data
from helpers.errors import InputError


@pytest.fixture
def fake_cifar(monkeypatch):
    """A tiny CIFAR-10 stand-in with the loader's dtypes and shapes (uint8 images, (N, 1) labels)."""
    rng = np.random.default_rng(0)

    def load_cifar10():
        x = rng.integers(0, 256, size=(80, 32, 32, 3), dtype=np.uint8)
        y = (np.arange(80) % 10).astype(np.uint8)[:, None]
        return (x[:60], y[:60]), (x[60:], y[60:])

    monkeypatch.setattr(data, "load_cifar10", load_cifar10)


def test_load_scales_and_flattens(fake_cifar):
    loaded = cifar.load(train_images=40)
    assert loaded.x_train.shape == (40, 32, 32, 3) and loaded.x_train.dtype == np.float32
    assert 0 <= loaded.x_train.min() and loaded.x_train.max() <= 1
    assert loaded.y_train.shape == (40,) and loaded.y_test.shape == (20,)
    assert loaded.class_names[0] == "airplane"
    with pytest.raises(InputError, match="positive number of images"):
        cifar.load(train_images=0)


def test_background_is_a_seeded_draw_of_distinct_images():
    images = np.arange(50, dtype=np.float32).reshape(50, 1)
    first = cifar.draw_background(images, 10, seed=3)
    assert len(np.unique(first)) == 10
    np.testing.assert_array_equal(first, cifar.draw_background(images, 10, seed=3))
    assert not np.array_equal(first, cifar.draw_background(images, 10, seed=4))
    with pytest.raises(InputError, match="between 1 and 50"):
        cifar.draw_background(images, 51)


def test_trained_cnn_is_saved_once_and_reused(fake_cifar, tmp_path):
    loaded = cifar.load()
    recipe = cifar.Recipe(train_images=None, epochs=1, batch_size=20)
    first = cifar.trained_cnn(recipe, loaded, folder=tmp_path)
    again = cifar.trained_cnn(recipe, loaded, folder=tmp_path)
    assert first.trained_now and not again.trained_now and first.path == again.path
    assert again.history == first.history
    np.testing.assert_array_equal(again.model.predict(loaded.x_test, verbose=0),
                                  first.model.predict(loaded.x_test, verbose=0))
    other = cifar.Recipe(train_images=None, epochs=2, batch_size=20)
    assert cifar.fingerprint(other, loaded) != cifar.fingerprint(recipe, loaded)
    with pytest.raises(InputError, match="trains on 10 images but data holds 60"):
        cifar.trained_cnn(cifar.Recipe(train_images=10, epochs=1), loaded, folder=tmp_path)


def test_a_second_caller_waits_for_the_first_and_loads_its_network(fake_cifar, tmp_path):
    """While one process holds the network's lock (training it), another caller waits, then loads what the
    first saved instead of training it again."""
    import shutil
    import threading

    from filelock import FileLock

    loaded = cifar.load()
    recipe = cifar.Recipe(train_images=None, epochs=1, batch_size=20)
    saved = cifar.trained_cnn(recipe, loaded, folder=tmp_path / "saved")
    target = tmp_path / "shared" / saved.path.name
    target.parent.mkdir()
    results = []
    with FileLock(target.with_suffix(".lock")):  # "the first process", still training
        waiting = threading.Thread(target=lambda: results.append(cifar.trained_cnn(recipe, loaded, target.parent)))
        waiting.start()
        waiting.join(timeout=2)
        assert waiting.is_alive() and not results, "the second caller did not wait for the lock"
        shutil.copy(saved.path, target)  # the first process saves its network
        shutil.copy(saved.path.with_suffix(".json"), target.with_suffix(".json"))
    waiting.join(timeout=60)
    assert len(results) == 1 and not results[0].trained_now and results[0].path == target


def test_original_cnn_keeps_only_its_last_convolution():
    original = cifar.original_cifar_cnn()
    convolutions = [layer for layer in original.layers if isinstance(layer, keras.layers.Conv2D)]
    assert len(convolutions) == 1 and convolutions[0].filters == 32
    assert original.layers[1] is convolutions[0]  # fed straight from the input


def test_cifar_cnn_chains_its_blocks():
    model = cifar.cifar_cnn()
    convolutions = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [c.filters for c in convolutions] == [32, 64, 128]
    assert model.output_shape == (None, 10)


def test_train_classifier_learns_and_rejects_bad_input():
    rng = np.random.default_rng(0)
    x = rng.random((64, 32, 32, 3), dtype=np.float32)
    y = (x[:, :16].mean(axis=(1, 2, 3)) > x[:, 16:].mean(axis=(1, 2, 3))).astype(int)  # top vs bottom half
    history = cifar.train_classifier(cifar.cifar_cnn(n_classes=2), x, y, epochs=2, batch_size=16)
    assert set(history) >= {"accuracy", "val_accuracy", "loss", "val_loss"} and len(history["loss"]) == 2
    with pytest.raises(InputError, match="scaled to 0..1"):
        cifar.train_classifier(cifar.cifar_cnn(), x * 255, y, epochs=1)
    with pytest.raises(InputError, match="one label each"):
        cifar.train_classifier(cifar.cifar_cnn(), x, y[:10], epochs=1)


@pytest.mark.parametrize(("change", "message"), [
    ({"epochs": 0}, "epochs=0 must be a positive integer"),
    ({"epochs": 1.5}, "epochs=1.5 must be a positive integer"),
    ({"batch_size": 0}, "batch_size=0 must be a positive integer"),
    ({"y": np.full(8, 2)}, "y must lie in 0..1"),
    ({"y": np.full(8, -1)}, "y must lie in 0..1"),
    ({"y": np.full(8, 0.5)}, "y must be integer class indexes"),
    ({"x": np.zeros((0, 32, 32, 3), np.float32), "y": np.zeros(0)}, "x is an empty batch"),
    ({"x": np.full((8, 32, 32, 3), np.nan, np.float32)}, "x holds 24576 NaN"),
    ({"x": np.full((8, 32, 32, 3), -0.5, np.float32)}, "scaled to 0..1"),
    ({"validation_fraction": 0.01}, "leaves no image for training or for validation"),
])
def test_train_classifier_rejects_bad_input_before_training(change, message):
    arguments = {"x": np.zeros((8, 32, 32, 3), np.float32), "y": np.zeros(8, int), "epochs": 1} | change
    with pytest.raises(InputError, match=message):
        cifar.train_classifier(cifar.cifar_cnn(n_classes=2), **arguments)


def test_cnn_builders_depend_only_on_their_seed():
    import keras

    first = cifar.cifar_cnn(seed=3).get_weights()
    keras.utils.set_random_seed(99)  # whatever came before
    np.testing.assert_array_equal(cifar.cifar_cnn(seed=3).get_weights()[0], first[0])
    assert not np.allclose(cifar.cifar_cnn(seed=4).get_weights()[0], first[0])


def test_augment_flips_and_shifts_each_image():
    rng = np.random.default_rng(0)
    images = rng.random((40, 8, 8, 3)).astype("float32")
    unshifted = cifar.augment(images, np.random.default_rng(1), shift=0)
    mirrored = [np.array_equal(a, b[:, ::-1]) for a, b in zip(unshifted, images, strict=True)]
    same = [np.array_equal(a, b) for a, b in zip(unshifted, images, strict=True)]
    assert all(m or s for m, s in zip(mirrored, same, strict=True)) and 5 < sum(mirrored) < 35
    shifted = cifar.augment(images, np.random.default_rng(1), shift=2)
    assert shifted.shape == images.shape and not np.array_equal(shifted, unshifted)
    np.testing.assert_array_equal(shifted, cifar.augment(images, np.random.default_rng(1), shift=2))


@pytest.mark.parametrize(("images", "shift", "message"), [
    (np.zeros((8, 8, 3), np.float32), 2, r"images must have 4 axes \(a batch first\), got shape \(8, 8, 3\)"),
    (np.full((2, 8, 8, 3), np.nan, np.float32), 2, "images holds 384 NaN"),
    (np.zeros((2, 8, 8, 3), np.float32), -1, "shift=-1 must be a whole number of pixels, 0 or more"),
    (np.zeros((2, 8, 8, 3), np.float32), 1.5, "shift=1.5 must be a whole number of pixels"),
])
def test_augment_rejects_bad_input(images, shift, message):
    with pytest.raises(InputError, match=message):
        cifar.augment(images, np.random.default_rng(0), shift=shift)


def test_fingerprint_follows_the_source_of_the_recipe_and_the_helpers_it_calls(fake_cifar, monkeypatch):
    import inspect

    from helpers import config, validate

    loaded = cifar.load()
    recipe = cifar.Recipe(train_images=None, epochs=1)
    before = cifar.fingerprint(recipe, loaded)
    real = inspect.getsource
    for module in (cifar, validate, config):  # an edit anywhere in them makes another network
        monkeypatch.setattr(inspect, "getsource", lambda obj, m=module: real(obj) + ("\n# edited" if obj is m else ""))
        assert cifar.fingerprint(recipe, loaded) != before, module.__name__
    monkeypatch.undo()
    assert cifar.fingerprint(recipe, loaded) == before


def test_the_split_and_the_batches_are_train_classifiers():
    assert cifar.held_out_count(50_000, 0.1) == 5_000 and cifar.held_out_count(5, 0.1) == 1
    assert cifar.batches_per_epoch(45_000, 64) == 704 and cifar.batches_per_epoch(9_000, 64) == 141
    assert cifar.batches_per_epoch(128, 64) == 2
    # train_classifier's cosine schedule runs over exactly epochs x batches of the images it keeps
    x, y = np.zeros((20, 32, 32, 3), "float32"), np.arange(20) % 10
    model = cifar.cifar_cnn()
    cifar.train_classifier(model, x, y, epochs=2, batch_size=8, validation_fraction=0.2)
    kept = 20 - cifar.held_out_count(20, 0.2)
    assert model.optimizer.iterations.numpy() == 2 * cifar.batches_per_epoch(kept, 8) == 4
    assert model.optimizer._learning_rate.decay_steps == 4  # the schedule (Keras keeps it private) ends there
