"""How it is drawn: the gradient scale, colours, edge styles, node lines, clusters, the legend, and the DOT
statements that put them together. Every piece of user text (names, scopes, the title) goes through `quote`,
which escapes what DOT gives a meaning to and replaces what Graphviz cannot hold (control characters, NUL,
bidirectional overrides, lone surrogates) by a visible stand-in."""

from __future__ import annotations

import math
import unicodedata
from typing import Any

from .picture import JOIN_SCOPE, Edge, Group, Picture
from .units import STEP_SCOPE, format_number

COLOURS = {
    "parameter": "#ffd966",     # amber: trainable weights, drawn once
    "input": "#a4c8f0",         # blue: data and initial states
    "output": "#93c47d",        # green: the root (the loss)
    "intermediate": "#ffffff",  # white: what an op made
    "hidden": "#f7c5c0",        # pink: the state carried from step t to step t+1
    "op": "#ececec",            # grey ellipse: a registered op
    "step": "#f8f8f8",          # background of a time-step cluster
}
EDGE_RAMP = ("#c4c4c4", "#08306b")  # weak -> strong gradient
HIDDEN_RAMP = ("#f6b7a8", "#a50f15")
STEP_RAMP = ("#fff5f0", "#ef3b2c")
HIDDEN_BORDER = "#a50f15"
NO_GRADIENT = "#b0b0b0"
MIN_WIDTH, MAX_WIDTH = 0.8, 6.0
MAX_DECADES = 6
"""The width scale spans at most this many powers of ten below the largest gradient; smaller ones are drawn
thinnest (their numbers are still in the labels and on the page)."""


class Scale:
    """Maps a gradient norm to [0, 1] by log10, over the drawing's own range, at most MAX_DECADES deep (or a
    fixed range): a gradient that vanished to 1e-140 must not squeeze every other width into the thickest."""

    def __init__(self, norms: list[float | None], fixed: tuple[float, float] | None) -> None:
        logs = [math.log10(n) for n in norms if n is not None and n > 0 and math.isfinite(n)]
        self.clipped = False
        if fixed is not None:
            self.low, self.high = float(fixed[0]), float(fixed[1])
        else:
            self.low, self.high = (min(logs), max(logs)) if logs else (0.0, 0.0)
            if self.high - self.low > MAX_DECADES:
                self.low, self.clipped = self.high - MAX_DECADES, True

    def position(self, norm: float) -> float:
        if not norm > 0:
            return 0.0
        if not math.isfinite(norm) or self.high - self.low < 1e-12:
            return 1.0
        return min(1.0, max(0.0, (math.log10(norm) - self.low) / (self.high - self.low)))


