"""The inside of one time step, for the page: a step's cell drawn op by op (its gates, the states it reads and
makes, the parameters it uses, where its outputs go) with the gradient each edge carries back.

The steps of a layer repeat one structure, so each structure is laid out once by dot (a template) and every
expanded step brings only its numbers: the norm of what each edge carries back and of each op's output
gradient, measured during the picture's own backward (`flow.NormSink`: no gradient arrays are kept). How many
steps are expanded is bounded (`MAX_EXPANDED_STEPS`), so a 1,000-step page stays small and quick to write.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from .flow import NormSink, Route
from .units import Unit, format_number, format_shape, formula

MAX_EXPANDED_STEPS = 1000
"""At most this many (layer, step) pairs of a page are expanded: every step of a single layer of 1,000 steps
(about 1 kB of numbers each); past it, the drawn steps and every k-th step of each layer."""


class CellNode:
    """One node of a template: its key (what it is in every step of that structure), label and kind."""

    __slots__ = ("key", "kind", "label", "attrs", "hidden", "shape")

    def __init__(self, key: Any, kind: str, label: str, attrs: dict[str, str], hidden: bool = False,
                 shape: tuple[int, ...] = ()) -> None:
        self.key, self.kind, self.label, self.attrs, self.hidden, self.shape = key, kind, label, attrs, hidden, shape


class Template:
    """One cell structure of one layer: nodes, edges (tail, head, on the hidden-state path, input position of
    the head op or -1) and, per node, where its per-step gradient norm comes from."""

    def __init__(self, number: int, layer: str, nodes: list[CellNode], edges: list[tuple[int, int, bool, int]],
                 measured: list[int]) -> None:
        self.number, self.layer, self.nodes, self.edges, self.measured = number, layer, nodes, edges, measured


class ExpandedStep:
    """One expanded step: its template, the sink its edges' norms arrive in, and the vertices of its nodes."""

    __slots__ = ("layer", "t", "template", "sink", "vertices", "values", "shapes")

    def __init__(self, layer: str, t: int, template: Template, sink: NormSink, vertices: list[int],
                 values: list[Any], shapes: dict[int, tuple[int, ...]]) -> None:
        self.layer, self.t, self.template, self.sink = layer, t, template, sink
        self.vertices, self.values, self.shapes = vertices, values, shapes


class Cells:
    """The expanded steps of a page and their templates; `routes` and `measure` go into the picture's backward."""

    def __init__(self) -> None:
        self.templates: list[Template] = []
        self.steps: list[ExpandedStep] = []
        self.routes: dict[int, list[Route]] = {}
        self.measure: set[int] = set()
        self.stride = 1  # the automatic choice's k (every k-th step), 1 when every step is expanded
        self.numbers: list[tuple[ExpandedStep, list, list, list]] = []  # step_numbers, after the backward


def choose_steps(layers: dict[str, list[int]], drawn: dict[str, set[int]], request: Any,
                 where: str) -> tuple[dict[str, list[int]], int]:
    """The steps of each layer to expand, and the stride of the automatic choice: 'auto' is every step when
    there are at most MAX_EXPANDED_STEPS, else the drawn steps and every k-th; an iterable of ints is those
    steps (and the drawn ones) in every layer that has them; None is none."""
    total = sum(len(order) for order in layers.values())
    if request is None:
        return {}, 1
    if isinstance(request, str):
        if request != "auto":
            raise ValueError(f"{where}: expand_steps must be 'auto', None or the time steps to expand (e.g. "
                             f"range(100, 120)), got {request!r}")
        if total <= MAX_EXPANDED_STEPS:
            return {layer: sorted(order) for layer, order in layers.items()}, 1
        room = MAX_EXPANDED_STEPS - sum(len(steps) for steps in drawn.values())
        stride = math.ceil(total / max(room, 1))
        return {layer: sorted(set(drawn.get(layer, ())) | {t for t in order if t % stride == 0})
                for layer, order in layers.items()}, stride
    if not isinstance(request, Iterable) or isinstance(request, (bytes, dict)):
        raise TypeError(f"{where}: expand_steps must be 'auto', None or an iterable of time steps (ints), got "
                        f"{type(request).__name__}")
    wanted = list(request)
    longest = max((max(order) + 1 for order in layers.values() if order), default=0)
    for t in wanted:
        if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or not 0 <= t < longest:
            raise ValueError(f"{where}: expand_steps must hold time steps 0 <= t < {longest} (ints), got {t!r}")
    chosen = {layer: sorted(set(drawn.get(layer, ())) | (set(int(t) for t in wanted) & set(order)))
              for layer, order in layers.items()}
    count = sum(len(steps) for steps in chosen.values())
    if count > MAX_EXPANDED_STEPS:
        raise ValueError(f"{where}: expand_steps asks for {count:,} expanded steps over {len(layers)} layer(s) "
                         f"(with the drawn ones), more than viz.cells.MAX_EXPANDED_STEPS={MAX_EXPANDED_STEPS:,}; "
                         "pass a shorter range")
    return chosen, 1


