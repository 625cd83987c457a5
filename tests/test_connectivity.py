"""The connectivity map against closed forms and central finite differences; its horizon."""

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import analysis, nn


def linear_rnn(inputs, weight_hh):
    """h_t = x_t + h_{t-1} W_hh^T (W_ih = I), one step scope per step; returns the list of h_t."""
    weight = tg.Tensor(weight_hh, requires_grad=True)
    hidden = tg.Tensor(np.zeros(inputs.shape[1:]))
    states = []
    for timestep in range(inputs.shape[0]):
        with tg.scope(f"t={timestep}"):
            hidden = inputs[timestep] + hidden @ weight.T
            states.append(hidden)
    return states


@pytest.mark.parametrize("scale", [0.5, 0.9, 1.2])
def test_linear_map_is_s_to_the_lag(scale):
    """The linear RNN's map is exactly s^lag * sqrt(H) below the diagonal and 0 above."""
    size, steps = 6, 9
    inputs = tg.Tensor(np.random.default_rng(0).standard_normal((steps, 3, size)), requires_grad=True)
    states = linear_rnn(inputs, analysis.scaled_orthogonal(size, scale, generator=1))
    lags = np.subtract.outer(np.arange(steps), np.arange(steps))
    expected = np.where(lags >= 0, scale ** np.maximum(lags, 0) * np.sqrt(size), 0.0)
    np.testing.assert_allclose(analysis.connectivity(states, inputs), expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(analysis.connectivity(tg.stack(states), inputs), expected, rtol=1e-12, atol=1e-15)
    assert inputs.grad is None  # left as it was


def test_horizon_of_a_linear_rnn():
    """The horizon is the lag where s^lag falls below the fraction."""
    steps = 12
    lags = np.subtract.outer(np.arange(steps), np.arange(steps))
    exact = np.where(lags >= 0, 0.5 ** np.maximum(lags, 0) * 3.0, 0.0)
    assert analysis.horizon(exact) == 6  # 0.5^6 = 0.016 >= 0.01 > 0.5^7
    assert analysis.horizon(exact, fraction=0.2) == 2
    assert analysis.horizon(exact, fraction=1e-9) == steps - 1
    np.testing.assert_allclose(analysis.lag_profile(exact), 3.0 * 0.5 ** np.arange(steps))


def finite_difference_map(run, inputs, eps=1e-5):
    """M[t, s] = sqrt(mean over sequences b of ||d y_t[b] / d x_s[b]||_F^2), by central differences."""
    steps, batch = inputs.shape[:2]
    squares = np.zeros((steps, steps))
    for s in range(steps):
        for b in range(batch):
            for j in range(inputs.shape[2]):
                plus, minus = inputs.copy(), inputs.copy()
                plus[s, b, j] += eps
                minus[s, b, j] -= eps
                column = (run(plus)[:, b] - run(minus)[:, b]) / (2 * eps)  # (T, H)
                squares[:, s] += (column ** 2).sum(axis=1)
    return np.sqrt(squares / batch)


@pytest.mark.parametrize("kind", ["rnn", "lstm_batch_first", "gru_2_layers"])
def test_map_matches_finite_differences(kind):
    nn.manual_seed(3)
    model = {"rnn": lambda: nn.RNN(2, 3, dtype=np.float64),
             "lstm_batch_first": lambda: nn.LSTM(2, 3, batch_first=True, dtype=np.float64),
             "gru_2_layers": lambda: nn.GRU(2, 3, num_layers=2, dtype=np.float64)}[kind]()
    batch_first = kind.endswith("batch_first")
    data = np.random.default_rng(4).standard_normal((5, 2, 2))  # (T, B, I)

    def run(array):
        with tg.no_grad():
            output, _ = model(tg.Tensor(array.transpose(1, 0, 2) if batch_first else array))
        return output.data.transpose(1, 0, 2) if batch_first else output.data

    inputs = tg.Tensor(data.transpose(1, 0, 2) if batch_first else data, requires_grad=True)
    output, _ = model(inputs)
    measured = analysis.connectivity(output, inputs, time_axis=1 if batch_first else 0)
    np.testing.assert_allclose(measured, finite_difference_map(run, data), rtol=1e-6, atol=1e-9)
    assert np.all(np.triu(measured, k=1) == 0)  # causal: y_t does not depend on later inputs


def test_unbatched_and_whole_batch():
    """An unbatched sequence works, and a whole batch measured as one sample is sqrt(B) larger."""
    inputs = tg.Tensor(np.random.default_rng(5).standard_normal((4, 3)), requires_grad=True)
    states = linear_rnn(inputs, 0.5 * np.eye(3))
    lags = np.subtract.outer(np.arange(4), np.arange(4))
    np.testing.assert_allclose(analysis.connectivity(states, inputs),
                               np.where(lags >= 0, 0.5 ** np.maximum(lags, 0) * np.sqrt(3), 0), rtol=1e-12)
    batched = tg.Tensor(np.ones((4, 2, 3)), requires_grad=True)
    states = linear_rnn(batched, 0.5 * np.eye(3))
    whole = analysis.connectivity(states, batched, batched=False)  # the (B*H, B*I) Jacobian: sqrt(B) larger
    np.testing.assert_allclose(whole, np.sqrt(2) * analysis.connectivity(states, batched), rtol=1e-12)


def test_mixed_sequences_are_refused():
    """Sequences that mix (a batch statistic) are refused unless measured as one sample."""
    inputs = tg.Tensor(np.random.default_rng(6).standard_normal((3, 2, 2)), requires_grad=True)
    states = linear_rnn(inputs, 0.5 * np.eye(2))
    mixed = [state - state.mean(axis=0, keepdims=True) for state in states]  # a batch statistic
    with pytest.raises(ValueError, match="sequences of the batch are not independent"):
        analysis.connectivity(mixed, inputs)
    assert analysis.connectivity(mixed, inputs, batched=False).shape == (3, 3)


def test_bad_input_is_named():
    inputs = tg.Tensor(np.ones((3, 2, 2)))
    with pytest.raises(ValueError, match="requires_grad=True"):
        analysis.connectivity([inputs[0]], inputs)
    leaf = tg.Tensor(np.ones((3, 2, 2)), requires_grad=True)
    with pytest.raises(TypeError, match="list of per-step"):
        analysis.connectivity("outputs", leaf)
    with pytest.raises(ValueError, match="fraction must be a number in"):
        analysis.horizon(np.eye(3), fraction=0)
    with pytest.raises(ValueError, match="square connectivity map"):
        analysis.horizon(np.ones((2, 3)))
    with pytest.raises(ValueError, match="diagonal is zero"):
        analysis.horizon(np.tril(np.ones((3, 3)), k=-1))


def test_scalar_outputs_per_step():
    """A list of 0-d per-step outputs (a loss read at each step) works, and matches central differences."""
    nn.manual_seed(3)
    rnn = nn.RNN(2, 4, dtype=np.float64)
    data = np.random.default_rng(3).standard_normal((5, 2))

    def losses(array):
        output, _ = rnn(tg.Tensor(array))
        return np.array([float((output[t] ** 2).sum()) for t in range(5)])

    inputs = tg.Tensor(data, requires_grad=True)
    output, _ = rnn(inputs)
    matrix = analysis.connectivity([(output[t] ** 2).sum() for t in range(5)], inputs)
    expected = np.zeros((5, 5))
    for s in range(5):
        rows = []
        for feature in range(2):
            step = np.zeros_like(data)
            step[s, feature] = 1e-6
            rows.append((losses(data + step) - losses(data - step)) / 2e-6)
        expected[:, s] = np.linalg.norm(np.array(rows), axis=0)
    np.testing.assert_allclose(matrix, expected, rtol=1e-6, atol=1e-9)
