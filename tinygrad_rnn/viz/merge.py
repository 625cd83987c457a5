"""Drawn edges merged once their gradients are known, so that a picture stays small as T grows.

Collapsed, the plumbing between two stacked layers becomes one small junction point per step, so step t of
layer l feeds step t of layer l+1 as in the textbook picture: the edge into the point carries the gradient sent
down to h_t of layer l, the edge out of it the gradient at layer l+1's input at step t (both exactly what the
ops between send back). A node read by many steps gets one edge "into each of N steps" (a fan), the steps
writing one node after them one edge "from each of N steps", carrying the sum of the gradients it stands for.
"""

from __future__ import annotations

import math
from typing import Any

from .picture import JOIN_SCOPE, Edge, Group, Picture
from .units import Unit, norm

MAX_FAN = 16
"""Expanded, a node read by more steps than this gets one edge labelled 'into each of N steps' (dot slows down a
lot routing hundreds of long edges); collapsed, every node read by several steps of a layer gets one."""


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


def join_layers(picture: Picture, units: list[Unit]) -> None:
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


def one_edge_per_step(picture: Picture, sliced: set[int]) -> None:
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


def fans(picture: Picture, collapse: bool) -> None:
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
