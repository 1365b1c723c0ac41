"""The toolbox of *Explaining deep image classifiers with SHAP*.

Small modules named for what they hold: :mod:`helpers.config` (profiles, data directory, seeding),
:mod:`helpers.data` (loaders), :mod:`helpers.cifar` (the one CIFAR-10 recipe and its
network), :mod:`helpers.pretrained` (VGG19 and its weights), :mod:`helpers.surgery` (splitting and
re-initialising models, the logit model), :mod:`helpers.explainers` (faster shap explainers, saliency),
:mod:`helpers.gradient_methods` (integrated gradients, SmoothGrad, Grad-CAM),
:mod:`helpers.shap_guard` (protection from shap's leftover gradient overrides), :mod:`helpers.deep_rules`
(DeepExplainer rules for the operations of MobileNetV2, EfficientNetB0, Xception and ConvNeXtTiny),
:mod:`helpers.rule_coverage` (which rule each operation of a model gets, and the check that refuses the rest),
:mod:`helpers.additivity` (DeepExplainer's additivity gap, and the diagnostics of a large one: randomness, batch
dependence, float16, custom gradients), :mod:`helpers.method_maps` (every method of the comparisons chapter on
one photo, in one call),
:mod:`helpers.validate` (input checks), :mod:`helpers.plots` (figures), :mod:`helpers.checks` (checks of
explanations), :mod:`helpers.notices` (warnings and glued values).

Importing the package quiets TensorFlow's C++ start-up log and a few known-harmless library warnings (each
named below); errors are never hidden. The log settings only act if TensorFlow is not imported yet, so import
``helpers`` first.
``TF_CPP_MIN_LOG_LEVEL=3`` drops TensorFlow's C++ info and warning lines. TensorFlow 2.21 still writes a
two-line banner to the process's standard error when it loads ("oneDNN custom operations are on ..."), which
a Jupyter kernel would show under the first cell of every chapter; the import below drops exactly those two
lines and passes everything else through. oneDNN stays on: it runs VGG19's backward pass about twice as fast
on a 2-core CPU (benchmarks/run.py, part ``onednn``), and its results are the same from run to run.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# shap imports tqdm.auto, which warns in Jupyter when ipywidgets is absent; shap's explainers here show no bars.
warnings.filterwarnings("ignore", message="IProgress not found")
# shap hands a one-element list to single-input Keras models; Keras 3 unpacks it and warns that the structure
# differs. The values are unaffected (tests/test_explainers.py compares them with the model's own output).
warnings.filterwarnings("ignore", message="The structure of `inputs` doesn't match the expected structure")

# The banner's two lines, as TensorFlow 2.21 writes them.
_BANNER = re.compile(r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR$"
                     r"|^I\d{4} [\d:.]+ +\d+ port\.cc:\d+\] oneDNN custom operations are on\.")


def _import_tensorflow():
    """Import TensorFlow with its process-level standard error captured; re-write all but the banner's lines."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            lines = captured.read().decode(errors="replace").splitlines(keepends=True)
            sys.stderr.write("".join(line for line in lines if not _BANNER.match(line)))
    return tensorflow


tf = _import_tensorflow()

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
