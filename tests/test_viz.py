"""The graph renderer: assertions on the DOT text, checked against a hand-written numpy BPTT, and real rendering."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import analysis, nn, viz
from tinygrad_rnn.scalar import Value

NODE = re.compile(r'^\s*(g\d+) \[label="((?:[^"\\]|\\.)*)"(.*)\]$')
EDGE = re.compile(r"^\s*(g\d+) -> (g\d+)(?: \[(.*)\])?$")
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' is not installed")


def parse(dot: str) -> tuple[dict[str, tuple[str, str]], list[tuple[str, str, str]]]:
    """Nodes (id -> (label, attributes)) and edges (tail, head, attributes) of our DOT text."""
    nodes, edges = {}, []
    for line in dot.splitlines():
        if match := NODE.match(line):
            nodes[match.group(1)] = (match.group(2).replace("\\n", "\n"), match.group(3))
        elif match := EDGE.match(line):
            edges.append((match.group(1), match.group(2), match.group(3) or ""))
    return nodes, edges


def attribute(attrs: str, name: str) -> str | None:
    match = re.search(rf'\b{name}=("(?:[^"\\]|\\.)*"|[^ \]]+)', attrs)
    return None if match is None else match.group(1).strip('"')


def hand_rnn(steps: int = 4, hidden: int = 3, seed: int = 0, radius: float = 0.9, retain_graph: bool = True,
             backward: bool = True):
    """h_t = tanh(x_t W_ih + h_{t-1} W_hh + b), written out as Tensor ops, one scope per step; loss on h_T."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((hidden, hidden)))
    arrays = {"weight_ih": rng.standard_normal((2, hidden)) * 0.5, "weight_hh": radius * q,
              "bias": rng.standard_normal(hidden) * 0.1}
    params = {name: tg.Tensor(array, requires_grad=True) for name, array in arrays.items()}
    xs = rng.standard_normal((steps, 1, 2))
    target = rng.standard_normal((1, hidden))
    h = tg.Tensor(np.zeros((1, hidden)))
    for t in range(steps):
        with tg.scope(f"rnn.l0/t={t}"):
            h = (tg.Tensor(xs[t]) @ params["weight_ih"] + h @ params["weight_hh"] + params["bias"]).tanh()
    loss = ((h - tg.Tensor(target)) ** 2).mean()
    if backward:
        loss.backward(retain_graph=retain_graph, retain_grads=True)
    return loss, params, (arrays, xs, target)


def numpy_bptt(arrays, xs, target):
    """The textbook BPTT in numpy: dL/dh_t for t = 1..T and each step's contribution h_{t-1}^T delta_t to dL/dW_hh."""
    hs = [np.zeros((1, arrays["weight_hh"].shape[0]))]
    for x in xs:
        hs.append(np.tanh(x @ arrays["weight_ih"] + hs[-1] @ arrays["weight_hh"] + arrays["bias"]))
    grad_h = 2 * (hs[-1] - target) / target.size
    grads_h, contributions = [], []
    for t in range(len(xs), 0, -1):
        grads_h.append(grad_h)
        delta = grad_h * (1 - hs[t] ** 2)
        contributions.append(hs[t - 1].T @ delta)
        grad_h = delta @ arrays["weight_hh"].T
    return grads_h[::-1], contributions[::-1]


EXPANDED = {"collapse": None, "max_steps": None, "intermediates": True}
"""The picture with every op and tensor drawn (the default is one node per cell per step)."""


def expanded_dot(root, **options) -> str:
    return viz.to_dot(root, **{**EXPANDED, **options})


def step_clusters(dot: str) -> list[str]:
    return re.findall(r'label="(t=\d+)" style', dot)


def test_step_clusters_nest_in_the_layer():
    """One cluster per time step, nested in the layer's cluster."""
    loss, params, _ = hand_rnn(steps=5)
    dot = expanded_dot(loss, params=params)
    assert step_clusters(dot) == [f"t={t}" for t in range(5)]
    assert dot.count('label="rnn.l0" style') == 1
    layer_line = next(i for i, line in enumerate(dot.splitlines()) if 'label="rnn.l0"' in line)
    first_step_line = next(i for i, line in enumerate(dot.splitlines()) if 'label="t=0"' in line)
    assert first_step_line > layer_line and dot.splitlines()[first_step_line].startswith("    ")


