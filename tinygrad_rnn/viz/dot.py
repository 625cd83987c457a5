"""How it is drawn: the gradient scale, colours, edge styles, node lines, clusters, the legend, and the DOT
statements that put them together. Every piece of user text (names, scopes, the title) goes through `quote`,
which escapes what DOT gives a meaning to and replaces what Graphviz cannot hold (control characters, NUL,
bidirectional overrides, lone surrogates) by a visible stand-in."""

from __future__ import annotations

import math
import unicodedata
from typing import Any

from .layout import JOIN_SCOPE, Edge, Group, Picture
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


def visible(text: str) -> str:
    """`text` with every character Graphviz (or a reader) cannot take at face value replaced by a visible
    stand-in: C0 controls but newline as the control pictures (NUL as ␀), DEL and C1 controls, bidirectional
    marks and overrides, lone surrogates and other unassigned or private code points as <U+XXXX>."""
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
    lines = [f'graph [rankdir={rankdir} newrank=true compound=true nodesep=0.2 ranksep=0.3 fontname="Helvetica" '
             f'fontsize=11{_title(title)}]',
             'node [fontname="Helvetica" fontsize=10 height=0.3 margin="0.07,0.03"]',
             'edge [arrowsize=0.6 color="#555555" fontname="Helvetica"]']
    cluster_lines, cluster_of = _clusters(picture, scale, highlight, cluster_labels, ids)
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
    if legend:
        lines += _legend(picture, scale, highlight)
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


def _title(title: str | None) -> str:
    return "" if title is None else f" label={quote(title)} labelloc=t fontsize=14"


def node_line(number: int, group: Group, scale: Scale | None, highlight: bool, ids: bool) -> str:
    """One node statement, styled by kind."""
    kind, label = group.kind, group.label
    identity = f' id="n{number}"' if ids else ""
    if kind == "op":
        return (f'g{number} [label={quote(label)} shape=ellipse style=filled fillcolor="{COLOURS["op"]}" '
                f'color="#999999" fontsize=9 height=0.22 width=0.3 margin="0.02,0.01"{identity}]')
    if kind == "join":
        return f'g{number} [label="" shape=point width=0.07 color="#777777"{identity}]'
    if kind == "elided":
        text = label
        if scale is not None and group.norm is not None:
            text += f"\n‖dL/dh‖ {format_number(group.norm)}"
        return (f'g{number} [label={quote(text)} shape=box style="dashed,rounded,filled" fillcolor="#ffffff" '
                f'color="#888888" fontsize=10{identity}]')
    if kind in ("pre", "post"):
        return (f'g{number} [label={quote(label)} shape=box style="rounded,filled" fillcolor="#ffffff" '
                f'color="#999999" fontsize=9{identity}]')
    hidden = highlight and group.hidden
    if kind == "step":
        fill = COLOURS["hidden"]
        if scale is not None and group.norm is not None:
            label += f"\n‖dL/dh‖ {format_number(group.norm)}"
            fill = mix(STEP_RAMP, scale.position(group.norm))
        if scale is not None and group.cell_norm is not None:
            label += f"\n‖dL/dc‖ {format_number(group.cell_norm)}"
    elif kind == "initial":
        fill = COLOURS["input"]
    else:
        fill = COLOURS["hidden"] if hidden else COLOURS[kind]
        if scale is not None and group.signed is not None:
            label += f"\ngrad {format_number(group.signed)}"
        elif scale is not None and group.norm is not None:
            label += f"\n‖grad‖ {format_number(group.norm)}"
    border = f' color="{HIDDEN_BORDER}" penwidth=1.4' if hidden or (kind == "step" and highlight) else ""
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

    def emit(scope: str | None, indent: str) -> None:
        for kind, item in tree[scope]:
            if kind == "node":
                lines.append(indent + node_line(item, picture.groups[item], scale, highlight, ids))
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


def _legend(picture: Picture, scale: Scale | None, highlight: bool) -> list[str]:
    """A small table on the picture: what every mark drawn means, and the gradient scale."""
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
            text += ", coloured by ‖dL/dh_t‖ of the state it makes"
        row(mix(STEP_RAMP, 0.5), text, ' color="#a50f15"' if highlight else "")
    if "elided" in kinds:
        rows.append('<tr><td border="1" style="dashed" width="16"> </td><td align="left">a run of middle steps '
                    'left out (max_steps); ‖dL/dh‖ of the states inside, together</td></tr>')
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
        rows.append(f'<tr><td colspan="2" align="left">edge width and colour: log10 ‖gradient sent back along the '
                    f'edge‖{"; red: along the hidden-state path" if highlight else ""}</td></tr>'
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
    return ["subgraph cluster_legend {", '  label="legend" fontsize=10 style="rounded" color="#cccccc"',
            f'  legend [shape=plaintext fontsize=9 label=<<table border="0" cellspacing="1" cellpadding="2">'
            f'{"".join(rows)}</table>>]', "}"]