def plan(units: list[Unit], picture: Any, hidden: set[int], on_path: set[int],
         chosen: dict[str, list[int]]) -> Cells:
    """Templates, expanded steps and the routes that measure their edges (before the backward runs)."""
    cells = Cells()
    wanted = {(layer, t) for layer, steps in chosen.items() for t in steps}
    if not wanted:
        return cells
    ops_of: dict[tuple[str, int], list[int]] = {}
    readers: dict[int, list[int]] = {}
    for index, unit in enumerate(units):
        if unit.kind == "op":
            if unit.step is not None:
                ops_of.setdefault(unit.step, []).append(index)
            for parent in unit.parents:
                readers.setdefault(parent, []).append(index)
    prev_port = _previous_ports(units, ops_of, picture)
    templates: dict[Any, Template] = {}
    for layer, order in picture.layers.items():
        reverse = len(order) > 1 and order[0] > order[-1]
        for t in sorted(order):
            if (layer, t) not in wanted:
                continue
            structure = _structure(units, picture, hidden, on_path, (layer, t), ops_of[(layer, t)], readers,
                                   prev_port, reverse)
            signature, nodes, edges, measured, routes, vertices, values, shapes = structure
            template = templates.get(signature)
            if template is None:
                template = templates[signature] = Template(len(cells.templates), layer, nodes, edges, measured)
                cells.templates.append(template)
            sink = NormSink()
            for node_id, position, edge in routes:
                sink.expect(edge)
                cells.routes.setdefault(node_id, []).append((position, sink, edge))
            cells.measure.update(vertex for vertex in vertices if vertex is not None)
            cells.steps.append(ExpandedStep(layer, t, template, sink, vertices, values, shapes))
    return cells


def _previous_ports(units: list[Unit], ops_of: dict[tuple[str, int], list[int]], picture: Any) -> dict[Any, Any]:
    """(layer, reader role, input position) -> the role of the previous step's state read there, from the
    steps that follow another (so the first step's initial state gets the same port)."""
    found: dict[Any, Any] = {}
    for (layer, t), ops in ops_of.items():
        for index in ops:
            unit = units[index]
            for number, parent in enumerate(unit.parents):
                source = units[parent]
                if source.step is not None and source.step[0] == layer and source.step[1] != t:
                    found[(layer, unit.role, unit.positions[number])] = source.role
    return found


