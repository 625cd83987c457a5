"""Making tensors (`tensor`, `zeros`, `ones`, `randn`, `arange`, the `*_like`s, with seeds checked) and the
functions of several tensors (`cat`, `stack`, `addmm`, `where`), each one registered op or a constructor."""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral
from typing import Any

import numpy as np

from . import ops
from .shaping import _either, _shape
from .tensor import DEFAULT_DTYPE, Generator, Tensor


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
    return Tensor(np.zeros(_sizes("zeros", shape), dtype=dtype or DEFAULT_DTYPE), requires_grad=requires_grad)


def ones(*shape: int, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones (float32 unless dtype says otherwise)."""
    return Tensor(np.ones(_sizes("ones", shape), dtype=dtype or DEFAULT_DTYPE), requires_grad=requires_grad)


def randn(*shape: int, generator: Generator = None, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Standard-normal samples; `generator` is a numpy Generator or a seed, for reproducibility."""
    rng = as_generator(generator, "randn")
    samples = rng.standard_normal(_sizes("randn", shape)).astype(dtype or DEFAULT_DTYPE)
    return Tensor(samples, requires_grad=requires_grad)


def _sizes(function: str, shape: tuple[Any, ...]) -> tuple[int, ...]:
    """The sizes of a new tensor (one by one or as one sequence), each a whole number >= 0, or an error naming
    `function`."""
    try:
        sizes = _shape(shape)
    except TypeError:
        sizes = shape
    if not all(isinstance(size, Integral) and not isinstance(size, bool) and size >= 0 for size in sizes):
        raise (TypeError if any(not isinstance(size, Integral) for size in sizes) else ValueError)(
            f"{function}: sizes must be whole numbers >= 0, got {_shown(tuple(shape))}")
    return sizes


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


def _like(function: str, tensor: Any) -> None:
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{function}: expected a Tensor, got {type(tensor).__name__} (tg.tensor(data) makes one)")


def zeros_like(tensor: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Zeros of `tensor`'s shape and dtype (or `dtype`), as torch.zeros_like."""
    _like("zeros_like", tensor)
    return Tensor(np.zeros(tensor.shape, dtype=dtype or tensor.dtype), requires_grad=requires_grad)


def ones_like(tensor: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Ones of `tensor`'s shape and dtype (or `dtype`), as torch.ones_like."""
    _like("ones_like", tensor)
    return Tensor(np.ones(tensor.shape, dtype=dtype or tensor.dtype), requires_grad=requires_grad)


def randn_like(tensor: Tensor, generator: Generator = None, dtype: Any = None,
               requires_grad: bool = False) -> Tensor:
    """Standard-normal samples of `tensor`'s shape and floating dtype (or `dtype`), drawn as `randn` draws."""
    _like("randn_like", tensor)
    dtype = np.dtype(dtype or tensor.dtype)
    if dtype.kind != "f":
        raise TypeError(f"randn_like: normal samples need a floating dtype, got {dtype} (pass dtype=)")
    return randn(*tensor.shape, generator=generator, dtype=dtype, requires_grad=requires_grad)
