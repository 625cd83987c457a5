"""Real-time recurrent learning (Williams & Zipser 1989): a recurrent cell's gradient computed online, forward in
time, beside the backward sweep of BPTT.

For h_t = f(h_{t-1}, x_t; theta) and L = sum_t l_t(h_t), carry the sensitivity S_t = d h_t/d theta (H x P) along:

    S_t = (d f/d h_{t-1}) S_{t-1} + d f/d theta,        dL/d theta = sum_t (d l_t/d h_t) S_t

Each step is one pass of forward mode (forward_mode.py) with the P parameters as its directions: the state carries
S_{t-1} as its tangents, each parameter the one-hot directions of its own entries, so the step's outputs carry S_t
and the loss carries d l_t/d theta. (An LSTM carries d c_t/d theta beside d h_t/d theta.) No past step is kept:
memory is the sensitivities, H P per sequence in the batch, plus a pass's one-hot tangents, whatever T; BPTT keeps
every step, O(T H). The price is time: a step costs about P directions' worth of arithmetic, not BPTT's two.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..forward_mode import forward_mode
from ..mode import no_grad
from ..tensor import Tensor

__all__ = ["rtrl_gradient"]

ONE_HOT_BUDGET = 1 << 20
"""Elements of one-hot parameter tangents a pass may hold; more directions are split over several passes."""


def rtrl_gradient(cell: Any, xs: Tensor | Sequence[Tensor], loss_fn: Callable[[Tensor, int], Tensor],
                  h0: Tensor | tuple[Tensor, Tensor] | None = None, *,
                  directions_per_pass: int | None = None) -> dict[str, np.ndarray]:
    """dL/d theta for every parameter of `cell`, L = sum_t loss_fn(h_t, t), by real-time recurrent learning: the
    BPTT gradient, computed forward in time with memory that does not grow with T.

    cell: an RNNCell, LSTMCell or GRUCell (any module with their contract: cell(x, state) -> h, or (h, c));
    xs: (T, N, input_size) or (T, input_size), or a sequence of T inputs; h0: the first state (None: zeros; an
    LSTM's is (h0, c0)). loss_fn(h_t, t) gives the one-element loss read at step t. `directions_per_pass` splits
    the P parameter directions over passes (default: as many as keep the one-hot tangents within ONE_HOT_BUDGET).
    Returns {parameter name: gradient}, as `cell.named_parameters()` names them.
    """
    named = list(cell.named_parameters())
    if not named:
        raise ValueError(f"rtrl_gradient: {type(cell).__name__} has no parameters to differentiate")
    sizes = [parameter.data.size for _, parameter in named]
    offsets = np.cumsum([0, *sizes])
    count = int(offsets[-1])
    per_pass = directions_per_pass or max(1, min(count, ONE_HOT_BUDGET // count))
    if not isinstance(per_pass, int) or per_pass < 1:
        raise ValueError(f"rtrl_gradient: directions_per_pass must be a positive integer, got {directions_per_pass!r}")
    steps = len(xs)
    if steps == 0:
        raise ValueError("rtrl_gradient: xs holds no time steps")
    gradient = np.zeros(count, dtype=named[0][1].dtype)
    state, sensitivities = h0, None  # d state/d theta: zero at the first state
    for step in range(steps):  # one input at a time: nothing of length T is made
        x = xs[step]
        x = Tensor(x.data) if isinstance(x, Tensor) else Tensor(x)
        next_state, next_sensitivities = None, None
        for start in range(0, count, per_pass):
            stop = min(count, start + per_pass)
            with no_grad(), forward_mode(directions=stop - start) as tangents:
                for (_, parameter), offset, size in zip(named, offsets, sizes):
                    _attach_one_hot(tangents, parameter, start, stop, int(offset), size)
                state_nodes = _state_nodes(state, sensitivities, tangents, start, stop)
                output = cell(x, state_nodes) if state_nodes is not None else cell(x)
                outputs = output if isinstance(output, tuple) else (output,)
                loss = loss_fn(outputs[0], step)
                if not isinstance(loss, Tensor) or loss.numel() != 1:
                    raise ValueError("rtrl_gradient: loss_fn(h_t, t) must return a one-element Tensor, got "
                                     f"{type(loss).__name__} of shape {getattr(loss, 'shape', None)}")
                gradient[start:stop] += tangents.of(loss).reshape(stop - start)
                if next_sensitivities is None:
                    next_sensitivities = [np.empty((count,) + node.shape, dtype=node.dtype) for node in outputs]
                for carried, node in zip(next_sensitivities, outputs):
                    carried[start:stop] = tangents.of(node)
            next_state = tuple(node.data for node in outputs)
        state = next_state if len(next_state) > 1 else next_state[0]
        sensitivities = next_sensitivities
    return {name: gradient[offset:offset + size].reshape(parameter.shape)
            for (name, parameter), offset, size in zip(named, offsets, sizes)}


def _attach_one_hot(tangents: forward_mode, parameter: Any, start: int, stop: int, offset: int, size: int) -> None:
    """Give `parameter` (entries offset..offset+size of theta) its one-hot tangents among directions start..stop."""
    low, high = max(start, offset), min(stop, offset + size)
    if low >= high:
        return
    one_hot = np.zeros((stop - start, size), dtype=parameter.dtype)
    one_hot[np.arange(low - start, high - start), np.arange(low - offset, high - offset)] = 1
    tangents.attach(parameter, one_hot.reshape((stop - start,) + parameter.shape))


def _state_nodes(state: Any, sensitivities: list[np.ndarray] | None, tangents: forward_mode, start: int,
                 stop: int) -> Any:
    """The state as fresh Tensors carrying their sensitivities (directions start..stop) as tangents."""
    if state is None:
        return None
    parts = state if isinstance(state, tuple) else (state,)
    nodes = tuple(Tensor(part.data if isinstance(part, Tensor) else part) for part in parts)
    if sensitivities is not None:
        for node, carried in zip(nodes, sensitivities):
            tangents.attach(node, carried[start:stop])
    return nodes if isinstance(state, tuple) else nodes[0]
