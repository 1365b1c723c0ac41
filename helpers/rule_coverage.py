"""Which DeepLIFT rule DeepExplainer applies to each operation of a model, and a check that refuses a model
with an operation no rule covers.

:func:`operation_rules` traces a Keras model once and lists every operation type on its path from input to
output with the rule it gets from shap's table ``op_handlers`` (shap 0.54.1, ``deep_tf.py``), with the rules of
:mod:`helpers.deep_rules` registered: the rule's name and where it comes from, or ``None`` and the layers the
operation comes from where there is none. Some cases depend on the operation itself rather than its type: a
nested function call (TensorFlow differentiates its body, a rule only if the body is linear), a
``StopGradient`` (not recorded by the tape; allowed only inside ``tf.nn.moments``, see
:data:`helpers.deep_rules.MOMENTS_STOP_GRADIENT`), a custom gradient (``IdentityN``: TensorFlow's gradient would
stand in for a rule) and a two-input operation with both inputs varying, where shap's two-input rule has
limits. :func:`check` raises :class:`~helpers.shap_guard.UnsupportedOperationError` for a model with an
operation that has no rule, naming it, the layers it comes from and the alternatives.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from helpers.deep_rules import MOMENTS_STOP_GRADIENT, REPLACED, RULES, SWISH, handlers, installed, swish_written_out
from helpers.errors import InputError
from helpers.shap_guard import UnsupportedOperationError

_MOMENTS_STOP = "StopGradient(moments)"
# Operations that carry no values a gradient flows through, allowed inside a nested function's body.
_BOOKKEEPING = frozenset({"Const", "NoOp", "Placeholder", "ReadVariableOp", "Identity"})
_NESTED_CALLS = frozenset({"StatefulPartitionedCall", "PartitionedCall"})
_CUSTOM_GRADIENT = "IdentityN"


@dataclass(frozen=True)
class OperationRule:
    """One operation type on a model's path from input to output, and the rule DeepExplainer applies to it
    with this module's rules registered: ``rule`` is ``None`` where there is none (see :func:`check`)."""

    operation: str
    rule: str | None
    source: str
    layers: tuple[str, ...] = ()


_SHAP_RULE_NAMES = {
    "passthrough": "linear: gradient",
    "linearity_1d": "linear: gradient",
    "linearity_with_excluded": "linear: gradient",
    "nonlinearity_1d": "rescale",
    "linearity_1d_nonlinearity_2d": "linear if one input varies, else the two-input rule",
    "nonlinearity_1d_nonlinearity_2d": "rescale if one input varies, else the two-input rule",
    "break_dependence": "no attribution (output does not depend on the values)",
    "maxpool": "max pooling rule",
    "softmax": "softmax rule",
    "gather": "gather rule",
}
_LINEAR_HANDLERS = ("passthrough", "linearity_1d", "linearity_with_excluded")


def _handler_kind(handler: Callable) -> str:
    return getattr(handler, "__qualname__", type(handler).__name__).split(".")[0]


def _keras_model(model) -> None:
    inputs = getattr(model, "inputs", None)
    if not hasattr(model, "layers") or not inputs or len(inputs) != 1:
        raise InputError("deep_rules needs a Keras model with exactly one input tensor, got "
                         f"{type(model).__name__}.")


def _path_operations(placeholders, stop_types) -> list:
    """The operations the gradient tape records between the placeholders and the outputs: reached from them
    through floating-point tensors (the tape does not follow integers, such as shapes), not beyond shap's
    ``break_dependence`` operations."""
    seen: dict[str, object] = {}
    stack = [op for t in placeholders for op in t.consumers()]
    while stack:
        op = stack.pop()
        if op.name in seen:
            continue
        seen[op.name] = op
        if op.type in stop_types:
            continue
        stack.extend(consumer for t in op.outputs if t.dtype.is_floating for consumer in t.consumers())
    return list(seen.values())


def _nested_body(op) -> tuple[str, ...]:
    """The operation types inside a nested ``tf.function`` call (Keras runs grouped convolutions that way)."""
    function = op.graph._get_function(op.get_attr("f").name)
    return tuple(sorted({node.op for node in function.definition.node_def} - _BOOKKEEPING))


