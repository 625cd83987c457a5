"""RNN, LSTM and GRU over whole sequences: Python loops over time that call registry ops (BPTT comes free).

PyTorch's contract: arguments, parameter names and shapes (`weight_ih_l{k}`, `_reverse` suffix), gate order,
init, input layouts (L, N, I), (N, L, I) with batch_first, unbatched (L, I), a PackedSequence of sequences of
different lengths, and return values. Each layer projects its inputs a chunk of steps at a time (see
`nn.projections`), then runs its steps, each in the scope "<layer>/t=<t>" (see `step_scopes`); on a packed batch
step t runs on the rows of the sequences still running at t (see `ActiveRows`).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ..factories import cat, stack
from ..mode import scope, step_scopes
from ..ops import Expand
from ..tensor import Tensor
from . import functional
from .cells import (
    check_input,
    check_nonlinearity,
    check_state,
    gru_inputs,
    gru_step,
    gru_weights,
    lstm_step,
    recurrent_parameter,
    rnn_step,
)
from .module import Module, check_size, resolve_dtype
from .packed import ActiveRows
from .projections import Weights, folded_projection, projections_of
from .utils.rnn import PackedSequence


class RNNBase(Module):
    """What RNN, LSTM and GRU share: arguments, parameters, input and state checks, the layer/direction loop."""

    gate_count = 1

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 dtype: Any = None) -> None:
        super().__init__()
        name = type(self).__name__
        input_size = check_size(name, "input_size", input_size)
        hidden_size = check_size(name, "hidden_size", hidden_size, minimum=1)
        num_layers = check_size(name, "num_layers", num_layers, minimum=1)
        if not (isinstance(dropout, (int, float)) and 0.0 <= dropout <= 1.0):
            raise ValueError(f"{name}: dropout must be a probability in [0, 1], got {dropout!r}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(f"{name}: dropout={dropout} acts between layers, so it does nothing with num_layers=1",
                          stacklevel=2)
        dtype = resolve_dtype(dtype)
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional = bidirectional
        self.num_directions = 2 if bidirectional else 1
        rows = self.gate_count * hidden_size
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else hidden_size * self.num_directions
            shapes = {"weight_ih": (rows, layer_input), "weight_hh": (rows, hidden_size)}
            if bias:
                shapes.update(bias_ih=(rows,), bias_hh=(rows,))
            for suffix in self._suffixes():
                for kind, shape in shapes.items():
                    self.register_parameter(f"{kind}_l{layer}{suffix}", recurrent_parameter(shape, hidden_size, dtype))

    def _suffixes(self) -> tuple[str, ...]:
        return ("", "_reverse") if self.bidirectional else ("",)

    def _weights(self, layer: int, suffix: str) -> Weights:
        parameters = self._parameters
        key = f"l{layer}{suffix}"
        return (parameters[f"weight_ih_{key}"], parameters[f"weight_hh_{key}"],
                parameters.get(f"bias_ih_{key}"), parameters.get(f"bias_hh_{key}"))

    # ---- checks: of a tensor or a PackedSequence, and of the initial states ----------------------------------
    def _forward(self, input: Any, states: list[Any], names: tuple[str, ...]) -> tuple[Any, list[Tensor]]:
        """(output, final states [h_n [, c_n]]) of an input tensor or a PackedSequence, from initial `states`."""
        if isinstance(input, PackedSequence):
            return self._forward_packed(input, states, names)
        _, time_axis, batch = self._check_input(input)
        checked = [self._check_initial_state(state, batch, name) for state, name in zip(states, names)]
        return self._run(input, checked, time_axis, batch)

    def _forward_packed(self, input: PackedSequence, states: list[Any],
                        names: tuple[str, ...]) -> tuple[PackedSequence, list[Tensor]]:
        """As PyTorch: the initial states are given and the final states returned in the batch's own order,
        while the layers run on the batch sorted longest first (sorted_indices)."""
        name = type(self).__name__
        check_input(name, input.data, (2,), "2 dimensions (sum of lengths, input_size) in a PackedSequence's data",
                    self.input_size, self.weight_ih_l0.dtype)
        batch_sizes = input.batch_sizes.data
        batch = int(batch_sizes[0])
        checked = [self._check_initial_state(state, batch, state_name) for state, state_name in zip(states, names)]
        kind = name.lower()
        if input.sorted_indices is not None:
            with scope(kind):
                checked = [None if state is None else state[:, input.sorted_indices.data] for state in checked]
        output, finals = self._run(input.data, checked, 0, batch, batch_sizes.tolist())
        if input.unsorted_indices is not None:
            with scope(kind):
                finals = [final[:, input.unsorted_indices.data] for final in finals]
        return input._replace(data=output), finals

    def _check_input(self, input: Any) -> tuple[bool, int, int | None]:
        """(batched, time axis, batch size or None) after checking the input's type, rank, features and dtype."""
        name = type(self).__name__
        layout = "(batch, seq_len, input_size)" if self.batch_first else "(seq_len, batch, input_size)"
        check_input(name, input, (2, 3), f"3 dimensions {layout} or 2 dimensions (seq_len, input_size) unbatched",
                    self.input_size, self.weight_ih_l0.dtype)
        batched = input.ndim == 3
        time_axis = 1 if batched and self.batch_first else 0
        if input.shape[time_axis] == 0:
            raise ValueError(f"{name}: expected a sequence of at least one step, got shape {input.shape}")
        return batched, time_axis, (input.shape[1 - time_axis] if batched else None)

    def _check_initial_state(self, state: Any, batch: int | None, name: str) -> Tensor | None:
        """`state` (None, or of shape (num_layers * num_directions, [N,] H)) after checking shape and dtype."""
        if state is None:
            return None
        count = self.num_layers * self.num_directions
        shape = (count,) + (() if batch is None else (batch,)) + (self.hidden_size,)
        meaning = "num_layers * num_directions, " + ("" if batch is None else "batch, ") + "hidden_size"
        return check_state(type(self).__name__, name, state, shape, self.weight_ih_l0.dtype, meaning)

    # ---- the loop over layers and directions ---------------------------------------------------------------
    def _run(self, input: Tensor, states: list[Tensor | None], time_axis: int, batch: int | None,
             batch_sizes: list[int] | None = None) -> tuple[Tensor, list[Tensor]]:
        """Run every layer and direction from checked initial states (h_0 [, c_0]); returns output, [h_n [, c_n]].
        With batch_sizes, input is a packed sequence's data and so is the output."""
        length = input.shape[time_axis] if batch_sizes is None else len(batch_sizes)
        kind = type(self).__name__.lower()
        count = self.num_layers * self.num_directions
        with scope(kind):
            starts = [[None] * count if state is None else list(state) for state in states]
        finals: list[list[Tensor]] = [[] for _ in states]
        layer_input = input
        for layer in range(self.num_layers):
            directions = []
            for direction, suffix in enumerate(self._suffixes()):
                index = layer * self.num_directions + direction
                start = [self._zeros_if_none(kind_starts[index], batch) for kind_starts in starts]
                steps = range(length - 1, -1, -1) if direction else range(length)
                layer_name = f"{kind}.l{layer}{suffix}"
                rows = None if batch_sizes is None else ActiveRows(batch_sizes, start, reverse=direction == 1)
                outputs, ends = self._direction(layer_input, self._weights(layer, suffix), start, steps,
                                                time_axis, layer_name, rows)
                if direction:
                    outputs.reverse()
                with scope(layer_name):
                    if rows is None:
                        directions.append(stack(outputs, axis=time_axis))
                    else:
                        directions.append(cat(outputs))
                        ends = rows.finals(ends)
                for final, end in zip(finals, ends):
                    final.append(end)
            with scope(f"{kind}.l{layer}"):
                layer_input = directions[0] if len(directions) == 1 else cat(directions, axis=-1)
                if self.dropout and self.training and layer < self.num_layers - 1:
                    layer_input = functional.dropout(layer_input, self.dropout, training=True)
        with scope(kind):
            return layer_input, [stack(final, axis=0) for final in finals]

    def _zeros_if_none(self, state: Tensor | None, batch: int | None) -> Tensor:
        if state is not None:
            return state
        shape = (self.hidden_size,) if batch is None else (batch, self.hidden_size)
        return Tensor(np.zeros(shape, dtype=self.weight_ih_l0.dtype))

    def _direction(self, input: Tensor, weights: Weights, start: list[Tensor], steps: range, time_axis: int,
                   layer_name: str, rows: ActiveRows | None) -> tuple[list[Tensor], list[Tensor]]:
        """Outputs of one direction of one layer in processing order, and its final states (with `rows`, of a
        packed sequence's data: see `ActiveRows`). Each layer writes its loop twice, the second with
        `rows.before`/`rows.after` around each step, so that the loop over a tensor pays nothing for packing."""
        raise NotImplementedError

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        defaults = {"num_layers": 1, "bias": True, "batch_first": False, "dropout": 0.0, "bidirectional": False}
        for key, default in defaults.items():
            if getattr(self, key) != default:
                text += f", {key}={getattr(self, key)}"
        return text


