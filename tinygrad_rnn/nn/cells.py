"""One time step of the vanilla RNN, the LSTM and the GRU, and the cell modules that run a single step.

Each step takes the input's share of the gates already projected (x W_ih^T + biases) and the transposed
recurrent weight, so a sequence layer can project all time steps with one matmul and transpose W_hh once.
Gate order and formulas are PyTorch's:
    RNN:  h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)                  (or relu)
    LSTM: i, f, g, o = chunks of x W_ih^T + b_ih + h W_hh^T + b_hh
          c' = sigmoid(f) c + sigmoid(i) tanh(g);  h' = sigmoid(o) tanh(c')
    GRU:  r, z = sigmoid(chunks of x W_ih^T + b_ih + h W_hh^T + b_hh)[:2H]
          n = tanh(x W_in^T + b_in + r (h W_hn^T + b_hn));  h' = (1 - z) n + z h = n + z (h - n)
The GRU's step makes two products with h: one for r and z with their input share added in the same GEMM (addmm),
one for n with b_hn added, since r multiplies h W_hn^T + b_hn but not x W_in^T + b_in.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..factories import addmm
from ..ops import GetItem, Lerp
from ..tensor import Tensor
from . import init
from .module import Module, Parameter, check_size, resolve_dtype

NONLINEARITIES = ("tanh", "relu")


def _columns(x: Tensor, start: int, stop: int) -> Tensor:
    """x[..., start:stop], calling the op directly: a time step slices its gates several times."""
    return GetItem.apply(x, index=(Ellipsis, slice(start, stop)))


def rnn_step(projected: Tensor, hidden: Tensor, weight_hh_t: Tensor, nonlinearity: str) -> Tensor:
    """h' = act(projected + h W_hh^T) with one addmm.  projected, hidden: (..., H), weight_hh_t: (H, H)"""
    preactivation = addmm(projected, hidden, weight_hh_t)
    return preactivation.tanh() if nonlinearity == "tanh" else preactivation.relu()


def lstm_step(projected: Tensor, hidden: Tensor, cell: Tensor, weight_hh_t: Tensor) -> tuple[Tensor, Tensor]:
    """(h', c') from the gates projected + h W_hh^T in order i, f, g, o.  projected: (..., 4H), weight_hh_t: (H, 4H)"""
    size = hidden.shape[-1]
    gates = addmm(projected, hidden, weight_hh_t)
    input_gate = _columns(gates, 0, size).sigmoid()
    forget_gate = _columns(gates, size, 2 * size).sigmoid()
    candidate = _columns(gates, 2 * size, 3 * size).tanh()
    output_gate = _columns(gates, 3 * size, 4 * size).sigmoid()
    cell = forget_gate * cell + input_gate * candidate
    return output_gate * cell.tanh(), cell


def gru_step(projected_rz: Tensor, projected_n: Tensor, hidden: Tensor, weight_rz_t: Tensor, weight_n_t: Tensor,
             bias_hn: Tensor | None) -> Tensor:
    """h' of the GRU.  projected_rz: (..., 2H) (r, z biases folded in), projected_n: (..., H),
    weight_rz_t: (H, 2H) and weight_n_t: (H, H), the r, z and the n columns of W_hh^T (see gru_weights)"""
    size = hidden.shape[-1]
    reset_update = addmm(projected_rz, hidden, weight_rz_t).sigmoid()
    reset, update = _columns(reset_update, 0, size), _columns(reset_update, size, 2 * size)
    recurrent_n = hidden @ weight_n_t if bias_hn is None else addmm(bias_hn, hidden, weight_n_t)
    candidate = (projected_n + reset * recurrent_n).tanh()
    return Lerp.apply(candidate, hidden, update)  # n + z (h - n)


def project(input: Tensor, weight_ih: Tensor, bias: Tensor | None) -> Tensor:
    """x W_ih^T + bias for every leading index of x (every time step of a sequence) as one 2-D matmul, which is
    faster than a batched one, also in backward."""
    rows = input if input.ndim <= 2 else input.reshape(-1, input.shape[-1])
    rows = rows @ weight_ih.T if bias is None else addmm(bias, rows, weight_ih.T)
    return rows if input.ndim <= 2 else rows.reshape(input.shape[:-1] + (weight_ih.shape[0],))


