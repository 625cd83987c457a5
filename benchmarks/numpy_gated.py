"""The hand-written numpy baselines for gated cells: a character model's forward and BPTT with an LSTM or a GRU.

Model (the char-RNN demo's, PyTorch's names, layout and gate order), for ids, targets: (T, B) integers < V:
    x_t = E[ids_t]                                                     E: (V, X), embedding.weight
    LSTM: i, f, g, o = split(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)   W_ih: (4H, X), W_hh: (4H, H)
          c_t = sigmoid(f) c_{t-1} + sigmoid(i) tanh(g);  h_t = sigmoid(o) tanh(c_t)
    GRU:  r, z = sigmoid(split(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)[:2H])   W_ih: (3H, X), W_hh: (3H, H)
          n = tanh(x_t W_in^T + b_in + r (h_{t-1} W_hn^T + b_hn));  h_t = (1 - z) n + z h_{t-1}
    logits_t = h_t W_d^T + b_d;  loss = mean over t, b of cross-entropy(logits_t, targets_t)
with h_0 = c_0 = 0. Only the recurrence is a Python loop: the embedding, the input projection, the readout and
every weight gradient are one operation over all T*B rows, and each step writes into buffers laid out in
advance. Every product is np.dot (straight to BLAS), as in `numpy_bptt.py`. This is the yardstick of
`gated_step.py`.
"""

from __future__ import annotations

import numpy as np

CELLS = {"lstm": 4, "gru": 3}
"""Cell kind -> number of gates (rows of W_ih and W_hh per hidden unit)."""
PARAMETER_NAMES = ("embedding.weight", "rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.bias_ih_l0", "rnn.bias_hh_l0",
                   "decoder.weight", "decoder.bias")
"""As `named_parameters()` of an Embedding -> LSTM/GRU -> Linear module with those attribute names."""


def init_parameters(rng: np.random.Generator, cell: str, vocab_size: int, embedding_dim: int, hidden_size: int,
                    dtype: type = np.float32) -> dict[str, np.ndarray]:
    """E ~ N(0, 1) as nn.Embedding draws it; everything else U(-1/sqrt(H), 1/sqrt(H)) as nn.LSTM/nn.GRU do."""
    rows = CELLS[cell] * hidden_size
    bound = 1.0 / np.sqrt(hidden_size)
    shapes = {"rnn.weight_ih_l0": (rows, embedding_dim), "rnn.weight_hh_l0": (rows, hidden_size),
              "rnn.bias_ih_l0": (rows,), "rnn.bias_hh_l0": (rows,), "decoder.weight": (vocab_size, hidden_size),
              "decoder.bias": (vocab_size,)}
    parameters = {"embedding.weight": rng.standard_normal((vocab_size, embedding_dim)).astype(dtype)}
    parameters.update((name, rng.uniform(-bound, bound, shape).astype(dtype)) for name, shape in shapes.items())
    return parameters


