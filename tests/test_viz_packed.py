"""The picture of a packed batch (nn.utils.rnn): where each sequence ends, checked against each sequence run
alone, unpadded; the cell's states named right (no ||dL/dc|| on a GRU or an RNN)."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest
from test_viz_page import Page, row_order

import tinygrad_rnn as tg
from tinygrad_rnn import nn, viz
from tinygrad_rnn.nn.utils.rnn import pack_padded_sequence, pack_sequence, pad_packed_sequence, pad_sequence

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' is not installed")
CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
LENGTHS = [3, 5, 2, 4]  # unsorted: the layer runs them longest first and h_n is put back in this order


def model_of(cell: str, **options) -> nn.Module:
    nn.manual_seed(0)
    return CELLS[cell](2, 3, dtype=np.float64, **options)


def final_hidden(state):
    return state[0] if isinstance(state, tuple) else state


def packed_loss(model, sequences, weights_h, weights_out):
    """sum_n h_n[n] . R[n] + sum over real steps of output . S: one loss, a sum of one term per sequence."""
    packed = pack_padded_sequence(pad_sequence([tg.Tensor(s) for s in sequences]), [len(s) for s in sequences],
                                  enforce_sorted=False)
    output, state = model(packed)
    padded, _ = pad_packed_sequence(output)  # (T, N, H), the padding constant: it gets no gradient
    return (final_hidden(state)[-1] * tg.Tensor(weights_h)).sum() + (padded * tg.Tensor(weights_out)).sum()


def alone(model, cell, sequence, weights_h, weights_out):
    """One sequence run alone, unpadded: its loss term's gradient at each step's h_t (and c_t) and at h_n."""
    inputs = tg.Tensor(sequence[:, None, :])
    output, state = model(inputs)
    h_n = final_hidden(state)
    loss = (h_n[-1] * tg.Tensor(weights_h[None])).sum() + (output * tg.Tensor(weights_out[:, None])).sum()
    loss.backward(retain_graph=True, retain_grads=True)
    h, c = {}, {}
    for t in range(len(sequence)):
        ops = [ctx for ctx in tg.toposort(loss) if ctx.is_context and ctx.scope == f"{cell}.l0/t={t}"]
        h[t] = ops[-1].grad  # the step's last op makes h_t
        adds = [ctx for ctx in ops if ctx.name == "add"]
        if cell == "lstm":
            assert len(adds) == 1  # c_t = f * c_(t-1) + i * g
            c[t] = adds[0].grad
    return h, c, h_n.grad


@needs_dot
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_packed_matches_each_sequence_alone(cell, tmp_path):
    """Each step's norms and each sequence's end (its h_n's gradient): what the sequences give run alone."""
    model = model_of(cell)
    rng = np.random.default_rng(2)
    sequences = [rng.standard_normal((length, 2)) for length in LENGTHS]
    weights_h = rng.standard_normal((len(LENGTHS), 3))
    weights_out = rng.standard_normal((max(LENGTHS), len(LENGTHS), 3))
    with tg.keep_values():
        loss = packed_loss(model, sequences, weights_h, weights_out)
    params = {f"{cell}.{n}": p for n, p in model.named_parameters()}
    page = Page(open(viz.to_html(loss, tmp_path / "page.html", params=params, max_steps=None),
                     encoding="utf-8").read())
    runs = [alone(model, cell, s, weights_h[n], weights_out[:len(s), n]) for n, s in enumerate(sequences)]
    steps = {int(a["data-t"]): a for a in page.nodes.values() if a["data-kind"] == "step"}
    assert sorted(steps) == list(range(max(LENGTHS)))
    for t, attrs in steps.items():
        running = [n for n, length in enumerate(LENGTHS) if length > t]
        expected_h = np.sqrt(sum(np.sum(runs[n][0][t] ** 2) for n in running))
        assert float(attrs["data-grad"]) == pytest.approx(expected_h, rel=1e-12)
        if cell == "lstm":
            expected_c = np.sqrt(sum(np.sum(runs[n][1][t] ** 2) for n in running))
            assert float(attrs["data-cell-grad"]) == pytest.approx(expected_c, rel=1e-12)
        else:
            assert "data-cell-grad" not in attrs  # a GRU or an RNN has one state
        ending = [n for n, length in enumerate(LENGTHS) if length == t + 1]
        if ending:
            (n,) = ending
            assert attrs["data-ends"] == f"ends: seq {n} (length {t + 1})"
            assert float(attrs["data-final-grad"]) == pytest.approx(np.linalg.norm(runs[n][2]), rel=1e-12)
        else:
            assert "data-ends" not in attrs
    dot = viz.to_dot(loss, params=params)
    assert ("||dL/dc||" in dot) is (cell == "lstm")
    assert len(re.findall(r"penwidth=3\.5[ \]]", dot)) == len(LENGTHS)  # each sequence's last step, bold


def ends_of(text: str) -> dict[int, str]:
    """t -> the 'ends: ...' line of each collapsed step's label in a DOT text."""
    found = {}
    for label in re.findall(r'label="(t=\d+\\n[^"]*)"', text):
        lines = label.split("\\n")
        found.update({int(lines[0][2:]): line for line in lines if line.startswith(("ends", "starts"))})
    return found


def test_sorted_batch_and_no_h_n():
    """A batch given sorted is in its own order; without h_n in the graph, lengths alone are known."""
    model = model_of("gru")
    rng = np.random.default_rng(3)
    sequences = [tg.Tensor(rng.standard_normal((length, 2))) for length in (4, 2, 1)]
    output, h_n = model(pack_sequence(sequences))  # enforce_sorted: no reordering anywhere
    assert ends_of(viz.to_dot((h_n ** 2).sum())) == {0: "ends: seq 2 (length 1)", 1: "ends: seq 1 (length 2)",
                                                    3: "ends: seq 0 (length 4)"}
    model = model_of("gru")
    output, _ = model(pack_padded_sequence(pad_sequence(sequences[::-1]), [1, 2, 4], enforce_sorted=False))
    assert ends_of(viz.to_dot((output.data ** 2).sum())) == {0: "ends: 1 sequence (length 1)",
                                                            1: "ends: 1 sequence (length 2)",
                                                            3: "ends: 1 sequence (length 4)"}


@needs_dot
def test_stacked_bidirectional_packed_rows():
    """Stacked bidirectional packed rows keep their order; reverse rows start each sequence where it ends."""
    model = model_of("lstm", num_layers=2, bidirectional=True)
    rng = np.random.default_rng(4)
    sequences = [tg.Tensor(rng.standard_normal((length, 2))) for length in (3, 6, 2, 2)]
    _, (h_n, _) = model(pack_padded_sequence(pad_sequence(sequences), [3, 6, 2, 2], enforce_sorted=False))
    text = viz.to_dot((h_n ** 2).sum(), params={f"lstm.{n}": p for n, p in model.named_parameters()})
    assert row_order(text) == ["lstm.l0", "lstm.l0_reverse", "lstm.l1:join", "lstm.l1", "lstm.l1_reverse"]
    rows = {}
    for line in text.splitlines():
        found = re.search(r'label="t=(\d+)\\n[^"]*?((?:ends|starts): [^"\\]*)[^"]*" .*group="([^"]+)"', line)
        if found:
            rows.setdefault(found.group(3), {})[int(found.group(1))] = found.group(2)
    for layer in ("lstm.l0", "lstm.l1"):
        assert rows[layer] == {1: "ends: seqs 2, 3 (length 2)", 2: "ends: seq 0 (length 3)",
                               5: "ends: seq 1 (length 6)"}
        assert rows[layer + "_reverse"] == {t: text.replace("ends", "starts") for t, text in rows[layer].items()}
    assert "final states h_n (each sequence's at its last step)" in text


def test_ends_in_elided_and_expanded_pictures():
    """Sequences ending inside an elided run are listed on it; an expanded step's cluster says who ends there."""
    model = model_of("rnn")
    rng = np.random.default_rng(5)
    lengths = [30, 12, 20, 2]
    sequences = [tg.Tensor(rng.standard_normal((length, 2))) for length in lengths]
    _, h_n = model(pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=False))
    loss = (h_n ** 2).sum()
    text = viz.to_dot(loss)
    assert "... 24 steps ...\\n||dL/dh|| " in text and "\\nseqs 1, 2 end inside (lengths 12, 20)" in text
    assert ends_of(text) == {1: "ends: seq 3 (length 2)", 29: "ends: seq 0 (length 30)"}
    expanded = viz.to_dot(loss, collapse=None, max_steps=None, max_nodes=None)
    assert re.search(r'label="t=11\\nends: seq 1 \(length 12\)\\n\|\|dL/dh_n\|\| [0-9.e-]+"', expanded)
