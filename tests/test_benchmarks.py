"""The benchmark scripts stay runnable (smoke mode) and their correctness checks are real; no timing is asserted."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"


@pytest.fixture
def benchmark_modules(monkeypatch):
    """Make `benchmarks/` importable the way the scripts see it (they import their siblings by name)."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))


def run_script(name: str) -> str:
    """Run benchmarks/<name> --smoke in a fresh interpreter; fail with its output unless it exits 0."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    result = subprocess.run([sys.executable, str(BENCHMARKS / name), "--smoke"], cwd=ROOT, env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0, f"{name} --smoke failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_rnn_step_smoke():
    """rnn_step.py --smoke runs and its float64 gradient check passes."""
    output = run_script("rnn_step.py")
    assert "gradient check passed" in output
    assert "MISMATCH" not in output
    assert "numpy BPTT (hand-written)" in output and "ours: loop of ops, hoisted x@W_ih" in output
    assert "pure-Python floor (floor.py)" in output  # its gradients are checked like every contender's
    assert "our ops alone, no engine (ops_only.py)" in output
    assert "summary:" in output and "peak memory" in output


@pytest.mark.slow
def test_rnn_step_lone_smoke(benchmark_modules, capsys):
    """--lone times every contender in processes of its own and still reports ratios to numpy."""
    import rnn_step

    assert rnn_step.main(["--smoke", "--lone", "--contenders", "nn.RNN", "--memory-lengths", ""]) == 0
    output = capsys.readouterr().out
    assert "each contender alone in a fresh process per round" in output and "ours: nn.RNN" in output
    numpy_row = next(line for line in output.splitlines() if line.startswith("numpy BPTT (hand-written)"))
    assert numpy_row.split()[-1] == "1.00x" and float(numpy_row.split()[3]) > 0


def test_op_overhead_smoke():
    """op_overhead.py --smoke runs and its float64 gradient check passes."""
    output = run_script("op_overhead.py")
    assert "gradient check passed" in output
    assert "MISMATCH" not in output
    assert "ours: forward + record + backward" in output
    assert "import tinygrad_rnn in a fresh interpreter" in output


def test_gemm_layout_smoke():
    """gemm_layout.py --smoke runs and prints the chosen layout's ratio for each shape."""
    output = run_script("gemm_layout.py")
    assert "the chosen layout's time / the other's" in output
    assert re.search(r"^32 +\d\.\d\d\*", output, re.MULTILINE), output  # 32 rows x W^T (64, 128): swapped


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
def test_instructions_smoke():
    """instructions.py --smoke runs and counts something plausible."""
    output = run_script("instructions.py")
    row = next(line for line in output.splitlines() if line.startswith("W1:"))
    numpy_millions, ours_millions = (float(cell) for cell in row.split()[-5:-3])
    ours_ratio, ops_ratio = (float(cell.rstrip("x")) for cell in row.split()[-3:-1])
    assert 0 < numpy_millions < ours_millions  # the engine does numpy's work and more, at these tiny sizes
    assert 1 < ops_ratio < ours_ratio  # the ops alone do numpy's work and more, the engine more again


def test_import_skips_graphviz_and_matplotlib():
    probe = "import sys, tinygrad_rnn; print(','.join(m for m in ('graphviz', 'matplotlib') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "", f"import tinygrad_rnn also imported: {result.stdout.strip()}"


def test_numpy_bptt_matches_finite_differences(benchmark_modules):
    import numpy_bptt

    rng = np.random.default_rng(3)
    parameters = numpy_bptt.init_parameters(rng, 3, 4, 2, np.float64)
    inputs, targets = numpy_bptt.make_batch(rng, 5, 2, 3, 2, np.float64)
    _, gradients = numpy_bptt.loss_and_gradients(parameters, inputs, targets)
    step = 1e-6
    for name, array in parameters.items():
        numeric = np.zeros_like(array)
        for index in np.ndindex(array.shape):
            original = array[index]
            array[index] = original + step
            loss_plus = numpy_bptt.loss_and_gradients(parameters, inputs, targets)[0]
            array[index] = original - step
            loss_minus = numpy_bptt.loss_and_gradients(parameters, inputs, targets)[0]
            array[index] = original
            numeric[index] = (loss_plus - loss_minus) / (2 * step)
        np.testing.assert_allclose(gradients[name], numeric, rtol=1e-6, atol=1e-8, err_msg=name)