def _structure(units: list[Unit], picture: Any, hidden: set[int], on_path: set[int], step: tuple[str, int],
               ops: list[int], readers: dict[int, list[int]], prev_port: dict[Any, Any], reverse: bool) -> tuple:
    """One step's nodes and edges (keys that are the same in every step of its structure), the routes of its
    edges' gradients, and the vertex whose gradient norm each node shows."""
    layer, t = step
    groups, group_of, names = picture.groups, picture.group_of, picture.state_names
    later, earlier = ("t-1", "t+1") if reverse else ("t+1", "t-1")
    nodes: list[CellNode] = []
    vertices: list[int | None] = []
    node_of: dict[Any, int] = {}
    edges: list[tuple[int, int, bool, int]] = []
    edge_of: dict[tuple[int, int, int], int] = {}
    routes: list[tuple[int, int, int]] = []
    values: list[Any] = []
    inside = set(ops)
    op_number = {index: number for number, index in enumerate(ops)}

    def node(key: Any, make: Any, vertex: int | None) -> int:
        if key not in node_of:
            node_of[key] = len(nodes)
            nodes.append(make())
            vertices.append(vertex)
        return node_of[key]

    def edge(tail: int, head: int, highlighted: bool, position: int) -> int:
        key = (tail, head, position)
        if key not in edge_of:
            edge_of[key] = len(edges)
            edges.append((tail, head, highlighted, position))
        return edge_of[key]

    for index in ops:
        unit = units[index]
        made = units[index + 1]  # the tensor the op made (collect_units puts it right after its op)
        state = names.get((layer, made.role)) if index + 1 in hidden else None
        drawn = _op_node(unit, made, state, step, op_number[index])
        node(("op", unit.role), lambda drawn=drawn: drawn, id(unit.node))
        if made.node.is_context and made.node.output is not None:
            values.append((len(nodes) - 1, made.node.output))
    for index in ops:
        unit = units[index]
        head = node_of[("op", unit.role)]
        for number, parent in enumerate(unit.parents):
            position = unit.positions[number]
            highlighted = parent in on_path and index in on_path
            if parent - 1 in inside and units[parent].kind != "op":
                tail = node_of[("op", units[parent - 1].role)]
            else:
                tail = _port_in(units, parent, unit, position, step, prev_port, names, groups, group_of, earlier,
                                node, hidden)
            number_of_edge = edge(tail, head, highlighted, position)
            routes.append((id(unit.node), position, number_of_edge))
    for index in ops:
        made_index = index + 1
        tail = node_of[("op", units[index].role)]
        for reader in readers.get(made_index, []):
            if reader in inside:
                continue
            target = units[reader]
            if target.step is not None and target.step[0] == layer:
                key, label = ("next",), f"step {later}"
            else:
                number = group_of[reader]
                key, label = ("to", number), _first_line(groups[number].label) or target.op or "later ops"
            head = node(key, lambda key=key, label=label: CellNode(key, "to", label, {"data-kind": "to",
                                                                                     "data-label": label}), None)
            highlighted = made_index in on_path and reader in on_path
            number_of_edge = edge(tail, head, highlighted, -1)
            for slot, parent in enumerate(target.parents):
                if parent == made_index:
                    routes.append((id(target.node), target.positions[slot], number_of_edge))
    measured = [number for number, vertex in enumerate(vertices) if vertex is not None]
    signature = (layer, tuple((n.key, n.label, tuple(sorted(n.attrs.items()))) for n in nodes), tuple(edges))
    shapes = {number: nodes[tail].shape for number, (tail, _head, _on, _position) in enumerate(edges)}
    return signature, nodes, edges, measured, routes, vertices, values, shapes


