"""The gradient each edge of the graph carries: what an op sends back to each of its inputs.

`backward` sums what reaches a vertex and moves on; these functions ask an op again, after a backward that kept
the graph (`retain_graph=True`) and the outputs' gradients (`retain_grads=True`), what it sent to each input.
The renderer draws these numbers on the edges, and the credit analyses sum them per time step.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..gradients import LazyGrad
from ..graph import parent_gradients, vertex
from ..versions import check_inputs_unmodified


def input_gradients(node: Any) -> list[Any]:
    """The gradient the op that made `node` (a value or its vertex) sends to each of its inputs, as dense
    input-shaped arrays (None where nothing flows): what the renderer draws on each edge. Needs the output's
    gradient (backward with retain_grads=True) and the saved arrays (retain_graph=True)."""
    ctx = vertex(node)
    if not ctx.is_context:
        return []
    if ctx.grad is None or ctx.saved_tensors is None:
        return [None] * len(ctx.parents)
    check_inputs_unmodified(ctx)
    grad = ctx.grad if isinstance(ctx.grad, np.ndarray) else np.float64(ctx.grad)  # a Value keeps a float
    return [grad.evaluate(parent.grad_shape) if isinstance(grad, LazyGrad) else grad
            for parent, grad in zip(ctx.parents, parent_gradients(ctx, grad))]