def test_numpy_bptt_step_lowers_loss(benchmark_modules):
    import numpy_bptt

    rng = np.random.default_rng(4)
    parameters = numpy_bptt.init_parameters(rng, 3, 8, 3, np.float64)
    inputs, targets = numpy_bptt.make_batch(rng, 6, 4, 3, 3, np.float64)
    first = numpy_bptt.train_step(parameters, inputs, targets, lr=0.1)
    for _ in range(20):
        last = numpy_bptt.train_step(parameters, inputs, targets, lr=0.1)
    assert last < first


def test_rnn_step_check_exits_on_wrong_grad(benchmark_modules, capsys):
    import rnn_step

    class OffByOnePartInAHundredMillion(rnn_step.OurLoopHoisted):
        name = "deliberately wrong"

        def gradients(self):
            gradients = super().gradients()
            gradients["weight_hh"] = gradients["weight_hh"] * (1 + 1e-8)
            return gradients

    with pytest.raises(SystemExit) as stopped:
        rnn_step.check_gradients([rnn_step.NumpyBPTT, OffByOnePartInAHundredMillion])
    assert stopped.value.code == 1
    assert "deliberately wrong" in capsys.readouterr().err


def test_op_overhead_matches_finite_differences(benchmark_modules):
    """The hand-written backward of op_overhead.py matches central differences."""
    import op_overhead

    step = 1e-6
    for kind in op_overhead.KINDS:
        inputs = op_overhead.make_inputs(3, np.float64, kind, seed=2)
        gradients = op_overhead.numpy_gradients(*inputs, kind, depth=4)
        for array, gradient in zip(inputs, gradients):
            numeric = np.zeros_like(array)
            for index in np.ndindex(array.shape):
                original = array[index]
                array[index] = original + step
                plus = op_overhead.numpy_forward(*inputs, kind, depth=4).sum()
                array[index] = original - step
                minus = op_overhead.numpy_forward(*inputs, kind, depth=4).sum()
                array[index] = original
                numeric[index] = (plus - minus) / (2 * step)
            np.testing.assert_allclose(gradient, numeric, rtol=1e-6, atol=1e-8, err_msg=kind)


def test_op_overhead_avoids_denormals(benchmark_modules):
    """Denormal arithmetic runs several times slower on some CPUs: the per-op timing must not measure that."""
    import op_overhead

    smallest_normal = np.finfo(np.float32).tiny
    for kind in op_overhead.KINDS:
        inputs = op_overhead.make_inputs(256, np.float32, kind)
        for gradient in op_overhead.numpy_gradients(*inputs, kind, depth=50):
            magnitudes = np.abs(gradient)
            assert not np.any((magnitudes > 0) & (magnitudes < smallest_normal)), kind
            assert np.all(np.isfinite(gradient)), kind


def test_ops_only_replays_lstm_gradients(benchmark_modules):
    """The replay must sum gradients exactly as the engine does, also where values feed several ops (gates)."""
    import ops_only

    import tinygrad_rnn as tg
    from tinygrad_rnn import nn

    tg.nn.manual_seed(3)
    lstm = nn.LSTM(3, 4, num_layers=2, dtype=np.float64)
    inputs = tg.Tensor(np.random.default_rng(5).standard_normal((6, 2, 3)))
    weights = tg.Tensor(np.random.default_rng(6).standard_normal((6, 2, 4)))
    leaves = dict(lstm.named_parameters())

    def loss():
        return (lstm(inputs)[0] * weights).sum()

    replay = ops_only.OpsOnly(loss, leaves)
    loss().backward()
    replayed = replay()
    for name, parameter in leaves.items():
        np.testing.assert_allclose(replayed[name], parameter.grad, rtol=1e-12, atol=1e-14, err_msg=name)


