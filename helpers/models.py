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


# How keras.utils.get_file reports a failed download: a bare Exception for HTTP and URL errors, a ValueError
# for a file whose checksum does not match; network and disk errors arrive as OSError.
_DOWNLOAD_FAILURES = ("URL fetch failure on ", "Incomplete or corrupted file detected")


def download_failed(err: BaseException) -> bool:
    """Whether ``err`` is Keras failing to download a file, as opposed to any other error while loading."""
    return isinstance(err, OSError) or str(err).startswith(_DOWNLOAD_FAILURES)


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
        except Exception as err:
            if not download_failed(err):
                raise  # a broken Keras or a broken model is not a missing file: never hide it behind stand-ins
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


def _graph_nodes(model) -> list:
    """The nodes of ``model``'s graph, found by walking back from its outputs (so only nodes the output
    depends on): each is a Keras ``Node`` with ``operation``, ``input_tensors`` and ``output_tensors``."""
    nodes, seen, stack = [], set(), list(model.outputs)
    while stack:
        tensor = stack.pop()
        history = getattr(tensor, "_keras_history", None)
        if history is None:
            continue
        node = history.operation._inbound_nodes[history.node_index]
        if id(node) not in seen:
            seen.add(id(node))
            nodes.append(node)
            stack.extend(node.input_tensors)
    return nodes


def _layer_node(model, layer):
    """The node where ``layer`` is called in ``model``'s graph."""
    calls = [node for node in _graph_nodes(model) if node.operation is layer]
    if len(calls) != 1:
        raise InputError(f"{layer.name} is called {len(calls)} times in {model.name}'s graph; split at a layer "
                         "that is called once.")
    return calls[0]


def _separates(model, tensor) -> bool:
    """Whether every path from ``model``'s inputs to its outputs passes through ``tensor``."""
    inputs = {id(t) for t in model.inputs}
    seen, stack = set(), list(model.outputs)
    while stack:
        current = stack.pop()
        if current is tensor or id(current) in seen:
            continue
        seen.add(id(current))
        if id(current) in inputs:
            return False
        history = getattr(current, "_keras_history", None)
        if history is not None:
            stack.extend(history.operation._inbound_nodes[history.node_index].input_tensors)
    return True


def cut_points(model) -> list[str]:
    """Names of the layers of ``model`` whose input can be cut: one tensor that every path from the model's
    input to its output passes through (a tensor bypassed by a skip connection is not one). Layers inside a
    nested model that is itself such a cut are named by their path, ``"nested/inner"``."""
    import keras

    names = {}
    for node in _graph_nodes(model):
        layer = node.operation
        if type(layer).__name__ == "InputLayer" or len(node.input_tensors) != 1:
            continue
        if not _separates(model, node.input_tensors[0]):
            continue
        names[layer.name] = [layer.name]
        if isinstance(layer, keras.Model) and len(node.output_tensors) == 1 \
                and _separates(model, node.output_tensors[0]):
            names[layer.name] += [f"{layer.name}/{inner}" for inner in cut_points(layer)]
    return [name for layer in model.layers for name in names.get(layer.name, [])]


def _find_layer(model, layer: int | str):
    names = [candidate.name for candidate in model.layers]
    if isinstance(layer, str):
        if layer in names:
            return model.get_layer(layer)
        for nested in model.layers:
            if hasattr(nested, "layers") and layer in [inner.name for inner in nested.layers]:
                raise InputError(f"{layer!r} is a layer of the nested model {nested.name!r} inside {model.name}: "
                                 f"name it by its path, {nested.name + '/' + layer!r}.")
        raise InputError(f"{model.name} has no layer named {layer!r}. Its layers are: {', '.join(names)}.")
    first = next(i for i, candidate in enumerate(model.layers) if type(candidate).__name__ != "InputLayer")
    n = len(model.layers)
    if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or not first <= layer < n:
        raise InputError(
            f"layer_index={layer!r} is out of range for {model.name}, which has {n} layers: choose an integer "
            f"from {first} ({model.layers[first].name}) to {n - 1} ({model.layers[-1].name}), or a layer name."
        )
    return model.layers[int(layer)]


