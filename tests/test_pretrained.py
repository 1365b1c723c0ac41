"""helpers.pretrained: VGG19's weights found, downloaded or replaced by flagged stand-ins, and the prediction check."""

import keras
import numpy as np
import pytest

from helpers import config, pretrained
from helpers.errors import InputError, WeightsError


@pytest.fixture
def no_weights(tmp_path, monkeypatch):
    monkeypatch.setenv(config.DATA_VAR, str(tmp_path))
    cache = tmp_path / "keras-cache" / pretrained.VGG19_WEIGHTS_FILE
    monkeypatch.setattr(pretrained, "_keras_weights_path", lambda: cache)
    return tmp_path


def test_missing_weights_say_where_and_how(no_weights):
    with pytest.raises(WeightsError, match=r"not on this machine\. Keras looks for them in .*keras-cache.*"
                                           r"SHAP_BOOK_ALLOW_STANDIN_WEIGHTS=1"):
        pretrained.load_vgg19(allow_standin=False)


def test_standin_weights_are_flagged(no_weights):
    loaded = pretrained.load_vgg19(allow_standin=True)
    assert loaded.real_weights is False and "stand-in" in loaded.source
    assert loaded.model.layers[10].name == "block3_conv4"


def test_standin_weights_do_not_depend_on_earlier_draws(no_weights):
    first = pretrained.load_vgg19(allow_standin=True).model.layers[1].get_weights()[0]
    keras.random.uniform((5,))  # draws that a chapter's earlier cells make: without the seed, the next
    np.random.rand(7)  # stand-in would start from another random state and differ
    second = pretrained.load_vgg19(allow_standin=True).model.layers[1].get_weights()[0]
    np.testing.assert_array_equal(first, second)


def test_standin_weights_leave_op_determinism_as_it_was(no_weights):
    """The benchmark's XLA variant needs determinism off, which seeding with seed_everything would switch on."""
    from tensorflow.python.framework import config as tf_config  # the switch's getter is not public API

    was = tf_config.is_op_determinism_enabled()
    try:
        for setting in (False, True):
            (tf_config.enable_op_determinism if setting else tf_config.disable_op_determinism)()
            pretrained.load_vgg19(allow_standin=True)
            assert tf_config.is_op_determinism_enabled() is setting
    finally:
        (tf_config.enable_op_determinism if was else tf_config.disable_op_determinism)()


def test_corrupt_weights_file_is_refused(no_weights):
    target = no_weights / "keras-home" / "models" / pretrained.VGG19_WEIGHTS_FILE
    target.parent.mkdir(parents=True)
    target.write_bytes(b"truncated")
    with pytest.raises(WeightsError, match="is corrupt: its MD5"):
        pretrained.load_vgg19(allow_standin=True)


NAMES = [f"class_{i}" for i in range(10)]
NAMES[7] = "monitor"


def _probabilities(order):
    """Probabilities over NAMES whose ranking is ``order`` (most probable first)."""
    p = np.zeros(len(NAMES))
    p[list(order)] = np.linspace(0.5, 0.01, len(order))
    return p


def test_vgg_prediction_check_passes_when_a_computer_class_is_in_the_top_k():
    probs = _probabilities([2, 3, 7, 1, 0])  # monitor ranks third
    assert pretrained.check_vgg_prediction(probs, NAMES, real_weights=True) == ["monitor"]
    with pytest.raises(pretrained.PredictionError):  # ... but not in the top 2
        pretrained.check_vgg_prediction(probs, NAMES, real_weights=True, k=2)


def test_vgg_prediction_check_fails_loudly_with_real_weights_only():
    probs = _probabilities([2, 3, 1, 0, 7])  # monitor ranks fifth: outside the top 4
    with pytest.raises(pretrained.PredictionError, match="top 4 classes are class_2, class_3, class_1, class_0.*"
                                                     "preprocess_input ran exactly once"):
        pretrained.check_vgg_prediction(probs, NAMES, real_weights=True)
    assert pretrained.check_vgg_prediction(probs, NAMES, real_weights=False) == []  # stand-ins: reported, not checked


@pytest.fixture
def online(tmp_path, monkeypatch):
    """No offline data directory and no weights on disk: load_vgg19 asks Keras to download them."""
    monkeypatch.delenv(config.DATA_VAR, raising=False)
    cache = tmp_path / "keras-cache" / pretrained.VGG19_WEIGHTS_FILE
    monkeypatch.setattr(pretrained, "_keras_weights_path", lambda: cache)


@pytest.mark.parametrize("failure", [
    Exception("URL fetch failure on https://example.invalid/vgg19.h5: None -- [Errno -3] name resolution"),
    ValueError("Incomplete or corrupted file detected. The sha256 file hash does not match"),
    TimeoutError("timed out"),
])
def test_a_failed_download_falls_back_to_flagged_standins(online, monkeypatch, failure):
    real = keras.applications.VGG19

    def vgg19(weights=None, **kwargs):
        if weights == "imagenet":
            raise failure
        return real(weights=weights, **kwargs)

    monkeypatch.setattr(keras.applications, "VGG19", vgg19)
    loaded = pretrained.load_vgg19(allow_standin=True)
    assert loaded.real_weights is False
    with pytest.raises(WeightsError, match="Downloading VGG19's ImageNet weights failed"):
        pretrained.load_vgg19(allow_standin=False)


def test_any_other_loading_error_is_not_hidden_behind_standins(online, monkeypatch):
    real = keras.applications.VGG19

    def broken(weights=None, **kwargs):
        if weights == "imagenet":  # say, a Keras change that breaks loading the weights file
            raise TypeError("load_weights() got an unexpected keyword argument")
        return real(weights=weights, **kwargs)

    monkeypatch.setattr(keras.applications, "VGG19", broken)
    with pytest.raises(TypeError, match="unexpected keyword"):
        pretrained.load_vgg19(allow_standin=True)


def test_vgg_prediction_check_rejects_bad_input():
    with pytest.raises(InputError, match="one image's vector over the 10 classes"):
        pretrained.check_vgg_prediction(np.zeros((1, 10)), NAMES, real_weights=True)
    with pytest.raises(InputError, match="k=0 must lie between 1"):
        pretrained.check_vgg_prediction(np.zeros(10), NAMES, real_weights=True, k=0)
    with pytest.raises(InputError, match="k=2.5 must lie between 1"):
        pretrained.check_vgg_prediction(np.zeros(10), NAMES, real_weights=True, k=2.5)
    with pytest.raises(InputError, match="probabilities holds 1 NaN"):  # a NaN would be ranked last, silently
        pretrained.check_vgg_prediction(np.where(np.arange(10) == 7, np.nan, 0.1), NAMES, real_weights=False)
