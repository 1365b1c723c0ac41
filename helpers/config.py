"""The book's settings: profile, offline data directory, stand-in weights, seeding.

Three environment variables steer a run; the chapters read them through these functions.

``SHAP_BOOK_PROFILE``
    ``full`` (default): the tutorial as a reader runs it, with the original settings.
    ``quick``: fewer explanation samples, smaller backgrounds, fewer epochs and images, so that the
    whole book runs in minutes (tests, CI, a classroom of slow laptops).
``SHAP_BOOK_DATA``
    A directory holding offline copies of the data (see ``python -m helpers prepare-data``). Unset: the
    canonical loaders download what they need.
``SHAP_BOOK_ALLOW_STANDIN_WEIGHTS``
    ``1`` lets a run use randomly initialised VGG19 weights where the ImageNet weights are absent
    (the chapter then says so loudly); ``0`` forbids it. Unset: allowed in the quick profile only.
"""

from __future__ import annotations

import os
from pathlib import Path

from helpers.errors import ConfigError

PROFILE_VAR = "SHAP_BOOK_PROFILE"
DATA_VAR = "SHAP_BOOK_DATA"
STANDIN_VAR = "SHAP_BOOK_ALLOW_STANDIN_WEIGHTS"
PROFILES = ("full", "quick")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}

def profile() -> str:
    """Return the active profile, ``"full"`` (the default) or ``"quick"``."""
    value = os.environ.get(PROFILE_VAR, "").strip().lower() or "full"
    if value not in PROFILES:
        raise ConfigError(
            f"{PROFILE_VAR}={os.environ[PROFILE_VAR]!r} is not a profile. "
            f"Set it to one of {', '.join(PROFILES)}, or unset it for the full tutorial."
        )
    return value


def pick[T](*, full: T, quick: T) -> T:
    """Return ``full`` or ``quick`` according to the active profile.

    Chapters use it in their settings cell so that a reader sees both values side by side.
    """
    return quick if profile() == "quick" else full


def data_dir() -> Path | None:
    """Return the offline data directory named by ``SHAP_BOOK_DATA``, or ``None`` when it is unset."""
    value = os.environ.get(DATA_VAR, "").strip()
    if not value:
        return None
    path = Path(value).expanduser().resolve()
    if not path.is_dir():
        raise ConfigError(
            f"{DATA_VAR}={value!r} is not a directory (resolved from {Path.cwd()}: {path}). "
            f"Point it at an offline data directory "
            f"(create one with `python -m helpers prepare-data DIR`), or unset it to download the data."
        )
    return path


def standin_weights_allowed() -> bool:
    """Whether random weights may stand in for missing pretrained weights.

    ``SHAP_BOOK_ALLOW_STANDIN_WEIGHTS`` decides when set; otherwise only the quick profile allows it.
    """
    value = os.environ.get(STANDIN_VAR, "").strip().lower()
    if not value:
        return profile() == "quick"
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{STANDIN_VAR}={os.environ[STANDIN_VAR]!r} is not a yes/no value. Set it to 1 or 0.")


def seed_everything(seed: int = 0) -> None:
    """Seed Python, NumPy and TensorFlow, and ask TensorFlow for deterministic kernels.

    After this call, training and explanations give the same numbers on every run on the same machine.
    """
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
