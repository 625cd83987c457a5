"""The interactive page: one self-contained HTML file (Graphviz's SVG, inline CSS and JavaScript, no network,
the same bytes for the same input).

Every drawn node and edge carries its numbers as data attributes (`data-grad`: the norm of the node's gradient,
or of the gradient the edge carries back), and an SVG <title> tooltip, so the static picture reads without
JavaScript. With it: hover shows the op, its formula (the op's docstring), scope, shape, values and gradient;
clicking a hidden state highlights every path from it to the loss and lists the per-step factors
||d s_t / d s_(t-1)|| along its layer (`factors.py`); a time slider picks a step (also one inside an elided run)
and shows its numbers; with `snapshots`, a second slider moves through training and recolours the steps and
the chart by the gradient norms recorded then.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import GraphError
from ..graph import Node, toposort, vertex
from .dot import html_text
from .factors import step_factors
from .units import format_number, formula, norm


@cache
def _asset(name: str) -> str:
    """The text of `page.css` or `page.js` beside this module (inlined into every page: no network)."""
    return files(__package__).joinpath(name).read_text(encoding="utf-8")


def page(root: Node, target: Path, snapshots: Any, options: dict[str, Any], expand_steps: Any = "auto",
         step_labels: Any = None) -> str:
    """The page's text."""
    from . import dot_statements, prepare, run_dot

    labels = _labels(step_labels)
    recorded = _snapshots(snapshots, root)
    prepared = prepare("to_html", root, options, expand_steps)
    if prepared.scale is None:
        raise ValueError("viz.to_html: the page shows gradients; show_grad=False has nothing for it to show")
    picture, units = prepared.picture, prepared.units
    data = _layer_data(prepared)
    _check_labels(labels, data)
    text = "digraph tinygrad_rnn {\n" + "".join(line + "\n" for line in dot_statements(prepared, ids=True)) + "}\n"
    svg = run_dot(text, "svg", target).decode("utf-8")
    layers_in_graph = {layer["name"] for layer in data}
    for number, snapshot in enumerate(recorded):
        unknown = [name for name in list(snapshot["hidden"]) + list(snapshot["cell"]) if name not in layers_in_graph]
        if unknown:
            raise ValueError(f"viz.to_html: snapshot {number} (training step {snapshot['step']}) records layer "
                             f"{unknown[0]!r}, which is not in this graph (its layers: "
                             f"{', '.join(sorted(layers_in_graph)) or 'none'})")
    nodes, edges = {}, {}
    for number, group in enumerate(picture.groups):
        if group.kind != "hidden-away":
            nodes[number] = _node_attributes(number, group, units, prepared.hidden, labels)
    for number, edge in enumerate(picture.edges):
        edges[number] = {"data-tail": f"n{edge.tail}", "data-head": f"n{edge.head}",
                         "data-grad": _number(edge.norm), "data-on-hidden-path": "1" if edge.highlighted else "0",
                         "title": f"gradient sent back along this edge: ||·|| = {_short(edge.norm)}"
                                  + (f" (one edge for {abs(edge.fan)} steps)" if edge.fan else "")}
    svg = _annotate(svg, [("n", nodes, "node"), ("e", edges, "edge")])
    cells_html, cells_data = _cells(prepared, target, run_dot)
    scale = prepared.scale
    payload = {"layers": data, "snapshots": recorded, "title": prepared.settings["title"] or "",
               "scale": [scale.low, scale.high], "cells": cells_data, "step_labels": labels}
    title = html_text(prepared.settings["title"] or "tinygrad-rnn: gradient flow through time")
    return "".join([
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
        f"<title>{title}</title>\n<style>\n{_asset('page.css')}</style>\n</head>\n<body>\n",
        f"<header><h1>{title}</h1><p>Backpropagation through time, read from the recorded graph: each edge's "
        "width and colour is the norm of the gradient it carries back. Hover a node or an edge for its numbers; "
        "click a hidden state to see every path from it to the loss and the factor each step multiplies the "
        "gradient by.</p></header>\n",
        _controls(data, recorded),
        "<main>\n<div id=\"graph\">\n", svg, "</div>\n<aside id=\"info\"><p class=\"hint\">Hover a node or an edge."
        "</p></aside>\n</main>\n", cells_html,
        "<section id=\"below\"><div id=\"timeline\"></div><div id=\"chart\"></div></section>\n",
        "<script type=\"application/json\" id=\"tg-data\">", _json(payload).replace("</", "<\\/"), "</script>\n",
        f"<script>\n{_asset('page.js')}</script>\n</body>\n</html>\n"])


