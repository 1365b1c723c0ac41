"""Model surgery: where a Keras model can be cut, splitting it there into a feature model and a head,
replacing a final softmax by its logits, re-initialising the top layers (the randomisation test), and copying
weights between two models by layer name."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from helpers import validate
from helpers.errors import InputError

if TYPE_CHECKING:
    import keras


def producer(tensor):
    """The Keras ``Node`` (``operation``, ``input_tensors``, ``output_tensors``) whose call made ``tensor`` in a
    model's graph, or ``None`` for a tensor Keras did not make.

    Keras 3 has no public way to walk a functional graph backwards, so this reads two private attributes,
    ``tensor._keras_history`` and the operation's ``_inbound_nodes``; every walk in the helpers goes through
    here, and ``tests/test_surgery.py`` checks it on a known graph, so a change in Keras fails one test."""
    history = getattr(tensor, "_keras_history", None)
    return None if history is None else history.operation._inbound_nodes[history.node_index]


def _graph_nodes(model) -> list:
    """The nodes of ``model``'s graph, found by walking back from its outputs (so only nodes the output
    depends on): each is a Keras ``Node`` with ``operation``, ``input_tensors`` and ``output_tensors``."""
    nodes, seen, stack = [], set(), list(model.outputs)
    while stack:
        node = producer(stack.pop())
        if node is None:
            continue
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
        node = producer(current)
        if node is not None:
            stack.extend(node.input_tensors)
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
    index = validate.integer("layer", layer, first, n - 1, why=(
        f"layer_index={layer!r} is out of range for {model.name}, which has {n} layers: choose an integer "
        f"from {first} ({model.layers[first].name}) to {n - 1} ({model.layers[-1].name}), or a layer name."))
    return model.layers[index]


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


def logit_model(model):
    """Return ``model`` with its final softmax replaced by the identity: its outputs are the logits.

    The new model shares every layer of ``model`` but the last, which is copied as a ``Dense`` layer with the
    same weights and a linear activation (Keras's VGG19 ends with ``Dense(1000, activation="softmax")``), so
    ``softmax(logit_model(model)(x)) == model(x)``. Gradient methods explain logits to avoid the softmax's
    saturation and its coupling of the classes; Grad-CAM is defined on the pre-softmax score.
    """
    import keras

    last = model.layers[-1]
    if not isinstance(last, keras.layers.Dense) or keras.activations.serialize(last.activation) != "softmax":
        raise InputError(f"the last layer of {model.name} is {type(last).__name__} {last.name!r}, not a Dense layer "
                         "with a softmax activation: its output is not a softmax of logits to undo.")
    config = {**last.get_config(), "activation": "linear", "name": f"{last.name}_logits"}
    linear = keras.layers.Dense.from_config(config)
    logits = linear(last.input)
    linear.set_weights(last.get_weights())
    return keras.Model(model.inputs, logits, name=f"{model.name}_logits")


def copy_weights(source: keras.Model, target: keras.Model) -> keras.Model:
    """Copy into every layer of ``target`` the weights of the layer of ``source`` with the same name; return
    ``target``.

    Layers that ``source`` does not have (a layer inserted into a variant of a network) keep their own weights,
    and layers without weights are left alone. A nested model is one layer: its weights are copied as a whole.
    Two layers of the same name must hold weights of the same shapes (Keras raises a ``ValueError`` if not).
    """
    import keras

    for name, model in (("source", source), ("target", target)):
        if not isinstance(model, keras.Model):
            raise InputError(f"copy_weights needs Keras models, but {name} is a {type(model).__name__}: pass the "
                             "model itself (a keras.Model), not its weights or outputs.")
    for layer in target.layers:
        try:
            source_layer = source.get_layer(layer.name)
        except ValueError:
            continue  # a layer the source does not have (an inserted one)
        if layer.weights:
            layer.set_weights(source_layer.get_weights())
    return target


def reinitialise_top_layers(model, count: int, seed: int = 0):
    """Return a copy of ``model`` whose top ``count`` layers with weights are re-initialised at random.

    This is one step of the cascading model-parameter randomisation of Adebayo et al. (2018): the copy
    keeps the trained weights below, and each re-initialised layer gets fresh values from its own kind of
    initialiser, seeded by ``seed`` (different seeds give different networks, the same seed the same one).
    """
    import keras

    weighted = [layer for layer in model.layers if layer.weights]
    validate.integer("count", count, 0, len(weighted),
                     why=f"count={count} is out of range: {model.name} has {len(weighted)} layers with weights.")
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
