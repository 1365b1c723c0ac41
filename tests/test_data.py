import numpy as np
import pytest
from PIL import Image

from helpers import config, data
from helpers.errors import DataError, InputError


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """An offline data directory with three small imagenet50 photos, pointed at by SHAP_BOOK_DATA."""
    folder = tmp_path / "imagenet50"
    folder.mkdir()
    colours = {"7": (255, 0, 0), "30": (0, 255, 0), "5": (0, 0, 255)}
    for label, colour in colours.items():
        Image.new("RGB", (40, 30), colour).save(folder / f"sim_n0000_{label}.jpg")
    (folder / data.IMAGENET50_LABELS).write_text("30\n5\n7\n")
    monkeypatch.setenv(config.DATA_VAR, str(tmp_path))
    return tmp_path


def test_imagenet50_offline_follows_the_labels_order(offline):
    images, labels = data.load_imagenet50()
    assert images.shape == (3, 224, 224, 3) and images.dtype == np.float32
    assert labels.tolist() == [30, 5, 7]
    assert np.argmax(images[:, 100, 100], axis=1).tolist() == [1, 2, 0]  # green, blue, red
    assert 0 <= images.min() and images.max() <= 255


def test_imagenet50_missing_photo_is_named(offline):
    (offline / "imagenet50" / "sim_n0000_5.jpg").unlink()
    with pytest.raises(DataError, match="photo for label 5 is missing.*prepare-data"):
        data.load_imagenet50()


def test_imagenet50_corrupt_photo_is_named(offline):
    (offline / "imagenet50" / "sim_n0000_7.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match="sim_n0000_7.jpg is not a readable JPEG"):
        data.load_imagenet50()


def test_imagenet50_missing_labels_file(offline):
    (offline / "imagenet50" / data.IMAGENET50_LABELS).unlink()
    with pytest.raises(DataError, match="labels file is missing"):
        data.load_imagenet50()


def test_cifar10_offline_checks_presence_and_checksum(offline):
    with pytest.raises(DataError, match="offline CIFAR-10 file is missing"):
        data.load_cifar10()
    np.savez(offline / data.CIFAR10_FILE, x_train=np.zeros((1, 32, 32, 3), np.uint8))
    with pytest.raises(DataError, match="is corrupt"):
        data.load_cifar10()


def test_class_index_missing_offline(offline):
    with pytest.raises(DataError, match="ImageNet class index is missing"):
        data.imagenet_class_names()


def test_one_per_class_picks_the_first_of_each():
    labels = np.array([[2], [0], [1], [0], [2]], dtype=np.uint8)
    assert data.one_per_class(labels, n_classes=3).tolist() == [1, 2, 0]


@pytest.mark.parametrize(("labels", "message"), [
    (np.array([0, 1, 3]), "must lie in 0..2"), (np.array([0, 0, 1]), "class 2 has no example"),
    (np.zeros((2, 2), int), "shape"), (np.array([0.0, 1.0, 2.0]), "integer class ids")])
def test_one_per_class_rejects_bad_labels(labels, message):
    with pytest.raises(InputError, match=message):
        data.one_per_class(labels, n_classes=3)


@pytest.mark.skipif(not config.data_dir(), reason="needs SHAP_BOOK_DATA (the offline data directory)")
def test_offline_data_matches_the_canonical_layout():
    images, labels = data.load_imagenet50()
    assert images.shape == (50, 224, 224, 3) and images.dtype == np.float32 and labels.shape == (50,)
    (x_train, y_train), (x_test, y_test) = data.load_cifar10()
    assert x_train.dtype == np.uint8 and x_train.shape[1:] == (32, 32, 3) and y_train.shape[1:] == (1,)
    assert len(x_test) == len(y_test) and set(np.unique(y_test)) == set(range(10))
    names = data.imagenet_class_names()
    assert len(names) == 1000 and names[0] == "tench"


@pytest.fixture
def no_download(monkeypatch):
    """Fail the test if anything tries to download (Keras's get_file or the CIFAR-10 loader)."""
    import keras

    def refuse(*args, **kwargs):
        raise AssertionError("a download was attempted while SHAP_BOOK_DATA is set")

    monkeypatch.setattr(keras.utils, "get_file", refuse)
    monkeypatch.setattr(keras.datasets.cifar10, "load_data", refuse)


@pytest.mark.parametrize("content", [b"not a zip archive", b"PK\x03\x04truncated"])
def test_corrupt_full_cifar10_file_is_reported_without_download(offline, no_download, content):
    (offline / data.CIFAR10_FULL_FILE).write_bytes(content)
    with pytest.raises(DataError, match=r"cifar10.npz is corrupt: NumPy cannot read"):
        data.load_cifar10()


def test_full_cifar10_file_with_wrong_arrays_is_corrupt(offline, no_download):
    np.savez(offline / data.CIFAR10_FULL_FILE, x_train=np.zeros((2, 32, 32, 3), np.uint8), y_train=np.zeros((2, 1)))
    with pytest.raises(DataError, match="is corrupt: NumPy cannot read .*x_test"):
        data.load_cifar10()
    np.savez(offline / data.CIFAR10_FULL_FILE, x_train=np.zeros((2, 32, 32), np.uint8), y_train=np.zeros((2, 1)),
             x_test=np.zeros((1, 32, 32, 3), np.uint8), y_test=np.zeros((1, 1)))
    with pytest.raises(DataError, match=r"x_train has shape \(2, 32, 32\)"):
        data.load_cifar10()


def test_corrupt_class_index_is_reported_without_download(offline, no_download):
    index = offline / "keras-home" / "models" / data.CLASS_INDEX_FILE
    index.parent.mkdir(parents=True)
    index.write_text('{"0": ["n01440764", "tench"]}')
    with pytest.raises(DataError, match="is corrupt .*nothing is downloaded while SHAP_BOOK_DATA is set"):
        data.imagenet_class_names()


def test_corrupt_imagenet50_labels_and_array_are_reported(offline):
    folder = offline / data.IMAGENET50_DIR
    (folder / data.IMAGENET50_LABELS).write_text("30\nfive\n7\n")
    with pytest.raises(DataError, match="labels.csv is corrupt: it must hold one number per line"):
        data.load_imagenet50()
    (folder / data.IMAGENET50_LABELS).write_text("30\n5\n7\n")
    (folder / data.IMAGENET50_ARRAY).write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(DataError, match="224x224.npy is corrupt: NumPy cannot read it"):
        data.load_imagenet50()