@pytest.mark.parametrize("steps", [1, 3, 6])
def test_shared_parameter_is_one_node(steps):
    """A shared parameter is one node outside the clusters, with an edge into every step."""
    loss, params, _ = hand_rnn(steps=steps)
    dot = expanded_dot(loss, params=params)
    nodes, edges = parse(dot)
    for name in ("weight_hh", "weight_ih", "bias"):
        ids = [node for node, (label, _) in nodes.items() if label.split("\n")[0] == name]
        assert len(ids) == 1, name
        assert sum(tail == ids[0] for tail, _, _ in edges) == steps
        line = next(line for line in dot.splitlines() if line.lstrip().startswith(ids[0] + " ["))
        assert not line.startswith(" "), "a parameter belongs to no cluster"


def steps_of_nodes(dot: str) -> dict[str, str]:
    """Node id -> the label ("t=2") of the step cluster it is drawn in, read from the clusters' nesting."""
    found, clusters = {}, []
    for line in dot.splitlines():
        if line.lstrip().startswith("subgraph cluster_"):
            clusters.append(None)
        elif line.strip() == "}" and clusters:
            clusters.pop()
        elif clusters and (match := re.match(r'\s*label="(t=\d+)" style', line)):
            clusters[-1] = match.group(1)
        elif match := NODE.match(line):
            steps = [label for label in clusters if label is not None]
            if steps:
                found[match.group(1)] = steps[-1]
    return found


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_nn_layers_draw_weight_hh_once(cell):
    """nn layers draw weight_hh once, with one edge into every step (the GRU's steps read two slices of it)."""
    loss, params = _nn_loss(cell, steps=4)
    dot = expanded_dot(loss, params=params)
    nodes, edges = parse(dot)
    ids = [node for node, (label, _) in nodes.items() if label.startswith(f"{cell}.weight_hh_l0")]
    assert len(ids) == 1
    assert nodes[ids[0]][0].startswith(f"{cell}.weight_hh_l0ᵀ")  # the layer uses the transpose, drawn as W
    steps = steps_of_nodes(dot)
    reached = [steps.get(head) for tail, head, _ in edges if tail == ids[0]]
    assert sorted(reached) == [f"t={t}" for t in range(4)]


def test_gru_weight_hh_edges_carry_each_steps_credit():
    """The GRU's weight_hh edge into step t carries what step t sends back through both slices of W_hh^T: its
    norm is that of step t's term of dL/dW_hh (analysis.credit)."""
    loss, params = _nn_loss("gru", steps=5)
    dot = expanded_dot(loss, params=params, grad_labels=True)
    nodes, edges = parse(dot)
    weight = next(node for node, (label, _) in nodes.items() if label.startswith("gru.weight_hh_l0"))
    steps = steps_of_nodes(dot)
    drawn = {steps[head]: float(attribute(attrs, "label")) for tail, head, attrs in edges if tail == weight}
    ledger = analysis.credit(loss, {"weight_hh": params["gru.weight_hh_l0"]}, retain_graph=True)
    expected = ledger.norms("weight_hh")
    assert list(ledger.steps) == list(range(5)) and expected[1:].min() > 1e-4
    np.testing.assert_allclose([drawn[f"t={t}"] for t in range(5)], expected, rtol=5e-3, atol=1e-12)


@pytest.mark.parametrize("second", [slice(3, 4), slice(2, 4)])
def test_only_disjoint_slices_of_a_transpose_fold(second):
    """Slices of W^T made outside the steps are drawn as W when they share no element (their gradients are then
    blocks of W's); an overlapping one stays an op of its own."""
    weight = tg.Tensor(np.random.default_rng(0).standard_normal((4, 3)), requires_grad=True)
    first_part, second_part = weight.T[:, 0:3], weight.T[:, second]
    hidden = tg.Tensor(np.ones((1, 3)))
    for t in range(2):
        with tg.scope(f"cell/t={t}"):
            hidden = ((hidden @ first_part).sum() * (hidden @ second_part).sum() * hidden).tanh()
    nodes, _ = parse(expanded_dot(hidden.sum(), params={"weight": weight}))
    slices = [label for label, _ in nodes.values() if label.startswith("getitem")]
    assert len(slices) == (0 if second.start == 3 else 1)


