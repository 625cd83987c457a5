"""The interactive page and the default picture: numbers read back with html.parser, factors against numpy,
the size budget and time order from dot's own layout, DOT escaping of hostile names, bad input."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from dataclasses import dataclass, field
from html.parser import HTMLParser

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tinygrad_rnn as tg
from tinygrad_rnn import nn, viz

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' is not installed")


@dataclass
class Snapshot:
    """The fields of analysis.FlowSnapshot, made here so the page is tested on its own."""

    step: int
    loss: float
    hidden: dict
    cell: dict = field(default_factory=dict)
    grad_norm: float = 1.0
    clipped_norm: float | None = None


def model_loss(cell: str = "lstm", steps: int = 5, hidden: int = 3, layers: int = 1, bidirectional: bool = False):
    nn.manual_seed(0)
    model = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell](2, hidden, num_layers=layers,
                                                                  bidirectional=bidirectional, dtype=np.float64)
    with tg.keep_values():
        output, _ = model(tg.Tensor(np.random.default_rng(1).standard_normal((steps, 1, 2))))
        loss = (output[-1] ** 2).mean()
    return loss, model, {f"{cell}.{name}": p for name, p in model.named_parameters()}


class Page(HTMLParser):
    """Nodes and edges (id -> attributes) of the page's SVG and of its expanded cells' SVGs (ids c<k>n<i>,
    c<k>e<j>), and its JSON data."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.nodes, self.edges, self.cell_nodes, self.cell_edges, self.data, self._json = {}, {}, {}, {}, None, False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        cell = attrs.get("id", "").startswith("c")
        if tag == "g" and attrs.get("class") == "node" and "data-kind" in attrs:
            (self.cell_nodes if cell else self.nodes)[attrs["id"]] = attrs
        elif tag == "g" and attrs.get("class") == "edge":
            (self.cell_edges if cell else self.edges)[attrs["id"]] = attrs
        self._json = tag == "script" and attrs.get("id") == "tg-data"

    def handle_data(self, data):
        if self._json:
            self.data = json.loads(data)
            self._json = False


@needs_dot
def test_page_equals_engine_gradients(tmp_path):
    """The page's numbers equal the engine's gradients."""
    loss, model, params = model_loss("lstm", steps=5)
    path = viz.to_html(loss, tmp_path / "page.html", params=params, collapse=None, max_steps=None)
    loss.backward(retain_graph=True, retain_grads=True)  # the independent numbers: the engine's own backward
    page = Page(open(path, encoding="utf-8").read())
    checked = 0
    for attrs in page.nodes.values():
        if attrs["data-kind"] == "parameter":
            name = attrs["data-label"].rstrip("ᵀ")
            assert float(attrs["data-grad"]) == pytest.approx(np.linalg.norm(params[name].grad), rel=1e-12, abs=0)
            checked += 1
    assert checked == len(params)
    weight_hh = params["lstm.weight_hh_l0"]
    node_id = next(i for i, a in page.nodes.items() if a["data-label"].startswith("lstm.weight_hh_l0"))
    sent = sorted(float(a["data-grad"]) for a in page.edges.values() if a["data-tail"] == node_id)
    readers = [ctx for ctx in tg.toposort(loss) if ctx.is_context and ctx.name == "permute"
               and ctx.parents[0] is weight_hh]
    assert len(readers) == 1 and len(sent) == 5  # W_hh.T, read by the five steps' addmm
    per_step = sorted(np.linalg.norm(tg.analysis.input_gradients(ctx)[2]) for ctx in tg.toposort(loss)
                      if ctx.is_context and ctx.name == "addmm" and "/t=" in (ctx.scope or ""))
    np.testing.assert_allclose(sent, per_step, rtol=1e-12)


def _numbers(text):
    return [float(x) for x in text.split()] if text else []


def _value(vertex):
    """The array a vertex stands for: a leaf's data, or an op's output (kept under keep_values)."""
    return np.asarray((vertex.output if vertex.is_context else vertex).data)


