"""Gate paths: how the gradient of an LSTM's cell state and a GRU's hidden state reaches the step before.

LSTM: c_t = f_t c_{t-1} + i_t g_t and h_t = o_t tanh(c_t), so dL/dc_t is the sum of
    carousel         f_{t+1} * dL/dc_{t+1}                  (the next step's forget gate: the constant error carousel)
    through_hidden   dL/dh_t * o_t * (1 - tanh(c_t)^2)      (through h_t, into the gates and outputs)
    other            whatever else reads c_t (the returned c_n).
GRU (PyTorch's gates): h_t = (1 - z_t) n_t + z_t h_{t-1}, so dL/dh_t is the sum of
    direct           z_{t+1} * dL/dh_{t+1}                  (the interpolation path; in the convention
                                                            h_t = (1 - z_t) h_{t-1} + z_t n_t it is the (1 - z) path)
    through_gates    through the next step's h W_hh^T (its r, z and candidate)
    other            the step's output (the loss, a readout, the next layer) and the returned h_n.
Each part is read off its own edge of the graph; their sum is the engine's dL/dc_t (dL/dh_t). Also per step:
each gate's mean activation and the fraction of its units that are saturated (|activation'| < 0.01).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .edges import edge_gradients, watch
from .steps import graph_of, hidden_states, layer_of, lstm_cell_state, step_of

__all__ = ["GatePaths", "gate_paths"]

SATURATED = 0.01
"""A unit is saturated when the derivative of its gate's activation is below this (sigmoid' = s(1 - s) < 0.01
means s < 0.0102 or s > 0.9898)."""


@dataclass(frozen=True, eq=False)
class GatePaths:
    """The split of one recurrent layer's state gradient, step by step (arrays (T, *state shape), time order).

    kind: "lstm" (the state is the cell c_t; parts carousel, through_hidden, other) or "gru" (the hidden h_t;
    parts direct, through_gates, other); total: the engine's gradient of the state, the parts' sum.
    gate_means / saturation: gate name -> (T,) mean activation / fraction of units with |activation'| < 0.01.
    """

    layer: str
    kind: str
    steps: np.ndarray
    parts: dict[str, np.ndarray]
    total: np.ndarray
    gate_means: dict[str, np.ndarray] = field(default_factory=dict)
    saturation: dict[str, np.ndarray] = field(default_factory=dict)

    def norms(self, part: str) -> np.ndarray:
        """(T,): the 2-norm of a part (or of "total") at each step."""
        array = self.total if part == "total" else self._part(part)
        return np.sqrt((array.reshape(len(self.steps), -1) ** 2).sum(axis=1))

    def share(self, part: str, weighted: bool = False) -> float:
        """A part's share of the gradient: at each step its norm over the sum of the parts' norms, averaged over the
        steps that receive any gradient (so the large last steps do not outweigh the faded early ones); with
        `weighted`, the sum over steps of its norm over that of all parts' norms instead."""
        mine, whole = self.norms(part), sum(self.norms(name) for name in self.parts)
        if weighted:
            return float(mine.sum() / whole.sum()) if whole.sum() > 0 else 0.0
        reached = whole > 0
        return float(np.mean(mine[reached] / whole[reached])) if np.any(reached) else 0.0

    def _part(self, part: str) -> np.ndarray:
        if part not in self.parts:
            raise KeyError(f"gate paths of {self.layer} ({self.kind}): no part {part!r}; the parts are "
                           f"{', '.join(self.parts)} (and 'total')")
        return self.parts[part]


def gate_paths(loss: Any, *, retain_graph: bool = False) -> dict[str, GatePaths]:
    """The gate paths of every LSTM and GRU layer (and cell run in step scopes) behind `loss`: layer scope name
    ("lstm.l0", "gru.l1_reverse") -> GatePaths. Runs one backward (the graph is freed unless `retain_graph`);
    every `.grad` is left as it was."""
    order = graph_of(loss, "gate_paths")
    layers = []
    for layer, states in hidden_states(order).items():
        if all(lstm_cell_state(h) is not None for h in states):
            layers.append((layer, "lstm", [_lstm_step(h) for h in states]))
        elif all(_gru_step(h) is not None for h in states):
            layers.append((layer, "gru", [_gru_step(h) for h in states]))
    if not layers:
        raise ValueError("gate_paths: the graph has no LSTM or GRU steps (found no step scope 't=<t>' whose state "
                         "is made as an LSTM's c_t = f c + i g or a GRU's h_t = n + z (h - n)); gate paths need a "
                         "gated layer such as nn.LSTM or nn.GRU")
    readers: dict[int, list[tuple[Any, int]]] = {}
    for node in order:
        if node.is_context:
            for position, parent in enumerate(node.parents):
                readers.setdefault(id(parent), []).append((node, position))
    captured: dict[tuple[int, str], list[np.ndarray]] = {}
    removers = []
    plans = []
    for layer, kind, steps in layers:
        states = [step["state"] for step in steps]
        plans.append((layer, kind, steps, states))
        for state in states:
            removers.append(watch(state, _keep(captured, (id(state), "total"))))
            for reader, position in readers.get(id(state), []):
                part = _classify(kind, reader, state, layer)
                removers.append(watch(reader, _edge(captured, (id(state), part), reader, position)))
    kept = [(node, node.grad) for node in order if not node.is_context or node._retains_grad]
    gates = {layer: _gate_values(kind, steps) for layer, kind, steps, _ in plans}  # before backward frees them
    try:
        loss.backward(retain_graph=retain_graph)
    finally:
        for remove in removers:
            remove()
        for node, grad in kept:
            node.grad = grad
    results = {}
    names = {"lstm": ("carousel", "through_hidden", "other"), "gru": ("direct", "through_gates", "other")}
    for layer, kind, _, states in plans:
        shape = states[0].grad_shape
        parts = {name: np.stack([_summed(captured.get((id(state), name)), shape) for state in states])
                 for name in names[kind]}
        total = np.stack([_summed(captured.get((id(state), "total")), shape) for state in states])
        means, saturation = gates[layer]
        results[layer] = GatePaths(layer, kind, np.array([step_of(state.scope) for state in states]), parts, total,
                                   means, saturation)
    return results