def _nn_loss(cell: str, steps: int, hidden: int = 3):
    nn.manual_seed(0)
    model = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell](2, hidden, dtype=np.float64)
    output, _ = model(tg.Tensor(np.random.default_rng(1).standard_normal((steps, 1, 2))))
    loss = (output[-1] ** 2).mean()
    loss.backward(retain_graph=True, retain_grads=True)
    return loss, {f"{cell}.{name}": p for name, p in model.named_parameters()}


def test_norms_match_numpy_bptt():
    """Hidden-state norms and per-step weight gradients match a numpy BPTT."""
    loss, params, reference = hand_rnn(steps=5)
    grads_h, contributions = numpy_bptt(*reference)
    nodes, edges = parse(expanded_dot(loss, params=params, grad_labels=True))
    hidden = [label for label, attrs in nodes.values() if "a50f15" in attrs]
    drawn = [float(re.search(r"\|\|grad\|\| (\S+)", label).group(1)) for label in hidden if "||grad||" in label]
    expected = [np.linalg.norm(g) for g in grads_h]
    assert len(hidden) == 6  # h_0 (the zero initial state) and h_1 .. h_5
    np.testing.assert_allclose(drawn, expected, rtol=5e-3)
    weight_hh = next(node for node, (label, _) in nodes.items() if label.startswith("weight_hh"))
    labels = [float(attribute(attrs, "label")) for tail, _, attrs in edges if tail == weight_hh]
    np.testing.assert_allclose(labels, [np.linalg.norm(c) for c in contributions], rtol=5e-3, atol=1e-12)
    assert [attribute(attrs, "style") for tail, _, attrs in edges if tail == weight_hh][0] == "dashed"  # h_0 = 0


def test_width_is_monotone_in_the_norm():
    """Edge width is monotone in the gradient norm."""
    loss, params, _ = hand_rnn(steps=6, radius=0.6)
    _, edges = parse(expanded_dot(loss, params=params, grad_labels=True))
    pairs = sorted((float(attribute(a, "label")), float(attribute(a, "penwidth"))) for _, _, a in edges
                   if attribute(a, "label") is not None)
    assert len(pairs) > 20
    widths = [width for _, width in pairs]
    assert widths == sorted(widths)
    assert widths[0] < widths[-1]
    assert pairs[-1][1] == pytest.approx(viz.MAX_WIDTH)


def test_hidden_path_fades_back_in_time():
    """The hidden path fades back through time when the radius is small."""
    loss, params, _ = hand_rnn(steps=6, radius=0.3)
    nodes, edges = parse(expanded_dot(loss, params=params))
    red = [(tail, head, float(attribute(a, "penwidth"))) for tail, head, a in edges
           if _is_red(attribute(a, "color"))]
    into_hidden = [width for _, head, width in red if "a50f15" in nodes[head][1]]
    assert len(into_hidden) == 6 and into_hidden == sorted(into_hidden) and into_hidden[0] < into_hidden[-1]


def _is_red(colour: str) -> bool:
    red, green, blue = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return red > green + 40 and red > blue + 40


def test_same_input_same_bytes():
    first, params, _ = hand_rnn(steps=4)
    again, params_again, _ = hand_rnn(steps=4)
    text = expanded_dot(first, params=params)
    assert text == expanded_dot(first, params=params) == expanded_dot(again, params=params_again)
    assert "0x" not in text
    assert viz.draw(first, params=params, **EXPANDED).source == text


