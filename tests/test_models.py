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


@pytest.mark.parametrize("index", [0, 5, -1, 2.0, True])
def test_split_at_layer_rejects_out_of_range(index):
    with pytest.raises(InputError, match="out of range for small, which has 5 layers: choose an integer from 1"):
        models.split_at_layer(small_chain(), index)


def residual_with_nested_stem():
    """A nested model (the stem) followed by a residual block: not a chain."""
    keras.utils.set_random_seed(0)
    stem = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3, padding="same", name="stem_conv"),
                             keras.layers.ReLU(name="stem_relu")], name="stem")
    inp = keras.Input((8, 8, 3), name="image")
    x = stem(inp)
    r = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="res_conv1")(x)
    r = keras.layers.Conv2D(4, 3, padding="same", name="res_conv2")(r)
    x = keras.layers.Add(name="res_add")([x, r])
    x = keras.layers.Flatten(name="flatten")(keras.layers.ReLU(name="res_relu")(x))
    return keras.Model([inp], keras.layers.Dense(3, name="out")(x), name="resnet")


def test_split_at_layer_cuts_models_that_are_not_chains():
    model = residual_with_nested_stem()
    assert models.cut_points(model) == ["stem", "stem/stem_conv", "stem/stem_relu", "res_conv1", "res_relu",
                                        "flatten", "out"]
    x = np.random.default_rng(0).random((2, 8, 8, 3)).astype("float32")
    for where in [*models.cut_points(model), 2]:
        features, head = models.split_at_layer(model, where)
        np.testing.assert_allclose(head([features(x)]), model(x), atol=1e-6)
    features, _ = models.split_at_layer(model, "stem/stem_relu")
    np.testing.assert_allclose(features(x), model.get_layer("stem").get_layer("stem_conv")(x), atol=1e-6)


@pytest.mark.parametrize(("where", "message"), [
    ("res_conv2", "the input of res_conv2 is bypassed by a skip connection in resnet.*Valid cut points: stem, "
                  "stem/stem_conv, stem/stem_relu, res_conv1, res_relu, flatten, out"),
    ("res_add", "res_add takes 2 tensors, so its input is not one cut. Valid cut points of resnet: stem"),
    ("stem_relu", "a layer of the nested model 'stem' inside resnet: name it by its path, 'stem/stem_relu'"),
    ("nothing", "resnet has no layer named 'nothing'. Its layers are: image, stem, res_conv1"),
    ("res_relu/x", "'res_relu' in resnet is a ReLU, not a nested model"),
    ("image", "image is resnet's input layer"),
])
def test_split_at_layer_names_the_valid_cut_points(where, message):
    with pytest.raises(InputError, match=message):
        models.split_at_layer(residual_with_nested_stem(), where)


def test_split_at_layer_rejects_a_nested_model_bypassed_by_a_skip():
    inner = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4, name="d")], name="inner")
    inp = keras.Input((4,))
    model = keras.Model(inp, keras.layers.Add()([inp, inner(inp)]), name="skip")
    with pytest.raises(InputError, match="bypasses the output of inner, so 'inner/d' is not a cut point"):
        models.split_at_layer(model, "inner/d")


def test_split_at_layer_keeps_the_chain_split_of_vgg19():
    vgg = keras.applications.VGG19(weights=None)
    x = np.random.default_rng(0).normal(size=(1, 224, 224, 3)).astype("float32")
    features, head = models.split_at_layer(vgg, 10)
    assert features.output.shape[1:] == (56, 56, 256) and head.name == "vgg19_from_block3_conv4"
    np.testing.assert_allclose(head([features(x)]), vgg(x), atol=1e-6)


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