def _vertices_of(page, loss):
    """Each drawn node's vertex in the engine's graph, found by what it shows (scope, shape, values; an op's
    output drawn apart stands for the op): id -> the matching vertices."""
    import re

    engine = [vertex for vertex in tg.toposort(loss, all_inputs=True)]
    found = {}
    for node_id, attrs in page.nodes.items():
        if "data-values" not in attrs:
            continue
        shape = tuple(int(size) for size in re.findall(r"\d+", attrs["data-shape"]))
        shown = _numbers(attrs["data-values"])
        found[node_id] = [vertex for vertex in engine if (vertex.scope or "") == attrs["data-scope"]
                          and _value(vertex).shape == shape
                          and np.allclose(shown, _value(vertex).reshape(-1)[:len(shown)], rtol=6e-3, atol=1e-12)]
        assert found[node_id], f"no vertex shows {attrs}"
        if attrs["data-kind"] == "parameter" and "data-op" in attrs:  # W and the W^T (or its gate blocks) the
            for vertex in engine:                                         # layer reads before its steps: one node
                if (vertex.is_context and vertex.name in ("permute", "getitem") and "/t=" not in (vertex.scope or "")
                        and vertex.parents[0] in found[node_id]):
                    found[node_id].append(vertex)
    for edge in page.edges.values():  # an op whose output is drawn as its own node: the same vertex
        tail, head = edge["data-tail"], edge["data-head"]
        if tail not in found and page.nodes[head]["data-kind"] in ("intermediate", "output"):
            found[tail] = found[head]
    return found


@needs_dot
@pytest.mark.parametrize("cell,layers,bidirectional", [("lstm", 1, False), ("gru", 1, False), ("rnn", 2, True)])
def test_every_node_and_edge_number(cell, layers, bidirectional, tmp_path):
    """Every node's data-grad is ||grad|| of its vertex; every edge's, the norm of what its head sends its tail."""
    loss, _, params = model_loss(cell, steps=3, layers=layers, bidirectional=bidirectional)
    path = viz.to_html(loss, tmp_path / "page.html", params=params, collapse=None, max_steps=None)
    loss.backward(retain_graph=True, retain_grads=True)
    page = Page(open(path, encoding="utf-8").read())
    vertices, engine = _vertices_of(page, loss), tg.toposort(loss, all_inputs=True)
    assert set(vertices) == set(page.nodes)  # every node found

    def norm_of(gradient):
        return None if gradient is None else float(np.linalg.norm(gradient))

    def same(shown, value):
        return shown is value is None or None not in (shown, value) and shown == pytest.approx(value, rel=1e-12,
                                                                                                abs=1e-300)

    for node_id, attrs in page.nodes.items():
        expected = {norm_of(vertex.grad) for vertex in vertices[node_id]}
        if "data-values" not in attrs:  # an op whose output is drawn apart: the number is on the output's node
            expected = {None}
        shown = float(attrs["data-grad"]) if attrs["data-grad"] else None
        assert any(same(shown, value) for value in expected), (attrs, expected)
    for edge_id, attrs in page.edges.items():
        heads, tails = vertices[attrs["data-head"]], vertices[attrs["data-tail"]]
        sent = set()
        for head in heads:
            if head in tails:  # an op and its output drawn apart: the output's gradient
                sent.add(norm_of(head.grad))
            elif head.is_context:
                sent.update(norm_of(gradient) for parent, gradient in
                            zip(head.parents, tg.analysis.input_gradients(head)) if parent in tails)
        step = page.nodes[attrs["data-head"]]["data-scope"]
        if page.nodes[attrs["data-tail"]]["data-kind"] == "parameter" and "/t=" in step:
            # one edge per step from a parameter whose disjoint slices (the GRU's gate blocks) several ops read
            parts = [norm_of(gradient) for head in engine if head.is_context and head.scope == step
                     for parent, gradient in zip(head.parents, tg.analysis.input_gradients(head)) if parent in tails]
            sent.add(math.hypot(*parts))
        shown = float(attrs["data-grad"]) if attrs["data-grad"] else None
        assert any(same(shown, value) for value in sent), (edge_id, attrs, sent)