def _controls(data: list[dict[str, Any]], recorded: list[dict[str, Any]]) -> str:
    steps = max((len(layer["hidden"]) for layer in data), default=0)
    parts = ["<nav id=\"controls\">"]
    if steps:
        parts.append(f"<label>time step t <input type=\"range\" id=\"time\" min=\"0\" max=\"{steps - 1}\" "
                     f"value=\"{steps - 1}\"></label> <output id=\"time-label\">t={steps - 1}</output>")
    if recorded:
        parts.append(f"<label>training <input type=\"range\" id=\"snapshot\" min=\"0\" max=\"{len(recorded)}\" "
                     f"value=\"{len(recorded)}\"></label> <output id=\"snapshot-label\">the graph as drawn</output>")
    zooms = "".join(f"<option value=\"{value}\">{value * 100:.0f}%</option>" for value in (0.5, 0.75, 1, 1.5, 2))
    parts.append(f"<label>zoom <select id=\"zoom\"><option value=\"fit\" selected>fit the width</option>{zooms}"
                 "</select></label>")
    parts.append("</nav>\n")
    return " ".join(parts)


def _labels(step_labels: Any) -> list[str] | None:
    """The caller's step_labels as a list of strings (or None), each checked."""
    if step_labels is None:
        return None
    if isinstance(step_labels, str):
        raise ValueError(f"viz.to_html: step_labels must be a list of strings, one per time step, got the string "
                         f"{step_labels[:20]!r}; pass list(text) for one character per step")
    try:
        items = list(step_labels) if not isinstance(step_labels, (bytes, Mapping)) else None
    except TypeError:
        items = None
    if items is None:
        raise ValueError(f"viz.to_html: step_labels must be a list of strings, one per time step, got "
                         f"{type(step_labels).__name__}")
    for t, label in enumerate(items):
        if not isinstance(label, str):
            raise ValueError(f"viz.to_html: step_labels[{t}] is {type(label).__name__} ({label!r:.40}); expected a "
                             "string (the label of time step t)")
    return [str(label) for label in items]


def _check_labels(labels: list[str] | None, data: list[dict[str, Any]]) -> None:
    """One label per time step of the graph's recurrent layers."""
    if labels is None:
        return
    steps = max((len(layer["hidden"]) for layer in data), default=0)
    if steps == 0:
        raise ValueError(f"viz.to_html: step_labels has {len(labels)} labels, but this graph has no time steps "
                         "(no recurrent layer with gradients); pass step_labels=None")
    if len(labels) != steps:
        raise ValueError(f"viz.to_html: step_labels has {len(labels)} labels; this graph has {steps} time steps "
                         f"(t=0..{steps - 1}): expected {steps} strings, one per step")


