"""FlowRecorder: training is bit for bit the same with it, its norms equal an independent measurement, and its
recordings survive a save and load."""

import os

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import analysis, nn, optim


class Tagger(nn.Module):
    """A 2-layer bidirectional recurrent layer with a readout per step."""

    def __init__(self, cell):
        super().__init__()
        self.rnn = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell](3, 6, num_layers=2, bidirectional=True)
        self.head = nn.Linear(12, 1)

    def forward(self, inputs):
        output, _ = self.rnn(inputs)
        return self.head(output)


def train(cell, recorder_every=None, steps=5, clip=0.5):
    """Losses of a short float32 Adam run, and the recorder if one was used."""
    nn.manual_seed(0)
    model = Tagger(cell)
    optimizer = optim.Adam(model.parameters(), lr=1e-2)
    recorder = None if recorder_every is None else analysis.FlowRecorder(model, every=recorder_every)
    rng = np.random.default_rng(0)
    losses = []
    for _ in range(steps):
        inputs = tg.Tensor(rng.standard_normal((8, 4, 3)).astype(np.float32))
        targets = tg.Tensor(rng.standard_normal((8, 4, 1)).astype(np.float32))
        optimizer.zero_grad()
        loss = ((model(inputs) - targets) ** 2).mean()
        if recorder is None:
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        else:
            recorder.backward(loss)
            recorder.clip(clip)
        optimizer.step()
        losses.append(loss.data.item())
    return losses, recorder


@pytest.mark.parametrize("cell,every", [("lstm", 1), ("gru", 2), ("rnn", 3)])
def test_recording_keeps_the_losses(cell, every):
    plain, _ = train(cell)
    recorded, recorder = train(cell, every)
    assert recorded == plain
    snapshots = recorder.snapshots
    assert [snapshot.step for snapshot in snapshots] == list(range(0, 5, every))
    layers = {f"{cell}.l{layer}{suffix}" for layer in (0, 1) for suffix in ("", "_reverse")}
    assert set(snapshots[0].hidden) == layers
    assert set(snapshots[0].cell) == (layers if cell == "lstm" else set())
    for snapshot in snapshots:
        assert snapshot.loss == plain[snapshot.step]
        assert all(norms.shape == (8,) and np.all(norms > 0) for norms in snapshot.hidden.values())
        assert snapshot.clipped_norm == pytest.approx(min(snapshot.grad_norm, 0.5), rel=1e-5)


def test_hidden_norms_match_unrolled():
    nn.manual_seed(1)
    lstm = nn.LSTM(3, 5, dtype=np.float64)
    inputs = np.random.default_rng(1).standard_normal((6, 2, 3))
    readout = np.random.default_rng(2).standard_normal((6, 2, 5))
    recorder = analysis.FlowRecorder(lstm)
    output, _ = lstm(tg.Tensor(inputs))
    recorder.backward((output * readout).sum())
    grads = {name: param.grad.copy() for name, param in lstm.named_parameters()}
    lstm.zero_grad()
    expected = analysis.gradient_norms_through_time(lstm, inputs, lambda output: (output * readout).sum())
    np.testing.assert_allclose(recorder.snapshots[0].hidden["lstm.l0"], expected, rtol=1e-12)
    assert recorder.snapshots[0].clipped_norm is None
    total = np.sqrt(sum((grad ** 2).sum() for grad in grads.values()))
    assert recorder.snapshots[0].grad_norm == pytest.approx(total, rel=1e-12)


def test_save_and_load_round_trip(tmp_path):
    _, recorder = train("lstm", 2)
    path = tmp_path / "flow.npz"
    recorder.save(path)
    assert os.listdir(tmp_path) == ["flow.npz"]  # written through a temporary file, renamed in place
    loaded = analysis.load_flow(path)
    assert [snapshot.step for snapshot in loaded] == [0, 2, 4]
    for mine, theirs in zip(recorder.snapshots, loaded):
        assert (mine.loss, mine.grad_norm, mine.clipped_norm) == (theirs.loss, theirs.grad_norm, theirs.clipped_norm)
        for layer in mine.hidden:
            np.testing.assert_array_equal(mine.hidden[layer], theirs.hidden[layer])
            np.testing.assert_array_equal(mine.cell[layer], theirs.cell[layer])
    assert analysis.FlowRecorder.load(path)[1].step == 2


def test_bad_input_is_named(tmp_path):
    with pytest.raises(ValueError, match="every must be a whole number of at least 1"):
        analysis.FlowRecorder(nn.RNN(2, 2), every=0)
    with pytest.raises(TypeError, match="expected a model"):
        analysis.FlowRecorder("model")
    linear = nn.Linear(2, 1)
    recorder = analysis.FlowRecorder(linear)
    with pytest.raises(ValueError, match="no recurrent layer"):
        recorder.backward(linear(tg.Tensor(np.ones((3, 2), dtype=np.float32))).sum())
    with pytest.raises(ValueError, match="one-element loss"):
        recorder.backward(linear(tg.Tensor(np.ones((3, 2), dtype=np.float32))))
    tg.save({"model": {}}, tmp_path / "other.npz")
    with pytest.raises(ValueError, match="not a gradient-flow recording"):
        analysis.load_flow(tmp_path / "other.npz")


def test_hand_loop_is_recorded():
    weight = nn.Parameter(np.random.default_rng(3).standard_normal((4, 4)) * 0.5)
    model = nn.Module()
    model.weight = weight
    recorder = analysis.FlowRecorder(model)
    hidden, states = tg.Tensor(np.ones((2, 4))), []
    for timestep in range(6):
        with tg.scope(f"loop/t={timestep}"):
            hidden = (hidden @ weight.T).tanh()
            states.append(hidden)
    for state in states:
        state.retain_grad()
    recorder.backward((tg.stack(states) ** 2).sum())
    expected = [np.linalg.norm(state.grad) for state in states]
    np.testing.assert_allclose(recorder.snapshots[0].hidden["loop"], expected, rtol=1e-12)
