"""Protection from a side effect of shap's DeepExplainer, and a check of which operations it can explain.

DeepExplainer (shap 0.54.1, TensorFlow 2) computes its attributions by swapping TensorFlow's gradient
functions for its own rules, one rule per operation type (``op_handlers`` in
``shap/explainers/_deep/deep_tf.py``). While it runs, it also replaces
``tensorflow.python.eager.execute.record_gradient`` so that every operation is recorded under the name
``shap_<type>``, and it puts its rules into TensorFlow's gradient registry under those names. It takes the
registry entries out again in a ``finally`` block, but it puts ``record_gradient`` back only when the
computation succeeds. After a failure (an operation without a rule, an interrupted run, an out-of-memory
error), every later gradient in the process is recorded as ``shap_<type>`` with no such entry in the
registry: a later ``GradientExplainer``, ``tf.GradientTape`` or ``model.fit`` fails with
``LookupError: gradient registry has no entry for: shap_StridedSlice`` (or another operation), until the
kernel restarts or a DeepExplainer run happens to succeed.

:func:`guarded` (a context manager and decorator) saves that state on entry, repairs it if an earlier run
left it broken, and restores it on exit whatever happens; it also turns shap's "no entry for shap_X" into
an :class:`UnsupportedOperationError` that names the operation and the fixes. :func:`unsupported_operations`
lists, before anything runs, the operations of a model that DeepExplainer has no rule for.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field

from helpers.errors import BookError, InputError

_MISSING_RULE = re.compile(r"gradient registry has no entry for: shap_(\w+)")

# Operations recorded by tf.custom_gradient (Keras's swish/SiLU, for example) arrive as IdentityN: shap has
# no rule for them and does not intercept them, so TensorFlow's own (custom) gradient runs there instead of
# a DeepLIFT rule. The explanation then does not add up.
CUSTOM_GRADIENT_OPS = frozenset({"IdentityN"})


class UnsupportedOperationError(BookError):
    """shap's DeepExplainer met an operation it has no attribution rule for."""


def _tensorflow_record_gradient():
    """TensorFlow's own ``record_gradient``, the function shap puts back after a successful run."""
    from tensorflow.python.eager import backprop

    return getattr(backprop, "_record_gradient", None) or backprop.record_gradient


def _modules():
    from tensorflow.python.eager import execute
    from tensorflow.python.framework import ops

    try:
        from tensorflow.python.ops import gradients_util as impl
    except ImportError:  # pragma: no cover - older TensorFlow
        from tensorflow.python.ops import gradients_impl as impl
    return execute, ops._gradient_registry._registry, impl


@dataclass
class GradientState:
    """What shap's DeepExplainer changes in TensorFlow while it runs (see the module's docstring)."""

    record_gradient: object
    registry: dict = field(repr=False)
    is_backpropagatable: object = field(repr=False)


def _snapshot() -> GradientState:
    execute, registry, impl = _modules()
    return GradientState(execute.record_gradient, {name: dict(entry) for name, entry in registry.items()},
                         getattr(impl, "_IsBackpropagatable", None))


def _restore(state: GradientState) -> None:
    execute, registry, impl = _modules()
    execute.record_gradient = state.record_gradient
    # only what shap adds: its shap_<type> entries and the placeholders it creates for unregistered types
    for name in [name for name in registry if name not in state.registry]:
        if name.startswith("shap_") or registry[name].get("type") is None:
            del registry[name]
    for name, entry in state.registry.items():
        if registry.get(name) != entry:
            registry[name] = dict(entry)
    if state.is_backpropagatable is not None:
        impl._IsBackpropagatable = state.is_backpropagatable


def gradient_state_problems() -> list[str]:
    """What an earlier, failed DeepExplainer run left behind in TensorFlow; an empty list if nothing."""
    execute, registry, _ = _modules()
    problems = []
    if execute.record_gradient is not _tensorflow_record_gradient():
        replaced = getattr(execute.record_gradient, "__qualname__", execute.record_gradient)
        problems.append(f"tensorflow's record_gradient is replaced by {replaced}")
    leftover = sorted(name for name in registry if name.startswith("shap_"))
    if leftover:
        more = "..." if len(leftover) > 3 else ""
        problems.append(f"the gradient registry holds shap's entries {leftover[:3]}{more}")
    overridden = sorted(name for name, entry in registry.items() if hasattr(entry.get("type"), "__self__")
                        and hasattr(entry["type"].__self__, "orig_grads"))
    if overridden:
        more = "..." if len(overridden) > 3 else ""
        problems.append(f"the gradients of {overridden[:3]}{more} are shap's rules")
    return problems


