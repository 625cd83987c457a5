"""The `tinygrad-rnn` command: graph and demo subcommands, and one-line errors (never a traceback)."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from tinygrad_rnn import cli, viz

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' is not installed")


def run_module(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tinygrad_rnn", *args], capture_output=True, text=True, env=env)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_graph_writes_dot_per_cell(tmp_path, cell, capsys):
    out = tmp_path / f"{cell}.dot"
    assert cli.main(["graph", "--cell", cell, "--steps", "3", "--out", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("digraph") and f"{cell}.weight_hh_l0" in text
    assert [f"t={t}" for t in range(3)] == [label for label in ("t=0", "t=1", "t=2") if f'label="{label}\\n' in text]
    assert f"wrote {out}" in capsys.readouterr().out


@needs_dot
def test_graph_svg_via_python_m(tmp_path):
    """graph renders an SVG through python -m tinygrad_rnn."""
    out = tmp_path / "bptt.svg"
    result = run_module("graph", "--cell", "lstm", "--steps", "4", "--radius", "0.5", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert b"<svg" in out.read_bytes()


def test_graph_elides_long_sequences(tmp_path):
    """graph elides a long sequence automatically."""
    out = tmp_path / "long.dot"
    assert cli.main(["graph", "--cell", "lstm", "--steps", "60", "--collapse", "--out", str(out)]) == 0
    text = out.read_text()
    assert f'label="... {60 - viz.AUTO_MAX_STEPS} steps ...' in text
    assert cli.main(["graph", "--steps", "12", "--max-steps", "0", "--collapse", "--out", str(out)]) == 0
    assert "steps ..." not in out.read_text()


@pytest.mark.parametrize("radius", [0.5, 1.5])
@pytest.mark.parametrize("cell,gates", [("rnn", 1), ("lstm", 4), ("gru", 3)])
def test_radius_scales_orthogonal_blocks(radius, cell, gates):
    """--radius sets every gate block to a scaled orthogonal matrix."""
    loss, params = cli.graph.unrolled_loss(cell, 2, 4, 2, radius, "last", seed=3)
    weight_hh = params[f"{cell}.weight_hh_l0"].data
    assert weight_hh.shape == (gates * 4, 4)
    for block in np.split(weight_hh, gates):
        np.testing.assert_allclose(np.linalg.svd(block, compute_uv=False), radius, rtol=1e-10)
        np.testing.assert_allclose(np.max(np.abs(np.linalg.eigvals(block))), radius, rtol=1e-10)
    assert params[f"{cell}.weight_hh_l0"].grad is not None and loss.requires_grad


def test_smaller_radius_weaker_gradient(tmp_path):
    """A smaller radius means a weaker gradient at the first step."""
    norms = []
    for radius in (0.3, 1.5):
        out = tmp_path / f"r{radius}.dot"
        cli.main(["graph", "--steps", "6", "--radius", str(radius), "--collapse", "--out", str(out)])
        first = next(line for line in out.read_text().splitlines() if 'label="t=1\\n' in line)
        norms.append(float(first.split("||dL/dh|| ")[1].split('"')[0].split("\\n")[0]))
    assert norms[0] < norms[1]


@pytest.mark.parametrize("argv,fragment", [
    (["graph", "--cell", "cnn"], "invalid choice: 'cnn'"),
    (["graph", "--steps", "0"], "--steps: expected a whole number from 1 to 10,000"),
    (["graph", "--radius", "big"], "--radius: expected a number"),
    (["graph", "--steps", "100000000"], "--steps: expected a whole number from 1 to 10,000"),
    (["graph", "--steps", "1e3"], "--steps: expected a whole number"),
    (["graph", "--hidden", "100000"], "--hidden: expected a whole number from 1 to 1,024"),
    (["graph", "--seed", "-1"], "--seed: expected 0 or a positive whole number"),
    (["graph", "--max-steps", "-2"], "--max-steps: expected 0 or a positive whole number"),
    (["graph", "--layers", "99"], "--layers: expected a whole number from 1 to 8"),
    (["graph", "--format", "bmp"], "invalid choice: 'bmp'"),
    (["graph", "--bogus"], "unrecognized arguments"),
    ([], "required"),
    (["graph", "--out", "picture.bmpx"], "unknown format '.bmpx'"),
    (["graph", "--max-steps", "1"], "--max-steps: expected 0 (keep all) or at least 2"),
    (["demo", "no_such_demo"], "unknown demo 'no_such_demo'; available: "),
])
def test_bad_arguments_exit_2(argv, fragment, capsys):
    """Bad arguments are one line and exit 2."""
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("argv,fragment", [
    (["graph", "--out", "no/such/folder/x.svg"], "does not exist"),
    (["demo"], "which demo? available: "),
])
def test_bad_requests_exit_1(argv, fragment, capsys):
    """Bad requests are one line and exit 1."""
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1


def test_missing_dot_is_one_line(tmp_path):
    """A missing dot is one line saying how to install it."""
    env = dict(os.environ, PATH=str(tmp_path))
    result = run_module("graph", "--out", str(tmp_path / "x.svg"), env=env)
    assert result.returncode == 1
    assert "install Graphviz" in result.stderr and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


@needs_dot
def test_graph_keeps_an_existing_gv(tmp_path):
    """graph keeps an existing .gv file beside the picture."""
    (tmp_path / "mine.gv").write_text("my notes\n")
    result = run_module("graph", "--out", str(tmp_path / "mine.svg"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "mine.gv").read_text() == "my notes\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["mine.gv", "mine.svg"]


@needs_dot
def test_graph_onto_a_folder(tmp_path):
    """graph onto a folder is one line naming it, and leaves no stray file."""
    (tmp_path / "dir.svg").mkdir()
    result = run_module("graph", "--out", str(tmp_path / "dir.svg"))
    assert result.returncode == 1
    assert result.stderr.startswith("tinygrad-rnn graph: error: ") and result.stderr.count("\n") == 1
    assert "dir.svg" in result.stderr and "Traceback" not in result.stderr
    assert [path.name for path in tmp_path.iterdir()] == ["dir.svg"]


@pytest.mark.skipif(sys.platform == "win32", reason="the stand-in dot is a shell script")
def test_graph_with_a_failing_dot(tmp_path, monkeypatch, capsys):
    """graph with a failing dot is one line with dot's message."""
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