def _node_attributes(number: int, group: Any, units: list[Any], hidden: set[int],
                     labels: list[str] | None = None) -> dict[str, str]:
    """Data attributes and tooltip of one drawn node."""
    attrs = {"data-kind": group.kind, "data-label": group.label.split("\n")[0], "data-grad": _number(group.norm)}
    main = units[group.members[0]] if group.members else None
    if group.kind == "op" and group.members:
        made = [units[i] for i in group.members if units[i].kind != "op"]
        if made:
            attrs["data-grad"] = _number(made[-1].grad_norm)
    if group.step is not None and group.kind in ("step", "elided"):
        attrs["data-layer"] = group.step[0]
        if group.step[1] is not None:
            attrs["data-t"] = str(group.step[1])
            if labels is not None:
                attrs["data-step-label"] = labels[group.step[1]]
        if group.cell_norm is not None:
            attrs["data-cell-grad"] = _number(group.cell_norm)
        if group.kind == "elided":
            attrs["data-steps"] = str(group.count)
            inside = [units[index].step[1] for index in group.members if units[index].step is not None]
            attrs["data-from"], attrs["data-to"] = str(min(inside)), str(max(inside))
    if group.hidden or group.kind == "step":
        attrs["data-hidden"] = "1"
    lines = [group.label.split("\n")[0] or group.kind]
    if "data-step-label" in attrs:
        lines[0] += " " + json.dumps(attrs["data-step-label"], ensure_ascii=False)
    if main is not None and group.kind not in ("step", "elided", "pre", "post", "join"):
        op_unit = next((units[i] for i in group.members if units[i].kind == "op"), None)
        if op_unit is not None:
            attrs["data-op"] = op_unit.node.name
            attrs["data-formula"] = formula(op_unit.node.function)
            lines.append(f"op {op_unit.node.name}: {attrs['data-formula']}")
        tensor = next((units[i] for i in group.members if units[i].kind != "op"), main)
        attrs["data-shape"] = "(" + ", ".join(str(n) for n in tensor.shape) + ")"
        scope = tensor.node.scope if tensor.node.is_context else None
        attrs["data-scope"] = scope or ""
        values = tensor.values
        if values:
            attrs["data-values"] = " ".join(format_number(v) for v in values[:8])
        lines += [f"scope {scope}" if scope else "", f"shape {attrs['data-shape']}",
                  f"values {attrs['data-values']}" if values else ""]
    if group.kind in ("pre", "post"):
        attrs["data-ops"] = group.label.split("\n", 1)[-1]
    if group.norm is not None:
        what = "||dL/dh_t||" if group.kind in ("step", "elided") else "||grad||"
        lines.append(f"{what} {_short(group.norm)}")
    if group.cell_norm is not None:
        lines.append(f"||dL/dc_t|| {_short(group.cell_norm)}")
    if group.ends is not None:  # a packed batch: who ends here, and the gradient reaching their h_n
        attrs["data-ends"] = group.ends
        lines.append(group.ends)
        if group.final_norm is not None:
            attrs["data-final-grad"] = _number(group.final_norm)
            lines.append(f"||dL/dh_n|| {_short(group.final_norm)}")
    attrs["title"] = "\n".join(line for line in lines if line)
    return attrs


def _layer_data(prepared: Any) -> list[dict[str, Any]]:
    """Per layer: its steps, ||dL/dh_t|| and ||dL/dc_t|| for every t, and the per-step factors."""
    units, picture = prepared.units, prepared.picture
    hidden_norms: dict[str, dict[int, float]] = {}
    cell_norms: dict[str, dict[int, float]] = {}
    for index in sorted(prepared.hidden):
        unit = units[index]
        if unit.step is None or unit.kind == "op" or unit.grad_norm is None:
            continue
        layer, t = unit.step
        state = picture.state_names.get((layer, unit.role), "h")
        target = cell_norms if state == "c" else hidden_norms
        target.setdefault(layer, {})[t] = math.hypot(target.get(layer, {}).get(t, 0.0), unit.grad_norm)
    factors = step_factors(units, prepared.hidden, picture.layers)
    data = []
    for layer, order in picture.layers.items():
        count = max(order) + 1
        hidden = hidden_norms.get(layer, {})
        if not hidden:
            continue
        cells = cell_norms.get(layer, {})
        found = factors.get(layer, {})
        data.append({"name": layer, "order": order,
                     "hidden": [hidden.get(t) for t in range(count)],
                     "cell": [cells.get(t) for t in range(count)] if cells else None,
                     "factors": [found.get(t) for t in range(count)] if found else None})
    return data


def _snapshots(snapshots: Any, root: Node) -> list[dict[str, Any]]:
    """Recorded backward passes as plain data: FlowSnapshot-like objects (step, loss, hidden, cell, grad_norm,
    clipped_norm), or losses whose graphs kept their gradients (backward(retain_grads=True))."""
    if snapshots is None:
        return []
    if isinstance(snapshots, (str, bytes)) or not isinstance(snapshots, Sequence):
        raise TypeError(f"viz.to_html: snapshots must be a list (e.g. analysis.FlowRecorder(...).snapshots), got "
                        f"{type(snapshots).__name__}")
    if len(snapshots) == 0:
        raise ValueError("viz.to_html: snapshots is empty; pass None for a page without the training slider, or "
                         "record at least one (analysis.FlowRecorder(model, every=N) during training)")
    recorded = []
    for number, snapshot in enumerate(snapshots):
        if isinstance(snapshot, Node):
            recorded.append(_from_loss(snapshot, number))
            continue
        missing = [name for name in ("step", "loss", "hidden") if not hasattr(snapshot, name)]
        if missing:
            raise TypeError(f"viz.to_html: snapshot {number} ({type(snapshot).__name__}) has no {missing[0]!r}; "
                            "expected FlowSnapshot-like objects (step, loss, hidden, cell, grad_norm, clipped_norm) "
                            "or losses after backward(retain_grads=True)")
        recorded.append({"step": int(snapshot.step), "loss": _float(snapshot.loss),
                         "grad_norm": _float(getattr(snapshot, "grad_norm", None)),
                         "clipped_norm": _float(getattr(snapshot, "clipped_norm", None)),
                         "hidden": _arrays(snapshot.hidden, number, "hidden"),
                         "cell": _arrays(getattr(snapshot, "cell", None) or {}, number, "cell")})
    return recorded


