"""`ctx.xp` under create_graph: namespace.py's functions on graph nodes (Tensors or Values), each one a registered
op, so that an op's backward, run on nodes, records a graph that can be differentiated again.

What carries no gradient (a sign, a comparison, a cast mask) is a constant node made from the data.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import ops
from .errors import GraphError
from .graph import Node


def exp(x: Node) -> Node:
    return ops.Exp.apply(x)


def sign(x: Node) -> Node:
    """sign(x) as a constant: its derivative is 0 wherever it has one."""
    return x._from_op(np.sign(x.data))


def where(condition: Any, x: Any, y: Any) -> Node:
    """x where condition else y; a plain number on either side becomes a constant of the other's kind."""
    if not isinstance(x, Node):
        x = y._other(x)
    elif not isinstance(y, Node):
        y = x._other(y)
    return ops.Where.apply(x, y, condition=_data(condition))


def greater(x: Any, y: Any) -> Node:
    """x > y, a constant boolean node."""
    return _prototype(x, y)._from_op(np.greater(_data(x), _data(y)))


def equal(x: Any, y: Any) -> Node:
    """x == y, a constant boolean node."""
    return _prototype(x, y)._from_op(np.equal(_data(x), _data(y)))


def zeros_like(x: Node) -> Node:
    return x._from_op(np.zeros_like(x.data))


def astype(x: Node, dtype: Any) -> Node:
    """A constant (a mask, a count) converted to `dtype`; a value that carries a gradient is refused."""
    if x.requires_grad:
        raise GraphError(f"astype: a value of shape {x.shape} that carries a gradient cannot be cast in a recorded "
                         "backward (only constants such as masks can)")
    return x._from_op(x.data.astype(dtype))


def matmul(x: Node, y: Node) -> Node:
    return ops.MatMul.apply(x, y)


matmul_matrix = matmul
"""x @ y for a matrix y (numpy's namespace calls np.dot there)."""


def broadcast_to(x: Node, shape: tuple[int, ...]) -> Node:
    return ops.Expand.apply(x, shape=tuple(shape))


def permute_dims(x: Node, axes: Any) -> Node:
    return ops.Permute.apply(x, axes=tuple(int(axis) for axis in axes))


def moveaxis(x: Node, source: int, destination: int) -> Node:
    """x with axis `source` moved to position `destination` (numpy's moveaxis for one axis)."""
    ndim = len(x.shape)
    source, destination = source % ndim, destination % ndim
    axes = [axis for axis in range(ndim) if axis != source]
    axes.insert(destination, source)
    return ops.Permute.apply(x, axes=tuple(axes))


def split(x: Node, bounds: Any, axis: int = 0) -> list[Node]:
    """x cut along `axis` at the indices `bounds` (numpy's split with a list of indices), each piece a getitem."""
    axis %= len(x.shape)
    edges = [0, *(int(bound) for bound in bounds), None]
    lead = (slice(None),) * axis
    return [ops.GetItem.apply(x, index=lead + (slice(start, stop),)) for start, stop in zip(edges, edges[1:])]


def _data(x: Any) -> Any:
    return x.data if isinstance(x, Node) else x


def _prototype(x: Any, y: Any) -> Node:
    """The node of the two, which says what kind of node a constant made from them is."""
    return x if isinstance(x, Node) else y
