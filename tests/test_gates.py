"""Gate paths: the parts sum to the engine's gradient, the carousel and the direct path equal their formulas
written with numpy, and a forget-gate bias of 3 moves the credit onto the carousel."""

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import analysis, nn


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def numpy_lstm_gates(lstm, inputs):
    """i, f, g, o of a one-layer LSTM at every step, (T, B, H) each, computed with numpy."""
    size = lstm.hidden_size
    hidden = cell = np.zeros((inputs.shape[1], size))
    gates = {name: [] for name in "ifgo"}
    bias = lstm.bias_ih_l0.data + lstm.bias_hh_l0.data
    for x_t in inputs:
        pre = x_t @ lstm.weight_ih_l0.data.T + hidden @ lstm.weight_hh_l0.data.T + bias
        i, f, g, o = (sigmoid(pre[:, :size]), sigmoid(pre[:, size:2 * size]), np.tanh(pre[:, 2 * size:3 * size]),
                      sigmoid(pre[:, 3 * size:]))
        cell = f * cell + i * g
        hidden = o * np.tanh(cell)
        for name, value in zip("ifgo", (i, f, g, o)):
            gates[name].append(value)
    return {name: np.stack(values) for name, values in gates.items()}


def lstm_paths(forget_bias=None, steps=20, seed=0):
    nn.manual_seed(seed)
    lstm = nn.LSTM(3, 8, dtype=np.float64)
    if forget_bias is not None:
        lstm.bias_ih_l0.data[8:16], lstm.bias_hh_l0.data[8:16] = forget_bias, 0.0
    inputs = np.random.default_rng(seed).standard_normal((steps, 2, 3))
    output, (h_n, c_n) = lstm(tg.Tensor(inputs))
    return lstm, inputs, analysis.gate_paths((output[-1] ** 2).sum() + 0.1 * c_n.sum())["lstm.l0"]


def test_lstm_parts_sum_to_the_total():
    """The LSTM's parts sum to the cell gradient, and the carousel part is f times the next step's."""
    lstm, inputs, paths = lstm_paths()
    assert paths.kind == "lstm" and set(paths.parts) == {"carousel", "through_hidden", "other"}
    np.testing.assert_allclose(sum(paths.parts.values()), paths.total, rtol=0, atol=1e-12)
    gates = numpy_lstm_gates(lstm, inputs)
    np.testing.assert_allclose(paths.parts["carousel"][:-1], gates["f"][1:] * paths.total[1:], rtol=0, atol=1e-12)
    assert np.all(paths.parts["carousel"][-1] == 0)  # no step after the last
    np.testing.assert_allclose(paths.parts["other"][-1], 0.1)  # c_n read by the loss
    assert np.all(paths.parts["other"][:-1] == 0)
    for name in "ifgo":
        np.testing.assert_allclose(paths.gate_means[name], gates[name].mean(axis=(1, 2)), rtol=1e-12)
    np.testing.assert_array_equal(paths.steps, np.arange(20))


def test_forget_bias_feeds_the_carousel():
    """A forget-gate bias of 3 moves the credit onto the carousel."""
    default, biased = lstm_paths()[2], lstm_paths(forget_bias=3.0)[2]
    assert biased.share("carousel") > default.share("carousel") + 0.05  # measured: 0.78 and 0.87
    assert default.share("carousel", weighted=True) < 0.5 < biased.share("carousel", weighted=True)  # 0.39, 0.82
    assert biased.gate_means["f"].mean() > 0.9 > 0.6 > default.gate_means["f"].mean()
    assert biased.norms("total")[0] > 10 * default.norms("total")[0]  # the early steps keep their gradient


def test_saturated_units_are_counted():
    _, _, paths = lstm_paths(forget_bias=30.0)
    np.testing.assert_array_equal(paths.saturation["f"], 1.0)  # sigmoid(30)' = 9e-14
    assert paths.saturation["i"].max() < 0.5


