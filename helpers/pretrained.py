"""VGG19 with its ImageNet weights, or loud random stand-ins where the weights cannot be had, and the check
that it still predicts what the gradient chapter says it does."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from helpers import validate
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


STANDIN_SEED = 0  # the seed of the stand-in weights


def load_vgg19(allow_standin: bool | None = None) -> LoadedModel:
    """Return VGG19 with its ImageNet weights.

    Offline (``SHAP_BOOK_DATA`` set) the weights must already be on disk (see :func:`vgg19_weights_file`);
    online, Keras downloads them. Where they cannot be had, a :class:`WeightsError` says what is missing and
    how to supply it, unless stand-in weights are allowed (``allow_standin``, by default
    :func:`helpers.config.standin_weights_allowed`): then the model has random weights and
    ``real_weights`` is False, which the caller must tell the reader. The stand-in's weights are drawn after
    seeding Python, NumPy, TensorFlow and Keras with :data:`STANDIN_SEED` (``keras.utils.set_random_seed``;
    op determinism is left as the caller set it), so they are the same whatever the caller drew before; the
    caller's random state is then that seed's.
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
        keras.utils.set_random_seed(STANDIN_SEED)
        return LoadedModel(keras.applications.VGG19(weights=None), False,
                           f"random initialisation (stand-in, seed {STANDIN_SEED})")
    raise WeightsError(
        f"{problem}. Keras looks for them in {_keras_weights_path()}"
        + (f" and in {data_dir() / 'keras-home' / 'models'}" if data_dir() else "")
        + ". Supply them by running keras.applications.VGG19(weights='imagenet') once with a network, or by "
        f"copying the file into one of those folders. To run with random stand-in weights instead (the "
        f"explanations then mean nothing), set {STANDIN_VAR}=1 or SHAP_BOOK_PROFILE=quick."
    )


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
    probabilities = validate.finite("probabilities", probabilities)
    if probabilities.ndim != 1 or len(probabilities) != len(class_names):
        raise InputError(f"probabilities must be one image's vector over the {len(class_names)} classes, got shape "
                         f"{probabilities.shape}: pass model.predict(...)[0].")
    validate.integer("k", k, 1, len(class_names),
                     why=f"k={k!r} must lie between 1 and the number of classes, {len(class_names)}.")
    top = [class_names[i] for i in np.argsort(-probabilities)[:k]]
    found = [name for name in top if name in expected]
    if real_weights and not found:
        raise PredictionError(
            f"VGG19's top {k} classes are {', '.join(top)}, none of {', '.join(expected)}. With the real weights it "
            "sees a computer here: check that the weights file is VGG19's, that the class index is Keras's "
            "imagenet_class_index.json, and that keras.applications.vgg19.preprocess_input ran exactly once on "
            "0..255 RGB photos.")
    return found
