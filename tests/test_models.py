import keras
import numpy as np
import pytest

from helpers import config, models
from helpers.errors import InputError, WeightsError


def small_chain():
    inp = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inp)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)
    out = keras.layers.Dense(5, activation="softmax")(x)
    return keras.Model(inp, out, name="small")


def test_split_at_layer_composes_to_the_model():
    model = small_chain()
    x = np.random.default_rng(0).random((2, 8, 8, 3)).astype("float32")
    for index in range(1, len(model.layers)):
        features, head = models.split_at_layer(model, index)
        np.testing.assert_allclose(head([features(x)]), model(x), atol=1e-6)


@pytest.mark.parametrize("index", [0, 5, -1, 2.0])
def test_split_at_layer_rejects_out_of_range(index):
    with pytest.raises(InputError, match="out of range for small, which has 5 layers: choose an integer from 1"):
        models.split_at_layer(small_chain(), index)


def test_split_at_layer_rejects_branching_models():
    inp = keras.Input((4,))
    a = keras.layers.Dense(3)(inp)
    b = keras.layers.Dense(3)(inp)
    model = keras.Model(inp, keras.layers.Add()([a, b]))
    with pytest.raises(InputError, match="not a plain chain"):
        models.split_at_layer(model, 1)


@pytest.fixture
def no_weights(tmp_path, monkeypatch):
    monkeypatch.setenv(config.DATA_VAR, str(tmp_path))
    monkeypatch.setattr(models, "_keras_weights_path", lambda: tmp_path / "keras-cache" / models.VGG19_WEIGHTS_FILE)
    return tmp_path


def test_missing_weights_say_where_and_how(no_weights):
    with pytest.raises(WeightsError, match=r"not on this machine\. Keras looks for them in .*keras-cache.*"
                                           r"SHAP_BOOK_ALLOW_STANDIN_WEIGHTS=1"):
        models.load_vgg19(allow_standin=False)


def test_standin_weights_are_flagged(no_weights):
    loaded = models.load_vgg19(allow_standin=True)
    assert loaded.real_weights is False and "stand-in" in loaded.source
    assert loaded.model.layers[10].name == "block3_conv4"


def test_corrupt_weights_file_is_refused(no_weights):
    target = no_weights / "keras-home" / "models" / models.VGG19_WEIGHTS_FILE
    target.parent.mkdir(parents=True)
    target.write_bytes(b"truncated")
    with pytest.raises(WeightsError, match="is corrupt: its MD5"):
        models.load_vgg19(allow_standin=True)
