"""Units grouped into what is drawn: one node per unit, or one per cell per step (collapsed), an elided run
of middle steps, layers as rows, and the edges between drawn nodes with the gradient each carries.

Collapsed (the default), each layer's plumbing becomes one node before its steps ("pre": the input projection
of the whole sequence) and one after ("post": the outputs stacked). Between two layers that plumbing becomes
one small junction point per step, so step t of layer l feeds step t of layer l+1 as in the textbook picture:
the edge into the point carries the gradient sent down to h_t of layer l, the edge out of it the gradient at
layer l+1's input at step t (both exactly what the ops between send back).
"""

from __future__ import annotations

import math
from typing import Any

from .flow import Route
from .units import Unit, is_packing, norm, step_of

JOIN_SCOPE = "\x00join:"
"""The scope of an invisible cluster holding the junction points into one layer (no user scope starts so)."""
FINAL = "final states h_n (each sequence's at its last step)"
"""The heading of a packed batch's final states, gathered after a layer's steps."""
MAX_FAN = 16
"""Expanded, a node read by more steps than this gets one edge labelled 'into each of N steps' (dot slows down a
lot routing hundreds of long edges); collapsed, every node read by several steps of a layer gets one."""


class Group:
    """A drawn node: its kind, label, cluster scope, step (layer, t) (t None for an elided run) and the units in it."""

    __slots__ = ("kind", "label", "scope", "step", "members", "hidden", "norm", "cell_norm", "count", "signed",
                 "ends", "final_norm")

    def __init__(self, kind: str, label: str, scope: str | None, step: tuple[str, Any] | None) -> None:
        self.kind, self.label, self.scope, self.step = kind, label, scope, step
        self.members: list[int] = []
        self.hidden = False
        self.norm: float | None = None
        self.cell_norm: float | None = None
        self.signed: float | None = None
        self.count = 0
        self.ends: str | None = None  # a packed batch: the sequences whose last step this is (viz.packed)
        self.final_norm: float | None = None  # and the norm of the gradient reaching their h_n


class Edge:
    """A drawn edge: tail and head groups, the gradients it carries (tensor unit -> array), whether it is on
    the hidden-state path, and how it is laid out."""

    __slots__ = ("tail", "head", "flows", "highlighted", "norm", "fan", "constraint", "into_cluster", "backward")

    def __init__(self, tail: int, head: int) -> None:
        self.tail, self.head = tail, head
        self.flows: dict[int, Any] = {}
        self.highlighted = False
        self.norm: float | None = None
        self.fan = 0
        self.constraint = True
        self.into_cluster: str | None = None
        self.backward = False  # laid out head -> tail (a reverse direction's chain), drawn pointing at the head


class Picture:
    """Groups, edges, sets of groups on the same rank, and each layer's name and step order."""

    def __init__(self) -> None:
        self.groups: list[Group] = []
        self.edges: list[Edge] = []
        self.ranks: list[list[int]] = []
        self.layers: dict[str, list[int]] = {}
        self.group_of: list[int | None] = []
        self.state_names: dict[tuple[str, int | None], str] = {}
        self.rows: list[int] = []  # each row's first drawn node, from the bottom row (layer 0) up
        self.ends: dict[str, tuple[str, float | None]] = {}  # a step's scope -> where sequences end (viz.packed)


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
        _join_layers(picture, units)
    else:
        _one_edge_per_step(picture, {group_of[index] for index, unit in enumerate(units) if unit.sliced})
    _fans(picture, collapse)
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


def _add_flow(edge: Edge, tensor: int, flow: Any, summed: bool) -> None:
    """Add what one unit edge carries into a drawn edge (`summed`: several ops' shares of one tensor add)."""
    previous = edge.flows.get(tensor)
    if flow is None:
        edge.flows.setdefault(tensor, None)
    elif previous is None:
        edge.flows[tensor] = flow
    elif summed:
        edge.flows[tensor] = previous + flow


def _finish(edge: Edge) -> None:
    norms = [norm(flow) for flow in edge.flows.values() if flow is not None]
    edge.norm = math.sqrt(sum(n * n for n in norms)) if norms else None


def _layer_of(group: Group) -> str | None:
    return group.step[0] if group.step is not None else None


