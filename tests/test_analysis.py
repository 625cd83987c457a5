"""Gradient flow through time: exact Jacobian norms against closed forms, numpy BPTT and finite differences."""

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import analysis, nn


class ElmanRNN(nn.Module):
    """h_t = phi(W_hh h_{t-1} + W_ih x_t) with PyTorch's (output, h_n) contract; phi = identity or tanh.

    Built from Tensor ops here because nn.RNN offers only tanh and relu, and the exact s^(T-t) law needs
    the linear recurrence.
    """

    num_layers = 1

    def __init__(self, weight_ih, weight_hh, linear):
        super().__init__()
        self.weight_ih = nn.Parameter(weight_ih)
        self.weight_hh = nn.Parameter(weight_hh)
        self.linear = linear

    def forward(self, inputs, hidden=None):
        batch_shape = inputs.shape[1:-1]  # (N,) or () unbatched
        state = tg.Tensor(np.zeros(batch_shape + (self.weight_hh.shape[0],))) if hidden is None else hidden[0]
        outputs = []
        for x_t in inputs:
            state = x_t @ self.weight_ih.T + state @ self.weight_hh.T
            state = state if self.linear else state.tanh()
            outputs.append(state)
        return tg.stack(outputs), tg.stack([state])


def numpy_tanh_states(weight_ih, weight_hh, bias, inputs):
    """Hidden states of h_t = tanh(W_ih x_t + W_hh h_{t-1} + b), h_{-1} = 0.  inputs: (T, N, I)."""
    hidden = np.zeros((inputs.shape[1], weight_hh.shape[0]))
    states = []
    for x_t in inputs:
        hidden = np.tanh(x_t @ weight_ih.T + hidden @ weight_hh.T + bias)
        states.append(hidden)
    return np.stack(states)


def make_inputs(rng, steps, batch, size, scale=1.0):
    return scale * rng.standard_normal((steps, batch, size))


@pytest.mark.parametrize("scale", [0.5, 0.9, 1.0, 1.3])
def test_linear_jacobian_is_s_to_the_lag(scale):
    rng = np.random.default_rng(0)
    hidden_size, steps = 6, 12
    weight_hh = analysis.scaled_orthogonal(hidden_size, scale, generator=rng)
    model = ElmanRNN(rng.standard_normal((hidden_size, 3)), weight_hh, linear=True)
    norms = analysis.jacobian_norms(model, make_inputs(rng, steps, 2, 3))
    lags = steps - 1 - np.arange(steps)
    expected = np.broadcast_to(scale ** lags, (2, steps))
    np.testing.assert_allclose(norms, expected, rtol=1e-10, atol=0)


def test_non_normal_matrix_amplifies():
    """A non-normal W_hh amplifies the gradient although its spectral radius is below one."""
    # The docs' point: the bound is on the largest singular value; eigenvalues decide only normal matrices.
    weight_hh = np.array([[0.5, 4.0], [0.0, 0.5]])
    assert analysis.spectral_radius(weight_hh) == pytest.approx(0.5)
    assert analysis.largest_singular_value(weight_hh) > 4.0
    model = ElmanRNN(np.eye(2), weight_hh, linear=True)
    norms = analysis.jacobian_norms(model, np.zeros((6, 2)))
    lags = 5 - np.arange(6)
    powers = [np.linalg.norm(np.linalg.matrix_power(weight_hh, lag), 2) for lag in lags]
    np.testing.assert_allclose(norms, powers, rtol=1e-12)
    assert norms[-2] > 4.0  # one step multiplies the gradient by more than 4 although rho = 0.5
    assert norms[0] < norms[-3]  # ...and the asymptotic rate is still rho


def test_tanh_jacobian_matches_numpy():
    """The tanh RNN's Jacobian norm equals the numpy product of step Jacobians and stays below s^lag."""
    rng = np.random.default_rng(1)
    hidden_size, steps, scale = 5, 10, 1.2
    weight_ih = rng.standard_normal((hidden_size, 2))
    weight_hh = analysis.scaled_orthogonal(hidden_size, scale, generator=rng)
    inputs = make_inputs(rng, steps, 1, 2, scale=0.3)
    norms = analysis.jacobian_norms(ElmanRNN(weight_ih, weight_hh, linear=False), inputs)[0]
    states = numpy_tanh_states(weight_ih, weight_hh, 0.0, inputs)[:, 0]
    for t in range(steps):
        jacobian = np.eye(hidden_size)
        for k in range(t + 1, steps):  # d h_k / d h_{k-1} = diag(1 - h_k^2) W_hh
            jacobian = np.diag(1 - states[k] ** 2) @ weight_hh @ jacobian
        assert norms[t] == pytest.approx(np.linalg.norm(jacobian, 2), rel=1e-10)
        assert norms[t] <= scale ** (steps - 1 - t) * (1 + 1e-12)
    assert norms[0] < scale ** (steps - 1)  # tanh' < 1 makes the bound strict


