"""The book's CIFAR-10 recipe, written once: the data scaled to 0..1, the background draw, the CNN (and the
original notebook's, bug included), its augmentation and training, trained with the active profile's settings,
saved once and reused by every later chapter.

The deep-explanations chapter teaches the recipe and shows this code; later chapters call
:func:`trained_cnn` in a cell that says it repeats that chapter's recipe. A trained model is saved in
``chapters/artifacts/`` (git ignores it) under a name that fingerprints everything that determines its
weights: the recipe, the training data, this module's source and that of the helpers its training calls,
and the Keras version.
A chapter that finds a model with its fingerprint loads it, so the network is the same whether it is
trained now or reused (training is seeded and deterministic); one that does not trains it, so every chapter
still runs alone, in any order, in Colab too.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from helpers import config, validate
from helpers.config import pick, seed_everything
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

    if train_images is not None:
        validate.integer("train_images", train_images, low=1,
                         why=f"train_images={train_images!r} must be a positive number of images, or None for all.")
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
    validate.integer("size", size, 1, len(images),
                     why=f"size={size!r}: a background needs between 1 and {len(images)} distinct images.")
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
    """A short hash of everything that determines the trained weights: the recipe, the training images and
    labels, the source of this module (the network, its augmentation and training) and of the helpers the
    training calls (:mod:`helpers.validate`, :mod:`helpers.config`), and the Keras version. Any change to that
    code gives a new fingerprint, so a saved network is never reused after its recipe's code changed."""
    import keras

    digest = hashlib.sha256()
    digest.update(json.dumps(asdict(recipe), sort_keys=True).encode())
    for array in (data.x_train, data.y_train):
        digest.update(str(array.shape).encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    for module in (sys.modules[__name__], validate, config):
        digest.update(inspect.getsource(module).encode())
    digest.update(keras.__version__.encode())
    return digest.hexdigest()[:16]


def trained_cnn(recipe: Recipe, data: Cifar10, folder: Path = ARTIFACTS) -> Trained:
    """Return the book's CNN trained on ``data`` with ``recipe``: loaded from ``folder`` if a model with the
    same fingerprint is saved there, otherwise built, trained, saved (Keras's ``.keras`` format, with the
    history beside it as JSON) and returned. A lock file beside the model makes processes that ask for the same
    network at once train it once: the others wait, then load it."""
    import keras

    if recipe.train_images is not None and recipe.train_images != len(data.x_train):
        raise InputError(f"the recipe trains on {recipe.train_images} images but data holds {len(data.x_train)}: "
                         "load the data with cifar.load(recipe.train_images).")
    from filelock import FileLock

    path = Path(folder) / f"cifar_cnn-{fingerprint(recipe, data)}.keras"
    history_path = path.with_suffix(".json")
    path.parent.mkdir(parents=True, exist_ok=True)
    # Chapters may run at once (`make book` runs two at a time): the first to get here trains and saves, the
    # others wait for it and load its network instead of training the same one again.
    with FileLock(path.with_suffix(".lock")):
        if path.is_file() and history_path.is_file():
            return Trained(keras.models.load_model(path), json.loads(history_path.read_text()), path, False)
        model = cifar_cnn(seed=recipe.seed)
        history = train_classifier(model, data.x_train, data.y_train, epochs=recipe.epochs,
                                   batch_size=recipe.batch_size, seed=recipe.seed)
        model.save(path)
        history_path.write_text(json.dumps(history))  # written last: a model without it is trained again
    return Trained(model, history, path, True)


def cifar_cnn(n_classes: int = 10, seed: int = 0):
    """The CNN this book trains on CIFAR-10: three convolution blocks, each fed by the one before.

    Each block is a 3 x 3 convolution with ReLU (padding "same", so each keeps its input's size; border pixels still
    feed fewer units than inner ones), 2 x 2 max pooling and batch normalisation, with 32, 64 and 128 filters; then
    dropout, a dense layer of 128 and the softmax. Normalising after the pooling costs a quarter of normalising
    before it. ReLU stays before max pooling: with pooling first (signed inputs), we measured DeepExplainer
    attributions of about 20 for single pixels of a probability map and additivity errors of 1e-4 (1e-6 with this
    order). shap's max-pooling rule does not make such values (its multipliers lie between 0 and 1); its softmax
    rule does: it scales each logit's multiplier by a ratio of image-reference differences that has no bound where a
    logit barely changes, so maps of probabilities hold large, cancelling values, and the deep-explanations chapter
    explains the logits instead. About 360 000 weights, trained in minutes on a 2-core CPU
    (:func:`train_classifier`; the benchmarks page measures how long), and built only from operations shap's
    DeepExplainer propagates through: convolution, ReLU, max pooling, batch normalisation (an affine map once
    trained), dense and softmax.
    Its initial weights depend only on ``seed``, so every chapter that builds it gets the same network.
    """
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    blocks = []
    for filters in (32, 64, 128):
        blocks += [layers.Conv2D(filters, 3, padding="same", activation="relu"), layers.MaxPooling2D(),
                   layers.BatchNormalization()]
    return keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            *blocks,
            layers.Flatten(),
            layers.Dropout(0.3),
            layers.Dense(128, activation="relu"),
            layers.Dense(n_classes, activation="softmax"),
        ],
        name="cifar_cnn",
    )


