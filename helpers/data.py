"""Loading the book's data: imagenet50, CIFAR-10 and the ImageNet class names.

Each loader uses the canonical source (``shap.datasets``, ``keras.datasets``, Keras's class index) unless
``SHAP_BOOK_DATA`` names an offline directory; then it reads the same arrays from there. The offline
directory has this layout (``python -m helpers prepare-data`` creates it)::

    imagenet50/imagenet50_labels.csv   and either imagenet50/sim_<wnid>_<label>.jpg (the 50 source photos)
                                       or imagenet50/imagenet50_224x224.npy (shap's own array)
    cifar10.npz                        the full CIFAR-10 (written by prepare-data), or
    cifar10-jpeg-10000-2000.npz        a class-balanced subset, checked against its SHA-256
    keras-home/models/imagenet_class_index.json
    keras-home/models/vgg19_weights_tf_dim_ordering_tf_kernels.h5   (optional)
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from helpers.config import DATA_VAR, data_dir
from helpers.errors import DataError, InputError

CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)

CIFAR10_FULL_FILE = "cifar10.npz"
CIFAR10_FILE = "cifar10-jpeg-10000-2000.npz"
CIFAR10_SHA256 = "544dd6c339b435d6040fc901e9d184873e9590c12349c745d317d111d344673e"
IMAGENET50_DIR = "imagenet50"
IMAGENET50_LABELS = "imagenet50_labels.csv"
IMAGENET50_ARRAY = "imagenet50_224x224.npy"
CLASS_INDEX_FILE = "imagenet_class_index.json"
CLASS_INDEX_MD5 = "c2c37ea517e94d9795004a39431a14cb"
# where keras.applications.*.decode_predictions downloads the class index from (the same URL and MD5)
CLASS_INDEX_URL = "https://storage.googleapis.com/download.tensorflow.org/data/imagenet_class_index.json"
IMAGE_SIZE = 224


def _missing(path: Path, what: str) -> DataError:
    return DataError(
        f"{what} is missing: {path} does not exist. It is looked for in the directory {DATA_VAR} names; "
        f"fill it with `python -m helpers prepare-data DIR`, or unset {DATA_VAR} to download the data."
    )


def checksum(path: Path, algorithm: str = "sha256") -> str:
    """Return the hex digest of a file (``algorithm``: ``sha256``, or ``md5`` as Keras uses for its files)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, algorithm).hexdigest()