@needs_dot
def test_static_picture_has_tooltips(tmp_path):
    """Without JavaScript the SVG still explains each node in its tooltip (its <title>)."""
    import re

    loss, _, params = model_loss("lstm", steps=3)
    text = open(viz.to_html(loss, tmp_path / "page.html", params=params), encoding="utf-8").read()
    graph = text[text.index('<div id="graph">'):text.index("</div>", text.index('<div id="graph">'))]
    titles = re.findall(r'<g id="n\d+" class="node"[^>]*>\s*<title>(.*?)</title>', graph, flags=re.S)
    assert len(titles) == graph.count('class="node"') and len(titles) >= 8
    weight = next(title for title in titles if title.startswith("lstm.weight_hh_l0"))
    assert "op permute: z = x with its axes reordered" in weight and "shape (12, 3)" in weight and "||grad||" in weight


@needs_dot
def test_default_page_norms_and_snapshots(tmp_path):
    """The default page's step norms and snapshots hold what was recorded."""
    loss, model, params = model_loss("gru", steps=9)
    snapshots = [Snapshot(step, 2.0 / (step + 1), {"gru.l0": np.linspace(0.1, 1.0, 9) * (step + 1)},
                          grad_norm=3.0 + step, clipped_norm=1.0 if step else None) for step in (0, 10, 20)]
    path = viz.to_html(loss, tmp_path / "page.html", params=params, snapshots=snapshots)
    page = Page(open(path, encoding="utf-8").read())
    loss.backward(retain_graph=True, retain_grads=True)
    states = {}
    for ctx in tg.toposort(loss):  # h_t: what step t's last op made
        if ctx.is_context and ctx.scope and "/t=" in ctx.scope:
            states[int(ctx.scope.split("t=")[1])] = np.linalg.norm(ctx.grad)
    steps = {int(a["data-t"]): float(a["data-grad"]) for a in page.nodes.values() if a["data-kind"] == "step"}
    assert sorted(steps) == [0, 1, 2, 6, 7, 8]  # the middle three elided
    for t, value in steps.items():
        assert value == pytest.approx(states[t], rel=1e-12, abs=1e-300)
    layer = page.data["layers"][0]
    np.testing.assert_allclose(layer["hidden"], [states[t] for t in range(9)], rtol=1e-12)
    assert [s["step"] for s in page.data["snapshots"]] == [0, 10, 20]
    for recorded, made in zip(page.data["snapshots"], snapshots):
        assert recorded["hidden"]["gru.l0"] == list(made.hidden["gru.l0"])
        assert recorded["loss"] == made.loss and recorded["grad_norm"] == made.grad_norm
        assert recorded["clipped_norm"] == made.clipped_norm


@needs_dot
def test_page_is_self_contained(tmp_path):
    """The page is deterministic and self-contained."""
    loss, _, params = model_loss("rnn", steps=4)
    first = open(viz.to_html(loss, tmp_path / "a.html", params=params), "rb").read()
    second = open(viz.to_html(loss, tmp_path / "b.html", params=params), "rb").read()
    assert first == second
    text = first.decode()
    assert "http://" not in text.replace("http://www.w3.org", "") and "https://" not in text
    assert "<script src" not in text and "<link" not in text


def test_tanh_rnn_factors_equal_numpy():
    loss, model, _ = model_loss("rnn", steps=6)
    prepared = viz.prepare("to_html", loss, {})
    from tinygrad_rnn.viz.factors import step_factors
    factors = step_factors(prepared.units, prepared.hidden, prepared.picture.layers)["rnn.l0"]
    weight_ih, weight_hh = model.weight_ih_l0.data, model.weight_hh_l0.data
    bias = model.bias_ih_l0.data + model.bias_hh_l0.data
    xs = np.random.default_rng(1).standard_normal((6, 1, 2))
    h = np.zeros((1, 3))
    for t in range(6):
        h = np.tanh(xs[t] @ weight_ih.T + h @ weight_hh.T + bias)
        if t:  # ||diag(1 - h_t^2) W_hh||_2
            assert factors[t] == pytest.approx(np.linalg.norm(np.diag(1 - h[0] ** 2) @ weight_hh, 2), rel=1e-12)
    assert sorted(factors) == [1, 2, 3, 4, 5]