def augment(images: np.ndarray, rng: np.random.Generator, shift: int = 2) -> np.ndarray:
    """A randomly flipped and shifted copy of a batch of images ``(N, H, W, C)``: each image is mirrored left to
    right with probability 1/2 and moved by up to ``shift`` pixels in each direction (the border reflected).
    New variations of the same photos every epoch, so the network learns the object, not the pixel grid."""
    images = validate.batch("images", images, ndim=4)
    validate.integer("shift", shift, low=0, why=f"shift={shift!r} must be a whole number of pixels, 0 or more.")
    n, height, width, _ = images.shape
    flip = rng.random(n) < 0.5
    # reflecting the border commutes with the mirror image, so the copies are flipped after padding, in place
    padded = np.pad(images, ((0, 0), (shift, shift), (shift, shift), (0, 0)), mode="reflect")
    padded[flip] = padded[flip, :, ::-1]
    dy, dx = rng.integers(0, 2 * shift + 1, size=(2, n))
    shifted = np.empty_like(images)
    # one slice copy per shift (a few dozen), not a gather of every pixel: the same images, faster
    for y in range(2 * shift + 1):
        for x in range(2 * shift + 1):
            rows = np.flatnonzero((dy == y) & (dx == x))
            shifted[rows] = padded[rows, y : y + height, x : x + width]
    return shifted


def original_cifar_cnn(n_classes: int = 10, seed: int = 0):
    """The CIFAR-10 model of the original notebook this book started from, bug included: every Conv2D reads
    ``inputs``.

    Keras keeps only the layers between the input and the output, so the first three convolutions (and their
    pooling) are silently left out of the model. Kept for comparison in the deep-explanations chapter and the
    benchmark. Its initial weights depend only on ``seed``.
    """
    import keras
    from keras.layers import Conv2D, Dense, Flatten, MaxPooling2D

    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=(32, 32, 3))
    x = Conv2D(32, (3, 3), activation="relu")(inputs)
    x = MaxPooling2D((2, 2))(x)
    x = Conv2D(128, (3, 3), activation="relu")(inputs)
    x = MaxPooling2D((2, 2))(x)
    x = Conv2D(64, (3, 3), activation="relu")(inputs)
    x = MaxPooling2D((2, 2))(x)
    x = Conv2D(32, (3, 3), activation="relu")(inputs)
    x = MaxPooling2D((2, 2))(x)
    x = Flatten()(x)
    x = Dense(256, activation="relu")(x)
    x = Dense(64, activation="relu")(x)
    outputs = Dense(n_classes, activation="softmax")(x)
    return keras.Model(inputs=inputs, outputs=outputs, name="original_cnn")


def held_out_count(n_images: int, validation_fraction: float) -> int:
    """How many of ``n_images`` :func:`train_classifier` holds out for validation (the last ones): at least one."""
    return max(1, round(n_images * validation_fraction))


def batches_per_epoch(n_images: int, batch_size: int) -> int:
    """How many batches one epoch over ``n_images`` takes in batches of ``batch_size`` (the last may be short):
    how many times a batch-normalisation layer updates its running averages in that epoch."""
    return -(-n_images // batch_size)


def train_classifier(model, x, y, epochs: int, batch_size: int = 64, validation_fraction: float = 0.1,
                     seed: int = 0, learning_rate: float = 1.5e-3) -> dict[str, list[float]]:
    """Compile ``model`` with Adam and cross-entropy, train it, and return the per-epoch history.

    The last ``validation_fraction`` of ``(x, y)`` is held out for validation (shuffle the data first if it is
    ordered). Every epoch sees a new randomly flipped and shifted copy of the other images (:func:`augment`),
    and the learning rate falls from ``learning_rate`` to zero along a cosine over the whole run. Seeded, so a
    run repeats its numbers.
    """
    import keras

    validate.positive_int("epochs", epochs)
    validate.positive_int("batch_size", batch_size)
    x = validate.batch("x", x)
    y = validate.finite("y", y).ravel()
    if x.ndim != 4 or x.shape[1:] != tuple(model.input_shape[1:]) or len(x) != len(y):
        raise InputError(f"x must be images of shape (N, {', '.join(map(str, model.input_shape[1:]))}) with one "
                         f"label each; got x {x.shape} and y {y.shape}.")
    if x.dtype != np.float32 or x.max() > 1 or x.min() < 0:
        raise InputError("x must be float32 scaled to 0..1: divide the uint8 images by 255.")
    validate.class_indexes("y", y, model.output_shape[-1])
    if not 0 < validation_fraction < 1:
        raise InputError(f"validation_fraction={validation_fraction} must lie strictly between 0 and 1.")
    if validation_fraction * len(x) < 1 or (1 - validation_fraction) * len(x) < 1:
        raise InputError(f"validation_fraction={validation_fraction} of {len(x)} images leaves no image for "
                         "training or for validation: use more images or another fraction.")
    seed_everything(seed)
    held_out = held_out_count(len(x), validation_fraction)
    x_fit, y_fit, x_val, y_val = x[:-held_out], y[:-held_out], x[-held_out:], y[-held_out:]
    steps = epochs * batches_per_epoch(len(x_fit), batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=steps)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    rng = np.random.default_rng(seed)
    history: dict[str, list[float]] = {}
    for _ in range(epochs):
        fitted = model.fit(augment(x_fit, rng), y_fit, epochs=1, batch_size=batch_size, verbose=0,
                           validation_data=(x_val, y_val))
        for key, values in fitted.history.items():
            history.setdefault(key, []).extend(float(v) for v in values)
    return history
