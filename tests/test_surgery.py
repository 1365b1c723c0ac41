"""helpers.surgery: cut points, splitting a model, re-initialising its top layers."""

import keras
import numpy as np
import pytest

from helpers import cifar, surgery
from helpers.errors import InputError


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
        features, head = surgery.split_at_layer(model, index)
        np.testing.assert_allclose(head([features(x)]), model(x), atol=1e-6)


@pytest.mark.parametrize("index", [0, 5, -1, 2.0, True])
def test_split_at_layer_rejects_out_of_range(index):
    with pytest.raises(InputError, match="out of range for small, which has 5 layers: choose an integer from 1"):
        surgery.split_at_layer(small_chain(), index)


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
    assert surgery.cut_points(model) == ["stem", "stem/stem_conv", "stem/stem_relu", "res_conv1", "res_relu",
                                        "flatten", "out"]
    x = np.random.default_rng(0).random((2, 8, 8, 3)).astype("float32")
    for where in [*surgery.cut_points(model), 2]:
        features, head = surgery.split_at_layer(model, where)
        np.testing.assert_allclose(head([features(x)]), model(x), atol=1e-6)
    features, _ = surgery.split_at_layer(model, "stem/stem_relu")
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
        surgery.split_at_layer(residual_with_nested_stem(), where)


def test_split_at_layer_rejects_a_nested_model_bypassed_by_a_skip():
    inner = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4, name="d")], name="inner")
    inp = keras.Input((4,))
    model = keras.Model(inp, keras.layers.Add()([inp, inner(inp)]), name="skip")
    with pytest.raises(InputError, match="bypasses the output of inner, so 'inner/d' is not a cut point"):
        surgery.split_at_layer(model, "inner/d")


def test_split_at_layer_keeps_the_chain_split_of_vgg19():
    vgg = keras.applications.VGG19(weights=None)
    x = np.random.default_rng(0).normal(size=(1, 224, 224, 3)).astype("float32")
    features, head = surgery.split_at_layer(vgg, 10)
    assert features.output.shape[1:] == (56, 56, 256) and head.name == "vgg19_from_block3_conv4"
    np.testing.assert_allclose(head([features(x)]), vgg(x), atol=1e-6)



def test_reinitialise_top_layers_keeps_the_rest():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(2)])
    copy = surgery.reinitialise_top_layers(model, 1, seed=1)
    np.testing.assert_array_equal(copy.layers[0].get_weights()[0], model.layers[0].get_weights()[0])
    assert not np.allclose(copy.layers[1].get_weights()[0], model.layers[1].get_weights()[0])
    assert np.allclose(surgery.reinitialise_top_layers(model, 0).get_weights()[2], model.get_weights()[2])
    again = surgery.reinitialise_top_layers(model, 2, seed=1)
    other = surgery.reinitialise_top_layers(model, 2, seed=2)
    np.testing.assert_array_equal(again.layers[1].get_weights()[0], copy.layers[1].get_weights()[0])
    assert not np.allclose(other.layers[1].get_weights()[0], again.layers[1].get_weights()[0])
    assert not np.allclose(other.layers[0].get_weights()[0], again.layers[0].get_weights()[0])
    with pytest.raises(InputError, match="has 2 layers with weights"):
        surgery.reinitialise_top_layers(model, 3)
    with pytest.raises(InputError, match="count=1.5 is out of range"):
        surgery.reinitialise_top_layers(model, 1.5)


def test_reinitialise_top_layers_handles_batch_normalisation():
    model = cifar.cifar_cnn()
    bn = next(layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization))
    bn.set_weights([w + 1.5 for w in bn.get_weights()])
    weighted = sum(1 for layer in model.layers if layer.weights)
    copy = surgery.reinitialise_top_layers(model, weighted, seed=0)
    fresh = next(layer for layer in copy.layers if isinstance(layer, keras.layers.BatchNormalization))
    gamma, beta, mean, variance = fresh.get_weights()
    for values, initial in ((gamma, 1), (beta, 0), (mean, 0), (variance, 1)):
        np.testing.assert_array_equal(values, initial)
    first_conv = [layer for layer in copy.layers if isinstance(layer, keras.layers.Conv2D)][0]
    assert not np.allclose(first_conv.get_weights()[0], model.layers[0].get_weights()[0])


def test_producer_walks_a_known_graph_backwards():
    """The one place that reads Keras's private graph attributes: if Keras changes them, this fails."""
    inputs = keras.Input((4,), name="x")
    hidden = keras.layers.Dense(3, name="a")(inputs)
    outputs = keras.layers.Add(name="sum")([hidden, keras.layers.Dense(3, name="b")(inputs)])
    model = keras.Model(inputs, outputs)
    node = surgery.producer(model.outputs[0])
    assert node.operation is model.get_layer("sum")
    assert [surgery.producer(t).operation.name for t in node.input_tensors] == ["a", "b"]
    assert surgery.producer(node.input_tensors[0]).input_tensors[0] is model.inputs[0]
    assert type(surgery.producer(model.inputs[0]).operation).__name__ == "InputLayer"
    assert surgery.producer(np.zeros(3)) is None


def test_copy_weights_copies_by_name_and_skips_layers_the_source_lacks():
    def net(extra: bool, seed: int):
        keras.utils.set_random_seed(seed)
        inp = keras.Input((4,))
        x = keras.layers.Dense(3, name="a")(inp)
        if extra:
            x = keras.layers.Dense(3, name="inserted")(x)
        return keras.Model(inp, keras.layers.Dense(2, name="b")(x))

    source, target = net(extra=False, seed=0), net(extra=True, seed=1)
    inserted = target.get_layer("inserted").get_weights()
    assert not np.allclose(target.get_layer("a").get_weights()[0], source.get_layer("a").get_weights()[0])
    assert surgery.copy_weights(source, target) is target
    for name in ("a", "b"):
        for copied, original in zip(target.get_layer(name).get_weights(), source.get_layer(name).get_weights(),
                                    strict=True):
            np.testing.assert_array_equal(copied, original)
    for kept, before in zip(target.get_layer("inserted").get_weights(), inserted, strict=True):
        np.testing.assert_array_equal(kept, before)
    with pytest.raises(InputError, match="copy_weights needs Keras models, but source is a list"):
        surgery.copy_weights(source.get_weights(), target)