def test_lstm_factors_match_finite_diffs():
    """LSTM factors equal finite differences of a numpy step."""
    loss, model, _ = model_loss("lstm", steps=3)
    prepared = viz.prepare("to_html", loss, {})
    from tinygrad_rnn.viz.factors import step_factors
    factors = step_factors(prepared.units, prepared.hidden, prepared.picture.layers)["lstm.l0"]
    weight_ih, weight_hh = model.weight_ih_l0.data, model.weight_hh_l0.data
    bias = model.bias_ih_l0.data + model.bias_hh_l0.data
    xs = np.random.default_rng(1).standard_normal((3, 1, 2))

    def step(x, state):
        h, c = state[:3], state[3:]
        gates = x @ weight_ih.T + h @ weight_hh.T + bias
        sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
        c = sig(gates[3:6]) * c + sig(gates[:3]) * np.tanh(gates[6:9])
        return np.concatenate([sig(gates[9:]) * np.tanh(c), c])

    state = np.zeros(6)
    for t in range(3):
        if t:
            jacobian = np.array([(step(xs[t, 0], state + e) - step(xs[t, 0], state - e)) / 2e-6
                                 for e in np.eye(6) * 1e-6]).T
            assert factors[t] == pytest.approx(np.linalg.norm(jacobian, 2), rel=1e-7)
        state = step(xs[t, 0], state)


@needs_dot
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("steps", [4, 30, pytest.param(1000, marks=pytest.mark.slow)])
def test_default_picture_layout(cell, steps):
    """The default picture is within the size budget, and time runs left to right."""
    loss, _, params = model_loss(cell, steps=steps)
    check_layout(viz.to_dot(loss, params=params), min(steps, viz.AUTO_MAX_STEPS))


def row_order(text: str) -> list[str]:
    """The rows of a picture from the bottom up, read from dot's own layout (each row's nodes share a `group`:
    the layer, or '<layer>:join' for the junction points into it); every row must be one straight line."""
    layout = json.loads(subprocess.run(["dot", "-Tjson"], input=text, capture_output=True, text=True,
                                       check=True).stdout)
    heights = {}
    for obj in layout["objects"]:
        if "pos" in obj and "group" in obj and obj.get("style") != "invis":
            heights.setdefault(obj["group"], set()).add(round(float(obj["pos"].split(",")[1]), 1))
    assert all(len(found) == 1 for found in heights.values()), heights
    return sorted(heights, key=lambda group: heights[group].pop() if len(heights[group]) == 1 else 0)


@needs_dot
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("steps", [4, 30, pytest.param(200, marks=pytest.mark.slow),
                                   pytest.param(1000, marks=pytest.mark.slow)])
def test_bidirectional_row_order(cell, steps):
    """Stacked bidirectional rows read layer 0 at the bottom, its reverse above it, then layer 1's junction, layer
    1, its reverse."""
    for loss_of in (lambda output: (output[-1] ** 2).mean(), lambda output: ((output - 0.5) ** 2).mean()):
        nn.manual_seed(0)
        model = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell](2, 3, num_layers=2, bidirectional=True,
                                                                      dtype=np.float64)
        output, _ = model(tg.Tensor(np.random.default_rng(1).standard_normal((steps, 1, 2))))
        text = viz.to_dot(loss_of(output), params={f"{cell}.{n}": p for n, p in model.named_parameters()})
        assert row_order(text) == [f"{cell}.l0", f"{cell}.l0_reverse", f"{cell}.l1:join", f"{cell}.l1",
                                   f"{cell}.l1_reverse"]
        check_layout(text, min(steps, viz.AUTO_MAX_STEPS))


@needs_dot
@pytest.mark.parametrize("bidirectional", [False, True])
def test_three_layers_have_junction_rows(bidirectional):
    """Three stacked layers have their own junctions between their rows."""
    nn.manual_seed(0)
    model = nn.GRU(2, 3, num_layers=3, bidirectional=bidirectional, dtype=np.float64)
    output, _ = model(tg.Tensor(np.random.default_rng(1).standard_normal((5, 1, 2))))
    text = viz.to_dot((output[-1] ** 2).mean(), params={f"gru.{n}": p for n, p in model.named_parameters()})
    rows = [[f"gru.l{k}", f"gru.l{k}_reverse"] if bidirectional else [f"gru.l{k}"] for k in range(3)]
    assert row_order(text) == rows[0] + ["gru.l1:join"] + rows[1] + ["gru.l2:join"] + rows[2]