def _join_layers(picture: Picture, units: list[Unit]) -> None:
    """Replace the plumbing between layers by one junction point per step (see the module's docstring)."""
    groups = picture.groups
    children: dict[int, list[int]] = {}
    parents: dict[int, list[int]] = {}
    for edge in picture.edges:
        children.setdefault(edge.tail, []).append(edge.head)
        parents.setdefault(edge.head, []).append(edge.tail)
    source_layers = _reach(groups, parents, len(groups))
    target_layers = _reach(groups, children, len(groups))
    between = {number for number, group in enumerate(groups)
               if group.step is None and group.kind in ("pre", "post", "op", "intermediate")
               and source_layers[number] and target_layers[number] - source_layers[number]}
    if not between:
        return
    for number in between:  # what leaves the plumbing must go into the steps it feeds
        for head in children.get(number, []):
            if head not in between and groups[head].step is None:
                return
    order = list(picture.layers)
    joins: dict[Any, int] = {}
    redirected: dict[tuple[int, int], Edge] = {}
    kept: list[Edge] = []

    def join(layer: str, t: Any) -> int:
        """The junction point at step t into `layer` (both directions of a layer share one)."""
        base = layer.removesuffix("_reverse")
        if (base, t) not in joins:
            joins[(base, t)] = len(groups)
            groups.append(Group("join", "", JOIN_SCOPE + base.replace("/", "|"), (f"{base}:join", t)))
        return joins[(base, t)]

    def into(tail: int, head: int, edge: Edge, cluster: str | None = None) -> None:
        new = redirected.get((tail, head))
        if new is None:
            new = redirected[(tail, head)] = Edge(tail, head)
            new.into_cluster = cluster
            new.constraint = cluster is None
            kept.append(new)
        for tensor, flow in edge.flows.items():
            _add_flow(new, tensor, flow, summed=True)

    for edge in picture.edges:
        tail_in, head_in = edge.tail in between, edge.head in between
        if tail_in and head_in:
            continue
        if head_in and groups[edge.tail].step is not None:  # into the point of the next layer it feeds
            fed = min(target_layers[edge.head] - source_layers[edge.head], key=order.index)
            into(edge.tail, join(fed, groups[edge.tail].step[1]), edge)
        elif head_in:  # a parameter or input of the plumbing: one edge into the first layer it feeds
            fed = sorted(target_layers[edge.head] - source_layers[edge.head], key=order.index)
            first_step = min((n for n, g in enumerate(groups) if fed and _layer_of(g) == fed[0]),
                             key=lambda n: (groups[n].step[1] is None, groups[n].step[1] or 0), default=None)
            if first_step is not None:
                scope = groups[edge.tail].scope or ""
                inside = scope == fed[0] or scope.startswith(fed[0] + "/")  # (then it is drawn in that layer)
                into(edge.tail, first_step, edge, cluster=None if inside else fed[0])
        elif tail_in:
            into(join(groups[edge.head].step[0], groups[edge.head].step[1]), edge.head, edge)
        else:
            kept.append(edge)
    for number in between:
        groups[number].kind = "hidden-away"
    picture.edges = kept


def _reach(groups: list[Group], links: dict[int, list[int]], count: int) -> list[set[str]]:
    """For each group, the layers of the step groups reachable along `links` (not counting itself)."""
    reach: list[set[str] | None] = [None] * count
    for start in range(count):
        if reach[start] is not None:
            continue
        stack, order = [start], []
        while stack:  # iterative post-order
            number = stack.pop()
            if number >= 0:
                if reach[number] is not None:
                    continue
                reach[number] = set()
                stack.append(~number)
                stack.extend(n for n in links.get(number, []) if reach[n] is None)
            else:
                order.append(~number)
        for number in order:
            found: set[str] = set()
            for n in links.get(number, []):
                if groups[n].step is not None and groups[n].kind in ("step", "elided"):
                    found.add(groups[n].step[0])
                found |= reach[n] or set()
            reach[number] = found
    return [r or set() for r in reach]