def repair_gradients() -> list[str]:
    """Undo what a failed DeepExplainer run left in TensorFlow; return what was repaired (empty if nothing).

    Call it after an unguarded DeepExplainer failure instead of restarting the kernel.
    """
    execute, registry, _ = _modules()
    problems = gradient_state_problems()
    execute.record_gradient = _tensorflow_record_gradient()
    for name in [name for name in registry if name.startswith("shap_")]:
        del registry[name]
    for name, entry in registry.items():
        rule = entry.get("type")
        if hasattr(rule, "__self__") and name in getattr(rule.__self__, "orig_grads", {}):
            entry["type"] = rule.__self__.orig_grads[name]
    return problems


def _translate(err: BaseException) -> UnsupportedOperationError | None:
    found = _MISSING_RULE.search(str(err))
    if found is None:
        return None
    op = found.group(1)
    from helpers.deep_rules import RULES

    rules = (f"helpers.deep_rules has a DeepLIFT rule for {op}: run the explainer inside "
             f"`with helpers.deep_rules.registered(model):`. " if op in RULES else "")
    return UnsupportedOperationError(
        f"shap's DeepExplainer has no rule for the TensorFlow operation {op} (shap raised: LookupError: "
        f"gradient registry has no entry for: shap_{op}). DeepExplainer propagates attributions with one "
        f"rule per operation type and knows only those in shap's op_handlers. Fixes: explain this model with "
        f"shap.GradientExplainer or shap.Explainer with an image masker (Partition explainer), or replace the "
        f"layer that creates {op} by an equivalent built from supported operations. "
        f"helpers.shap_guard.unsupported_operations(model) lists every such operation of a model, and "
        f"helpers.rule_coverage.check(model) the layers they come from. {rules}"
        f"TensorFlow's gradients were restored: later explainers in this kernel are unaffected."
    )


class guarded(contextlib.ContextDecorator):  # noqa: N801 (used like a function: `with guarded():`)
    """Run shap inside ``with guarded():`` (or decorate a function with ``@guarded()``).

    On entry it repairs what an earlier unguarded DeepExplainer failure left behind; on exit, normal or not,
    it puts TensorFlow's gradient machinery back as it was on entry. A DeepExplainer failure on an operation
    without a rule is re-raised as :class:`UnsupportedOperationError`, naming the operation and the fixes,
    with shap's original error chained as its cause. Other errors pass through unchanged.
    """

    def __enter__(self) -> guarded:
        repair_gradients()
        self._state = _snapshot()
        return self

    def __exit__(self, kind, err, traceback) -> bool:
        _restore(self._state)
        if err is not None and isinstance(err, Exception):
            translated = _translate(err)
            if translated is not None:
                raise translated from err
        return False


@dataclass
class OperationReport:
    """The operation types on the path from a model's input to its output, sorted by how DeepExplainer
    treats them: ``without_rule`` make it fail; ``custom_gradient`` are explained with TensorFlow's own
    gradient instead of a DeepLIFT rule (the attributions then do not add up); ``with_rule`` are fine."""

    with_rule: list[str]
    without_rule: list[str]
    custom_gradient: list[str]


def unsupported_operations(model) -> OperationReport:
    """Trace ``model`` once and sort the operations between its input and output by DeepExplainer's support.

    The model must take one input tensor (a Keras model with a fixed input shape apart from the batch).
    """
    import tensorflow as tf
    from shap.explainers._deep.deep_tf import op_handlers

    inputs = getattr(model, "inputs", None)
    if not inputs or len(inputs) != 1:
        raise InputError("unsupported_operations needs a Keras model with exactly one input tensor.")
    spec = tf.TensorSpec((None, *inputs[0].shape[1:]), inputs[0].dtype)
    graph = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec).graph
    # graph.inputs holds the image's placeholder first, then every captured tensor (weights, and constants such
    # as a Normalization layer's stored variance): only what the image feeds is on DeepExplainer's path.
    placeholders = graph.inputs[:1]
    seen: dict[str, object] = {}
    stack = [op for t in placeholders for op in t.consumers()]
    while stack:
        op = stack.pop()
        if op.name not in seen:
            seen[op.name] = op
            stack.extend(consumer for t in op.outputs for consumer in t.consumers())
    types = sorted({op.type for op in seen.values()})
    return OperationReport(
        with_rule=[t for t in types if t in op_handlers],
        without_rule=[t for t in types if t not in op_handlers and t not in CUSTOM_GRADIENT_OPS],
        custom_gradient=[t for t in types if t in CUSTOM_GRADIENT_OPS],
    )
