"""How it is drawn: the gradient scale, colours, edge styles, node lines, clusters, the legend, and the DOT
statements that put them together."""

from __future__ import annotations

import math
from collections.abc import Mapping
from numbers import Real
from typing import Any

from ..graph import Node
from .units import MAX_FAN, STEP_SCOPE, collect_units, fan_outs, format_number, group_units, hidden_path, merged_edges

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
MIN_WIDTH, MAX_WIDTH = 0.8, 6.0


def statements(root: Node, *, params: Mapping[str, Node] | None = None, show_grad: bool | None = None,
               grad_labels: bool = False, highlight: str | None = "hidden", collapse: str | None = None,
               max_steps: int | None = None, intermediates: bool = True, rankdir: str = "LR",
               legend: bool = True, max_values: int = 4, grad_range: tuple[float, float] | None = None,
               title: str | None = None) -> list[str]:
    """The statements inside `digraph { ... }`, one per line."""
    if not isinstance(root, Node):
        raise TypeError(f"viz: expected a Tensor or Value (the root of a graph), got {type(root).__name__}")
    if highlight not in (None, "hidden"):
        raise ValueError(f"viz: highlight must be 'hidden' or None, got {highlight!r}")
    if collapse not in (None, "timestep"):
        raise ValueError(f"viz: collapse must be 'timestep' or None, got {collapse!r}")
    if max_steps is not None and (isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 2):
        raise ValueError(f"viz: max_steps must be an int >= 2 (the first and last steps are kept), got {max_steps!r}")
    if rankdir not in ("LR", "TB", "RL", "BT"):
        raise ValueError(f"viz: rankdir must be one of LR, TB, RL, BT, got {rankdir!r}")
    if params is not None and not isinstance(params, Mapping):
        raise TypeError(f"viz: params must map names to tensors (e.g. dict(model.named_parameters())), got "
                        f"{type(params).__name__}")
    if isinstance(max_values, bool) or not isinstance(max_values, int) or max_values < 0:
        raise ValueError(f"viz: max_values must be an int >= 0, got {max_values!r}")
    if grad_range is not None and not (isinstance(grad_range, (tuple, list)) and len(grad_range) == 2
                                       and all(isinstance(bound, Real) for bound in grad_range)
                                       and grad_range[0] <= grad_range[1]):
        raise ValueError(f"viz: grad_range must be (log10 low, log10 high) with low <= high, got {grad_range!r}")
    if title is not None and not isinstance(title, str):
        raise TypeError(f"viz: title must be a string, got {type(title).__name__}")
    units, folded = collect_units(root, params, max_values)
    hidden, on_path = hidden_path(units)
    if show_grad is None:
        show_grad = any(unit.grad is not None for unit in units)
    groups, group_of = group_units(units, folded, hidden, collapse, max_steps, intermediates)
    fans = fan_outs(units, group_of, groups)
    edges = merged_edges(units, group_of, on_path if highlight == "hidden" else set(), fans)
    scale = _Scale([edge[2] for edge in edges] + [group["norm"] for group in groups], grad_range) \
        if show_grad else None
    marked = hidden if highlight == "hidden" else set()
    lines = [f'graph [rankdir={rankdir} newrank=true compound=true nodesep=0.2 ranksep=0.28 fontname="Helvetica" '
             f'fontsize=11{_title(title)}]',
             'node [fontname="Helvetica" fontsize=10 height=0.3 margin="0.07,0.03"]',
             'edge [arrowsize=0.6 color="#555555"]']
    cluster_lines, cluster_of = _clusters(groups, {group_of[i] for i in marked}, scale)
    lines += cluster_lines
    for tail, head, norm, highlighted in edges:
        style = _edge_style(norm, highlighted, scale, grad_labels)
        if tail in fans and groups[head]["step"] is not None:
            # what many steps share must not pull the steps out of their left-to-right line
            style = style[:-1] + " constraint=false weight=0]" if style else " [constraint=false weight=0]"
            heads, layer = fans[tail][1], groups[head]["step"][0]
            if len(heads) > MAX_FAN:
                inside = (groups[tail]["scope"] or "").startswith(layer + "/") or groups[tail]["scope"] == layer
                into = "" if inside or layer not in cluster_of else f" lhead=cluster_{cluster_of[layer]}"
                style = style[:-1] + f' label="into each of {len(heads)} steps" fontsize=9{into}]'
        lines.append(f"g{tail} -> g{head}{style}")
    if legend:
        contributions = any(any(flow is not None for flow in u.flows) for u in units if u.kind == "op")
        marked_groups = {group_of[i] for i in marked}
        kinds = {"hidden" if i in marked_groups and group["kind"] not in ("step", "elided") else group["kind"]
                 for i, group in enumerate(groups)}
        lines += _legend(scale, kinds, contributions)
    return lines


