"""demos/carousel.py on its smoke run: the picture, the gate paths against the LSTM's and GRU's equations in
numpy, credit shares that sum to one, and bad input refused."""

import contextlib
import io

import numpy as np
import pytest
from lab_runs import assert_bad_output_folders_refused, assert_png, assert_reported, lab, refusal, run_command

import tinygrad_rnn as tg

carousel = lab("carousel")


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """One smoke run: its arguments, the three measurements, the folder it wrote and what it printed."""
    out = tmp_path_factory.mktemp("carousel")
    args = carousel.parse_args(["--smoke", "--out", str(out)])
    results, written = carousel.run(args)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        carousel.summary(args, results, written)
    return args, results, written, out, printed.getvalue()


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def gate(model, inputs, rows):
    """A sigmoid gate of every step from the weights, in numpy: x_t W_i^T + b_i + h_(t-1) W_h^T + b_h for the
    gate's rows of the stacked weights, with h from the layer's own outputs (h_(-1) = 0)."""
    with tg.no_grad():
        output, _ = model(tg.Tensor(inputs))
    hidden = output.data
    previous = np.concatenate([np.zeros_like(hidden[:1]), hidden[:-1]])
    return sigmoid(inputs @ model.weight_ih_l0.data[rows].T + model.bias_ih_l0.data[rows]
                   + previous @ model.weight_hh_l0.data[rows].T + model.bias_hh_l0.data[rows])


def test_writes_the_picture_it_lists(smoke):
    args, results, written, out, printed = smoke
    assert [path for path, _ in written] == [out / "carousel.png"]
    assert_reported(printed, [out / "carousel.png"])
    assert_png(out / "carousel.png")
    assert sorted(p.name for p in out.iterdir()) == ["carousel.png"]
    assert [result.label for result in results] == ["LSTM, default init", f"LSTM, forget bias {args.forget_bias:g}",
                                                    "GRU, default init"]
    for result in results:
        assert f"  {result.label:<22} {result.paths.share(result.direct):>11.1%}" in printed


def test_parts_sum_to_the_gradient(smoke):
    _, results, _, _, _ = smoke
    for result in results:
        paths = result.paths
        assert tuple(paths.parts) == carousel.PARTS[result.kind]
        np.testing.assert_allclose(sum(paths.parts.values()), paths.total, rtol=1e-12, atol=1e-15)
        shares = carousel.shares_by_step(paths)
        reached = paths.norms("total") > 0
        np.testing.assert_allclose(sum(shares.values())[reached], 1.0, rtol=1e-12)


def test_carousel_is_f_times_the_next(smoke):
    """The carousel part is the next forget gate times the next step's gradient."""
    args, results, _, _, _ = smoke
    hidden = args.hidden_size
    for result in results[:2]:
        forget = gate(result.model, result.inputs, slice(hidden, 2 * hidden))  # gate order i, f, g, o
        carried = result.paths.parts["carousel"]
        np.testing.assert_allclose(carried[:-1], forget[1:] * result.paths.total[1:], rtol=1e-10, atol=1e-15)
        assert np.all(carried[-1] == 0)  # no step after the last
        np.testing.assert_allclose(result.paths.gate_means["f"], forget.mean(axis=(1, 2)), rtol=1e-12)


def test_gru_direct_is_z_times_the_next(smoke):
    """The GRU's direct path is the next update gate times the next step's gradient."""
    args, results, _, _, _ = smoke
    hidden = args.hidden_size
    gru = results[2]
    update = gate(gru.model, gru.inputs, slice(hidden, 2 * hidden))  # gate order r, z, n
    np.testing.assert_allclose(gru.paths.parts["direct"][:-1], update[1:] * gru.paths.total[1:], rtol=1e-10,
                               atol=1e-15)


def test_forget_bias_and_lag_share(smoke):
    args, results, _, _, _ = smoke
    default, biased, _ = results
    hidden = args.hidden_size
    np.testing.assert_array_equal(biased.model.bias_ih_l0.data[hidden:2 * hidden]
                                  + biased.model.bias_hh_l0.data[hidden:2 * hidden], args.forget_bias)
    np.testing.assert_array_equal(biased.model.weight_hh_l0.data, default.model.weight_hh_l0.data)  # same seed
    for result in results:
        assert len(result.lag_share) == args.steps and np.isclose(result.lag_share.sum(), 1.0, rtol=1e-12)
        assert np.all(result.lag_share >= 0)
    # the forget gate near 1 keeps the gradient: more of it reaches the first step, more credit at long lags
    assert biased.gate()[1] > 0.9 > default.gate()[1]
    assert biased.survival() > 10 * default.survival()
    assert biased.lag_share[carousel.LONG_LAG:].sum() > default.lag_share[carousel.LONG_LAG:].sum()


def test_bad_input_fails_in_one_line(capsys, tmp_path):
    assert_bad_output_folders_refused(capsys, carousel.main, carousel.FILES, tmp_path)
    for argv, phrase in ((["--steps", "0"], "--steps"), (["--hidden-size", "-3"], "--hidden-size"),
                         (["--steps", "1"], "at least 2"), (["--forget-bias", "nan"], "--forget-bias")):
        status, err = refusal(capsys, carousel.main, ["--smoke", "--out", str(tmp_path / "x"), *argv])
        assert status == 2 and phrase in err, err
    assert not (tmp_path / "x").exists()


def test_cli_demo_passes_exit_status(tmp_path):
    """`tinygrad-rnn demo carousel` runs the lab and passes on its exit status."""
    result = run_command("demo", "carousel", "--batch-size", "0", "--out", tmp_path)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "--batch-size" in result.stderr
    assert list(tmp_path.iterdir()) == []
