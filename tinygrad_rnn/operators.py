"""The arithmetic `Tensor` and `Value` share: each operator calls one registered op, so both engines run the
same ops through the same graph core. A subclass says how a plain number becomes a constant (`_other`)."""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np

from . import ops
from .graph import Node

N = TypeVar("N", bound="Arithmetic")


class Arithmetic(Node):
    """+ - * / ** with numbers on either side, negation, exp, log, tanh, sigmoid and relu."""

    __slots__ = ()

    def _other(self: N, other: Any) -> N:
        """`other` as a node of this kind (a plain number becomes a constant that needs no gradient)."""
        raise NotImplementedError

    def __add__(self: N, other: Any) -> N:
        return ops.Add.apply(self, self._other(other))

    def __radd__(self: N, other: Any) -> N:
        return ops.Add.apply(self._other(other), self)

    def __sub__(self: N, other: Any) -> N:
        return ops.Sub.apply(self, self._other(other))

    def __rsub__(self: N, other: Any) -> N:
        return ops.Sub.apply(self._other(other), self)

    def __mul__(self: N, other: Any) -> N:
        return ops.Mul.apply(self, self._other(other))

    def __rmul__(self: N, other: Any) -> N:
        return ops.Mul.apply(self._other(other), self)

    def __truediv__(self: N, other: Any) -> N:
        return ops.Div.apply(self, self._other(other))

    def __rtruediv__(self: N, other: Any) -> N:
        return ops.Div.apply(self._other(other), self)

    def __pow__(self: N, exponent: float) -> N:
        if isinstance(exponent, np.generic):
            exponent = exponent.item()  # a numpy float64 exponent would upcast a float32 tensor
        if not isinstance(exponent, (int, float)):
            raise TypeError(f"pow: the exponent must be a constant number, not a {type(exponent).__name__}")
        return ops.Pow.apply(self, exponent=exponent)

    def __neg__(self: N) -> N:
        return ops.Neg.apply(self)

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
