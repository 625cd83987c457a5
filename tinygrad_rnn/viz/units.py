"""What is drawn, before grouping: the graph cut into units (tensor boxes, op ellipses) with their labels, time
steps and roles, the gradient along each edge, and the hidden-state path through time."""

from __future__ import annotations

import inspect
import re
from collections.abc import Mapping
from functools import cache
from typing import Any

import numpy as np

from ..graph import Node, toposort, vertex
from .flow import Flow

STEP_SCOPE = re.compile(r"t=(\d+)")  # the part of a scope that names a time step
PACKING = ("running", "end", "start")
"""Scopes inside a step that hold a packed batch's bookkeeping, not the cell (see nn.packed.ActiveRows)."""


class Unit:
    """One tensor box or op ellipse. An op's `positions[i]` is the input of its op that `parents[i]` is (one-element
    constants are not drawn); a tensor's `grad_norm` is ||d root/d tensor|| once the flow is computed (None: no
    gradient reaches it), `grad_value` its gradient when it has one element (drawn with its sign)."""

    __slots__ = ("kind", "node", "scope", "_label", "name", "grad_norm", "grad_value", "step", "role", "parents",
                 "positions", "_values", "readers", "_described", "transposed", "sliced")

    def __init__(self, kind: str, node: Node, scope: str | None, label: str | None) -> None:
        self.kind, self.node, self.scope, self._label = kind, node, scope, label
        self.grad_norm: float | None = None
        self.grad_value: float | None = None
        self.name: str | None = None
        self.step = step_of(scope)
        self.role: int | None = None
        self.parents: list[int] = []
        self.positions: list[int] = []
        self._values: list[float] | None = None
        self.readers: list[str | None] = []  # a leaf's readers' scopes, in order
        self._described: tuple[Any, int, bool] | None = None
        self.transposed = False  # a parameter drawn for its transpose too (W.T folded into W)
        self.sliced = False  # and for slices of that transpose (W.T[:, a:b] folded into W)

    def describe(self, value: Any, name: str | None, max_values: int, shape_only: bool = False) -> None:
        """Say what the box shows (computed when first asked: most units of a long graph are never drawn)."""
        self.name, self._described = name, (value, max_values, shape_only)

    @property
    def label(self) -> str:
        if self._label is None:
            self._label, self._values = _describe(self, *self._described)
        if self.transposed:
            name_line, _, rest = self._label.partition("\n")
            return name_line + "ᵀ" + ("\n" + rest if rest else "")
        return self._label

    @property
    def values(self) -> list[float] | None:
        """A few of the tensor's values (all of them when tiny), when it is in hand."""
        if self._label is None and self._described is not None:
            self.label  # noqa: B018 (computes both)
        return self._values

    @property
    def op(self) -> str | None:
        return self.node.name if self.node.is_context else None

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(np.shape(self.node.data)) if not self.node.is_context else tuple(self.node.grad_shape)


def collect_units(root: Node, params: Mapping[str, Node] | None, max_values: int,
                  order: list[Node] | None = None) -> tuple[list[Unit], dict[int, int]]:
    """Tensor and op units in topological order (`order`: the root's toposort with every input, when in hand),
    and units folded into another (a transposed parameter, and slices of it that share no element, are drawn as
    the parameter). One-element constants without grad appear inside their op's label."""
    names = {id(tensor): name for name, tensor in (params or {}).items()}
    held, root = root, vertex(root)  # the root itself is in hand: its name and values can be shown
    nodes = toposort(root, all_inputs=True) if order is None else order
    reader_scopes: dict[int, list[str | None]] = {}
    for node in nodes:
        if node.is_context:
            for parent in node.parents:
                reader_scopes.setdefault(id(parent), []).append(node.scope)
    units: list[Unit] = []
    unit_of: dict[int, int] = {}
    folded: dict[int, int] = {}
    transposes: dict[int, Any] = {}  # a folded W.T's unit -> its axes
    taken: dict[int, Any] = {}  # a parameter -> the elements of it its folded slices read (a boolean mask)
    for node in nodes:
        if not node.is_context:
            name = names.get(id(node), node.name)
            if not node.requires_grad and name is None and np.size(node.data) == 1 and node is not root:
                continue
            parameter = id(node) in names or (params is None and node.requires_grad)
            kind = "output" if node is root else "parameter" if parameter else "input"
            scopes = reader_scopes.get(id(node), [])
            shared = parameter or not scopes or any(scope != scopes[0] for scope in scopes)
            unit = Unit(kind, node, None if shared else scopes[0], None)
            unit.step = None  # a leaf is made by no step, whichever step reads it
            unit.readers = list(dict.fromkeys(scopes))
            unit.describe(node, name, max_values)
            unit_of[id(node)] = len(units)
            units.append(unit)
            continue
        ctx, output = node, (held if node is root else node.output)  # an output is kept only under keep_values
        name = None if output is None else names.get(id(output), output.name)
        drawn = [unit_of.get(id(parent)) for parent in ctx.parents]
        if None in drawn:
            args = ["·" if index is not None else format_number(np.asarray(parent.data).item())
                    for index, parent in zip(drawn, ctx.parents)]
            op = Unit("op", node, ctx.scope, f"{ctx.name}({', '.join(args)})")
            op.parents = [index for index in drawn if index is not None]
            op.positions = [position for position, index in enumerate(drawn) if index is not None]
        else:
            op = Unit("op", node, ctx.scope, ctx.name)
            op.parents = drawn
            op.positions = list(range(len(drawn)))
        tensor = Unit("output" if node is root else "intermediate", node, ctx.scope, None)
        tensor.step = op.step
        tensor.describe(output if output is not None else node, name, max_values, shape_only=output is None)
        tensor.parents = [len(units)]
        source = units[op.parents[0]] if len(op.parents) == 1 else None
        if ctx.name == "permute" and source is not None and source.kind == "parameter" and op.step is None \
                and node is not root:
            folded[len(units)] = folded[len(units) + 1] = op.parents[0]  # W.T drawn as W (the label says so)
            source.transposed = True
            transposes[len(units) + 1] = ctx.axes
        elif ctx.name == "getitem" and source is not None and op.parents[0] in transposes and op.step is None \
                and node is not root and _take(taken, folded[op.parents[0]], source.shape,
                                               transposes[op.parents[0]], ctx.saved_tensors[0]):
            parameter = folded[op.parents[0]]  # a slice of W.T made once outside the steps, drawn as W too:
            folded[len(units)] = folded[len(units) + 1] = parameter  # its gradient is a block of W's
            units[parameter].sliced = True
        units += [op, tensor]
        unit_of[id(node)] = len(units) - 1
    _assign_roles(units)
    return units, folded