def test_reinitialise_top_layers_keeps_the_rest():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(2)])
    copy = models.reinitialise_top_layers(model, 1, seed=1)
    np.testing.assert_array_equal(copy.layers[0].get_weights()[0], model.layers[0].get_weights()[0])
    assert not np.allclose(copy.layers[1].get_weights()[0], model.layers[1].get_weights()[0])
    assert np.allclose(models.reinitialise_top_layers(model, 0).get_weights()[2], model.get_weights()[2])
    again = models.reinitialise_top_layers(model, 2, seed=1)
    other = models.reinitialise_top_layers(model, 2, seed=2)
    np.testing.assert_array_equal(again.layers[1].get_weights()[0], copy.layers[1].get_weights()[0])
    assert not np.allclose(other.layers[1].get_weights()[0], again.layers[1].get_weights()[0])
    assert not np.allclose(other.layers[0].get_weights()[0], again.layers[0].get_weights()[0])
    with pytest.raises(InputError, match="has 2 layers with weights"):
        models.reinitialise_top_layers(model, 3)
    with pytest.raises(InputError, match="count=1.5 is out of range"):
        models.reinitialise_top_layers(model, 1.5)


def test_original_cnn_keeps_only_its_last_convolution():
    original = models.original_cifar_cnn()
    convolutions = [layer for layer in original.layers if isinstance(layer, keras.layers.Conv2D)]
    assert len(convolutions) == 1 and convolutions[0].filters == 32
    assert original.layers[1] is convolutions[0]  # fed straight from the input


def test_cifar_cnn_chains_its_blocks():
    model = models.cifar_cnn()
    convolutions = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [c.filters for c in convolutions] == [32, 64, 128]
    assert model.output_shape == (None, 10)


def test_train_classifier_learns_and_rejects_bad_input():
    rng = np.random.default_rng(0)
    x = rng.random((64, 32, 32, 3), dtype=np.float32)
    y = (x[:, :16].mean(axis=(1, 2, 3)) > x[:, 16:].mean(axis=(1, 2, 3))).astype(int)  # top vs bottom half
    history = models.train_classifier(models.cifar_cnn(n_classes=2), x, y, epochs=2, batch_size=16)
    assert set(history) >= {"accuracy", "val_accuracy", "loss", "val_loss"} and len(history["loss"]) == 2
    with pytest.raises(InputError, match="scaled to 0..1"):
        models.train_classifier(models.cifar_cnn(), x * 255, y, epochs=1)
    with pytest.raises(InputError, match="one label each"):
        models.train_classifier(models.cifar_cnn(), x, y[:10], epochs=1)


@pytest.mark.parametrize(("change", "message"), [
    ({"epochs": 0}, "epochs=0 must be a positive integer"),
    ({"epochs": 1.5}, "epochs=1.5 must be a positive integer"),
    ({"batch_size": 0}, "batch_size=0 must be a positive integer"),
    ({"y": np.full(8, 2)}, "y must lie in 0..1"),
    ({"y": np.full(8, -1)}, "y must lie in 0..1"),
    ({"y": np.full(8, 0.5)}, "y must be integer class indexes"),
    ({"x": np.zeros((0, 32, 32, 3), np.float32), "y": np.zeros(0)}, "x is an empty batch"),
    ({"x": np.full((8, 32, 32, 3), np.nan, np.float32)}, "x holds 24576 NaN"),
    ({"x": np.full((8, 32, 32, 3), -0.5, np.float32)}, "scaled to 0..1"),
    ({"validation_fraction": 0.01}, "leaves no image for training or for validation"),
])
def test_train_classifier_rejects_bad_input_before_training(change, message):
    arguments = {"x": np.zeros((8, 32, 32, 3), np.float32), "y": np.zeros(8, int), "epochs": 1} | change
    with pytest.raises(InputError, match=message):
        models.train_classifier(models.cifar_cnn(n_classes=2), **arguments)


def test_cnn_builders_depend_only_on_their_seed():
    import keras

    first = models.cifar_cnn(seed=3).get_weights()
    keras.utils.set_random_seed(99)  # whatever came before
    np.testing.assert_array_equal(models.cifar_cnn(seed=3).get_weights()[0], first[0])
    assert not np.allclose(models.cifar_cnn(seed=4).get_weights()[0], first[0])


