"""Prepare an offline data directory once, for a classroom or a machine behind a firewall.

``python -m helpers prepare-data DIR`` downloads everything through the canonical loaders (Keras checks what
it downloads by SHA-256 or MD5; ``shap.datasets.imagenet50()`` checks nothing, so :func:`verify` checks the
photos' shape) and writes it in the layout :mod:`helpers.data` reads;
``python -m helpers prepare-data DIR --from SHARED`` copies an existing directory (for example one a teacher
shares) and verifies its checksums. Then ``SHAP_BOOK_DATA=DIR`` runs the book with no network.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from helpers import data, pretrained
from helpers.errors import DataError

CLASS_INDEX = Path("keras-home") / "models" / data.CLASS_INDEX_FILE
WEIGHTS = Path("keras-home") / "models" / pretrained.VGG19_WEIGHTS_FILE


def copy_from(source: Path, target: Path) -> list[str]:
    """Copy an offline data directory from ``source`` to ``target``, checking it; return what was copied."""
    source = Path(source)
    if not (source / data.IMAGENET50_DIR / data.IMAGENET50_LABELS).is_file():
        raise DataError(f"{source} is not an offline data directory: {data.IMAGENET50_DIR}/"
                        f"{data.IMAGENET50_LABELS} is missing. Point --from at a prepared directory.")
    copied = []
    for entry in [data.IMAGENET50_DIR, data.CIFAR10_FULL_FILE, data.CIFAR10_FILE, str(CLASS_INDEX), str(WEIGHTS)]:
        if not (source / entry).exists():
            continue
        if (source / entry).is_dir():
            shutil.copytree(source / entry, target / entry, dirs_exist_ok=True)
        else:
            (target / entry).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / entry, target / entry)
        copied.append(entry)
    verify(target)
    return copied


def download_to(target: Path) -> list[str]:
    """Download the book's data with the canonical loaders and write it to ``target``; return what was written."""
    import keras
    import shap

    images, labels = shap.datasets.imagenet50()
    folder = target / data.IMAGENET50_DIR
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / data.IMAGENET50_ARRAY, images.astype(np.float32))
    np.savetxt(folder / data.IMAGENET50_LABELS, labels, fmt="%d")
    (x_train, y_train), (x_test, y_test) = keras.datasets.cifar10.load_data()
    np.savez_compressed(target / data.CIFAR10_FULL_FILE, x_train=x_train, y_train=y_train, x_test=x_test,
                        y_test=y_test)
    keras_home = str(target / "keras-home")
    keras.utils.get_file(data.CLASS_INDEX_FILE, data.CLASS_INDEX_URL, cache_subdir="models",
                         file_hash=data.CLASS_INDEX_MD5, cache_dir=keras_home)
    keras.utils.get_file(pretrained.VGG19_WEIGHTS_FILE, pretrained.VGG19_WEIGHTS_URL, cache_subdir="models",
                         file_hash=pretrained.VGG19_WEIGHTS_MD5, cache_dir=keras_home)
    verify(target)
    return [data.IMAGENET50_DIR, data.CIFAR10_FULL_FILE, str(CLASS_INDEX), str(WEIGHTS)]


def verify(folder: Path) -> None:
    """Check an offline data directory: every file the book needs is there and its checksum matches."""
    images, _ = data.read_imagenet50(folder / data.IMAGENET50_DIR)
    if images.shape != (50, data.IMAGE_SIZE, data.IMAGE_SIZE, 3):
        raise DataError(f"{folder / data.IMAGENET50_DIR} holds {images.shape[0]} images, not imagenet50's 50.")
    if not (folder / data.CIFAR10_FULL_FILE).is_file():
        subset = folder / data.CIFAR10_FILE
        if not subset.is_file() or data.checksum(subset) != data.CIFAR10_SHA256:
            raise DataError(f"{folder} has no good CIFAR-10 file ({data.CIFAR10_FULL_FILE}, or "
                            f"{data.CIFAR10_FILE} with its SHA-256). Prepare the directory again.")
    index = folder / CLASS_INDEX
    if not index.is_file() or data.checksum(index, "md5") != data.CLASS_INDEX_MD5:
        raise DataError(f"{index} is missing or corrupt (MD5 must be {data.CLASS_INDEX_MD5}).")
    weights = folder / WEIGHTS
    if weights.is_file() and data.checksum(weights, "md5") != pretrained.VGG19_WEIGHTS_MD5:
        raise DataError(f"{weights} is corrupt (MD5 must be {pretrained.VGG19_WEIGHTS_MD5}). Delete it and prepare "
                        "again.")


def prepare(target: Path, source: Path | None = None) -> list[str]:
    """Fill ``target`` by copying ``source`` or, without one, by downloading. Returns what was written."""
    target = Path(target).expanduser().resolve()
    target.mkdir(parents=True, exist_ok=True)
    if source is not None:
        return copy_from(Path(source).expanduser().resolve(), target)
    try:
        return download_to(target)
    except DataError:
        raise
    except Exception as err:  # the loaders raise bare Exceptions, URLError or OSError for failed downloads
        raise DataError(f"A download failed ({err}). Check the network and run prepare-data again (finished "
                        "files are kept), or copy a prepared directory with --from.") from None
