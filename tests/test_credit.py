"""The credit ledger, credit by lag and the truncation meter, against the engine's gradient, a hand-written numpy
BPTT and a detach()ed run."""

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import analysis, nn


def named(*modules_with_prefix):
    """One name -> parameter dict from (prefix, module) pairs."""
    return {f"{prefix}.{name}": param for prefix, module in modules_with_prefix
            for name, param in module.named_parameters()}


class ScopedCell(nn.Module):
    """A cell of the user's own made of registry ops, h' = tanh(x W^T + (h * g) U^T + b) * sigmoid(c), run in a
    loop of `tg.scope(f"t={t}")`: W.T inside each step, U.T outside, a gain g and a constant c."""

    def __init__(self, input_size, hidden_size):
        super().__init__()
        rng = np.random.default_rng(5)
        self.weight = nn.Parameter(rng.standard_normal((hidden_size, input_size)) * 0.5)
        self.recurrent = nn.Parameter(rng.standard_normal((hidden_size, hidden_size)) * 0.4)
        self.bias = nn.Parameter(rng.standard_normal(hidden_size) * 0.1)
        self.gain = nn.Parameter(1 + 0.1 * rng.standard_normal(hidden_size))

    def forward(self, inputs):
        hidden = tg.Tensor(np.zeros(inputs.shape[1:-1] + (self.weight.shape[0],)))
        recurrent_t = self.recurrent.T
        outputs = []
        for timestep in range(inputs.shape[0]):
            with tg.scope(f"t={timestep}"):
                mixed = inputs[timestep] @ self.weight.T + (hidden * self.gain) @ recurrent_t + self.bias
                hidden = mixed.tanh() * (hidden.sigmoid() + 0.5)
                outputs.append(hidden)
        return tg.stack(outputs), hidden


MODELS = {
    "rnn": lambda: nn.RNN(3, 4, dtype=np.float64),
    "lstm": lambda: nn.LSTM(3, 4, dtype=np.float64),
    "gru": lambda: nn.GRU(3, 4, dtype=np.float64),
    "rnn_2_layers": lambda: nn.RNN(3, 4, num_layers=2, nonlinearity="relu", dtype=np.float64),
    "lstm_bidirectional_batch_first": lambda: nn.LSTM(3, 4, bidirectional=True, batch_first=True, dtype=np.float64),
    "gru_2_layers_bidirectional": lambda: nn.GRU(3, 4, num_layers=2, bidirectional=True, dtype=np.float64),
    "custom_cell": lambda: ScopedCell(3, 4),
}


