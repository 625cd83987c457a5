"""Tensor's shape methods: reshape and view, permute and transpose, squeeze, flatten, expand, indexing, split and
gather; and how methods read dims and sizes, in numpy's words or PyTorch's. Every method calls a registered op
(reshape, permute, expand, getitem); none has a backward of its own.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Integral
from typing import TYPE_CHECKING, Any

import numpy as np

from . import ops
from .errors import OpError
from .graph import Node

if TYPE_CHECKING:
    from .tensor import Tensor


class Shaping:
    """The shape methods `Tensor` inherits (a mixin: it keeps no state of its own)."""

    __slots__ = ()
    data: np.ndarray
    shape: tuple[int, ...]
    ndim: int

    # ---- numpy's and PyTorch's: reshape, permute, indexing, split ---------------------------------------------
    def reshape(self, *shape: int | Sequence[int]) -> Tensor:
        return ops.Reshape.apply(self, shape=_shape(shape))

    def permute(self, *axes: int | Sequence[int]) -> Tensor:
        if len(axes) == 1 and not isinstance(axes[0], int):
            axes = tuple(axes[0])
        return ops.Permute.apply(self, axes=axes)

    def transpose(self, dim0: int = -2, dim1: int = -1) -> Tensor:
        """Swap two axes (the last two by default)."""
        dim0, dim1 = self._axis(dim0, "transpose"), self._axis(dim1, "transpose")
        axes = list(range(self.ndim))
        axes[dim0], axes[dim1] = axes[dim1], axes[dim0]
        return ops.Permute.apply(self, axes=tuple(axes))

    @property
    def T(self) -> Tensor:  # noqa: N802 (PyTorch's name)
        """All axes reversed (the matrix transpose for 2-D)."""
        return ops.Permute.apply(self, axes=tuple(range(self.ndim - 1, -1, -1)))

    @property
    def mT(self) -> Tensor:  # noqa: N802 (PyTorch's and numpy's name)
        """The last two axes swapped: a batch of matrices, each transposed."""
        if self.ndim < 2:
            raise ValueError(f"mT: a tensor of shape {self.shape} has fewer than two axes to swap")
        return ops.Permute.apply(self, axes=(*range(self.ndim - 2), self.ndim - 1, self.ndim - 2))

    def __getitem__(self, index: Any) -> Tensor:
        if type(index) is not int and type(index) is not slice:
            index = _plain_index(index)
        return ops.GetItem.apply(self, index=index)

    def split(self, split_size: int | Sequence[int], axis: int | None = None, *,
              dim: int | None = None) -> tuple[Tensor, ...]:
        """Pieces of `split_size` along `axis` (or `dim`; or of the given sizes), each a getitem of this tensor."""
        axis = self._axis(_either("split", axis, dim, 0), "split")
        length = self.shape[axis]
        if isinstance(split_size, Integral):
            if split_size <= 0:
                raise ValueError(f"split: split_size must be positive, got {split_size}")
            sizes = [min(int(split_size), length - start) for start in range(0, length, int(split_size))] or [0]
        else:
            sizes = [int(size) for size in split_size]
            if any(size < 0 for size in sizes) or sum(sizes) != length:
                raise ValueError(f"split: expected sizes of at least 0 that add up to the length {length} of axis "
                                 f"{axis}, got {sizes}")
        lead = (slice(None),) * axis
        starts = np.cumsum([0] + sizes[:-1])
        return tuple(self[lead + (slice(int(start), int(start) + size),)] for start, size in zip(starts, sizes))

    def chunk(self, chunks: int, axis: int | None = None, *, dim: int | None = None) -> tuple[Tensor, ...]:
        """`chunks` nearly equal pieces along `axis` (or `dim`; as torch.chunk: the last may be smaller)."""
        if not isinstance(chunks, Integral) or chunks <= 0:
            raise ValueError(f"chunk: chunks must be a positive integer, got {chunks!r}")
        axis = self._axis(_either("chunk", axis, dim, 0), "chunk")
        return self.split(-(-self.shape[axis] // chunks), axis)

    # ---- PyTorch's: views, squeezes, an expand and a gather ---------------------------------------------------
    def view(self, *shape: int | Sequence[int]) -> Tensor:
        """This tensor's data seen with another shape (one size may be -1), never copied, as torch's view: a
        shape its memory layout cannot take without a copy (after a transpose, say) is refused; reshape copies."""
        if len(shape) == 1 and isinstance(shape[0], (type, np.dtype, str)):
            raise TypeError(f"view: reinterpreting the data as another dtype ({shape[0]}) is not supported; "
                            "view takes sizes")
        shape = _resolve_shape("view", _shape(shape), self.shape)
        seen = self.data.reshape(shape)
        if seen.size and not np.may_share_memory(seen, self.data):  # numpy had to copy
            raise OpError(f"view: shape {shape} is not compatible with the memory layout of this tensor of shape "
                          f"{self.shape} (strides {self.data.strides} bytes, as after a transpose, permute, slice or "
                          "expand); use .reshape(...), which copies when it must")
        return ops.Reshape.apply(self, shape=shape)

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        """Axes `start_dim` to `end_dim` (all by default) merged into one, as torch.flatten (a 0-d tensor gives
        shape (1,))."""
        if self.ndim == 0:
            return ops.Reshape.apply(self, shape=(1,))
        start = _dim(start_dim, self.ndim, "flatten", self.shape)
        end = _dim(end_dim, self.ndim, "flatten", self.shape)
        if start > end:
            raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for a tensor of shape "
                             f"{self.shape}")
        shape = self.shape[:start] + (math.prod(self.shape[start:end + 1]),) + self.shape[end + 1:]
        return ops.Reshape.apply(self, shape=shape)

    def unsqueeze(self, dim: int) -> Tensor:
        """A new axis of size 1 at `dim` (-1 appends one), as torch.unsqueeze."""
        if not isinstance(dim, Integral):
            raise TypeError(f"unsqueeze: dim must be an integer, got {dim!r}")
        dim = _dim(dim, self.ndim + 1, "unsqueeze", self.shape)
        return ops.Reshape.apply(self, shape=self.shape[:dim] + (1,) + self.shape[dim:])

    def squeeze(self, dim: int | Sequence[int] | None = None, *, axis: int | Sequence[int] | None = None) -> Tensor:
        """Axes of size 1 removed: all of them, or those among `dim` (numpy's `axis`; an axis of another size
        stays, as in torch.squeeze)."""
        dim = _either("squeeze", axis, dim)
        if dim is None:
            dims = range(self.ndim)
        else:
            dims = [_dim(d, self.ndim, "squeeze", self.shape) for d in ((dim,) if isinstance(dim, Integral) else dim)]
        dropped = {d for d in dims if self.shape[d] == 1}
        return ops.Reshape.apply(self, shape=tuple(size for d, size in enumerate(self.shape) if d not in dropped))

    def expand(self, *sizes: int | Sequence[int]) -> Tensor:
        """This tensor broadcast to `sizes` without copying, as torch.expand: -1 keeps an axis's size, an axis of
        size 1 stretches, and new axes go in front. The result is a read-only view."""
        sizes = _shape(sizes)
        shape = self.shape
        new = len(sizes) - len(shape)
        wanted = f"expected sizes of which the last {len(shape)} match {shape} (or stretch its 1s, or are -1)"
        if new < 0:
            raise OpError(f"expand: {len(sizes)} sizes {sizes} for a tensor of shape {shape}; {wanted}")
        target = []
        for position, size in enumerate(sizes):
            if not isinstance(size, Integral):
                raise TypeError(f"expand: sizes must be integers, got {sizes}")
            old = shape[position - new] if position >= new else None
            if size == -1 and old is not None:
                size = old
            elif size < 0 or (old is not None and old != 1 and size != old):
                where = "a new leading axis" if old is None else f"axis {position}, of size {old}"
                raise OpError(f"expand: size {size} for {where} of a tensor of shape {shape} (sizes {sizes}); "
                              f"{wanted}")
            target.append(size)
        return ops.Expand.apply(self, shape=tuple(target))

    def gather(self, dim: int, index: Any) -> Tensor:
        """out[i][j] = self[index[i][j]][j] for dim 0 (self[i][index[i][j]] for dim 1), as torch.gather: `index`
        has this tensor's number of axes, and no axis but `dim` longer than this tensor's. A getitem, so the
        gradient is scattered back (repeats summed). With dim=1 and index = targets[:, None] it picks each row's
        target class, as cross-entropy does."""
        index = np.asarray(index.data if isinstance(index, Node) else index)
        dim = _dim(dim, self.ndim, "gather", self.shape)
        if index.dtype.kind not in "iu":
            raise TypeError(f"gather: index must hold integers (int64 as in PyTorch), got dtype {index.dtype}")
        if index.ndim != self.ndim or any(index.shape[d] > self.shape[d] for d in range(self.ndim) if d != dim):
            raise OpError(f"gather: index of shape {index.shape} for a tensor of shape {self.shape} along dim {dim}; "
                          f"expected {self.ndim} axes, none but dim {dim} longer than the tensor's")
        length = self.shape[dim]
        if index.size and (index.min() < 0 or index.max() >= length):
            raise IndexError(f"gather: index values from {index.min()} to {index.max()} for dim {dim} of size "
                             f"{length} (tensor shape {self.shape}); expected values in [0, {length - 1}]")
        where = list(np.ix_(*(np.arange(size) for size in index.shape)))
        where[dim] = index.astype(np.intp, copy=True)  # our own copy: backward scatters with it
        return ops.GetItem.apply(self, index=tuple(where))

    def _axis(self, axis: int, op: str) -> int:
        """`axis` as a non-negative index, or an error naming `op` and this tensor's shape."""
        return _dim(axis, self.ndim, op, self.shape, "axis")


