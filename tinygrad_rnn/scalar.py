"""Value: the micrograd-sized engine, one float at a time.

It is not a second autograd: a Value is a graph node like a Tensor, its operators call the same registered ops
(their forward and backward work on scalars as on arrays), and `backward` is the same graph.backward.
The number is kept as numpy's float64 scalar, a subclass of Python's float that also has a `.shape` of (),
so the engine's gradient-shape check is the same for both.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import ops
from .graph import Node, backward, next_sequence_number


class Value(Node):
    """A scalar that remembers the op that made it: `Value(2.0) * Value(3.0)`, then `.backward()`."""

    __slots__ = ()
    shape = ()

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.float64)

    def __init__(self, data: float, requires_grad: bool = True) -> None:
        self.data = np.float64(data)
        self._seq = next_sequence_number()
        self.grad: float | None = None
        self.requires_grad = requires_grad
        self._ctx = self._pending = self._hooks = self.name = None
        self._retains_grad = False

    @staticmethod
    def _from_op(data: Any, ctx: Any = None) -> Value:
        """Wrap an op's output as a Value; `ctx` if recorded."""
        out = object.__new__(Value)
        out.data = np.float64(data)
        out._seq = next_sequence_number()
        out._ctx = ctx
        out.requires_grad = ctx is not None
        out.grad = out._pending = out._hooks = out.name = None
        out._retains_grad = False
        return out

    def __repr__(self) -> str:
        return f"Value(data={self.data:.4g}, grad={self.grad if self.grad is None else format(self.grad, '.4g')})"

    @property
    def op(self) -> str | None:
        """Name of the registered op that made this value (None for a leaf)."""
        return None if self._ctx is None else self._ctx.name

    def backward(self, retain_graph: bool = False, retain_grads: bool = False) -> None:
        """Accumulate d self/d leaf into every leaf's `.grad` (d self/d self = 1)."""
        backward(self, np.float64(1.0), retain_graph=retain_graph, retain_grads=retain_grads)

    def _accumulate(self, grad: Any) -> None:
        self.grad = float(grad) if self.grad is None else self.grad + float(grad)

    def zero_grad(self) -> None:
        """Forget the accumulated gradient."""
        self.grad = None

    @staticmethod
    def _of(other: Any) -> Value:
        return other if isinstance(other, Value) else Value(other, requires_grad=False)

    def __add__(self, other: Any) -> Value:
        return ops.Add.apply(self, self._of(other))

    def __radd__(self, other: Any) -> Value:
        return ops.Add.apply(self._of(other), self)

    def __sub__(self, other: Any) -> Value:
        return ops.Sub.apply(self, self._of(other))

    def __rsub__(self, other: Any) -> Value:
        return ops.Sub.apply(self._of(other), self)

    def __mul__(self, other: Any) -> Value:
        return ops.Mul.apply(self, self._of(other))

    def __rmul__(self, other: Any) -> Value:
        return ops.Mul.apply(self._of(other), self)

    def __truediv__(self, other: Any) -> Value:
        return ops.Div.apply(self, self._of(other))

    def __rtruediv__(self, other: Any) -> Value:
        return ops.Div.apply(self._of(other), self)

    def __pow__(self, exponent: float) -> Value:
        if isinstance(exponent, Value):
            raise TypeError("pow: the exponent must be a constant number, not a Value")
        return ops.Pow.apply(self, exponent=exponent)

    def __neg__(self) -> Value:
        return ops.Neg.apply(self)

    def exp(self) -> Value:
        return ops.Exp.apply(self)

    def log(self) -> Value:
        return ops.Log.apply(self)

    def tanh(self) -> Value:
        return ops.Tanh.apply(self)

    def relu(self) -> Value:
        return ops.ReLU.apply(self)

