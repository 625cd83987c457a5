"""The per-step factor of the vanishing gradient, read from the graph: ||d s_t / d s_{t-1}||_2, the spectral norm of
the local Jacobian of one step's state s_t (h_t, and c_t for an LSTM, every batch row) with respect to the
previous step's. For a tanh RNN it is ||diag(1 - h_t^2) W_hh||, for any cell what its own ops say: each row
is one backward pass through that step's ops alone, seeded with a unit vector at one element of s_t.

dL/ds_{t-1} = (d s_t / d s_{t-1})^T dL/ds_t, so ||dL/dh_t|| shrinks or grows along the chain by at most these
factors, step by step (Pascanu, Mikolov & Bengio 2013).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..gradients import LazyGrad
from ..graph import fit_gradient, op_backward
from .units import Unit

MAX_OP_BACKWARDS = 300_000
"""Op backward calls (state size x ops per step, summed over the steps) above which the factors are not
computed: about a second and a half; a 1,000-step LSTM of hidden size 3 needs 78,000."""


def step_factors(units: list[Unit], hidden: set[int], layers: dict[str, list[int]]) -> dict[str, dict[int, float]]:
    """layer -> {t: ||d s_t / d s_prev||_2} for every step that follows another (in the order the layer ran)."""
    by_step: dict[tuple[str, int], list[Unit]] = {}
    states: dict[tuple[str, int], list[Any]] = {}
    for index, unit in enumerate(units):
        if unit.step is not None and unit.kind == "op":
            by_step.setdefault(unit.step, []).append(unit)
        if index in hidden and unit.step is not None and unit.kind != "op":
            states.setdefault(unit.step, []).append(unit.node)
    work = sum(int(np.prod(node.grad_shape)) * len(by_step.get(step, ())) for step, nodes in states.items()
               for node in nodes)
    if work > MAX_OP_BACKWARDS:
        return {}
    factors: dict[str, dict[int, float]] = {}
    for layer, order in layers.items():
        found: dict[int, float] = {}
        for previous, t in zip(order, order[1:]):
            outputs, inputs = states.get((layer, t), []), states.get((layer, previous), [])
            if outputs and inputs:
                found[t] = _local_norm([unit.node for unit in by_step[(layer, t)]], outputs, inputs)
        factors[layer] = found
    return factors


def _local_norm(step: list[Any], outputs: list[Any], inputs: list[Any]) -> float:
    """Spectral norm of d(outputs)/d(inputs) through the contexts `step` (in topological order) alone: one
    backward pass per element of the outputs, each op asked only for the gradients of its inputs that lead
    back to `inputs` (a weight's gradient is never computed)."""
    offsets: dict[int, int] = {}
    total = 0
    for node in inputs:
        offsets[id(node)] = total
        total += int(np.prod(node.grad_shape))
    reaches = set(offsets)  # vertices from which `inputs` can be reached inside the step
    plan = []
    for ctx in step:
        wanted = tuple(id(parent) in reaches for parent in ctx.parents)
        if any(wanted):
            reaches.add(id(ctx))
            asked = tuple(need and want for need, want in zip(ctx.needs_input_grad, wanted))
            plan.append((ctx, wanted, asked))
    plan.reverse()
    rows = []
    for output in outputs:
        if id(output) not in reaches:
            rows.append(np.zeros((int(np.prod(output.grad_shape)), total)))
            continue
        for element in range(int(np.prod(output.grad_shape))):
            seed = np.zeros(output.grad_shape)
            seed.flat[element] = 1.0
            pending: dict[int, Any] = {id(output): seed}
            row = np.zeros(total)
            for ctx, wanted, asked in plan:
                grad = pending.pop(id(ctx), None)
                if grad is None:
                    continue
                for parent, sent in zip(ctx.parents, _wanted_gradients(ctx, grad, wanted, asked)):
                    if sent is None:
                        continue
                    key = id(parent)
                    start = offsets.get(key)
                    if start is not None:
                        row[start:start + sent.size] += np.ravel(sent)
                    else:
                        before = pending.get(key)
                        pending[key] = sent if before is None else before + sent
            rows.append(row[None])
    return float(np.linalg.norm(np.concatenate(rows), 2))


def _wanted_gradients(ctx: Any, grad: Any, wanted: tuple[bool, ...], asked: tuple[bool, ...]) -> list[Any]:
    """What the op of `ctx` sends to the inputs marked `wanted`, dense and of the inputs' shapes (None for the
    rest): the op is told (`asked`: its needs_input_grad and wanted) that the others need no gradient, so it
    skips their work."""
    needs = ctx.needs_input_grad
    ctx.needs_input_grad = asked
    try:
        returned = op_backward(ctx, grad)
    finally:
        ctx.needs_input_grad = needs
    sent: list[Any] = []
    for parent, flow, want in zip(ctx.parents, returned, wanted):
        if flow is None or not want or not parent.requires_grad:
            sent.append(None)
            continue
        shape = parent.grad_shape
        if isinstance(flow, LazyGrad):
            flow.check(shape, ctx)
            flow = flow.evaluate(shape)
        elif getattr(flow, "shape", None) != shape:
            flow = fit_gradient(ctx, parent, flow)
        sent.append(flow)
    return sent
