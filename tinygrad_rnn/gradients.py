"""How the gradients reaching one node are summed: in place, into a buffer the engine owns.

In BPTT a weight receives one gradient per time step and a sliced sequence one slice per step. Summed as
`a + b` each time, that allocates a new array per step, and a slice's gradient would be a full-size array of
zeros. Instead the engine (graph.backward) adds everything that reaches a node into its `Accumulator`, in
place once it owns the buffer, and an op's backward may return `IndexedGrad(index, values)` (getitem does):
zero except `values` at `index`, scattered straight into that buffer. Hooks, `.grad` and every op's backward
only ever see dense arrays.

(Tried and measured, not kept: keeping matmul's weight gradients as factors to sum them as one GEMM per
node; with this BLAS one (H, T*B) @ (T*B, H) GEMM was slower than T small ones added in place.)
"""

from __future__ import annotations

from typing import Any

import numpy as np


class GraphError(RuntimeError):
    """A misuse of the graph (backward through a freed graph, on a non-scalar without grad, ...) or a gradient
    from an op's backward that does not fit its input."""


class LazyGrad:
    """A gradient that is not a dense array yet; `evaluate(shape)` makes it one."""

    __slots__ = ()

    def check(self, shape: tuple[int, ...], ctx: Any) -> None:
        """Raise, naming the op, if this gradient cannot have the input's `shape`."""

    def evaluate(self, shape: tuple[int, ...]) -> np.ndarray:
        raise NotImplementedError


class IndexedGrad(LazyGrad):
    """Zero except at `index` (ints, slices, integer or boolean arrays), where it is `values` (repeats summed)."""

    __slots__ = ("index", "values", "op")

    def __init__(self, index: Any, values: np.ndarray) -> None:
        self.index, self.values, self.op = index, values, "?"

    def check(self, shape: tuple[int, ...], ctx: Any) -> None:
        self.op = ctx.name  # the slice's shape is known only against a buffer: scatter_into checks it

    def evaluate(self, shape: tuple[int, ...]) -> np.ndarray:
        buffer = np.zeros(shape, dtype=self.values.dtype)
        self.scatter_into(buffer)
        return buffer

    def scatter_into(self, buffer: np.ndarray) -> None:
        """buffer[index] += values, summing repeated integer indices."""
        index = self.index
        target = buffer[index]
        if self.values.shape != target.shape:
            raise GraphError(f"op '{self.op}': backward returned values of shape {self.values.shape} "
                             f"for an indexed gradient whose slice has shape {target.shape}")
        kind = type(index)
        if kind is slice or (kind is int and buffer.ndim > 1):
            target += self.values  # basic indexing gave a view of the buffer: add through it
            return
        parts = index if kind is tuple else (index,)
        if any(isinstance(part, np.ndarray) and part.dtype != bool for part in parts):
            np.add.at(buffer, index, self.values)  # an integer array may repeat an element: sum, not overwrite
        else:
            buffer[index] += self.values


class Accumulator(LazyGrad):
    """The sum of every gradient that reaches one node, kept in a buffer it made (so it may add in place).

    It starts at a node's second gradient, as a new array holding the first two: an array an op returned may be
    shared with another input (add hands the same gradient to both), so it is never written.
    """

    __slots__ = ("dense",)

    def __init__(self, first: Any, second: Any, shape: tuple[int, ...]) -> None:
        if first.__class__ is not IndexedGrad and second.__class__ is not IndexedGrad:
            self.dense = first + second
            return
        values = [grad.values if grad.__class__ is IndexedGrad else grad for grad in (first, second)]
        self.dense = np.zeros(shape, dtype=np.result_type(*values))
        self.add(first)
        self.add(second)

    def add(self, grad: Any) -> None:
        """Add a dense or indexed gradient in place."""
        if grad.__class__ is IndexedGrad:
            grad.scatter_into(self.dense)
        else:
            self.dense += grad  # (a Value's float is immutable: this rebinds it instead)

    def evaluate(self, shape: tuple[int, ...]) -> np.ndarray:
        return self.dense