def make_batch(rng: np.random.Generator, length: int, batch: int, vocab_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Random character ids and next-character targets, each (T, B)."""
    text = rng.integers(0, vocab_size, (length + 1, batch))
    return text[:-1], text[1:]


_EXPONENT_LIMITS = {np.dtype(np.float32): 88.0}
"""Below log(largest float): e^t stays finite (709 for float64)."""


def _sigmoid_(x: np.ndarray) -> None:
    """x = 1 / (1 + e^-x) in place, x clipped below first so that e^-x stays finite (our op's arithmetic)."""
    np.maximum(x, -_EXPONENT_LIMITS.get(x.dtype, 709.0), out=x)
    np.negative(x, out=x)
    np.exp(x, out=x)
    x += 1
    np.reciprocal(x, out=x)


def _readout(parameters: dict[str, np.ndarray], flat_hidden: np.ndarray, flat_targets: np.ndarray,
             gradients: dict[str, np.ndarray]) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of the decoder's logits over all rows; fills the decoder's gradients and returns the
    loss and d loss/d hidden (rows, H)."""
    weight = parameters["decoder.weight"]
    logits = np.dot(flat_hidden, weight.T)
    logits += parameters["decoder.bias"]
    logits -= logits.max(axis=1, keepdims=True)
    rows = np.arange(len(flat_targets))
    picked = logits[rows, flat_targets]
    np.exp(logits, out=logits)
    totals = logits.sum(axis=1)
    loss = float(np.mean(np.log(totals) - picked))
    logits /= totals[:, None]  # now the softmax; its gradient: (softmax - one-hot) / rows
    logits[rows, flat_targets] -= 1
    logits *= 1.0 / len(flat_targets)
    gradients["decoder.weight"] = np.dot(logits.T, flat_hidden)
    gradients["decoder.bias"] = logits.sum(axis=0)
    return loss, np.dot(logits, weight)


def _input_gradients(parameters: dict[str, np.ndarray], flat_ids: np.ndarray, inputs: np.ndarray,
                     grad_projected: np.ndarray, gradients: dict[str, np.ndarray]) -> None:
    """W_ih, b_ih and the embedding's gradients from d loss/d (x W_ih^T + b_ih) over all rows (rows, gates*H)."""
    weight_ih = parameters["rnn.weight_ih_l0"]
    gradients["rnn.weight_ih_l0"] = np.dot(grad_projected.T, inputs)
    gradients["rnn.bias_ih_l0"] = grad_projected.sum(axis=0)
    grad_embedding = np.zeros_like(parameters["embedding.weight"])
    np.add.at(grad_embedding, flat_ids, np.dot(grad_projected, weight_ih))
    gradients["embedding.weight"] = grad_embedding


def lstm_loss_and_gradients(parameters: dict[str, np.ndarray], ids: np.ndarray,
                            targets: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
    """Forward over all T steps and backward through time; the loss and d loss/d each parameter."""
    weight_ih, weight_hh = parameters["rnn.weight_ih_l0"], parameters["rnn.weight_hh_l0"]
    length, batch = ids.shape
    size = weight_hh.shape[1]
    flat_ids = ids.reshape(-1)
    inputs = parameters["embedding.weight"][flat_ids]

    # forward: gates[t] becomes (i, f, g, o) after their nonlinearities; hidden[t + 1] = h_t, cell[t + 1] = c_t
    gates = np.dot(inputs, weight_ih.T).reshape(length, batch, 4 * size)
    gates += parameters["rnn.bias_ih_l0"] + parameters["rnn.bias_hh_l0"]
    hidden = np.zeros((length + 1, batch, size), dtype=weight_hh.dtype)
    cell = np.zeros_like(hidden)
    tanh_cell = np.empty((length, batch, size), dtype=weight_hh.dtype)
    weight_hh_t = weight_hh.T
    for timestep in range(length):
        step = gates[timestep]
        if timestep:  # h_0 = 0 adds nothing
            step += np.dot(hidden[timestep], weight_hh_t)
        _sigmoid_(step[:, :2 * size])
        np.tanh(step[:, 2 * size:3 * size], out=step[:, 2 * size:3 * size])
        _sigmoid_(step[:, 3 * size:])
        input_gate, forget_gate, candidate, output_gate = np.split(step, 4, axis=1)
        np.multiply(forget_gate, cell[timestep], out=cell[timestep + 1])
        cell[timestep + 1] += input_gate * candidate
        np.tanh(cell[timestep + 1], out=tanh_cell[timestep])
        np.multiply(output_gate, tanh_cell[timestep], out=hidden[timestep + 1])
    rows = length * batch
    gradients: dict[str, np.ndarray] = {}
    loss, grad_output = _readout(parameters, hidden[1:].reshape(rows, size), targets.reshape(-1), gradients)
    grad_output = grad_output.reshape(length, batch, size)

    # backward: grad_gates[t] = d loss/d the preactivations of step t
    grad_gates = np.empty_like(gates)
    grad_hidden = grad_output[-1].copy()
    grad_cell = np.zeros_like(grad_hidden)
    for timestep in range(length - 1, -1, -1):
        input_gate, forget_gate, candidate, output_gate = np.split(gates[timestep], 4, axis=1)
        grad_input, grad_forget, grad_candidate, grad_out = np.split(grad_gates[timestep], 4, axis=1)
        tanh_c = tanh_cell[timestep]
        np.multiply(grad_hidden, tanh_c, out=grad_out)
        grad_out *= output_gate * (1 - output_gate)
        grad_hidden *= output_gate
        grad_hidden *= 1 - tanh_c * tanh_c
        grad_cell += grad_hidden  # d loss/d c_t
        np.multiply(grad_cell, candidate, out=grad_input)
        grad_input *= input_gate * (1 - input_gate)
        np.multiply(grad_cell, cell[timestep], out=grad_forget)
        grad_forget *= forget_gate * (1 - forget_gate)
        np.multiply(grad_cell, input_gate, out=grad_candidate)
        grad_candidate *= 1 - candidate * candidate
        grad_cell *= forget_gate
        if timestep:
            grad_hidden = np.dot(grad_gates[timestep], weight_hh)
            grad_hidden += grad_output[timestep - 1]
    flat_grad = grad_gates.reshape(rows, 4 * size)
    gradients["rnn.weight_hh_l0"] = np.dot(flat_grad[batch:].T, hidden[1:length].reshape(-1, size))
    _input_gradients(parameters, flat_ids, inputs, flat_grad, gradients)
    gradients["rnn.bias_hh_l0"] = gradients["rnn.bias_ih_l0"].copy()
    return loss, gradients


def gru_loss_and_gradients(parameters: dict[str, np.ndarray], ids: np.ndarray,
                           targets: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
    """Forward over all T steps and backward through time; the loss and d loss/d each parameter."""
    weight_ih, weight_hh = parameters["rnn.weight_ih_l0"], parameters["rnn.weight_hh_l0"]
    bias_hh = parameters["rnn.bias_hh_l0"]
    length, batch = ids.shape
    size = weight_hh.shape[1]
    flat_ids = ids.reshape(-1)
    inputs = parameters["embedding.weight"][flat_ids]

    # forward: gates[t] becomes (r, z, n) after their nonlinearities; recurrent_n[t] = h_{t-1} W_hn^T + b_hn
    gates = np.dot(inputs, weight_ih.T).reshape(length, batch, 3 * size)
    gates += parameters["rnn.bias_ih_l0"]
    hidden = np.zeros((length + 1, batch, size), dtype=weight_hh.dtype)
    recurrent_n = np.empty((length, batch, size), dtype=weight_hh.dtype)
    weight_hh_t = weight_hh.T
    for timestep in range(length):
        step = gates[timestep]
        recurrent = bias_hh if timestep == 0 else np.dot(hidden[timestep], weight_hh_t) + bias_hh  # h_0 = 0
        reset_update = step[:, :2 * size]
        reset_update += recurrent[..., :2 * size]
        _sigmoid_(reset_update)
        reset, update, candidate = np.split(step, 3, axis=1)
        recurrent_n[timestep] = recurrent[..., 2 * size:]
        candidate += reset * recurrent_n[timestep]
        np.tanh(candidate, out=candidate)
        np.subtract(hidden[timestep], candidate, out=hidden[timestep + 1])
        hidden[timestep + 1] *= update
        hidden[timestep + 1] += candidate  # h_t = n + z (h_{t-1} - n)
    rows = length * batch
    gradients: dict[str, np.ndarray] = {}
    loss, grad_output = _readout(parameters, hidden[1:].reshape(rows, size), targets.reshape(-1), gradients)
    grad_output = grad_output.reshape(length, batch, size)

    # backward: grad_projected[t] = d loss/d (x_t W_ih^T + b_ih), grad_recurrent[t] = d loss/d (h W_hh^T + b_hh)
    grad_projected = np.empty_like(gates)
    grad_recurrent = np.empty_like(gates)
    grad_hidden = grad_output[-1].copy()
    for timestep in range(length - 1, -1, -1):
        reset, update, candidate = np.split(gates[timestep], 3, axis=1)
        grad_reset, grad_update, grad_candidate = np.split(grad_projected[timestep], 3, axis=1)
        np.multiply(grad_hidden, 1 - update, out=grad_candidate)
        grad_candidate *= 1 - candidate * candidate
        np.multiply(grad_hidden, hidden[timestep] - candidate, out=grad_update)
        grad_update *= update * (1 - update)
        np.multiply(grad_candidate, recurrent_n[timestep], out=grad_reset)
        grad_reset *= reset * (1 - reset)
        recurrent_step = grad_recurrent[timestep]
        recurrent_step[:, :2 * size] = grad_projected[timestep, :, :2 * size]
        np.multiply(grad_candidate, reset, out=recurrent_step[:, 2 * size:])
        if timestep:
            grad_hidden *= update
            grad_hidden += np.dot(recurrent_step, weight_hh)
            grad_hidden += grad_output[timestep - 1]
    flat_recurrent = grad_recurrent.reshape(rows, 3 * size)
    gradients["rnn.weight_hh_l0"] = np.dot(flat_recurrent[batch:].T, hidden[1:length].reshape(-1, size))
    gradients["rnn.bias_hh_l0"] = flat_recurrent.sum(axis=0)
    _input_gradients(parameters, flat_ids, inputs, grad_projected.reshape(rows, 3 * size), gradients)
    return loss, gradients


LOSS_AND_GRADIENTS = {"lstm": lstm_loss_and_gradients, "gru": gru_loss_and_gradients}


def loss_and_gradients(cell: str, parameters: dict[str, np.ndarray], ids: np.ndarray,
                       targets: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
    """The loss and d loss/d each parameter of the `cell` ('lstm' or 'gru') model."""
    return LOSS_AND_GRADIENTS[cell](parameters, ids, targets)


def train_step(cell: str, parameters: dict[str, np.ndarray], ids: np.ndarray, targets: np.ndarray,
               lr: float) -> float:
    """One SGD step in place: forward, BPTT, parameter -= lr * gradient; returns the loss before the step."""
    loss, gradients = loss_and_gradients(cell, parameters, ids, targets)
    for name, gradient in gradients.items():
        gradient *= lr
        parameters[name] -= gradient
    return loss