def test_collapse_draws_one_node_per_step():
    """collapse draws one node per step, with the gradient entering it."""
    loss, params, reference = hand_rnn(steps=5)
    grads_h, _ = numpy_bptt(*reference)
    nodes, edges = parse(expanded_dot(loss, params=params, collapse="timestep"))
    steps = {node: label for node, (label, _) in nodes.items() if re.match(r"t=\d+\n", label)}
    assert [label.split("\n")[0] for label in steps.values()] == [f"t={t}" for t in range(5)]
    norms = [float(label.split("||dL/dh|| ")[1]) for label in steps.values()]
    np.testing.assert_allclose(norms, [np.linalg.norm(g) for g in grads_h], rtol=5e-3)
    chain = [(tail, head) for tail, head, _ in edges if tail in steps and head in steps]
    assert chain == list(zip(list(steps)[:-1], list(steps)[1:]))
    weight_hh = next(node for node, (label, _) in nodes.items() if label.startswith("weight_hh"))
    (into,) = [attrs for tail, _, attrs in edges if tail == weight_hh]  # one edge standing for all five
    assert "into each of 5 steps" in into
    labelled = parse(expanded_dot(loss, params=params, collapse="timestep", grad_labels=True))[1]
    (label,) = [attribute(attrs, "label") for tail, _, attrs in labelled if tail == weight_hh]
    total, words = label.split("\\n")  # the norm it carries, then what it stands for
    assert words == "into each of 5 steps"
    total = float(total)
    assert total == pytest.approx(np.linalg.norm(params["weight_hh"].grad), rel=5e-3)


@pytest.mark.parametrize("steps,keep", [(10, 4), (9, 3), (12, 2)])
def test_max_steps_elides_the_middle(steps, keep):
    """max_steps keeps the first and last steps and counts the elided ones."""
    loss, params, _ = hand_rnn(steps=steps)
    first, last = keep - keep // 2, keep // 2
    kept = [f"t={t}" for t in list(range(first)) + list(range(steps - last, steps))]
    dot = expanded_dot(loss, params=params, max_steps=keep)
    assert step_clusters(dot) == kept
    assert dot.count(f'label="... {steps - keep} steps ...') == 1
    collapsed = expanded_dot(loss, params=params, max_steps=keep, collapse="timestep")
    nodes, edges = parse(collapsed)
    assert [label.split("\n")[0] for label, _ in nodes.values() if re.match(r"t=\d+", label)] == kept
    elided = next(node for node, (label, _) in nodes.items() if "steps ..." in label)
    step_ids = [node for node, (label, _) in nodes.items() if re.match(r"t=\d+", label)]
    assert (step_ids[first - 1], elided) in {(t, h) for t, h, _ in edges}
    assert (elided, step_ids[first]) in {(t, h) for t, h, _ in edges}


def test_few_steps_elide_nothing():
    """max_steps with fewer steps than it elides nothing."""
    loss, params, _ = hand_rnn(steps=3)
    assert expanded_dot(loss, params=params, max_steps=4) == expanded_dot(loss, params=params)


def test_fan_out_shares_one_edge():
    """Many steps read from one node share one labelled edge."""
    loss, params, _ = hand_rnn(steps=viz.MAX_FAN + 4)
    nodes, edges = parse(expanded_dot(loss, params=params, collapse="timestep"))
    weight_hh = next(node for node, (label, _) in nodes.items() if label.startswith("weight_hh"))
    out = [attrs for tail, _, attrs in edges if tail == weight_hh]
    assert len(out) == 1 and f"into each of {viz.MAX_FAN + 4} steps" in out[0]
    nodes, edges = parse(expanded_dot(loss, params=params))
    weight_hh = next(node for node, (label, _) in nodes.items() if label.startswith("weight_hh"))
    (out,) = [attrs for tail, _, attrs in edges if tail == weight_hh]
    assert f"into each of {viz.MAX_FAN + 4} steps" in out  # expanded too, past MAX_FAN steps


def test_fan_counts_elided_steps():
    """A fan counts the steps of an elided run too."""
    loss, params = _nn_loss("lstm", steps=9)  # drawn: 3 steps, a run of 3, 3 steps
    dot = viz.to_dot(loss, params=params)
    assert "... 3 steps ..." in dot
    assert dot.count('"into each of 9 steps"') >= 2 and '"from each of 9 steps"' in dot
    assert "of 7 steps" not in dot


def test_lstm_h_and_c_are_highlighted():
    """LSTM hidden and cell state are both highlighted."""
    loss, params = _nn_loss("lstm", steps=3)
    nodes, _ = parse(expanded_dot(loss, params=params))
    assert sum("a50f15" in attrs for _, attrs in nodes.values()) == 2 * (3 + 1)  # (h, c) at t = 0..3


def test_plain_picture_has_no_red_or_width():
    """Without highlight or gradients there is no red and no width."""
    loss, params, _ = hand_rnn(steps=3)
    dot = expanded_dot(loss, params=params, highlight=None, show_grad=False)
    assert "a50f15" not in dot and "penwidth=" not in dot.split("subgraph cluster_legend")[0].split("->", 1)[1]
    assert "|grad|" not in dot


