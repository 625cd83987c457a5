"""demos/gradient_cliff.py: clipping bounds every step, the unclipped run meets the cliff, the engine's gradient
of the one-unit RNN equals a hand-written forward-mode derivative, the pictures, and bad input."""

import numpy as np
import pytest
from lab_checks import assert_png, assert_refused, files_in, lab, run_lab

import tinygrad_rnn as tg

cliff = lab("gradient_cliff")


@pytest.fixture(scope="module")
def smoke():
    args = cliff.parse_args(["--smoke", "--no-progress"])
    return args, {mode: cliff.descend(mode, args) for mode in cliff.MODES}


def forward_mode(weight, bias, steps):
    """L and dL/d(w, b) of x_t = w sigmoid(x_{t-1}) + b carried forward by hand (numpy, float64)."""
    state, d_weight, d_bias = 0.5, 0.0, 0.0
    for _ in range(steps):
        sigmoid = 1 / (1 + np.exp(-state))
        slope = weight * sigmoid * (1 - sigmoid)
        d_weight, d_bias = sigmoid + slope * d_weight, 1 + slope * d_bias
        state = weight * sigmoid + bias
    return (state - 0.7) ** 2, 2 * (state - 0.7) * np.array([d_weight, d_bias])


def test_norm_clipped_steps_are_short(smoke):
    """Every norm-clipped step is at most lr * tau long, and exactly that where clipping acted."""
    args, runs = smoke
    steps = np.linalg.norm(np.diff(runs["norm-clipped"]["path"], axis=0), axis=1)
    assert np.all(steps <= args.lr * args.threshold * (1 + 1e-12)), steps.max()
    clipped = runs["norm-clipped"]["grad_norms"] > args.threshold  # where clipping acted, the step is lr tau long
    assert clipped.any()
    np.testing.assert_allclose(steps[clipped], args.lr * args.threshold, rtol=1e-5)


def test_value_clipped_moves_are_short(smoke):
    """Every value-clipped coordinate moves at most lr * tau."""
    args, runs = smoke
    moves = np.abs(np.diff(runs["value-clipped"]["path"], axis=0))
    assert np.all(moves <= args.lr * args.threshold * (1 + 1e-12)), moves.max()


def test_unclipped_run_hits_the_cliff(smoke):
    """The unclipped run meets a gradient 1000 times the threshold and its loss jumps."""
    args, runs = smoke
    hit = cliff.biggest_step(runs["unclipped"])
    assert hit["grad_norm"] >= 1000 * args.threshold
    assert hit["loss_after"] > 1000 * hit["loss_before"]
    unclipped_step = np.linalg.norm(np.diff(runs["unclipped"]["path"], axis=0), axis=1)[hit["step"]]
    np.testing.assert_allclose(unclipped_step, args.lr * hit["grad_norm"], rtol=1e-9)  # SGD without clipping


def test_gradient_matches_forward_mode(smoke):
    """The one-unit gradient equals forward-mode differentiation written by hand."""
    args, runs = smoke
    hit = cliff.biggest_step(runs["unclipped"])
    for weight, bias in (cliff.START, runs["unclipped"]["path"][hit["step"]], (2.0, -1.0)):
        w = tg.Tensor(np.array([weight]), requires_grad=True)
        b = tg.Tensor(np.array([bias]), requires_grad=True)
        loss = cliff.one_unit_loss(w, b, args.unit_steps).sum()
        loss.backward()
        expected_loss, expected_grad = forward_mode(weight, bias, args.unit_steps)
        np.testing.assert_allclose(loss.item(), expected_loss, rtol=1e-9)
        np.testing.assert_allclose([w.grad[0], b.grad[0]], expected_grad, rtol=1e-6)


def test_surface_is_the_loss_on_the_grid():
    weights, biases = np.linspace(2, 8, 5), np.linspace(-5, 0, 4)
    surface = cliff.loss_surface(weights, biases, 50)
    assert surface.shape == (4, 5)
    for row, bias in enumerate(biases):
        for column, weight in enumerate(weights):
            np.testing.assert_allclose(surface[row, column], forward_mode(weight, bias, 50)[0], rtol=1e-9)


def test_companion_steps_are_clipped():
    """Every step of the clipped companion RNN is at most lr * tau, and its gradient explodes."""
    args = cliff.parse_args(["--smoke", "--no-progress"])
    clipped = cliff.train_companion(True, args)
    assert len(clipped["step_norms"]) == args.train_steps and clipped["refused"] is None
    assert np.all(clipped["step_norms"] <= args.rnn_lr * args.threshold * (1 + 1e-9)), clipped["step_norms"].max()
    assert clipped["grad_norms"][0] > 10 * args.threshold  # W_hh = 1.5 Q: clipping has work to do
    assert np.all(np.isfinite(clipped["losses"]))


def test_smoke_writes_pictures_and_numbers(tmp_path):
    (tmp_path / "gradient_cliff.png").write_bytes(b"an earlier picture")  # replaced: --overwrite
    result = run_lab("gradient_cliff", "--smoke", "--no-progress", "--out", tmp_path, "--overwrite")
    assert result.returncode == 0, result.stderr
    for name in cliff.FILES:
        assert_png(tmp_path / name)
        assert str(tmp_path / name) in result.stdout
    assert files_in(tmp_path) == sorted(cliff.FILES)  # no temporary file left behind
    assert "x tau at step" in result.stdout and "final MSE" in result.stdout


@pytest.mark.parametrize("args, phrase", [
    (["--sgd-steps", "0"], "--sgd-steps"),
    (["--hidden-size", "-3"], "--hidden-size"),
    (["--grid", "0"], "--grid"),
    (["--rnn-steps", "1"], "--rnn-steps"),
    (["--threshold", "0"], "--threshold"),
    (["--lr", "-0.1"], "--lr"),
])
def test_bad_sizes_fail_in_one_line(tmp_path, args, phrase, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cliff.main(["--smoke", "--out", str(tmp_path / "out"), *args])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1 and phrase in err, err
    assert not (tmp_path / "out").exists()


def test_out_in_a_file_is_refused(tmp_path):
    """An --out that is a file or under one is refused."""
    afile = tmp_path / "a_file"
    afile.write_text("keep me")
    assert_refused(run_lab("gradient_cliff", "--smoke", "--out", afile), "is a file")
    assert_refused(run_lab("gradient_cliff", "--smoke", "--out", afile / "inside"), "is inside", "a file")
    assert afile.read_text() == "keep me"


def test_pictures_kept_without_overwrite(tmp_path):
    (tmp_path / "gradient_cliff_rnn.png").write_bytes(b"an earlier picture")
    result = run_lab("gradient_cliff", "--smoke", "--no-progress", "--out", tmp_path)
    assert_refused(result, "gradient_cliff_rnn.png exists", "--overwrite")
    assert files_in(tmp_path) == ["gradient_cliff_rnn.png"]
    assert (tmp_path / "gradient_cliff_rnn.png").read_bytes() == b"an earlier picture"


def test_pictures_get_usual_permissions(tmp_path):
    import os

    from _lab import write_atomically

    path = write_atomically(tmp_path / "picture.png", lambda temporary: open(temporary, "wb").write(b"x"))
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask
