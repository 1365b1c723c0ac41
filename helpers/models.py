"""Models and model surgery: VGG19 with its ImageNet weights (or loud stand-ins), the CIFAR-10 CNNs and their
training, splitting a model at a layer, and re-initialising layers (the randomisation test)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from helpers.config import STANDIN_VAR, data_dir, standin_weights_allowed
from helpers.errors import BookError, InputError, WeightsError

VGG19_WEIGHTS_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels.h5"
VGG19_WEIGHTS_MD5 = "cbe5617147190e668d6c5d5026f83318"
VGG19_WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/vgg19/" + VGG19_WEIGHTS_FILE


@dataclass
class LoadedModel:
    """A model and whether its weights are the real pretrained ones."""

    model: object
    real_weights: bool
    source: str


def _keras_weights_path() -> Path:
    """Where ``keras.applications.VGG19(weights="imagenet")`` caches the weights: ``$KERAS_HOME/models``, by
    default ``~/.keras/models`` (``/tmp/.keras`` where the home folder is read-only), as Keras decides."""
    import os

    home = os.environ.get("KERAS_HOME")
    if not home:
        base = Path.home()
        home = (base if os.access(base, os.W_OK) else Path("/tmp")) / ".keras"
    return Path(home) / "models" / VGG19_WEIGHTS_FILE


def vgg19_weights_file() -> Path | None:
    """Return where VGG19's ImageNet weights are on this machine, or ``None``.

    Looked for in ``keras-home/models/`` of the offline data directory, then in Keras's own cache.
    """
    folder = data_dir()
    candidates = [folder / "keras-home" / "models" / VGG19_WEIGHTS_FILE] if folder else []
    candidates.append(_keras_weights_path())
    return next((p for p in candidates if p.is_file()), None)


def load_vgg19(allow_standin: bool | None = None) -> LoadedModel:
    """Return VGG19 with its ImageNet weights.

    Offline (``SHAP_BOOK_DATA`` set) the weights must already be on disk (see :func:`vgg19_weights_file`);
    online, Keras downloads them. Where they cannot be had, a :class:`WeightsError` says what is missing and
    how to supply it, unless stand-in weights are allowed (``allow_standin``, by default
    :func:`helpers.config.standin_weights_allowed`): then the model has random weights and
    ``real_weights`` is False, which the caller must tell the reader.
    """
    import keras

    if allow_standin is None:
        allow_standin = standin_weights_allowed()
    found = vgg19_weights_file()
    if found is not None:
        from helpers.data import checksum

        if checksum(found, "md5") != VGG19_WEIGHTS_MD5:
            raise WeightsError(f"{found} is corrupt: its MD5 is not {VGG19_WEIGHTS_MD5}, the MD5 Keras expects "
                               "of VGG19's weights. Delete it and supply a good copy.")
        return LoadedModel(keras.applications.VGG19(weights=str(found)), True, str(found))
    problem = f"VGG19's ImageNet weights ({VGG19_WEIGHTS_FILE}, about 550 MB) are not on this machine"
    if data_dir() is None:
        try:
            return LoadedModel(keras.applications.VGG19(weights="imagenet"), True, str(_keras_weights_path()))
        except Exception as err:  # keras raises a bare Exception for a failed download
            problem = f"Downloading VGG19's ImageNet weights failed ({err})"
    if allow_standin:
        return LoadedModel(keras.applications.VGG19(weights=None), False, "random initialisation (stand-in)")
    raise WeightsError(
        f"{problem}. Keras looks for them in {_keras_weights_path()}"
        + (f" and in {data_dir() / 'keras-home' / 'models'}" if data_dir() else "")
        + ". Supply them by running keras.applications.VGG19(weights='imagenet') once with a network, or by "
        f"copying the file into one of those folders. To run with random stand-in weights instead (the "
        f"explanations then mean nothing), set {STANDIN_VAR}=1 or SHAP_BOOK_PROFILE=quick."
    )


def split_at_layer(model, layer_index: int):
    """Split a chain model at ``layer_index`` into ``(features, head)``.

    ``features`` maps the model's input to the input of layer ``layer_index``; ``head`` maps that tensor
    through layers ``layer_index`` to the end. ``head(features(x))`` equals ``model(x)``. The head takes a
    one-element list input, which is how shap passes data to it. Layer 0 is the input layer, so valid
    indexes are ``1 .. len(model.layers) - 1``.
    """
    import keras

    n = len(model.layers)
    if not isinstance(layer_index, int) or not 1 <= layer_index < n:
        raise InputError(
            f"layer_index={layer_index!r} is out of range for {model.name}, which has {n} layers: choose an "
            f"integer from 1 ({model.layers[1].name}) to {n - 1} ({model.layers[-1].name})."
        )
    for before, layer in zip(model.layers[:-1], model.layers[1:], strict=True):
        if layer.input is not before.output:
            raise InputError(f"{model.name} is not a plain chain of layers ({layer.name} does not simply take "
                             f"the output of {before.name}), so it cannot be split at one layer.")
    layer = model.layers[layer_index]
    features = keras.Model(model.inputs[0], layer.input, name=f"{model.name}_to_{layer.name}")
    inp = keras.Input(shape=layer.input.shape[1:], name=f"{layer.name}_input")
    x = inp
    for later in model.layers[layer_index:]:
        x = later(x)
    head = keras.Model([inp], x, name=f"{model.name}_from_{layer.name}")
    return features, head


def cifar_cnn(n_classes: int = 10, seed: int = 0):
    """The CNN this book trains on CIFAR-10: three convolution + pooling blocks, each fed by the one before.

    About 90 000 weights: small enough to train in about a minute on a 2-core CPU, and built only from layers
    that shap's DeepExplainer knows how to propagate through (Conv2D, ReLU, max pooling, Dense, softmax).
    Its initial weights depend only on ``seed``, so every chapter that builds it gets the same network.
    """
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            layers.Conv2D(32, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.Conv2D(64, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.Conv2D(64, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.Flatten(),
            layers.Dropout(0.3),
            layers.Dense(128, activation="relu"),
            layers.Dense(n_classes, activation="softmax"),
        ],
        name="cifar_cnn",
    )


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


def train_classifier(model, x, y, epochs: int, batch_size: int = 64, validation_fraction: float = 0.1,
                     seed: int = 0) -> dict[str, list[float]]:
    """Compile ``model`` with Adam and cross-entropy, train it, and return the per-epoch history.

    The last ``validation_fraction`` of ``(x, y)`` is held out for validation (Keras's ``validation_split``;
    shuffle the data first if it is ordered). Seeded, so a run repeats its numbers.
    """
    from helpers.config import seed_everything

    x, y = np.asarray(x), np.asarray(y).ravel()
    if x.ndim != 4 or x.shape[1:] != tuple(model.input_shape[1:]) or len(x) != len(y):
        raise InputError(f"x must be images of shape (N, {', '.join(map(str, model.input_shape[1:]))}) with one "
                         f"label each; got x {x.shape} and y {y.shape}.")
    if x.dtype != np.float32 or x.max() > 1:
        raise InputError("x must be float32 scaled to 0..1: divide the uint8 images by 255.")
    if not 0 < validation_fraction < 1:
        raise InputError(f"validation_fraction={validation_fraction} must lie strictly between 0 and 1.")
    seed_everything(seed)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    fitted = model.fit(x, y, epochs=epochs, batch_size=batch_size, validation_split=validation_fraction, verbose=0)
    return fitted.history


def reinitialise_top_layers(model, count: int, seed: int = 0):
    """Return a copy of ``model`` whose top ``count`` layers with weights are re-initialised at random.

    This is one step of the cascading model-parameter randomisation of Adebayo et al. (2018): the copy
    keeps the trained weights below, and each re-initialised layer gets fresh values from its own kind of
    initialiser, seeded by ``seed`` (different seeds give different networks, the same seed the same one).
    """
    import keras

    weighted = [layer for layer in model.layers if layer.weights]
    if not 0 <= count <= len(weighted):
        raise InputError(f"count={count} is out of range: {model.name} has {len(weighted)} layers with weights.")
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    # Keras 3 initialisers fix their seed when they are built: build fresh ones with explicit seeds.
    seeds = np.random.default_rng(seed).integers(0, 2**31 - 1, size=(len(weighted), 2))
    copied = [layer for layer in copy.layers if layer.weights]
    first = len(weighted) - count  # the layers from here to the top are re-initialised
    for layer, (kernel_seed, bias_seed) in zip(copied[first:], seeds[first:], strict=True):
        fresh = []
        for weight in layer.weights:
            kind, weight_seed = ("kernel", kernel_seed) if "kernel" in weight.path else ("bias", bias_seed)
            initializer = getattr(layer, f"{kind}_initializer")
            config = {**initializer.get_config(), "seed": int(weight_seed)} if "seed" in initializer.get_config() \
                else initializer.get_config()
            fresh.append(np.asarray(type(initializer).from_config(config)(weight.shape, dtype=weight.dtype)))
        layer.set_weights(fresh)
    return copy


# Classes that show VGG19 sees what imagenet50's image 46 holds: a man at a desk in front of two computer screens.
COMPUTER_CLASSES = ("desktop_computer", "monitor", "screen", "notebook", "laptop", "computer_keyboard",
                    "space_bar", "mouse", "desk")


class PredictionError(BookError):
    """A pretrained model no longer predicts what the book says it does: its loading or preprocessing broke."""


def check_vgg_prediction(probabilities: np.ndarray, class_names: Sequence[str], real_weights: bool,
                         expected: Sequence[str] = COMPUTER_CLASSES, k: int = 4) -> list[str]:
    """Return the ``expected`` classes among the ``k`` most probable ones; with real weights, demand one.

    The gradient chapter's prose says that VGG19 sees a computer in image 46. With the real ImageNet weights
    this raises :class:`PredictionError` when none of ``expected`` is among the top ``k`` classes, which happens
    when the weights, the class index or the preprocessing (BGR order, mean subtraction, applied exactly once)
    go wrong: the published build then stops instead of explaining nonsense. With stand-in weights
    (``real_weights`` False) the prediction means nothing, and the matches are only returned.
    """
    probabilities = np.asarray(probabilities)
    if probabilities.ndim != 1 or len(probabilities) != len(class_names):
        raise InputError(f"probabilities must be one image's vector over the {len(class_names)} classes, got shape "
                         f"{probabilities.shape}: pass model.predict(...)[0].")
    if not 1 <= k <= len(class_names):
        raise InputError(f"k={k} must lie between 1 and the number of classes, {len(class_names)}.")
    top = [class_names[i] for i in np.argsort(-probabilities)[:k]]
    found = [name for name in top if name in expected]
    if real_weights and not found:
        raise PredictionError(
            f"VGG19's top {k} classes are {', '.join(top)}, none of {', '.join(expected)}. With the real weights it "
            "sees a computer here: check that the weights file is VGG19's, that the class index is Keras's "
            "imagenet_class_index.json, and that keras.applications.vgg19.preprocess_input ran exactly once on "
            "0..255 RGB photos.")
    return found
