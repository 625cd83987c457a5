"""demos/copy_task.py: the baseline is the memoryless model's cross-entropy, the generator puts the answer at
the right steps, the parameter budgets match, the smoke run's loss is finite and its picture is written, bad
input is refused."""

import math

import numpy as np
import pytest
from lab_checks import assert_png, assert_refused, files_in, lab, run_lab

import tinygrad_rnn as tg
from tinygrad_rnn.nn.functional import cross_entropy

copy = lab("copy_task")


@pytest.mark.parametrize("delay", [1, 10, 57])
def test_target_is_the_first_10_symbols(delay):
    """The generator asks for the first 10 symbols after the delimiter."""
    inputs, targets = copy.copy_batch(np.random.default_rng(delay), delay, 32)
    assert inputs.shape == targets.shape == (delay + 20, 32)
    np.testing.assert_array_equal(targets[delay + 10:], inputs[:10])  # the answer: the first 10 symbols
    assert np.all((inputs[:10] >= 1) & (inputs[:10] <= 8))
    assert np.all(inputs[delay + 9] == 9) and np.sum(inputs == 9) == 32  # one delimiter, at step T + 9
    blank_inputs = np.ones(delay + 20, dtype=bool)
    blank_inputs[:10] = blank_inputs[delay + 9] = False
    assert np.all(inputs[blank_inputs] == 0)
    assert np.all(targets[:delay + 10] == 0)
    assert len(np.unique(inputs[:10])) == 8  # every data symbol occurs


@pytest.mark.parametrize("delay", [1, 10, 100])
def test_memoryless_baseline(delay):
    """The baseline is the cross-entropy of the best memoryless model, 10 ln 8 / (T + 20)."""
    inputs, targets = copy.copy_batch(np.random.default_rng(0), delay, 16)
    logits = np.full(targets.shape + (9,), -1e9)
    logits[:delay + 10, :, 0] = 0.0  # sure of blank while the answer is always blank
    logits[delay + 10:, :, 1:] = 0.0  # then uniform over the 8 data symbols
    loss = cross_entropy(tg.Tensor(logits.reshape(-1, 9)), targets.reshape(-1)).item()
    np.testing.assert_allclose(copy.memoryless_baseline(delay), loss, rtol=1e-12)
    np.testing.assert_allclose(copy.memoryless_baseline(delay), 10 * math.log(8) / (delay + 20), rtol=1e-15)
    assert math.isclose(copy.memoryless_baseline(10), math.log(2))  # 10 ln 8 / 30 = ln 2


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_parameter_budgets_match(cell):
    for hidden_size in (12, 64):
        model = copy.Copier(cell, hidden_size)
        assert copy.parameter_count(cell, hidden_size) == sum(param.data.size for param in model.parameters())
    matched = copy.parameter_count(cell, copy.matched_hidden_size(cell, 64))
    assert abs(matched - copy.parameter_count("lstm", 64)) / copy.parameter_count("lstm", 64) < 0.02


def test_smoke_losses_are_finite():
    args = copy.parse_args(["--smoke", "--no-progress"])
    result = copy.train_one("gru", args)
    assert len(result["losses"]) == args.steps and np.all(np.isfinite(result["losses"]))
    assert math.isfinite(result["test_loss"]) and 0 <= result["recalled"] <= 1
    assert result["losses"][-5:].mean() < result["losses"][:5].mean()  # it learns at least the blanks


def test_smoke_writes_picture_and_table(tmp_path):
    result = run_lab("copy_task", "--smoke", "--no-progress", "--out", tmp_path)
    assert result.returncode == 0, result.stderr
    assert_png(tmp_path / "copy_task.png")
    assert files_in(tmp_path) == ["copy_task.png"]
    assert f"10 ln 8 / (T + 20) = {copy.memoryless_baseline(3):.4f}" in result.stdout
    for name in ("tanh RNN", "LSTM", "GRU"):
        assert name in result.stdout


@pytest.mark.parametrize("args, phrase", [
    (["--delay", "0"], "--delay"),
    (["--steps", "0"], "--steps"),
    (["--hidden-size", "-1"], "--hidden-size"),
    (["--batch-size", "0"], "--batch-size"),
    (["--cells", "rnn,transformer"], "--cells"),
    (["--delay", "1000", "--batch-size", "4096", "--hidden-size", "1024"], "make one of them smaller"),
])
def test_bad_arguments_fail_in_one_line(tmp_path, args, phrase, capsys):
    with pytest.raises(SystemExit) as exit_info:
        copy.main(["--smoke", "--out", str(tmp_path / "out"), *args])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1 and phrase in err, err
    assert not (tmp_path / "out").exists()


def test_bad_out_is_refused(tmp_path):
    """An --out that is a file, inside a file or holds the picture already is refused."""
    afile = tmp_path / "a_file"
    afile.write_text("keep me")
    assert_refused(run_lab("copy_task", "--smoke", "--out", afile), "is a file")
    assert_refused(run_lab("copy_task", "--smoke", "--out", afile / "inside"), "is inside", "a file")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "copy_task.png").write_bytes(b"earlier")
    assert_refused(run_lab("copy_task", "--smoke", "--out", tmp_path / "out"), "copy_task.png exists", "--overwrite")
    assert (tmp_path / "out" / "copy_task.png").read_bytes() == b"earlier" and afile.read_text() == "keep me"
    assert files_in(tmp_path / "out") == ["copy_task.png"]
