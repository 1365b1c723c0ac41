"""The toolbox of *Explaining deep image classifiers with SHAP*.

Small modules named for what they hold: :mod:`helpers.config` (profiles, data directory, seeding),
:mod:`helpers.data` (loaders), :mod:`helpers.cifar` (the one CIFAR-10 recipe), :mod:`helpers.models`
(VGG19, the CIFAR-10 CNNs, model surgery), :mod:`helpers.explainers` (faster shap explainers, saliency),
:mod:`helpers.shap_guard` (protection from shap's leftover gradient overrides), :mod:`helpers.validate`
(input checks), :mod:`helpers.plots` (figures), :mod:`helpers.checks` (checks of explanations),
:mod:`helpers.notices` (warnings and glued values), :mod:`helpers.book` (the table of contents).

Importing the package quiets TensorFlow's C++ start-up log and a few known-harmless library warnings (each
named below); errors are never hidden. The log settings only act if TensorFlow is not imported yet, so import
``helpers`` first.
``TF_CPP_MIN_LOG_LEVEL=3`` drops TensorFlow's C++ info and warning lines; TensorFlow 2.21 prints its oneDNN
banner regardless, unless ``TF_ENABLE_ONEDNN_OPTS`` is 0 (measured: VGG19's forward pass is as fast
without oneDNN's custom ops on this CPU, and results no longer depend on oneDNN's reordering).
"""

from __future__ import annotations

import logging
import os
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
# shap 0.51's DeepExplainer warns on every TensorFlow after 2.4 although it supports TF 2 eager mode.
warnings.filterwarnings("ignore", message="Your TensorFlow version is newer than 2.4.0")
# shap imports tqdm.auto, which warns in Jupyter when ipywidgets is absent; shap's explainers here show no bars.
warnings.filterwarnings("ignore", message="IProgress not found")
# shap hands a one-element list to single-input Keras models; Keras 3 unpacks it and warns that the structure
# differs. The values are unaffected (tests/test_explainers.py compares them with the model's own output).
warnings.filterwarnings("ignore", message="The structure of `inputs` doesn't match the expected structure")

import tensorflow as tf  # noqa: E402  (after the environment settings above)

# shap builds one tf.function per explained class, and the trust chapter predicts with many model copies;
# TensorFlow's Python logger then warns about "retracing" (harmless). TensorFlow sets that logger to INFO the
# first time get_logger() runs in an interactive kernel, so set its level through get_logger() itself.
# Errors still come through.
tf.get_logger().setLevel(logging.ERROR)

from helpers.config import data_dir, pick, profile, seed_everything, standin_weights_allowed  # noqa: E402
from helpers.errors import BookError, ConfigError, DataError, InputError, WeightsError  # noqa: E402

__all__ = [
    "BookError",
    "ConfigError",
    "DataError",
    "InputError",
    "WeightsError",
    "data_dir",
    "pick",
    "profile",
    "seed_everything",
    "standin_weights_allowed",
]
