"""Draw the unrolled graph with Graphviz, so backpropagation through time can be seen.

`to_dot(root)` returns DOT text (pure and deterministic: node ids follow `toposort`, nothing depends on `id()`);
`draw(root)` wraps it in a `graphviz.Digraph` (shown inline in Jupyter, `.render(path, format="svg")`).
Tensors are boxes, ops small ellipses; each `scope` becomes a cluster (`rnn.l0` holding `t=0`, `t=1`, ...);
a parameter is drawn once, outside the clusters, with an edge into every step that uses it.

Gradients, after `backward(retain_grads=True)`: an edge into an op carries the gradient that op sends back to
its input (computed by the op's own backward when the graph was kept with `retain_graph=True`, otherwise the
input's whole gradient); an edge out of an op carries the gradient of its output. Width and colour grow with
log10 of the norm, so a vanishing gradient is a fading line. `highlight="hidden"` draws the hidden-state path in
red: tensors made in step t and read in step t+1 of the same layer, and the ops between them.
"""

from __future__ import annotations

import math
import re
import shutil
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from .graph import Node, input_gradients, toposort

__all__ = ["COLOURS", "GraphvizNotFoundError", "draw", "render", "to_dot"]

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
MAX_FAN = 16
"""A node read by more steps than this gets one edge labelled 'into each of N steps' (dot slows down a lot
routing hundreds of long edges)."""
INSTALL_HINT = ("install Graphviz (Debian/Ubuntu: sudo apt-get install graphviz; macOS: brew install graphviz; "
                "conda: conda install -c conda-forge graphviz; others: https://graphviz.org/download/), "
                "or use viz.to_dot() for the DOT text")
_STEP = re.compile(r"t=(\d+)")


class GraphvizNotFoundError(RuntimeError):
    """The Graphviz `dot` program is not installed, so a picture cannot be rendered (DOT text still can)."""


def to_dot(root: Node, **options: Any) -> str:
    """DOT text of the graph that produced `root` (a Tensor or a scalar Value); same input, same bytes.

    Options (keywords): params: name -> tensor (e.g. `dict(model.named_parameters())`) to name and colour the
    parameters (without it every leaf that requires grad is one; `Tensor.name` names too). show_grad: size edges
    by gradient norm (default: when any gradient is present). grad_labels: write the norm on each edge.
    highlight: "hidden" (default) or None. collapse: "timestep" (one node per step per layer) or None.
    max_steps: keep the first and last steps of each layer and elide the middle. intermediates: draw the
    tensors ops make as boxes (default True; False leaves only leaves, hidden states and the output).
    rankdir: "LR" (default), "TB", "RL", "BT". legend: draw the colour key (default True). max_values: print
    the values of tensors with at most this many elements (4). grad_range: fixed (log10 low, log10 high) of the
    width scale, so several pictures compare. title: a caption.
    """
    return "digraph tinygrad_rnn {\n" + "".join(line + "\n" for line in _statements(root, **options)) + "}\n"


def draw(root: Node, **options: Any) -> Any:
    """A `graphviz.Digraph` of the graph (options as `to_dot`; `.source == to_dot(root)`). Its `render` and
    `pipe` raise `GraphvizNotFoundError`, saying how to install Graphviz, when `dot` is missing."""
    body = [line + "\n" for line in _statements(root, **options)]
    return _digraph_class()("tinygrad_rnn", body=body)


def render(root: Node, path: str | Path, format: str | None = None, **options: Any) -> str:  # noqa: A002
    """Write the picture to `path` (format from the suffix: svg, png, pdf, ...; .dot/.gv writes DOT text, no
    Graphviz needed); returns the path written."""
    target = Path(path)
    fmt = (format or target.suffix.lstrip(".") or "svg").lower()
    if fmt in ("dot", "gv"):
        target.write_text(to_dot(root, **options), encoding="utf-8")
        return str(target)
    return draw(root, **options).render(outfile=str(target), format=fmt, cleanup=True)


