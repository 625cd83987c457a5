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

from ..analysis.edges import input_gradients
from .units import Unit

MAX_SEEDS = 40_000
"""Backward passes through one step each (state size x steps) above which the factors are not computed."""


def step_factors(units: list[Unit], hidden: set[int], layers: dict[str, list[int]]) -> dict[str, dict[int, float]]:
    """layer -> {t: ||d s_t / d s_prev||_2} for every step that follows another (in the order the layer ran)."""
    by_step: dict[tuple[str, int], list[Unit]] = {}
    states: dict[tuple[str, int], list[Any]] = {}
    initial: dict[str, list[Any]] = {}
    for index, unit in enumerate(units):
        if unit.step is not None and unit.kind == "op":
            by_step.setdefault(unit.step, []).append(unit)
        if index in hidden:
            if unit.step is not None and unit.kind != "op":
                states.setdefault(unit.step, []).append(unit.node)
            elif unit.step is None:
                layer = next((u.step[0] for u in units if index in u.parents and u.step), None)
                if layer is not None:
                    initial.setdefault(layer, []).append(unit)
    seeds = sum(int(np.prod(node.grad_shape)) for nodes in states.values() for node in nodes)
    if seeds > MAX_SEEDS:
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
    """Spectral norm of d(outputs)/d(inputs) through the contexts `step` (in topological order) alone."""
    members = {id(ctx) for ctx in step}
    offsets: dict[int, int] = {}
    total = 0
    for node in inputs:
        offsets[id(node)] = total
        total += int(np.prod(node.grad_shape))
    rows = []
    for output in outputs:
        size = int(np.prod(output.grad_shape))
        for element in range(size):
            seed = np.zeros(output.grad_shape)
            seed.flat[element] = 1.0
            pending: dict[int, Any] = {id(output): seed}
            row = np.zeros(total)
            for ctx in reversed(step):
                grad = pending.pop(id(ctx), None)
                if grad is None:
                    continue
                for parent, sent in zip(ctx.parents, input_gradients(ctx, grad)):
                    if sent is None:
                        continue
                    if id(parent) in offsets:
                        start = offsets[id(parent)]
                        row[start:start + sent.size] += np.ravel(sent)
                    elif id(parent) in members:
                        before = pending.get(id(parent))
                        pending[id(parent)] = sent if before is None else before + sent
            rows.append(row)
    return float(np.linalg.norm(np.array(rows), 2))
