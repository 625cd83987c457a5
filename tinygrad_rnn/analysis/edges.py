"""The gradient each edge of the graph carries: what an op sends back to each of its inputs.

`backward` sums what reaches a vertex and moves on; these functions ask an op again, while its saved arrays are
there (`retain_graph=True`, or from a hook during the backward), what it sends to each input. The renderer
draws these numbers on the edges, and the credit analyses sum them per time step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..gradients import LazyGrad
from ..graph import fit_gradient, op_backward, vertex
from ..mode import is_anomaly_enabled
from ..versions import check_inputs_unmodified


def input_gradients(node: Any, grad: Any = None) -> list[Any]:
    """The gradient the op that made `node` (a value or its vertex) sends to each of its inputs, as dense
    input-shaped arrays (None where nothing flows): what the renderer draws on each edge. Needs the output's
    gradient (backward with retain_grads=True, or given as `grad`) and the saved arrays (retain_graph=True)."""
    ctx = vertex(node)
    if not ctx.is_context:
        return []
    grad = ctx.grad if grad is None else grad
    if grad is None or ctx.saved_tensors is None:
        return [None] * len(ctx.parents)
    check_inputs_unmodified(ctx)
    grad = grad if isinstance(grad, np.ndarray) else np.float64(grad)  # a Value keeps a float
    return [flow.evaluate(parent.grad_shape) if isinstance(flow, LazyGrad) else flow
            for parent, flow in zip(ctx.parents, edge_gradients(ctx, grad))]


def edge_gradients(ctx: Any, grad: Any, wanted: Sequence[bool] | None = None) -> list[Any]:
    """What op context `ctx` sends to each input when its output's gradient is `grad`: input-shaped arrays, or
    the engine's lazy gradients (an `IndexedGrad`, a `ProductGrad`) left lazy; None where nothing flows or the
    input is not `wanted`. The op is told that only the wanted inputs need a gradient, so it skips the rest's work
    (as `needs_input_grad` lets every op do)."""
    needs = ctx.needs_input_grad
    if wanted is not None:
        ctx.needs_input_grad = tuple(need and want for need, want in zip(needs, wanted))
    try:
        grads = op_backward(ctx, grad)
    finally:
        ctx.needs_input_grad = needs
    anomaly = is_anomaly_enabled()
    flows: list[Any] = []
    for position, (parent, flow) in enumerate(zip(ctx.parents, grads)):
        if flow is None or not parent.requires_grad or (wanted is not None and not wanted[position]):
            flows.append(None)
        else:
            flows.append(fit_gradient(ctx, parent, flow, anomaly))
    return flows


def watch(node: Any, hook: Callable[[Any], None]) -> Callable[[], None]:
    """Call `hook(grad)` during the next backwards once the vertex of `node` has its whole gradient (before its op
    passes it on, so the op's saved arrays are still there); returns a function that removes the hook. The hook
    must not change the gradient: what it returns is ignored."""
    target = vertex(node)

    def observe(grad: Any) -> None:
        hook(grad)

    if target._hooks is None:
        target._hooks = []
    hooks = target._hooks
    hooks.append(observe)

    def remove() -> None:
        if observe in hooks:
            hooks.remove(observe)

    return remove
