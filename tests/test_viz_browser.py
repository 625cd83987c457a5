"""The page in a real headless Chromium (Debian's chromium and chromedriver, through selenium): hover, click a
hidden state, both sliders, and a screenshot. Skips, naming what is missing, without them."""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import nn, viz

CHROMIUM, CHROMEDRIVER = shutil.which("chromium") or "/usr/bin/chromium", shutil.which("chromedriver") or \
    "/usr/bin/chromedriver"
missing = [name for name, found in (("Graphviz 'dot'", shutil.which("dot")), ("chromium", Path(CHROMIUM).exists()),
                                     ("chromedriver", Path(CHROMEDRIVER).exists())) if not found]
try:
    import selenium  # noqa: F401
except ImportError:
    missing.append("selenium (pip install selenium)")
pytestmark = pytest.mark.skipif(bool(missing), reason=f"browser test needs {', '.join(missing)} (make tools)")


@dataclass
class Snapshot:
    step: int
    loss: float
    hidden: dict
    cell: dict = field(default_factory=dict)
    grad_norm: float = 1.0
    clipped_norm: float | None = None


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="tg-chromium-")
    for argument in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
                     "--window-size=1500,1000"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def norms(element) -> list[str]:
    """What the norms shown in `element` are of (the page draws ||x|| as x between CSS double bars)."""
    from selenium.webdriver.common.by import By

    return [span.text for span in element.find_elements(By.CSS_SELECTOR, "span.norm")]


