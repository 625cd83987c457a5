"""Where each sequence of a packed batch ends (nn.utils.rnn.PackedSequence): read from the graph alone.

Step t of a layer runs on the rows of the sequences still running at t (longest first), so the sequences whose
last step is t are the rows that step t has and step t+1 has not; their length is t + 1. Going forward, their
final states are cut there (scope "end", or the last step itself), and the gradient reaching those cuts is what
the loss sends to h_n of those sequences; a reverse direction starts them there. The batch's own order (seq n as
the caller gave it) is read from the getitem that puts h_n back in that order (or its absence: the batch came
sorted); without h_n in the graph, the picture gives lengths alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .units import Unit, is_packing, norm


@dataclass
class Ending:
    """The sequences whose last step is `t` in one layer: their rows in the sorted batch, their positions in
    the caller's batch (None: unknown), and (going forward) the units holding their final states."""

    layer: str
    t: int
    rows: range
    state: int  # the unit of h_t
    positions: list[int] | None = None
    finals: dict[str, list[tuple[int, int]]] = field(default_factory=dict)  # 'h', 'c' -> (tensor, the op
    # gathering it into h_n, c_n)

    @property
    def reverse(self) -> bool:
        return self.layer.endswith("_reverse")

    def text(self) -> str:
        """'ends: seq 2 (length 3)'; a reverse direction 'starts' the sequence at that step."""
        what = "starts" if self.reverse else "ends"
        length = self.t + 1
        if self.positions is None:
            count = len(self.rows)
            return f"{what}: {count} sequence{'s' if count > 1 else ''} (length {length})"
        seqs = ", ".join(str(n) for n in sorted(self.positions))
        return f"{what}: seq{'s' if len(self.positions) > 1 else ''} {seqs} (length {length})"


def sequence_ends(units: list[Unit], hidden: set[int], state_names: dict, layers: dict[str, list[int]]
                  ) -> dict[tuple[str, int], Ending]:
    """(layer, t) -> the sequences ending at step t, for each layer that ran on a packed batch."""
    packed = {unit.step[0] for unit in units if unit.node.is_context and is_packing(unit)}
    states: dict[tuple[str, int], dict[str, int]] = {}  # (layer, t) -> state name -> its tensor unit
    for index in sorted(hidden):
        unit = units[index]
        if unit.step is not None and unit.step[0] in packed and unit.node.is_context and not is_packing(unit):
            states.setdefault(unit.step, {})[state_names.get((unit.step[0], unit.role), "h")] = index
    readers: dict[int, list[int]] = {}
    for index, unit in enumerate(units):
        for parent in unit.parents:
            readers.setdefault(parent, []).append(index)
    found: dict[tuple[str, int], Ending] = {}
    orders: dict[str, np.ndarray] = {}  # a model's scope -> its batch order (one batch for all its layers)
    for layer in sorted(packed):
        steps = sorted(layers.get(layer, []))
        rows = {t: units[states[(layer, t)]["h"]].shape[0] for t in steps if "h" in states.get((layer, t), {})}
        if not steps or len(rows) != len(steps) or steps[0] != 0:
            continue
        endings = [Ending(layer, t, range(rows.get(t + 1, 0), rows[t]), states[(layer, t)]["h"]) for t in steps
                   if rows[t] > rows.get(t + 1, 0)]
        reverse = layer.endswith("_reverse")
        for ending in endings:
            if not reverse:
                ending.finals = _finals(units, readers, states, ending, last=ending.t == steps[-1])
            found[(layer, ending.t)] = ending
        model = layer.rsplit(".l", 1)[0]
        finals = list(states[(layer, steps[0])].values()) if reverse else \
            [tensor for ending in endings for pairs in ending.finals.values() for tensor, _ in pairs]
        order = _batch_order(units, readers, finals, layer, model, rows[0])
        if order is not None:
            orders[model] = order
    for ending in found.values():
        order = orders.get(ending.layer.rsplit(".l", 1)[0])
        if order is not None and len(order) > ending.rows.stop - 1:
            ending.positions = [int(order[row]) for row in ending.rows]
    return found