def _lstm_step(hidden: Any) -> dict[str, Any]:
    """The vertices of one LSTM step, from h_t = o * tanh(c_t), c_t = f * c_{t-1} + i * g."""
    cell = lstm_cell_state(hidden)
    forget_product, input_product = cell.parents
    return {"state": cell, "i": input_product.parents[0], "f": forget_product.parents[0],
            "g": input_product.parents[1], "o": hidden.parents[0]}


def _gru_step(hidden: Any) -> dict[str, Any] | None:
    """The vertices of one GRU step, from h_t = lerp(n, h_{t-1}, z) = n + z * (h_{t-1} - n) (None if h_t is not
    made so)."""
    from ..graph import vertex

    hidden = vertex(hidden)
    if not (hidden.is_context and hidden.name == "lerp" and len(hidden.parents) == 3):
        return None
    candidate, _, update = hidden.parents
    if not (candidate.is_context and candidate.name == "tanh" and update.is_context and update.name == "getitem"
            and update.parents[0].is_context and update.parents[0].name == "sigmoid"):
        return None
    return {"state": hidden, "reset_update": update.parents[0], "n": candidate}


def _classify(kind: str, reader: Any, state: Any, layer: str) -> str:
    """Which part of the state's gradient the edge from `reader` carries."""
    other_step = layer_of(reader.scope) == layer and step_of(reader.scope) != step_of(state.scope)
    if kind == "lstm":
        if other_step and reader.name == "mul" and reader.parents[1] is state and reader.parents[0].name == "sigmoid":
            return "carousel"
        if reader.name == "tanh" and reader.scope == state.scope:
            return "through_hidden"
        return "other"
    if other_step and reader.name == "lerp" and reader.parents[1] is state:
        return "direct"
    if other_step and reader.name in ("matmul", "addmm"):
        return "through_gates"
    return "other"


def _keep(captured: dict, key: tuple[int, str]) -> Any:
    def keep(grad: Any) -> None:
        captured.setdefault(key, []).append(np.array(grad, dtype=np.float64))
    return keep


def _edge(captured: dict, key: tuple[int, str], reader: Any, position: int) -> Any:
    wanted = tuple(index == position for index in range(len(reader.parents)))

    def edge(grad: Any) -> None:
        flow = edge_gradients(reader, grad, wanted)[position]
        if flow is not None:
            shape = reader.parents[position].grad_shape
            dense = flow.evaluate(shape) if hasattr(flow, "evaluate") else flow
            captured.setdefault(key, []).append(np.array(dense, dtype=np.float64))
    return edge


def _summed(arrays: list[np.ndarray] | None, shape: tuple[int, ...]) -> np.ndarray:
    return np.zeros(shape) if not arrays else np.sum(arrays, axis=0)


def _gate_values(kind: str, steps: list[dict[str, Any]]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per-step mean activation and saturated fraction of each gate, from the activations the ops saved."""
    values: dict[str, list[np.ndarray]] = {}
    for step in steps:
        if kind == "lstm":
            activations = {name: step[name].saved_tensors[0] for name in ("i", "f", "g", "o")}
        else:
            both = step["reset_update"].saved_tensors[0]
            size = both.shape[-1] // 2
            activations = {"r": both[..., :size], "z": both[..., size:], "n": step["n"].saved_tensors[0]}
        for name, activation in activations.items():
            values.setdefault(name, []).append(np.asarray(activation, dtype=np.float64))
    squashed = {"g", "n"}  # tanh gates; the rest are sigmoids
    means = {name: np.array([a.mean() for a in arrays]) for name, arrays in values.items()}
    saturation = {name: np.array([np.mean((1 - a ** 2 if name in squashed else a * (1 - a)) < SATURATED)
                                  for a in arrays]) for name, arrays in values.items()}
    return means, saturation
