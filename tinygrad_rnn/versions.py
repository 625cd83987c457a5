"""One clock for the graph, and what it tells about values changed in place.

Every leaf and every recorded op gets the clock's next number when it is made, so creation order is a
topological order (an op's output is made after its inputs). A value changed in place (an optimizer step, an
init) gets a number too (`mark_modified`): an op that ran before that number saw the old value, so a graph
that used it refuses to go back through it, as PyTorch's version counter does.
"""

from __future__ import annotations

from itertools import count
from typing import Any
from weakref import ref

import numpy as np

from .errors import GraphError

next_sequence_number = count().__next__
_last_modified = -1
"""The number of the latest in-place change anywhere (so a graph made after it needs no check)."""
_MODIFIED_ARRAYS: dict[int, tuple[Any, int]] = {}
"""id(array that owns its memory) -> (a weak reference to it, when it was last marked modified)."""


def mark_modified(node: Any) -> None:
    """Note that `node.data` was just changed in place. A graph whose ops used it before then refuses to go back
    through it, and so does one that used any tensor sharing the array (`detach()`, views)."""
    global _last_modified
    vertex = node._ctx if getattr(node, "_ctx", None) is not None else node
    vertex._modified = _last_modified = sequence = next_sequence_number()
    data = getattr(node, "data", None)
    if isinstance(data, np.ndarray):
        owner = _owner(data)
        key = id(owner)
        _MODIFIED_ARRAYS[key] = (ref(owner, lambda _, key=key: _MODIFIED_ARRAYS.pop(key, None)), sequence)


def _owner(array: np.ndarray) -> np.ndarray:
    """The array whose memory `array` views (itself when it owns it)."""
    while isinstance(array.base, np.ndarray):
        array = array.base
    return array


def _modified_at(vertex: Any) -> int:
    """When the value of `vertex` was last changed in place: through it, or (a leaf) through any tensor that
    shares its array."""
    sequence = getattr(vertex, "_modified", -1)
    data = getattr(vertex, "data", None)
    if isinstance(data, np.ndarray):
        owner = _owner(data)
        entry = _MODIFIED_ARRAYS.get(id(owner))
        if entry is not None and entry[0]() is owner:
            sequence = max(sequence, entry[1])
    return sequence


def check_unmodified(order: list[Any]) -> None:
    """Raise if a value in the graph `order` was changed in place after an op of the graph used it.

    Free unless something was changed after the graph's first op. Then it is conservative: it does not ask
    whether the op saved that very array (a view of it, such as `W.T`, is saved as often).
    """
    first_op = next((vertex._seq for vertex in order if vertex.is_context), None)
    if first_op is None or _last_modified < first_op:
        return
    for vertex in order:
        check_inputs_unmodified(vertex)


def check_inputs_unmodified(ctx: Any) -> None:
    """Raise if an input of the op context `ctx` was changed in place after that op ran."""
    if not ctx.is_context:
        return
    for position, parent in enumerate(ctx.parents):
        if _modified_at(parent) > ctx._seq:
            raise GraphError(f"backward: input {position} (shape {parent.grad_shape}) of op '{ctx.name}' (scope "
                             f"{ctx.scope}) was changed in place after the op used it (an optimizer step?), so "
                             "the graph would mix old and new values; run backward before step(), or build the "
                             "graph again")
