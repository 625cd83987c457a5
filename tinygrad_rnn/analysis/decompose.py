"""One backward pass split by time step: what each use of a parameter at step s sends to its gradient.

A weight shared by every step receives the sum of what its uses send back; this module keeps the terms apart.
A *use at step s* is an op recorded in a step scope (".../t=s") that reads the parameter, directly or through
ops outside every step scope: W.T, the whole sequence's input projection x W_ih^T + b, a bias sum. Such a
step-less op is read by many steps, so its gradient is a sum over them; backward is linear in the output's
gradient, so it can send each step's share on separately, labelled with that step, and the parameter receives
each step's part on its own. Ops read from outside every step scope (a readout after the loop) label theirs
None. The labels' parts sum to the engine's gradient: the same terms, added in another order.

How. During one ordinary backward, a hook on each use (an op in step s that reads a parameter or a split
step-less op) asks the op, once its gradient is complete, what it sends to those inputs, and sends that piece
on at once down the step-less ops (reverse topological order; their saved arrays are still there, since the
engine reaches them after every step) to the parameters. When every use of step s is in, each parameter's part
of step s goes to the sink. Nothing per step waits for the end of the backward, so it holds no more memory.

Cost. Step s's piece of the projection's gradient is zero outside the rows of step s (the getitem that took
them), so it travels as those rows alone (`Rows`) through reshape, add, a getitem on the last axis and matmul:
step s's share of dL/dW_ih costs a GEMM over its own rows, the work the engine's backward spends on them, not a
GEMM over the whole sequence.
"""

from __future__ import annotations

from collections.abc import Callable
from math import prod
from typing import Any

import numpy as np

from ..gradients import IndexedGrad, LazyGrad, ProductGrad
from .edges import edge_gradients, watch
from .steps import step_of

Sink = Callable[[str, "int | None", np.ndarray], None]
"""sink(parameter name, step or None, that step's part of the parameter's gradient)."""


class Rows:
    """A gradient zero except at some rows of its array seen as (rows, last axis): `values[i]` at row `index[i]`
    (`index` a slice or an integer array; repeated rows add)."""

    __slots__ = ("index", "values")

    def __init__(self, index: Any, values: np.ndarray) -> None:
        self.index, self.values = index, values

    def dense(self, shape: tuple[int, ...]) -> np.ndarray:
        out = np.zeros((prod(shape[:-1]), shape[-1]), dtype=self.values.dtype)
        if type(self.index) is slice:
            out[self.index] = self.values
        else:
            np.add.at(out, self.index, self.values)
        return out.reshape(shape)

    def same_rows(self, other: Rows) -> bool:
        if type(self.index) is slice or type(other.index) is slice:
            return self.index == other.index
        return self.index.shape == other.index.shape and bool(np.array_equal(self.index, other.index))


def split_by_step(loss: Any, order: list[Any], params: dict[str, Any], sink: Sink, *, retain_graph: bool) -> None:
    """Run one backward from `loss` (whose vertices are `order`, topologically) and call `sink` once for each
    parameter and step with that step's part of the parameter's gradient (None: uses outside every step). Every
    leaf's `.grad` is left as it was; the graph is freed unless `retain_graph`, as by `loss.backward`."""
    param_names = {id(param): name for name, param in params.items()}
    stepless: list[Any] = []  # step-less contexts that read a parameter or such a context, topologically
    shared = set(param_names)
    readers: dict[int, list[Any]] = {}
    for node in order:
        if node.is_context:
            for parent in node.parents:
                if id(parent) in shared:
                    readers.setdefault(id(parent), []).append(node)
                    if step_of(node.scope) is None and id(node) not in shared:
                        shared.add(id(node))
                        stepless.append(node)
    # A step-less context is split when a step reads it (directly or through other step-less ones): its gradient
    # is a sum over steps. The rest (a readout after the loop) carry nothing but the None label: they are uses.
    split: set[int] = set()
    for ctx in reversed(stepless):
        if any(step_of(reader.scope) is not None or id(reader) in split for reader in readers.get(id(ctx), ())):
            split.add(id(ctx))
    targets = split | set(param_names)
    down = Down([ctx for ctx in reversed(stepless) if id(ctx) in split], targets, params, param_names, sink)
    removers = []
    for ctx in order:
        if ctx.is_context and id(ctx) not in split and any(id(parent) in targets for parent in ctx.parents):
            removers.append(watch(ctx, down.use(ctx, step_of(ctx.scope))))
    kept = [(node, node.grad) for node in order if not node.is_context or node._retains_grad]
    try:
        loss.backward(retain_graph=retain_graph)
    finally:
        for remove in removers:
            remove()
        for node, grad in kept:
            node.grad = grad
    down.close()