def readout_loss(model, head, inputs, targets):
    output, _ = model(inputs)
    return ((head(output) - targets) ** 2).mean()


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_ledger_total_is_the_engine_gradient(kind):
    nn.manual_seed(0)
    rng = np.random.default_rng(1)
    model = MODELS[kind]()
    width = 8 if "bidirectional" in kind else 4
    head = nn.Linear(width, 2, dtype=np.float64)
    inputs = tg.Tensor(rng.standard_normal((6, 2, 3)))
    targets = tg.Tensor(rng.standard_normal((6, 2, 2)))  # batch_first: 6 sequences of 2 steps
    params = named(("model", model), ("head", head))
    ledger = analysis.credit(readout_loss(model, head, inputs, targets), params)
    assert all(param.grad is None for param in params.values())  # the ledger leaves .grad alone
    readout_loss(model, head, inputs, targets).backward()
    for name, param in params.items():
        np.testing.assert_allclose(ledger.total(name), param.grad, rtol=0, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(ledger.contribution(name).sum(axis=0) + ledger.outside(name), param.grad,
                                   rtol=0, atol=1e-12, err_msg=name)
    np.testing.assert_array_equal(ledger.steps, np.arange(2 if "batch_first" in kind else 6))
    assert not np.any(ledger.outside("model." + next(iter(dict(model.named_parameters())))))
    assert np.all(ledger.contribution("head.weight") == 0)  # the readout after the loop is outside every step
    np.testing.assert_allclose(ledger.outside("head.weight"), params["head.weight"].grad, rtol=0, atol=1e-12)


def numpy_bptt_terms(weight_ih, weight_hh, bias, inputs, readout):
    """Per-step terms of dL/dW_ih, dL/dW_hh, dL/db for h_t = tanh(x_t W_ih^T + h_{t-1} W_hh^T + b),
    L = sum_t sum(h_t * readout_t), written out by hand."""
    steps, batch, _ = inputs.shape
    hidden_size = weight_hh.shape[0]
    states = [np.zeros((batch, hidden_size))]
    for x_t in inputs:
        states.append(np.tanh(x_t @ weight_ih.T + states[-1] @ weight_hh.T + bias))
    terms_ih, terms_hh, terms_b = np.zeros((steps, *weight_ih.shape)), np.zeros((steps, *weight_hh.shape)), \
        np.zeros((steps, hidden_size))
    from_later = np.zeros((batch, hidden_size))
    for t in reversed(range(steps)):
        delta = (readout[t] + from_later) * (1 - states[t + 1] ** 2)
        terms_ih[t], terms_hh[t], terms_b[t] = delta.T @ inputs[t], delta.T @ states[t], delta.sum(axis=0)
        from_later = delta @ weight_hh
    return terms_ih, terms_hh, terms_b


def test_per_step_parts_match_numpy_bptt():
    nn.manual_seed(2)
    rng = np.random.default_rng(3)
    rnn = nn.RNN(3, 5, dtype=np.float64)
    inputs, readout = rng.standard_normal((7, 2, 3)), rng.standard_normal((7, 2, 5))
    output, _ = rnn(tg.Tensor(inputs))
    ledger = analysis.credit((output * readout).sum(), dict(rnn.named_parameters()))
    terms_ih, terms_hh, terms_b = numpy_bptt_terms(rnn.weight_ih_l0.data, rnn.weight_hh_l0.data,
                                                   rnn.bias_ih_l0.data + rnn.bias_hh_l0.data, inputs, readout)
    np.testing.assert_allclose(ledger.contribution("weight_ih_l0"), terms_ih, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ledger.contribution("weight_hh_l0"), terms_hh, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ledger.contribution("bias_ih_l0"), terms_b, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ledger.contribution("bias_hh_l0"), terms_b, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ledger.norms("weight_hh_l0"), np.linalg.norm(terms_hh.reshape(7, -1), axis=1),
                               rtol=1e-12)
    np.testing.assert_allclose(ledger.share("weight_hh_l0").sum(), 1.0)


def test_norms_only_ledger():
    nn.manual_seed(4)
    gru = nn.GRU(2, 3, dtype=np.float64)
    inputs = tg.Tensor(np.random.default_rng(0).standard_normal((5, 2)))  # unbatched
    full = analysis.credit(gru(inputs)[0].sum(), gru)
    light = analysis.credit(gru(inputs)[0].sum(), gru, arrays=False)
    for name in full.names:
        np.testing.assert_allclose(light.norms(name), full.norms(name), rtol=1e-12)
        np.testing.assert_allclose(light.total(name), full.total(name), rtol=0, atol=1e-14)
    with pytest.raises(ValueError, match="arrays=False"):
        light.contribution("weight_hh_l0")
    with pytest.raises(KeyError, match="no parameter named 'weight'"):
        light.norms("weight")


def test_frees_the_graph_unless_retained():
    rnn = nn.RNN(2, 3, dtype=np.float64)
    loss = rnn(tg.Tensor(np.ones((4, 1, 2))))[0].sum()
    analysis.credit(loss, rnn, retain_graph=True)
    analysis.credit(loss, rnn)
    with pytest.raises(ValueError, match="already freed by a backward"):
        analysis.credit(loss, rnn)


def test_embedding_front_end():
    nn.manual_seed(6)
    embedding, lstm = nn.Embedding(7, 3, dtype=np.float64), nn.LSTM(3, 4, dtype=np.float64)
    ids = np.array([[1, 2], [2, 2], [6, 0], [1, 1]])
    params = named(("embedding", embedding), ("lstm", lstm))

    def loss():
        output, (h_n, c_n) = lstm(embedding(ids))
        return (output[:, :, :2] ** 2).sum() + c_n.sum()

    ledger = analysis.credit(loss(), params)
    loss().backward()
    for name, param in params.items():
        np.testing.assert_allclose(ledger.total(name), param.grad, rtol=0, atol=1e-12, err_msg=name)


def tanh_rnn(scale, hidden_size=16, input_size=4, seed=0):
    nn.manual_seed(seed)
    rnn = nn.RNN(input_size, hidden_size, dtype=np.float64)
    rnn.weight_hh_l0.data[...] = analysis.scaled_orthogonal(hidden_size, scale, generator=seed)
    return rnn


@pytest.mark.parametrize("k", [1, 3, 12])
def test_truncation_equals_a_detached_run(k):
    steps = 12
    rnn = tanh_rnn(1.2)
    rng = np.random.default_rng(7)
    inputs, readout = tg.Tensor(rng.standard_normal((steps, 3, 4))), rng.standard_normal((3, 16))
    output, _ = rnn(inputs)
    losses = [None] * (steps - 1) + [(output[-1] * readout).sum()]
    report = analysis.truncation(losses, rnn, k)
    first, state = rnn(inputs[:steps - k]) if k < steps else (None, None)
    last, _ = rnn(inputs[steps - k:], None if state is None else state.detach())
    (last[-1] * readout).sum().backward()
    for name, param in rnn.named_parameters():
        np.testing.assert_allclose(report[name].truncated, param.grad, rtol=0, atol=1e-12, err_msg=name)
    if k == steps:
        assert report["weight_hh_l0"].cosine == pytest.approx(1.0) and report["weight_hh_l0"].share_beyond == 0


def per_step_losses(rnn, inputs, readout):
    output, _ = rnn(inputs)
    return [(output[t] * readout[t]).sum() for t in range(output.shape[0])]


def test_truncation_hurts_only_growth():
    """Truncation is harmless when gradients vanish and not when they grow."""
    rng = np.random.default_rng(8)
    inputs, readout = tg.Tensor(rng.standard_normal((40, 4, 4))), rng.standard_normal((40, 4, 16))
    rnn = tanh_rnn(0.5)
    fading = analysis.truncation(per_step_losses(rnn, inputs, readout), rnn, 10)["weight_hh_l0"]
    rnn = tanh_rnn(1.5)
    growing = analysis.truncation(per_step_losses(rnn, inputs, readout), rnn, 10)["weight_hh_l0"]
    assert fading.cosine > 0.999 and fading.share_beyond < 1e-3
    assert growing.cosine < 0.7 and growing.share_beyond > 0.5  # measured: 0.50 and 0.69


def test_credit_matrix_rows_are_causal():
    """Each row sums to its loss's gradient, and loss t gets nothing from steps after t."""
    rnn = tanh_rnn(0.9, hidden_size=5, input_size=2)
    rng = np.random.default_rng(9)
    inputs, readout = tg.Tensor(rng.standard_normal((6, 2, 2))), rng.standard_normal((6, 2, 5))
    matrix = analysis.credit_matrix(per_step_losses(rnn, inputs, readout), rnn, arrays=True, retain_graph=True)
    norms = analysis.credit_matrix(per_step_losses(rnn, inputs, readout), rnn)
    for t in (0, 3, 5):
        rnn.zero_grad()
        per_step_losses(rnn, inputs, readout)[t].backward()
        np.testing.assert_allclose(matrix["weight_hh_l0"][t].sum(axis=0), rnn.weight_hh_l0.grad, atol=1e-12)
    assert np.all(np.triu(norms["weight_ih_l0"], k=1) == 0)  # loss t gets nothing from steps after t
    assert np.all(np.diag(norms["weight_ih_l0"]) > 0)
    np.testing.assert_allclose(norms["weight_hh_l0"],
                               np.linalg.norm(matrix["weight_hh_l0"].reshape(6, 6, -1), axis=-1), rtol=1e-12)
    shares = norms.lag_share("weight_hh_l0")
    assert shares.sum() == pytest.approx(1.0) and shares[0] > shares[3]
    np.testing.assert_allclose(matrix.lag_share("weight_hh_l0"), shares, rtol=1e-12)
    assert norms.lags()[5, 2] == 3 and set(norms) == set(dict(rnn.named_parameters()))


# ---- bad input ----------------------------------------------------------------------------------------------

def test_unused_parameter_is_named():
    rnn, unused = nn.RNN(2, 3, dtype=np.float64), nn.Linear(3, 1, dtype=np.float64)
    loss = rnn(tg.Tensor(np.ones((3, 2))))[0].sum()
    with pytest.raises(ValueError, match=r"does not depend on parameter 'head.weight'"):
        analysis.credit(loss, {**dict(rnn.named_parameters()), "head.weight": unused.weight})


def test_graph_without_scopes_is_refused():
    weight = tg.Tensor(np.eye(2), requires_grad=True)
    hidden = tg.Tensor(np.ones(2))
    for _ in range(3):
        hidden = (hidden @ weight).tanh()
    with pytest.raises(ValueError, match="no time-step scopes"):
        analysis.credit(hidden.sum(), {"weight": weight})


def test_parameters_must_be_grad_leaves():
    rnn = nn.RNN(2, 3, dtype=np.float64)
    loss = rnn(tg.Tensor(np.ones((3, 2))))[0].sum()
    with pytest.raises(ValueError, match="not a leaf but the output of op 'permute'"):
        analysis.credit(loss, {"weight_hh_t": rnn.weight_hh_l0.T})
    with pytest.raises(ValueError, match="does not require grad"):
        analysis.credit(loss, {"constant": tg.Tensor(np.ones(3))})
    with pytest.raises(TypeError, match="name -> Tensor dict"):
        analysis.credit(loss, [rnn.weight_hh_l0])
    with pytest.raises(ValueError, match="one-element loss"):
        analysis.credit(rnn(tg.Tensor(np.ones((3, 2))))[0], rnn)


def test_bad_k_and_empty_losses_are_refused():
    rnn = nn.RNN(2, 3, dtype=np.float64)
    output, _ = rnn(tg.Tensor(np.ones((4, 1, 2))))
    losses = [output[t].sum() for t in range(4)]
    for k in (0, 5):
        with pytest.raises(ValueError, match=rf"k = {k} is out of range; expected 1 <= k <= T = 4"):
            analysis.truncation(losses, rnn, k, retain_graph=True)
    with pytest.raises(TypeError, match="k must be an integer"):
        analysis.truncation(losses, rnn, 2.0, retain_graph=True)
    with pytest.raises(ValueError, match="no losses given"):
        analysis.credit_matrix([None, None], rnn)
    with pytest.raises(TypeError, match="sequence of per-step losses"):
        analysis.credit_matrix(losses[0], rnn)
