"""The gradient each edge of the graph carries: what an op sends back to each of its inputs.

`backward` sums what reaches a vertex and moves on; these functions ask an op again, after a backward that kept
the graph (`retain_graph=True`) and the outputs' gradients (`retain_grads=True`), what it sent to each input.
The renderer draws these numbers on the edges, and the credit analyses sum them per time step.
"""

from __future__ import annotations

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
    anomaly = is_anomaly_enabled()
    flows: list[Any] = []
    for parent, flow in zip(ctx.parents, op_backward(ctx, grad)):
        if flow is not None and parent.requires_grad:
            flow = fit_gradient(ctx, parent, flow, anomaly)
            flow = flow.evaluate(parent.grad_shape) if isinstance(flow, LazyGrad) else flow
        flows.append(flow if parent.requires_grad else None)
    return flows
