"""The arithmetic `Tensor` and `Value` share: each operator calls one registered op, so both engines run the
same ops through the same graph core. A subclass says how a plain number becomes a constant (`_other`), and may
change the pair a binary op receives (`_operands`: a Tensor casts an integer operand that meets a float)."""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np

from . import ops
from .graph import Node

N = TypeVar("N", bound="Arithmetic")


class Arithmetic(Node):
    """+ - * / ** with numbers on either side, negation, abs, sqrt, exp, log, tanh, sigmoid and relu."""

    __slots__ = ()

    def _other(self: N, other: Any) -> N:
        """`other` as a node of this kind (a plain number becomes a constant that needs no gradient)."""
        raise NotImplementedError

    def _operands(self: N, other: Any) -> tuple[N, N]:
        """(self, other) as the two inputs of a binary op, in that order."""
        return self, self._other(other)

    def __add__(self: N, other: Any) -> N:
        this, other = self._operands(other)
        return ops.Add.apply(this, other)

    def __radd__(self: N, other: Any) -> N:
        this, other = self._operands(other)
        return ops.Add.apply(other, this)

    def __sub__(self: N, other: Any) -> N:
        this, other = self._operands(other)
        return ops.Sub.apply(this, other)

    def __rsub__(self: N, other: Any) -> N:
        this, other = self._operands(other)
        return ops.Sub.apply(other, this)

    def __mul__(self: N, other: Any) -> N:
        this, other = self._operands(other)
        return ops.Mul.apply(this, other)

    def __rmul__(self: N, other: Any) -> N:
        this, other = self._operands(other)
        return ops.Mul.apply(other, this)

    def __truediv__(self: N, other: Any) -> N:
        this, other = self._operands(other)
        return ops.Div.apply(this, other)

    def __rtruediv__(self: N, other: Any) -> N:
        this, other = self._operands(other)
        return ops.Div.apply(other, this)

    def __pow__(self: N, exponent: float) -> N:
        if isinstance(exponent, np.generic):
            exponent = exponent.item()  # a numpy float64 exponent would upcast a float32 tensor
        if not isinstance(exponent, (int, float)):
            raise TypeError(f"pow: the exponent must be a constant number, not a {type(exponent).__name__}")
        return ops.Pow.apply(self, exponent=exponent)

    def __neg__(self: N) -> N:
        return ops.Neg.apply(self)

    def __abs__(self: N) -> N:
        return ops.Abs.apply(self)

    def abs(self: N) -> N:
        """|x|, elementwise (`abs(x)` too); its gradient is sign(x), 0 at 0 as in PyTorch."""
        return ops.Abs.apply(self)

    def sqrt(self: N) -> N:
        """The square root, as x ** 0.5 (a pow: NaN below 0 and an infinite gradient at 0, as in PyTorch)."""
        return ops.Pow.apply(self, exponent=0.5)

    def exp(self: N) -> N:
        return ops.Exp.apply(self)

    def log(self: N) -> N:
        return ops.Log.apply(self)

    def tanh(self: N) -> N:
        return ops.Tanh.apply(self)

    def sigmoid(self: N) -> N:
        return ops.Sigmoid.apply(self)

    def relu(self: N) -> N:
        return ops.ReLU.apply(self)