def test_value_graph_shows_data_and_grad():
    a, b = Value(2.0), Value(-3.0)
    a.name, b.name = "a", "b"
    c = a * b + 10.0
    out = c.tanh()
    out.backward(retain_graph=True)
    nodes, edges = parse(expanded_dot(out))
    labels = [label for label, _ in nodes.values()]
    assert "a\ndata 2\ngrad " + f"{-3 * (1 - np.tanh(4.0) ** 2):.3g}" in labels
    assert any(label.startswith("add(·, 10)") for label in labels)  # the constant sits in its op's label
    assert sum(label in ("mul", "tanh") for label in labels) == 2 and len(edges) == 7


def test_bad_options_are_named():
    loss, _, _ = hand_rnn(steps=2)
    with pytest.raises(ValueError, match="collapse"):
        expanded_dot(loss, collapse="layer")
    with pytest.raises(ValueError, match="max_steps"):
        expanded_dot(loss, max_steps=1)
    with pytest.raises(ValueError, match="highlight"):
        expanded_dot(loss, highlight="cell")
    with pytest.raises(TypeError, match="expected a Tensor or Value"):
        expanded_dot(np.zeros(3))
    with pytest.raises(TypeError, match=r"params must map names to tensors"):
        expanded_dot(loss, params=[1, 2])
    for bad in ((1,), (1, -3), ("a", 1)):
        with pytest.raises(ValueError, match=r"grad_range must be \(log10 low, log10 high\) with low <= high"):
            expanded_dot(loss, grad_range=bad)
    with pytest.raises(ValueError, match=r"max_values must be an int >= 0, got 'a'"):
        expanded_dot(loss, max_values="a")
    with pytest.raises(TypeError, match=r"title must be a string, got int"):
        expanded_dot(loss, title=3)
    with pytest.raises(TypeError, match=r"scope: a scope's name is a string \(such as 't=3'\), got int"):
        tg.scope(3)


def _labelled_norms(dot: str) -> list[tuple[str, str, float]]:
    return [(tail, head, float(attribute(attrs, "label"))) for tail, head, attrs in parse(dot)[1]
            if attribute(attrs, "label") not in (None, "")]


def test_draw_before_backward():
    """Drawing before backward shows the true gradients and leaves grad alone."""
    loss, params, _ = hand_rnn(steps=4, retain_graph=True)  # reference: the engine's own retained gradients
    reference = expanded_dot(loss, params=params, grad_labels=True)
    fresh, fresh_params, _ = hand_rnn(steps=4, backward=False)
    drawn = expanded_dot(fresh, params=fresh_params, grad_labels=True)
    assert drawn == reference
    assert all(p.grad is None for p in fresh_params.values()) and fresh.grad is None
    fresh.backward(retain_graph=True)  # drawing first does not change what backward gives afterwards
    np.testing.assert_array_equal(fresh_params["weight_hh"].grad, params["weight_hh"].grad)
    assert expanded_dot(fresh, params=fresh_params, grad_labels=True) == reference  # and after it: the same


def test_draw_after_plain_backward_errors():
    """After a plain backward, drawing gradients is a clear error."""
    loss, params, _ = hand_rnn(steps=3, retain_graph=False)
    for draw_it in (viz.to_dot, viz.draw):
        with pytest.raises(viz.GradientsUnavailableError, match=r"retain_graph=True.*show_grad=False"):
            draw_it(loss, params=params)
    structure = viz.to_dot(loss, params=params, show_grad=False)
    assert "t=2" in structure and "||grad||" not in structure and "||dL/dh||" not in structure


def test_edges_equal_op_backwards():
    """Edges equal what each op sends back from its own backward."""
    loss, params, _ = hand_rnn(steps=3)
    weight_hh = params["weight_hh"]
    nodes, edges = parse(expanded_dot(loss, params=params, grad_labels=True))
    node = next(n for n, (label, _) in nodes.items() if label.startswith("weight_hh"))
    sent = sorted(float(attribute(attrs, "label")) for tail, _, attrs in edges if tail == node)
    readers = [ctx for ctx in tg.toposort(loss) if ctx.is_context and any(p is weight_hh for p in ctx.parents)]
    expected = sorted(np.linalg.norm(analysis.input_gradients(ctx)[[p is weight_hh for p in ctx.parents].index(True)])
                      for ctx in readers)
    np.testing.assert_allclose(sent, [float(f"{value:.3g}") for value in expected], rtol=1e-12, atol=0)