def _one_edge_per_step(picture: Picture, sliced: set[int]) -> None:
    """Expanded: a parameter whose slices several ops of one step read (the GRU's r, z and n columns of W_hh^T)
    gets one edge into that step's cluster, carrying what the step sends back through all of them."""
    groups = picture.groups
    first: dict[tuple[int, Any], Edge] = {}
    merged_away: set[int] = set()
    for edge in picture.edges:
        step = groups[edge.head].step
        if edge.tail not in sliced or step is None or step[1] is None or groups[edge.head].kind == "elided":
            continue
        kept = first.setdefault((edge.tail, step), edge)
        if kept is edge:
            continue
        for tensor, flow in edge.flows.items():
            _add_flow(kept, tensor, flow, summed=True)
        kept.highlighted = kept.highlighted or edge.highlighted
        kept.into_cluster = f"{step[0]}/t={step[1]}" if step[0] else f"t={step[1]}"
        merged_away.add(id(edge))
    picture.edges = [edge for edge in picture.edges if id(edge) not in merged_away]


def _fans(picture: Picture, collapse: bool) -> None:
    """A node outside the steps read by several steps of one layer: all its edges into those steps become one
    (collapsed, or past MAX_FAN), to the first step, standing for all (its gradient is the sum over them)."""
    groups = picture.groups
    readers: dict[tuple[int, str], list[Edge]] = {}
    for edge in picture.edges:
        head = groups[edge.head]
        if head.step is not None and groups[edge.tail].step is None and head.kind in ("step", "elided", "op",
                                                                                      "intermediate", "initial"):
            readers.setdefault((edge.tail, head.step[0]), []).append(edge)
    merged_away: set[int] = set()
    for (tail, layer), edges in readers.items():
        distinct = {groups[edge.head].step for edge in edges}
        if len(distinct) < 2:
            continue
        for edge in edges:
            edge.constraint = False  # what many steps share must not pull the steps out of their line
        if not collapse and len(distinct) <= MAX_FAN:
            continue
        first = min(edges, key=lambda edge: (groups[edge.head].step[1] is None, groups[edge.head].step[1] or 0))
        for edge in edges:
            if edge is first:
                continue
            for tensor, flow in edge.flows.items():
                _add_flow(first, tensor, flow, summed=True)
            first.highlighted = first.highlighted or edge.highlighted
            merged_away.add(id(edge))
        first.fan = _steps_in(distinct, groups)
        scope = groups[tail].scope or ""
        if not (scope == layer or scope.startswith(layer + "/")):
            first.into_cluster = layer
        else:
            first.constraint = True  # the layer's own input projection sits left of its first step
    if collapse:
        _fan_ins(picture, merged_away)
    picture.edges = [edge for edge in picture.edges if id(edge) not in merged_away]
    reverse = {layer for layer, order in picture.layers.items() if len(order) > 1 and order[0] > order[-1]}
    for edge in picture.edges:
        _finish(edge)
        tail, head = groups[edge.tail], groups[edge.head]
        if head.kind in ("step", "elided") and head.step[0] in reverse and (
                tail.kind == "initial" or (tail.kind in ("step", "elided") and tail.step[0] == head.step[0])):
            edge.backward = True  # a reverse direction runs right to left: laid out as time runs, drawn back


def _fan_ins(picture: Picture, merged_away: set[int]) -> None:
    """Collapsed: the edges from several steps of one layer into one node after them (the outputs stacked)
    become one, from the last step the layer ran."""
    groups = picture.groups
    writers: dict[tuple[int, str], list[Edge]] = {}
    for edge in picture.edges:
        tail = groups[edge.tail]
        if id(edge) not in merged_away and tail.step is not None and tail.kind in ("step", "elided") \
                and groups[edge.head].step is None:
            writers.setdefault((edge.head, tail.step[0]), []).append(edge)
    for (_head, _layer), edges in writers.items():
        if len(edges) < 2:
            continue
        last = max(edges, key=lambda edge: (groups[edge.tail].step[1] is not None, groups[edge.tail].step[1] or 0))
        for edge in edges:
            if edge is not last:
                for tensor, flow in edge.flows.items():
                    _add_flow(last, tensor, flow, summed=True)
                last.highlighted = last.highlighted or edge.highlighted
                merged_away.add(id(edge))
        last.fan = -_steps_in({groups[edge.tail].step for edge in edges}, groups)


def _steps_in(steps: set[Any], groups: list[Group]) -> int:
    """How many time steps a set of drawn steps stands for (an elided run counts its steps)."""
    runs = {group.step: group.count for group in groups if group.kind == "elided"}
    return sum(runs.get(step, 1) if step[1] is None else 1 for step in steps)


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
