"""Gradient flow over training: ||dL/dh_t|| for every layer, direction and step, recorded as a model trains.

    rec = analysis.FlowRecorder(model, every=50)
    for batch in batches:
        optimizer.zero_grad()
        loss = ...
        rec.backward(loss)          # instead of loss.backward()
        rec.clip(max_norm=1.0)      # optional, instead of nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    rec.save("out/flow.npz")

Every `every`-th call of `backward` (the first included) is recorded: hooks on the hidden states read each
gradient's norm as the backward passes it (and change nothing, so training is bit for bit as without the
recorder); the other calls are a plain `loss.backward()`. The snapshot is complete at the next `clip` (which
adds the norm after clipping), the next `backward`, or when `snapshots` or `save` is read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..graph import toposort
from ..tensor import Tensor
from .edges import watch
from .steps import hidden_states, lstm_cell_state, norm

__all__ = ["FlowRecorder", "FlowSnapshot", "load_flow"]

FORMAT = "tinygrad_rnn.flow"
VERSION = 1


@dataclass(frozen=True, eq=False)
class FlowSnapshot:
    """One recorded training step.

    step: the number of `backward` calls before this one (0 for the first); loss: its value;
    hidden: layer scope ("rnn.l0", "lstm.l1_reverse") -> (T,) ||dL/dh_t|| for t = 0..T-1 in time order;
    cell: the same for an LSTM's ||dL/dc_t|| (empty otherwise); grad_norm: the global 2-norm of the model's
    gradients after backward, before clipping; clipped_norm: after `FlowRecorder.clip` (None without it).
    """

    step: int
    loss: float
    hidden: dict[str, np.ndarray]
    cell: dict[str, np.ndarray]
    grad_norm: float
    clipped_norm: float | None = None


class FlowRecorder:
    """Records ||dL/dh_t|| (and ||dL/dc_t||) per layer and step on every `every`-th call of `backward`."""

    def __init__(self, model: Any, every: int = 1) -> None:
        if not hasattr(model, "parameters"):
            raise TypeError(f"FlowRecorder: expected a model (a Module with parameters()), got {type(model).__name__}")
        if isinstance(every, bool) or not isinstance(every, (int, np.integer)) or every < 1:
            raise ValueError(f"FlowRecorder: every must be a whole number of at least 1, got {every!r}")
        self.model, self.every = model, int(every)
        self.calls = 0
        self._snapshots: list[FlowSnapshot] = []
        self._open: dict[str, Any] | None = None

    def backward(self, loss: Tensor) -> None:
        """loss.backward(), recording the gradient flow on every `every`-th call."""
        self._close()
        if not isinstance(loss, Tensor) or loss.data.size != 1:
            raise ValueError(f"FlowRecorder.backward: expected a one-element loss Tensor, got "
                             f"{type(loss).__name__} of shape {getattr(loss, 'shape', None)}")
        step, self.calls = self.calls, self.calls + 1
        if step % self.every:
            loss.backward()
            return
        order = toposort(loss)
        states = hidden_states(order)
        if not states:
            raise ValueError("FlowRecorder.backward: the loss's graph has no recurrent layer (no step scopes 't=<t>' "
                             "with hidden states); record a model built from nn.RNN/LSTM/GRU or cells run in step "
                             "scopes")
        hidden = {layer: np.zeros(len(nodes)) for layer, nodes in states.items()}
        cells = {layer: [lstm_cell_state(node) for node in nodes] for layer, nodes in states.items()}
        cell = {layer: np.zeros(len(nodes)) for layer, nodes in cells.items() if None not in nodes}
        removers = []
        for layer, nodes in states.items():
            for t, node in enumerate(nodes):
                removers.append(watch(node, _norm_into(hidden[layer], t)))
                if layer in cell:
                    removers.append(watch(cells[layer][t], _norm_into(cell[layer], t)))
        try:
            loss.backward()
        finally:
            for remove in removers:
                remove()
        self._open = {"step": step, "loss": float(loss.data.item()), "hidden": hidden, "cell": cell,
                      "grad_norm": self._grad_norm()}

    def clip(self, max_norm: float, norm_type: float = 2.0) -> float:
        """nn.utils.clip_grad_norm_(model.parameters(), max_norm, norm_type), noting the norm after clipping in
        the open snapshot; returns the total norm before clipping, as clip_grad_norm_ does."""
        from ..nn.utils import clip_grad_norm_

        total = clip_grad_norm_(self.model.parameters(), max_norm, norm_type)
        if self._open is not None:
            self._open["clipped_norm"] = self._grad_norm()
            self._close()
        return float(total)

    @property
    def snapshots(self) -> list[FlowSnapshot]:
        """The snapshots recorded so far, oldest first."""
        self._close()
        return list(self._snapshots)

    def save(self, path: Any) -> None:
        """Write the snapshots to an .npz (atomically: a crash never leaves half a file); `load_flow` reads it."""
        from ..serialization import save

        save({"format": FORMAT, "version": VERSION, "every": self.every,
              "snapshots": [_as_dict(snapshot) for snapshot in self.snapshots]}, path)

    @classmethod
    def load(cls, path: Any) -> list[FlowSnapshot]:
        """The snapshots saved at `path` (as `load_flow`)."""
        return load_flow(path)

    def _close(self) -> None:
        if self._open is not None:
            self._snapshots.append(FlowSnapshot(**self._open))
            self._open = None

    def _grad_norm(self) -> float:
        squares = sum(float(np.sum(np.square(p.grad, dtype=np.float64))) for p in self.model.parameters()
                      if p.grad is not None)
        return math.sqrt(squares)


def _norm_into(norms: np.ndarray, t: int) -> Any:
    def record(grad: Any) -> None:
        norms[t] = norm(grad)
    return record


def _as_dict(snapshot: FlowSnapshot) -> dict[str, Any]:
    return {"step": snapshot.step, "loss": snapshot.loss, "hidden": dict(snapshot.hidden), "cell": dict(snapshot.cell),
            "grad_norm": snapshot.grad_norm, "clipped_norm": snapshot.clipped_norm}


def load_flow(path: Any) -> list[FlowSnapshot]:
    """The snapshots a `FlowRecorder.save` wrote to `path`, oldest first."""
    from ..serialization import load

    content = load(path)
    if not (isinstance(content, dict) and content.get("format") == FORMAT):
        raise ValueError(f"load_flow: {path} is not a gradient-flow recording (saved by FlowRecorder.save)")
    if content.get("version") != VERSION:
        raise ValueError(f"load_flow: {path} is a flow recording of version {content.get('version')!r}; this "
                         f"version reads version {VERSION}")
    snapshots = []
    for index, item in enumerate(content.get("snapshots", [])):
        try:
            snapshots.append(FlowSnapshot(
                step=int(item["step"]), loss=float(item["loss"]),
                hidden={str(k): np.asarray(v, dtype=np.float64) for k, v in item["hidden"].items()},
                cell={str(k): np.asarray(v, dtype=np.float64) for k, v in item["cell"].items()},
                grad_norm=float(item["grad_norm"]),
                clipped_norm=None if item["clipped_norm"] is None else float(item["clipped_norm"])))
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise ValueError(f"load_flow: snapshot {index} in {path} is malformed ({error})") from None
    return snapshots