@pytest.mark.parametrize("scale", [0.6, 1.0, 1.5])
def test_nn_rnn_obeys_the_bound(scale):
    tg.nn.random.manual_seed(7)
    model = nn.RNN(3, 8, dtype=np.float64)
    model.weight_hh_l0.data[...] = analysis.scaled_orthogonal(8, scale, generator=7)
    norms = analysis.jacobian_norms(model, np.random.default_rng(7).standard_normal((15, 2, 3)))
    lags = 14 - np.arange(15)
    assert np.all(norms <= scale ** lags * (1 + 1e-12))
    assert np.all(norms[:, :-1] < scale ** lags[:-1])  # strictly below: tanh' < 1 wherever h != 0


def test_gradient_norms_match_numpy():
    rng = np.random.default_rng(2)
    steps, batch, hidden_size = 7, 3, 4
    model = nn.RNN(2, hidden_size, dtype=np.float64)
    inputs = make_inputs(rng, steps, batch, 2)
    upstream = rng.standard_normal((steps, batch, hidden_size))
    norms = analysis.gradient_norms_through_time(model, inputs, lambda output: (output * upstream).sum())

    weight_hh = model.weight_hh_l0.data
    bias = model.bias_ih_l0.data + model.bias_hh_l0.data
    states = numpy_tanh_states(model.weight_ih_l0.data, weight_hh, bias, inputs)
    grad_hidden = upstream[-1]
    expected = [np.linalg.norm(grad_hidden)]
    for t in reversed(range(steps - 1)):  # dL/dh_t = upstream_t + (dL/dh_{t+1} * (1 - h_{t+1}^2)) W_hh
        grad_hidden = upstream[t] + (grad_hidden * (1 - states[t + 1] ** 2)) @ weight_hh
        expected.insert(0, np.linalg.norm(grad_hidden))
    np.testing.assert_allclose(norms, expected, rtol=1e-10)


def test_leaves_parameters_alone():
    """The analysis leaves each parameter's grad and requires_grad as it found them."""
    model = nn.GRU(2, 3, dtype=np.float64)
    for p in model.parameters():
        p.grad = np.full(p.shape, 7.0)
    model.bias_hh_l0.requires_grad = False
    inputs = np.random.default_rng(3).standard_normal((4, 2))
    analysis.gradient_norms_through_time(model, inputs, lambda output: output.sum())
    analysis.jacobian_norms(model, inputs)
    for name, p in model.named_parameters():
        assert np.all(p.grad == 7.0), name
        assert p.requires_grad == (name != "bias_hh_l0")


def finite_difference_jacobian_norms(model, inputs, eps=1e-6):
    """||d h_T / d h_t|| by central differences on h_t (c_t held fixed for an LSTM), using the full forward."""
    steps = inputs.shape[0]
    norms = []
    for t in range(steps):
        _, state = model(tg.Tensor(inputs[:t + 1]))
        is_lstm = isinstance(state, tuple)
        hidden = (state[0] if is_lstm else state).data
        columns = []
        for j in range(hidden.shape[-1]):
            ends = []
            for sign in (1.0, -1.0):
                moved = hidden.copy()
                moved[..., j] += sign * eps
                if t == steps - 1:
                    ends.append(moved[-1])
                    continue
                start = (tg.Tensor(moved), state[1]) if is_lstm else tg.Tensor(moved)
                _, end = model(tg.Tensor(inputs[t + 1:]), start)
                ends.append((end[0] if is_lstm else end).data[-1])
            columns.append((ends[0] - ends[1]) / (2 * eps))
        norms.append(np.linalg.norm(np.stack(columns, axis=-1), 2))
    return np.array(norms)


@pytest.mark.parametrize("cell", ["RNN", "LSTM", "GRU"])
def test_jacobians_match_finite_differences(cell):
    tg.nn.random.manual_seed(4)
    model = getattr(nn, cell)(3, 4, dtype=np.float64)
    inputs = np.random.default_rng(4).standard_normal((6, 3))
    norms = analysis.jacobian_norms(model, inputs)
    assert norms.shape == (6,)
    np.testing.assert_allclose(norms, finite_difference_jacobian_norms(model, inputs), rtol=1e-6)
    assert norms[-1] == pytest.approx(1.0)