def test_demo_runs_the_named_script(tmp_path):
    """demo runs the named script with the remaining arguments."""
    (tmp_path / "echo.py").write_text("import sys\nprint(sys.argv[1:])\nsys.exit(3)\n")
    (tmp_path / "_private.py").write_text("")
    assert cli.demo.available_demos(tmp_path) == ["echo"]
    script = ("import sys; from pathlib import Path; from tinygrad_rnn import cli, viz; "
              f"sys.exit(cli.demo.demo_command('echo', ['--smoke', '-x', '1'], Path({str(tmp_path)!r})))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 3 and result.stdout.strip() == "['--smoke', '-x', '1']"


def test_demo_needs_a_demos_folder(tmp_path):
    """demo without a demos folder says so."""
    with pytest.raises(cli.arguments.CommandError, match="no demos folder"):
        cli.demo.demo_command("char_rnn", [], tmp_path / "missing")


def test_demo_passes_arguments_on():
    """demo passes its arguments through argparse."""
    args = cli.build_parser().parse_args(["demo", "char_rnn", "--smoke", "--cell", "lstm"])
    assert args.name == "char_rnn" and args.args == ["--smoke", "--cell", "lstm"]


# ---- every argument of every subcommand, given hostile values: one line, exit 2, no traceback -------------------
FREE_TEXT = {"--title": "any text is a caption (the renderer escapes it)",
             "args": "handed on to the demo, whose own table is in test_demos.py"}
UNBOUNDED = {"--steps": "the picture's size budget bounds it (with --collapse and --max-steps), not its type",
             "--radius": "any finite scale of W_hh draws (tanh saturates)",
             "--seed": "any seed >= 0 works, however large",
             "--forget-bias": "any finite bias is a forget gate that is open (large) or shut (small)"}
CUSTOM = {"--max-steps": ["1", "-1", "", "abc", "nan", "1.5", "\u0663"],
          "name": ["no_such_demo", "../demos/main", "", " ", "\x1b[2J", "main.pyc", "x" * 10_000]}


def cli_table():
    from hostile_arguments import table

    return table(cli.build_parser(), FREE_TEXT, UNBOUNDED, CUSTOM, existing_file=__file__)


@pytest.mark.parametrize("prefix,name,argvs", cli_table(), ids=lambda value: value if isinstance(value, str) else "")
def test_hostile_values_are_refused(prefix, name, argvs, capsys):
    """Every argument refuses hostile values with one line and exit 2."""
    problems = []
    for argv in argvs:
        with pytest.raises(SystemExit) as exit_info:
            cli.build_parser().parse_args(argv)
        err = capsys.readouterr().err
        if exit_info.value.code != 2 or err.count("\n") != 1 or not err.endswith("\n") or "Traceback" in err:
            problems.append((argv, exit_info.value.code, err))
        elif name not in err:
            problems.append((argv, "the message does not name the argument", err))
    assert not problems, problems[:3]


def test_table_covers_every_argument():
    """The table covers every argument of every subcommand."""
    rows = cli_table()
    subcommands = cli.build_parser()._actions[-1].choices  # argparse keeps no public list of its arguments
    for command, subparser in subcommands.items():
        defined = [action for action in subparser._actions if not isinstance(action, argparse._HelpAction)]
        assert len([row for row in rows if row[0] == command]) == len(defined), command
    assert all(argvs for _, name, argvs in rows if name not in FREE_TEXT)
    assert ("", "{graph,demo,analyze}") in [(prefix, name) for prefix, name, _ in rows]
    assert sum(len(argvs) for _, _, argvs in rows) > 100


@pytest.mark.parametrize("argv,fragment", [
    (["graph", "--seed", "-1"], "argument --seed: expected 0 or a positive whole number, got '-1'"),
    (["graph", "--hidden", "100000000"], "argument --hidden: expected a whole number from 1 to 1,024"),
    (["graph", "--radius", "nan"], "argument --radius: expected 0 or a positive number, got 'nan'"),
    (["graph", "--steps", "\u0663"], "argument --steps: expected a whole number, got '\u0663'"),
    (["demo", "\x1b[2J"], "unknown demo '\\x1b[2J'"),
])
def test_real_command_prints_one_line(argv, fragment):
    """The real command prints one line, without a traceback."""
    result = run_module(*argv)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert fragment in result.stderr and result.stdout == ""


def test_errors_escape_and_shorten(capsys):
    """Argument errors escape control characters and shorten long values."""
    for argv, fragment in [(["graph", "--bogus\nline\r"], "unrecognized arguments: --bogus\\nline\\r (see"),
                           (["graph", "--hidden=" + "7" * 200], "got '777777777777777777777777777777'... (200 "
                                                               "characters)")]:
        with pytest.raises(SystemExit):
            cli.build_parser().parse_args(argv)
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and fragment in err, err


def test_number_types_accept_boundaries():
    from tinygrad_rnn.cli.arguments import comma_list, finite, nonnegative, positive

    assert positive(int, 1024)("1024") == 1024 and positive(int)("1") == 1 and nonnegative(int)("0") == 0
    assert positive(float, 10)("10") == 10.0 and positive(float)("1e-300") == 1e-300
    assert nonnegative(int)("9" * 100) == int("9" * 100) and finite()("-1e300") == -1e300
    assert comma_list(positive(int), at_most=3)("1, 2,3") == [1, 2, 3]
    assert cli.graph.max_steps("0") == 0 and cli.graph.max_steps("2") == 2


def test_written_name_cannot_drive_the_terminal(tmp_path, capsys):
    """A file name with a control character is printed escaped."""
    out = tmp_path / "a\x1b[2Jb.dot"
    assert cli.main(["graph", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "\x1b" not in printed and "\\x1b[2Jb.dot" in printed and out.exists()


@needs_dot
def test_graph_writes_the_page(tmp_path, capsys):
    """graph --format html writes the self-contained page, its numbers on the nodes."""
    out = tmp_path / "gru.html"
    assert cli.main(["graph", "--cell", "gru", "--steps", "40", "--format", "html", "--out", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page and 'id="tg-data"' in page
    assert 'data-label="gru.weight_hh_l0ᵀ"' in page and page.count('data-kind="step"') == viz.AUTO_MAX_STEPS
    assert "http://" not in page.replace("http://www.w3.org", "") and "https://" not in page  # nothing fetched
    assert f"wrote {out}" in capsys.readouterr().out
