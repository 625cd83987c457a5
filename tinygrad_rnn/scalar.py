"""Value: the micrograd-sized engine, one float at a time.

It is not a second autograd: a Value is a graph node like a Tensor, with the same operators (operators.py) calling
the same registered ops (their forward and backward work on scalars as on arrays), and `backward` is the same
graph.backward.
The number is kept as numpy's float64 scalar, a subclass of Python's float that also has a `.shape` of (),
so the engine's gradient-shape check is the same for both.
"""

from __future__ import annotations

from numbers import Real
from typing import Any

import numpy as np

from . import higher_order
from .graph import Context, Node, backward
from .operators import Arithmetic
from .versions import next_sequence_number


class Value(Arithmetic):
    """A scalar that remembers the op that made it: `Value(2.0) * Value(3.0)`, then `.backward()`."""

    __slots__ = ()
    shape = ()

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.float64)

    def __init__(self, data: float, requires_grad: bool = True) -> None:
        if not _is_real(data):  # np.float64 would also take None (nan) and numeric strings
            shape = f" of shape {data.shape}" if isinstance(data, (np.ndarray, Node)) else ""
            raise TypeError(f"Value holds one real number, got {type(data).__name__}{shape}: {data!r:.40}")
        self.data = np.float64(data)
        self._seq = next_sequence_number()
        self._ctx = self._grad = self._pending = self._hooks = self.name = None
        self.requires_grad = requires_grad

    def __repr__(self) -> str:
        grad = self.grad.data if isinstance(self.grad, Value) else self.grad  # (a Value after create_graph)
        return f"Value(data={self.data:.4g}, grad={grad if grad is None else format(grad, '.4g')})"

    def backward(self, retain_graph: bool | None = None, retain_grads: bool = False,
                 create_graph: bool = False) -> None:
        """Accumulate d self/d leaf into every leaf's `.grad` (d self/d self = 1). With `create_graph=True` each
        `.grad` is a Value made by the recorded backward, which can be differentiated again."""
        if create_graph:
            higher_order.backward(self, None, retain_graph=retain_graph, retain_grads=retain_grads)
            return
        backward(self, np.float64(1.0), retain_graph=bool(retain_graph), retain_grads=retain_grads)

    def _accumulate(self, grad: Any) -> None:
        self._grad = float(grad) if self._grad is None else self._grad + float(grad)

    def zero_grad(self) -> None:
        """Forget the accumulated gradient."""
        self.grad = None

    def _from_op(self, data: Any, ctx: Context | None = None) -> Value:
        """As Node's, and a recorded Value stays on its context: a Value graph keeps every value, to be drawn
        micrograd-style."""
        out = Node._from_op(self, data, ctx)
        if ctx is not None:
            ctx.output = out
        return out

    def _other(self, other: Any) -> Value:
        return other if isinstance(other, Value) else Value(other, requires_grad=False)


Value.op_output = Value


def _is_real(data: Any) -> bool:
    """True for a real number: a Python or numpy int or float, or a 0-d numeric array."""
    if isinstance(data, np.ndarray):
        return data.ndim == 0 and data.dtype.kind in "biuf"
    return isinstance(data, Real)