def test_batch_first_cells_and_stacks_agree():
    """Batch-first layers, cells and stacked layers give the norms and shapes of the plain layer."""
    rng = np.random.default_rng(5)
    tg.nn.random.manual_seed(5)
    model = nn.LSTM(2, 3, dtype=np.float64)
    inputs = rng.standard_normal((5, 2, 2))
    reference = analysis.jacobian_norms(model, inputs)
    assert reference.shape == (2, 5)

    batch_first = nn.LSTM(2, 3, batch_first=True, dtype=np.float64)
    batch_first.load_state_dict(model.state_dict())
    np.testing.assert_allclose(analysis.jacobian_norms(batch_first, inputs.transpose(1, 0, 2)), reference,
                               rtol=1e-12)

    cell = nn.LSTMCell(2, 3, dtype=np.float64)
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        getattr(cell, name).data[...] = getattr(model, f"{name}_l0").data
    np.testing.assert_allclose(analysis.jacobian_norms(cell, inputs), reference, rtol=1e-12)

    loss = lambda output: (output ** 2).sum()  # noqa: E731
    np.testing.assert_allclose(analysis.gradient_norms_through_time(cell, inputs, loss),
                               analysis.gradient_norms_through_time(model, inputs, loss), rtol=1e-12)

    stacked = nn.GRU(2, 3, num_layers=2, dtype=np.float64)
    assert analysis.gradient_norms_through_time(stacked, inputs, loss).shape == (5,)
    assert analysis.jacobian_norms(stacked, inputs[:, 0]).shape == (5,)


def test_spectral_tools():
    rng = np.random.default_rng(6)
    weight = analysis.scaled_orthogonal(8, 0.7, generator=rng)
    np.testing.assert_allclose(weight @ weight.T, 0.49 * np.eye(8), atol=1e-12)
    assert analysis.spectral_radius(weight) == pytest.approx(0.7, rel=1e-12)
    assert analysis.largest_singular_value(tg.Tensor(weight)) == pytest.approx(0.7, rel=1e-12)
    general = rng.standard_normal((5, 5))
    rescaled = analysis.scale_to_spectral_radius(general, 1.5)
    assert analysis.spectral_radius(rescaled) == pytest.approx(1.5, rel=1e-12)
    assert analysis.largest_singular_value(general) >= analysis.spectral_radius(general)


@pytest.mark.parametrize("call, message", [
    (lambda: analysis.spectral_radius(np.ones((2, 3))), r"spectral_radius: expected a square matrix .*\(2, 3\)"),
    (lambda: analysis.largest_singular_value(np.ones(3)), r"largest_singular_value: expected a non-empty matrix "
                                                         r".*\(3,\)"),
    (lambda: analysis.spectral_radius(np.zeros((0, 0))), r"spectral_radius: expected a non-empty matrix"),
    (lambda: analysis.spectral_radius(np.array([[np.nan]])), r"spectral_radius: .* holds NaN or inf"),
    (lambda: analysis.scale_to_spectral_radius(np.eye(2), -1.0), r"rho must be a finite number of at least 0, "
                                                                 r"got -1.0"),
    (lambda: analysis.scaled_orthogonal(3, "a"), r"scale must be a finite number of at least 0, got 'a'"),
    (lambda: analysis.scale_to_spectral_radius(np.triu(np.ones((3, 3)), 1), 0.9), "spectral radius 0"),
    (lambda: analysis.scaled_orthogonal(0, 1.0), "size must be a positive integer"),
    (lambda: analysis.jacobian_norms(nn.RNN(2, 3, bidirectional=True), np.zeros((4, 2))), "bidirectional"),
    (lambda: analysis.jacobian_norms(nn.RNN(2, 3), np.zeros((4, 2), dtype=int)), "floating point"),
    (lambda: analysis.jacobian_norms(nn.RNN(2, 3), np.zeros(4)), r"got \(4,\)"),
    (lambda: analysis.jacobian_norms(nn.RNN(2, 3), np.full((4, 2), np.nan)), r"jacobian_norms: the inputs of "
                                                                             r"shape \(4, 2\) hold NaN or inf"),
    (lambda: analysis.gradient_norms_through_time(nn.RNN(2, 3), np.zeros((4, 2), np.float32), lambda out: out),
     "one-element Tensor"),
])
def test_errors_name_function_and_shapes(call, message):
    with pytest.raises(ValueError, match=message):
        call()
