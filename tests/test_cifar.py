"""helpers.cifar: the one CIFAR-10 recipe (data, background, the trained network saved and reused)."""

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
