"""The hand-written numpy baseline: an Elman RNN's forward and BPTT, min-char-rnn style, with batched GEMMs.

Model (PyTorch's names and layout), for x: (T, B, I), targets y: (T, B, O), h_0 = 0:
    h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)      W_ih: (H, I), W_hh: (H, H)
    P_t = h_t W_hy + b_y                                        W_hy: (H, O)
    loss = mean((P - y)^2) over all t, b, o
Only the recurrence is a Python loop; the input projection, the readout and every weight gradient are one GEMM
over all T*B rows. Every product is np.dot, as in min-char-rnn: it calls BLAS directly, cheaper than `@` for
small matrices. This is the practical speed limit for numpy, the yardstick of `rnn_step.py`.
"""

from __future__ import annotations

import numpy as np

PARAMETER_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hy", "bias_y")


def init_parameters(rng: np.random.Generator, input_size: int, hidden_size: int, output_size: int,
                    dtype: type = np.float32) -> dict[str, np.ndarray]:
    """Uniform(-1/sqrt(H), 1/sqrt(H)) weights as PyTorch's nn.RNN draws them; the readout the same way."""
    bound = 1.0 / np.sqrt(hidden_size)
    shapes = {"weight_ih": (hidden_size, input_size), "weight_hh": (hidden_size, hidden_size),
              "bias_ih": (hidden_size,), "bias_hh": (hidden_size,), "weight_hy": (hidden_size, output_size),
              "bias_y": (output_size,)}
    return {name: rng.uniform(-bound, bound, shapes[name]).astype(dtype) for name in PARAMETER_NAMES}


def make_batch(rng: np.random.Generator, length: int, batch: int, input_size: int, output_size: int,
               dtype: type = np.float32) -> tuple[np.ndarray, np.ndarray]:
    """Random inputs x: (T, B, I) and targets y: (T, B, O)."""
    inputs = rng.standard_normal((length, batch, input_size)).astype(dtype)
    targets = rng.standard_normal((length, batch, output_size)).astype(dtype)
    return inputs, targets


def loss_and_gradients(parameters: dict[str, np.ndarray], inputs: np.ndarray,
                       targets: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
    """Forward over all T steps and backward through time; returns the loss and d loss/d each parameter."""
    weight_ih, weight_hh = parameters["weight_ih"], parameters["weight_hh"]
    weight_hy, bias_y = parameters["weight_hy"], parameters["bias_y"]
    length, batch, input_size = inputs.shape
    hidden_size = weight_hh.shape[0]
    rows = length * batch
    flat_inputs = inputs.reshape(rows, input_size)

    # forward: hidden[t + 1] = h_t, hidden[0] = h_0 = 0
    hidden = np.empty((length + 1, batch, hidden_size), dtype=weight_hh.dtype)
    hidden[0] = 0
    projected = np.dot(flat_inputs, weight_ih.T).reshape(length, batch, hidden_size)
    projected += parameters["bias_ih"] + parameters["bias_hh"]
    weight_hh_t = weight_hh.T
    np.tanh(projected[0], out=hidden[1])  # h_0 = 0 contributes nothing
    for timestep in range(1, length):
        np.tanh(projected[timestep] + np.dot(hidden[timestep], weight_hh_t), out=hidden[timestep + 1])
    flat_hidden = hidden[1:].reshape(rows, hidden_size)
    residual = np.dot(flat_hidden, weight_hy)
    residual += bias_y
    residual -= targets.reshape(rows, -1)
    loss = float(np.vdot(residual, residual)) / residual.size

    # backward: readout in one GEMM, then the recurrence in reverse, then all weight gradients in one GEMM each
    grad_prediction = residual * (2.0 / residual.size)
    grad_weight_hy = np.dot(flat_hidden.T, grad_prediction)
    grad_bias_y = grad_prediction.sum(axis=0)
    grad_hidden = np.dot(grad_prediction, weight_hy.T).reshape(length, batch, hidden_size)
    # tanh' = 1 - h^2 for all steps at once; each step then multiplies its gradient into it in place
    grad_preactivation = hidden[1:] * hidden[1:]
    np.subtract(1, grad_preactivation, out=grad_preactivation)
    grad_preactivation[-1] *= grad_hidden[-1]
    for timestep in range(length - 2, -1, -1):
        grad_from_next = np.dot(grad_preactivation[timestep + 1], weight_hh)
        grad_from_next += grad_hidden[timestep]
        grad_preactivation[timestep] *= grad_from_next
    flat_grad = grad_preactivation.reshape(rows, hidden_size)
    grad_bias = flat_grad.sum(axis=0)
    gradients = {"weight_ih": np.dot(flat_grad.T, flat_inputs),
                 "weight_hh": np.dot(flat_grad.T, hidden[:-1].reshape(rows, hidden_size)),
                 "bias_ih": grad_bias, "bias_hh": grad_bias.copy(),
                 "weight_hy": grad_weight_hy, "bias_y": grad_bias_y}
    return loss, gradients


def train_step(parameters: dict[str, np.ndarray], inputs: np.ndarray, targets: np.ndarray, lr: float) -> float:
    """One SGD step in place: forward, BPTT, parameter -= lr * gradient; returns the loss before the step."""
    loss, gradients = loss_and_gradients(parameters, inputs, targets)
    for name, gradient in gradients.items():
        gradient *= lr
        parameters[name] -= gradient
    return loss
