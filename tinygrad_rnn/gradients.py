"""How the gradients reaching one node are summed: in place, into a buffer the engine owns.

In BPTT a weight receives one gradient per time step and a sliced sequence one slice per step. Summed as
`a + b` each time, that allocates a new array per step, and a slice's gradient would be a full-size array of
zeros. Instead the engine (graph.backward) adds everything that reaches a node into its `Accumulator`, in
place once it owns the buffer. An op's backward may also return a gradient that is not dense yet:
`IndexedGrad(index, values)` (getitem: zero except `values` at `index`, scattered straight into that buffer),
or `ProductGrad(left, right)` (addmm's weight gradient left^T @ right: the products of many time steps are
summed as one GEMM over all their rows, as a hand-written BPTT does). Hooks, `.grad` and every op's backward
only ever see dense arrays.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import GraphError


class LazyGrad:
    """A gradient that is not a dense array yet; `evaluate(shape)` makes it one."""

    __slots__ = ()

    def check(self, shape: tuple[int, ...], ctx: Any) -> None:
        """Raise, naming the op, if this gradient cannot have the input's `shape`."""

    def evaluate(self, shape: tuple[int, ...]) -> np.ndarray:
        raise NotImplementedError


BASIC_INDEX = {int, slice, type(Ellipsis), type(None)}
"""Index parts of numpy's basic indexing, which gives a view of the array (or, all ints, one element)."""


def _basic(parts: tuple[Any, ...]) -> bool:
    """Whether every part of a tuple index is basic (a step's gate columns x[..., a:b] are)."""
    for part in parts:  # a loop, not all(...): this runs for every gate of every step
        if type(part) not in BASIC_INDEX:
            return False
    return True


class IndexedGrad(LazyGrad):
    """Zero except at `index` (ints, slices, integer or boolean arrays), where it is `values` (repeats summed)."""

    __slots__ = ("index", "values", "op")

    def __init__(self, index: Any, values: np.ndarray) -> None:
        self.index, self.values, self.op = index, values, None

    def check(self, shape: tuple[int, ...], ctx: Any) -> None:
        self.op = ctx.function  # the slice's shape is known only against a buffer: scatter_into checks it

    def evaluate(self, shape: tuple[int, ...]) -> np.ndarray:
        buffer = np.zeros(shape, dtype=self.values.dtype)
        self.scatter_into(buffer)
        return buffer

    def scatter_into(self, buffer: np.ndarray) -> None:
        """buffer[index] += values, summing repeated integer indices."""
        index = self.index
        target = buffer[index]
        if self.values.shape != target.shape:
            raise GraphError(f"op '{getattr(self.op, 'name', '?')}': backward returned values of shape "
                             f"{self.values.shape} for an indexed gradient whose slice has shape {target.shape}")
        kind = type(index)
        if type(target) is np.ndarray and (kind in BASIC_INDEX or (kind is tuple and _basic(index))):
            target += self.values  # basic indexing gave a view of the buffer: add through it
            return
        parts = index if kind is tuple else (index,)
        if any(isinstance(part, np.ndarray) and part.dtype != bool for part in parts):
            np.add.at(buffer, index, self.values)  # an integer array may repeat an element: sum, not overwrite
        else:
            buffer[index] += self.values


class ProductGrad(LazyGrad):
    """left^T @ right (left: (n, k), right: (n, m)), kept as its two factors.

    A weight used at every time step gets one such gradient per step (addmm's x^T G). Kept as factors, the
    `Accumulator` sums many of them as one GEMM over all their rows, as a hand-written BPTT does, instead of T
    small GEMMs.
    """

    __slots__ = ("left", "right")

    def __init__(self, left: np.ndarray, right: np.ndarray) -> None:
        self.left, self.right = left, right

    def check(self, shape: tuple[int, ...], ctx: Any) -> None:
        if (self.left.shape[1], self.right.shape[1]) != shape:
            raise GraphError(f"op '{ctx.name}': backward returned a product gradient of shape "
                             f"{(self.left.shape[1], self.right.shape[1])} for an input of shape {shape}")

    def evaluate(self, shape: tuple[int, ...]) -> np.ndarray:
        return np.dot(self.left.T, self.right)


PRODUCT_ROWS_BYTES = 1 << 18
PRODUCT_OUTPUT_MULTIPLE = 4
PRODUCT_WAIT_MAX_BYTES = 1 << 22
"""Products waiting in an Accumulator are summed once their factors hold PRODUCT_ROWS_BYTES and
PRODUCT_OUTPUT_MULTIPLE times the bytes of the (k, m) result, but never more than PRODUCT_WAIT_MAX_BYTES: enough
rows for an efficient GEMM whose fresh output, added into the sum, is small beside its inputs, and a bounded
amount of memory held (the factors wait, and the join copies them once more). benchmarks/README.md says how
these were chosen."""


class Accumulator(LazyGrad):
    """The sum of every gradient that reaches one node, kept in a buffer it made (so it may add in place).

    It starts at a node's second gradient. It never writes an array an op returned, which may be shared with
    another input (add hands the same gradient to both): the first dense one is copied (or added to the
    second into a new array). Product gradients wait, to be summed as one GEMM.
    """

    __slots__ = ("dense", "products", "waiting", "enough")

    def __init__(self, first: Any, second: Any, shape: tuple[int, ...]) -> None:
        self.products: list[ProductGrad] | None = None  # product gradients waiting to be summed
        if not isinstance(first, LazyGrad) and not isinstance(second, LazyGrad):
            self.dense = first + second
            return
        self.dense = None
        self.add(first, shape)
        self.add(second, shape)

    def add(self, grad: Any, shape: tuple[int, ...]) -> None:
        """Add a dense, indexed or product gradient."""
        kind = grad.__class__
        if kind is ProductGrad:
            if self.products is None:
                self.products, self.waiting = [], 0
                output_bytes = grad.left.shape[1] * grad.right.shape[1] * grad.right.itemsize
                self.enough = min(max(PRODUCT_ROWS_BYTES, PRODUCT_OUTPUT_MULTIPLE * output_bytes),
                                  PRODUCT_WAIT_MAX_BYTES)
            self.products.append(grad)
            self.waiting += grad.left.nbytes + grad.right.nbytes
            if self.waiting >= self.enough:
                self._sum_products()
        elif kind is IndexedGrad:
            if self.dense is None:
                self.dense = np.zeros(shape, dtype=grad.values.dtype)
            grad.scatter_into(self.dense)
        elif self.dense is None:
            self.dense = grad.copy()
        else:
            self.dense += grad  # (a Value's float is immutable: this rebinds it instead)

    def _sum_products(self) -> None:
        """Add the waiting products as one GEMM: (all their left rows)^T @ (all their right rows)."""
        products, self.products = self.products, None
        left = np.concatenate([product.left for product in products])
        right = np.concatenate([product.right for product in products])
        product = np.dot(left.T, right)
        if self.dense is None:
            self.dense = product
        else:
            self.dense += product

    def evaluate(self, shape: tuple[int, ...]) -> np.ndarray:
        if self.products:
            self._sum_products()
        return self.dense