class Down:
    """Sends what each use sends back down the split step-less contexts to the parameters, at once (while the
    backward that called the use's hook still holds their saved arrays), and hands each parameter's part of each
    step to the sink once every use of that step is in."""

    def __init__(self, backwards: list[Any], targets: set[int], params: dict[str, Any], param_names: dict[int, str],
                 sink: Sink) -> None:
        self.backwards = backwards  # the split contexts in reverse topological order
        self.wanted = {id(ctx): tuple(id(parent) in targets for parent in ctx.parents) for ctx in backwards}
        self.targets, self.params, self.param_names, self.sink = targets, params, param_names, sink
        self.remaining: dict[int | None, int] = {}
        self.parts: dict[int | None, dict[int, list[Any]]] = {}

    def use(self, ctx: Any, step: int | None) -> Callable[[Any], None]:
        """The hook on a use at `step` (None outside every step): once its gradient is complete, send on what it
        sends to its inputs."""
        wanted = tuple(id(parent) in self.targets for parent in ctx.parents)
        self.remaining[step] = self.remaining.get(step, 0) + 1

        def collect(grad: Any) -> None:
            pending: dict[int, list[Any]] = {}
            for parent, flow in zip(ctx.parents, edge_gradients(ctx, grad, wanted)):
                if flow is not None:
                    pending.setdefault(id(parent), []).append(flow)
            self._send_down(pending)
            parts = self.parts.setdefault(step, {})
            for param_id, flows in pending.items():
                parts.setdefault(param_id, []).extend(flows)
            self.remaining[step] -= 1
            if self.remaining[step] == 0:
                self._hand_over(step)

        return collect

    def _send_down(self, pending: dict[int, list[Any]]) -> None:
        """Move everything in `pending` down the split contexts until only parameters hold it."""
        for ctx in self.backwards:
            grads = pending.pop(id(ctx), None)
            if grads is None:
                continue
            for parent, flow in zip(ctx.parents, _send(ctx, _combined(grads, ctx.grad_shape), self.wanted[id(ctx)])):
                if flow is not None:
                    pending.setdefault(id(parent), []).append(flow)

    def _hand_over(self, step: int | None) -> None:
        for param_id, flows in self.parts.pop(step, {}).items():
            name = self.param_names[param_id]
            shape = self.params[name].data.shape
            self.sink(name, step, _dense(_combined(flows, shape), shape))

    def close(self) -> None:
        """Hand over the steps some of whose uses got no gradient (an op that sent None)."""
        for step in sorted(key for key in self.parts if key is not None) + ([None] if None in self.parts else []):
            self._hand_over(step)


# ---- pieces on their way down: sum them, send them through one op, make them dense ---------------------------

def _combined(grads: list[Any], shape: tuple[int, ...]) -> Any:
    """The sum of the pieces that reached one vertex for one step (rows with the same index stay rows)."""
    first = grads[0]
    if len(grads) == 1:
        return first
    if type(first) is Rows and all(type(grad) is Rows and grad.same_rows(first) for grad in grads[1:]):
        return Rows(first.index, sum(grad.values for grad in grads[1:]) + first.values)
    total = np.array(_dense(first, shape), copy=True)
    for grad in grads[1:]:
        if type(grad) is IndexedGrad:
            grad.scatter_into(total)
        else:
            total += _dense(grad, shape)
    return total


def _dense(grad: Any, shape: tuple[int, ...]) -> np.ndarray:
    if type(grad) is Rows:
        return grad.dense(shape)
    if isinstance(grad, LazyGrad):
        return grad.evaluate(shape)
    return grad


