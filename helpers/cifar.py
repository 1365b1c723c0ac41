"""The book's CIFAR-10 recipe, written once: the data scaled to 0..1, the background draw, and the CNN trained
with the active profile's settings, saved once and reused by every later chapter.

The deep-explanations chapter teaches the recipe and shows this code; later chapters call
:func:`trained_cnn` in a cell that says it repeats that chapter's recipe. A trained model is saved in
``chapters/artifacts/`` (git ignores it) under a name that fingerprints everything that determines its
weights: the recipe, the training data, the code of the network and of its training, and the Keras version.
A chapter that finds a model with its fingerprint loads it, so the network is the same whether it is
trained now or reused (training is seeded and deterministic); one that does not trains it, so every chapter
still runs alone, in any order, in Colab too.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from helpers.config import pick
from helpers.errors import InputError

ARTIFACTS = Path("artifacts")  # relative to the chapter: chapters/artifacts/


@dataclass(frozen=True)
class Recipe:
    """What determines the trained network: training images used (``None``: all), epochs, batch size, seed."""

    train_images: int | None
    epochs: int
    batch_size: int = 64
    seed: int = 0


def book_recipe() -> Recipe:
    """The recipe of the active profile. Full: every training image for the book's epochs; quick: the same
    images for fewer epochs, so that the quick network still learns (its accuracy is printed where it is
    trained)."""
    return Recipe(train_images=None, epochs=pick(full=7, quick=5))


@dataclass
class Cifar10:
    """CIFAR-10 as the chapters use it: float32 images in 0..1 ``(N, 32, 32, 3)``, integer labels ``(N,)``."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def class_names(self) -> tuple[str, ...]:
        from helpers.data import CIFAR10_CLASSES

        return CIFAR10_CLASSES


def load(train_images: int | None = None) -> Cifar10:
    """Load CIFAR-10 (:func:`helpers.data.load_cifar10`), keep the first ``train_images`` training images
    (``None``: all), scale the pixels to 0..1 and flatten the labels."""
    from helpers.data import load_cifar10

    if train_images is not None and (not isinstance(train_images, int) or train_images < 1):
        raise InputError(f"train_images={train_images!r} must be a positive number of images, or None for all.")
    (x_train, y_train), (x_test, y_test) = load_cifar10()
    return Cifar10(
        x_train=x_train[:train_images].astype("float32") / 255,
        y_train=y_train[:train_images].ravel().astype("int64"),
        x_test=x_test.astype("float32") / 255,
        y_test=y_test.ravel().astype("int64"),
    )


def draw_background(images: np.ndarray, size: int, seed: int = 0) -> np.ndarray:
    """Draw ``size`` distinct images at random (seeded) from ``images``: the background the explainers average
    over."""
    images = np.asarray(images)
    if not isinstance(size, (int, np.integer)) or not 1 <= size <= len(images):
        raise InputError(f"size={size!r}: a background needs between 1 and {len(images)} distinct images.")
    rng = np.random.default_rng(seed)
    return images[rng.choice(len(images), size, replace=False)]


@dataclass
class Trained:
    """A trained network, its per-epoch history, where it is saved, and whether it was trained just now."""

    model: object
    history: dict[str, list[float]]
    path: Path
    trained_now: bool


def fingerprint(recipe: Recipe, data: Cifar10) -> str:
    """A short hash of everything that determines the trained weights."""
    import keras

    from helpers import models

    digest = hashlib.sha256()
    digest.update(json.dumps(asdict(recipe), sort_keys=True).encode())
    for array in (data.x_train, data.y_train):
        digest.update(str(array.shape).encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    for function in (models.cifar_cnn, models.train_classifier, models.augment):
        digest.update(inspect.getsource(function).encode())
    digest.update(keras.__version__.encode())
    return digest.hexdigest()[:16]


def trained_cnn(recipe: Recipe, data: Cifar10, folder: Path = ARTIFACTS) -> Trained:
    """Return the book's CNN trained on ``data`` with ``recipe``: loaded from ``folder`` if a model with the
    same fingerprint is saved there, otherwise built, trained, saved (Keras's ``.keras`` format, with the
    history beside it as JSON) and returned."""
    import keras

    from helpers import models

    if recipe.train_images is not None and recipe.train_images != len(data.x_train):
        raise InputError(f"the recipe trains on {recipe.train_images} images but data holds {len(data.x_train)}: "
                         "load the data with cifar.load(recipe.train_images).")
    path = Path(folder) / f"cifar_cnn-{fingerprint(recipe, data)}.keras"
    history_path = path.with_suffix(".json")
    if path.is_file() and history_path.is_file():
        return Trained(keras.models.load_model(path), json.loads(history_path.read_text()), path, False)
    model = models.cifar_cnn(seed=recipe.seed)
    history = models.train_classifier(model, data.x_train, data.y_train, epochs=recipe.epochs,
                                      batch_size=recipe.batch_size, seed=recipe.seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)
    history_path.write_text(json.dumps(history))
    return Trained(model, history, path, True)