@needs_dot
@pytest.mark.slow
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_stacked_bidirectional_budget(cell):
    """A stacked bidirectional picture at 1000 steps is within the budget."""
    loss, _, params = model_loss(cell, steps=1000, layers=2, bidirectional=True)
    check_layout(viz.to_dot(loss, params=params), viz.AUTO_MAX_STEPS)


def check_layout(text: str, drawn_steps: int) -> list[dict]:
    """Run dot -Tjson; check the budget and that step t's node is left of step t+1's (same y) in every layer."""
    layout = json.loads(subprocess.run(["dot", "-Tjson"], input=text, capture_output=True, text=True,
                                       check=True).stdout)
    left, bottom, right, top = (float(v) for v in layout["bb"].split(","))
    assert (right - left) * 96 / 72 <= viz.SIZE_BUDGET_PX and (top - bottom) * 96 / 72 <= viz.SIZE_BUDGET_PX
    clusters = {o["_gvid"]: o.get("label", "") for o in layout.get("objects", []) if "nodes" in o}
    member = {n: label for o in layout.get("objects", []) if "nodes" in o for n in o["nodes"]
              for label in [clusters[o["_gvid"]]]}
    nodes = []
    for obj in layout["objects"]:
        if "pos" in obj and obj.get("label", "").startswith("t="):
            x, y = (float(v) for v in obj["pos"].split(","))
            nodes.append({"label": obj["label"], "t": int(obj["label"].split("\\n")[0][2:]), "x": x, "y": y,
                          "layer": member.get(obj["_gvid"], "")})
    by_layer = {}
    for node in nodes:
        by_layer.setdefault(node["layer"], []).append(node)
    assert by_layer
    for row in by_layer.values():
        row.sort(key=lambda node: node["t"])
        assert len(row) == drawn_steps
        assert all(a["x"] < b["x"] for a, b in zip(row, row[1:]))
    for t in {node["t"] for node in nodes}:  # step t of every layer on one rank: the same x
        assert len({node["x"] for node in nodes if node["t"] == t}) == 1
    return nodes


hostile = st.text(st.characters(codec=None), max_size=12) | st.sampled_from(
    ["\x00", "a\x00b", '"', '\\"', "{}", "<b>&amp;</b>", "\u202ebidi\u202c", "\\N\\G", "\ud800", "\x85", "\n\t\r",
     "-->", "]]>", "subgraph x {"])


@needs_dot
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=hostile, scope=hostile, title=hostile)
def test_dot_parses_whatever_the_names(name, scope, title):
    weight = tg.Tensor(np.ones((2, 2)), requires_grad=True)
    weight.name = name
    hidden = tg.Tensor(np.ones((1, 2)))
    for t in range(2):
        with tg.scope(f"{scope}/t={t}"):
            hidden = (hidden @ weight).tanh()
    text = viz.to_dot(hidden.sum(), title=title, params={name: weight} if name else None)
    text.encode("utf-8")  # every character is one UTF-8 can hold
    result = subprocess.run(["dot", "-Tcanon"], input=text.encode("utf-8"), capture_output=True)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert b"\x00" not in text.encode("utf-8")


@needs_dot
@pytest.mark.parametrize("char", ["n", "\x00", "&"])
def test_dot_parses_names_past_its_limit(char):
    """Names, scopes and titles longer than dot's 16,384-byte strings are cut, saying how much."""
    weight = tg.Tensor(np.ones((2, 2)), requires_grad=True)
    hidden = tg.Tensor(np.ones((1, 2)))
    with tg.scope(char * 20_000 + "/t=0"):
        hidden = (hidden @ weight).tanh()
    text = viz.to_dot(hidden.sum(), title=char * 20_000, params={char * 20_000: weight})
    result = subprocess.run(["dot", "-Tcanon"], input=text.encode("utf-8"), capture_output=True)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert f"({20_000 - viz.dot.MAX_TEXT:,} more characters)" in text


def test_unknown_keyword_names_function():
    """An unknown keyword names the public function."""
    loss, _, _ = model_loss("rnn", steps=2)
    for function, name in ((viz.to_dot, "to_dot"), (viz.draw, "draw")):
        with pytest.raises(TypeError, match=rf"viz\.{name}\(\) got an unexpected keyword argument 'colour'"):
            function(loss, colour="red")
    with pytest.raises(TypeError, match=r"viz\.render\(\) got an unexpected keyword argument 'colour'"):
        viz.render(loss, "x.svg", colour="red")
    with pytest.raises(TypeError, match=r"viz\.to_html\(\) got an unexpected keyword argument 'colour'"):
        viz.to_html(loss, "x.html", colour="red")


