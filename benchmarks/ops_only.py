"""The ops' own cost: our registered ops' forward and backward for one training step, with no engine around them.

`OpsOnly(loss_fn, leaves)` runs `loss_fn()` once through our engine while noting every op it applies (inputs,
attributes, output), then writes that tape out as one straight-line Python function: for each op, a `Context` and
a call of its `forward`; then, in reverse, a call of its `backward`, the gradient summed into its inputs with the
engine's own `Accumulator` and `_unbroadcast` where (and only where) the tape needs them. Each value is dropped
once nothing reads it, as the engine frees what backward has passed. Nothing else runs: no Tensor objects, no
layer code, no graph walk, no shape or anomaly checks, no scopes or hooks.

So this is a lower bound for ANY engine that keeps our ops and their `Function` contract, one written in C
included: such an engine still calls every op's Python forward and backward and does their numpy work. The gap
between it and the numpy BPTT is what the ops cost; the gap between it and our `nn.RNN` is what the engine and
the layer's Python loop cost. (The tape is fixed: it replays one graph, as a tracing compiler would.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tinygrad_rnn.function import Function
from tinygrad_rnn.gradients import Accumulator, LazyGrad
from tinygrad_rnn.graph import Context, _unbroadcast

_APPLY = Function.__dict__["apply"].__func__
WARM_UP_CALLS = 12
"""Calls made on construction. CPython 3.11 specialises a function's bytecode only after ~8 calls; a loop-based
engine's code gets there within its first step, but this one function runs once per step (measured: without it,
the first steps cost up to 1.5x the later ones on the clock, and the instruction count was not linear in steps)."""


def record(loss_fn: Callable[[], Any]) -> tuple[list[tuple[Any, ...]], Any]:
    """Run `loss_fn()` through our engine; return [(op, input nodes, attrs, output node), ...] and the loss."""
    tape = []

    def noting(op: type[Function], *inputs: Any, **attrs: Any) -> Any:
        output = _APPLY(op, *inputs, **attrs)
        tape.append((op, inputs, attrs, output))
        return output

    Function.apply = classmethod(noting)
    try:
        loss = loss_fn()
    finally:
        Function.apply = classmethod(_APPLY)
    return tape, loss


class OpsOnly:
    """`OpsOnly(loss_fn, leaves)()`: d loss/d each leaf (name -> array), computed by the recorded ops alone."""

    def __init__(self, loss_fn: Callable[[], Any], leaves: dict[str, Any]) -> None:
        tape, loss = record(loss_fn)
        self.leaves = leaves
        names = {id(tensor): f"leaf_{name}" for name, tensor in leaves.items()}
        self.namespace: dict[str, Any] = {"Context": Context, "Accumulator": Accumulator, "unbroadcast": _unbroadcast,
                                          "ones_like": np.ones_like}
        self.steps = []  # (k, op, input names, attrs, input shapes, which inputs need grad, output shape)
        for k, (op, inputs, attrs, output) in enumerate(tape):
            for node in inputs:
                if id(node) not in names:  # a constant: the data, the targets, a zero initial state
                    if node.requires_grad:  # made before loss_fn from a leaf (W.T outside it): its grad would be lost
                        raise ValueError(f"ops_only: op '{op.name}' reads a value that requires grad but is neither "
                                         "one of the leaves nor made on the tape; make it inside loss_fn")
                    names[id(node)] = name = f"constant{len(names)}"
                    self.namespace[name] = node.data
            names[id(output)] = f"out{k}"
            self.steps.append((k, op, [names[id(node)] for node in inputs], attrs, [node.shape for node in inputs],
                               tuple(node.requires_grad for node in inputs), output.shape))
        self.root = names[id(loss)]
        self.source = self._write(self._probe())
        exec(compile(self.source, "<ops_only>", "exec"), self.namespace)  # noqa: S102 (our own generated code)
        self.run = self.namespace["forward_backward"]
        for _ in range(WARM_UP_CALLS):
            self()

    def __call__(self) -> dict[str, np.ndarray]:
        return self.run({name: tensor.data for name, tensor in self.leaves.items()})

    def _probe(self) -> dict[int, tuple[bool, list[str]]]:
        """Run the tape once, interpreted, to learn per op whether backward returns a tuple and, per input,
        whether its gradient is 'none', 'lazy' (to be summed), 'broadcast' (to be summed down) or 'dense'."""
        values = {f"leaf_{name}": tensor.data for name, tensor in self.leaves.items()}
        values.update((name, value) for name, value in self.namespace.items() if name.startswith("constant"))
        contexts = {}
        for k, op, inputs, attrs, _, needs, _ in self.steps:
            contexts[k] = ctx = Context()
            ctx.saved_tensors, ctx.needs_input_grad = (), needs
            values[f"out{k}"] = op.forward(ctx, *[values[name] for name in inputs], **attrs)
        forms = {}
        for k, op, _, _, shapes, needs, shape in reversed(self.steps):
            if True not in needs:
                continue
            grads = op.backward(contexts[k], np.ones(shape, dtype=values[f"out{k}"].dtype))
            is_tuple = type(grads) is tuple
            kinds = []
            for grad, input_shape, need in zip(grads if is_tuple else (grads,), shapes, needs):
                if grad is None or not need:
                    kinds.append("none")
                elif isinstance(grad, LazyGrad):
                    kinds.append("lazy")
                else:
                    kinds.append("broadcast" if grad.shape != input_shape else "dense")
            forms[k] = (is_tuple, kinds)
        return forms

    def _write(self, forms: dict[int, tuple[bool, list[str]]]) -> str:
        """The straight-line function: every forward in order, then every backward in reverse."""
        space = self.namespace
        lines = ["def forward_backward(leaves):"]
        lines += [f"    leaf_{name} = leaves[{name!r}]" for name in self.leaves]
        last_use = {f"out{k}": k for k, *_ in self.steps}  # a forward output is dropped after its last use
        for k, _, inputs, *_ in self.steps:
            last_use.update((name, k) for name in inputs if name in last_use)
        dropped_after: dict[int, list[str]] = {}
        for name, k in last_use.items():
            if name != self.root:
                dropped_after.setdefault(k, []).append(name)
        for k, op, inputs, attrs, _, needs, _ in self.steps:
            space[f"forward{k}"], space[f"backward{k}"], space[f"needs{k}"] = op.forward, op.backward, needs
            arguments = ", ".join([f"ctx{k}", *inputs])
            if attrs:
                space[f"attrs{k}"] = attrs
                arguments += f", **attrs{k}"
            lines.append(f"    ctx{k} = Context(); ctx{k}.saved_tensors = (); ctx{k}.needs_input_grad = needs{k}")
            lines.append(f"    out{k} = forward{k}({arguments})")
            if k in dropped_after:
                lines.append(f"    del {', '.join(dropped_after[k])}")
        arrivals: dict[str, int] = {self.root: 1}  # gradients written so far into each value's `grad_<name>`
        needs_evaluate: dict[str, bool] = {self.root: False}
        lines.append(f"    grad_{self.root} = ones_like({self.root})")
        for k, _, inputs, _, shapes, _, shape in reversed(self.steps):
            output = f"out{k}"
            if k not in forms or output not in arrivals:
                lines.append(f"    del ctx{k}")  # no gradient reaches it: the engine would not keep it either
                continue
            if needs_evaluate[output]:
                space[f"shape{k}"] = shape
                lines.append(f"    grad_{output} = grad_{output}.evaluate(shape{k})")
            is_tuple, kinds = forms[k]
            lines.append(f"    grads = backward{k}(ctx{k}, grad_{output})")
            for position, (name, kind, input_shape) in enumerate(zip(inputs, kinds, shapes)):
                if kind == "none":
                    continue
                space[f"shape{k}_{position}"] = input_shape
                grad = f"grads[{position}]" if is_tuple else "grads"
                if kind == "broadcast":
                    grad = f"unbroadcast({grad}, shape{k}_{position}, ctx{k})"
                seen = arrivals.get(name, 0)
                if seen == 0:
                    lines.append(f"    grad_{name} = {grad}")
                    needs_evaluate[name] = kind == "lazy"
                elif seen == 1:
                    lines.append(f"    grad_{name} = Accumulator(grad_{name}, {grad}, shape{k}_{position})")
                    needs_evaluate[name] = True
                else:
                    lines.append(f"    grad_{name}.add({grad}, shape{k}_{position})")
                arrivals[name] = seen + 1
            lines.append(f"    del ctx{k}, grad_{output}, grads")  # freed as backward passes, as the engine does
        results = []
        for name, tensor in self.leaves.items():
            leaf = f"leaf_{name}"
            if needs_evaluate.get(leaf):
                space[f"shape_{leaf}"] = tensor.shape
                results.append(f"{name!r}: grad_{leaf}.evaluate(shape_{leaf})")
            elif leaf in arrivals:
                results.append(f"{name!r}: grad_{leaf}")
        lines.append("    return {" + ", ".join(results) + "}")
        return "\n".join(lines) + "\n"