def test_import_skips_the_renderer():
    """Importing the package does not import the renderer."""
    code = "import sys, tinygrad_rnn; print(sorted(m for m in ('graphviz', 'matplotlib', 'tinygrad_rnn.viz') " \
           "if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_missing_dot_says_how_to_install(tmp_path, monkeypatch):
    loss, params, _ = hand_rnn(steps=2)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert expanded_dot(loss, params=params).startswith("digraph")
    assert viz.render(loss, tmp_path / "graph.dot", params=params).endswith("graph.dot")
    with pytest.raises(viz.GraphvizNotFoundError, match="install Graphviz.*apt-get install graphviz"):
        viz.render(loss, tmp_path / "graph.svg", params=params)
    with pytest.raises(viz.GraphvizNotFoundError):
        viz.draw(loss, params=params).pipe(format="svg")


@needs_dot
@pytest.mark.parametrize("fmt", ["svg", "png"])
def test_render_for_real(tmp_path, fmt):
    loss, params = _nn_loss("gru", steps=3)
    path = viz.render(loss, tmp_path / f"gru.{fmt}", params=params, title="GRU")
    data = open(path, "rb").read()
    assert data.startswith(b"\x89PNG") if fmt == "png" else b"<svg" in data and b"weight_hh_l0" in data


@needs_dot
def test_render_a_value_graph(tmp_path):
    x = Value(0.5)
    out = (x * x + x.exp()).tanh()
    out.backward(retain_graph=True)
    assert b"<svg" in open(viz.render(out, tmp_path / "value.svg"), "rb").read()


@needs_dot
@pytest.mark.parametrize("fmt", ["svg", "png"])
def test_render_keeps_a_gv_beside_it(tmp_path, fmt):
    """render writes only the picture and keeps a .gv file beside it."""
    loss, params, _ = hand_rnn(steps=2)
    (tmp_path / "graph.gv").write_text("my notes\n")
    viz.render(loss, tmp_path / f"graph.{fmt}", params=params)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["graph.gv", f"graph.{fmt}"]
    assert (tmp_path / "graph.gv").read_text() == "my notes\n"


@needs_dot
def test_render_onto_a_folder(tmp_path):
    """Rendering onto a folder names it and leaves no stray file."""
    loss, params, _ = hand_rnn(steps=2)
    (tmp_path / "graph.svg").mkdir()
    with pytest.raises(OSError, match="graph.svg"):
        viz.render(loss, tmp_path / "graph.svg", params=params)
    assert [path.name for path in tmp_path.iterdir()] == ["graph.svg"]
    assert list((tmp_path / "graph.svg").iterdir()) == []


def failing_dot(folder, message: str):
    """A folder holding a stand-in `dot` that prints `message` to stderr and exits with status 1."""
    folder.mkdir()
    dot = folder / "dot"
    dot.write_text(f"#!/bin/sh\necho '{message}' >&2\nexit 1\n")
    dot.chmod(0o755)
    return folder


@pytest.mark.skipif(sys.platform == "win32", reason="the stand-in dot is a shell script")
def test_failing_dot_is_a_render_error(tmp_path, monkeypatch):
    """A failing dot is a RenderError naming the path, and writes nothing."""
    monkeypatch.setenv("PATH", str(failing_dot(tmp_path / "bin", "Error: <stdin>: syntax error in line 3")))
    loss, params, _ = hand_rnn(steps=2)
    with pytest.raises(viz.RenderError, match=r"graph\.svg.*Error: <stdin>: syntax error in line 3"):
        viz.render(loss, tmp_path / "graph.svg", params=params)
    assert [path.name for path in tmp_path.iterdir()] == ["bin"]


@needs_dot
def test_a_long_lstm_renders_when_elided(tmp_path):
    loss, params = _nn_loss("lstm", steps=200, hidden=4)
    for options in ({"collapse": "timestep", "max_steps": 8}, {"max_steps": 4, "intermediates": False}):
        dot = expanded_dot(loss, params=params, **options)
        assert 'label="... 192 steps ...' in dot or 'label="... 196 steps ...' in dot
        assert os.path.getsize(viz.render(loss, tmp_path / "lstm.png", params=params, **options)) > 1000