def test_huge_picture_refused_before_dot():
    """A huge expanded picture is refused before dot runs."""
    loss, _, params = model_loss("lstm", steps=120)
    with pytest.raises(viz.PictureTooLargeError, match=r"nodes, more than max_nodes=1,000.*max_steps=K"):
        viz.render(loss, "never.svg", params=params, collapse=None, max_steps=None)
    assert "digraph" in viz.to_dot(loss, params=params)  # the default stays small


@needs_dot
def test_page_bad_input_is_named(tmp_path):
    """Bad input to the page is named, and nothing is written."""
    loss, _, params = model_loss("rnn", steps=3)
    with pytest.raises(ValueError, match="snapshots is empty"):
        viz.to_html(loss, tmp_path / "a.html", snapshots=[])
    with pytest.raises(TypeError, match="snapshot 0 .* has no 'step'"):
        viz.to_html(loss, tmp_path / "a.html", snapshots=[object()])
    with pytest.raises(ValueError, match="records layer 'gru.l0', which is not in this graph"):
        viz.to_html(loss, tmp_path / "a.html", snapshots=[Snapshot(0, 1.0, {"gru.l0": [1.0]})])
    stranger = tg.Tensor(np.ones(2), requires_grad=True)
    with pytest.raises(ValueError, match=r"params names 1 tensor\(s\) that are not in this graph: 'stranger'"):
        viz.to_html(loss, tmp_path / "a.html", params={**params, "stranger": stranger})
    with pytest.raises(FileNotFoundError, match="to_html: cannot write .* does not exist"):
        viz.to_html(loss, tmp_path / "missing" / "a.html")
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileNotFoundError, match="the folder .*file' is a file, not a folder"):
        viz.to_html(loss, tmp_path / "file" / "a.html")
    (tmp_path / "file").unlink()
    (tmp_path / "folder.html").mkdir()
    with pytest.raises(IsADirectoryError, match="is a folder"):
        viz.to_html(loss, tmp_path / "folder.html")
    for labels, message in ((["a", "b"], r"step_labels has 2 labels; this graph has 3 time steps \(t=0..2\): "
                                          r"expected 3 strings, one per step"),
                            (["a", 7, "c"], r"step_labels\[1\] is int \(7\); expected a string"),
                            ("abc", r"step_labels must be a list of strings.*got the string 'abc'; pass list\(text\)"),
                            (3, r"step_labels must be a list of strings, one per time step, got int")):
        with pytest.raises(ValueError, match=message):
            viz.to_html(loss, tmp_path / "a.html", step_labels=labels)
    loss.backward()
    with pytest.raises(viz.GradientsUnavailableError, match="retain_graph=True"):
        viz.to_html(loss, tmp_path / "a.html")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder.html"]


@needs_dot
def test_step_labels_in_the_page(tmp_path):
    """step_labels are in the page's data and on each drawn step."""
    loss, _, params = model_loss("gru", steps=9)
    labels = list("a b\ncdefg")[:9]
    page = Page(open(viz.to_html(loss, tmp_path / "page.html", params=params, step_labels=labels),
                     encoding="utf-8").read())
    assert page.data["step_labels"] == labels
    drawn = {int(a["data-t"]): a["data-step-label"] for a in page.nodes.values() if a["data-kind"] == "step"}
    assert drawn == {t: labels[t] for t in (0, 1, 2, 6, 7, 8)}


@needs_dot
def test_snapshots_can_be_losses(tmp_path):
    """Snapshots can be losses with retained gradients."""
    losses = []
    for scale in (1.0, 2.0):
        loss, model, params = model_loss("rnn", steps=4)
        loss = loss * scale
        loss.backward(retain_graph=True, retain_grads=True)
        losses.append(loss)
    page = Page(open(viz.to_html(losses[-1], tmp_path / "p.html", snapshots=losses), encoding="utf-8").read())
    first, second = (s["hidden"]["rnn.l0"] for s in page.data["snapshots"])
    np.testing.assert_allclose(np.array(second), 2 * np.array(first), rtol=1e-12)
    assert math.isclose(page.data["snapshots"][1]["loss"], 2 * page.data["snapshots"][0]["loss"])


