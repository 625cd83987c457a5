"""The `tinygrad-rnn` command: graph and demo subcommands, and one-line errors (never a traceback)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from tinygrad_rnn import cli, viz

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' is not installed")


def run_module(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tinygrad_rnn", *args], capture_output=True, text=True, env=env,
                          timeout=120)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_graph_writes_dot_text_for_each_cell(tmp_path, cell, capsys):
    out = tmp_path / f"{cell}.dot"
    assert cli.main(["graph", "--cell", cell, "--steps", "3", "--out", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("digraph") and f"{cell}.weight_hh_l0" in text
    assert [f"t={t}" for t in range(3)] == [label for label in ("t=0", "t=1", "t=2") if f'label="{label}\\n' in text]
    assert f"wrote {out}" in capsys.readouterr().out


@needs_dot
def test_graph_renders_svg_through_python_dash_m(tmp_path):
    out = tmp_path / "bptt.svg"
    result = run_module("graph", "--cell", "lstm", "--steps", "4", "--radius", "0.5", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert b"<svg" in out.read_bytes()


def test_graph_long_sequence_is_elided_automatically(tmp_path):
    out = tmp_path / "long.dot"
    assert cli.main(["graph", "--cell", "lstm", "--steps", "60", "--collapse", "--out", str(out)]) == 0
    text = out.read_text()
    assert f'label="... {60 - viz.AUTO_MAX_STEPS} steps ...' in text
    assert cli.main(["graph", "--steps", "12", "--max-steps", "0", "--collapse", "--out", str(out)]) == 0
    assert "steps ..." not in out.read_text()


@pytest.mark.parametrize("radius", [0.5, 1.5])
@pytest.mark.parametrize("cell,gates", [("rnn", 1), ("lstm", 4), ("gru", 3)])
def test_radius_sets_every_gate_block_to_a_scaled_orthogonal_matrix(radius, cell, gates):
    loss, params = cli.graph.unrolled_loss(cell, 2, 4, 2, radius, "last", seed=3)
    weight_hh = params[f"{cell}.weight_hh_l0"].data
    assert weight_hh.shape == (gates * 4, 4)
    for block in np.split(weight_hh, gates):
        np.testing.assert_allclose(np.linalg.svd(block, compute_uv=False), radius, rtol=1e-10)
        np.testing.assert_allclose(np.max(np.abs(np.linalg.eigvals(block))), radius, rtol=1e-10)
    assert params[f"{cell}.weight_hh_l0"].grad is not None and loss.requires_grad


def test_smaller_radius_means_a_weaker_gradient_at_the_first_step(tmp_path):
    norms = []
    for radius in (0.3, 1.5):
        out = tmp_path / f"r{radius}.dot"
        cli.main(["graph", "--steps", "6", "--radius", str(radius), "--collapse", "--out", str(out)])
        first = next(line for line in out.read_text().splitlines() if 'label="t=1\\n' in line)
        norms.append(float(first.split("‖dL/dh‖ ")[1].split('"')[0].split("\\n")[0]))
    assert norms[0] < norms[1]


@pytest.mark.parametrize("argv,fragment", [
    (["graph", "--cell", "cnn"], "invalid choice: 'cnn'"),
    (["graph", "--steps", "0"], "--steps: expected a positive whole number"),
    (["graph", "--radius", "big"], "--radius: expected a number"),
    (["graph", "--steps", "100000000"], "--steps: at most 10,000"),
    (["graph", "--steps", "1e3"], "--steps: expected a whole number"),
    (["graph", "--hidden", "100000"], "--hidden: at most 1,024"),
    (["graph", "--seed", "-1"], "--seed: expected 0 or a positive whole number"),
    (["graph", "--max-steps", "-2"], "--max-steps: expected 0 or a positive whole number"),
    (["graph", "--layers", "99"], "--layers: at most 8"),
    (["graph", "--format", "bmp"], "invalid choice: 'bmp'"),
    (["graph", "--bogus"], "unrecognized arguments"),
    ([], "required"),
])
def test_bad_arguments_are_one_line_and_exit_2(argv, fragment, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("argv,fragment", [
    (["graph", "--out", "picture.bmpx"], "unknown picture format '.bmpx'"),
    (["graph", "--out", "no/such/folder/x.svg"], "does not exist"),
    (["graph", "--max-steps", "1"], "--max-steps 1"),
    (["demo", "no_such_demo"], "unknown demo 'no_such_demo'; available: "),
    (["demo"], "which demo? available: "),
])
def test_bad_requests_are_one_line_and_exit_1(argv, fragment, capsys):
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1


def test_missing_dot_is_one_line_saying_how_to_install(tmp_path):
    env = dict(os.environ, PATH=str(tmp_path))
    result = run_module("graph", "--out", str(tmp_path / "x.svg"), env=env)
    assert result.returncode == 1
    assert "install Graphviz" in result.stderr and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


@needs_dot
def test_graph_keeps_an_existing_gv_file_beside_the_picture(tmp_path):
    (tmp_path / "mine.gv").write_text("my notes\n")
    result = run_module("graph", "--out", str(tmp_path / "mine.svg"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "mine.gv").read_text() == "my notes\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["mine.gv", "mine.svg"]


@needs_dot
def test_graph_onto_a_folder_is_one_line_naming_it_and_leaves_no_stray_file(tmp_path):
    (tmp_path / "dir.svg").mkdir()
    result = run_module("graph", "--out", str(tmp_path / "dir.svg"))
    assert result.returncode == 1
    assert result.stderr.startswith("tinygrad-rnn graph: error: ") and result.stderr.count("\n") == 1
    assert "dir.svg" in result.stderr and "Traceback" not in result.stderr
    assert [path.name for path in tmp_path.iterdir()] == ["dir.svg"]


@pytest.mark.skipif(sys.platform == "win32", reason="the stand-in dot is a shell script")
def test_graph_with_a_failing_dot_is_one_line_with_dots_message(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "bin"
    folder.mkdir()
    (folder / "dot").write_text("#!/bin/sh\necho 'Error: <stdin>: syntax error in line 3' >&2\nexit 1\n")
    (folder / "dot").chmod(0o755)
    monkeypatch.setenv("PATH", str(folder))
    assert cli.main(["graph", "--out", str(tmp_path / "x.svg")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("tinygrad-rnn graph: error: ") and err.count("\n") == 1
    assert "x.svg" in err and "Error: <stdin>: syntax error in line 3" in err
    assert [path.name for path in tmp_path.iterdir()] == ["bin"]


def test_demo_runs_the_named_script_with_the_remaining_arguments(tmp_path):
    (tmp_path / "echo.py").write_text("import sys\nprint(sys.argv[1:])\nsys.exit(3)\n")
    (tmp_path / "_private.py").write_text("")
    assert cli.demo.available_demos(tmp_path) == ["echo"]
    script = ("import sys; from pathlib import Path; from tinygrad_rnn import cli, viz; "
              f"sys.exit(cli.demo.demo_command('echo', ['--smoke', '-x', '1'], Path({str(tmp_path)!r})))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 3 and result.stdout.strip() == "['--smoke', '-x', '1']"


def test_demo_without_a_demos_folder_says_so(tmp_path):
    with pytest.raises(cli.arguments.CommandError, match="no demos folder"):
        cli.demo.demo_command("char_rnn", [], tmp_path / "missing")


def test_demo_passes_arguments_through_argparse():
    args = cli.build_parser().parse_args(["demo", "char_rnn", "--smoke", "--cell", "lstm"])
    assert args.name == "char_rnn" and args.args == ["--smoke", "--cell", "lstm"]