def gru_inputs(input: Tensor, weight_ih: Tensor, bias_ih: Tensor | None, bias_hh: Tensor | None,
               size: int) -> tuple[Tensor, Tensor]:
    """The GRU's x W_ih^T + b_ih as its r, z part (..., 2H), with b_hr, b_hz folded in, and its n part (..., H);
    b_hn cannot be folded, as r multiplies it. Two products, not one cut in two: a step's share of each is then
    whole rows, and their gradients are summed without a strided scatter into a joint buffer."""
    bias_rz = bias_n = None
    if bias_ih is not None:
        bias_rz, bias_n = bias_ih[:2 * size], bias_ih[2 * size:]
    if bias_hh is not None:
        bias_rz = bias_hh[:2 * size] if bias_rz is None else bias_rz + bias_hh[:2 * size]
    rows = input if input.ndim <= 2 else input.reshape(-1, input.shape[-1])  # once: the picture shows one input
    parts = project(rows, weight_ih[:2 * size], bias_rz), project(rows, weight_ih[2 * size:], bias_n)
    return parts if input.ndim <= 2 else tuple(part.reshape(input.shape[:-1] + part.shape[-1:]) for part in parts)


def gru_weights(weight_hh: Tensor, bias_hh: Tensor | None, size: int) -> tuple[Tensor, Tensor, Tensor | None]:
    """The r, z columns (H, 2H) and the n columns (H, H) of W_hh^T, and b_hn: what every step reads."""
    weight_hh_t = weight_hh.T
    bias_hn = None if bias_hh is None else bias_hh[2 * size:]
    return _columns(weight_hh_t, 0, 2 * size), _columns(weight_hh_t, 2 * size, 3 * size), bias_hn


def check_nonlinearity(layer: str, nonlinearity: str) -> str:
    """`nonlinearity` if it is 'tanh' or 'relu', else a ValueError naming the layer."""
    if nonlinearity not in NONLINEARITIES:
        raise ValueError(f"{layer}: unknown nonlinearity {nonlinearity!r}; expected 'tanh' or 'relu'")
    return nonlinearity


def recurrent_parameter(shape: tuple[int, ...], hidden_size: int, dtype: np.dtype) -> Parameter:
    """A parameter drawn from PyTorch's recurrent init U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""
    bound = 1.0 / math.sqrt(hidden_size) if hidden_size > 0 else 0.0
    return init.uniform_(Parameter(np.empty(shape, dtype=dtype)), -bound, bound)


def check_input(layer: str, input: Any, ranks: tuple[int, ...], layout: str, input_size: int,
                dtype: np.dtype) -> None:
    """Raise, naming the layer, unless `input` is a Tensor with one of `ranks` dimensions (described by `layout`),
    `input_size` features in its last dimension and the parameters' `dtype`."""
    if not isinstance(input, Tensor):
        raise TypeError(f"{layer}: expected input to be a Tensor, got {type(input).__name__}")
    if input.ndim not in ranks:
        raise ValueError(f"{layer}: expected input of {layout}, got {input.ndim} dimensions, shape {input.shape}")
    if input.shape[-1] != input_size:
        raise ValueError(f"{layer}: expected input with input_size={input_size} features in its last "
                         f"dimension, got shape {input.shape}")
    if input.dtype != dtype:
        raise TypeError(f"{layer}: input has dtype {input.dtype} but the parameters are {dtype}; convert the "
                        "input or the module (.double(), .float())")


def check_state(layer: str, name: str, state: Any, shape: tuple[int, ...], dtype: np.dtype, meaning: str) -> Tensor:
    """`state` as a Tensor if it has `shape` and `dtype`, else an error saying what was expected."""
    if not isinstance(state, Tensor):
        raise TypeError(f"{layer}: expected {name} to be a Tensor of shape {shape} ({meaning}), "
                        f"got {type(state).__name__}")
    if state.shape != shape:
        raise ValueError(f"{layer}: expected {name} of shape {shape} ({meaning}), got {state.shape}")
    if state.dtype != dtype:
        raise TypeError(f"{layer}: {name} has dtype {state.dtype} but the parameters are {dtype}")
    return state