def test_gru_parts_sum_to_the_total():
    """The GRU's parts sum to the hidden gradient, and the direct path is z times the next step's."""
    nn.manual_seed(1)
    gru = nn.GRU(3, 5, bidirectional=True, dtype=np.float64)
    inputs = np.random.default_rng(1).standard_normal((7, 2, 3))
    output, _ = gru(tg.Tensor(inputs))
    all_paths = analysis.gate_paths((output ** 2).sum())
    assert set(all_paths) == {"gru.l0", "gru.l0_reverse"}
    for layer, paths in all_paths.items():
        np.testing.assert_allclose(sum(paths.parts.values()), paths.total, rtol=0, atol=1e-12)
        z = numpy_gru_update(gru, inputs, reverse=layer.endswith("reverse"))
        if layer.endswith("reverse"):  # processed from t = T-1 down: the step after t is t-1
            np.testing.assert_allclose(paths.parts["direct"][1:], z[:-1] * paths.total[:-1], rtol=0, atol=1e-12)
        else:
            np.testing.assert_allclose(paths.parts["direct"][:-1], z[1:] * paths.total[1:], rtol=0, atol=1e-12)
        np.testing.assert_allclose(paths.gate_means["z"], z.mean(axis=(1, 2)), rtol=1e-12)
        assert 0 < paths.share("direct") < 1 and paths.share("through_gates") > 0


def numpy_gru_update(gru, inputs, reverse):
    """z_t of one GRU direction at every step (time order), with numpy."""
    suffix = "_reverse" if reverse else ""
    weight_ih, weight_hh = (getattr(gru, f"{kind}_l0{suffix}").data for kind in ("weight_ih", "weight_hh"))
    bias_ih, bias_hh = (getattr(gru, f"{kind}_l0{suffix}").data for kind in ("bias_ih", "bias_hh"))
    size = gru.hidden_size
    hidden = np.zeros((inputs.shape[1], size))
    updates = [None] * len(inputs)
    for t in (reversed(range(len(inputs))) if reverse else range(len(inputs))):
        projected, recurrent = inputs[t] @ weight_ih.T + bias_ih, hidden @ weight_hh.T + bias_hh
        reset = sigmoid(projected[:, :size] + recurrent[:, :size])
        update = sigmoid(projected[:, size:2 * size] + recurrent[:, size:2 * size])
        candidate = np.tanh(projected[:, 2 * size:] + reset * recurrent[:, 2 * size:])
        hidden = (1 - update) * candidate + update * hidden
        updates[t] = update
    return np.stack(updates)


def test_gateless_model_is_refused():
    """A model without gates is refused, and gate_paths leaves .grad alone."""
    rnn = nn.RNN(2, 3, dtype=np.float64)
    with pytest.raises(ValueError, match="no LSTM or GRU steps"):
        analysis.gate_paths(rnn(tg.Tensor(np.ones((3, 2))))[0].sum())
    lstm = nn.LSTM(2, 3, dtype=np.float64)
    analysis.gate_paths(lstm(tg.Tensor(np.ones((3, 2))))[0].sum())
    assert all(param.grad is None for param in lstm.parameters())
    with pytest.raises(KeyError, match="no part 'direct'"):
        lstm_paths()[2].norms("direct")


def test_lstm_cell_in_a_hand_loop_is_found():
    """An LSTMCell in a loop of one's own is found by its step scopes."""
    cell = nn.LSTMCell(3, 4, dtype=np.float64)
    inputs = tg.Tensor(np.random.default_rng(2).standard_normal((5, 2, 3)))
    state, outputs = None, []
    for timestep in range(5):
        with tg.scope(f"t={timestep}"):
            state = cell(inputs[timestep], state)
            outputs.append(state[0])
    paths = analysis.gate_paths((tg.stack(outputs) ** 2).sum())
    assert list(paths) == [""]  # a loop at the top level: the layer scope is empty
    np.testing.assert_allclose(sum(paths[""].parts.values()), paths[""].total, rtol=0, atol=1e-12)
    assert np.all(paths[""].norms("carousel")[:-1] > 0)