def read_imagenet50(folder: Path, size: int = IMAGE_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Read imagenet50 from its source photos, as ``shap.datasets.imagenet50()`` returns it.

    The photos are ordered by ``imagenet50_labels.csv`` (each label is the number that ends a file name),
    converted to RGB and resized to ``size`` x ``size``; the result is float32 in 0..255, shape
    ``(50, size, size, 3)``, and the labels as float64, shape ``(50,)``.
    """
    from PIL import Image

    labels_file = folder / IMAGENET50_LABELS
    if not labels_file.is_file():
        raise _missing(labels_file, "The imagenet50 labels file")
    try:
        labels = np.loadtxt(labels_file, ndmin=1)
    except ValueError as err:
        raise DataError(f"{labels_file} is corrupt: it must hold one number per line ({err}). Copy it again, or "
                        "prepare the data directory again.") from None
    array = folder / IMAGENET50_ARRAY
    if array.is_file() and size == IMAGE_SIZE:
        try:
            images = np.load(array).astype(np.float32)
        except (OSError, ValueError, EOFError) as err:
            raise DataError(f"{array} is corrupt: NumPy cannot read it ({err}). Prepare the data directory "
                            "again.") from None
        if images.shape != (len(labels), size, size, 3):
            raise DataError(f"{array} holds an array of shape {images.shape}, not ({len(labels)}, {size}, {size}, "
                            "3). Prepare the data directory again.")
        return images, labels
    photos = {p.stem.rsplit("_", 1)[-1]: p for p in folder.glob("*.jpg")}
    images = []
    for label in labels:
        key = str(int(label))
        if key not in photos:
            raise _missing(folder / f"sim_*_{key}.jpg", f"The imagenet50 photo for label {key}")
        try:
            with Image.open(photos[key]) as photo:
                rgb = photo.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
        except OSError as err:
            raise DataError(f"{photos[key]} is not a readable JPEG ({err}). Replace it with a good copy.") from None
        images.append(np.asarray(rgb, dtype=np.float32))
    return np.stack(images), labels


def load_imagenet50() -> tuple[np.ndarray, np.ndarray]:
    """Return shap's imagenet50 images ``(50, 224, 224, 3)`` float32 in 0..255 and their labels.

    Offline (``SHAP_BOOK_DATA`` set) they are read from ``imagenet50/`` there; otherwise
    ``shap.datasets.imagenet50()`` downloads them.
    """
    folder = data_dir()
    if folder is not None:
        return read_imagenet50(folder / IMAGENET50_DIR)
    import shap

    try:
        return shap.datasets.imagenet50()
    except Exception as err:  # shap raises URLError, HTTPError or OSError depending on the failure
        raise DataError(
            f"Downloading imagenet50 with shap.datasets.imagenet50() failed ({err}). Check the network, "
            f"or set {DATA_VAR} to an offline data directory."
        ) from None


def load_cifar10() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Return CIFAR-10 as ``keras.datasets.cifar10.load_data()`` does: ``(x_train, y_train), (x_test, y_test)``.

    Images are uint8 ``(N, 32, 32, 3)``, labels uint8 ``(N, 1)``. Offline, the arrays come from
    ``cifar10.npz`` in ``SHAP_BOOK_DATA`` (the full set, as prepare-data saves it from Keras's checked
    download) or else ``cifar10-jpeg-10000-2000.npz`` (a class-balanced subset: 10 000 training and 2 000 test
    images), checked against its SHA-256.
    """
    folder = data_dir()
    if folder is None:
        import keras

        try:
            return keras.datasets.cifar10.load_data()
        except Exception as err:  # keras raises a bare Exception for a failed download
            raise DataError(
                f"Downloading CIFAR-10 with keras.datasets.cifar10.load_data() failed ({err}). "
                f"Check the network, or set {DATA_VAR} to an offline data directory."
            ) from None
    path = folder / CIFAR10_FULL_FILE
    if not path.is_file():
        path = folder / CIFAR10_FILE
        if not path.is_file():
            raise _missing(path, "The offline CIFAR-10 file")
        if checksum(path) != CIFAR10_SHA256:
            raise DataError(f"{path} is corrupt (its SHA-256 is not {CIFAR10_SHA256}). Copy it again.")
    # the full file has no fixed checksum (prepare-data writes it from Keras's checked download): check what
    # it holds instead, and never fall back to a download while SHAP_BOOK_DATA is set
    try:
        with np.load(path) as arrays:
            (x_train, y_train), (x_test, y_test) = [(arrays[f"x_{part}"], arrays[f"y_{part}"])
                                                     for part in ("train", "test")]
    except Exception as err:  # BadZipFile, zlib.error, KeyError, ValueError, OSError: a damaged or wrong file
        raise DataError(f"{path} is corrupt: NumPy cannot read x_train, y_train, x_test and y_test from it "
                        f"({type(err).__name__}: {err}). Prepare the data directory again.") from None
    for x, y, part in ((x_train, y_train, "train"), (x_test, y_test, "test")):
        if x.ndim != 4 or x.shape[1:] != (32, 32, 3) or x.dtype != np.uint8 or len(y) != len(x):
            raise DataError(f"{path} is corrupt: x_{part} has shape {x.shape} and dtype {x.dtype} with {len(y)} "
                            "labels, not (N, 32, 32, 3) uint8 with N labels. Prepare the data directory again.")
    return (x_train, y_train), (x_test, y_test)


def imagenet_class_names() -> list[str]:
    """Return the 1000 ImageNet class names in output order, from Keras's class index file.

    The file is the one ``keras.applications.*.decode_predictions`` uses, fetched the same way (same URL,
    same MD5 check); offline it is found in ``keras-home/models/`` of ``SHAP_BOOK_DATA``.
    """
    import keras

    folder = data_dir()
    cache_dir = None
    if folder is not None:
        cache_dir = folder / "keras-home"
        expected = cache_dir / "models" / CLASS_INDEX_FILE
        if not expected.is_file():
            raise _missing(expected, "The ImageNet class index")
        # keras.utils.get_file downloads again when the hash does not match: refuse a corrupt copy here instead
        if checksum(expected, "md5") != CLASS_INDEX_MD5:
            raise DataError(f"{expected} is corrupt (its MD5 is not {CLASS_INDEX_MD5}). Copy it again, or prepare "
                            f"the data directory again; nothing is downloaded while {DATA_VAR} is set.")
    try:
        path = keras.utils.get_file(
            CLASS_INDEX_FILE,
            CLASS_INDEX_URL,
            cache_subdir="models",
            file_hash=CLASS_INDEX_MD5,
            cache_dir=None if cache_dir is None else str(cache_dir),
        )
    except Exception as err:  # a failed download or a file whose hash does not match
        raise DataError(
            f"Getting the ImageNet class index failed ({err}). Check the network, or set {DATA_VAR} "
            "to an offline data directory."
        ) from None
    with open(path) as f:
        index = json.load(f)
    return [index[str(i)][1] for i in range(len(index))]


def one_per_class(labels: np.ndarray, n_classes: int = len(CIFAR10_CLASSES)) -> np.ndarray:
    """Return the index of the first example of each class, in class order.

    ``labels`` are integer class ids, shape ``(N,)`` or ``(N, 1)`` as Keras returns them.
    """
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1:
        raise InputError(f"labels must have shape (N,) or (N, 1), got {labels.shape}.")
    if not np.issubdtype(labels.dtype, np.integer):
        raise InputError(f"labels must be integer class ids, got dtype {labels.dtype}.")
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise InputError(f"labels must lie in 0..{n_classes - 1}, found {labels.min()}..{labels.max()}.")
    picks = []
    for c in range(n_classes):
        (where,) = np.nonzero(labels == c)
        if where.size == 0:
            raise InputError(f"class {c} has no example among the {labels.size} labels; use a larger sample.")
        picks.append(where[0])
    return np.array(picks)