def mix(ramp: tuple[str, str], position: float) -> str:
    """The colour `position` of the way along a two-colour ramp."""
    start = [int(ramp[0][i:i + 2], 16) for i in (1, 3, 5)]
    end = [int(ramp[1][i:i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(a + (b - a) * position):02x}" for a, b in zip(start, end))


# ---- text ----------------------------------------------------------------------------------------------------

_BIDI = {0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)}


MAX_TEXT = 500
"""Characters of one name, scope or title a picture shows (dot refuses a string past 16,384 bytes)."""


def visible(text: str) -> str:
    """`text` with every character Graphviz (or a reader) cannot take at face value replaced by a visible
    stand-in: C0 controls but newline as the control pictures (NUL as ␀), DEL and C1 controls, bidirectional
    marks and overrides, lone surrogates and other unassigned or private code points as <U+XXXX>; past
    MAX_TEXT characters, cut with how many more there were."""
    if len(text) > MAX_TEXT:
        text = f"{text[:MAX_TEXT]}… ({len(text) - MAX_TEXT:,} more characters)"
    out = []
    for char in text:
        code = ord(char)
        if char == "\n":
            out.append(char)
        elif code < 0x20:
            out.append(chr(0x2400 + code))
        elif code == 0x7F:
            out.append("\u2421")
        elif code in _BIDI or unicodedata.category(char) in ("Cc", "Cs", "Co", "Cn", "Zl", "Zp"):
            out.append(f"<U+{code:04X}>")
        else:
            out.append(char)
    return "".join(out)


def quote(text: str) -> str:
    """A DOT string literal holding `text` as it reads (backslashes, quotes and newlines escaped)."""
    text = visible(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return '"' + text + '"'


def html_text(text: str) -> str:
    """`text` for an HTML-like DOT label or an HTML page (& < > " escaped)."""
    return (visible(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("\n", "<br/>"))


# ---- statements ------------------------------------------------------------------------------------------------

def statements(picture: Picture, *, scale: Scale | None, highlight: bool, grad_labels: bool, rankdir: str,
               legend: bool, title: str | None, cluster_labels: dict[str, str], ids: bool = False) -> list[str]:
    """The statements inside `digraph { ... }`, one per line."""
    key = _legend(picture, scale, highlight) if legend else None
    lines = [f'graph [rankdir={rankdir} newrank=true compound=true nodesep=0.2 ranksep=0.25 fontname="Helvetica" '
             f'fontsize=11{_graph_label(title, key)}]',
             'node [fontname="Helvetica" fontsize=10 height=0.3 margin="0.07,0.03"]',
             'edge [arrowsize=0.6 color="#555555" fontname="Helvetica"]']
    cluster_lines, cluster_of = _clusters(picture, scale, highlight, cluster_labels, ids)
    lines += _spine(picture.rows, picture.groups, rankdir)  # first: dot's first ordering follows it
    lines += cluster_lines
    params = [number for number, group in enumerate(picture.groups) if group.kind == "parameter"]
    if len(params) > 1:
        lines.append("{rank=min; " + " ".join(f"g{number}" for number in params) + "}")
    for same in picture.ranks:
        lines.append("{rank=same; " + " ".join(f"g{number}" for number in same) + "}")
    for number, edge in enumerate(picture.edges):
        style = edge_attributes(edge, highlight, scale, grad_labels, picture.groups, cluster_of)
        if ids:
            style.append(f'id="e{number}"')
        ends = f"g{edge.head} -> g{edge.tail}" if edge.backward else f"g{edge.tail} -> g{edge.head}"
        lines.append(ends + (" [" + " ".join(style) + "]" if style else ""))
    return lines


SPINE_TIES = 3
"""Parallel invisible edges from each spine point to its row: dot counts each when it weighs crossings, and a
single one lost against the plumbing's edges at three stacked bidirectional layers."""


def _spine(rows: list[int], groups: list[Group], rankdir: str) -> list[str]:
    """Invisible points, one per row, chained in the order the rows must read (layer 0 at the bottom; at the
    left, top to bottom), each tied to its row's first node. dot orders clusters to keep edges from crossing,
    and a flat edge between clusters does not bind it; edges from points outside every cluster do."""
    if len(rows) < 2:
        return []
    ordered = rows[::-1] if rankdir in ("LR", "RL") else rows  # a flat edge's tail goes above (LR), left (TB)
    lines = [f'row{k} [label="" shape=point style=invis width=0 height=0 group={quote(groups[number].step[0])}]'
             for k, number in enumerate(ordered)]
    lines.append("{rank=same; " + " ".join(f"row{k}" for k in range(len(ordered))) + "}")
    lines.append(" -> ".join(f"row{k}" for k in range(len(ordered))) + " [style=invis]")
    for k, number in enumerate(ordered):
        lines += [f"row{k} -> g{number} [style=invis weight=10]"] * SPINE_TIES
    return lines


def edge_attributes(edge: Edge, highlight: bool, scale: Scale | None, grad_labels: bool, groups: list[Group],
                    cluster_of: dict[str, int]) -> list[str]:
    """Width and colour from the gradient norm, red along the hidden-state path, dashed where the gradient is
    zero, dotted where none flows (the tail needs no gradient); fans laid out without pulling steps apart."""
    attrs = []
    red = highlight and edge.highlighted
    norm = edge.norm
    if scale is None:
        if red:
            attrs += [f'color="{HIDDEN_BORDER}"', "penwidth=1.8"]
    elif norm is None:
        attrs += [f'color="{NO_GRADIENT}"', "style=dotted"]
    else:
        position = scale.position(norm)
        attrs += [f'color="{mix(HIDDEN_RAMP if red else EDGE_RAMP, position)}"',
                  f"penwidth={MIN_WIDTH + (MAX_WIDTH - MIN_WIDTH) * position:.2f}"]
        if norm == 0:
            attrs.append("style=dashed")
    words = ""
    if edge.fan:
        words = f"into each of {edge.fan} steps" if edge.fan > 0 else f"from each of {-edge.fan} steps"
    if grad_labels and scale is not None and norm is not None:
        words = format_number(norm) + (f"\\n{words}" if words else "")
    if words:
        attrs.append(f'label="{words}" fontsize=8 fontcolor="#555555"')
    if not edge.constraint:
        attrs += ["constraint=false", "weight=0"]
    if edge.into_cluster is not None and edge.into_cluster in cluster_of:
        attrs.append(f"{'ltail' if edge.backward else 'lhead'}=cluster_{cluster_of[edge.into_cluster]}")
    if edge.backward:
        attrs.append("dir=back")
    if groups[edge.head].kind == "join" or groups[edge.tail].kind == "join":
        attrs.append("arrowsize=0.5")
    return attrs


def _graph_label(title: str | None, key: str | None) -> str:
    """The title and the legend above the picture, at the left: the graph's own label, which dot places after
    the layout, so a wide legend widens no rank (as a node it made the parameters' column its width)."""
    if title is None and key is None:
        return ""
    if key is None:
        return f" label={quote(title)} labelloc=t fontsize=14"
    heading = "" if not title else f'<tr><td align="left"><font point-size="14">{html_text(title)}</font></td></tr>'
    return (f' label=<<table border="0" cellspacing="4" cellpadding="0">{heading}<tr><td align="left">{key}</td></tr>'
            '</table>> labelloc=t labeljust=l')


def step_text(group: Group, scale: Scale | None) -> str:
    """The label of a step or an elided run: its name, its states' gradient norms, who ends there."""
    text = group.label
    if scale is not None and group.norm is not None:
        text += f"\n||dL/dh|| {format_number(group.norm)}"
    if scale is not None and group.cell_norm is not None:
        text += f"\n||dL/dc|| {format_number(group.cell_norm)}"
    if group.ends is not None:  # a packed batch: the sequences whose last step this is
        text += "\n" + group.ends
        if scale is not None and group.final_norm is not None:
            text += f"\n||dL/dh_n|| {format_number(group.final_norm)}"
    return text


def row_heights(groups: list[Group], scale: Scale | None) -> dict[str, float]:
    """A layer -> the height (inches) of its steps' nodes, when their labels differ in lines (a packed batch's
    steps say who ends there): nodes of one height keep the row one straight line."""
    lines: dict[str, set[int]] = {}
    for group in groups:
        if group.kind in ("step", "elided") and group.step is not None:
            lines.setdefault(group.step[0], set()).add(step_text(group, scale).count("\n") + 1)
    return {layer: round(0.1 + max(found) * 10 * 1.2 / 72, 3) for layer, found in lines.items() if len(found) > 1}


def node_line(number: int, group: Group, scale: Scale | None, highlight: bool, ids: bool,
              height: float | None = None) -> str:
    """One node statement, styled by kind (`height`: of a step, to match its row)."""
    kind, label = group.kind, group.label
    identity = f' id="n{number}"' if ids else ""
    if group.step is not None and kind in ("step", "elided", "join"):
        identity += f" group={quote(group.step[0])}"  # a row's nodes kept on one straight line
    if height is not None and kind in ("step", "elided"):
        identity += f" height={height}"
    if kind == "op":
        return (f'g{number} [label={quote(label)} shape=ellipse style=filled fillcolor="{COLOURS["op"]}" '
                f'color="#999999" fontsize=9 height=0.22 width=0.3 margin="0.02,0.01"{identity}]')
    if kind == "join":
        return f'g{number} [label="" shape=point width=0.07 color="#777777"{identity}]'
    if kind == "elided":
        return (f'g{number} [label={quote(step_text(group, scale))} shape=box style="dashed,rounded,filled" '
                f'fillcolor="#ffffff" color="#888888" fontsize=10{identity}]')
    if kind in ("pre", "post"):
        return (f'g{number} [label={quote(label)} shape=box style="rounded,filled" fillcolor="#ffffff" '
                f'color="#999999" fontsize=9{identity}]')
    hidden = highlight and group.hidden
    if kind == "step":
        fill = COLOURS["hidden"]
        label = step_text(group, scale)
        if scale is not None and group.norm is not None:
            fill = mix(STEP_RAMP, scale.position(group.norm))
    elif kind == "initial":
        fill = COLOURS["input"]
    else:
        fill = COLOURS["hidden"] if hidden else COLOURS[kind]
        if scale is not None and group.signed is not None:
            label += f"\ngrad {format_number(group.signed)}"
        elif scale is not None and group.norm is not None:
            label += f"\n||grad|| {format_number(group.norm)}"
    border = f' color="{HIDDEN_BORDER}" penwidth=1.4' if hidden or (kind == "step" and highlight) else ""
    if kind == "step" and group.ends is not None:  # a sequence's last step: a bold border (a second periphery
        border = f' color="{HIDDEN_BORDER}" penwidth=3.5'  # would make the node taller than its row)
    if kind == "initial" and highlight:
        border = f' color="{HIDDEN_BORDER}" penwidth=1.4 style="rounded,filled,dashed"'
    style = "" if 'style="' in border else ' style="rounded,filled"'
    return f'g{number} [label={quote(label)} shape=box{style} fillcolor="{fill}"{border}{identity}]'


def _clusters(picture: Picture, scale: Scale | None, highlight: bool, cluster_labels: dict[str, str],
              ids: bool) -> tuple[list[str], dict[str, int]]:
    """Node statements nested in one cluster per scope (scopes in order of first appearance), and the cluster
    number of each scope."""
    tree: dict[str | None, list[tuple[str, Any]]] = {None: []}
    for number, group in enumerate(picture.groups):
        if group.kind == "hidden-away":
            continue
        scope = group.scope
        if scope is not None and scope not in tree:
            parts = scope.split("/")
            for depth in range(1, len(parts) + 1):
                prefix = "/".join(parts[:depth])
                if prefix not in tree:
                    tree[prefix] = []
                    tree["/".join(parts[:depth - 1]) if depth > 1 else None].append(("cluster", prefix))
        tree[scope].append(("node", number))
    for item in [item for kind, item in tree[None] if kind == "cluster" and item.startswith(JOIN_SCOPE)]:
        target = item[len(JOIN_SCOPE):].replace("|", "/").split("/")[0]  # junctions just before their layer
        entries = tree[None]
        entries.remove(("cluster", item))
        position = next((i for i, (kind, other) in enumerate(entries) if kind == "cluster" and other == target),
                        len(entries))
        entries.insert(position, ("cluster", item))
    lines: list[str] = []
    cluster_of: dict[str, int] = {}
    heights = row_heights(picture.groups, scale)

    def emit(scope: str | None, indent: str) -> None:
        for kind, item in tree[scope]:
            if kind == "node":
                group = picture.groups[item]
                height = heights.get(group.step[0]) if group.step is not None else None
                lines.append(indent + node_line(item, group, scale, highlight, ids, height))
                continue
            cluster_of[item] = len(cluster_of)
            if item.startswith(JOIN_SCOPE):  # junction points: a cluster only to keep them between the rows
                lines.append(f'{indent}subgraph cluster_{cluster_of[item]} {{ label="" style=invis')
                emit(item, indent + "  ")
                lines.append(indent + "}")
                continue
            name = item.rsplit("/", 1)[-1]
            style = (f'style="rounded,filled" fillcolor="{COLOURS["step"]}" color="#c8c8c8" fontsize=10 labeljust=c'
                     if STEP_SCOPE.fullmatch(name) else 'style="rounded" color="#777777" fontsize=12 labeljust=l')
            lines.append(f"{indent}subgraph cluster_{cluster_of[item]} {{")
            lines.append(f"{indent}  label={quote(cluster_labels.get(item, name))} {style}")
            emit(item, indent + "  ")
            lines.append(indent + "}")

    emit(None, "")
    return lines, cluster_of


def _legend(picture: Picture, scale: Scale | None, highlight: bool) -> str:
    """A small HTML-like table: what every mark drawn means, and the gradient scale."""
    groups = [group for group in picture.groups if group.kind != "hidden-away"]
    kinds = {group.kind for group in groups}
    hidden_boxes = highlight and any(g.hidden and g.kind not in ("step", "elided", "initial") for g in groups)
    swatch = '<td bgcolor="{}" border="1" width="16"{}> </td>'
    rows = []

    def row(fill: str, text: str, extra: str = "") -> None:
        rows.append(f'<tr>{swatch.format(fill, extra)}<td align="left">{text}</td></tr>')

    if "parameter" in kinds:
        row(COLOURS["parameter"], "parameter (drawn once, shared by all steps)")
    if "input" in kinds:
        row(COLOURS["input"], "input (data)")
    if "initial" in kinds:
        row(COLOURS["input"], "initial state h_0 (given, not learned)"
            + ("; red dashed border: where the hidden path starts" if highlight else ""),
            ' color="#a50f15"' if highlight else "")
    if "intermediate" in kinds:
        row(COLOURS["intermediate"], "tensor made by an op")
    if hidden_boxes:
        row(COLOURS["hidden"], "hidden state (made in step t, read in step t+1)", ' color="#a50f15"')
    if "step" in kinds:
        text = "one cell at one time step (its ops inside)"
        if scale is not None:
            text += ", coloured by ||dL/dh_t|| of the state it makes"
        row(mix(STEP_RAMP, 0.5), text, ' color="#a50f15"' if highlight else "")
    if any(group.ends is not None for group in groups):
        rows.append(f'<tr><td border="3" color="{HIDDEN_BORDER}" width="16"> </td><td align="left">bold border, '
                    '"ends: seq n (length L)": sequence n\'s last step in a packed batch, where h_n is taken'
                    f'{" (||dL/dh_n||: the gradient reaching it)" if scale is not None else ""}</td></tr>')
    if "elided" in kinds:
        rows.append('<tr><td border="1" style="dashed" width="16"> </td><td align="left">a run of middle steps '
                    'left out (max_steps); ||dL/dh|| of the states inside, together</td></tr>')
    if kinds & {"pre", "post"}:
        row("#ffffff", "a layer's ops before its steps (input projection) or after them (outputs stacked)")
    if "join" in kinds:
        rows.append('<tr><td>•</td><td align="left">junction: step t of one layer feeding step t of the next '
                    '(through the input projection)</td></tr>')
    if "output" in kinds:
        row(COLOURS["output"], "output / loss")
    if "op" in kinds:
        row(COLOURS["op"], "op (registry name)")
    if scale is not None:
        swatches = "".join(f'<td bgcolor="{mix(EDGE_RAMP, p / 4)}" width="12"> </td>' for p in range(5))
        low = ("≤ " if scale.clipped else "") + format_number(10 ** scale.low)
        rows.append(f'<tr><td colspan="2" align="left">edge width and colour: log10 ||gradient sent back along the '
                    f'edge||{"; red: along the hidden-state path" if highlight else ""}</td></tr>'
                    f'<tr><td colspan="2"><table border="0" cellspacing="0" cellpadding="1"><tr>'
                    f'<td>{low}</td>{swatches}<td>{format_number(10 ** scale.high)}</td>'
                    f'</tr></table></td></tr>')
        edges = picture.edges
        if any(edge.norm == 0 for edge in edges):
            rows.append('<tr><td>- - -</td><td align="left">dashed: a gradient of exactly zero</td></tr>')
        if any(edge.norm is None for edge in edges):
            rows.append('<tr><td>· · ·</td><td align="left">dotted: no gradient (the tail needs none, e.g. data '
                        'or h_0)</td></tr>')
        if any(edge.fan for edge in edges):
            rows.append('<tr><td>→</td><td align="left">"into (from) each of N steps": one edge standing for N '
                        '(its gradient: all of theirs together)</td></tr>')
    elif highlight and any(edge.highlighted for edge in picture.edges):
        rows.append('<tr><td><font color="#a50f15">→</font></td><td align="left">the hidden-state path</td></tr>')
    return ('<table border="1" style="rounded" color="#cccccc" cellborder="0" cellspacing="0" cellpadding="2">'
            '<tr><td><font point-size="10">legend</font></td></tr><tr><td><font point-size="9">'
            f'<table border="0" color="black" cellspacing="1" cellpadding="2">{"".join(rows)}</table></font></td></tr>'
            '</table>')
