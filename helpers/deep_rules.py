"""DeepLIFT rules for the operations of MobileNetV2, EfficientNetB0, Xception and ConvNeXtTiny that shap's
DeepExplainer lacks, registered for the length of a ``with`` block.

shap's DeepExplainer (shap 0.54.1, ``shap/explainers/_deep/deep_tf.py``) backpropagates *multipliers*
instead of gradients: while it runs, the gradient of every operation type in its table ``op_handlers`` is
replaced by a DeepLIFT rule (Shrikumar et al. 2017), and the input's multipliers times ``x - r`` are the
attributions against one reference ``r``. The multipliers are composed by the chain rule, so the attributions
add up to ``f(x) - f(r)`` exactly when every operation on the path from the input to the output satisfies
DeepLIFT's *summation to delta* for its own inputs and output: ``sum_i m_i (in_i(x) - in_i(r)) =
out(x) - out(r)``. One operation whose multipliers miss it (a plain gradient through a nonlinearity, a share
dropped) breaks additivity for the whole network. shap's rules that satisfy it, reused here:

- ``passthrough``, ``linearity_1d(i)``: TensorFlow's own gradient, exact for linear operations;
- ``nonlinearity_1d(i)``: the *rescale* rule for an element-wise function of one varying input, the secant
  ``(out(x) - out(r)) / (in(x) - in(r))`` (the gradient where ``|in(x) - in(r)| < 1e-6``);
- for ``Mul`` and ``SquaredDifference`` with both inputs varying, a two-input rule that gives each input half
  of the change it makes in either order (the Shapley value of a two-player game), which sums to the
  output's change.

What this module adds (:data:`RULES`): the linear operations ``DepthwiseConv2dNative`` and ``Neg``; the
element-wise nonlinearities ``Relu6``, ``Erf`` and ``Erfc`` (GELU); a replacement for shap's ``Mul`` entry, the
same two-input rule in closed form (shap's code sums a broadcast input's multipliers over its first broadcast
axis only, and fails on squeeze-and-excitation blocks, ``(N, H, W, C) * (N, 1, 1, C)``); and swish, which
TensorFlow computes under ``tf.custom_gradient``: the gradient tape then calls TensorFlow's own gradient
function and never consults shap's table, so no entry in ``op_handlers`` can reach it. While the rules are
registered, ``tf.nn.silu`` (which Keras's ``swish`` calls) is replaced by its definition ``x * sigmoid(x)``
(the same values), whose ``Sigmoid`` (rescale) and ``Mul`` (two-input rule) compose to swish's own secant.

Layer normalisation (ConvNeXt) is not one operation: Keras computes it with ``tf.nn.moments`` and
``Neg``, ``Rsqrt``, ``Mul`` and ``AddV2``, and every piece has a rule that adds up, so the layer does too. The
one piece without a rule, the ``StopGradient`` in the variance ``mean((x - stop_gradient(mean(x)))**2)``, is
not recorded by TensorFlow's tape at all (its path gets multiplier 0, and no rule could be registered); there
that loses nothing, because the shares the mean would get sum to zero (:data:`MOMENTS_STOP_GRADIENT`). A
``StopGradient`` anywhere else is refused. No rule linearises a normalisation around the reference's
statistics or holds the statistics constant: with different statistics for ``x`` and ``r`` either would
break additivity.

:func:`register` adds the rules (and returns a :class:`Registration` that removes exactly what it added);
:func:`registered` is the ``with`` form, which also restores TensorFlow's gradients whatever happens
(:class:`helpers.shap_guard.guarded`). :func:`operation_rules` lists the rule each operation of a model gets;
:func:`check` refuses a model with an operation that has none, naming the operation, the layers it comes from
and the alternatives.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from helpers.errors import InputError
from helpers.shap_guard import UnsupportedOperationError, guarded


@dataclass(frozen=True)
class Rule:
    """The DeepLIFT rule this module registers for one TensorFlow operation type, and why it is that rule."""

    rule: str
    handler: str
    why: str


SWISH = "swish (tf.nn.silu)"

RULES: dict[str, Rule] = {
    "DepthwiseConv2dNative": Rule(
        "linear: gradient", "shap's linearity_1d(0)",
        "a depthwise convolution is linear in its input (the kernel, input 1, is a constant, and shap asserts "
        "that it does not vary), so its gradient is its multiplier, exactly"),
    "Neg": Rule("linear: gradient", "shap's passthrough", "-x is linear"),
    "Relu6": Rule("rescale", "shap's nonlinearity_1d(0)", "min(max(x, 0), 6) is an element-wise function of one "
                  "input: the secant (g(x) - g(r)) / (x - r) hands on exactly its change (MobileNetV2)"),
    "Erf": Rule("rescale", "shap's nonlinearity_1d(0)", "an element-wise function of one input: the secant hands on "
                "exactly its change (GELU in TensorFlow versions that compute it with Erf, keras.ops.erf)"),
    "Erfc": Rule("rescale", "shap's nonlinearity_1d(0)", "an element-wise function of one input: the secant hands on "
                 "exactly its change (GELU, 0.5 x erfc(-x / sqrt 2), in ConvNeXt)"),
    "Mul": Rule(
        "linear if one input varies, else the two-input rule in closed form (replaces shap's entry while "
        "registered)",
        "_product: shap's linearity_1d_handler, or multiplier of a = (b(x) + b(r)) / 2, summed over broadcast axes",
        "shap's two-input rule is the right one, but its code sums the broadcast input's multipliers over the first "
        "broadcast axis only: on a squeeze-and-excitation block, (N, H, W, C) * (N, 1, 1, C), TensorFlow fails "
        "with 'The two arguments to a cwise op must have same number of elements'. It also divides by each "
        "input's change and drops the share where that is below 1e-7 (1e-7 additivity gaps on EfficientNetB0 in "
        "float64); the closed form of the same rule has neither problem"),
    SWISH: Rule(
        "rescale, through x * sigmoid(x) (tf.nn.silu replaced while registered)",
        "shap's Sigmoid (nonlinearity_1d) and Mul rules",
        "TensorFlow computes swish under tf.custom_gradient (an IdentityN operation) whose gradient the tape takes "
        "from TensorFlow, not from shap's table: the plain gradient would stand in for a rule and the values would "
        "not add up. Written out, Mul's two-input rule and Sigmoid's secant compose to swish's own secant"),
}

_MOMENTS_STOP = "StopGradient(moments)"
MOMENTS_STOP_GRADIENT = Rule(
    "multiplier 0 (TensorFlow's tape does not record StopGradient, so no rule can be registered); exact here",
    "none",
    "in tf.nn.moments, which Keras's layer normalisation uses, the variance is mean((x - stop_gradient(m))**2) "
    "with m = mean(x). shap's two-input rule for SquaredDifference gives m the share (m(x) - m(r)) * "
    "(m(x) + m(r) - x_i - r_i) per element, and these sum to zero over the axes the mean is taken on: dropping "
    "them changes no sum. Anywhere else a StopGradient on the path is refused")

# Entries of shap's op_handlers that registration replaces (and puts back) instead of adding.
REPLACED = ("Mul",)

# Operations that carry no values a gradient flows through, allowed inside a nested function's body.
_BOOKKEEPING = frozenset({"Const", "NoOp", "Placeholder", "ReadVariableOp", "Identity"})
_NESTED_CALLS = frozenset({"StatefulPartitionedCall", "PartitionedCall"})
_CUSTOM_GRADIENT = "IdentityN"


def _product(explainer, op, *grads):
    """Mul's rule. With one input varying a product is linear in it: shap's ``linearity_1d`` (the gradient).
    With both varying, DeepLIFT's two-input split (shap's ``nonlinearity_2d``) gives input ``a`` the change
    ``(a(x) - a(r)) * (b(x) + b(r)) / 2``: its multiplier is the mean of the other factor at ``x`` and ``r``,
    written here without shap's division by ``a(x) - a(r)`` (and its zero where that is below 1e-7), and
    summed over every axis the input was broadcast on."""
    import tensorflow as tf
    from shap.explainers._deep import deep_tf

    varying = explainer._variable_inputs(op)
    if not (varying[0] and varying[1]):
        if varying[0] or varying[1]:
            return deep_tf.linearity_1d_handler(0 if varying[0] else 1, explainer, op, *grads)
        return [None, None]
    a, b = op.inputs
    xa, ra = tf.split(a, 2)
    xb, rb = tf.split(b, 2)
    out = []
    for other, tensor in ((0.5 * (xb + rb), a), (0.5 * (xa + ra), b)):
        grad = grads[0] * tf.concat([other, other], 0)
        _, axes = tf.raw_ops.BroadcastGradientArgs(s0=tf.shape(grad), s1=tf.shape(tensor))
        out.append(tf.reshape(tf.reduce_sum(grad, axis=axes), tf.shape(tensor)))
    return out


def handlers() -> dict[str, Callable]:
    """The handler of each operation in :data:`RULES`: shap's own handler functions, and :func:`_product` for
    ``Mul`` (swish needs no handler of its own: see :data:`RULES`)."""
    from shap.explainers._deep import deep_tf

    return {
        "DepthwiseConv2dNative": deep_tf.linearity_1d(0),
        "Neg": deep_tf.passthrough,
        "Relu6": deep_tf.nonlinearity_1d(0),
        "Erf": deep_tf.nonlinearity_1d(0),
        "Erfc": deep_tf.nonlinearity_1d(0),
        "Mul": _product,
    }


def _plain_silu(features, beta=1.0):
    """``tf.nn.silu`` without its custom gradient: ``features * sigmoid(beta * features)``, the same values."""
    import tensorflow as tf

    _SILU_CALLS[0] += 1
    features = tf.convert_to_tensor(features)
    if isinstance(beta, (int, float)) and beta == 1.0:
        return features * tf.math.sigmoid(features)
    return features * tf.math.sigmoid(tf.cast(beta, features.dtype) * features)


_SILU_NAMES = ("silu", "swish")
_SILU_CALLS = [0]  # how often _plain_silu ran: tells operation_rules whether a traced model uses swish


@dataclass(eq=False)
class Registration:
    """What :func:`register` changed, so that :meth:`remove` can undo exactly that.

    ``added`` and ``replaced`` hold the entries put into shap's ``op_handlers`` (``replaced`` also keeps the
    entry that was there); ``skipped`` names operations that already had a rule of someone else's (a newer
    shap, the reader's own, an enclosing registration), left alone. Used as a context manager it also runs
    :class:`helpers.shap_guard.guarded`, and removes the rules on the way out, normal or not.
    """

    added: dict[str, Callable] = field(default_factory=dict)
    replaced: dict[str, tuple[Callable, Callable]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    silu: dict[str, Callable] = field(default_factory=dict)
    _guard: guarded | None = field(default=None, repr=False)

    @property
    def active(self) -> bool:
        """Whether anything this registration changed is still in place."""
        import tensorflow as tf
        from shap.explainers._deep import deep_tf

        return (any(deep_tf.op_handlers.get(op) is ours for op, ours in self.added.items())
                or any(deep_tf.op_handlers.get(op) is ours for op, (_, ours) in self.replaced.items())
                or any(getattr(tf.nn, name) is _plain_silu for name in self.silu))

    def remove(self) -> None:
        """Take out exactly what :func:`register` put in (an entry someone changed since is left alone)."""
        import tensorflow as tf
        from shap.explainers._deep import deep_tf

        for op, ours in self.added.items():
            if deep_tf.op_handlers.get(op) is ours:
                del deep_tf.op_handlers[op]
        for op, (original, ours) in self.replaced.items():
            if deep_tf.op_handlers.get(op) is ours:
                deep_tf.op_handlers[op] = original
        for name, original in self.silu.items():
            if getattr(tf.nn, name) is _plain_silu:
                setattr(tf.nn, name, original)
        if self in _ACTIVE:
            _ACTIVE.remove(self)

    def __enter__(self) -> Registration:
        self._guard = guarded()
        self._guard.__enter__()
        return self

    def __exit__(self, kind, err, traceback) -> bool:
        try:
            return self._guard.__exit__(kind, err, traceback) if self._guard is not None else False
        finally:
            self.remove()


_ACTIVE: list[Registration] = []  # registrations not removed yet, for operation_rules' "source"


def register() -> Registration:
    """Add this module's rules to shap's ``op_handlers`` and replace ``tf.nn.silu`` by its definition.

    Returns a :class:`Registration`: call its ``remove()``, or use it as a context manager
    (``with deep_rules.register(): ...``), to undo exactly what was done. Prefer :func:`registered`, which is
    that context manager and can check a model first. Run shap only inside ``with`` (or
    :class:`helpers.shap_guard.guarded`): a DeepExplainer failure outside it leaves TensorFlow's gradients
    broken.
    """
    import tensorflow as tf
    from shap.explainers._deep import deep_tf

    registration = Registration()
    table = deep_tf.op_handlers
    for op, handler in handlers().items():
        if op not in table:
            table[op] = handler
            registration.added[op] = handler
        elif op in REPLACED and table[op] is not handler:
            registration.replaced[op] = (table[op], handler)
            table[op] = handler
        else:
            registration.skipped.append(op)
    for name in _SILU_NAMES:
        current = getattr(tf.nn, name, None)
        if current is not None and current is not _plain_silu:
            registration.silu[name] = current
            setattr(tf.nn, name, _plain_silu)
    _ACTIVE.append(registration)
    return registration


@contextlib.contextmanager
def registered(model=None) -> Iterator[Registration]:
    """``with registered(): ...``: the rules are in shap's table inside the block and gone after it, and
    TensorFlow's gradients are restored on the way out whatever happens (:class:`helpers.shap_guard.guarded`).

    With ``model`` given, :func:`check` runs first and refuses a model with an operation no rule covers, naming
    the operation, the layers it comes from and the alternatives, before anything is changed.
    """
    if model is not None:
        check(model)
    with register() as registration:
        yield registration


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
    saved = {name: getattr(tf.nn, name) for name in _SILU_NAMES if hasattr(tf.nn, name)}
    calls = _SILU_CALLS[0]
    try:
        for name in saved:
            setattr(tf.nn, name, _plain_silu)
        graph = tf.function(function).get_concrete_function(*specs).graph
    finally:
        for name, original in saved.items():
            setattr(tf.nn, name, original)
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
    if _SILU_CALLS[0] > calls:
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
    installed = {op for registration in _ACTIVE for op in (*registration.added, *registration.replaced)}
    if operation in installed or (operation in ours and (operation in REPLACED
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
