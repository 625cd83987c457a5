"""What is drawn: the graph cut into units (tensor boxes, op ellipses) with their labels, time steps, roles and
the gradient along each edge, the hidden-state path, and the grouping of units into drawn nodes and edges."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..analysis.edges import input_gradients
from ..graph import Node, toposort, vertex

MAX_FAN = 16
"""A node read by more steps than this gets one edge labelled 'into each of N steps' (dot slows down a lot
routing hundreds of long edges)."""
STEP_SCOPE = re.compile(r"t=(\d+)")  # the part of a scope that names a time step


class Unit:
    """One tensor box or op ellipse, before grouping; `flows[i]` is the gradient along the edge from parents[i]."""

    __slots__ = ("kind", "node", "scope", "label", "grad", "step", "role", "parents", "flows")

    def __init__(self, kind: str, node: Node, scope: str | None, label: str) -> None:
        self.kind, self.node, self.scope, self.label = kind, node, scope, label
        self.grad = None if kind == "op" or node.grad is None else np.asarray(node.grad, dtype=np.float64)
        self.step = _step_of(scope)
        self.role: int | None = None
        self.parents: list[int] = []
        self.flows: list[Any] = []


def collect_units(root: Node, params: Mapping[str, Node] | None,
                  max_values: int) -> tuple[list[Unit], dict[int, int]]:
    """Tensor and op units in topological order, and units folded into another (a transposed parameter is
    drawn as the parameter). One-element constants without grad appear inside their op's label."""
    names = {id(tensor): name for name, tensor in (params or {}).items()}
    held, root = root, vertex(root)  # the root itself is in hand: its name and values can be shown
    nodes = toposort(root, all_inputs=True)
    reader_scopes: dict[int, list[str | None]] = {}
    for node in nodes:
        if node.is_context:
            for parent in node.parents:
                reader_scopes.setdefault(id(parent), []).append(node.scope)
    units: list[Unit] = []
    unit_of: dict[int, int] = {}
    folded: dict[int, int] = {}
    for node in nodes:
        if not node.is_context:
            name = names.get(id(node), node.name)
            if not node.requires_grad and name is None and np.size(node.data) == 1 and node is not root:
                continue
            parameter = id(node) in names or (params is None and node.requires_grad)
            kind = "output" if node is root else "parameter" if parameter else "input"
            scopes = reader_scopes.get(id(node), [])
            shared = parameter or not scopes or any(scope != scopes[0] for scope in scopes)
            unit_of[id(node)] = len(units)
            units.append(Unit(kind, node, None if shared else scopes[0], _tensor_label(node, node, name,
                                                                                      max_values)))
            continue
        ctx, output = node, (held if node is root else node.output)  # an output is kept only under keep_values
        name = None if output is None else names.get(id(output), output.name)
        drawn = [unit_of.get(id(parent)) for parent in ctx.parents]
        args = ["·" if index is not None else format_number(np.asarray(parent.data).item())
                for index, parent in zip(drawn, ctx.parents)]
        op = Unit("op", node, ctx.scope, ctx.name if None not in drawn else f"{ctx.name}({', '.join(args)})")
        op.parents = [index for index in drawn if index is not None]
        op.flows = _flows(node, [index is not None for index in drawn])
        tensor = Unit("output" if node is root else "intermediate", node, ctx.scope,
                       _tensor_label(node, output, name, max_values))
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
        match = STEP_SCOPE.fullmatch(parts[index])
        if match:
            return "/".join(parts[:index]), int(match.group(1))
    return None


def _assign_roles(units: list[Unit]) -> None:
    """Number the units each step made, in order: the same role in two steps is the same part of the cell."""
    counters: dict[tuple[str, int], int] = {}
    for unit in units:
        if unit.step is not None and unit.node.is_context:
            unit.role = counters.get(unit.step, 0)
            counters[unit.step] = unit.role + 1


def _tensor_label(node: Any, value: Node | None, name: str | None, max_values: int) -> str:
    """Name, shape and (for a tiny tensor whose `value` is in hand) values; for a scalar Value, its data and
    grad. `node` is the vertex: a leaf, or an op's context standing for its output."""
    lines = [name] if name else []
    if value is None:
        shape = node.grad_shape
        lines.append("(" + ", ".join(str(n) for n in shape) + ("," if len(shape) == 1 else "") + ")")
        return "\n".join(lines)
    data = value.data
    if isinstance(data, float):
        lines.append(f"data {format_number(data)}")
        if node.grad is not None:
            lines.append(f"grad {format_number(float(node.grad))}")
        return "\n".join(lines)
    lines.append("(" + ", ".join(str(n) for n in data.shape) + ("," if data.ndim == 1 else "") + ")")
    if 0 < data.size <= max_values:
        lines.append("[" + " ".join(format_number(float(v)) for v in data.reshape(-1)) + "]")
    return "\n".join(lines)


def format_number(value: float) -> str:
    """A short number in a fixed format (the same bytes on every run)."""
    return "0" if value == 0 else f"{value:.3g}"


def _norm(array: Any) -> float | None:
    return None if array is None else float(np.linalg.norm(array))


# ---- the hidden state ----------------------------------------------------------------------------------------

def hidden_path(units: list[Unit]) -> tuple[set[int], set[int]]:
    """Hidden-state units and the units on the paths between them (within one layer).

    A hidden state is a tensor made in one step and read in the next step the same layer ran (t+1, or t-1
    for a reverse direction); the tensors in the other steps that play the same role (the last step's state)
    are hidden too, and so is the initial state the first step reads where later steps read a hidden state.
    """
    previous: dict[tuple[str, int], int] = {}
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    for unit in units:  # steps in the order they ran
        if unit.step is not None and unit.step not in previous and unit.node.is_context:
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

def group_units(units: list[Unit], folded: dict[int, int], hidden: set[int], collapse: str | None,
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
        if key[0] == "step" and index in hidden and unit.grad is not None and unit.node.is_context:
            group = groups[key_index[key]]
            group["norm"] = math.hypot(group["norm"] or 0.0, _norm(unit.grad))
    return groups, group_of


def _new_group(key: tuple[Any, ...], unit: Unit, elided: dict[str, list[int]]) -> dict[str, Any]:
    """A drawn node: its kind, label, cluster scope, step and gradient norm."""
    if key[0] == "elided":
        return {"kind": "elided", "label": f"... {len(elided[key[1]])} steps ...", "scope": key[1] or None,
                "step": (key[1], None), "norm": None}
    if key[0] == "step":
        layer, t = key[1]
        return {"kind": "step", "label": f"t={t}", "scope": layer or None, "step": key[1], "norm": None}
    return {"kind": unit.kind, "label": unit.label, "scope": unit.scope, "step": unit.step,
            "norm": _norm(unit.grad)}


def fan_outs(units: list[Unit], group_of: list[int], groups: list[dict[str, Any]]) -> dict[int, tuple[int, list]]:
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


def merged_edges(units: list[Unit], group_of: list[int], on_path: set[int],
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
