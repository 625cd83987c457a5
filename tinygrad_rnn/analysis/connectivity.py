"""How far back a model's output depends on its input: the connectivity map M[t, s] = ||dy_t/dx_s||_F and its
horizon.

M is exact: one backward per output feature and step (reverse mode gives one row of the Jacobian per backward),
each serving every sequence of a batch at once, as sequences in a batch do not mix. For the linear recurrence
h_t = h_{t-1} W^T + x_t with W = s Q (Q orthogonal), dh_t/dx_s = (s Q)^(t-s) and M[t, s] = s^(t-s) sqrt(H).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..factories import stack
from ..graph import toposort
from ..tensor import Tensor
from .edges import watch

__all__ = ["connectivity", "horizon", "lag_profile"]


def connectivity(outputs: Any, inputs: Tensor, *, time_axis: int = 0, batched: bool | None = None) -> np.ndarray:
    """M[t, s] = ||d y_t / d x_s||_F for the outputs y (a Tensor with time on `time_axis`, or a list of per-step
    Tensors) of a model fed `inputs` x (a Tensor that requires grad, time on `time_axis`).

    Batched (the default for x of 3 or more dimensions: (T, B, ...), or (B, T, ...) with time_axis=1), each
    entry is the root mean square over the sequences of the per-sequence norm, so it does not grow with B.
    Returns (T_out, T_in). Leaves every `.grad` as it was; the graph stays (it is needed for every row).
    """
    if not isinstance(inputs, Tensor) or not inputs.requires_grad:
        raise ValueError(f"connectivity: inputs must be the Tensor the model read, made with requires_grad=True, "
                         f"got {type(inputs).__name__}" + (" that does not require grad" if isinstance(
                             inputs, Tensor) else ""))
    if time_axis not in (0, 1) or inputs.ndim < time_axis + 1:
        raise ValueError(f"connectivity: time_axis must be 0 or 1 (and an axis of the inputs, shape {inputs.shape}),"
                         f" got {time_axis!r}")
    steps_out = _per_step(outputs, time_axis)
    batched = inputs.ndim >= 3 if batched is None else batched
    batch = inputs.shape[1 - time_axis] if batched else None
    if batched and (inputs.ndim < 2 or any(y.ndim < 1 or y.shape[0] != batch for y in steps_out)):
        raise ValueError(f"connectivity: batched inputs of shape {inputs.shape} hold {batch} sequences, so each "
                         f"output step must start with that batch axis, got {[y.shape for y in steps_out][:3]}; "
                         "pass batched=False to treat the batch as features")
    for t, y in enumerate(steps_out):
        if not y.requires_grad:
            raise ValueError(f"connectivity: output step {t} (shape {y.shape}) does not depend on anything that "
                             "requires grad; are these the model's outputs for these inputs?")
    root = stack(steps_out) if not isinstance(outputs, Tensor) else outputs
    received: list[Any] = []
    remove = watch(inputs, received.append)
    kept = [(node, node.grad) for node in _leaves(root)]
    matrix = np.zeros((len(steps_out), inputs.shape[time_axis]))
    try:
        if batched and batch > 1:
            _check_independent(root, isinstance(outputs, Tensor), received, time_axis, len(steps_out))
        for t, y in enumerate(steps_out):
            features = y.shape[1:] if batched else y.shape
            for index in np.ndindex(*features):
                seed = np.zeros(root.shape, dtype=root.dtype)
                seed[_seed_index(t, time_axis, isinstance(outputs, Tensor), (slice(None),) * bool(batched) + index)] = 1
                received.clear()
                root.backward(seed, retain_graph=True)
                if received:
                    grad = np.moveaxis(np.asarray(received[-1], dtype=np.float64), time_axis, 0)
                    matrix[t] += (grad.reshape(grad.shape[0], -1) ** 2).sum(axis=1)
    finally:
        remove()
        for node, grad in kept:
            node.grad = grad
    return np.sqrt(matrix / (batch if batched else 1))


def _per_step(outputs: Any, time_axis: int) -> list[Tensor]:
    """The outputs as a list of per-step Tensors."""
    if isinstance(outputs, Tensor):
        if outputs.ndim <= time_axis:
            raise ValueError(f"connectivity: outputs of shape {outputs.shape} have no time axis {time_axis}")
        return [outputs[(slice(None),) * time_axis + (t,)] for t in range(outputs.shape[time_axis])]
    if isinstance(outputs, Sequence) and outputs and all(isinstance(y, Tensor) for y in outputs):
        shapes = {y.shape for y in outputs}
        if len(shapes) != 1:
            raise ValueError(f"connectivity: the output steps must share one shape, got {sorted(shapes)}")
        return list(outputs)
    raise TypeError("connectivity: expected outputs as a Tensor with a time axis or a non-empty list of per-step "
                    f"Tensors, got {type(outputs).__name__}")


def _seed_index(t: int, time_axis: int, stacked_by_user: bool, within: tuple[Any, ...]) -> tuple[Any, ...]:
    """The index into the backward seed of element `within` (over the other axes) of output step t."""
    index = list(within)
    index.insert(time_axis if stacked_by_user else 0, t)
    return tuple(index)


def _leaves(root: Tensor) -> list[Any]:
    """The vertices whose `.grad` a backward from `root` changes (leaves, and nodes that retain theirs)."""
    return [node for node in toposort(root) if not node.is_context or node._retains_grad]


def _check_independent(root: Tensor, stacked_by_user: bool, received: list[Any], time_axis: int,
                       steps: int) -> None:
    """Spot check that the batch's sequences do not mix: seed the last step's output of sequence 0 alone."""
    seed = np.zeros(root.shape, dtype=root.dtype)
    seed[_seed_index(steps - 1, time_axis, stacked_by_user, (0,))] = 1
    received.clear()
    root.backward(seed, retain_graph=True)
    if received and np.any(np.moveaxis(np.asarray(received[-1]), 1 - time_axis, 0)[1:] != 0):
        raise ValueError("connectivity: the sequences of the batch are not independent (the output of sequence 0 "
                         "depends on the inputs of another: a batch statistic?), so one backward cannot serve them "
                         "all; pass batched=False to measure the whole batch as one sample")


def lag_profile(M: Any) -> np.ndarray:
    """p[d] = mean over t of M[t, t - d] for each lag d = 0 .. T-1 (the d-th subdiagonal's mean)."""
    matrix = _check_map(M, "lag_profile")
    return np.array([np.diagonal(matrix, offset=-lag).mean() for lag in range(matrix.shape[0])])


def horizon(M: Any, fraction: float = 0.01) -> int:
    """The largest lag d at which the connectivity map is still at least `fraction` of its diagonal: the largest d
    with mean_t M[t, t-d] >= fraction * mean_t M[t, t]. Lags count into the past (t >= s)."""
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float, np.floating)) or not 0 < fraction <= 1:
        raise ValueError(f"horizon: fraction must be a number in (0, 1], got {fraction!r}")
    profile = lag_profile(M)
    if profile[0] <= 0:
        raise ValueError("horizon: the map's diagonal is zero (no output depends on the input of its own step), so "
                         "there is nothing to measure a fraction of; look at lag_profile(M) instead")
    return int(np.flatnonzero(profile >= fraction * profile[0]).max())


def _check_map(M: Any, caller: str) -> np.ndarray:
    matrix = np.asarray(M, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.size == 0:
        raise ValueError(f"{caller}: expected a square connectivity map (T, T) such as connectivity(...) returns "
                         f"for outputs and inputs of T steps each, got shape {matrix.shape}")
    if not np.all(np.isfinite(matrix)) or np.any(matrix < 0):
        raise ValueError(f"{caller}: a connectivity map holds norms: finite and at least 0")
    return matrix