def test_augment_flips_and_shifts_each_image():
    rng = np.random.default_rng(0)
    images = rng.random((40, 8, 8, 3)).astype("float32")
    unshifted = models.augment(images, np.random.default_rng(1), shift=0)
    mirrored = [np.array_equal(a, b[:, ::-1]) for a, b in zip(unshifted, images, strict=True)]
    same = [np.array_equal(a, b) for a, b in zip(unshifted, images, strict=True)]
    assert all(m or s for m, s in zip(mirrored, same, strict=True)) and 5 < sum(mirrored) < 35
    shifted = models.augment(images, np.random.default_rng(1), shift=2)
    assert shifted.shape == images.shape and not np.array_equal(shifted, unshifted)
    np.testing.assert_array_equal(shifted, models.augment(images, np.random.default_rng(1), shift=2))


NAMES = [f"class_{i}" for i in range(10)]
NAMES[7] = "monitor"


def _probabilities(order):
    """Probabilities over NAMES whose ranking is ``order`` (most probable first)."""
    p = np.zeros(len(NAMES))
    p[list(order)] = np.linspace(0.5, 0.01, len(order))
    return p


def test_vgg_prediction_check_passes_when_a_computer_class_is_in_the_top_k():
    probs = _probabilities([2, 3, 7, 1, 0])  # monitor ranks third
    assert models.check_vgg_prediction(probs, NAMES, real_weights=True) == ["monitor"]
    with pytest.raises(models.PredictionError):  # ... but not in the top 2
        models.check_vgg_prediction(probs, NAMES, real_weights=True, k=2)


def test_vgg_prediction_check_fails_loudly_with_real_weights_only():
    probs = _probabilities([2, 3, 1, 0, 7])  # monitor ranks fifth: outside the top 4
    with pytest.raises(models.PredictionError, match="top 4 classes are class_2, class_3, class_1, class_0.*"
                                                     "preprocess_input ran exactly once"):
        models.check_vgg_prediction(probs, NAMES, real_weights=True)
    assert models.check_vgg_prediction(probs, NAMES, real_weights=False) == []  # stand-ins: reported, not checked


@pytest.fixture
def online(tmp_path, monkeypatch):
    """No offline data directory and no weights on disk: load_vgg19 asks Keras to download them."""
    monkeypatch.delenv(config.DATA_VAR, raising=False)
    monkeypatch.setattr(models, "_keras_weights_path", lambda: tmp_path / "keras-cache" / models.VGG19_WEIGHTS_FILE)


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
    loaded = models.load_vgg19(allow_standin=True)
    assert loaded.real_weights is False
    with pytest.raises(WeightsError, match="Downloading VGG19's ImageNet weights failed"):
        models.load_vgg19(allow_standin=False)


def test_any_other_loading_error_is_not_hidden_behind_standins(online, monkeypatch):
    real = keras.applications.VGG19

    def broken(weights=None, **kwargs):
        if weights == "imagenet":  # say, a Keras change that breaks loading the weights file
            raise TypeError("load_weights() got an unexpected keyword argument")
        return real(weights=weights, **kwargs)

    monkeypatch.setattr(keras.applications, "VGG19", broken)
    with pytest.raises(TypeError, match="unexpected keyword"):
        models.load_vgg19(allow_standin=True)


def test_vgg_prediction_check_rejects_bad_input():
    with pytest.raises(InputError, match="one image's vector over the 10 classes"):
        models.check_vgg_prediction(np.zeros((1, 10)), NAMES, real_weights=True)
    with pytest.raises(InputError, match="k=0 must lie between 1"):
        models.check_vgg_prediction(np.zeros(10), NAMES, real_weights=True, k=0)


def test_reinitialise_top_layers_handles_batch_normalisation():
    model = models.cifar_cnn()
    bn = next(layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization))
    bn.set_weights([w + 1.5 for w in bn.get_weights()])
    weighted = sum(1 for layer in model.layers if layer.weights)
    copy = models.reinitialise_top_layers(model, weighted, seed=0)
    fresh = next(layer for layer in copy.layers if isinstance(layer, keras.layers.BatchNormalization))
    gamma, beta, mean, variance = fresh.get_weights()
    for values, initial in ((gamma, 1), (beta, 0), (mean, 0), (variance, 1)):
        np.testing.assert_array_equal(values, initial)
    first_conv = [layer for layer in copy.layers if isinstance(layer, keras.layers.Conv2D)][0]
    assert not np.allclose(first_conv.get_weights()[0], model.layers[0].get_weights()[0])
