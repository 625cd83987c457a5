"""demos/truncation.py: the targets, BPTT(k)'s gradient against the truncation meter's (equal at k = 1, where
chunks and the meter's window are the same cut, and at full BPTT), the picture and bad input."""

import numpy as np
import pytest
from lab_checks import assert_png, assert_refused, files_in, lab, run_lab

truncation = lab("truncation")


def smoke_args(*extra):
    return truncation.parse_args(["--smoke", "--no-progress", *map(str, extra)])


class Bar:
    def update(self):
        pass


def test_target_is_input_d_steps_back():
    inputs, targets = truncation.recall_batch(np.random.default_rng(0), 20, 3, 4)
    assert inputs.shape == targets.shape == (20, 3, 1)
    np.testing.assert_array_equal(targets[4:], inputs[:-4])
    assert np.all(targets[:4] == 0)


@pytest.mark.parametrize("radius", [0.5, 1.5])
def test_bptt_1_and_full_match_the_meter(radius):
    """BPTT(1) and full BPTT give the meter's truncated and full gradients."""
    args = smoke_args("--ks", "1", "--train-steps", 1)
    (meter,) = truncation.meter(radius, args)
    one = truncation.train(radius, 1, args, Bar())["first_gradient"]
    full = truncation.train(radius, args.steps, args, Bar())["first_gradient"]
    np.testing.assert_allclose(one, meter.truncated, rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(full, meter.full, rtol=1e-9, atol=1e-14)
    assert truncation.cosine(one, full) == pytest.approx(meter.cosine, abs=1e-9)
    assert meter.cosine < 0.999 and 0 < meter.share_beyond < 1  # k = 1 does cut something


def test_chunk_losses_add_up():
    args = smoke_args()
    model = truncation.Recaller(args.hidden_size, 0.9, 0)
    inputs, targets = truncation.recall_batch(np.random.default_rng(1), args.steps, args.batch_size, args.delay)
    scored = args.batch_size * (args.steps - args.delay)
    predictions, _ = model(inputs)
    whole = truncation.chunk_loss(predictions, targets, 0, args.delay, scored).item()
    expected = ((predictions.data[args.delay:] - targets[args.delay:]) ** 2).mean()
    np.testing.assert_allclose(whole, expected, rtol=1e-12)
    hidden, parts = None, 0.0
    for first in range(0, args.steps, 5):
        chunk, hidden = model(inputs[first:first + 5], hidden)
        parts += truncation.chunk_loss(chunk, targets[first:first + 5], first, args.delay, scored).item()
    np.testing.assert_allclose(parts, whole, rtol=1e-12)


def test_smoke_writes_picture_and_table(tmp_path):
    result = run_lab("truncation", "--smoke", "--no-progress", "--out", tmp_path)
    assert result.returncode == 0, result.stderr
    assert_png(tmp_path / "truncation.png")
    assert files_in(tmp_path) == ["truncation.png"]
    lines = result.stdout.splitlines()
    assert any(line.startswith("vanishing     1") for line in lines)
    assert any(line.startswith("exploding  full") for line in lines)


@pytest.mark.parametrize("args, phrase", [
    (["--steps", "12", "--ks", "12"], "--ks"),
    (["--steps", "12", "--ks", "2,40"], "--ks"),
    (["--steps", "12", "--delay", "12"], "delay shorter than the sequence"),
    (["--steps", "0"], "--steps"),
    (["--hidden-size", "0"], "--hidden-size"),
    (["--train-steps", "-5"], "--train-steps"),
    (["--ks", "0,2"], "--ks"),
])
def test_bad_arguments_fail_in_one_line(tmp_path, args, phrase, capsys):
    with pytest.raises(SystemExit) as exit_info:
        truncation.main(["--smoke", "--out", str(tmp_path / "out"), *args])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1 and phrase in err, err
    assert not (tmp_path / "out").exists()


def test_bad_out_is_refused(tmp_path):
    """An --out that is a file, inside a file or holds the picture already is refused."""
    afile = tmp_path / "a_file"
    afile.write_text("keep me")
    assert_refused(run_lab("truncation", "--smoke", "--out", afile), "is a file")
    assert_refused(run_lab("truncation", "--smoke", "--out", afile / "inside"), "is inside", "a file")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "truncation.png").write_bytes(b"earlier")
    assert_refused(run_lab("truncation", "--smoke", "--out", tmp_path / "out"), "truncation.png exists")
    assert (tmp_path / "out" / "truncation.png").read_bytes() == b"earlier" and afile.read_text() == "keep me"


def test_cli_runs_every_lab(tmp_path):
    import subprocess
    import sys

    from tinygrad_rnn.cli.demo import available_demos

    assert {"gradient_cliff", "copy_task", "truncation"} <= set(available_demos())
    result = subprocess.run([sys.executable, "-m", "tinygrad_rnn", "demo", "truncation", "--smoke", "--no-progress",
                             "--out", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert_png(tmp_path / "truncation.png")