def _take(taken: dict[int, Any], parameter: int, shape: tuple[int, ...], axes: Any, index: Any) -> bool:
    """Whether a basic slice `index` of a transpose (`shape`, made with `axes`) of `parameter` reads no element
    of it that an earlier folded slice reads (then it is noted): the slices' gradients are then disjoint blocks
    of the parameter's, so their norms add in quadrature as the picture adds those of different tensors."""
    parts = index if isinstance(index, tuple) else (index,)
    if not all(part is Ellipsis or isinstance(part, slice) for part in parts):
        return False
    mask = np.zeros(shape, dtype=bool)
    mask[index] = True
    mask = mask.transpose(np.argsort([axis % len(shape) for axis in axes]))  # in the parameter's own layout
    previous = taken.get(parameter)
    if previous is not None and np.any(previous & mask):
        return False
    taken[parameter] = mask if previous is None else previous | mask
    return True


def attach(units: list[Unit], flow: Flow) -> None:
    """Give each tensor unit the norm (and, for one element, the value) of its gradient from `flow`."""
    norms, values = flow.norm, flow.value
    for unit in units:
        if unit.kind != "op":
            key = id(unit.node)
            unit.grad_norm, unit.grad_value = norms.get(key), values.get(key)


def step_of(scope: str | None) -> tuple[str, int] | None:
    """(layer, t) of a scope inside a time step, such as `rnn.l0/t=3` or `rnn.l0/t=3/gates`."""
    if scope is None:
        return None
    try:
        return _STEPS[scope]
    except KeyError:
        pass
    found = None
    parts = scope.split("/")
    for index in range(len(parts) - 1, -1, -1):
        match = STEP_SCOPE.fullmatch(parts[index])
        if match:
            found = "/".join(parts[:index]), int(match.group(1))
            break
    if len(_STEPS) > 100_000:
        _STEPS.clear()
    _STEPS[scope] = found
    return found


_STEPS: dict[str, tuple[str, int] | None] = {}


def is_packing(unit: Unit) -> bool:
    """Whether a unit of a step is a packed batch's bookkeeping (which rows run, where a sequence ends)."""
    return unit.step is not None and unit.scope is not None and unit.scope.rsplit("/", 1)[-1] in PACKING


def _assign_roles(units: list[Unit]) -> None:
    """Number the units each step made, in order: the same role in two steps is the same part of the cell. A
    packed batch's bookkeeping (present in some steps only) is numbered apart, -1, -2, ..., so that it shifts
    no role of the cell."""
    counters: dict[tuple[str, int], int] = {}
    packing: dict[tuple[str, int], int] = {}
    for unit in units:
        if unit.step is not None and unit.node.is_context:
            if is_packing(unit):
                unit.role = packing.get(unit.step, -1)
                packing[unit.step] = unit.role - 1
            else:
                unit.role = counters.get(unit.step, 0)
                counters[unit.step] = unit.role + 1


