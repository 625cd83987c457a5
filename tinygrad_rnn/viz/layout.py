"""Units grouped into what is drawn: one node per unit, or one per cell per step (collapsed), an elided run
of middle steps, layers as rows, and the edges between drawn nodes with the gradient each carries.

Collapsed (the default), each layer's plumbing becomes one node before its steps ("pre": the input projection
of the whole sequence) and one after ("post": the outputs stacked); `merge` then joins the layers and fans the
edges.
"""

from __future__ import annotations

import math
from typing import Any

from .flow import Route
from .merge import fans, join_layers, one_edge_per_step
from .picture import FINAL, Edge, Group, Picture
from .units import Unit, is_packing, step_of


def arrange(units: list[Unit], folded: dict[int, int], hidden: set[int], on_path: set[int], initial: set[int],
           collapse: bool, max_steps: int | None, intermediates: bool) -> tuple[Picture, dict[int, list[Route]]]:
    """Group `units` into drawn nodes and edges, before any gradient is known; and the routes that say which
    gradients the edges carry (for `compute_flow`, which adds them into `Edge.flows`). `finish` then measures."""
    picture = Picture()
    steps = picture.layers
    seen: set[tuple[str, int]] = set()
    for unit in units:
        if unit.step is not None and unit.step not in seen:
            seen.add(unit.step)
            steps.setdefault(unit.step[0], []).append(unit.step[1])
    elided: dict[str, set[int]] = {}
    if max_steps is not None:
        for layer, timesteps in steps.items():
            ordered = sorted(timesteps)
            if len(ordered) > max_steps:
                elided[layer] = set(ordered[max_steps - max_steps // 2:len(ordered) - max_steps // 2])
    picture.state_names = _state_names(units, hidden, steps)
    placement = _placement(units, steps) if collapse else {}
    keys: dict[Any, int] = {}
    for index, unit in enumerate(units):
        key, make = _key(index, unit, units, folded, hidden, collapse, elided, placement, intermediates, steps)
        if key not in keys:
            keys[key] = len(picture.groups)
            picture.groups.append(make())
        number = keys[key]
        picture.group_of.append(number)
        drawn = picture.groups[number]
        drawn.members.append(index)
        if index in hidden:
            drawn.hidden = drawn.hidden or drawn.kind not in ("pre", "post")
        if index in initial:
            drawn.kind = "initial"
            if unit.name is None:  # h_0, then c_0, in the order the layer's first step reads them
                layer = drawn.scope or ""
                named = sum(g.kind == "initial" and g.scope == drawn.scope for g in picture.groups) - 1
                drawn.label = f"{('h', 'c')[named] if named < 2 else 's' + str(named)}_0 {layer}".rstrip() + \
                    "\n" + unit.label
    return picture, _edges(picture, units, on_path)


def finish(picture: Picture, units: list[Unit], hidden: set[int], collapse: bool) -> None:
    """With the units' gradient norms and the edges' gradients in hand: each node's norm (a step's: its states'
    together), the junctions between layers, the fans and the ranks."""
    groups, group_of = picture.groups, picture.group_of
    for index in sorted(hidden):
        unit = units[index]
        drawn = groups[group_of[index]]
        if unit.node.is_context and unit.grad_norm is not None and drawn.kind in ("step", "elided"):
            if picture.state_names.get((unit.step[0], unit.role), "h") == "c":
                drawn.cell_norm = math.hypot(drawn.cell_norm or 0.0, unit.grad_norm)
            else:
                drawn.norm = math.hypot(drawn.norm or 0.0, unit.grad_norm)
    for group in groups:
        if group.kind not in ("step", "elided", "pre", "post") and group.norm is None and len(group.members) >= 1:
            main = units[group.members[-1]] if group.kind == "op" else units[group.members[0]]
            group.norm = main.grad_norm
            if main.grad_value is not None and isinstance(main.values, list) and len(main.values) == 1 \
                    and not main.shape:
                group.signed = main.grad_value  # a scalar (a Value, a loss) shows its gradient with its sign
    if collapse:
        join_layers(picture, units)
    else:
        one_edge_per_step(picture, {group_of[index] for index, unit in enumerate(units) if unit.sliced})
    fans(picture, collapse)
    _ranks(picture, collapse)


def _state_names(units: list[Unit], hidden: set[int], steps: dict[str, list[int]]) -> dict[tuple[str, Any], str]:
    """Each layer's hidden roles named: 'h' for the state read outside the steps (the layer's output), 'c' for
    a second one (an LSTM's cell state), then 's2', 's3', ..."""
    outside: dict[tuple[str, Any], int] = {}
    for unit in units:
        for parent in unit.parents:
            if parent in hidden and units[parent].step is not None:
                key = (units[parent].step[0], units[parent].role)
                outside.setdefault(key, 0)
                if unit.step is None or unit.step[0] != key[0]:
                    outside[key] += 1
    names: dict[tuple[str, Any], str] = {}
    for layer in steps:
        roles = sorted((key for key in outside if key[0] == layer), key=lambda key: (-outside[key], key[1] or 0))
        for rank, key in enumerate(roles):
            names[key] = ("h", "c")[rank] if rank < 2 else f"s{rank}"
    return names


def _placement(units: list[Unit], steps: dict[str, list[int]]) -> dict[int, tuple[str, str]]:
    """Units outside the steps but inside a layer's scope: before its steps ('pre') or after them ('post'; a
    packed batch's final states, cut where each sequence ends, apart: 'final')."""
    placed: dict[int, tuple[str, str]] = {}
    for index, unit in enumerate(units):
        if unit.step is not None or not unit.node.is_context or unit.scope is None:
            continue
        layer = next((name for name in steps if unit.scope == name or unit.scope.startswith(name + "/")), None)
        if layer is None:
            continue
        after = any((units[p].step is not None and units[p].step[0] == layer) or
                    placed.get(p) in (("post", layer), ("final", layer)) for p in unit.parents)
        final = after and any(is_packing(units[p]) or placed.get(p) == ("final", layer) for p in unit.parents)
        placed[index] = ("final" if final else "post" if after else "pre", layer)
    return placed


def _key(index: int, unit: Unit, units: list[Unit], folded: dict[int, int], hidden: set[int], collapse: bool,
         elided: dict[str, set[int]], placement: dict[int, tuple[str, str]], intermediates: bool,
         layer_names: Any) -> tuple[Any, Any]:
    """The key of the drawn node a unit belongs to, and a function that makes that node (when it is new)."""
    step = unit.step
    if step is None and not unit.node.is_context and unit.kind == "input" and unit.scope is not None:
        read_in = step_of(unit.scope)  # data read inside one step only (x_t): part of that step
        if read_in is not None and (collapse or read_in[1] in elided.get(read_in[0], ())) and index not in hidden:
            step = read_in
    if step is not None and step[1] in elided.get(step[0], ()):
        count = len(elided[step[0]])

        def elided_run() -> Group:
            group = Group("elided", f"... {count} steps ...", step[0] or None, (step[0], None))
            group.count = count
            return group

        return ("elided", step[0]), elided_run
    if step is not None and collapse:
        return ("step", step), lambda: Group("step", f"t={step[1]}", step[0] or None, step)
    if index in folded:
        return ("unit", folded[index]), None  # type: ignore[return-value]  (its parameter came first)
    if index in placement:
        where, layer = placement[index]
        return (where, layer), lambda: Group("post" if where == "final" else where, FINAL if where == "final" else "",
                                             layer, None)
    if not intermediates and unit.kind == "intermediate" and index not in hidden:
        return ("unit", unit.parents[0]), None  # type: ignore[return-value]  (the op that made it stands for it)
    scope = unit.scope
    if collapse and not unit.node.is_context:  # a leaf read by one layer alone sits at the left of its row
        layers = {_layer_named(reader, layer_names) for reader in unit.readers}
        scope = layers.pop() if len(layers) == 1 and None not in layers else scope
    return ("unit", index), lambda: Group(unit.kind, unit.label, scope, unit.step)


def _layer_named(scope: str | None, layers: Any) -> str | None:
    """The layer (a scope whose steps are `<layer>/t=<t>`) that `scope` is in, if any."""
    if scope is None:
        return None
    return max((layer for layer in layers if scope == layer or scope.startswith(layer + "/")), key=len, default=None)


def _edges(picture: Picture, units: list[Unit], on_path: set[int]) -> dict[int, list[Route]]:
    """Edges between drawn nodes in first-seen order, and the routes of their gradients. Parallel edges merge:
    gradients of the same tensor add (several ops' shares of it), those of different tensors combine as one
    long vector (norms add in quadrature). An edge into an op carries what the op sends back to that input,
    one out of an op the gradient of the tensor it made."""
    merged: dict[tuple[int, int], Edge] = {}
    routes: dict[int, list[Route]] = {}
    group_of = picture.group_of
    for index, unit in enumerate(units):
        for number, parent in enumerate(unit.parents):
            tail, head = group_of[parent], group_of[index]
            if tail == head:
                continue
            tensor = parent if unit.kind == "op" else index
            edge = merged.get((tail, head))
            if edge is None:
                edge = merged[(tail, head)] = Edge(tail, head)
            edge.flows.setdefault(tensor, None)
            position = unit.positions[number] if unit.kind == "op" else -1
            routes.setdefault(id(unit.node), []).append((position, edge.flows, tensor))
            edge.highlighted = edge.highlighted or (parent in on_path and index in on_path)
    picture.edges = list(merged.values())
    return routes


def _ranks(picture: Picture, collapse: bool) -> None:
    """Collapsed: step t of every layer (and its junction points) on one rank, the elided runs on another."""
    if not collapse:
        return
    by_step: dict[Any, list[int]] = {}
    for number, group in enumerate(picture.groups):
        if group.step is not None and group.kind in ("step", "elided", "join"):
            by_step.setdefault(group.step[1], []).append(number)
    for key in sorted(by_step, key=lambda t: (t is None, t if t is not None else 0)):
        if len(by_step[key]) > 1:
            picture.ranks.append(by_step[key])
    first = min(by_step, key=lambda t: (t is None, t if t is not None else 0), default=None)
    if first is not None and len(by_step[first]) > 1:
        order = row_order(list(picture.layers))
        picture.rows = sorted(by_step[first], key=lambda number: order.get(picture.groups[number].step[0], 0))


def row_order(layers: list[str]) -> dict[str, float]:
    """Each row's place from the bottom: layers in the order they ran (layer 0 first), a layer's reverse
    direction right above its forward one, and the junction points into a layer right below it."""
    bases: list[str] = []
    for layer in layers:
        base = layer.removesuffix("_reverse")
        if base not in bases:
            bases.append(base)
    order: dict[str, float] = {}
    for layer in layers:
        base = layer.removesuffix("_reverse")
        level = 3 * bases.index(base)
        order[layer] = level + (2 if layer.endswith("_reverse") else 1)
        order[f"{base}:join"] = level
    return order