@pytest.mark.parametrize("cell,states", [("RNN", 1), ("LSTM", 2), ("GRU", 1)])
def test_stacked_and_reverse_layers(cell, states):
    """The hidden states of stacked and reverse layers."""
    nn.manual_seed(0)
    model = getattr(nn, cell)(2, 3, num_layers=2, bidirectional=True, dtype=np.float64)
    output, _ = model(tg.Tensor(np.random.default_rng(0).standard_normal((4, 1, 2))))
    loss = (output ** 2).mean()
    loss.backward(retain_graph=True, retain_grads=True)
    dot = expanded_dot(loss, params=dict(model.named_parameters()))
    layers = re.findall(r'label="([^"]+)" style="rounded" color', dot)
    assert layers == [f"{cell.lower()}.l0", f"{cell.lower()}.l0_reverse", f"{cell.lower()}.l1",
                      f"{cell.lower()}.l1_reverse"]
    assert len(step_clusters(dot)) == 4 * 4
    assert dot.count('color="#a50f15" penwidth=1.4') == states * 4 * (4 + 1)  # per layer and direction: h_0..h_4


def test_value_edges_carry_op_backwards():
    """A Value graph's edges carry what each op sends back."""
    a, b = Value(2.0), Value(-3.0)
    a.name, b.name = "a", "b"
    out = (a * b + a).tanh()  # a is read twice: its gradient is the sum of what mul and add send back
    out.backward(retain_graph=True, retain_grads=True)
    nodes, edges = parse(expanded_dot(out, grad_labels=True))
    a_id = next(node for node, (label, _) in nodes.items() if label.startswith("a\n"))
    local = 1 - np.tanh(-4.0) ** 2
    sent = sorted(float(attribute(attrs, "label")) for tail, _, attrs in edges if tail == a_id)
    np.testing.assert_allclose(sent, sorted([abs(-3 * local), abs(local)]), rtol=5e-3)
    assert a.grad == pytest.approx(-3 * local + local)


@pytest.mark.parametrize("keep", [False, True])
def test_kept_values_are_drawn(keep):
    """Intermediate values are drawn when the graph kept them."""
    x = tg.Tensor(np.array([0.5, -1.0]), requires_grad=True)
    with tg.keep_values() if keep else tg.enable_grad():
        hidden = (x * 2.0).tanh()
        hidden.name = "hidden"
        loss = hidden.sum()
    del hidden  # the drawing reads the graph, not the caller's variables
    loss.backward(retain_graph=True, retain_grads=True)
    labels = [label.split("\n||grad||")[0] for label, _ in parse(expanded_dot(loss))[0].values()]
    assert "(2,)\n[0.5 -1]" in labels  # a leaf, always
    assert ("hidden\n(2,)\n[0.762 -0.964]" in labels) is keep
    assert ("(2,)" in labels) is not keep  # the shape, from the context, is all that is left otherwise


def test_width_scale_spans_max_decades():
    """The width scale spans at most MAX_DECADES below the largest gradient."""
    from tinygrad_rnn.viz.dot import MAX_DECADES, Scale

    scale = Scale([1e-140, 1e-3, 10.0], None)
    assert scale.clipped and (scale.low, scale.high) == (1.0 - MAX_DECADES, 1.0)
    assert scale.position(1e-140) == 0.0 and scale.position(1e-3) == pytest.approx((MAX_DECADES - 4) / MAX_DECADES)
    assert not Scale([1e-3, 10.0], None).clipped and Scale([1e-140, 10.0], (-200, 1)).low == -200
    loss, params = _nn_loss("rnn", steps=3)
    assert "≤" not in viz.to_dot(loss, params=params)


def test_picture_gets_umask_permissions(tmp_path):
    """A written picture has the permissions open() would give."""
    loss, params = _nn_loss("rnn", steps=2)
    mask = os.umask(0o022)
    try:
        path = viz.render(loss, tmp_path / "graph.dot", params=params)
    finally:
        os.umask(mask)
    assert os.stat(path).st_mode & 0o777 == 0o644
