import numpy as np
import pytest
from PIL import Image

from helpers import config, data, prepare
from helpers.__main__ import main
from helpers.errors import DataError


def make_source(folder):
    """A small but complete offline directory: 50 photos, a CIFAR-10 file, the class index."""
    photos = folder / "imagenet50"
    photos.mkdir(parents=True)
    for label in range(50):
        Image.new("RGB", (30, 30), (label * 5, 0, 0)).save(photos / f"sim_n0_{label}.jpg")
    (photos / data.IMAGENET50_LABELS).write_text("\n".join(str(i) for i in range(50)))
    np.savez(folder / data.CIFAR10_FULL_FILE, x_train=np.zeros((10, 32, 32, 3), np.uint8),
             y_train=np.arange(10, dtype=np.uint8)[:, None], x_test=np.zeros((10, 32, 32, 3), np.uint8),
             y_test=np.arange(10, dtype=np.uint8)[:, None])
    index = folder / prepare.CLASS_INDEX
    index.parent.mkdir(parents=True)
    return index


def test_copy_from_a_shared_directory(tmp_path, monkeypatch):
    source = tmp_path / "shared"
    index = make_source(source)
    monkeypatch.setattr(data, "CLASS_INDEX_MD5", "d41d8cd98f00b204e9800998ecf8427e")  # MD5 of an empty file
    index.write_bytes(b"")
    written = prepare.prepare(tmp_path / "copy", source)
    assert written == ["imagenet50", data.CIFAR10_FULL_FILE, str(prepare.CLASS_INDEX)]
    monkeypatch.setenv(config.DATA_VAR, str(tmp_path / "copy"))
    images, _ = data.load_imagenet50()
    assert images.shape == (50, 224, 224, 3)
    assert data.load_cifar10()[0][0].shape == (10, 32, 32, 3)


def test_copy_refuses_a_corrupt_class_index(tmp_path):
    source = tmp_path / "shared"
    make_source(source).write_text("{}")
    with pytest.raises(DataError, match="imagenet_class_index.json is missing or corrupt"):
        prepare.prepare(tmp_path / "copy", source)


def test_copy_refuses_a_directory_that_is_not_one(tmp_path, capsys):
    assert main(["prepare-data", str(tmp_path / "copy"), "--from", str(tmp_path)]) == 1
    assert "is not an offline data directory" in capsys.readouterr().err


def test_failed_download_is_one_clear_error(tmp_path, monkeypatch):
    import shap

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(shap.datasets, "imagenet50", offline)
    with pytest.raises(DataError, match="A download failed \\(network is unreachable\\).*--from"):
        prepare.prepare(tmp_path / "new")


@pytest.mark.skipif(not config.data_dir(), reason="needs SHAP_BOOK_DATA (the offline data directory)")
def test_copy_of_the_real_offline_directory_verifies(tmp_path):
    written = prepare.prepare(tmp_path / "copy", config.data_dir())
    assert "imagenet50" in written and str(prepare.CLASS_INDEX) in written