def _port_in(units: list[Unit], parent: int, reader: Unit, position: int, step: tuple[str, int],
             prev_port: dict[Any, Any], names: dict[Any, str], groups: list[Any], group_of: list[int | None],
             earlier: str, node: Any, hidden: set[int]) -> int:
    """The node standing for what a step reads from outside it: the previous step's state, a parameter, the
    input projection, a leaf drawn inside the step (the data x_t)."""
    layer, t = step
    source = units[parent]
    shape = format_shape(source.shape)
    if source.step is not None and source.step[0] == layer and source.step[1] != t:
        role = source.role
    elif parent in hidden and source.step is None:
        role = prev_port.get((layer, reader.role, position), ("initial", reader.role, position))
    else:
        role = None
    if role is not None:
        name = names.get((layer, role), "s") if not isinstance(role, tuple) else "s"
        label = f"{name}_({earlier})"
        attrs = {"data-kind": "state", "data-label": label, "data-shape": shape}
        return node(("prev", role), lambda: CellNode(("prev", role), "state", label, attrs, True, source.shape),
                    id(source.node))
    number = group_of[parent]
    group = groups[number]
    if group.step is not None and group.step[0] == layer and group.kind in ("step", "elided"):
        label = f"input {shape}"  # a leaf read inside this step alone (x_t)
        attrs = {"data-kind": "input", "data-label": label, "data-shape": shape}
        key = ("in", reader.role, position)
        return node(key, lambda: CellNode(key, "input", label, attrs, False, source.shape), id(source.node))
    label = _first_line(group.label) or source.kind
    kind = "parameter" if group.kind == "parameter" else "input" if group.kind in ("input", "initial") else "outside"
    if kind == "parameter":
        shape = format_shape(_unsliced(units, parent).shape)  # W^T's, not that of the slice read first
    attrs = {"data-kind": kind, "data-label": label, "data-shape": shape}
    if group.norm is not None:
        attrs["data-grad"] = repr(float(group.norm))
    key = ("group", number)
    return node(key, lambda: CellNode(key, kind, label, attrs, False, source.shape), None)


def _unsliced(units: list[Unit], index: int) -> Unit:
    """The tensor a folded slice of a parameter's transpose was cut from (see units.collect_units), else itself."""
    while units[index].kind == "intermediate" and units[index - 1].op == "getitem" and units[index - 1].step is None:
        index = units[index - 1].parents[0]
    return units[index]


def _op_node(unit: Unit, made: Unit, state: str | None, step: tuple[str, int], number: int) -> CellNode:
    """An op of the step: its name (a slice's index too), and what state it makes."""
    ctx = unit.node
    label = unit.label
    if ctx.name == "getitem" and ctx.saved_tensors:
        index = format_index(ctx.saved_tensors[0], step[1])
        if index is not None:
            label = f"{label} {index}"
    if state is not None:
        label += f"\n= {state}_t"
    scope = unit.scope or ""
    layer, t = step
    suffix = scope[len(f"{layer}/t={t}"):] if scope.startswith(f"{layer}/t={t}") else ""
    attrs = {"data-kind": "op", "data-label": _first_line(label), "data-op": ctx.name,
             "data-formula": formula(ctx.function), "data-shape": format_shape(made.shape),
             "data-step-op": str(number), "data-scope-suffix": suffix}
    return CellNode(("op", unit.role), "op", label, attrs, state is not None, made.shape)


def format_index(index: Any, timestep: int | None = None) -> str | None:
    """A basic index as Python writes it ([..., 3:6], [:, 2]), an int equal to `timestep` written t (so step t
    reading x[t] has the structure of every other step); None for anything else (an index array)."""
    parts = index if isinstance(index, tuple) else (index,)
    out = []
    for part in parts:
        if part is Ellipsis:
            out.append("...")
        elif isinstance(part, (int, np.integer)) and not isinstance(part, bool):
            out.append("t" if int(part) == timestep else str(int(part)))
        elif isinstance(part, slice) and part.step is None:
            out.append(("" if part.start is None else str(part.start)) + ":" +
                       ("" if part.stop is None else str(part.stop)))
        else:
            return None
    return "[" + ", ".join(out) + "]"


def _first_line(text: str) -> str:
    return text.split("\n", 1)[0]


def step_numbers(cells: Cells, norms: dict[int, float]) -> list[tuple[ExpandedStep, list, list, list]]:
    """Per expanded step: its edges' norms, its measured nodes' norms and a few values of its ops' outputs."""
    out = []
    for expanded in cells.steps:
        template = expanded.template
        expanded.sink.finish(expanded.shapes)
        edges = [expanded.sink.norms.get(number) for number in range(len(template.edges))]
        nodes = [norms.get(expanded.vertices[number]) for number in template.measured]
        values = [None] * len(template.nodes)
        for number, output in expanded.values:
            data = np.asarray(output.data).reshape(-1)
            if data.size:
                values[number] = " ".join(format_number(float(v)) for v in data[:8])
        out.append((expanded, edges, nodes, values))
    return out


