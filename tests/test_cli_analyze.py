"""`tinygrad-rnn analyze`: each analysis prints its numbers and writes its picture; bad requests are one line."""

from __future__ import annotations

import numpy as np
import pytest

from tinygrad_rnn import analysis, cli

pytest.importorskip("matplotlib", reason="tinygrad-rnn analyze draws with matplotlib (pip install -e '.[demos]')")

SMALL = ["--steps", "6", "--hidden", "4", "--batch", "2"]


def test_truncation_prints_and_draws(tmp_path, capsys):
    out = tmp_path / "truncation.png"
    assert cli.main(["analyze", "truncation", *SMALL, "--radius", "1.5", "--k", "1,3,6", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    rows = [line.split() for line in printed.splitlines() if line.strip()[:1].isdigit()]
    assert [row[0] for row in rows] == ["1", "3", "6"]
    assert float(rows[-1][1]) == pytest.approx(1.0) and float(rows[0][1]) < 1.0  # full BPTT at k = T
    assert out.read_bytes()[:4] == b"\x89PNG" and f"wrote {out}" in printed


@pytest.mark.slow
@pytest.mark.parametrize("what,extra", [("ledger", ["--cell", "gru", "--layers", "2"]),
                                        ("credit", ["--bidirectional"]),
                                        ("connectivity", ["--radius", "0.5"]),
                                        ("gates", ["--cell", "lstm", "--forget-bias", "3"])])
def test_each_analysis_runs(tmp_path, capsys, what, extra):
    out = tmp_path / f"{what}.svg"
    assert cli.main(["analyze", what, *SMALL, *extra, "--out", str(out)]) == 0
    assert b"<svg" in out.read_bytes()
    assert f"wrote {out}" in capsys.readouterr().out


def test_flow_trains_records_and_saves(tmp_path, capsys):
    flow, out = tmp_path / "flow.npz", tmp_path / "flow.png"
    assert cli.main(["analyze", "flow", *SMALL, "--cell", "lstm", "--train-steps", "4", "--every", "2",
                     "--save-flow", str(flow), "--out", str(out)]) == 0
    snapshots = analysis.load_flow(flow)
    assert [snapshot.step for snapshot in snapshots] == [0, 2]
    assert set(snapshots[0].cell) == {"lstm.l0"} and np.all(snapshots[0].hidden["lstm.l0"] > 0)
    assert "adding problem" in capsys.readouterr().out


@pytest.mark.parametrize("argv,message", [
    (["gates", "--cell", "rnn"], "gates needs a gated cell"),
    (["ledger", "--forget-bias", "3"], "--forget-bias is for --cell lstm"),
    (["truncation", "--steps", "5", "--k", "9"], "cannot exceed --steps 5"),
    (["ledger", "--out", "no/such/folder/x.png"], "does not exist"),
    (["flow", "--input-size", "3"], "adding problem"),
])
def test_bad_requests_are_one_line(capsys, argv, message):
    assert cli.main(["analyze", *argv]) == 1
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1 and error.startswith("tinygrad-rnn analyze: error:")


@pytest.mark.parametrize("argv,message", [
    (["ledger", "--out", "picture.gif"], "expected a file ending in one of .png, .svg, .pdf"),
    (["connectivity", "--fraction", "2"], "--fraction: expected a positive number up to 1"),
])
def test_bad_values_exit_2(capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["analyze", *argv])
    error = capsys.readouterr().err
    assert exit_info.value.code == 2 and message in error and error.count("\n") == 1
