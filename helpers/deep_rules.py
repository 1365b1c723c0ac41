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
(:class:`helpers.shap_guard.guarded`). Which rule each operation of a model gets, and the check that refuses a
model with an operation no rule covers, are in :mod:`helpers.rule_coverage`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from helpers.shap_guard import guarded


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

MOMENTS_STOP_GRADIENT = Rule(
    "multiplier 0 (TensorFlow's tape does not record StopGradient, so no rule can be registered); exact here",
    "none",
    "in tf.nn.moments, which Keras's layer normalisation uses, the variance is mean((x - stop_gradient(m))**2) "
    "with m = mean(x). shap's two-input rule for SquaredDifference gives m the share (m(x) - m(r)) * "
    "(m(x) + m(r) - x_i - r_i) per element, and these sum to zero over the axes the mean is taken on: dropping "
    "them changes no sum. Anywhere else a StopGradient on the path is refused")

# Entries of shap's op_handlers that registration replaces (and puts back) instead of adding.
REPLACED = ("Mul",)


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
_SILU_CALLS = [0]  # how often _plain_silu ran: tells swish_written_out whether a traced model uses swish


@contextlib.contextmanager
def swish_written_out() -> Iterator[Callable[[], bool]]:
    """``tf.nn.silu`` (and ``tf.nn.swish``) replaced by ``x * sigmoid(x)`` for the length of the block, as
    while the rules are registered; yields a function that tells whether swish was called inside the block
    (:func:`helpers.rule_coverage.operation_rules` traces a model this way)."""
    import tensorflow as tf

    saved = {name: getattr(tf.nn, name) for name in _SILU_NAMES if hasattr(tf.nn, name)}
    calls = _SILU_CALLS[0]
    try:
        for name in saved:
            setattr(tf.nn, name, _plain_silu)
        yield lambda: _SILU_CALLS[0] > calls
    finally:
        for name, original in saved.items():
            setattr(tf.nn, name, original)


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


_ACTIVE: list[Registration] = []  # registrations not removed yet


def installed() -> set[str]:
    """The operation types whose rule a registration not yet removed put into shap's table."""
    return {op for registration in _ACTIVE for op in (*registration.added, *registration.replaced)}


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

    With ``model`` given, :func:`helpers.rule_coverage.check` runs first and refuses a model with an operation
    no rule covers, naming the operation, the layers it comes from and the alternatives, before anything is
    changed.
    """
    if model is not None:
        from helpers.rule_coverage import check  # it imports this module

        check(model)
    with register() as registration:
        yield registration