class _Scale:
    """Maps a gradient norm to [0, 1] by log10, over the drawing's own range (or a fixed one)."""

    def __init__(self, norms: list[float | None], fixed: tuple[float, float] | None) -> None:
        logs = [math.log10(n) for n in norms if n is not None and n > 0 and math.isfinite(n)]
        if fixed is not None:
            self.low, self.high = float(fixed[0]), float(fixed[1])
        else:
            self.low, self.high = (min(logs), max(logs)) if logs else (0.0, 0.0)

    def position(self, norm: float) -> float:
        if not norm > 0:
            return 0.0
        if not math.isfinite(norm) or self.high - self.low < 1e-12:
            return 1.0
        return min(1.0, max(0.0, (math.log10(norm) - self.low) / (self.high - self.low)))


def _mix(ramp: tuple[str, str], position: float) -> str:
    """The colour `position` of the way along a two-colour ramp."""
    start = [int(ramp[0][i:i + 2], 16) for i in (1, 3, 5)]
    end = [int(ramp[1][i:i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(a + (b - a) * position):02x}" for a, b in zip(start, end))


def _edge_style(norm: float | None, highlighted: bool, scale: _Scale | None, grad_labels: bool) -> str:
    """Edge attributes: width and colour from the gradient norm, red along the hidden-state path."""
    attrs = []
    if scale is None or norm is None:
        if highlighted:
            attrs += [f'color="{HIDDEN_RAMP[1]}"', "penwidth=2.5"]
        elif scale is not None:
            attrs.append('color="#b0b0b0"')
    else:
        position = scale.position(norm)
        attrs += [f'color="{_mix(HIDDEN_RAMP if highlighted else EDGE_RAMP, position)}"',
                  f"penwidth={MIN_WIDTH + (MAX_WIDTH - MIN_WIDTH) * position:.2f}"]
        if norm == 0:
            attrs.append("style=dashed")
        if grad_labels:
            attrs.append(f'label="{format_number(norm)}" fontsize=8 fontcolor="#666666"')
    return " [" + " ".join(attrs) + "]" if attrs else ""


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _title(title: str | None) -> str:
    return "" if title is None else f" label={_quote(title)} labelloc=t fontsize=14"


def _node_line(index: int, group: dict[str, Any], is_hidden: bool, scale: _Scale | None) -> str:
    """One node statement, styled by kind."""
    kind, label, norm = group["kind"], group["label"], group["norm"]
    if kind == "op":
        return (f'g{index} [label={_quote(label)} shape=ellipse style=filled fillcolor="{COLOURS["op"]}" '
                f'color="#999999" fontsize=9 height=0.22 width=0.3 margin="0.02,0.01"]')
    if kind == "elided":
        return f'g{index} [label={_quote(label)} shape=box style="dashed,rounded" color="#888888" fontsize=11]'
    fill = COLOURS["hidden"] if is_hidden or kind == "step" else COLOURS[kind]
    if scale is not None and norm is not None:
        if kind == "step":
            label += f"\n|dL/dh| {format_number(norm)}"
            fill = _mix(STEP_RAMP, scale.position(norm))
        elif "\ngrad " not in label and not label.startswith("grad "):
            label += f"\n|grad| {format_number(norm)}"
    border = ' color="#a50f15" penwidth=1.4' if is_hidden else ""
    return f'g{index} [label={_quote(label)} shape=box style="rounded,filled" fillcolor="{fill}"{border}]'


def _clusters(groups: list[dict[str, Any]], hidden: set[int],
              scale: _Scale | None) -> tuple[list[str], dict[str, int]]:
    """Node statements nested in one cluster per scope (scopes in order of first appearance), and the cluster
    number of each scope."""
    tree: dict[str | None, list[tuple[str, Any]]] = {None: []}
    for index, group in enumerate(groups):
        scope = group["scope"]
        if scope is not None and scope not in tree:
            parts = scope.split("/")
            for depth in range(1, len(parts) + 1):
                prefix = "/".join(parts[:depth])
                if prefix not in tree:
                    tree[prefix] = []
                    tree["/".join(parts[:depth - 1]) if depth > 1 else None].append(("cluster", prefix))
        tree[scope].append(("node", index))
    lines: list[str] = []
    cluster_of: dict[str, int] = {}

    def emit(scope: str | None, indent: str) -> None:
        for kind, item in tree[scope]:
            if kind == "node":
                lines.append(indent + _node_line(item, groups[item], item in hidden, scale))
                continue
            name = item.rsplit("/", 1)[-1]
            style = (f'style="rounded,filled" fillcolor="{COLOURS["step"]}" color="#c8c8c8" fontsize=10 labeljust=c'
                     if STEP_SCOPE.fullmatch(name) else 'style="rounded" color="#777777" fontsize=12 labeljust=l')
            cluster_of[item] = len(cluster_of)
            lines.append(f"{indent}subgraph cluster_{cluster_of[item]} {{")
            lines.append(f"{indent}  label={_quote(name)} {style}")
            emit(item, indent + "  ")
            lines.append(indent + "}")

    emit(None, "")
    return lines, cluster_of


def _legend(scale: _Scale | None, kinds: set[str], contributions: bool) -> list[str]:
    """A small table on the picture: what each drawn colour means, and the gradient scale."""
    rows = [("parameter", "parameter (drawn once, shared by all steps)"), ("input", "input / initial state"),
            ("intermediate", "tensor made by an op"), ("hidden", "hidden state (made in step t, read in t+1)"),
            ("output", "output / loss"), ("op", "op (registry name)"),
            ("step", "time step" + (", coloured by |dL/dh_t| of the state it makes" if scale is not None else ""))]
    cells = "".join(f'<tr><td bgcolor="{_mix(STEP_RAMP, 0.5) if key == "step" else COLOURS[key]}" border="1" '
                    f'width="16"> </td><td align="left">{text}</td></tr>' for key, text in rows if key in kinds)
    if scale is not None:
        what = "gradient sent back along the edge" if contributions else "gradient of the tensor on the edge"
        swatches = "".join(f'<td bgcolor="{_mix(EDGE_RAMP, p / 4)}" width="12"> </td>' for p in range(5))
        cells += (f'<tr><td colspan="2" align="left">edge width and colour: log10 |{what}|</td></tr>'
                  f'<tr><td colspan="2"><table border="0" cellspacing="0" cellpadding="1"><tr>'
                  f'<td>{format_number(10 ** scale.low)}</td>{swatches}<td>{format_number(10 ** scale.high)}</td>'
                  f'</tr></table></td></tr>')
    return ["subgraph cluster_legend {", '  label="legend" fontsize=10 style="rounded" color="#cccccc"',
            f'  legend [shape=plaintext fontsize=9 label=<<table border="0" cellspacing="1" cellpadding="2">'
            f'{cells}</table>>]', "}"]
