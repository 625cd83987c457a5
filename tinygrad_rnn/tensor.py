"""Tensor: a numpy array that remembers the op that made it, so gradients can flow back through it.

Every method calls a registered op (see ops/); the graph core (graph.py) does the backward pass. The shape methods
live in shaping.py.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from numbers import Integral, Real
from typing import Any, NamedTuple

import numpy as np

from . import ops
from .errors import GraphError, OpError
from .graph import backward
from .mode import is_grad_enabled
from .operators import Arithmetic
from .shaping import Shaping, Size, _dim, _either, _plain_index, _shape
from .versions import mark_modified, next_sequence_number

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


class Tensor(Shaping, Arithmetic):
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
    def backward(self, grad: Any = None, retain_graph: bool = False, retain_grads: bool = False) -> None:
        """Accumulate d self/d leaf into every leaf's `.grad`; `grad` is required unless self has one element."""
        if grad is None:
            if self.data.size != 1:
                raise GraphError(f"backward: grad can be omitted only for a one-element output, but this one has "
                                 f"shape {self.shape}; pass grad= of that shape (e.g. ones) or reduce it first")
            grad = np.ones_like(self.data)
        else:
            grad = _as_array(grad, self.dtype)
            if grad.shape != self.shape:
                raise GraphError(f"backward: grad has shape {grad.shape} but the output has shape {self.shape}")
        backward(self, grad, retain_graph=retain_graph, retain_grads=retain_grads)

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

    # ---- in place: += -= *= /= and x[i] = v change this tensor's own array, as in PyTorch (never recorded) --
    def __iadd__(self, other: Any) -> Tensor:
        return self._in_place(np.add, "+=", other)

    def __isub__(self, other: Any) -> Tensor:
        return self._in_place(np.subtract, "-=", other)

    def __imul__(self, other: Any) -> Tensor:
        return self._in_place(np.multiply, "*=", other)

    def __itruediv__(self, other: Any) -> Tensor:
        return self._in_place(np.true_divide, "/=", other)

    def __setitem__(self, index: Any, value: Any) -> None:
        """`x[index] = value` in place (so `x[0] += 1` works too), with the rules of `_in_place`."""
        operand = self._checked_operand("setitem", value)
        index = _plain_index(index)
        target = self.data[index]
        if not np.can_cast(operand.dtype, self.dtype, "same_kind"):
            raise TypeError(f"setitem: a {operand.dtype} value cannot be stored in this {self.dtype} tensor in "
                            "place (PyTorch refuses this too)")
        if not _broadcasts_to(operand.shape, np.shape(target)):
            raise ValueError(f"setitem: a value of shape {operand.shape} does not broadcast to the shape "
                             f"{np.shape(target)} of x[{index!r}]")
        self.data[index] = operand.data
        mark_modified(self)

    def _in_place(self, ufunc: np.ufunc, symbol: str, other: Any) -> Tensor:
        """`self.data <ufunc>= other` in the same array (same shape and dtype), then `mark_modified`, so that a
        graph which used the old value refuses backward."""
        operand = self._checked_operand(symbol, other)
        if not _broadcasts_to(operand.shape, self.shape):
            raise ValueError(f"{symbol}: the other operand has shape {operand.shape}, which does not broadcast to "
                             f"this tensor's shape {self.shape} (an in-place change keeps the shape)")
        try:
            ufunc(self.data, operand.data, out=self.data, casting="same_kind")
        except TypeError:  # numpy's UFuncTypeError: e.g. a float result into an int tensor
            result = ufunc(np.zeros(0, self.dtype), np.zeros(0, operand.dtype)).dtype
            raise TypeError(f"{symbol}: the result has dtype {result}, which cannot be stored in this {self.dtype} "
                            f"tensor in place (PyTorch refuses this too); write x = x {symbol[0]} y for a new "
                            "tensor instead") from None
        mark_modified(self)
        return self

    def _checked_operand(self, symbol: str, other: Any) -> Tensor:
        """`other` as a Tensor, after refusing what an in-place change must not do. As in PyTorch: a leaf that
        requires grad while grad mode is on (`with tg.no_grad():` is the way to update a weight). And what
        would have to be recorded in a graph, which ours never does: a tensor an op made, or an operand that
        requires grad in grad mode."""
        rewrite = f"write x = x {symbol[0]} y for a new tensor instead" if symbol != "setitem" else (
            "build the new tensor with tg.where or tg.cat instead")
        if not self.is_leaf:
            raise GraphError(f"{symbol}: this tensor was made by op '{self.op}' and belongs to a graph that may "
                             f"hold its value, so changing it in place could make backward wrong; {rewrite}")
        grad_mode = is_grad_enabled()
        if self.requires_grad and grad_mode:
            raise GraphError(f"{symbol}: a leaf that requires grad cannot be changed in place while grad mode is "
                             f"on (as in PyTorch); update it inside `with tg.no_grad():`, as an optimizer does")
        operand = self._other(other)
        if operand.requires_grad and grad_mode:
            raise GraphError(f"{symbol}: the other operand requires grad, but an in-place change is not recorded "
                             f"in the graph, so no gradient would reach it; {rewrite}, or use tg.no_grad()")
        if not self.data.flags.writeable:
            raise ValueError(f"{symbol}: this tensor's array is read-only (a numpy view that cannot be written)")
        return operand

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

    def argmax(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        """Indices (int64) of the largest values along `dim` (the first of ties), or into the flattened tensor
        when `dim` is None, as torch.argmax. Indices carry no gradient."""
        return self._arg_extreme("argmax", dim, keepdim)

    def argmin(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        """Indices (int64) of the smallest values along `dim` (the first of ties), as torch.argmin."""
        return self._arg_extreme("argmin", dim, keepdim)

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


Tensor.op_output = (Tensor, False)  # ops on a Parameter make Tensors too

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

def cat(tensors: Sequence[Tensor], axis: int | None = None, *, dim: int | None = None) -> Tensor:
    """Join tensors along an existing axis (`axis` or `dim`, 0 by default)."""
    return ops.Concatenate.apply(*_tensors(tensors, "cat"), axis=_either("cat", axis, dim, 0))


def stack(tensors: Sequence[Tensor], axis: int | None = None, *, dim: int | None = None) -> Tensor:
    """Join tensors along a new axis (`axis` or `dim`, 0 by default)."""
    return ops.Stack.apply(*_tensors(tensors, "stack"), axis=_either("stack", axis, dim, 0))


def addmm(input: Tensor, mat1: Tensor, mat2: Tensor) -> Tensor:
    """input + mat1 @ mat2 as one op (one GEMM); mat2 is a matrix, input broadcasts to the product."""
    return ops.AddMM.apply(input, mat1, mat2)


def _tensors(tensors: Sequence[Tensor], op: str) -> list[Tensor]:
    """`tensors` as a non-empty list of Tensors, or an error naming `op` and the position of the odd one."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError(f"{op}: expected a non-empty sequence of tensors")
    for position, item in enumerate(tensors):
        if not isinstance(item, Tensor):
            raise TypeError(f"{op}: expected a Tensor at position {position}, got {type(item).__name__}")
    return tensors


def where(condition: Any, x: Any, y: Any) -> Tensor:
    """Elementwise `x if condition else y` for a constant boolean condition (constants take the tensor's dtype)."""
    if isinstance(x, Tensor):
        x, y = x._operands(y)
    elif isinstance(y, Tensor):
        y, x = y._operands(x)
    else:
        x, y = Tensor(x)._operands(y)
    condition = condition.data if isinstance(condition, Tensor) else np.asarray(condition)
    if condition.dtype.kind not in "biu":
        raise TypeError(f"where: condition must be a boolean array (or Tensor), got {condition.dtype}")
    return ops.Where.apply(x, y, condition=condition.astype(bool))


def tensor(data: Any, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    """A new tensor copying `data` (Python floats become float32)."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def zeros(*shape: int, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros (float32 unless dtype says otherwise)."""
    return Tensor(np.zeros(_shape(shape), dtype=dtype or DEFAULT_DTYPE), requires_grad=requires_grad)


def ones(*shape: int, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones (float32 unless dtype says otherwise)."""
    return Tensor(np.ones(_shape(shape), dtype=dtype or DEFAULT_DTYPE), requires_grad=requires_grad)


def randn(*shape: int, generator: Generator = None, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Standard-normal samples; `generator` is a numpy Generator or a seed, for reproducibility."""
    rng = as_generator(generator, "randn")
    return Tensor(rng.standard_normal(_shape(shape)).astype(dtype or DEFAULT_DTYPE), requires_grad=requires_grad)


def check_seed(seed: Any, function: str) -> int:
    """`seed` as an int, if it is a whole number >= 0 (numpy's rule for seeds); else an error naming `function`."""
    if isinstance(seed, bool) or not isinstance(seed, Integral):
        raise TypeError(f"{function}: expected a seed (a whole number >= 0), got {_shown(seed)} of type "
                        f"{type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"{function}: a seed must be a whole number >= 0, got {_shown(seed)}")
    return int(seed)


def as_generator(generator: Generator, function: str) -> np.random.Generator:
    """`generator` itself, a new Generator from a seed (a whole number >= 0), or (None) one freshly seeded."""
    if isinstance(generator, np.random.Generator):
        return generator
    if generator is None:
        return np.random.default_rng()
    integer = isinstance(generator, Integral) and not isinstance(generator, bool)
    if not integer or generator < 0:
        raise (ValueError if integer else TypeError)(
            f"{function}: generator must be a numpy Generator, a seed (a whole number >= 0) or None, got "
            f"{_shown(generator)}" + ("" if integer else f" of type {type(generator).__name__}"))
    return np.random.default_rng(int(generator))


def _shown(value: Any) -> str:
    """A repr short enough for an error message."""
    text = repr(value)
    return text if len(text) <= 60 else text[:40] + f"... ({len(text)} characters)"


def arange(start: float, stop: float | None = None, step: float = 1, dtype: Any = None) -> Tensor:
    """Evenly spaced values in [start, stop), as numpy.arange: integers stay integers, floats are float32."""
    if dtype is None and any(isinstance(bound, float) for bound in (start, stop, step)):
        dtype = DEFAULT_DTYPE
    return Tensor(np.arange(start, stop, step, dtype=dtype))


def zeros_like(tensor: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Zeros of `tensor`'s shape and dtype (or `dtype`), as torch.zeros_like."""
    return Tensor(np.zeros(tensor.shape, dtype=dtype or tensor.dtype), requires_grad=requires_grad)


def ones_like(tensor: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Ones of `tensor`'s shape and dtype (or `dtype`), as torch.ones_like."""
    return Tensor(np.ones(tensor.shape, dtype=dtype or tensor.dtype), requires_grad=requires_grad)


def randn_like(tensor: Tensor, generator: Generator = None, dtype: Any = None,
               requires_grad: bool = False) -> Tensor:
    """Standard-normal samples of `tensor`'s shape and floating dtype (or `dtype`), drawn as `randn` draws."""
    dtype = np.dtype(dtype or tensor.dtype)
    if dtype.kind != "f":
        raise TypeError(f"randn_like: normal samples need a floating dtype, got {dtype} (pass dtype=)")
    return randn(*tensor.shape, generator=generator, dtype=dtype, requires_grad=requires_grad)


def _broadcasts_to(shape: tuple[int, ...], target: tuple[int, ...]) -> bool:
    """True when an array of `shape` broadcasts to `target` without growing it (what an in-place change needs)."""
    try:
        return np.broadcast_shapes(shape, target) == target
    except ValueError:
        return False
