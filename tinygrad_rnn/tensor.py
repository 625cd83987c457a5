"""Tensor: a numpy array that remembers the op that made it, so gradients can flow back through it.

Every method calls a registered op (see ops/); the graph core (graph.py) does the backward pass.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from numbers import Integral
from typing import Any, NamedTuple

import numpy as np

from . import ops
from .errors import GraphError
from .graph import backward
from .mode import is_grad_enabled
from .operators import Arithmetic
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


class Tensor(Arithmetic):
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

    @property
    def size(self) -> int:
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
        return self.data.item()

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
        array = np.asarray(other)
        if array.dtype.kind not in "biuf":
            raise TypeError(f"expected a number, a numeric numpy array or a Tensor as the other operand, got "
                            f"{type(other).__name__}" + (f" of dtype {array.dtype}" if array.dtype.kind != "O" else ""))
        return self._from_op(array.astype(self.data.dtype, copy=False) if floating else array)

    def __matmul__(self, other: Any) -> Tensor:
        return ops.MatMul.apply(self, self._other(other))

    def __rmatmul__(self, other: Any) -> Tensor:
        return ops.MatMul.apply(self._other(other), self)

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

    def max(self, axis: Axes = None, keepdims: bool | None = None, *, dim: int | None = None,
            keepdim: bool | None = None) -> Tensor | MaxResult:
        """The largest values. With numpy's `axis` (`t.max(1)`, `t.max(axis=1)`) or none, just the values, and
        ties share the gradient; with PyTorch's `dim`, `(values, indices)` as torch.max answers, the values picked
        at the indices (the first of ties), so that the gradient goes there alone, as in PyTorch."""
        keepdims = _either("max", keepdims, keepdim, False, "keepdims", "keepdim")
        if dim is None:
            return ops.Max.apply(self, axis=_axes(axis), keepdims=keepdims)
        _either("max", axis, dim)  # refuses both
        if not isinstance(dim, Integral):
            raise TypeError(f"max: dim must be one integer (it returns values and indices), got {dim!r}; "
                            "use axis= for several axes")
        dim = self._axis(int(dim), "max")
        indices = self.data.argmax(axis=dim, keepdims=True)
        where = list(np.ix_(*(np.arange(size) for size in self.shape)))
        where[dim] = indices
        values = self[tuple(where)]  # a getitem: its backward sends the gradient to each index alone
        if not keepdims:
            values, indices = values.reshape(values.shape[:dim] + values.shape[dim + 1:]), indices.squeeze(dim)
        return MaxResult(values, self._from_op(np.asarray(indices)))

    def softmax(self, axis: int | None = None, *, dim: int | None = None) -> Tensor:
        return ops.Softmax.apply(self, axis=_either("softmax", axis, dim, -1))

    def log_softmax(self, axis: int | None = None, *, dim: int | None = None) -> Tensor:
        return ops.LogSoftmax.apply(self, axis=_either("log_softmax", axis, dim, -1))

    # ---- shape ---------------------------------------------------------------------------------------------
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

    def _axis(self, axis: int, op: str) -> int:
        """`axis` as a non-negative index, or an error naming `op` and this tensor's shape."""
        if not -self.ndim <= axis < self.ndim:
            raise ValueError(f"{op}: axis {axis} is out of range for a tensor of shape {self.shape}")
        return axis % self.ndim


Tensor.op_output = (Tensor, False)  # ops on a Parameter make Tensors too

Axes = int | tuple[int, ...] | list[int] | None


class MaxResult(NamedTuple):
    """`t.max(dim=d)`, as torch.max answers: the largest values and where they are along `d`."""

    values: Tensor
    indices: Tensor


def _either(op: str, numpy_value: Any, torch_value: Any, default: Any = None, numpy_name: str = "axis",
            torch_name: str = "dim") -> Any:
    """What the caller gave as numpy's word (`axis`, `keepdims`) or PyTorch's (`dim`, `keepdim`), else `default`.
    PyTorch takes numpy's words too, so code written for either mostly runs here (not `t.max(1)`, which is
    numpy's max here: see Tensor.max); giving both is refused."""
    if torch_value is None:
        return default if numpy_value is None else numpy_value
    if numpy_value is not None:
        raise TypeError(f"{op}: got both {numpy_name}={numpy_value!r} and {torch_name}={torch_value!r}; "
                        "they are two names for one argument, give one")
    return torch_value


def _axes(axis: Any) -> Any:
    """A list of axes as the tuple numpy wants (`x.sum(axis=[0, 1])`)."""
    return tuple(axis) if isinstance(axis, list) else axis


def _broadcasts_to(shape: tuple[int, ...], target: tuple[int, ...]) -> bool:
    """True when an array of `shape` broadcasts to `target` without growing it (what an in-place change needs)."""
    try:
        return np.broadcast_shapes(shape, target) == target
    except ValueError:
        return False


def _plain_index(index: Any) -> Any:
    """Tensors and lists inside an index become integer/bool arrays of our own (copies: the caller may change
    theirs before backward scatters the gradient with it)."""
    if isinstance(index, tuple):
        return tuple(_plain_index(part) for part in index)
    if isinstance(index, Tensor):
        return index.data.copy()
    if isinstance(index, (list, np.ndarray)):
        return np.array(index)
    return index


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
        y = x._other(y)
    elif isinstance(y, Tensor):
        x = y._other(x)
    else:
        x = Tensor(x)
        y = x._other(y)
    condition = condition.data if isinstance(condition, Tensor) else np.asarray(condition)
    if condition.dtype.kind not in "biu":
        raise TypeError(f"where: condition must be a boolean array (or Tensor), got {condition.dtype}")
    return ops.Where.apply(x, y, condition=condition.astype(bool))


def tensor(data: Any, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    """A new tensor copying `data` (Python floats become float32)."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def _shape(shape: tuple[Any, ...]) -> tuple[int, ...]:
    """Sizes given one by one or as one sequence, as plain ints (numpy integers too)."""
    if len(shape) == 1 and not isinstance(shape[0], Integral):
        shape = tuple(shape[0])
    return tuple(int(size) if isinstance(size, Integral) else size for size in shape)


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
