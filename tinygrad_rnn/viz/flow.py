"""The gradients a picture shows, computed by the picture itself: d root/d every vertex, and what each op sends
back to each input (the number on each edge).

The renderer runs its own backward over the kept graph, calling each op's backward as the engine does
and summing into a dict of its own: the user's `.grad` values are never touched, so drawing before or after
`loss.backward(retain_graph=True)` shows the same true gradients. A graph that a plain `backward()` already
freed cannot be walked again; the error says how to keep it. Hooks are not run (they belong to the user's
backward): the picture shows the gradients of the ops alone.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import GraphError
from ..gradients import Accumulator, LazyGrad
from ..graph import fit_gradient, op_backward
from ..mode import is_anomaly_enabled
from ..versions import check_unmodified

FREED = ("the graph was freed by a backward() without retain_graph=True, so the gradient along each edge "
         "can no longer be computed; draw before calling backward() (the picture computes its own gradients and "
         "leaves .grad alone), call loss.backward(retain_graph=True), or pass show_grad=False for the structure "
         "alone")


class GradientsUnavailableError(GraphError):
    """The picture was asked to show gradients that the graph can no longer give (a freed graph)."""


FLOAT64 = np.dtype(np.float64)
Route = tuple[int, dict, Any]
"""Where one gradient is added: (-1 for the vertex's own gradient, or the input position of what its op sends
back), a dict, and the key in it. The picture's edges are such dicts, so only what is drawn is kept."""


class Flow:
    """`norm[id(vertex)]`: ||d root/d vertex||_2 in float64; `value[id(vertex)]`: the gradient itself when it has
    one element (a scalar's is drawn with its sign). Every other gradient is dropped once it has been passed on."""

    __slots__ = ("norm", "value")

    def __init__(self) -> None:
        self.norm: dict[int, float] = {}
        self.value: dict[int, float] = {}


def is_freed(order: list[Any]) -> bool:
    """True when some op of the graph no longer holds what its backward reads."""
    return any(node.is_context and node.saved_tensors is None for node in order)


def compute_flow(root: Any, order: list[Any], caller: str, routes: dict[int, list[Route]] | None = None,
                 measure: set[int] | None = None) -> Flow:
    """Backward from `root` (seeded with ones, i.e. the gradient of root.sum()) over `order` (toposort of the
    root's vertex, every input included): the norm of the gradient of every vertex in `measure` (ids; None:
    all), and each gradient `routes` asks for added (in float64) into the dict it names. The graph and every
    `.grad` stay as they were.

    The loop is the engine's (each op's backward, its gradients fitted to the inputs' shapes and summed in the
    engine's `Accumulator`) without its bookkeeping per op: values changed in place are checked once for the
    whole graph. It holds only the gradients still to be passed on, so its memory stays that of one backward."""
    if is_freed(order):
        raise GradientsUnavailableError(f"{caller}: {FREED}")
    flow = Flow()
    top = order[-1]
    if not top.requires_grad:
        return flow
    try:
        check_unmodified(order)
    except GraphError as error:
        raise GraphError(f"{caller}: {error}") from None
    routes = routes or {}
    anomaly = is_anomaly_enabled()
    data = root.data
    pending: dict[int, Any] = {id(top): np.ones_like(data) if isinstance(data, np.ndarray) else np.float64(1.0)}
    arrived: list[tuple[dict, Any, tuple[int, ...]]] = []  # what routes received, made dense at the end
    norms, values = flow.norm, flow.value
    for node in reversed(order):
        key = id(node)
        grad = pending.pop(key, None)
        if grad is None:
            continue
        if isinstance(grad, LazyGrad):
            grad = grad.evaluate(node.grad_shape)
        if measure is None or key in measure:
            wide = grad if grad.dtype is FLOAT64 else grad.astype(FLOAT64)
            if wide.size == 1:
                values[key] = float(wide.reshape(()))
                norms[key] = abs(values[key])
            else:
                flat = wide.reshape(-1)
                norms[key] = math.sqrt(float(np.dot(flat, flat)))
        routed = routes.get(key)
        if routed is not None:
            for position, into, name in routed:
                if position < 0:
                    _add(into, name, grad, node.grad_shape, arrived)
        if not node.is_context:
            continue
        try:
            returned = op_backward(node, grad)
            for position, (parent, flow_back) in enumerate(zip(node.parents, returned)):
                if flow_back is None or not parent.requires_grad:
                    continue
                shape = parent.grad_shape
                if isinstance(flow_back, LazyGrad):
                    flow_back.check(shape, node)
                    if anomaly:
                        flow_back = fit_gradient(node, parent, flow_back, anomaly)
                elif anomaly or getattr(flow_back, "shape", None) != shape:
                    flow_back = fit_gradient(node, parent, flow_back, anomaly)
                if routed is not None:
                    for wanted, into, name in routed:
                        if wanted == position:
                            _add(into, name, flow_back, shape, arrived)
                _add(pending, id(parent), flow_back, shape)
        except GraphError as error:
            raise GraphError(f"{caller}: {error}") from None
    for into, name, shape in arrived:
        grad = into[name]
        if isinstance(grad, LazyGrad):
            grad = grad.evaluate(shape)
        into[name] = grad if grad.dtype is FLOAT64 else grad.astype(FLOAT64)
    return flow


def _add(into: dict, name: Any, grad: Any, shape: tuple[int, ...], arrived: list | None = None) -> None:
    """into[name] += grad as the engine sums (an `Accumulator`: a slice's gradient scattered, never a full-size
    array per step; None there means nothing has arrived yet); `arrived` notes the first arrival."""
    previous = into.get(name)
    if previous is None:
        into[name] = grad
        if arrived is not None:
            arrived.append((into, name, shape))
    elif previous.__class__ is Accumulator:
        previous.add(grad, shape)
    else:
        into[name] = Accumulator(previous, grad, shape)