class RNNCellBase(Module):
    """Parameters weight_ih (gates*H, I), weight_hh (gates*H, H), bias_ih, bias_hh (gates*H,) of one cell."""

    gate_count = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, dtype: Any = None) -> None:
        super().__init__()
        dtype = resolve_dtype(dtype)
        name = type(self).__name__
        input_size = check_size(name, "input_size", input_size)
        hidden_size = check_size(name, "hidden_size", hidden_size, minimum=1)
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        rows = self.gate_count * hidden_size
        self.weight_ih = recurrent_parameter((rows, input_size), hidden_size, dtype)
        self.weight_hh = recurrent_parameter((rows, hidden_size), hidden_size, dtype)
        if bias:
            self.bias_ih = recurrent_parameter((rows,), hidden_size, dtype)
            self.bias_hh = recurrent_parameter((rows,), hidden_size, dtype)
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)

    def _check_input(self, input: Any) -> tuple[int, ...]:
        """The batch shape, () unbatched or (N,), after checking input: (input_size,) or (N, input_size)."""
        check_input(type(self).__name__, input, (1, 2), "1 dimension (input_size,) or 2 dimensions "
                    "(batch, input_size)", self.input_size, self.weight_ih.dtype)
        return input.shape[:-1]

    def _state(self, state: Any, batch: tuple[int, ...], name: str) -> Tensor:
        shape = batch + (self.hidden_size,)
        if state is None:
            return Tensor(np.zeros(shape, dtype=self.weight_ih.dtype))
        meaning = "batch, hidden_size" if batch else "hidden_size"
        return check_state(type(self).__name__, name, state, shape, self.weight_ih.dtype, meaning)

    def _project(self, input: Tensor) -> Tensor:
        """x W_ih^T + b_ih + b_hh (the RNN's and the LSTM's biases act the same way)."""
        bias = self.bias_ih
        if bias is not None:
            bias = bias + self.bias_hh
        return project(input, self.weight_ih, bias)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


class RNNCell(RNNCellBase):
    """h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (or relu).  x: (N, I) or (I,), h: (N, H) or (H,)"""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh",
                 dtype: Any = None) -> None:
        checked = check_nonlinearity("RNNCell", nonlinearity)
        super().__init__(input_size, hidden_size, bias, dtype)
        self.nonlinearity = checked

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        hidden = self._state(hx, self._check_input(input), "hx")
        return rnn_step(self._project(input), hidden, self.weight_hh.T, self.nonlinearity)

    def extra_repr(self) -> str:
        return super().extra_repr() + ("" if self.nonlinearity == "tanh" else f", nonlinearity={self.nonlinearity!r}")


class LSTMCell(RNNCellBase):
    """(h', c') of one LSTM step, gates i, f, g, o.  x: (N, I) or (I,), h and c: (N, H) or (H,)"""

    gate_count = 4

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        batch = self._check_input(input)
        if hx is not None and not (isinstance(hx, tuple) and len(hx) == 2):
            raise TypeError(f"LSTMCell: expected hx to be a tuple (h, c), got {type(hx).__name__}")
        hidden, cell = (None, None) if hx is None else hx
        hidden, cell = self._state(hidden, batch, "h"), self._state(cell, batch, "c")
        return lstm_step(self._project(input), hidden, cell, self.weight_hh.T)


class GRUCell(RNNCellBase):
    """h' of one GRU step, gates r, z, n (r multiplies h W_hn^T + b_hn).  x: (N, I) or (I,), h: (N, H) or (H,)"""

    gate_count = 3

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        hidden = self._state(hx, self._check_input(input), "hx")
        size = self.hidden_size
        projected_rz, projected_n = gru_inputs(input, self.weight_ih, self.bias_ih, self.bias_hh, size)
        return gru_step(projected_rz, projected_n, hidden, *gru_weights(self.weight_hh, self.bias_hh, size))