def _finals(units: list[Unit], readers: dict[int, list[int]], states: dict, ending: Ending,
            last: bool) -> dict[str, list[tuple[int, int]]]:
    """The tensors holding the final states of the sequences ending at `ending.t` (the cut in scope 'end', or at
    the last step the states themselves), each with the op that gathers them into the layer's final states."""
    finals: dict[str, list[tuple[int, int]]] = {}
    for name, index in states.get((ending.layer, ending.t), {}).items():
        held = [index] if last else [reader + 1 for reader in readers.get(index, []) if units[reader].kind == "op"
                                     and units[reader].scope == f"{ending.layer}/t={ending.t}/end"]
        pairs = [(tensor, reader) for tensor in held for reader in readers.get(tensor, [])
                 if units[reader].kind == "op" and (units[reader].op, units[reader].scope) ==
                 ("concatenate", ending.layer) and any(is_packing(units[p]) for p in units[reader].parents)]
        # (the layer's outputs are a concatenate too: the one gathering h_n reads the cuts)
        if pairs:
            finals[name] = pairs
    return finals


def _batch_order(units: list[Unit], readers: dict[int, list[int]], finals: list[int], layer: str, model: str,
                 batch: int) -> np.ndarray | None:
    """The caller's position of each row of the sorted batch, read from h_n: the model stacks its layers' final
    states (scope `model`), and that stack is read by the getitem that unsorts it when the batch was sorted
    (PackedSequence.unsorted_indices), else by the caller alone. None when h_n is not in the graph."""
    for final in finals:
        stack = _made_by(units, readers, final, "stack", model, through=("concatenate", layer))
        if stack is None:
            continue
        for reader in readers.get(stack, []):
            ctx = units[reader].node
            if units[reader].kind == "op" and ctx.name == "getitem" and units[reader].scope == model \
                    and ctx.saved_tensors:
                index = ctx.saved_tensors[0]
                if isinstance(index, tuple) and len(index) == 2 and index[0] == slice(None) and \
                        isinstance(index[1], np.ndarray) and np.array_equal(np.sort(index[1]), np.arange(batch)):
                    return np.argsort(index[1])  # h_n[:, n] = stacked[:, unsorted[n]]: row r is seq argsort(.)[r]
        return np.arange(batch)
    return None


def _made_by(units: list[Unit], readers: dict[int, list[int]], start: int, op: str, scope: str,
             through: tuple[str, str]) -> int | None:
    """The tensor made by an `op` in `scope` that reads `start`, directly or through one `through` op
    (name, scope); None if there is none."""
    frontier = [start]
    for _ in range(2):
        following = []
        for index in frontier:
            for reader in readers.get(index, []):
                unit = units[reader]
                if unit.kind != "op":
                    continue
                if unit.op == op and unit.scope == scope:
                    return reader + 1
                if (unit.op, unit.scope) == through:
                    following.append(reader + 1)
        frontier = following
    return None


def label_ends(picture: Any, units: list[Unit], ends: dict[tuple[str, int], Ending]) -> None:
    """Put each ending on the node of its step (collapsed; an elided run lists those inside it) and on the label
    of its step's cluster (expanded), with the norm of the gradient reaching those sequences' h_n."""
    inside: dict[int, list[Ending]] = {}
    into: dict[tuple[int, int], Any] = {}  # (tensor, head group) -> its flow (a fan's edge carries many steps')
    for edge in picture.edges:
        for tensor, flow in edge.flows.items():
            into[(tensor, edge.head)] = flow
    group_of = picture.group_of
    for ending in sorted(ends.values(), key=lambda e: (e.layer, e.t)):
        sent = []  # what gathering h_n sends back to each final state: the gradient reaching h_n of those rows
        for tensor, reader in ending.finals.get("h", []):
            flow = into.get((tensor, group_of[reader]))
            sent.append(None if flow is None else norm(flow))
        final = math.sqrt(sum(n * n for n in sent)) if sent and None not in sent else None
        picture.ends[f"{ending.layer}/t={ending.t}"] = (ending.text(), final)
        number = picture.group_of[ending.state]
        group = picture.groups[number]
        if group.kind == "step":
            group.ends, group.final_norm = ending.text(), final
        elif group.kind == "elided":
            inside.setdefault(number, []).append(ending)
    for number, endings in inside.items():
        what = "start" if endings[0].reverse else "end"
        lengths = ", ".join(str(e.t + 1) for e in endings[:4]) + (", ..." if len(endings) > 4 else "")
        if all(e.positions is not None for e in endings):
            seqs = sorted(n for e in endings for n in e.positions)
            shown = ", ".join(str(n) for n in seqs[:6]) + (", ..." if len(seqs) > 6 else "")
            text = f"seq{'s' if len(seqs) > 1 else ''} {shown} {what}{'s' if len(seqs) == 1 else ''} inside"
        else:
            count = sum(len(e.rows) for e in endings)
            text = f"{count} sequence{'s' if count > 1 else ''} {what}{'s' if count == 1 else ''} inside"
        picture.groups[number].ends = f"{text} (length{'s' if len(endings) > 1 else ''} {lengths})"