def train_with_recorder(steps: int, every: int):
    """A few SGD steps of a float64 LSTM under analysis.FlowRecorder (clipped); returns (model, recorder, inputs)."""
    nn.manual_seed(0)
    model = nn.LSTM(2, 3, dtype=np.float64)
    inputs = tg.Tensor(np.random.default_rng(1).standard_normal((7, 1, 2)))
    optimizer = tg.optim.SGD(model.parameters(), lr=0.5)
    recorder = tg.analysis.FlowRecorder(model, every=every)
    for _ in range(steps):
        output, _ = model(inputs)
        optimizer.zero_grad()
        recorder.backward((output[-1] ** 2).mean())
        recorder.clip(0.05)
        optimizer.step()
    return model, recorder, inputs


@needs_dot
def test_snapshots_of_a_real_flow_recorder(tmp_path):
    model, recorder, inputs = train_with_recorder(steps=6, every=2)  # records steps 0, 2, 4
    output, _ = model(inputs)  # the graph drawn: the model and input of the next recorded step
    path = viz.to_html((output[-1] ** 2).mean(), tmp_path / "page.html", params=dict(model.named_parameters()),
                       snapshots=recorder.snapshots)
    page = Page(open(path, encoding="utf-8").read())
    assert [s["step"] for s in page.data["snapshots"]] == [0, 2, 4]
    for shown, recorded in zip(page.data["snapshots"], recorder.snapshots):
        assert shown["loss"] == recorded.loss and shown["grad_norm"] == recorded.grad_norm
        assert shown["clipped_norm"] == recorded.clipped_norm and recorded.clipped_norm is not None
        assert shown["hidden"] == {"lstm.l0": list(recorded.hidden["lstm.l0"])}
        assert shown["cell"] == {"lstm.l0": list(recorded.cell["lstm.l0"])}
    output, _ = model(inputs)
    recorder.backward((output[-1] ** 2).mean())  # step 6, recorded on a copy of the graph the page drew
    measured = recorder.snapshots[-1]
    assert measured.step == 6
    layer = page.data["layers"][0]  # the page's own backward against the recorder's hooks
    np.testing.assert_allclose(layer["hidden"], measured.hidden["lstm.l0"], rtol=1e-12)
    np.testing.assert_allclose(layer["cell"], measured.cell["lstm.l0"], rtol=1e-12)


def test_empty_recorder_is_an_error(tmp_path):
    """A recorder with no snapshots is a clear error, and nothing is written."""
    model, recorder, inputs = train_with_recorder(steps=0, every=1)
    output, _ = model(inputs)
    with pytest.raises(ValueError, match=r"snapshots is empty; .*FlowRecorder"):
        viz.to_html((output[-1] ** 2).mean(), tmp_path / "page.html", snapshots=recorder.snapshots)
    assert list(tmp_path.iterdir()) == []


@needs_dot
def test_page_past_the_factor_budget(tmp_path, monkeypatch):
    """Past the factor budget, the page says the factors were not computed."""
    from tinygrad_rnn.viz import factors

    loss, _, params = model_loss("lstm", steps=4)
    monkeypatch.setattr(factors, "MAX_OP_BACKWARDS", 10)
    text = open(viz.to_html(loss, tmp_path / "page.html", params=params), encoding="utf-8").read()
    assert Page(text).data["layers"][0]["factors"] is None and "MAX_OP_BACKWARDS" in text


def test_formula_is_the_docstring_paragraph():
    """A tooltip's formula is the op's whole first docstring paragraph, not its first line."""
    from tinygrad_rnn.function import OPS
    from tinygrad_rnn.viz.units import formula

    assert formula(OPS["addmm"]).endswith("x_t W_ih^T + b, a Linear layer);  dL/dC = G,  dL/dX = G @ W^T,  "
                                          "dL/dW = sum over leading axes of X^T G")
    assert formula(OPS["tanh"]) == "z = tanh x;  dz/dx = 1 - z^2"