def _describe(unit: Unit, value: Any, max_values: int, shape_only: bool) -> tuple[str, list[float] | None]:
    """The box's label and a few values: name, shape and (for a tiny tensor whose value is in hand) values; for
    a scalar Value, its data. `value` is the tensor, or (shape_only) the context standing for a tensor that was
    not kept."""
    lines = [unit.name] if unit.name else []
    if shape_only:
        lines.append(format_shape(value.grad_shape))
        return "\n".join(lines), None
    data = value.data
    if isinstance(data, float):
        lines.append(f"data {format_number(data)}")
        return "\n".join(lines), [data]
    lines.append(format_shape(data.shape))
    values = None
    if 0 < data.size <= max(max_values, 0):
        values = [float(v) for v in data.reshape(-1)]
        lines.append("[" + " ".join(format_number(v) for v in values) + "]")
    elif data.size:
        values = [float(v) for v in data.reshape(-1)[:8]]  # a few, for the page's tooltip
    return "\n".join(lines), values


def format_shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(n) for n in shape) + ("," if len(shape) == 1 else "") + ")"


def format_number(value: float) -> str:
    """A short number in a fixed format (the same bytes on every run)."""
    return "0" if value == 0 else f"{value:.3g}"


def norm(array: Any) -> float | None:
    """||array||_2 in float64 (None for None)."""
    if array is None:
        return None
    array = np.asarray(array)
    return float(np.linalg.norm(array if array.dtype == np.float64 else array.astype(np.float64)))


# ---- the hidden state ----------------------------------------------------------------------------------------

def hidden_path(units: list[Unit]) -> tuple[set[int], set[int], set[int]]:
    """Hidden-state units, the units on the paths between them (within one layer), and the initial states.

    A hidden state is a tensor made in one step and read in the next step the same layer ran (t+1, or t-1
    for a reverse direction); the tensors in the other steps that play the same role (the last step's state)
    are hidden too, and so is the initial state the first step reads where later steps read a hidden state.
    """
    previous: dict[tuple[str, int], int | None] = {}
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    for unit in units:  # steps in the order they ran
        if unit.step is not None and unit.step not in previous and unit.node.is_context:
            layer, t = unit.step
            previous[unit.step] = last.get(layer)
            first.setdefault(layer, t)
            last[layer] = t
    hidden: set[int] = set()
    initial: set[int] = set()
    roles: set[tuple[str, int | None]] = set()
    readers: set[tuple[str, int | None, int]] = set()  # (layer, reader's role, argument position)
    read = _through_packing(units)
    for unit in units:
        if unit.kind == "op" and unit.step is not None:
            layer = unit.step[0]
            for position, parent in enumerate(unit.parents):
                for source_index in read.get(parent, (parent,)):
                    source = units[source_index]
                    if source.kind != "op" and source.step is not None and previous.get(unit.step) is not None \
                            and source.step == (layer, previous[unit.step]):
                        hidden.add(source_index)
                        roles.add((layer, source.role))
                        readers.add((layer, unit.role, position))
    for index, unit in enumerate(units):
        if unit.step is None:
            continue
        layer = unit.step[0]
        if unit.kind != "op" and (layer, unit.role) in roles:
            hidden.add(index)
        if unit.kind == "op" and unit.step[1] == first[layer]:
            for position, parent in enumerate(unit.parents):
                for start in read.get(parent, (parent,)):
                    if (layer, unit.role, position) in readers and units[start].kind in ("input", "parameter"):
                        initial.add(start)
    hidden |= initial
    layer_of = [unit.step[0] if unit.step else None for unit in units]
    first_reader = first_reader_layers(units)
    for index in sorted(hidden):
        if layer_of[index] is None:
            layer_of[index] = first_reader.get(index)
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
    return hidden, (after & before) | hidden, initial


def _through_packing(units: list[Unit]) -> dict[int, tuple[int, ...]]:
    """A packing tensor -> the tensors it is cut or joined from, past other packing units: a cell that reads
    h_(t-1)[:rows] reads h_(t-1), as it does in the steps where no rows end."""
    found: dict[int, tuple[int, ...]] = {}
    for index, unit in enumerate(units):
        if unit.kind != "op" and unit.node.is_context and is_packing(unit):
            op = units[unit.parents[0]]
            found[index] = tuple(source for parent in op.parents for source in found.get(parent, (parent,)))
    return found


def first_reader_layers(units: list[Unit]) -> dict[int, str]:
    """unit index -> the layer of the first step that reads it (for a leaf: the layer its initial state is of)."""
    found: dict[int, str] = {}
    for unit in units:
        if unit.step is not None:
            for parent in unit.parents:
                found.setdefault(parent, unit.step[0])
    return found


@cache
def formula(function: Any) -> str:
    """An op's formula for its tooltip: the first paragraph of its docstring, on one line."""
    return " ".join(line.strip() for line in (inspect.getdoc(function) or "").split("\n\n")[0].splitlines())