def _send(ctx: Any, grad: Any, wanted: tuple[bool, ...]) -> list[Any]:
    """What op `ctx` sends to its wanted inputs when its output's gradient is `grad` (dense, rows or lazy)."""
    shape = ctx.grad_shape
    if type(grad) is IndexedGrad:
        grad = _as_rows(grad, shape) or grad.evaluate(shape)
    elif type(grad) is ProductGrad:
        if ctx.name == "permute" and len(shape) == 2 and wanted[0]:  # W.T: (left^T right)^T = right^T left
            return [ProductGrad(grad.right, grad.left)]
        grad = grad.evaluate(shape)
    elif isinstance(grad, LazyGrad):
        grad = grad.evaluate(shape)
    if type(grad) is Rows:
        rule = ROW_RULES.get(ctx.name)
        flows = None if rule is None else rule(ctx, grad, wanted)
        if flows is not None:
            return flows
        grad = grad.dense(shape)
    return edge_gradients(ctx, grad, wanted)


def _as_rows(grad: IndexedGrad, shape: tuple[int, ...]) -> Rows | None:
    """A getitem's gradient as rows, when its index picks whole rows (it leaves the last axis alone)."""
    rows = rows_of(grad.index, shape)
    if rows is None or grad.values.ndim == 0 or grad.values.shape[-1] != shape[-1]:
        return None
    values = grad.values.reshape(-1, shape[-1])
    count = len(range(*rows.indices(prod(shape[:-1])))) if type(rows) is slice else len(rows)
    return Rows(rows, values) if len(values) == count else None


def rows_of(index: Any, shape: tuple[int, ...]) -> Any:
    """The rows of an array of `shape`, seen as (rows, last axis), that `array[index]` picks: a slice or an integer
    array (in the result's order), or None when the index cuts the last axis too, or adds or drops axes oddly."""
    if len(shape) < 2:
        return None
    parts = index if type(index) is tuple else (index,)
    for part in parts:
        if part is None or part is Ellipsis or (isinstance(part, np.ndarray) and part.dtype == bool):
            return None
    if len(parts) == len(shape):
        if not _whole(parts[-1]):
            return None
        parts = parts[:-1]
    if not parts or len(parts) >= len(shape):
        return None
    if len(parts) == 1 and isinstance(parts[0], (int, np.integer)):  # one step of a (T, ..., F) sequence
        inner = prod(shape[1:-1])
        start = (int(parts[0]) % shape[0]) * inner
        return slice(start, start + inner)
    rows = np.arange(prod(shape[:-1])).reshape(shape[:-1])[parts].ravel()
    if len(rows) == 1:
        return slice(int(rows[0]), int(rows[0]) + 1)
    if len(rows) > 1:
        strides = np.diff(rows)
        if strides[0] > 0 and np.all(strides == strides[0]):
            return slice(int(rows[0]), int(rows[-1]) + 1, int(strides[0]))
    return rows


def _whole(part: Any) -> bool:
    """True for the index `:` (all of an axis)."""
    return type(part) is slice and part == slice(None)


# ---- how rows go through the ops the input projection is made of ---------------------------------------------

def _rows_of_flat(array: np.ndarray, rows: Rows) -> np.ndarray:
    """The rows `rows.index` of `array` seen as (rows, last axis)."""
    return array.reshape(-1, array.shape[-1])[rows.index]


def _reshape_rows(ctx: Any, grad: Rows, wanted: tuple[bool, ...]) -> list[Any] | None:
    """A reshape that keeps the last axis keeps the rows too (row-major order)."""
    shape = ctx.parents[0].grad_shape
    return [grad] if len(shape) >= 2 and shape[-1] == ctx.grad_shape[-1] else None