# ---- what is drawn -------------------------------------------------------------------------------------------

class _Unit:
    """One tensor box or op ellipse, before grouping; `flows[i]` is the gradient along the edge from parents[i]."""

    __slots__ = ("kind", "node", "scope", "label", "grad", "step", "role", "parents", "flows")

    def __init__(self, kind: str, node: Node, scope: str | None, label: str) -> None:
        self.kind, self.node, self.scope, self.label = kind, node, scope, label
        self.grad = None if kind == "op" or node.grad is None else np.asarray(node.grad, dtype=np.float64)
        self.step = _step_of(scope)
        self.role: int | None = None
        self.parents: list[int] = []
        self.flows: list[Any] = []


def _statements(root: Node, *, params: Mapping[str, Node] | None = None, show_grad: bool | None = None,
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
    units, folded = _units(root, params, max_values)
    hidden, on_path = _hidden_path(units)
    if show_grad is None:
        show_grad = any(unit.grad is not None for unit in units)
    groups, group_of = _group(units, folded, hidden, collapse, max_steps, intermediates)
    fans = _fans(units, group_of, groups)
    edges = _edges(units, group_of, on_path if highlight == "hidden" else set(), fans)
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


def _units(root: Node, params: Mapping[str, Node] | None, max_values: int) -> tuple[list[_Unit], dict[int, int]]:
    """Tensor and op units in topological order, and units folded into another (a transposed parameter is
    drawn as the parameter). One-element constants without grad appear inside their op's label."""
    names = {id(tensor): name for name, tensor in (params or {}).items()}
    nodes = toposort(root, all_inputs=True)
    reader_scopes: dict[int, list[str | None]] = {}
    for node in nodes:
        if node._ctx is not None:
            for parent in node._ctx.parents:
                reader_scopes.setdefault(id(parent), []).append(node._ctx.scope)
    units: list[_Unit] = []
    unit_of: dict[int, int] = {}
    folded: dict[int, int] = {}
    for node in nodes:
        name = names.get(id(node), node.name)
        ctx = node._ctx
        if ctx is None:
            if not node.requires_grad and name is None and np.size(node.data) == 1 and node is not root:
                continue
            parameter = id(node) in names or (params is None and node.requires_grad)
            kind = "output" if node is root else "parameter" if parameter else "input"
            scopes = reader_scopes.get(id(node), [])
            shared = parameter or not scopes or any(scope != scopes[0] for scope in scopes)
            unit_of[id(node)] = len(units)
            units.append(_Unit(kind, node, None if shared else scopes[0], _tensor_label(node, name, max_values)))
            continue
        drawn = [unit_of.get(id(parent)) for parent in ctx.parents]
        args = ["·" if index is not None else _number(np.asarray(parent.data).item())
                for index, parent in zip(drawn, ctx.parents)]
        op = _Unit("op", node, ctx.scope, ctx.name if None not in drawn else f"{ctx.name}({', '.join(args)})")
        op.parents = [index for index in drawn if index is not None]
        op.flows = _flows(node, [index is not None for index in drawn])
        tensor = _Unit("output" if node is root else "intermediate", node, ctx.scope,
                       _tensor_label(node, name, max_values))
        tensor.parents, tensor.flows = [len(units)], [tensor.grad]
        source = units[op.parents[0]] if len(op.parents) == 1 else None
        if ctx.name == "permute" and source is not None and source.kind == "parameter" and op.step is None \
                and node is not root:
            folded[len(units)] = folded[len(units) + 1] = op.parents[0]  # W.T drawn as W (the label says so)
            name_line, _, rest = source.label.partition("\n")
            if not name_line.endswith("ᵀ"):
                source.label = name_line + "ᵀ" + ("\n" + rest if rest else "")
        units += [op, tensor]
        unit_of[id(node)] = len(units) - 1
    _assign_roles(units)
    return units, folded


def _flows(node: Node, drawn: list[bool]) -> list[Any]:
    """The gradient the op that made `node` sends to each drawn input, from its own backward (None when the
    graph was freed or no gradient reached `node`)."""
    flows = input_gradients(node)
    return [None if grad is None else np.asarray(grad, dtype=np.float64)
            for grad, is_drawn in zip(flows, drawn) if is_drawn]


def _step_of(scope: str | None) -> tuple[str, int] | None:
    """(layer, t) of a scope inside a time step, such as `rnn.l0/t=3` or `rnn.l0/t=3/gates`."""
    if scope is None:
        return None
    parts = scope.split("/")
    for index in range(len(parts) - 1, -1, -1):
        match = _STEP.fullmatch(parts[index])
        if match:
            return "/".join(parts[:index]), int(match.group(1))
    return None


def _assign_roles(units: list[_Unit]) -> None:
    """Number the units each step made, in order: the same role in two steps is the same part of the cell."""
    counters: dict[tuple[str, int], int] = {}
    for unit in units:
        if unit.step is not None and unit.node._ctx is not None:
            unit.role = counters.get(unit.step, 0)
            counters[unit.step] = unit.role + 1


def _tensor_label(node: Node, name: str | None, max_values: int) -> str:
    """Name, shape and (for a tiny tensor) values; for a scalar Value, its data and grad."""
    lines = [name] if name else []
    data = node.data
    if isinstance(data, float):
        lines.append(f"data {_number(data)}")
        if node.grad is not None:
            lines.append(f"grad {_number(float(node.grad))}")
        return "\n".join(lines)
    lines.append("(" + ", ".join(str(n) for n in data.shape) + ("," if data.ndim == 1 else "") + ")")
    if 0 < data.size <= max_values:
        lines.append("[" + " ".join(_number(float(v)) for v in data.reshape(-1)) + "]")
    return "\n".join(lines)


def _number(value: float) -> str:
    """A short number in a fixed format (the same bytes on every run)."""
    return "0" if value == 0 else f"{value:.3g}"


def _norm(array: Any) -> float | None:
    return None if array is None else float(np.linalg.norm(array))


# ---- the hidden state ----------------------------------------------------------------------------------------

def _hidden_path(units: list[_Unit]) -> tuple[set[int], set[int]]:
    """Hidden-state units and the units on the paths between them (within one layer).

    A hidden state is a tensor made in one step and read in the next step the same layer ran (t+1, or t-1
    for a reverse direction); the tensors in the other steps that play the same role (the last step's state)
    are hidden too, and so is the initial state the first step reads where later steps read a hidden state.
    """
    previous: dict[tuple[str, int], int] = {}
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    for unit in units:  # steps in the order they ran
        if unit.step is not None and unit.step not in previous and unit.node._ctx is not None:
            layer, t = unit.step
            previous[unit.step] = last.get(layer)
            first.setdefault(layer, t)
            last[layer] = t
    hidden: set[int] = set()
    roles: set[tuple[str, int | None]] = set()
    readers: set[tuple[str, int | None, int]] = set()  # (layer, reader's role, argument position)
    for unit in units:
        if unit.kind == "op" and unit.step is not None:
            layer = unit.step[0]
            for position, parent in enumerate(unit.parents):
                source = units[parent]
                if source.kind != "op" and source.step is not None and previous.get(unit.step) is not None \
                        and source.step == (layer, previous[unit.step]):
                    hidden.add(parent)
                    roles.add((layer, source.role))
                    readers.add((layer, unit.role, position))
    for index, unit in enumerate(units):
        if unit.step is None:
            continue
        layer = unit.step[0]
        if unit.kind != "op" and (layer, unit.role) in roles:
            hidden.add(index)
        if unit.kind == "op" and unit.step[1] == first[layer]:
            for position, initial in enumerate(unit.parents):
                if (layer, unit.role, position) in readers and units[initial].kind in ("input", "parameter"):
                    hidden.add(initial)
    layer_of = [unit.step[0] if unit.step else None for unit in units]
    for index in sorted(hidden):
        if layer_of[index] is None:
            layer_of[index] = next((u.step[0] for u in units if index in u.parents and u.step), None)
    after: set[int] = set()
    for index, unit in enumerate(units):
        if unit.step is not None and any((p in hidden or p in after) and layer_of[p] == layer_of[index]
                                         for p in unit.parents):
            after.add(index)
    before: set[int] = set()
    for index in range(len(units) - 1, -1, -1):
        if index in hidden or index in before:
            before.update(p for p in units[index].parents if layer_of[p] is not None and
                          layer_of[p] == layer_of[index])
    return hidden, (after & before) | hidden


# ---- grouping: clusters, collapsed steps, elided middles -----------------------------------------------------

def _group(units: list[_Unit], folded: dict[int, int], hidden: set[int], collapse: str | None,
           max_steps: int | None, intermediates: bool) -> tuple[list[dict[str, Any]], list[int]]:
    """Map units to drawn nodes: one per unit, or one per step when collapsed, one per elided run of steps."""
    steps: dict[str, list[int]] = {}
    for unit in units:
        if unit.step is not None and unit.step[1] not in steps.setdefault(unit.step[0], []):
            steps[unit.step[0]].append(unit.step[1])
    elided: dict[str, list[int]] = {}
    if max_steps is not None:
        for layer, timesteps in steps.items():
            timesteps.sort()
            if len(timesteps) > max_steps:
                elided[layer] = timesteps[max_steps - max_steps // 2:len(timesteps) - max_steps // 2]
    groups: list[dict[str, Any]] = []
    key_index: dict[Any, int] = {}
    group_of: list[int] = []
    for index, unit in enumerate(units):
        step = unit.step
        if step is not None and step[1] in elided.get(step[0], ()):
            key: tuple[Any, ...] = ("elided", step[0])
        elif step is not None and collapse == "timestep":
            key = ("step", step)
        elif index in folded:
            key = ("unit", folded[index])
        elif not intermediates and unit.kind == "intermediate" and index not in hidden:
            key = ("unit", unit.parents[0])  # the op that made it stands for it
        else:
            key = ("unit", index)
        if key not in key_index:
            key_index[key] = len(groups)
            groups.append(_new_group(key, unit, elided))
        group_of.append(key_index[key])
        if key[0] == "step" and index in hidden and unit.grad is not None and unit.node._ctx is not None:
            group = groups[key_index[key]]
            group["norm"] = math.hypot(group["norm"] or 0.0, _norm(unit.grad))
    return groups, group_of


def _new_group(key: tuple[Any, ...], unit: _Unit, elided: dict[str, list[int]]) -> dict[str, Any]:
    """A drawn node: its kind, label, cluster scope, step and gradient norm."""
    if key[0] == "elided":
        return {"kind": "elided", "label": f"... {len(elided[key[1]])} steps ...", "scope": key[1] or None,
                "step": (key[1], None), "norm": None}
    if key[0] == "step":
        layer, t = key[1]
        return {"kind": "step", "label": f"t={t}", "scope": layer or None, "step": key[1], "norm": None}
    return {"kind": unit.kind, "label": unit.label, "scope": unit.scope, "step": unit.step,
            "norm": _norm(unit.grad)}


def _fans(units: list[_Unit], group_of: list[int], groups: list[dict[str, Any]]) -> dict[int, tuple[int, list]]:
    """Drawn nodes outside the steps that several steps read: node -> (first reader, the steps read)."""
    fans: dict[int, tuple[int, list]] = {}
    for index, unit in enumerate(units):
        head = group_of[index]
        step = groups[head]["step"]
        for parent in unit.parents:
            tail = group_of[parent]
            if step is not None and groups[tail]["step"] is None:
                first, steps = fans.setdefault(tail, (head, []))
                if step not in steps:
                    steps.append(step)
    return {tail: fan for tail, fan in fans.items() if len(fan[1]) > 1}


def _edges(units: list[_Unit], group_of: list[int], on_path: set[int],
           fans: dict[int, tuple[int, list]]) -> list[tuple[int, int, float | None, bool]]:
    """Edges between drawn nodes in first-seen order. Parallel edges merge: gradients of the same tensor add,
    those of different tensors combine as one long vector (norms add in quadrature). A node read by more than
    MAX_FAN steps gets one edge, to the first of them, standing for all."""
    merged: dict[tuple[int, int], list[Any]] = {}
    for index, unit in enumerate(units):
        for parent, flow in zip(unit.parents, unit.flows):
            tail, head = group_of[parent], group_of[index]
            if tail == head:
                continue
            if tail in fans and len(fans[tail][1]) > MAX_FAN and units[index].step is not None:
                head = fans[tail][0]
            tensor = parent if unit.kind == "op" else index
            if flow is None:
                flow = units[tensor].grad
                summed = False
            else:
                summed = True
            entry = merged.setdefault((tail, head), [{}, False])
            previous = entry[0].get(tensor)
            if flow is not None:
                entry[0][tensor] = flow if previous is None or not summed else previous + flow
            elif tensor not in entry[0]:
                entry[0][tensor] = None
            entry[1] = entry[1] or (parent in on_path and index in on_path)
    edges = []
    for (tail, head), (flows, highlighted) in merged.items():
        norms = [_norm(flow) for flow in flows.values() if flow is not None]
        edges.append((tail, head, math.sqrt(sum(n * n for n in norms)) if norms else None, highlighted))
    return edges


# ---- DOT text --------------------------------------------------------------------------------------------------

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
            attrs.append(f'label="{_number(norm)}" fontsize=8 fontcolor="#666666"')
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
            label += f"\n|dL/dh| {_number(norm)}"
            fill = _mix(STEP_RAMP, scale.position(norm))
        elif "\ngrad " not in label and not label.startswith("grad "):
            label += f"\n|grad| {_number(norm)}"
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
                     if _STEP.fullmatch(name) else 'style="rounded" color="#777777" fontsize=12 labeljust=l')
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
                  f'<td>{_number(10 ** scale.low)}</td>{swatches}<td>{_number(10 ** scale.high)}</td>'
                  f'</tr></table></td></tr>')
    return ["subgraph cluster_legend {", '  label="legend" fontsize=10 style="rounded" color="#cccccc"',
            f'  legend [shape=plaintext fontsize=9 label=<<table border="0" cellspacing="1" cellpadding="2">'
            f'{cells}</table>>]', "}"]


# ---- Graphviz ----------------------------------------------------------------------------------------------------

@cache
def _digraph_class() -> type:
    """graphviz.Digraph whose render/pipe say how to install Graphviz when `dot` is missing (imported lazily)."""
    import graphviz

    class Digraph(graphviz.Digraph):
        """The graph as graphviz sees it; `.source` is `to_dot`'s text."""

        def render(self, *args: Any, **kwargs: Any) -> str:
            return _with_dot(lambda: super(Digraph, self).render(*args, **kwargs), graphviz)

        def pipe(self, *args: Any, **kwargs: Any) -> Any:
            return _with_dot(lambda: super(Digraph, self).pipe(*args, **kwargs), graphviz)

    return Digraph


def _with_dot(call: Any, graphviz: Any) -> Any:
    """Run a graphviz call, turning 'dot not found' into an error that says how to install it."""
    if shutil.which("dot") is None:
        raise GraphvizNotFoundError(f"viz: the Graphviz program 'dot' was not found on PATH; {INSTALL_HINT}")
    try:
        return call()
    except graphviz.ExecutableNotFound as error:
        raise GraphvizNotFoundError(f"viz: could not run Graphviz 'dot' ({error}); {INSTALL_HINT}") from None
