"""Every credit picture is drawn with labelled axes, log scales where norms span decades, and written whole."""

import os

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import analysis, nn

pytest.importorskip("matplotlib", reason="the plots need matplotlib (pip install -e '.[demos]')")
from tinygrad_rnn.analysis import plots  # noqa: E402


@pytest.fixture(scope="module")
def rnn_and_losses():
    nn.manual_seed(0)
    rnn = nn.RNN(2, 6, dtype=np.float64)
    rng = np.random.default_rng(0)
    inputs = tg.Tensor(rng.standard_normal((8, 3, 2)), requires_grad=True)
    readout = rng.standard_normal((8, 3, 6))

    def losses():
        output, _ = rnn(inputs)
        return [(output[t] * readout[t]).sum() for t in range(8)]

    return rnn, inputs, losses


def labelled(figure, log_axes=()):
    """Every axes with a heatmap or lines has both labels; the named ones have a log y axis."""
    for axes in figure.axes:
        if axes.get_label() == "<colorbar>":
            continue
        assert axes.get_xlabel() and axes.get_ylabel(), axes.get_title()
    for index in log_axes:
        assert figure.axes[index].get_yscale() == "log"


def test_ledger_plot_is_labelled_and_written(tmp_path, rnn_and_losses):
    rnn, _, losses = rnn_and_losses
    figure = plots.plot_ledger(analysis.credit(losses()[-1], rnn), path=tmp_path / "ledger.png")
    labelled(figure, log_axes=[0])
    assert os.listdir(tmp_path) == ["ledger.png"]  # no temporary file left behind
    assert (tmp_path / "ledger.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_each_picture_is_labelled_and_written(tmp_path, rnn_and_losses):
    rnn, inputs, losses = rnn_and_losses
    ledger = analysis.credit(losses()[-1], rnn)
    figure = plots.plot_ledger(ledger, path=tmp_path / "ledger.png")
    labelled(figure, log_axes=[0])
    assert [line.get_label() for line in figure.axes[0].lines][-1] == "bias_ih_l0 = bias_hh_l0"
    labelled(plots.plot_credit_matrix(analysis.credit_matrix(losses(), rnn), "weight_hh_l0",
                                      path=tmp_path / "credit.png"), log_axes=[2])
    labelled(plots.plot_truncation(analysis.truncations(losses(), rnn, [1, 4, 8]), path=tmp_path / "trunc.svg"))
    output, _ = rnn(inputs)
    labelled(plots.plot_connectivity(analysis.connectivity(output, inputs), path=tmp_path / "map.png"),
             log_axes=[2])
    lstm = nn.LSTM(2, 3, dtype=np.float64)
    paths = analysis.gate_paths(lstm(tg.Tensor(np.ones((5, 2))))[0].sum())["lstm.l0"]
    labelled(plots.plot_gate_paths(paths, path=tmp_path / "gates.pdf"), log_axes=[0])
    snapshots = [analysis.FlowSnapshot(step, 1.0 / (step + 1), {"rnn.l0": np.arange(1.0, 9.0) * (step + 1)}, {},
                                       2.0, 1.0) for step in range(0, 30, 10)]
    labelled(plots.plot_flow_snapshot(snapshots[0], path=tmp_path / "snapshot.png"))
    labelled(plots.plot_flow_over_training(snapshots, path=tmp_path / "training.png"), log_axes=[2])
    names = sorted(os.listdir(tmp_path))
    assert names == ["credit.png", "gates.pdf", "ledger.png", "map.png", "snapshot.png", "training.png",
                     "trunc.svg"]  # no temporary file left behind
    assert (tmp_path / "ledger.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_paths_and_layers_are_named(tmp_path, rnn_and_losses):
    rnn, _, losses = rnn_and_losses
    ledger = analysis.credit(losses()[-1], rnn)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        plots.plot_ledger(ledger, path=tmp_path / "missing" / "ledger.png")
    snapshot = analysis.FlowSnapshot(0, 1.0, {"rnn.l0": np.ones(3)}, {}, 1.0)
    with pytest.raises(KeyError, match="layer 'lstm.l0' is missing"):
        plots.plot_flow_over_training([snapshot], "lstm.l0")
    with pytest.raises(ValueError, match="no snapshots"):
        plots.plot_flow_over_training([])