# ---- drawing a template ----------------------------------------------------------------------------------------

def template_dot(template: Template, edge_norms: list[float | None], scale: Any) -> str:
    """A template as its own DOT graph, drawn with the numbers of one of its steps (what the page shows without
    JavaScript); ids `c<k>n<i>` and `c<k>e<j>`, which the page's script re-numbers for each step."""
    from .dot import COLOURS, HIDDEN_BORDER, quote

    prefix = f"c{template.number}"
    lines = [f"digraph cell{template.number} {{",
             'graph [rankdir=LR nodesep=0.15 ranksep=0.3 fontname="Helvetica" fontsize=10]',
             'node [fontname="Helvetica" fontsize=9 height=0.25 margin="0.05,0.02"]',
             'edge [arrowsize=0.5 fontname="Helvetica" fontsize=8 fontcolor="#555555" color="#555555"]']
    fills = {"state": COLOURS["hidden"], "parameter": COLOURS["parameter"], "input": COLOURS["input"],
             "outside": "#ffffff", "to": "#ffffff"}
    for number, cell_node in enumerate(template.nodes):
        ident = f'id="{prefix}n{number}"'
        if cell_node.kind == "op":
            fill = COLOURS["hidden"] if cell_node.hidden else COLOURS["op"]
            border = f'color="{HIDDEN_BORDER}" penwidth=1.4' if cell_node.hidden else 'color="#999999"'
            lines.append(f'{prefix}n{number} [label={quote(cell_node.label)} shape=ellipse style=filled '
                         f'fillcolor="{fill}" {border} {ident}]')
        else:
            style = '"rounded,filled,dashed"' if cell_node.kind in ("state", "to") else '"rounded,filled"'
            border = f' color="{HIDDEN_BORDER}"' if cell_node.kind == "state" else ' color="#999999"'
            lines.append(f'{prefix}n{number} [label={quote(cell_node.label)} shape=box style={style} '
                         f'fillcolor="{fills[cell_node.kind]}"{border} {ident}]')
    ins = [f"{prefix}n{n}" for n, c in enumerate(template.nodes) if c.kind not in ("op", "to")]
    outs = [f"{prefix}n{n}" for n, c in enumerate(template.nodes) if c.kind == "to"]
    if ins:
        lines.append("{rank=source; " + " ".join(ins) + "}")
    if outs:
        lines.append("{rank=sink; " + " ".join(outs) + "}")
    for number, ((tail, head, highlighted, _position), norm) in enumerate(zip(template.edges, edge_norms)):
        lines.append(f"{prefix}n{tail} -> {prefix}n{head} [{' '.join(edge_style(norm, highlighted, scale))} "
                     f'id="{prefix}e{number}"]')
    lines.append("}")
    return "\n".join(lines) + "\n"


def edge_style(norm: float | None, highlighted: bool, scale: Any) -> list[str]:
    """Colour, width and label of a cell's edge, on the picture's own scale (the page's script does the same)."""
    from .dot import EDGE_RAMP, HIDDEN_RAMP, MAX_WIDTH, MIN_WIDTH, NO_GRADIENT, mix

    if norm is None:
        return [f'color="{NO_GRADIENT}"', "style=dotted", 'label="none"']
    position = scale.position(norm)
    style = [f'color="{mix(HIDDEN_RAMP if highlighted else EDGE_RAMP, position)}"',
             f"penwidth={MIN_WIDTH + (MAX_WIDTH - MIN_WIDTH) * position:.2f}", f'label="{format_number(norm)}"']
    return style + (["style=dashed"] if norm == 0 else [])
