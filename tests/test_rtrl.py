"""Real-time recurrent learning (analysis/rtrl.py): the BPTT gradient to 1e-10 for the three cells, memory that
does not grow with T, and the benchmark and demo that compare the two."""

import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import analysis, nn

ROOT = Path(__file__).resolve().parent.parent
CELLS = {"rnn": nn.RNNCell, "lstm": nn.LSTMCell, "gru": nn.GRUCell}


def problem(name, length=6, batch=2, input_size=3, hidden_size=4, seed=0):
    tg.manual_seed(seed)
    cell = CELLS[name](input_size, hidden_size, dtype=np.float64)
    rng = np.random.default_rng(seed)
    inputs = tg.tensor(rng.standard_normal((length, batch, input_size)), dtype=np.float64)
    weights = rng.standard_normal((length, batch, hidden_size))

    def loss_fn(hidden, step):  # a different projection at every step, so every S_t counts
        return (hidden * tg.tensor(weights[step])).sum() + (hidden * hidden).mean()

    return cell, inputs, loss_fn


def bptt(cell, inputs, loss_fn, state=None):
    total = None
    for step in range(len(inputs)):
        state = cell(inputs[step], state)
        loss = loss_fn(state[0] if isinstance(state, tuple) else state, step)
        total = loss if total is None else total + loss
    names, parameters = zip(*cell.named_parameters())
    return dict(zip(names, (grad.data for grad in tg.grad(total, list(parameters)))))


@pytest.mark.parametrize("name", sorted(CELLS))
def test_rtrl_equals_bptt(name):
    cell, inputs, loss_fn = problem(name)
    online, reference = analysis.rtrl_gradient(cell, inputs, loss_fn), bptt(cell, inputs, loss_fn)
    assert list(online) == list(reference)  # named as cell.named_parameters() names them
    for parameter in reference:
        np.testing.assert_allclose(online[parameter], reference[parameter], rtol=0, atol=1e-10)


@pytest.mark.parametrize("name", sorted(CELLS))
def test_rtrl_from_a_state_in_passes(name):
    """A first state that is not zero, unbatched inputs, and the P directions split over passes of 7."""
    cell, inputs, loss_fn = problem(name, batch=1)
    inputs = tg.tensor(inputs.data[:, 0], dtype=np.float64)
    rng = np.random.default_rng(5)
    state = tg.tensor(rng.standard_normal(4), dtype=np.float64)
    if name == "lstm":
        state = (state, tg.tensor(rng.standard_normal(4), dtype=np.float64))
    online = analysis.rtrl_gradient(cell, inputs, loss_fn, state, directions_per_pass=7)
    reference = bptt(cell, inputs, loss_fn, state)
    for parameter in reference:
        np.testing.assert_allclose(online[parameter], reference[parameter], rtol=0, atol=1e-10)


def test_rtrl_bad_input():
    cell, inputs, _ = problem("rnn")
    with pytest.raises(ValueError, match=r"loss_fn\(h_t, t\) must return a one-element Tensor, got Tensor of shape"):
        analysis.rtrl_gradient(cell, inputs, lambda hidden, step: hidden * 2.0)
    with pytest.raises(ValueError, match="xs holds no time steps"):
        analysis.rtrl_gradient(cell, [], lambda hidden, step: hidden.sum())
    with pytest.raises(ValueError, match="directions_per_pass must be a positive integer"):
        analysis.rtrl_gradient(cell, inputs, lambda hidden, step: hidden.sum(), directions_per_pass=-1)


def _peak(method, *arguments):
    tracemalloc.start()
    try:
        method(*arguments)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.slow
def test_rtrl_memory_stays_flat():
    """Peak memory at T=400 is within 10% of T=50 for RTRL; BPTT's grows about eightfold (tracemalloc)."""
    peaks = {}
    for length in (50, 400):
        cell, inputs, loss_fn = problem("lstm", length=length)
        peaks[length] = (_peak(analysis.rtrl_gradient, cell, inputs, loss_fn), _peak(bptt, cell, inputs, loss_fn))
    assert peaks[400][0] < 1.1 * peaks[50][0], peaks
    assert peaks[400][1] > 4 * peaks[50][1], peaks


@pytest.mark.slow
def test_rtrl_benchmark_smoke_runs():
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "rtrl.py"), "--smoke"], capture_output=True,
                            text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "RTRL peak KB" in result.stdout and "lstm" in result.stdout


@pytest.mark.slow
def test_rtrl_demo_smoke_runs(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "demos" / "rtrl.py"), "--smoke", "--out", str(tmp_path)],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "rtrl_vs_bptt.png").stat().st_size > 0
    assert "RTRL" in result.stdout and "BPTT" in result.stdout
