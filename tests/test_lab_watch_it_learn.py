"""demos/watch_it_learn.py on its smoke run: the page holds exactly the snapshots the recorder recorded (read back
with html.parser), the picture, and bad input refused."""

import contextlib
import io
import json
import math
import shutil
from html.parser import HTMLParser

import numpy as np
import pytest
from lab_runs import assert_bad_output_folders_refused, assert_png, assert_reported, lab, refusal, run_script

import tinygrad_rnn as tg
from tinygrad_rnn import analysis
from tinygrad_rnn.nn.functional import mse_loss

watch_it_learn = lab("watch_it_learn")
pytestmark = pytest.mark.skipif(shutil.which("dot") is None, reason="the page needs Graphviz 'dot' (make tools)")


class Page(HTMLParser):
    """The page's tags, its data block (tg-data) and the drawn nodes' attributes."""

    def __init__(self, text):
        super().__init__()
        self.tags, self.data, self.nodes, self._in_data = [], None, [], False
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        self._in_data = tag == "script" and attrs.get("id") == "tg-data"
        if tag == "g" and attrs.get("class") == "node":
            self.nodes.append(attrs)

    def handle_data(self, data):
        if self._in_data:
            self.data = json.loads(data)
            self._in_data = False


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """One smoke run: its arguments, the trained model and recorder, the files, the folder and what it printed."""
    out = tmp_path_factory.mktemp("watch_it_learn")
    args = watch_it_learn.parse_args(["--smoke", "--out", str(out)])
    trained, written = watch_it_learn.run(args)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        watch_it_learn.summary(args, trained, written)
    return args, trained, written, out, printed.getvalue()


def same_number(page_value, recorded):
    return page_value is None if recorded is None or not math.isfinite(recorded) else page_value == recorded


def test_writes_page_and_picture_it_lists(smoke):
    _, _, written, out, printed = smoke
    paths = [out / name for name in watch_it_learn.FILES]
    assert [path for path, _ in written] == paths
    assert_reported(printed, paths)
    assert_png(out / "watch_it_learn.png")
    text = (out / "watch_it_learn.html").read_text(encoding="utf-8")
    page = Page(text)
    assert text.startswith("<!DOCTYPE html>") and "svg" in page.tags and page.nodes
    assert "http://" not in text.replace("http://www.w3.org", "")  # offline: no script or style from the network
    assert sorted(p.name for p in out.iterdir()) == sorted(watch_it_learn.FILES)


def test_page_holds_the_recorded_snapshots(smoke):
    args, trained, _, out, _ = smoke
    recorded = trained.recorder.snapshots
    assert [snapshot.step for snapshot in recorded] == list(range(0, args.steps, args.every))
    page = Page((out / "watch_it_learn.html").read_text(encoding="utf-8")).data["snapshots"]
    assert len(page) == len(recorded)
    for shown, snapshot in zip(page, recorded):
        assert shown["step"] == snapshot.step
        for name in ("loss", "grad_norm", "clipped_norm"):
            assert same_number(shown[name], getattr(snapshot, name)), (snapshot.step, name)
        for kind in ("hidden", "cell"):
            mapping = getattr(snapshot, kind)
            assert sorted(shown[kind]) == sorted(mapping) and mapping, (snapshot.step, kind)
            for layer, norms in mapping.items():
                assert all(same_number(a, b) for a, b in zip(shown[kind][layer], norms, strict=True)), layer
        assert snapshot.clipped_norm <= 1.0 * (1 + 1e-6)  # clipped to max_norm 1 (float32 gradients)


def test_recorder_changes_nothing(smoke):
    """The recorded losses are the losses of the same training without the recorder, bit for bit."""
    args, trained, _, _, _ = smoke
    from tinygrad_rnn.nn.utils import clip_grad_norm_
    from tinygrad_rnn.optim import Adam

    tg.nn.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    model = watch_it_learn.adding_problem.Adder(args.cell, args.hidden_size)
    optimizer = Adam(model.named_parameters(), lr=1e-2)
    losses = []
    for _ in range(args.steps):
        inputs, targets = watch_it_learn.adding_problem.adding_batch(rng, args.length, args.batch_size)
        loss = mse_loss(model(inputs), targets)
        optimizer.zero_grad()
        loss.backward()
        clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses.append(loss.item())
    assert [snapshot.loss for snapshot in trained.recorder.snapshots] == losses[::args.every]
    for (name, mine), (_, theirs) in zip(model.named_parameters(), trained.model.named_parameters()):
        np.testing.assert_array_equal(mine.data, theirs.data, err_msg=name)


def test_page_graph_is_the_trained_model(smoke):
    """The page's graph is the trained model run on one sequence."""
    args, trained, _, out, _ = smoke
    page = Page((out / "watch_it_learn.html").read_text(encoding="utf-8"))
    labels = {node.get("data-label") for node in page.nodes if node.get("data-kind") == "parameter"}
    drawn = {label.split(" ")[0].rstrip("ᵀ") for label in labels}  # a weight is drawn as Wᵀ where it is used so
    assert {name for name, _ in trained.model.named_parameters()} <= drawn
    (layer,) = page.data["layers"]
    assert layer["name"] == "lstm.l0" and len(layer["hidden"]) == args.length
    recorder = analysis.FlowRecorder(trained.model)  # the page's own numbers against the engine's backward
    inputs, targets = watch_it_learn.adding_problem.adding_batch(np.random.default_rng(args.seed + 2), args.length, 1)
    recorder.backward(mse_loss(trained.model(inputs), targets))
    np.testing.assert_allclose(layer["hidden"], recorder.snapshots[0].hidden["lstm.l0"], rtol=1e-5)


def test_bad_input_fails_in_one_line(capsys, tmp_path):
    assert_bad_output_folders_refused(capsys, watch_it_learn.main, watch_it_learn.FILES, tmp_path)
    for argv, phrase in ((["--steps", "0"], "--steps"), (["--every", "-1"], "--every"),
                         (["--every", "30", "--steps", "30"], "two snapshots"), (["--length", "1"], "at least 2")):
        status, err = refusal(capsys, watch_it_learn.main, ["--smoke", "--out", str(tmp_path / "x"), *argv])
        assert status == 2 and phrase in err, err
    assert not (tmp_path / "x").exists()


def test_real_run_keeps_the_page(tmp_path):
    page = tmp_path / "watch_it_learn.html"
    page.write_text("kept")
    result = run_script("watch_it_learn", "--smoke", "--out", tmp_path)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and str(page) in result.stderr
    assert page.read_text() == "kept" and sorted(p.name for p in tmp_path.iterdir()) == ["watch_it_learn.html"]