def test_ops_only_refuses_outside_values(benchmark_modules):
    """The replay refuses a value that requires grad but was made outside the loss."""
    import ops_only

    import tinygrad_rnn as tg

    weight = tg.Tensor(np.ones((2, 2)), requires_grad=True)
    transposed = weight.T  # made before the loss: the replay could not send its gradient on to weight
    with pytest.raises(ValueError, match="op 'matmul' reads a value that requires grad"):
        ops_only.OpsOnly(lambda: (tg.ones(1, 2, dtype=np.float64) @ transposed).sum(), {"weight": weight})


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_numpy_gated_matches_the_engine(benchmark_modules, cell):
    """Hand-written gated BPTT matches the engine's float64 gradients."""
    import gated_step
    import numpy_gated

    for batch, embedding_dim, hidden_size, length, vocab_size in ((3, 4, 5, 6, 7), (1, 2, 3, 1, 4), (2, 3, 8, 12, 5)):
        workload = gated_step.Workload("test", batch, embedding_dim, hidden_size, length, vocab_size, 1, 0.0)
        parameters, ids, targets = workload.data(cell, np.float64)
        loss, reference = numpy_gated.loss_and_gradients(cell, parameters, ids, targets)
        ours = gated_step.OurNN(cell, parameters, ids, targets)
        assert float(ours.loss()) == pytest.approx(loss, rel=1e-12)
        gradients = ours.gradients()
        assert sorted(gradients) == sorted(reference) == sorted(numpy_gated.PARAMETER_NAMES)
        for name, gradient in reference.items():
            scale = max(np.abs(gradient).max(), 1e-300)
            assert np.abs(gradients[name] - gradient).max() / scale <= 1e-10, (cell, name, batch, length)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_numpy_gated_matches_finite_differences(benchmark_modules, cell):
    import numpy_gated

    rng = np.random.default_rng(7)
    parameters = numpy_gated.init_parameters(rng, cell, 5, 3, 3, np.float64)
    ids, targets = numpy_gated.make_batch(rng, 4, 2, 5)
    _, gradients = numpy_gated.loss_and_gradients(cell, parameters, ids, targets)
    step = 1e-6
    for name, array in parameters.items():
        numeric = np.zeros_like(array)
        for index in np.ndindex(array.shape):
            original = array[index]
            array[index] = original + step
            loss_plus = numpy_gated.loss_and_gradients(cell, parameters, ids, targets)[0]
            array[index] = original - step
            loss_minus = numpy_gated.loss_and_gradients(cell, parameters, ids, targets)[0]
            array[index] = original
            numeric[index] = (loss_plus - loss_minus) / (2 * step)
        np.testing.assert_allclose(gradients[name], numeric, rtol=1e-6, atol=1e-9, err_msg=f"{cell} {name}")


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_numpy_gated_step_lowers_loss(benchmark_modules, cell):
    import numpy_gated

    rng = np.random.default_rng(8)
    parameters = numpy_gated.init_parameters(rng, cell, 6, 4, 8, np.float64)
    ids, targets = numpy_gated.make_batch(rng, 5, 3, 6)
    first = numpy_gated.train_step(cell, parameters, ids, targets, lr=0.5)
    for _ in range(20):
        last = numpy_gated.train_step(cell, parameters, ids, targets, lr=0.5)
    assert last < first


def test_gated_step_smoke(benchmark_modules, capsys):
    """gated_step.py --smoke runs and its float64 gradient check passes."""
    import gated_step

    assert gated_step.main(["--smoke"]) == 0
    output = capsys.readouterr().out
    assert "gradient check passed" in output and "MISMATCH" not in output
    for row in ("numpy BPTT (hand-written)", "ours: nn.LSTM", "ours: nn.GRU", "our ops alone, no engine"):
        assert row in output
    assert "summary:" in output and "peak memory of one float32 GRU step" in output


@pytest.mark.slow
def test_gated_step_lone_smoke(benchmark_modules, capsys):
    """--lone times every contender in processes of its own and still reports ratios to numpy."""
    import gated_step

    assert gated_step.main(["--smoke", "--lone", "--cells", "gru"]) == 0
    output = capsys.readouterr().out
    assert "each contender alone in a fresh process per round" in output
    assert "ours: nn.GRU" in output and "numpy: the step's GEMMs alone" not in output
    numpy_row = next(line for line in output.splitlines() if line.startswith("numpy BPTT (hand-written)"))
    assert numpy_row.split()[-1] == "1.00x" and float(numpy_row.split()[3]) > 0


def test_gated_step_check_exits_on_wrong_grad(benchmark_modules, capsys):
    import gated_step

    class OffByOnePartInAHundredMillion(gated_step.OurNN):
        title = "deliberately wrong"

        def gradients(self):
            gradients = super().gradients()
            gradients["rnn.weight_hh_l0"] = gradients["rnn.weight_hh_l0"] * (1 + 1e-8)
            return gradients

    with pytest.raises(SystemExit) as stopped:
        gated_step.check_gradients([gated_step.NumpyGated, OffByOnePartInAHundredMillion], ["gru"],
                                   ((2, 3, 4, 5, 7),))
    assert stopped.value.code == 1
    assert "deliberately wrong" in capsys.readouterr().err