def _from_loss(loss: Node, number: int) -> dict[str, Any]:
    """A snapshot read from a loss whose backward kept every gradient: ||dL/dh_t|| of its hidden states."""
    from .units import attach, collect_units, hidden_path

    if not loss.requires_grad or vertex(loss).grad is None:
        raise GraphError(f"viz.to_html: snapshot {number} is a loss without recorded gradients; call "
                         "loss.backward(retain_grads=True) on it before the optimizer step")
    from .flow import Flow

    flow = Flow()
    order = toposort(vertex(loss), all_inputs=True)
    for node in order:
        if node.grad is not None:
            flow.norm[id(node)] = norm(node.grad)
    units, _ = collect_units(loss, None, 0, order)
    attach(units, flow)
    hidden, _, _ = hidden_path(units)
    per_layer: dict[str, dict[int, float]] = {}
    for index in sorted(hidden):
        unit = units[index]
        if unit.step is not None and unit.kind != "op" and unit.grad_norm is not None:
            layer, t = unit.step
            per_layer.setdefault(layer, {})[t] = math.hypot(per_layer.get(layer, {}).get(t, 0.0), unit.grad_norm)
    hidden_arrays = {layer: [values.get(t) for t in range(max(values) + 1)] for layer, values in per_layer.items()}
    return {"step": number, "loss": _float(np.asarray(loss.data).item()), "grad_norm": None, "clipped_norm": None,
            "hidden": hidden_arrays, "cell": {}}


def _arrays(mapping: Any, number: int, what: str) -> dict[str, list[float | None]]:
    if not hasattr(mapping, "items"):
        raise TypeError(f"viz.to_html: snapshot {number}: {what} must map layer names to arrays, got "
                        f"{type(mapping).__name__}")
    out = {}
    for name, values in mapping.items():
        array = np.asarray(values, dtype=np.float64)
        if array.ndim != 1:
            raise ValueError(f"viz.to_html: snapshot {number}: {what}[{name!r}] must have shape (T,), got "
                             f"{array.shape}")
        out[str(name)] = [_float(value) for value in array]
    return out