def split_at_layer(model, layer: int | str):
    """Split a Keras model at the input of one of its layers into ``(features, head)``.

    ``layer`` is an index into ``model.layers`` (layer 0 of a functional model is its input layer), a layer
    name, or a path ``"nested/inner"`` to a layer inside a nested model (a model used as a layer; paths may
    go deeper). ``features`` maps the model's input to the input of that layer; ``head`` maps that tensor to
    the model's output, so ``head(features(x))`` equals ``model(x)``. The head takes a one-element list input,
    which is how shap passes data to it.

    The model need not be a chain: any layer whose input is one tensor that every path from the model's input
    to its output passes through is a cut point (:func:`cut_points` lists them). A tensor that a skip
    connection bypasses is not: the head would miss the skipped path, and the error names the valid cut
    points instead.
    """
    import keras

    if not isinstance(model, keras.Model):
        raise InputError(f"split_at_layer needs a Keras model, got {type(model).__name__}.")
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise InputError(f"{model.name} has {len(model.inputs)} inputs and {len(model.outputs)} outputs; "
                         "split_at_layer handles models with one input and one output.")
    if isinstance(layer, str) and "/" in layer:
        outer_name, inner_path = layer.split("/", 1)
        nested = _find_layer(model, outer_name)
        if not isinstance(nested, keras.Model):
            raise InputError(f"{outer_name!r} in {model.name} is a {type(nested).__name__}, not a nested model, "
                             f"so it has no layer {inner_path!r}.")
        node = _layer_node(model, nested)
        (outer_in,), (outer_out,) = node.input_tensors, node.output_tensors
        for tensor, where in ((outer_in, "input"), (outer_out, "output")):
            if not _separates(model, tensor):
                raise InputError(f"a skip connection in {model.name} bypasses the {where} of {nested.name}, so "
                                 f"{layer!r} is not a cut point. Valid cut points: {', '.join(cut_points(model))}.")
        inner_features, inner_head = split_at_layer(nested, inner_path)
        features = keras.Model(model.inputs, inner_features(outer_in), name=f"{model.name}_to_{nested.name}_"
                               f"{inner_path.replace('/', '_')}")
        after = keras.Model([outer_out], model.outputs[0])
        inp = keras.Input(shape=inner_head.inputs[0].shape[1:], name=f"{inner_path.replace('/', '_')}_input")
        head = keras.Model([inp], after([inner_head([inp])]), name=f"{model.name}_from_{nested.name}_"
                           f"{inner_path.replace('/', '_')}")
        return features, head
    chosen = _find_layer(model, layer)
    if type(chosen).__name__ == "InputLayer":
        raise InputError(f"{chosen.name} is {model.name}'s input layer; split at a later layer.")
    node = _layer_node(model, chosen)
    if len(node.input_tensors) != 1:
        raise InputError(f"{chosen.name} takes {len(node.input_tensors)} tensors, so its input is not one cut. "
                         f"Valid cut points of {model.name}: {', '.join(cut_points(model))}.")
    cut = node.input_tensors[0]
    if not _separates(model, cut):
        raise InputError(f"the input of {chosen.name} is bypassed by a skip connection in {model.name}: the "
                         f"output also depends on the input through another path, so a head from there would "
                         f"miss it. Valid cut points: {', '.join(cut_points(model))}.")
    features = keras.Model(model.inputs[0], cut, name=f"{model.name}_to_{chosen.name}")
    head = keras.Model([cut], model.outputs[0], name=f"{model.name}_from_{chosen.name}")
    return features, head


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
    images = np.asarray(images)
    n, height, width, _ = images.shape
    flipped = np.where(rng.random(n)[:, None, None, None] < 0.5, images[:, :, ::-1], images)
    padded = np.pad(flipped, ((0, 0), (shift, shift), (shift, shift), (0, 0)), mode="reflect")
    dy, dx = rng.integers(0, 2 * shift + 1, size=(2, n))
    rows = (dy[:, None] + np.arange(height))[:, :, None]
    cols = (dx[:, None] + np.arange(width))[:, None, :]
    return padded[np.arange(n)[:, None, None], rows, cols]


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
                     seed: int = 0, learning_rate: float = 1.5e-3) -> dict[str, list[float]]:
    """Compile ``model`` with Adam and cross-entropy, train it, and return the per-epoch history.

    The last ``validation_fraction`` of ``(x, y)`` is held out for validation (shuffle the data first if it is
    ordered). Every epoch sees a new randomly flipped and shifted copy of the other images (:func:`augment`),
    and the learning rate falls from ``learning_rate`` to zero along a cosine over the whole run. Seeded, so a
    run repeats its numbers.
    """
    import keras

    from helpers import validate
    from helpers.config import seed_everything

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
    held_out = max(1, round(len(x) * validation_fraction))
    x_fit, y_fit, x_val, y_val = x[:-held_out], y[:-held_out], x[-held_out:], y[-held_out:]
    steps = epochs * -(-len(x_fit) // batch_size)
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


def reinitialise_top_layers(model, count: int, seed: int = 0):
    """Return a copy of ``model`` whose top ``count`` layers with weights are re-initialised at random.

    This is one step of the cascading model-parameter randomisation of Adebayo et al. (2018): the copy
    keeps the trained weights below, and each re-initialised layer gets fresh values from its own kind of
    initialiser, seeded by ``seed`` (different seeds give different networks, the same seed the same one).
    """
    import keras

    weighted = [layer for layer in model.layers if layer.weights]
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or not 0 <= count <= len(weighted):
        raise InputError(f"count={count} is out of range: {model.name} has {len(weighted)} layers with weights.")
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    # Keras 3 initialisers fix their seed when they are built: build fresh ones with explicit seeds, one per
    # weight (kernel and bias; batch normalisation's gamma, beta, moving mean and variance).
    most = max(len(layer.weights) for layer in weighted)
    seeds = np.random.default_rng(seed).integers(0, 2**31 - 1, size=(len(weighted), most))
    copied = [layer for layer in copy.layers if layer.weights]
    first = len(weighted) - count  # the layers from here to the top are re-initialised
    for layer, layer_seeds in zip(copied[first:], seeds[first:], strict=True):
        fresh = []
        for weight, weight_seed in zip(layer.weights, layer_seeds, strict=False):
            initializer = getattr(layer, f"{weight.name}_initializer")
            config = initializer.get_config()
            if "seed" in config:
                config = {**config, "seed": int(weight_seed)}
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
