"""The gradients a picture shows, computed by the picture itself: d root/d every vertex, and what each op sends
back to each input (the number on each edge).

The renderer runs its own backward over the kept graph, calling each op's backward as the engine does
and summing into a dict of its own: the user's `.grad` values are never touched, so drawing before or after
`loss.backward(retain_graph=True)` shows the same true gradients. A graph that a plain `backward()` already
freed cannot be walked again; the error says how to keep it. Hooks are not run (they belong to the user's
backward): the picture shows the gradients of the ops alone.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import GraphError
from ..gradients import LazyGrad
from ..graph import fit_gradient, op_backward
from ..mode import is_anomaly_enabled
from ..versions import check_unmodified

FREED = ("the graph was freed by a backward() without retain_graph=True, so the gradient along each edge "
         "can no longer be computed; draw before calling backward() (the picture computes its own gradients and "
         "leaves .grad alone), call loss.backward(retain_graph=True), or pass show_grad=False for the structure "
         "alone")


class GradientsUnavailableError(GraphError):
    """The picture was asked to show gradients that the graph can no longer give (a freed graph)."""


class Flow:
    """`grad[id(vertex)]`: d root/d vertex (float64); `sent[id(ctx)]`: what the op sends to each input."""

    __slots__ = ("grad", "sent")

    def __init__(self) -> None:
        self.grad: dict[int, np.ndarray] = {}
        self.sent: dict[int, list[np.ndarray | None]] = {}


def is_freed(order: list[Any]) -> bool:
    """True when some op of the graph no longer holds what its backward reads."""
    return any(node.is_context and node.saved_tensors is None for node in order)


def compute_flow(root: Any, order: list[Any], caller: str) -> Flow:
    """Backward from `root` (seeded with ones, i.e. the gradient of root.sum()) over `order` (toposort of the
    root's vertex, every input included), into a `Flow`; the graph and every `.grad` stay as they were.

    The loop is the engine's (each op's backward, its gradients fitted to the inputs' shapes, lazy ones made
    dense) without its bookkeeping per op: values changed in place are checked once for the whole graph."""
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
    anomaly = is_anomaly_enabled()
    data = root.data
    pending: dict[int, Any] = {id(top): np.ones_like(data) if isinstance(data, np.ndarray) else np.float64(1.0)}
    grads, sent_by = flow.grad, flow.sent
    for node in reversed(order):
        grad = pending.pop(id(node), None)
        if grad is None:
            continue
        if grad.dtype != np.float64:
            grad = grad.astype(np.float64)
        grads[id(node)] = grad
        if not node.is_context:
            continue
        try:
            returned = op_backward(node, grad)
            sent = []
            for parent, flow_back in zip(node.parents, returned):
                if flow_back is None or not parent.requires_grad:
                    sent.append(None)
                    continue
                if isinstance(flow_back, LazyGrad):
                    flow_back.check(parent.grad_shape, node)
                    flow_back = flow_back.evaluate(parent.grad_shape)
                if anomaly or getattr(flow_back, "shape", None) != parent.grad_shape:
                    flow_back = fit_gradient(node, parent, flow_back, anomaly)
                sent.append(flow_back)
                key = id(parent)
                previous = pending.get(key)
                pending[key] = flow_back if previous is None else previous + flow_back
        except GraphError as error:
            raise GraphError(f"{caller}: {error}") from None
        sent_by[id(node)] = sent
    return flow