def _is_moments_mean(op) -> bool:
    """Whether a StopGradient is ``tf.nn.moments``'s: ``mean((x - stop_gradient(mean(x)))**2)``, the
    variance of batch and layer normalisation (see :data:`MOMENTS_STOP_GRADIENT`)."""
    mean = op.inputs[0].op
    if mean.type != "Mean":
        return False
    x = mean.inputs[0].name
    for user in op.outputs[0].consumers():
        if user.type != "SquaredDifference" or user.inputs[0].name != x:
            return False
        if any(after.type != "Mean" for after in user.outputs[0].consumers()):
            return False
    return True


# Operations whose two-input rule in shap (nonlinearity_2d) is used when both inputs vary.
_MATRIX_PRODUCTS = frozenset({"MatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3"})
_ELEMENTWISE_PAIRS = frozenset({"RealDiv", "SquaredDifference", "Minimum", "Maximum"})


def _both_varying_problem(op, on_path: set[str]) -> str | None:
    """Why shap's rule for ``op`` would not add up with both of its inputs on the path, or ``None``."""
    if not all(t.name in on_path for t in op.inputs[:2]):
        return None
    if op.type in _MATRIX_PRODUCTS:
        return "both factors vary: shap's two-input rule divides element by element, no rule for a matrix product"
    if op.type in _ELEMENTWISE_PAIRS:
        out = op.outputs[0].shape
        for t in op.inputs[:2]:
            if t.shape.rank != out.rank:
                return "both inputs vary and their ranks differ: shap's two-input rule cannot sum the broadcast"
            axes = [a for a in range(1, out.rank) if t.shape[a] == 1 and out[a] != 1]
            if len(axes) > 1:
                return (f"both inputs vary and one is broadcast over {len(axes)} axes: shap's two-input rule sums "
                        "over the first only")
    return None


def _operation_types(function, specs) -> dict[str, tuple[str | None, str] | None]:
    """Trace ``function`` on ``specs`` (with swish written out, as while registered) and return the operation
    types on the path. Each maps to ``None`` (its rule is looked up by type) or, where the rule depends on the
    operation itself (a nested function call, a StopGradient, a two-input operation with both inputs
    varying), to its ``(rule, source)``, under a key that says which case it is."""
    import tensorflow as tf
    from shap.explainers._deep import deep_tf

    stop = {op for op, handler in deep_tf.op_handlers.items() if _handler_kind(handler) == "break_dependence"}
    with swish_written_out() as swish_called:
        graph = tf.function(function).get_concrete_function(*specs).graph
    placeholders = graph.inputs[: len(specs)]
    operations = _path_operations(placeholders, stop)
    on_path = {t.name for t in placeholders} | {t.name for op in operations for t in op.outputs}
    types: dict[str, tuple[str | None, str] | None] = {}
    for op in operations:
        if op.type in _NESTED_CALLS:
            body = _nested_body(op)
            types[f"{op.type}({', '.join(body)})"] = _nested_rule(body)
        elif op.type == "StopGradient":
            if _is_moments_mean(op):
                types[_MOMENTS_STOP] = (MOMENTS_STOP_GRADIENT.rule, "TensorFlow (not recorded)")
            else:
                types["StopGradient"] = (None, "TensorFlow's tape does not record it, so its path gets multiplier 0 "
                                               "and the values would not add up")
        elif (problem := _both_varying_problem(op, on_path)) is not None:
            types[f"{op.type}(both inputs varying)"] = (None, problem)
        else:
            types[op.type] = None
    if swish_called():
        types[SWISH] = (RULES[SWISH].rule, "helpers.deep_rules")
    return types


def _nested_rule(body: tuple[str, ...]) -> tuple[str | None, str]:
    """A nested function call's rule: TensorFlow differentiates its body itself, which is a DeepLIFT rule only
    if every operation in it is linear."""
    from shap.explainers._deep import deep_tf

    table = {**deep_tf.op_handlers, **handlers()}
    nonlinear = [t for t in body if t not in table or _handler_kind(table[t]) not in _LINEAR_HANDLERS]
    if nonlinear:
        return None, f"a nested function with {', '.join(nonlinear)}, where TensorFlow's gradient is no rule"
    return "linear body: gradient", "TensorFlow (a linear function's gradient is its multiplier)"


def _rule_of(operation: str) -> tuple[str | None, str]:
    """The rule of an operation type, with this module's rules registered, and where it comes from."""
    from shap.explainers._deep import deep_tf

    if operation == _CUSTOM_GRADIENT:
        return None, "a tf.custom_gradient: TensorFlow's own gradient would stand in for a rule"
    ours = handlers()
    if operation in installed() or (operation in ours and (operation in REPLACED
                                                         or operation not in deep_tf.op_handlers)):
        return RULES[operation].rule, "helpers.deep_rules"
    if operation in deep_tf.op_handlers:
        kind = _handler_kind(deep_tf.op_handlers[operation])
        return _SHAP_RULE_NAMES.get(kind, kind), "shap"
    return None, "no rule"