def test_the_page_works_in_chromium(browser, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    nn.manual_seed(0)
    model = nn.LSTM(2, 3, dtype=np.float64)
    with tg.keep_values():
        output, _ = model(tg.Tensor(np.random.default_rng(1).standard_normal((12, 1, 2))))
        loss = (output[-1] ** 2).mean()
    snapshots = [Snapshot(step, 1.0 / (step + 1), {"lstm.l0": np.geomspace(1e-3 * (step + 1), 1.0, 12)})
                 for step in (0, 100, 200)]
    path = viz.to_html(loss, tmp_path / "page.html", params={f"lstm.{n}": p for n, p in model.named_parameters()},
                       snapshots=snapshots, title="LSTM, 12 steps")
    browser.get(Path(path).as_uri())
    info = browser.find_element(By.ID, "info")

    weight = next(g for g in browser.find_elements(By.CSS_SELECTOR, "g.node[data-kind=parameter]")
                  if g.get_attribute("data-label").startswith("lstm.weight_hh_l0"))
    ActionChains(browser).move_to_element(weight).perform()
    assert "lstm.weight_hh_l0" in info.text and norms(info) == ["grad"]
    addmm = next(g for g in browser.find_elements(By.CSS_SELECTOR, "g.node[data-op]"))
    ActionChains(browser).move_to_element(addmm).perform()
    assert f"op {addmm.get_attribute('data-op')}" in info.text

    steps = {int(g.get_attribute("data-t")): g for g in browser.find_elements(By.CSS_SELECTOR,
                                                                                 "g.node[data-kind=step]")}
    assert sorted(steps) == [0, 1, 2, 9, 10, 11]
    edges = browser.find_elements(By.CSS_SELECTOR, "g.edge")
    forward = {}
    for edge in edges:
        forward.setdefault(edge.get_attribute("data-tail"), []).append(edge)
    clicked = steps[9]
    browser.execute_script("arguments[0].dispatchEvent(new MouseEvent('click', {bubbles: true}))", clicked)
    expected, stack, seen = set(), [clicked.get_attribute("id")], set()
    while stack:  # every edge on a path from the clicked state to the loss, found here independently
        for edge in forward.get(stack.pop(), []):
            expected.add(edge.get_attribute("id"))
            if edge.get_attribute("data-head") not in seen:
                seen.add(edge.get_attribute("data-head"))
                stack.append(edge.get_attribute("data-head"))
    highlighted = {e.get_attribute("id") for e in edges if "on-path" in e.get_attribute("class")}
    assert highlighted == expected and len(expected) >= 3
    assert "per-step factors along lstm.l0" in info.text and "t=10:" in info.text and "t=11:" in info.text
    browser.save_screenshot(str(tmp_path / "clicked.png"))

    time_slider = browser.find_element(By.ID, "time")
    browser.execute_script("arguments[0].value = 5; arguments[0].dispatchEvent(new Event('input'))", time_slider)
    assert browser.find_element(By.ID, "time-label").text == "t=5"
    elided = browser.find_element(By.CSS_SELECTOR, "g.node[data-kind=elided]")
    assert "selected" in elided.get_attribute("class")  # t=5 is inside the elided run: its numbers are shown
    assert "inside the elided run" in info.text and "dL/dh_t" in norms(info)

    slider = browser.find_element(By.ID, "snapshot")
    before = steps[0].find_element(By.CSS_SELECTOR, "path, polygon").get_attribute("fill")
    browser.execute_script("arguments[0].value = 1; arguments[0].dispatchEvent(new Event('input'))", slider)
    assert "training step 100" in browser.find_element(By.ID, "snapshot-label").text
    shown = float(steps[0].get_attribute("data-shown-grad"))
    assert shown == pytest.approx(snapshots[1].hidden["lstm.l0"][0], rel=1e-12)
    assert steps[0].find_element(By.CSS_SELECTOR, "path, polygon").get_attribute("fill") != before
    assert browser.find_elements(By.ID, "loss-marker")
    browser.save_screenshot(str(tmp_path / "snapshot.png"))
    browser.execute_script("arguments[0].value = 3; arguments[0].dispatchEvent(new Event('input'))", slider)
    assert browser.find_element(By.ID, "snapshot-label").text == "the graph as drawn"
    assert steps[0].find_element(By.CSS_SELECTOR, "path, polygon").get_attribute("fill") == before


def test_offline_hover_and_zoom(browser, tmp_path):
    """With the network off the page loads nothing; hovering shows a node's fields and an edge's number; zoom
    sizes the picture."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    nn.manual_seed(0)
    model = nn.GRU(2, 3, dtype=np.float64)
    with tg.keep_values():
        output, _ = model(tg.Tensor(np.random.default_rng(1).standard_normal((4, 1, 2))))
        with tg.scope("loss"):
            loss = (output[-1] ** 2).mean()
    path = viz.to_html(loss, tmp_path / "page.html", params={f"gru.{n}": p for n, p in model.named_parameters()})
    browser.set_network_conditions(offline=True, latency=0, download_throughput=0, upload_throughput=0)
    try:
        browser.get(Path(path).as_uri())
        assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0
    finally:
        browser.delete_network_conditions()
    info = browser.find_element(By.ID, "info")

    op = browser.find_element(By.CSS_SELECTOR, "#graph g.node[data-op=getitem]")  # output[-1]
    assert op.get_attribute("data-scope") and op.get_attribute("data-formula")
    ActionChains(browser).move_to_element(op).perform()
    for shown in ("op getitem: " + op.get_attribute("data-formula"), "scope " + op.get_attribute("data-scope"),
                  "shape " + op.get_attribute("data-shape"), "values " + op.get_attribute("data-values")):
        assert shown in info.text
    assert norms(info) == ["grad"]
    assert float(info.text.rsplit("grad ", 1)[1]) == pytest.approx(float(op.get_attribute("data-grad")), rel=5e-3)

    edge = max(browser.find_elements(By.CSS_SELECTOR, "#graph g.edge[data-grad]"),
               key=lambda e: float(e.get_attribute("data-grad") or 0))
    ActionChains(browser).move_to_element(edge.find_element(By.CSS_SELECTOR, "path")).perform()
    assert info.text.startswith("edge\ngradient sent back along it:")
    assert float(info.text.rsplit("= ", 1)[1]) == pytest.approx(float(edge.get_attribute("data-grad")), rel=5e-3)

    expanded = viz.to_html(loss, tmp_path / "expanded.html", collapse=None, max_steps=None)
    browser.get(Path(expanded).as_uri())
    info = browser.find_element(By.ID, "info")
    apart = [g for g in browser.find_elements(By.CSS_SELECTOR, "#graph g.node[data-kind=op]")
             if g.get_attribute("data-grad") == "" and g.get_attribute("data-values") is None]
    assert apart  # an op whose output is its own node (a hidden state): its tooltip points there, no "none"
    ActionChains(browser).move_to_element(apart[0]).perform()
    assert "its output is drawn as the next node" in info.text and "none" not in info.text

    natural = browser.execute_script("return document.querySelector('#graph svg').width.baseVal.value")
    pane = browser.execute_script("return document.getElementById('graph').clientWidth")
    zoom = browser.find_element(By.ID, "zoom")
    for value, expected in (("1.5", 1.5 * natural), ("0.5", 0.5 * natural), ("fit", pane)):
        browser.execute_script("arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('change'))",
                               zoom, value)
        width = browser.execute_script("return document.querySelector('#graph svg').getBoundingClientRect().width")
        assert width == pytest.approx(expected, abs=2), value
    browser.save_screenshot(str(tmp_path / "zoomed.png"))


def step_contexts(loss, layer, t):
    """The ops step t of `layer` ran, in the order they ran."""
    return [ctx for ctx in tg.toposort(loss) if ctx.is_context and ctx.scope == f"{layer}/t={t}"]


VISIBLE_CELL = """
var templates = document.querySelectorAll('.cell-template');
var shown = Array.prototype.filter.call(templates, function (div) { return !div.hidden; });
function read(g) {
  var out = {}; Array.prototype.forEach.call(g.attributes, function (a) { out[a.name] = a.value; });
  var text = g.querySelector('text'); out.text = text ? text.textContent : null; return out;
}
return [document.getElementById('cell-title').textContent, shown.length,
        shown.length ? Array.prototype.map.call(shown[0].querySelectorAll('g.node'), read) : [],
        shown.length ? Array.prototype.map.call(shown[0].querySelectorAll('g.edge'), read) : []];
"""


def check_cell(browser, loss, layer, t):
    """The visible cell is step t's: every edge into an op carries what that op sends back to that input, every
    edge to the next step what the next step's ops send back, every op's ||grad|| is that of its output (all
    from the engine's own backward and analysis.input_gradients). The page is read in one script call."""
    title, count, node_list, edge_list = browser.execute_script(VISIBLE_CELL)
    assert title.startswith(f"inside {layer} at t={t}") and count == 1
    ops = step_contexts(loss, layer, t)
    following = step_contexts(loss, layer, t + 1)
    nodes = {g["id"]: g for g in node_list}
    checked = 0
    for g in nodes.values():
        if g.get("data-kind") == "op":
            ctx = ops[int(g["data-step-op"])]
            assert g["data-op"] == ctx.name and g["data-t"] == str(t)
            assert float(g["data-grad"]) == pytest.approx(np.linalg.norm(ctx.grad), rel=1e-12)
            checked += 1
    assert checked == len(ops)
    for edge in edge_list:
        tail, head = nodes[edge["data-tail"]], nodes[edge["data-head"]]
        if head.get("data-kind") == "op":
            ctx = ops[int(head["data-step-op"])]
            sent = tg.analysis.input_gradients(ctx)[int(edge["data-input"])]
        elif head.get("data-label") == "step t+1":
            made = ops[int(tail["data-step-op"])]
            sent = sum(flow for ctx in following for parent, flow in zip(ctx.parents, tg.analysis.input_gradients(ctx))
                       if parent is made)
        else:
            continue
        if sent is None:
            assert edge["data-grad"] == ""
        else:
            assert float(edge["data-grad"]) == pytest.approx(np.linalg.norm(sent), rel=1e-12, abs=1e-300)
            assert float(edge["text"]) == pytest.approx(np.linalg.norm(sent), rel=5e-3)  # the number drawn on it
        checked += 1
    assert checked > len(ops) + 10


def test_clicked_step_shows_its_cell(browser, tmp_path):
    """A clicked step, a slider step inside the elided run and the run itself show their cell, every number the
    engine's."""
    nn.manual_seed(0)
    model = nn.LSTM(2, 3, dtype=np.float64)
    with tg.keep_values():
        output, _ = model(tg.Tensor(np.random.default_rng(1).standard_normal((12, 1, 2))))
        loss = (output[-1] ** 2).mean()
    params = {f"lstm.{n}": p for n, p in model.named_parameters()}
    path = viz.to_html(loss, tmp_path / "page.html", params=params)
    few = viz.to_html(loss, tmp_path / "few.html", params=params, expand_steps=[4])
    loss.backward(retain_graph=True, retain_grads=True)  # the independent numbers: the engine's own backward
    from selenium.webdriver.common.by import By

    browser.get(Path(path).as_uri())
    check_cell(browser, loss, "lstm.l0", 11)  # the slider starts at the last step
    steps = {int(g.get_attribute("data-t")): g for g in browser.find_elements(By.CSS_SELECTOR,
                                                                                 "g.node[data-kind=step]")}
    browser.execute_script("arguments[0].dispatchEvent(new MouseEvent('click', {bubbles: true}))", steps[1])
    check_cell(browser, loss, "lstm.l0", 1)
    assert browser.find_element(By.ID, "time-label").text == "t=1"
    browser.save_screenshot(str(tmp_path / "cell.png"))
    slider = browser.find_element(By.ID, "time")
    browser.execute_script("arguments[0].value = 5; arguments[0].dispatchEvent(new Event('input'))", slider)
    check_cell(browser, loss, "lstm.l0", 5)  # inside the elided run: expanded all the same
    elided = browser.find_element(By.CSS_SELECTOR, "g.node[data-kind=elided]")
    browser.execute_script("arguments[0].value = 0; arguments[0].dispatchEvent(new Event('input'))", slider)
    browser.execute_script("arguments[0].dispatchEvent(new MouseEvent('click', {bubbles: true}))", elided)
    check_cell(browser, loss, "lstm.l0", 3)  # the run's first step

    browser.get(Path(few).as_uri())  # only the drawn steps and t=4: t=5 shows the nearest, and says so
    slider = browser.find_element(By.ID, "time")
    browser.execute_script("arguments[0].value = 5; arguments[0].dispatchEvent(new Event('input'))", slider)
    check_cell(browser, loss, "lstm.l0", 4)
    note = browser.find_element(By.ID, "cell-note").text
    assert "t=5's inside is not in this page" in note and "7 of 12 steps" in note and "expand_steps" in note


def test_gru_cell_reads_weight_hh_twice(browser, tmp_path):
    """A GRU step's cell draws W_hh^T once, with an edge into each of the two products that read its slices, every
    number the engine's (the main picture folds both slices into one edge per step)."""
    from selenium.webdriver.common.by import By

    nn.manual_seed(0)
    model = nn.GRU(2, 3, dtype=np.float64)
    with tg.keep_values():
        output, _ = model(tg.Tensor(np.random.default_rng(1).standard_normal((6, 1, 2))))
        loss = (output[-1] ** 2).mean()
    path = viz.to_html(loss, tmp_path / "gru.html", params={f"gru.{n}": p for n, p in model.named_parameters()})
    loss.backward(retain_graph=True, retain_grads=True)
    browser.get(Path(path).as_uri())
    steps = {int(g.get_attribute("data-t")): g for g in browser.find_elements(By.CSS_SELECTOR,
                                                                                 "g.node[data-kind=step]")}
    browser.execute_script("arguments[0].dispatchEvent(new MouseEvent('click', {bubbles: true}))", steps[2])
    check_cell(browser, loss, "gru.l0", 2)
    _, _, node_list, edge_list = browser.execute_script(VISIBLE_CELL)
    nodes = {g["id"]: g for g in node_list}
    weight = [g["id"] for g in node_list if g.get("data-label") == "gru.weight_hh_l0ᵀ"]
    assert len(weight) == 1 and nodes[weight[0]]["data-shape"] == "(3, 9)"
    heads = [nodes[edge["data-head"]]["data-op"] for edge in edge_list if edge["data-tail"] == weight[0]]
    assert heads == ["addmm", "addmm"]


def test_charts_and_step_labels(browser, tmp_path):
    """The charts keep one y-range across the training slider (the loss on a log scale past a decade); steps show
    their labels."""
    from selenium.webdriver.common.by import By

    nn.manual_seed(0)
    model = nn.RNN(2, 3, dtype=np.float64)
    output, _ = model(tg.Tensor(np.random.default_rng(1).standard_normal((8, 1, 2))))
    loss = (output[-1] ** 2).mean()
    params = {f"rnn.{n}": p for n, p in model.named_parameters()}
    labels = list("hello wo")
    hidden = [np.geomspace(1e-9, 1e-2, 8), np.geomspace(1e-5, 1e-1, 8), np.geomspace(1e-3, 1e3, 8)]  # the range:
    snapshots = [Snapshot(step, value, {"rnn.l0": h})  # 1e-9 .. 1e3, wider than the drawn graph's
                 for step, value, h in zip((0, 50, 100), (1.0, 0.1, 0.01), hidden)]
    path = viz.to_html(loss, tmp_path / "page.html", params=params, snapshots=snapshots, step_labels=labels,
                       expand_steps=[4])
    browser.get(Path(path).as_uri())
    time_slider, training = browser.find_element(By.ID, "time"), browser.find_element(By.ID, "snapshot")

    def move(slider, value):
        browser.execute_script(f"arguments[0].value = {value}; arguments[0].dispatchEvent(new Event('input'))",
                               slider)

    steps = browser.find_elements(By.CSS_SELECTOR, "#graph g.node[data-kind=step]")
    assert {g.find_element(By.CSS_SELECTOR, "text").get_attribute("textContent") for g in steps} == \
        {f"t={t} {json.dumps(labels[t])}" for t in (0, 1, 2, 5, 6, 7)}  # each drawn step names what it reads
    move(training, 1)
    move(training, 3)  # back to the graph as drawn: the labels stay
    assert sum('"' in g.find_element(By.CSS_SELECTOR, "text").get_attribute("textContent") for g in steps) == 6
    move(time_slider, 4)
    assert browser.find_element(By.ID, "time-label").text == 't=4 "o"'
    assert browser.find_element(By.ID, "cell-title").text == 'inside rnn.l0 at t=4 "o"'
    move(time_slider, 5)
    assert browser.find_element(By.ID, "time-label").get_attribute("textContent") == 't=5 " "'  # a space shows
    assert [t.get_attribute("textContent") for t in browser.find_elements(By.CSS_SELECTOR, "#strip .strip-label")] \
        == labels
    assert [t.get_attribute("textContent") for t in browser.find_elements(By.CSS_SELECTOR, "#chart-svg .axis-label")] \
        == labels

    ranges, first_points = [], []
    for k in (0, 2, 3):  # two snapshots and the graph as drawn
        move(training, k)
        chart = browser.find_element(By.ID, "chart-svg")
        ranges.append((float(chart.get_attribute("data-y-low")), float(chart.get_attribute("data-y-high"))))
        first_points.append(float(chart.find_element(By.CSS_SELECTOR, "polyline").get_attribute("points")
                                  .split()[0].split(",")[1]))
    assert ranges == [pytest.approx((-9.0, 3.0), abs=1e-12)] * 3
    assert first_points[0] > first_points[1]  # 1e-9 drawn below 1e-3 on the one axis (y grows downwards)

    markers = []
    for k in (0, 1, 2):
        move(training, k)
        markers.append(float(browser.find_element(By.ID, "loss-marker").get_attribute("cy")))
    assert browser.find_element(By.ID, "loss-svg").get_attribute("data-scale") == "log"
    assert markers[1] - markers[0] == pytest.approx(markers[2] - markers[1], abs=0.15)  # 1, 0.1, 0.01: even steps
    assert markers[0] < markers[2]

    flat = [Snapshot(step, value, {"rnn.l0": hidden[0]}) for step, value in ((0, 1.0), (1, 0.9), (2, 0.2))]
    browser.get(Path(viz.to_html(loss, tmp_path / "flat.html", params=params, snapshots=flat,
                                 expand_steps=None)).as_uri())
    assert browser.find_element(By.ID, "loss-svg").get_attribute("data-scale") == "linear"  # within a decade
    assert browser.find_element(By.ID, "time-label").text == "t=7"  # no labels given: t alone


def test_packed_page_says_where_sequences_end(browser, tmp_path):
    """Hovering the step where a sequence of a packed batch ends names it and the gradient reaching its h_n."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    nn.manual_seed(0)
    model = nn.GRU(2, 3, dtype=np.float64)
    lengths = [5, 3, 4, 2]
    sequences = [tg.Tensor(np.random.default_rng(k).standard_normal((n, 2))) for k, n in enumerate(lengths)]
    _, h_n = model(nn.utils.rnn.pack_sequence(sequences, enforce_sorted=False))
    path = viz.to_html((h_n ** 2).sum(), tmp_path / "packed.html",
                       params={f"gru.{n}": p for n, p in model.named_parameters()})
    browser.get(Path(path).as_uri())
    info = browser.find_element(By.ID, "info")
    steps = {int(g.get_attribute("data-t")): g for g in browser.find_elements(By.CSS_SELECTOR,
                                                                                 "g.node[data-kind=step]")}
    for sequence, length in enumerate(lengths):
        ActionChains(browser).move_to_element(steps[length - 1]).perform()
        assert f"ends: seq {sequence} (length {length})" in info.text
        assert "dL/dh_n" in norms(info)
        reaching = 2 * np.linalg.norm(h_n.data[0, sequence])  # d/dh_n of sum(h_n^2), this sequence's row
        assert float(steps[length - 1].get_attribute("data-final-grad")) == pytest.approx(reaching, rel=1e-12)
    assert [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"] == []  # no script error