class Size(tuple):
    """A shape, as `t.size()` answers (PyTorch's torch.Size): a tuple of ints that also counts its elements."""

    __slots__ = ()

    def numel(self) -> int:
        """The number of elements a tensor of this shape holds."""
        return math.prod(self)

    def __getitem__(self, index: Any) -> Any:
        item = tuple.__getitem__(self, index)
        return Size(item) if isinstance(index, slice) else item

    def __repr__(self) -> str:
        return f"Size({list(self)})"


def _dim(dim: int, ndim: int, op: str, shape: tuple[int, ...], word: str = "dim") -> int:
    """`dim` as an index in [0, ndim), or an error (numpy's AxisError: a ValueError and an IndexError, as
    PyTorch's is) naming `op`, the tensor's shape and the range."""
    if not isinstance(dim, Integral):
        raise TypeError(f"{op}: {word} must be an integer, got {dim!r}")
    if not -ndim <= dim < ndim:
        allowed = f"[{-ndim}, {ndim - 1}]" if ndim else "none (no axes)"
        raise np.exceptions.AxisError(f"{op}: {word} {dim!r} is out of range for a tensor of shape {shape} "
                                      f"(expected {'an' if word[0] in 'aeiou' else 'a'} {word} in {allowed})")
    return int(dim) % ndim