def _layers_using(model, operations: set[str], prefix: str = "") -> dict[str, list[str]]:
    """Which layers of ``model`` (inner layers of nested models by their path) run each operation type."""
    import keras
    import tensorflow as tf

    found: dict[str, list[str]] = {op: [] for op in operations}
    for layer in model.layers:
        if type(layer).__name__ == "InputLayer":
            continue
        name = prefix + layer.name
        if isinstance(layer, keras.Model):
            for op, names in _layers_using(layer, operations, name + "/").items():
                found[op] += names
            continue
        try:
            inputs = layer.input
        except (AttributeError, ValueError):  # a layer called more than once has no single input
            continue
        many = isinstance(inputs, (list, tuple))
        flat = list(inputs) if many else [inputs]
        specs = [tf.TensorSpec((None, *t.shape[1:]), t.dtype) for t in flat]
        try:
            types = _operation_types(lambda *xs, layer=layer, many=many: layer(list(xs) if many else xs[0]), specs)
        except Exception:  # a layer that cannot be traced alone is simply not named
            continue
        for op in operations & set(types):
            found[op].append(name)
    return found


def _cut_after(model, layer_names: list[str]) -> str | None:
    """The first layer whose input is a cut of ``model`` (:func:`helpers.surgery.cut_points`) with all of
    ``layer_names`` before it, or ``None``."""
    from helpers import surgery

    wanted = {name.split("/")[0] for name in layer_names}
    for name in surgery.cut_points(model):
        if "/" in name:
            continue
        ancestors, stack = set(), list(surgery._layer_node(model, model.get_layer(name)).input_tensors)
        while stack:
            node = surgery.producer(stack.pop())
            if node is not None and node.operation.name not in ancestors:
                ancestors.add(node.operation.name)
                stack.extend(node.input_tensors)
        if wanted <= ancestors:
            return name
    return None


def operation_rules(model) -> list[OperationRule]:
    """Every operation type on ``model``'s path from input to output, with the rule DeepExplainer applies
    to it once this module's rules are registered (``rule=None`` and the layers named where there is none).

    The model is traced once (a few seconds for a Keras Applications network); the layers are looked up, by
    tracing each layer alone, only for operations without a rule.
    """
    import tensorflow as tf

    _keras_model(model)
    spec = tf.TensorSpec((None, *model.inputs[0].shape[1:]), model.inputs[0].dtype)
    types = _operation_types(lambda x: model(x, training=False), [spec])
    rows = {op: known or _rule_of(op) for op, known in sorted(types.items())}
    missing = {op for op, (rule, _) in rows.items() if rule is None}
    layers = _layers_using(model, missing) if missing else {}
    return [OperationRule(op, rule, source, tuple(layers.get(op, ()))) for op, (rule, source) in rows.items()]


def check(model) -> list[OperationRule]:
    """:func:`operation_rules`, raising :class:`~helpers.shap_guard.UnsupportedOperationError` if an operation
    has no rule: the message names it, the layers it comes from, and the alternatives (GradientExplainer on
    the model, or DeepExplainer on the part of the model after a cut past those layers)."""
    rows = operation_rules(model)
    missing = [row for row in rows if row.rule is None]
    if not missing:
        return rows
    layers = [name for row in missing for name in row.layers]
    cut = _cut_after(model, layers) if layers else None
    found = "; ".join(f"{row.operation} ({row.source}) in layer(s) {', '.join(row.layers) or 'not found'}"
                      for row in missing)
    after = (f" or cut the model after them and explain the rest: features, head = "
             f"helpers.surgery.split_at_layer(model, {cut!r}) (the head is keras.Model(model.get_layer({cut!r})"
             f".input, model.output)), then shap.DeepExplainer(head, features(background)) inside "
             f"deep_rules.registered()" if cut else
             " (no layer after them splits the model, so no cut helps)")
    raise UnsupportedOperationError(
        f"DeepExplainer has no rule for {found}, even with helpers.deep_rules registered. Explain the model with "
        f"shap.GradientExplainer(model, background) (expected gradients needs only TensorFlow's gradients),"
        f"{after}.")