def _getitem_rows(ctx: Any, grad: Rows, wanted: tuple[bool, ...]) -> list[Any] | None:
    """A getitem that cuts the last axis only ([..., a:b]): the same rows, the values put back in their columns."""
    (index,) = ctx.saved_tensors
    parts = index if type(index) is tuple else (index,)
    shape = ctx.parents[0].grad_shape
    leading = parts[:-1]
    if not (type(parts[-1]) is slice and len(shape) >= 2 and ctx.grad_shape[:-1] == shape[:-1]):
        return None
    if leading != (Ellipsis,) and not (len(leading) == len(shape) - 1 and all(_whole(part) for part in leading)):
        return None
    values = np.zeros((len(grad.values), shape[-1]), dtype=grad.values.dtype)
    values[:, parts[-1]] = grad.values
    return [Rows(grad.index, values)]


def _sum_rows(ctx: Any, grad: Rows, wanted: tuple[bool, ...], signs: tuple[int, int]) -> list[Any] | None:
    """add / sub: an input of the output's shape gets the rows (negated for sub's second); a bias broadcast along
    the rows gets their sum."""
    shape = ctx.grad_shape
    flows: list[Any] = []
    for parent, want, sign in zip(ctx.parents, wanted, signs):
        if not want:
            flows.append(None)
            continue
        parent_shape = parent.grad_shape
        if parent_shape == shape:
            flows.append(grad if sign > 0 else Rows(grad.index, -grad.values))
        elif parent_shape and parent_shape[-1] == shape[-1] and prod(parent_shape[:-1]) == 1:
            total = grad.values.sum(axis=0)
            flows.append((total if sign > 0 else -total).reshape(parent_shape))
        else:
            return None
    return flows


def _mul_rows(ctx: Any, grad: Rows, wanted: tuple[bool, ...]) -> list[Any] | None:
    """mul: each input of the output's shape gets the rows times the other input's (same rows, or broadcast)."""
    x, y = ctx.saved_tensors
    shape = ctx.grad_shape
    flows: list[Any] = []
    for parent, want, other in zip(ctx.parents, wanted, (y, x)):
        if not want:
            flows.append(None)
            continue
        if parent.grad_shape != shape:
            return None
        if np.shape(other) == shape:
            flows.append(Rows(grad.index, grad.values * _rows_of_flat(other, grad)))
        elif np.ndim(other) == 0 or (np.shape(other)[-1] == shape[-1] and prod(np.shape(other)[:-1]) == 1):
            flows.append(Rows(grad.index, grad.values * np.reshape(other, (-1,) if np.ndim(other) else ())))
        else:
            return None
    return flows


def _matmul_rows(ctx: Any, grad: Rows, wanted: tuple[bool, ...]) -> list[Any] | None:
    """x @ y for a matrix y: x gets rows of G y^T, and y gets x[rows]^T G[rows], a GEMM over those rows alone
    (kept as its factors, so that a transpose on the way to the parameter swaps them instead of striding)."""
    x, y = ctx.saved_tensors
    if y.ndim != 2 or x.ndim < 2:
        return None
    want_x, want_y = wanted
    return [Rows(grad.index, np.dot(grad.values, y.T)) if want_x else None,
            ProductGrad(_rows_of_flat(x, grad), grad.values) if want_y else None]


def _addmm_rows(ctx: Any, grad: Rows, wanted: tuple[bool, ...]) -> list[Any] | None:
    """c + x @ w: c as add's input, x and w as matmul's."""
    x, w = ctx.saved_tensors
    if x.ndim < 2:
        return None
    bias = _sum_rows(ctx, grad, (wanted[0], False), (1, 1))
    if bias is None:
        return None
    _, want_x, want_w = wanted
    return [bias[0], Rows(grad.index, np.dot(grad.values, w.T)) if want_x else None,
            ProductGrad(_rows_of_flat(x, grad), grad.values) if want_w else None]


ROW_RULES: dict[str, Callable[[Any, Rows, tuple[bool, ...]], list[Any] | None]] = {
    "reshape": _reshape_rows,
    "getitem": _getitem_rows,
    "add": lambda ctx, grad, wanted: _sum_rows(ctx, grad, wanted, (1, 1)),
    "sub": lambda ctx, grad, wanted: _sum_rows(ctx, grad, wanted, (1, -1)),
    "mul": _mul_rows,
    "matmul": _matmul_rows,
    "addmm": _addmm_rows,
}
"""Op name -> how a gradient held as rows goes through it (None: it cannot, make it dense); every other op gets
it dense."""