class RNN(RNNBase):
    """Elman RNN: h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh) (or relu); returns output, h_n.

    The textbook h_t = tanh(W_xh x_t + W_hh h_{t-1} + b_h) is this with W_xh = weight_ih_l0,
    W_hh = weight_hh_l0 and b_h = bias_ih_l0 + bias_hh_l0 (PyTorch keeps two biases; only their sum matters).

    input: (L, N, I), (N, L, I) with batch_first, (L, I), or a PackedSequence; h_0: (num_layers * D, N, H) or
    (num_layers * D, H).  output: (L, N, D*H) (batch_first: (N, L, D*H)), or a PackedSequence for one;
    h_n like h_0, each sequence's at its own last step.  D = 2 if bidirectional else 1.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 dtype: Any = None) -> None:
        checked = check_nonlinearity("RNN", nonlinearity)
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, dtype)
        self.nonlinearity = checked

    def forward(self, input: Tensor | PackedSequence,
                hx: Tensor | None = None) -> tuple[Tensor | PackedSequence, Tensor]:
        output, (h_n,) = self._forward(input, [hx], ("h_0",))
        return output, h_n

    def _direction(self, input, weights, start, steps, time_axis, layer_name, rows):
        with scope(layer_name):
            projections = projections_of(input, time_axis, steps, self.hidden_size, folded_projection(weights), rows)
            weight_hh_t = weights[1].T
        (hidden,) = start
        nonlinearity = self.nonlinearity
        outputs = []
        with step_scopes(layer_name, steps) as timesteps:
            if rows is None:
                for timestep in timesteps:
                    (projected,) = projections.at(timestep)
                    hidden = rnn_step(projected, hidden, weight_hh_t, nonlinearity)
                    outputs.append(hidden)
            else:
                for timestep in timesteps:
                    (projected,) = projections.at(timestep)
                    (hidden,) = rows.before(timestep, (hidden,))
                    hidden = rnn_step(projected, hidden, weight_hh_t, nonlinearity)
                    rows.after(timestep, (hidden,))
                    outputs.append(hidden)
        return outputs, [hidden]

    def extra_repr(self) -> str:
        text = super().extra_repr()
        return text if self.nonlinearity == "tanh" else text + f", nonlinearity={self.nonlinearity!r}"


class LSTM(RNNBase):
    """LSTM with gates i, f, g, o; returns output, (h_n, c_n).

    input: (L, N, I), (N, L, I) with batch_first, (L, I), or a PackedSequence; (h_0, c_0): each
    (num_layers * D, N, H) or (num_layers * D, H).  output: (L, N, D*H) (batch_first: (N, L, D*H)), or a
    PackedSequence for one; h_n, c_n like h_0, each sequence's at its own last step.
    """

    gate_count = 4

    def forward(self, input: Tensor | PackedSequence,
                hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor | PackedSequence, tuple[Tensor, Tensor]]:
        if hx is not None and not (isinstance(hx, tuple) and len(hx) == 2):
            raise TypeError(f"LSTM: expected hx to be a tuple (h_0, c_0), got {type(hx).__name__}")
        hidden, cell = (None, None) if hx is None else hx
        output, (h_n, c_n) = self._forward(input, [hidden, cell], ("h_0", "c_0"))
        return output, (h_n, c_n)

    def _direction(self, input, weights, start, steps, time_axis, layer_name, rows):
        with scope(layer_name):
            projections = projections_of(input, time_axis, steps, 4 * self.hidden_size, folded_projection(weights),
                                       rows)
            weight_hh_t = weights[1].T
        hidden, cell = start
        outputs = []
        with step_scopes(layer_name, steps) as timesteps:
            if rows is None:
                for timestep in timesteps:
                    (projected,) = projections.at(timestep)
                    hidden, cell = lstm_step(projected, hidden, cell, weight_hh_t)
                    outputs.append(hidden)
            else:
                for timestep in timesteps:
                    (projected,) = projections.at(timestep)
                    hidden, cell = rows.before(timestep, (hidden, cell))
                    hidden, cell = lstm_step(projected, hidden, cell, weight_hh_t)
                    rows.after(timestep, (hidden, cell))
                    outputs.append(hidden)
        return outputs, [hidden, cell]


class GRU(RNNBase):
    """GRU with gates r, z, n (r multiplies h W_hn^T + b_hn); returns output, h_n.

    input: (L, N, I), (N, L, I) with batch_first, (L, I), or a PackedSequence; h_0: (num_layers * D, N, H) or
    (num_layers * D, H).  output: (L, N, D*H) (batch_first: (N, L, D*H)), or a PackedSequence for one;
    h_n like h_0, each sequence's at its own last step.
    """

    gate_count = 3

    def forward(self, input: Tensor | PackedSequence,
                hx: Tensor | None = None) -> tuple[Tensor | PackedSequence, Tensor]:
        output, (h_n,) = self._forward(input, [hx], ("h_0",))
        return output, h_n

    def _direction(self, input, weights, start, steps, time_axis, layer_name, rows):
        weight_ih, weight_hh, bias_ih, bias_hh = weights
        size = self.hidden_size
        with scope(layer_name):
            projections = projections_of(input, time_axis, steps, 3 * size,
                                         lambda chunk: gru_inputs(chunk, weight_ih, bias_ih, bias_hh, size), rows)
            weight_rz_t, weight_n_t, bias_hn = gru_weights(weight_hh, bias_hh, size)
        (hidden,) = start
        if bias_hn is not None and rows is None and hidden.ndim == 2:
            with scope(layer_name):  # b_hn's gradient then sums over the batch once, not at every step
                bias_hn = Expand.apply(bias_hn, shape=hidden.shape)
        outputs = []
        with step_scopes(layer_name, steps) as timesteps:
            if rows is None:
                for timestep in timesteps:
                    projected_rz, projected_n = projections.at(timestep)
                    hidden = gru_step(projected_rz, projected_n, hidden, weight_rz_t, weight_n_t, bias_hn)
                    outputs.append(hidden)
            else:
                for timestep in timesteps:
                    projected_rz, projected_n = projections.at(timestep)
                    (hidden,) = rows.before(timestep, (hidden,))
                    hidden = gru_step(projected_rz, projected_n, hidden, weight_rz_t, weight_n_t, bias_hn)
                    rows.after(timestep, (hidden,))
                    outputs.append(hidden)
        return outputs, [hidden]
