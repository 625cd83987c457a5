"""Tensor: a numpy array that remembers the op that made it, so gradients can flow back through it.

Every method calls a registered op (see ops/); the graph core (graph.py) does the backward pass. The shape methods
live in shaping.py, the in-place operators in inplace.py, and the functions that make tensors in factories.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from numbers import Integral, Real
from typing import Any, NamedTuple

import numpy as np

from . import higher_order, ops
from .errors import GraphError, OpError
from .graph import backward
from .inplace import InPlace
from .operators import Arithmetic
from .shaping import Shaping, Size, _dim, _either
from .versions import next_sequence_number

DEFAULT_DTYPE = np.dtype(np.float32)
Generator = np.random.Generator | int | None


def _as_array(data: Any, dtype: Any = None) -> np.ndarray:
    """Copy `data` into an array: floats from Python become float32, numpy keeps its dtype, ints stay ints.
    Anything that is not numbers (strings, None, ragged lists) is refused rather than kept as an object array."""
    if isinstance(data, Tensor):
        data = data.data
    try:
        if dtype is None and not isinstance(data, (np.ndarray, np.generic)):
            array = np.array(data)
            array = array.astype(DEFAULT_DTYPE) if array.dtype.kind == "f" else array
        else:
            array = np.array(data, dtype=dtype)
    except (ValueError, TypeError) as error:
        raise TypeError(f"{_NOT_NUMBERS}, got {type(data).__name__} ({error})") from None
    if array.dtype.kind not in "biufc":
        raise TypeError(f"{_NOT_NUMBERS}, got {type(data).__name__} of numpy dtype {array.dtype}")
    return array


_NOT_NUMBERS = "tensor: expected numbers (a number, nested lists of numbers, an array or a Tensor)"


class Tensor(Shaping, InPlace, Arithmetic):
    """An n-dimensional array with reverse-mode autodiff; float32 by default, float64 everywhere too.

    `Tensor(data, requires_grad=False, dtype=None)` copies `data`. Only floating tensors can require grad.
    """

    __slots__ = ()
    __array_ufunc__ = None  # numpy defers to our operators: `array + tensor` is a Tensor

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None) -> None:
        self.data = _as_array(data, dtype)
        self._seq = next_sequence_number()
        self._ctx = self._grad = self._pending = self._hooks = self.name = None
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Mark this leaf as one whose gradient backward should compute (floating dtypes only)."""
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(f"requires_grad: only floating-point tensors can require gradients, got {self.dtype}")
        if not self.is_leaf:
            raise GraphError("requires_grad_: only a leaf's flag can be changed; use .detach() for a new leaf")
        self.requires_grad = requires_grad
        return self

    # ---- what it is ----------------------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    def size(self, dim: int | None = None) -> Size | int:
        """The shape as a `Size` (a tuple), or the length of axis `dim`: PyTorch's `t.size()`, `t.size(1)`.
        (numpy's `size`, the number of elements, is `numel()` here.)"""
        if dim is None:
            return Size(self.data.shape)
        return self.data.shape[_dim(dim, self.ndim, "size", self.shape)]

    def numel(self) -> int:
        """The number of elements (numpy's `.size`)."""
        return self.data.size

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self.data)

    def __bool__(self) -> bool:
        """A one-element tensor's value as a bool; more elements are ambiguous, as in PyTorch."""
        if self.data.size != 1:
            raise ValueError(f"bool: the truth value of a tensor of shape {self.shape} ({self.data.size} elements) "
                             "is ambiguous; use .any() or .all() on .numpy(), or compare one element")
        return bool(self.data)

    def __float__(self) -> float:
        """`float(loss)`: the one element, as in PyTorch (numpy also reads a 0-d tensor inside a list this way)."""
        if self.data.size != 1:
            raise TypeError(f"float: only a tensor with one element is a number, got shape {self.shape}")
        return float(self.data.item())

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        """The data for numpy (`np.array(t)`, `np.allclose(t, a)`), so numpy sees numbers, not objects."""
        if dtype is not None and dtype != self.data.dtype:
            return self.data.astype(dtype)
        return self.data.copy() if copy else self.data

    def __iter__(self) -> Iterator[Tensor]:
        return (self[i] for i in range(len(self)))

    def __repr__(self) -> str:
        if self._ctx is not None:
            extra = f", op={self._ctx.name}"
        else:
            extra = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({np.array2string(self.data, precision=4, threshold=20)}, dtype={self.dtype}{extra})"

    def numpy(self) -> np.ndarray:
        """The data array (shared, not copied)."""
        return self.data

    def item(self) -> float:
        """The single element as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item: only a tensor with one element converts to a Python number, but this one has "
                             f"shape {self.shape} ({self.data.size} elements); index one element first, or use "
                             ".tolist() for all of them")
        return self.data.item()

    def tolist(self) -> Any:
        """The elements as (nested lists of) Python numbers; a 0-d tensor gives one number, as in PyTorch."""
        return self.data.tolist()

    def clone(self) -> Tensor:
        """A copy with its own data that stays in the graph (the gradient passes through unchanged), as
        torch.clone; `detach()` is the one that leaves the graph. (A mul by 1: exact for every value, -0.0 too.)"""
        return ops.Mul.apply(self, self._other(1))

    def detach(self) -> Tensor:
        """A new leaf sharing this data, cut from the graph (how truncated BPTT stops gradients)."""
        return self._from_op(self.data)

    # ---- gradients -----------------------------------------------------------------------------------------
    def backward(self, grad: Any = None, retain_graph: bool | None = None, retain_grads: bool = False,
                 create_graph: bool = False) -> None:
        """Accumulate d self/d leaf into every leaf's `.grad`; `grad` is required unless self has one element.

        With `create_graph=True` the backward is recorded, so each `.grad` is a Tensor that can be differentiated
        again (as in PyTorch; `retain_graph` then defaults to True)."""
        if create_graph:
            higher_order.backward(self, grad, retain_graph=retain_graph, retain_grads=retain_grads)
            return
        if grad is None:
            if self.data.size != 1:
                raise GraphError(f"backward: grad can be omitted only for a one-element output, but this one has "
                                 f"shape {self.shape}; pass grad= of that shape (e.g. ones) or reduce it first")
            grad = np.ones_like(self.data)
        else:
            grad = _as_array(grad, self.dtype)
            if grad.shape != self.shape:
                raise GraphError(f"backward: grad has shape {grad.shape} but the output has shape {self.shape}")
        backward(self, grad, retain_graph=bool(retain_graph), retain_grads=retain_grads)

    def _accumulate(self, grad: np.ndarray) -> None:
        """Add `grad` into a leaf's `.grad` as a new array in its dtype (never mutating a shared one)."""
        if self._grad is None:
            self._grad = np.array(grad, dtype=self.data.dtype)
        else:
            self._grad = (self._grad + grad).astype(self.data.dtype, copy=False)

    def zero_grad(self) -> None:
        """Forget the accumulated gradient."""
        self.grad = None

    # ---- arithmetic: + - * / ** and unary math come from Arithmetic; matmul is Tensor's own ----------------
    def _other(self, other: Any) -> Tensor:
        """The other operand as a Tensor. A constant (a number or a numpy array) takes this tensor's float dtype,
        as a Python number does in PyTorch, so a float32 model never drifts into float64; tensors stay as they are.
        """
        if isinstance(other, Tensor):
            return other
        floating = self.data.dtype.kind == "f"
        if floating and isinstance(other, (int, float)):
            return self._from_op(np.asarray(other, dtype=self.data.dtype))
        if isinstance(other, float):  # an integer tensor meets a Python float: PyTorch's default float
            return self._from_op(np.asarray(other, dtype=DEFAULT_DTYPE))
        if type(other) is int and self.data.dtype.kind in "iu" and np.can_cast(np.min_scalar_type(other), self.dtype):
            return self._from_op(np.asarray(other, dtype=self.data.dtype))  # int32 + 3 stays int32, as in PyTorch
        array = np.asarray(other)
        if array.dtype.kind not in "biuf":
            raise TypeError(f"expected a number, a numeric numpy array or a Tensor as the other operand, got "
                            f"{type(other).__name__}" + (f" of dtype {array.dtype}" if array.dtype.kind != "O" else ""))
        return self._from_op(array.astype(self.data.dtype, copy=False) if floating else array)

    def _operands(self, other: Any) -> tuple[Tensor, Tensor]:
        """(self, other) for a binary op, in PyTorch's dtypes: a constant becomes a tensor as `_other` says, and
        an integer tensor that meets a floating one is cast to its dtype, so int64 + 0.5 is float32 as in PyTorch
        (numpy would answer float64)."""
        if not isinstance(other, Tensor):
            other = self._other(other)
        kind, other_kind = self.data.dtype.kind, other.data.dtype.kind
        if kind == other_kind:
            return self, other
        if kind == "f" and other_kind in "iu":
            return self, self._from_op(other.data.astype(self.data.dtype))
        if other_kind == "f" and kind in "iu":
            return self._from_op(self.data.astype(other.data.dtype)), other
        return self, other

    def __truediv__(self, other: Any) -> Tensor:
        this, other = _true_division(*self._operands(other))
        return ops.Div.apply(this, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        this, other = _true_division(*self._operands(other))
        return ops.Div.apply(other, this)

    def __matmul__(self, other: Any) -> Tensor:
        this, other = self._operands(other)
        return ops.MatMul.apply(this, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        this, other = self._operands(other)
        return ops.MatMul.apply(other, this)

    # ---- reductions (numpy's `axis`/`keepdims` or PyTorch's `dim`/`keepdim`, either one) ---------------------
    def sum(self, axis: Axes = None, keepdims: bool | None = None, *, dim: Axes = None,
            keepdim: bool | None = None) -> Tensor:
        return ops.Sum.apply(self, axis=_axes(_either("sum", axis, dim)),
                             keepdims=_either("sum", keepdims, keepdim, False, "keepdims", "keepdim"))

    def mean(self, axis: Axes = None, keepdims: bool | None = None, *, dim: Axes = None,
             keepdim: bool | None = None) -> Tensor:
        return ops.Mean.apply(self, axis=_axes(_either("mean", axis, dim)),
                              keepdims=_either("mean", keepdims, keepdim, False, "keepdims", "keepdim"))

    def max(self, dim: int | None = None, keepdim: bool | None = None, *, axis: Axes = None,
            keepdims: bool | None = None) -> Tensor | MaxResult:
        """The largest values, as torch.max: over all elements by default, and with a `dim` (`t.max(1)`,
        `t.max(dim=1)`) the pair `(values, indices)`, the values picked at the indices (the first of ties) so that
        the gradient goes there alone. numpy's `axis=` (one axis or several) answers the values alone, and ties
        share the gradient."""
        return self._extreme("max", dim, keepdim, axis, keepdims)

    def min(self, dim: int | None = None, keepdim: bool | None = None, *, axis: Axes = None,
            keepdims: bool | None = None) -> Tensor | MaxResult:
        """The smallest values, as torch.min: the same forms as `max` (the values alone are -max(-x))."""
        return self._extreme("min", dim, keepdim, axis, keepdims)

    def _extreme(self, op: str, dim: Any, keepdim: bool | None, axis: Axes,
                 keepdims: bool | None) -> Tensor | MaxResult:
        """max or min: the values over `axis`, or over `dim` with the indices of the first extreme."""
        keepdims = _either(op, keepdims, keepdim, False, "keepdims", "keepdim")
        if dim is None:
            if op == "max":
                return ops.Max.apply(self, axis=_axes(axis), keepdims=keepdims)
            if self.data.dtype.kind != "f":  # no gradient to carry, and -x would wrap unsigned integers
                return self._from_op(np.asarray(self.data.min(axis=_axes(axis), keepdims=keepdims)))
            return -ops.Max.apply(-self, axis=_axes(axis), keepdims=keepdims)
        _either(op, axis, dim)  # refuses both
        if not isinstance(dim, Integral):
            raise TypeError(f"{op}: dim must be one integer (it returns values and indices), got {dim!r}; "
                            "use axis= for several axes")
        dim = self._axis(int(dim), op)
        indices = (self.data.argmax if op == "max" else self.data.argmin)(axis=dim, keepdims=True)
        where = list(np.ix_(*(np.arange(size) for size in self.shape)))
        where[dim] = indices
        values = self[tuple(where)]  # a getitem: its backward sends the gradient to each index alone
        if not keepdims:
            values, indices = values.reshape(values.shape[:dim] + values.shape[dim + 1:]), indices.squeeze(dim)
        return MaxResult(values, self._from_op(np.asarray(indices)))

    def argmax(self, dim: int | None = None, keepdim: bool | None = None, *, axis: int | None = None,
               keepdims: bool | None = None) -> Tensor:
        """Indices (int64) of the largest values along `dim` (the first of ties), or into the flattened tensor
        when `dim` is None, as torch.argmax (numpy's axis/keepdims too). Indices carry no gradient."""
        return self._arg_extreme("argmax", _either("argmax", axis, dim), _either("argmax", keepdims, keepdim, False,
                                                                                 "keepdims", "keepdim"))

    def argmin(self, dim: int | None = None, keepdim: bool | None = None, *, axis: int | None = None,
               keepdims: bool | None = None) -> Tensor:
        """Indices (int64) of the smallest values along `dim` (the first of ties), as torch.argmin."""
        return self._arg_extreme("argmin", _either("argmin", axis, dim), _either("argmin", keepdims, keepdim, False,
                                                                                 "keepdims", "keepdim"))

    def _arg_extreme(self, op: str, dim: int | None, keepdim: bool) -> Tensor:
        find = self.data.argmax if op == "argmax" else self.data.argmin
        if dim is None:
            flat = find()
            indices = np.full((1,) * self.ndim, flat) if keepdim else np.asarray(flat)
        else:
            indices = find(axis=_dim(dim, self.ndim, op, self.shape), keepdims=keepdim)
        return self._from_op(np.asarray(indices, dtype=np.int64))

    def softmax(self, axis: int | None = None, *, dim: int | None = None) -> Tensor:
        return ops.Softmax.apply(self, axis=_either("softmax", axis, dim, -1))

    def log_softmax(self, axis: int | None = None, *, dim: int | None = None) -> Tensor:
        return ops.LogSoftmax.apply(self, axis=_either("log_softmax", axis, dim, -1))

    # ---- PyTorch's elementwise methods: clamp and masked_fill, composed with where ----------------------------
    def clamp(self, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002 (PyTorch's names)
        """Each value held between `min` and `max` (numbers or tensors that broadcast), as torch.clamp: NaN stays
        NaN, and when min > max every value becomes max. The gradient passes where min <= x <= max; a bound that
        requires grad receives it where it is the answer (as in PyTorch)."""
        if min is None and max is None:
            raise ValueError("clamp: give at least one of min and max")
        x = self
        for bound in (min, max):  # an integer tensor with a float bound becomes float first, as in PyTorch
            if bound is not None:
                x, _ = x._operands(bound)
        data = x.data
        low = None if min is None else x._operands(min)[1]
        high = None if max is None else x._operands(max)[1]
        inside = np.ones(data.shape, dtype=bool)
        value = data
        if low is not None:
            inside = inside & (data >= low.data)
            value = np.maximum(value, low.data)
        if high is not None:
            inside = inside & (data <= high.data)
            value = np.minimum(value, high.data)
        out = self._from_op(np.asarray(value, dtype=np.result_type(data, value)))
        # NOTE: the three conditions never overlap, so each value has one source: x, min, max, or a constant.
        if high is not None and high.requires_grad:
            lower = np.zeros((), dtype=bool) if low is None else low.data > high.data
            out = ops.Where.apply(high, out, condition=(data > high.data) | lower)
        if low is not None and low.requires_grad:
            below = data < low.data
            out = ops.Where.apply(low, out, condition=below if high is None else below & (low.data < high.data))
        return ops.Where.apply(x, out, condition=inside)

    def clamp_min(self, min: Any) -> Tensor:  # noqa: A002
        """clamp(min=min)."""
        return self.clamp(min=min)

    def clamp_max(self, max: Any) -> Tensor:  # noqa: A002
        """clamp(max=max)."""
        return self.clamp(max=max)

    def masked_fill(self, mask: Any, value: Any) -> Tensor:
        """`value` where the boolean `mask` is True, this tensor elsewhere, as torch.masked_fill: the two broadcast
        together, and `value` is a number or a 0-d tensor (which may require grad). The gradient passes where the
        mask is False."""
        mask = np.asarray(mask.data if isinstance(mask, Tensor) else mask)
        if mask.dtype != np.bool_:
            raise TypeError(f"masked_fill: the mask must be a bool tensor, got dtype {mask.dtype} (shape "
                            f"{mask.shape}); make one with a comparison, such as mask != 0")
        try:
            np.broadcast_shapes(mask.shape, self.shape)
        except ValueError:
            raise OpError(f"masked_fill: a mask of shape {mask.shape} for a tensor of shape {self.shape}; expected "
                          "shapes that broadcast together (numpy rules)") from None
        if isinstance(value, Tensor):
            if value.ndim != 0:
                raise OpError(f"masked_fill: value must be a number or a 0-d tensor, got shape {value.shape}")
            if value.dtype != self.dtype:
                value = self._from_op(value.data.astype(self.dtype)) if not value.requires_grad else value
        elif isinstance(value, Real):
            value = self._from_op(np.asarray(value).astype(self.dtype))
        else:
            raise TypeError(f"masked_fill: value must be a number or a 0-d tensor, got {type(value).__name__}")
        return ops.Where.apply(value, self, condition=mask)


Tensor.op_output = Tensor  # ops on a Parameter make Tensors too

Axes = int | tuple[int, ...] | list[int] | None


class MaxResult(NamedTuple):
    """`t.max(d)` or `t.min(d)`, as torch.max answers: the largest (smallest) values and where they are along d."""

    values: Tensor
    indices: Tensor


def _true_division(this: Tensor, other: Tensor) -> tuple[Tensor, Tensor]:
    """Two integer (or bool) operands of `/` as float32, since PyTorch divides integers into its default float
    (numpy would answer float64)."""
    if this.data.dtype.kind == "f" or other.data.dtype.kind == "f":
        return this, other
    return this._from_op(this.data.astype(DEFAULT_DTYPE)), other._from_op(other.data.astype(DEFAULT_DTYPE))


def _axes(axis: Any) -> Any:
    """A list of axes as the tuple numpy wants (`x.sum(axis=[0, 1])`)."""
    return tuple(axis) if isinstance(axis, list) else axis


# ---- functions and factories --------------------------------------------------------------------------------
