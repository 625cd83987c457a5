"""What an op's backward computes with, `ctx.xp`: numpy here, for the first-order backward.

An op's backward is written once, with Python's operators and the functions of `ctx.xp`, in the spirit of the
Python array API standard. On a first-order backward `ctx.xp` is this module and every value is a numpy array
(or numpy float64, for the scalar engine), so the lines run at numpy's speed. Under `create_graph`
(higher_order.py) the values are Tensors or Values and `ctx.xp` is graph_namespace.py, whose functions of the
same names are registered ops: the same lines then record a graph that can be differentiated again.
Functions of values that carry no gradient (sign, comparisons) give constants there.
"""

from __future__ import annotations

from typing import Any

import numpy as np

exp = np.exp
sign = np.sign
where = np.where
greater = np.greater
equal = np.equal
zeros_like = np.zeros_like
moveaxis = np.moveaxis
split = np.split


def matmul(x: Any, y: Any) -> Any:
    """x @ y, through np.dot when both are matrices: it calls BLAS directly, skipping the generalised-ufunc set-up
    that costs a small product a third of its time (and the non-BLAS loop matmul takes for an outer product)."""
    return np.dot(x, y) if x.ndim == 2 and y.ndim == 2 else x @ y


matmul_matrix = np.dot
"""x @ y for two matrices: np.dot, one C call straight to BLAS (for more axes np.dot is a slower loop)."""


def permute_dims(x: Any, axes: Any) -> Any:
    """x with its axes in the order `axes` (the method: numpy's own permute_dims wraps it in three calls more)."""
    return x.transpose(axes)


def astype(x: Any, dtype: Any) -> Any:
    """x converted to `dtype` (masks and counts into the gradient's float dtype)."""
    return x.astype(dtype)


def broadcast_to(x: Any, shape: tuple[int, ...]) -> np.ndarray:
    """x broadcast to `shape`, as a new array of its own (numpy's broadcast_to would give a read-only view)."""
    out = np.empty(shape, dtype=x.dtype)
    out[...] = x
    return out