def _float(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _number(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def _short(value: float | None) -> str:
    return "none flows" if value is None else format_number(value)


def _json(payload: Any) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _annotate(svg: str, tables: list[tuple[str, dict[int, dict[str, str]], str]]) -> str:
    """Graphviz's SVG with our data attributes on each node's and edge's <g> (ids prefix + number), and its
    <title> as the tooltip."""
    start = svg.find("<svg")
    svg = svg[start:]
    for prefix, table, kind in tables:
        for number, attrs in table.items():
            opening = f'<g id="{prefix}{number}" class="{kind}">'
            at = svg.find(opening)
            if at < 0:
                continue
            title_start = svg.find("<title>", at)
            title_end = svg.find("</title>", title_start)
            extra = "".join(f' {name}="{html_text(value)}"' for name, value in attrs.items() if name != "title")
            svg = (svg[:at] + f'<g id="{prefix}{number}" class="{kind}"{extra}>' + svg[at + len(opening):title_start]
                   + "<title>" + html_text(attrs["title"]).replace("<br/>", "\n") + svg[title_end:])
    return svg


def _cells(prepared: Any, target: Path, run_dot: Any) -> tuple[str, dict[str, Any] | None]:
    """The expanded steps: each template's SVG (one dot run for all of them, drawn with the numbers of its last
    step) and, per layer and step, the numbers the page's script puts on it."""
    from .cells import MAX_EXPANDED_STEPS, template_dot

    cells = prepared.cells
    if cells is None or not cells.numbers:
        return "", None
    shown: dict[int, Any] = {}
    for numbers in cells.numbers:
        shown[numbers[0].template.number] = numbers  # its last step (steps come in order of t)
    texts = [template_dot(template, shown[template.number][1], prepared.scale) for template in cells.templates]
    documents = run_dot("".join(texts), "svg", target).decode("utf-8").split("<?xml")[1:]
    if len(documents) != len(cells.templates):
        raise RuntimeError(f"viz.to_html: dot drew {len(documents)} of {len(cells.templates)} cell templates")
    first = cells.numbers[0][0].layer
    initial = max((numbers for numbers in cells.numbers if numbers[0].layer == first), key=lambda n: n[0].t)
    parts = ["<section id=\"cell\"><h2 id=\"cell-title\">inside one step</h2><p id=\"cell-note\" class=\"hint\">"
             "</p>\n"]
    templates = []
    for template, document in zip(cells.templates, documents):
        expanded, edge_norms, node_norms, values = shown[template.number]
        prefix = f"c{template.number}"
        node_attrs, edge_attrs = {}, {}
        grads = dict(zip(template.measured, node_norms))
        for number, cell_node in enumerate(template.nodes):
            attrs = dict(cell_node.attrs)
            if number in grads:
                attrs["data-grad"] = _number(grads[number])
            attrs.update({"data-layer": expanded.layer, "data-t": str(expanded.t)})
            if values[number]:
                attrs["data-values"] = values[number]
            if cell_node.kind == "op":
                attrs["data-scope"] = f"{expanded.layer}/t={expanded.t}{attrs.pop('data-scope-suffix')}"
            lines = [cell_node.label.replace("\n", " "), attrs.get("data-op", "") and
                     f"op {attrs['data-op']}: {attrs['data-formula']}", f"shape {attrs.get('data-shape', '')}"
                     if attrs.get("data-shape") else "", f"||grad|| {_short(grads[number])}" if number in grads
                     else ""]
            attrs["title"] = "\n".join(line for line in lines if line)
            node_attrs[number] = attrs
        for number, ((tail, head, highlighted, position), norm_value) in enumerate(zip(template.edges, edge_norms)):
            edge_attrs[number] = {"data-tail": f"{prefix}n{tail}", "data-head": f"{prefix}n{head}",
                                  "data-grad": _number(norm_value), "data-on-hidden-path": "1" if highlighted else "0",
                                  "title": f"gradient sent back along this edge: ||·|| = {_short(norm_value)}"}
            if position >= 0:
                edge_attrs[number]["data-input"] = str(position)
        svg = _annotate("<?xml" + document, [(prefix + "n", node_attrs, "node"), (prefix + "e", edge_attrs, "edge")])
        hidden = "" if template is initial[0].template else " hidden"
        parts.append(f"<div class=\"cell-template\" id=\"{prefix}\" data-layer=\"{html_text(template.layer)}\"{hidden}>"
                     f"\n{svg}</div>\n")
        templates.append({"layer": template.layer, "measured": template.measured,
                          "edges": [[tail, head, int(on)] for tail, head, on, _position in template.edges],
                          "ops": [number for number, node in enumerate(template.nodes) if node.kind == "op"],
                          "suffix": {str(number): node.attrs["data-scope-suffix"]
                                     for number, node in enumerate(template.nodes)
                                     if node.kind == "op" and node.attrs["data-scope-suffix"]}})
    parts.append("</section>\n")
    steps: dict[str, dict[str, Any]] = {}
    for expanded, edge_norms, node_norms, values in cells.numbers:
        entry: list[Any] = [expanded.template.number, edge_norms, node_norms]
        if any(values):
            entry.append(values)
        steps.setdefault(expanded.layer, {})[str(expanded.t)] = entry
    total = sum(len(order) for order in prepared.picture.layers.values())
    data = {"templates": templates, "steps": steps, "stride": cells.stride, "expanded": len(cells.numbers),
            "total": total, "limit": MAX_EXPANDED_STEPS}
    return "".join(parts), data
