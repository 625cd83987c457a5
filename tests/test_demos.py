"""Every demo end to end in its small mode: the char-RNN learns and resumes exactly, bad input fails cleanly."""

import importlib.util
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tinygrad_rnn.serialization import load

DEMOS = Path(__file__).resolve().parent.parent / "demos"
sys.path.insert(0, str(DEMOS))  # the tests import the demo scripts as modules
HAS_DOT = shutil.which("dot") is not None
ENV = dict(os.environ)  # the machine's OPENBLAS_* settings pass through unchanged


def demo(name):
    spec = importlib.util.spec_from_file_location(f"demo_{name}", DEMOS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_script(name, *args):
    return subprocess.run([sys.executable, str(DEMOS / f"{name}.py"), *map(str, args)], capture_output=True,
                          text=True, env=ENV)


@pytest.fixture(autouse=True)
def in_a_folder_of_its_own(tmp_path, monkeypatch):
    """Run each test in its own folder: the demos' defaults write to out/, which `make demo` fills (a checkpoint
    there made the bad-input tests fail on the checkpoint instead of on the input they test)."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="module")
def char_rnn():
    return demo("char_rnn")


@pytest.fixture
def text_file(tmp_path):
    """A small English text with real structure (sentences recombined at random, fixed seed)."""
    rng = np.random.default_rng(0)
    subjects = ["the model", "a gradient", "the hidden state", "each step", "the loss"]
    verbs = ["flows back through", "depends on", "shrinks along", "is carried by", "is read from"]
    objects = ["the graph.", "time.", "the last layer.", "every weight.", "the recurrence."]
    words = [" ".join([rng.choice(subjects), rng.choice(verbs), rng.choice(objects)]) for _ in range(700)]
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(words).capitalize(), encoding="utf-8")
    return path


def smoke_args(text_file, checkpoint, *extra):
    return ["--smoke", "--no-progress", "--text", str(text_file), "--checkpoint", str(checkpoint), *map(str, extra)]


@pytest.mark.parametrize("cell, optimizer", [("rnn", "adam"), ("gru", "adagrad")])
def test_char_rnn_beats_unigram_entropy(char_rnn, text_file, tmp_path, capsys, cell, optimizer):
    args = smoke_args(text_file, tmp_path / "c.npz", "--steps", 60, "--cell", cell, "--optimizer", optimizer)
    result = char_rnn.train(char_rnn.parse_args(args))
    checkpoint = load(tmp_path / "c.npz")
    losses = checkpoint["losses"]
    assert len(losses) == 60 and checkpoint["step"] == 60
    np.testing.assert_array_equal(losses, result["losses"])
    assert losses[0] > math.log(len(checkpoint["config"]["vocab"])) - 0.3  # starts near uniform
    entropy = result["unigram_entropy"]
    assert losses[-5:].mean() < entropy - 0.3
    assert result["train_loss"] < entropy - 0.3 and result["held_out_loss"] < entropy - 0.3
    printed = capsys.readouterr().out
    assert f"unigram entropy {entropy:.3f}" in printed and "sample after 60 steps:" in printed


def test_char_rnn_default_corpus_is_stdlib(char_rnn, tmp_path, capsys):
    assert char_rnn.main(["--smoke", "--no-progress", "--checkpoint", str(tmp_path / "d.npz")]) == 0
    printed = capsys.readouterr().out
    assert "docstrings of the Python standard library" in printed
    losses = load(tmp_path / "d.npz")["losses"]
    assert losses[-5:].mean() < losses[:5].mean() - 0.5


def test_stdlib_split_is_fixed_and_disjoint(char_rnn):
    train, held_out = char_rnn.stdlib_docstrings(60_000)
    assert (train, held_out) == char_rnn.stdlib_docstrings(60_000)
    assert held_out and held_out not in train
    assert set(train + held_out) <= set(chr(code) for code in range(32, 127)) | {"\n"}


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_resume_continues_exactly(char_rnn, text_file, tmp_path, cell):
    settings = ["--cell", cell, "--sample-every", 7, "--checkpoint-every", 0]
    assert char_rnn.main(smoke_args(text_file, tmp_path / "whole.npz", "--steps", 30, *settings)) == 0
    assert char_rnn.main(smoke_args(text_file, tmp_path / "parts.npz", "--steps", 13, *settings)) == 0
    assert load(tmp_path / "parts.npz")["step"] == 13
    assert char_rnn.main(smoke_args(text_file, tmp_path / "parts.npz", "--steps", 30, "--resume", *settings)) == 0
    whole, parts = load(tmp_path / "whole.npz"), load(tmp_path / "parts.npz")
    np.testing.assert_array_equal(parts["losses"], whole["losses"])  # the same loss curve, bit for bit
    for name, value in whole["model"].items():
        np.testing.assert_array_equal(parts["model"][name], value, err_msg=name)
    assert parts["sample_rng"].bit_generator.state == whole["sample_rng"].bit_generator.state
    assert parts["position"] == whole["position"]


def test_ctrl_c_saves_a_resumable_checkpoint(char_rnn, text_file, tmp_path):
    checkpoint = tmp_path / "interrupted.npz"
    args = smoke_args(text_file, checkpoint, "--steps", 100_000, "--sample-every", 1, "--sample-len", 5,
                      "--checkpoint-every", 0)
    args.remove("--no-progress")
    process = subprocess.Popen([sys.executable, "-u", str(DEMOS / "char_rnn.py"), *args], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        for line in process.stdout:  # the first sample means the training loop (and its Ctrl-C handler) runs
            if line.startswith("--- step"):
                break
        process.send_signal(signal.SIGINT)
        out, err = process.communicate()
    finally:
        process.kill()
    assert process.returncode == 130, err
    assert "interrupted at step" in out and "Traceback" not in err
    assert "loss=" in err and "chars_s=" in err  # the progress bar
    saved = load(checkpoint)
    assert 1 <= saved["step"] < 100_000 and len(saved["losses"]) == saved["step"]
    resumed_to = saved["step"] + 3
    assert char_rnn.main(smoke_args(text_file, checkpoint, "--steps", resumed_to, "--resume", "--sample-every", 1,
                                    "--sample-len", 5, "--checkpoint-every", 0)) == 0
    assert load(checkpoint)["step"] == resumed_to


def assert_clean_failure(result, *phrases):
    lines = result.stderr.strip().splitlines()
    assert result.returncode != 0
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for phrase in phrases:
        assert phrase in lines[0], lines[0]


def test_bad_text_files_fail_in_one_line(tmp_path):
    empty, single = tmp_path / "empty.txt", tmp_path / "single.txt"
    empty.write_text("")
    single.write_text("a" * 500)
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\xff\xfe\x00abc")
    assert_clean_failure(run_script("char_rnn", "--text", tmp_path / "missing.txt"), "missing.txt", "no such file")
    assert_clean_failure(run_script("char_rnn", "--text", empty), "empty")
    assert_clean_failure(run_script("char_rnn", "--text", single), "one distinct character", "'a'")
    assert_clean_failure(run_script("char_rnn", "--text", binary), "not UTF-8")


@pytest.mark.parametrize("name, args, phrase", [
    ("char_rnn", ["--steps", "abc"], "--steps"),
    ("char_rnn", ["--lr", "-1"], "positive"),
    ("adding_problem", ["--lengths", "50,x"], "--lengths"),
    ("vanishing_gradients", ["--radii", "0.5,big"], "--radii"),
    ("render_graph", ["--cells", "rnn,transformer"], "--cells"),
])
def test_bad_arguments_fail_in_one_line(name, args, phrase):
    assert_clean_failure(run_script(name, *args), phrase)


def test_foreign_model_checkpoint_is_kept(char_rnn, text_file, tmp_path):
    """A checkpoint from another model is refused and left as it was."""
    checkpoint = tmp_path / "rnn.npz"
    assert char_rnn.main(smoke_args(text_file, checkpoint, "--steps", 5)) == 0
    before = checkpoint.read_bytes()
    result = run_script("char_rnn", *smoke_args(text_file, checkpoint, "--resume", "--cell", "gru"))
    assert_clean_failure(result, "different model", "cell='rnn'", "cell='gru'")
    result = run_script("char_rnn", *smoke_args(text_file, checkpoint, "--resume", "--hidden-size", 7))
    assert_clean_failure(result, "different model", "hidden_size=48", "hidden_size=7")
    assert checkpoint.read_bytes() == before


def test_folder_checkpoint_fails_early(text_file, tmp_path):
    """A checkpoint path that is a folder fails before training."""
    result = run_script("char_rnn", *smoke_args(text_file, tmp_path, "--overwrite"))
    assert_clean_failure(result, f"--checkpoint {tmp_path} is a folder: expected the name of a file to write")
    assert "step" not in result.stdout  # refused before any training


def test_fresh_run_keeps_old_checkpoint(char_rnn, text_file, tmp_path):
    """A fresh run never overwrites a checkpoint unless asked to."""
    checkpoint = tmp_path / "precious.npz"
    assert char_rnn.main(smoke_args(text_file, checkpoint, "--steps", 3)) == 0
    before = checkpoint.read_bytes()
    assert_clean_failure(run_script("char_rnn", *smoke_args(text_file, checkpoint)), "already exists", "--resume")
    assert checkpoint.read_bytes() == before
    assert char_rnn.main(smoke_args(text_file, checkpoint, "--steps", 4, "--overwrite")) == 0
    assert load(checkpoint)["step"] == 4


def test_bad_checkpoint_is_refused_and_kept(text_file, tmp_path):
    """A corrupt, foreign or missing checkpoint is refused and left as it was."""
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"PK\x03\x04 this is not really a zip file")
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, weights=np.ones(3))
    for path in (corrupt, foreign):
        before = path.read_bytes()
        assert_clean_failure(run_script("char_rnn", *smoke_args(text_file, path, "--resume")), str(path))
        assert path.read_bytes() == before
    assert_clean_failure(run_script("char_rnn", *smoke_args(text_file, tmp_path / "none.npz", "--resume")),
                         "no checkpoint")


def test_adding_problem_beats_baseline():
    """At small T the LSTM beats the predict-the-mean baseline of the adding problem."""
    adding = demo("adding_problem")
    inputs, targets = adding.adding_batch(np.random.default_rng(0), 10, 4)
    assert inputs.shape == (10, 4, 2) and np.all(inputs[..., 1].sum(axis=0) == 2)
    np.testing.assert_allclose(targets[:, 0], (inputs[..., 0] * inputs[..., 1]).sum(axis=0), rtol=1e-6)
    rows = adding.run(adding.parse_args(["--smoke", "--no-progress"]))
    assert [(row["cell"], row["length"]) for row in rows] == [("lstm", 10)]
    assert rows[0]["mse"] < adding.BASELINE_MSE / 10


def test_vanishing_gradients_outputs(tmp_path, capsys):
    """The vanishing-gradients demo writes its plot, table and graphs, and its norms obey the bound."""
    vanishing = demo("vanishing_gradients")
    args = ["--smoke", "--out", str(tmp_path)] + ([] if HAS_DOT else ["--no-graph"])
    assert vanishing.main(args) == 0
    assert (tmp_path / "vanishing_gradients.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if HAS_DOT:
        for name in ("bptt_radii.png", "bptt_radius_0.5.png", "bptt_radius_1.5.png"):
            assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    table = capsys.readouterr().out
    assert "tanh RNN, s = 0.5" in table and "LSTM, default init" in table
    results = vanishing.measure(vanishing.parse_args(["--smoke"]))
    for result in results:
        if result["radius"] is not None:  # the bound, step by step: |g_t| <= |g_{t+1}| * s
            norms = result["norms"]
            assert np.all(norms[:-1] <= norms[1:] * result["radius"] * (1 + 1e-12)), result["label"]


@pytest.mark.skipif(not HAS_DOT, reason="Graphviz 'dot' is not installed")
def test_render_graph_draws_each_cell(tmp_path):
    assert demo("render_graph").main(["--out", str(tmp_path), "--formats", "svg"]) == 0
    for cell in ("rnn", "lstm", "gru"):
        svg = (tmp_path / f"graph_{cell}.svg").read_text()
        assert svg.lstrip().startswith("<?xml") and "t=7" in svg and "... 2 steps ..." in svg
        assert svg.count(f"{cell}.weight_hh_l0") == 1  # one node per cell per step, the parameter drawn once


@pytest.mark.skipif(not HAS_DOT, reason="Graphviz 'dot' is not installed")
def test_render_graph_page_has_snapshots(tmp_path):
    assert demo("render_graph").main(["--out", str(tmp_path), "--cells", "gru", "--formats", "dot", "--page",
                                      "--train-steps", "20"]) == 0
    page = (tmp_path / "graph_gru.html").read_text()
    assert '"snapshots":[{"step":0,' in page and '{"step":18,' in page and 'id="snapshot"' in page


@pytest.mark.slow
@pytest.mark.skipif(not HAS_DOT, reason="Graphviz 'dot' is not installed")
def test_main_smoke_writes_everything(tmp_path):
    result = subprocess.run([sys.executable, str(DEMOS / "main.py"), "--smoke", "--out", str(tmp_path)],
                            capture_output=True, text=True, env=ENV)
    assert result.returncode == 0, result.stderr
    listed = result.stdout.split("\nwrote:\n", 1)[1].splitlines()
    listed = [line.strip().split("  ", 1) for line in listed if line.startswith("  ")]
    written = sorted(path.name for path in tmp_path.iterdir())
    assert sorted(Path(path).name for path, _ in listed) == written  # every file written, each once
    assert all(len(what) > 20 and what != "written by one of the demos above" for _, what in listed), listed
    assert listed[0][0] == str(tmp_path / "char_rnn.html")  # the page first
    for name in ("char_rnn.html", "vanishing_gradients.png", "bptt_radii.png", "graph_rnn.svg", "graph_rnn.png",
                 "char_rnn.npz"):
        assert name in written, name
    page = (tmp_path / "char_rnn.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "char-RNN (rnn, hidden 48, trained 40 steps) reading" in page
    assert "rnn.weight_hh_l0" in page and "embedding.weight" in page and 'data-layer="rnn.l0"' in page
    data = json.loads(page.split('id="tg-data">', 1)[1].split("</script>", 1)[0].replace("<\\/", "</"))
    sentence = re.search(r'reading "(.*)" \(held out\)', data["title"]).group(1)
    assert data["step_labels"] == list(sentence[:-1])  # step t is labelled with the character it reads


@pytest.mark.slow
@pytest.mark.skipif(not HAS_DOT or not shutil.which("chromium") or not shutil.which("chromedriver"),
                    reason="the screenshot needs Graphviz 'dot', chromium and chromedriver (make tools)")
def test_main_screenshot_is_the_page(tmp_path):
    """--screenshot saves what Chromium shows of the char-RNN's page (the README's picture)."""
    import matplotlib.pyplot as plt

    shot = tmp_path / "page.png"
    result = subprocess.run([sys.executable, str(DEMOS / "main.py"), "--smoke", "--out", str(tmp_path / "out"),
                             "--screenshot", str(shot)], capture_output=True, text=True, env=ENV)
    assert result.returncode == 0, result.stderr
    assert f"screenshot: {shot}" in result.stdout
    image = plt.imread(shot)
    assert image.shape[1] == 1700 and image.shape[0] > 800 and image[..., :3].std() > 0.05  # not a blank window


# ---- every argument of every demo, given hostile values: one line, exit 2, no traceback -------------------------
DEMO_NAMES = sorted(path.stem for path in DEMOS.glob("*.py") if not path.name.startswith("_"))
UNBOUNDED = {"--max-chars": "a cap: more than the corpus holds reads all of it",
             "--eval-chars": "a cap: more than the held-out text holds scores all of it",
             "--sample-every": "an interval: more than --steps means never",
             "--checkpoint-every": "an interval: more than --steps means only at the end",
             "--seed": "any seed >= 0 works, however large",
             "--clip": "a threshold: a huge one means no clipping",
             "--forget-bias": "any finite bias (the sigmoid saturates)"}


def demo_table():
    from hostile_arguments import table

    rows = []
    for name in DEMO_NAMES:
        for _, argument, argvs in table(demo(name).build_parser(), {}, UNBOUNDED, {}, existing_file=__file__):
            rows.append((name, argument, argvs))
    return rows


@pytest.mark.parametrize("name,argument,argvs", demo_table(), ids=lambda value: value if isinstance(value, str) else "")
def test_hostile_arguments_fail_in_one_line(name, argument, argvs, capsys):
    """Every demo argument refuses hostile values with one line and exit code 2."""
    parse_args = demo(name).parse_args
    problems = []
    for argv in argvs:
        with pytest.raises(SystemExit) as exit_info:
            parse_args(argv)
        err = capsys.readouterr().err
        if exit_info.value.code != 2 or err.count("\n") != 1 or not err.endswith("\n") or "Traceback" in err:
            problems.append((argv, exit_info.value.code, err))
        elif argument not in err:
            problems.append((argv, "the message does not name the argument", err))
    assert not problems, problems[:3]


def test_demo_table_covers_everything():
    """The hostile-argument table covers every script and every argument."""
    rows = demo_table()
    assert sorted({name for name, _, _ in rows}) == DEMO_NAMES == [
        "adding_problem", "carousel", "char_rnn", "copy_task", "gradient_cliff", "main", "memory_horizon",
        "render_graph", "rtrl", "sequence_classification", "truncation", "vanishing_gradients", "watch_it_learn"]
    for name in DEMO_NAMES:
        defined = [action for action in demo(name).build_parser()._actions if action.dest != "help"]
        assert len([row for row in rows if row[0] == name]) == len(defined), name
    assert all(argvs for _, _, argvs in rows)


@pytest.mark.parametrize("name,args,phrase", [
    ("char_rnn", ["--seq-len", "1000", "--batch-size", "4096"], "--seq-len 1000 x --batch-size 4096"),
    ("adding_problem", ["--lengths", "2000", "--batch-size", "4096"], "T 2000 x --batch-size 4096"),
    ("vanishing_gradients", ["--steps", "100000", "--batch-size", "4096"], "--steps 100000 x --batch-size 4096"),
])
def test_sizes_too_big_together_are_refused(name, args, phrase, capsys):
    """Sizes that only together would exhaust memory are refused."""
    with pytest.raises(SystemExit) as exit_info:
        demo(name).parse_args(args)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and phrase in err and "make one of them smaller" in err and err.count("\n") == 1


def test_defaults_are_within_bounds():
    """Every demo's defaults and smoke settings are within its argument bounds."""
    for name in DEMO_NAMES:
        assert demo(name).parse_args([]) is not None
        assert demo(name).parse_args(["--smoke"]) is not None


@pytest.mark.parametrize("name, args, phrase", [
    ("char_rnn", ["--seed", "-1"], "argument --seed: expected 0 or a positive whole number, got '-1'"),
    ("adding_problem", ["--steps", "1" + "0" * 30], "argument --steps: expected a whole number from 1 to 1,000,000"),
    ("vanishing_gradients", ["--radii", "0.5,nan"], "argument --radii: expected a positive number up to 100"),
    ("render_graph", ["--steps", "100000000"], "argument --steps: expected a whole number from 1 to 50"),
    ("main", ["--out", __file__], "is a file; expected a folder"),
    ("main", ["--out", "/sys/tinygrad-rnn"], "argument --out: '/sys/tinygrad-rnn'"),  # no one may write in /sys
    ("carousel", ["--smoke", "--out", "/sys/tinygrad-rnn"], "argument --out: '/sys/tinygrad-rnn'"),
])
def test_scripts_refuse_in_one_line(name, args, phrase):
    """Each script, run for real, refuses a bad argument in one line with exit code 2."""
    result = run_script(name, *args)
    assert result.returncode == 2
    assert_clean_failure(result, phrase)