def _resolve_shape(op: str, shape: tuple[Any, ...], old: tuple[int, ...]) -> tuple[int, ...]:
    """`shape` with its one -1 (if any) worked out so that it holds the elements of `old`, or an error."""
    count = math.prod(old)
    if any(not isinstance(size, Integral) or size < -1 for size in shape):
        raise TypeError(f"{op}: sizes must be integers of at least 0 (or one -1), got {shape}")
    if shape.count(-1) > 1:
        raise OpError(f"{op}: only one size can be inferred (-1), got {shape}")
    known = math.prod(size for size in shape if size != -1)
    if -1 in shape and known and count % known == 0:
        shape = tuple(count // known if size == -1 else size for size in shape)
    if math.prod(shape) != count or -1 in shape:
        raise OpError(f"{op}: shape {shape} is invalid for a tensor of shape {old} ({count} elements); expected "
                      f"sizes whose product is {count}")
    return shape


def _either(op: str, numpy_value: Any, torch_value: Any, default: Any = None, numpy_name: str = "axis",
            torch_name: str = "dim") -> Any:
    """What the caller gave as numpy's word (`axis`, `keepdims`) or PyTorch's (`dim`, `keepdim`), else `default`.
    PyTorch takes numpy's words too, so code written for either mostly runs here (where the two disagree, as in
    `t.max(1)`, a positional argument means what it means in PyTorch); giving both is refused."""
    if torch_value is None:
        return default if numpy_value is None else numpy_value
    if numpy_value is not None:
        raise TypeError(f"{op}: got both {numpy_name}={numpy_value!r} and {torch_name}={torch_value!r}; "
                        "they are two names for one argument, give one")
    return torch_value


def _shape(shape: tuple[Any, ...]) -> tuple[int, ...]:
    """Sizes given one by one or as one sequence, as plain ints (numpy integers too)."""
    if len(shape) == 1 and not isinstance(shape[0], Integral):
        shape = tuple(shape[0])
    return tuple(int(size) if isinstance(size, Integral) else size for size in shape)


def _plain_index(index: Any) -> Any:
    """Tensors and lists inside an index become integer/bool arrays of our own (copies: the caller may change
    theirs before backward scatters the gradient with it)."""
    if isinstance(index, tuple):
        return tuple(_plain_index(part) for part in index)
    if isinstance(index, Node):
        return index.data.copy()
    if isinstance(index, (list, np.ndarray)):
        return np.array(index)
    return index
