"""Gradient flow through time: dL/dh_t per step, exact Jacobian norms ||d h_T / d h_t||, spectral tools.

The vanishing gradient (Pascanu, Mikolov & Bengio 2013, "On the difficulty of training recurrent neural
networks"). For h_t = tanh(W_hh h_{t-1} + W_ih x_t + b) the chain rule through the unrolled graph gives

    d h_T / d h_t = D_T W_hh D_{T-1} W_hh ... D_{t+1} W_hh,  D_k = diag(1 - h_k^2),
    so  ||d h_T / d h_t||_2 <= prod ||D_k|| ||W_hh||_2 <= (gamma * s)^(T - t)

with gamma = max |tanh'| = 1 and s = the LARGEST SINGULAR VALUE of W_hh (its spectral norm). s < 1 is
therefore sufficient for the gradient to vanish geometrically, and s > 1 is necessary for it to explode. The
common wording "eigenvalues of W_hh" is exact only for normal matrices (W W^T = W^T W, e.g. symmetric or
s * orthogonal), whose spectral radius equals their largest singular value. For a non-normal W the spectral
radius rho(W) <= s only governs the asymptotic rate (||W^k||^(1/k) -> rho(W), Gelfand), and a matrix with
rho < 1 can still amplify gradients for many steps. The demos therefore build W_hh = s * Q with Q orthogonal,
where rho = s exactly, and for the linear recurrence h_t = W_hh h_{t-1} + W_ih x_t the bound is an equality:
||d h_T / d h_t|| = s^(T - t).

How the hidden states are found. The model is run one step at a time through its own public forward,
`output, h_n = model(x[t:t+1], state)` for RNN/GRU, `output, (h_n, c_n) = model(x[t:t+1], (h, c))` for LSTM
and `h = cell(x[t], h)` for the cells: exactly the function the full-sequence forward computes (the recurrence
is Markov in its state), but each h_t is now a node we hold, with `retain_grad()`, and the one node that both
feeds step t+1 and is the output at step t. So its `.grad` after backward is the total derivative dL/dh_t
(direct use plus every later step), with no reliance on how the layer builds its graph internally; any module
with PyTorch's recurrent contract works. For a stack of layers h_t means the top layer's state; for an LSTM
it is h_t (not the cell state c_t), and the derivative is the graph's partial with c_t held as its own node.
Steps are indexed as PyTorch's output: h_t is the state after reading x_t, t = 0..T-1. (Dropout between
stacked layers would draw different masks step by step: analyse such a model in `eval()` mode.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from ..factories import as_generator, stack
from ..tensor import Tensor

__all__ = [
    "gradient_norms_through_time", "jacobian_norms", "largest_singular_value", "scale_to_spectral_radius",
    "scaled_orthogonal", "spectral_radius",
]


def gradient_norms_through_time(model: Any, inputs: Any, loss_fn: Callable[[Tensor], Tensor]) -> np.ndarray:
    """||dL/dh_t|| (2-norm over batch and features) for every step t, with L = loss_fn(output).

    inputs: (T, N, input_size), (N, T, input_size) if batch_first, or (T, input_size) unbatched;
    output: the top layer's hidden states, shaped as the model's own output. Returns shape (T,).
    The model's parameters receive no gradient (their `.grad` is left as it was).
    """
    with _frozen(model):
        outputs, hiddens, time_axis = _unroll(model, inputs, "gradient_norms_through_time")
        loss = loss_fn(stack(outputs, axis=time_axis))
        if not isinstance(loss, Tensor) or loss.numel() != 1:
            raise ValueError("gradient_norms_through_time: loss_fn(output) must return a one-element Tensor, got "
                             f"{type(loss).__name__} of shape {getattr(loss, 'shape', None)}")
        loss.backward()
    return np.array([np.linalg.norm(_top_grad(model, hidden)) for hidden in hiddens])


def jacobian_norms(model: Any, inputs: Any) -> np.ndarray:
    """Spectral norm ||d h_T / d h_t||_2 for every step t (h_T = the last step's state), exact from the graph.

    Reverse mode with basis vectors: one backward (retain_graph=True) per component i of h_T gives row i of
    every d h_T / d h_t at once. Sequences in a batch are independent, so one backward serves all of them.
    inputs as for `gradient_norms_through_time`. Returns shape (T,) unbatched, (N, T) batched.
    """
    with _frozen(model):
        outputs, hiddens, _ = _unroll(model, inputs, "jacobian_norms")
        last_state = outputs[-1]
        hidden_size = last_state.shape[-1]
        rows = []  # rows[i][t]: d h_T[..., i] / d h_t, shape (N, H) or (H,)
        for component in range(hidden_size):
            for hidden in hiddens:
                hidden.grad = None
            seed = np.zeros_like(last_state.data)
            seed[..., component] = 1.0
            last_state.backward(seed, retain_graph=True)
            rows.append([_top_grad(model, hidden) for hidden in hiddens])
    jacobians = np.stack([np.stack(per_step) for per_step in rows], axis=-2)  # (T, [N,] H_out, H_in)
    norms = np.linalg.svd(jacobians, compute_uv=False)[..., 0]
    return norms if norms.ndim == 1 else norms.T


def spectral_radius(W: Any) -> float:
    """rho(W) = max |eigenvalue|.  W: (n, n)."""
    return float(np.max(np.abs(np.linalg.eigvals(_square(W, "spectral_radius")))))


def largest_singular_value(W: Any) -> float:
    """sigma_max(W) = ||W||_2, the factor in the vanishing-gradient bound.  W: (m, n)."""
    matrix = _matrix(W, "largest_singular_value")
    return float(np.linalg.norm(matrix, 2))


def scale_to_spectral_radius(W: Any, rho: float) -> np.ndarray:
    """W * rho / rho(W): a copy of W with spectral radius `rho` (its singular values scale by the same factor)."""
    matrix = _square(W, "scale_to_spectral_radius")
    _check_scale(rho, "scale_to_spectral_radius", "rho")
    current = spectral_radius(matrix)
    if current == 0.0:
        raise ValueError(f"scale_to_spectral_radius: W of shape {matrix.shape} has spectral radius 0 (nilpotent), "
                         f"so no multiple of it has spectral radius {rho}")
    return matrix * (rho / current)


def scaled_orthogonal(size: int, scale: float, generator: np.random.Generator | int | None = None,
                      dtype: Any = np.float64) -> np.ndarray:
    """s * Q with Q a random orthogonal (size, size) matrix (Haar): spectral radius = largest singular value = s."""
    if not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"scaled_orthogonal: size must be a positive integer, got {size!r}")
    _check_scale(scale, "scaled_orthogonal", "scale")
    rng = as_generator(generator, "scaled_orthogonal")
    q, r = np.linalg.qr(rng.standard_normal((size, size)))
    q = q * np.where(np.diag(r) < 0, -1.0, 1.0)  # sign fix makes Q Haar-distributed
    return (scale * q).astype(dtype)


# ---- helpers ------------------------------------------------------------------------------------------------

def _unroll(model: Any, inputs: Any, caller: str) -> tuple[list[Tensor], list[Tensor], int]:
    """Run `model` one step at a time: (top-layer h_t per step, state nodes with retain_grad, time axis)."""
    data = inputs.data if isinstance(inputs, Tensor) else np.asarray(inputs)
    if data.dtype.kind != "f":
        raise ValueError(f"{caller}: inputs must be floating point (T, N, input_size) or (T, input_size), "
                         f"got dtype {data.dtype}")
    if not np.all(np.isfinite(data)):
        raise ValueError(f"{caller}: the inputs of shape {data.shape} hold NaN or inf")
    if not callable(model):
        raise TypeError(f"{caller}: expected a recurrent layer or cell (such as nn.RNN or nn.LSTMCell), got "
                        f"{type(model).__name__}")
    if getattr(model, "bidirectional", False):
        raise ValueError(f"{caller}: a bidirectional layer has no single direction of time; analyse each "
                         "direction as its own unidirectional layer")
    is_sequence_layer = hasattr(model, "num_layers")
    time_axis = 1 if getattr(model, "batch_first", False) and data.ndim == 3 else 0
    if data.ndim not in (2, 3) or data.shape[time_axis] == 0:
        raise ValueError(f"{caller}: inputs must have shape (T, N, input_size) or (T, input_size) with T >= 1, "
                         f"got {data.shape}")
    sequence = Tensor(data, requires_grad=True)  # a recorded graph even when the parameters are frozen
    state: Any = None
    hiddens, outputs = [], []
    for step in range(data.shape[time_axis]):
        if is_sequence_layer:
            x_t = sequence[:, step:step + 1] if time_axis == 1 else sequence[step:step + 1]
            _, state = model(x_t, state)
        else:
            state = model(sequence[:, step] if time_axis == 1 else sequence[step], state)
        hidden = state[0] if isinstance(state, tuple) else state
        hidden.retain_grad()
        hiddens.append(hidden)
        outputs.append(hidden[-1] if is_sequence_layer else hidden)
    return outputs, hiddens, time_axis


def _top_grad(model: Any, hidden: Tensor) -> np.ndarray:
    """The retained gradient of a state node, restricted to the top layer (zeros if nothing reached it)."""
    grad = hidden.grad if hidden.grad is not None else np.zeros_like(hidden.data)
    return grad[-1] if hasattr(model, "num_layers") else grad


@contextmanager
def _frozen(model: Any) -> Iterator[None]:
    """Turn off requires_grad on the model's parameters (so backward skips them), restoring it afterwards."""
    parameters = list(model.parameters()) if hasattr(model, "parameters") else []
    flags = [p.requires_grad for p in parameters]
    for p in parameters:
        p.requires_grad = False
    try:
        yield
    finally:
        for p, flag in zip(parameters, flags):
            p.requires_grad = flag


def _matrix(W: Any, caller: str) -> np.ndarray:
    matrix = W.data if isinstance(W, Tensor) else np.asarray(W)
    if matrix.ndim != 2 or matrix.size == 0 or matrix.dtype.kind not in "biuf":
        raise ValueError(f"{caller}: expected a non-empty matrix (2-D) of real numbers, got shape {matrix.shape} "
                         f"of dtype {matrix.dtype}")
    if not np.all(np.isfinite(matrix)):
        raise ValueError(f"{caller}: the matrix of shape {matrix.shape} holds NaN or inf")
    return matrix


def _check_scale(scale: Any, caller: str, name: str) -> None:
    """A spectral radius or scale is a finite number of at least 0."""
    if isinstance(scale, bool) or not isinstance(scale, (int, float, np.integer, np.floating)) or not (
            np.isfinite(scale) and scale >= 0):
        raise ValueError(f"{caller}: {name} must be a finite number of at least 0, got {scale!r}")


def _square(W: Any, caller: str) -> np.ndarray:
    matrix = _matrix(W, caller)
    if matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"{caller}: expected a square matrix (n, n) such as weight_hh of an RNN, got shape "
                         f"{matrix.shape}")
    return matrix
