"""In-place changes of a tensor: += -= *= /= and x[i] = v change its own array, as in PyTorch, and are never
recorded: `mark_modified` makes a graph that used the old value refuse backward. (Inside an op's backward recorded
for create_graph, `a *= b` on a value that backward made makes a new node instead, as it does for a float: the
array the op meant to reuse is a node of the graph there.)"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import GraphError
from .mode import current, is_grad_enabled
from .shaping import _plain_index
from .versions import mark_modified

if TYPE_CHECKING:
    from .tensor import Tensor


class InPlace:
    """The in-place operators Tensor inherits (PyTorch's rules: not on a leaf that requires grad in grad mode,
    not on a tensor an op made)."""

    __slots__ = ()

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
        if self._ctx is not None and current().recording_backward:
            return NotImplemented  # Python then computes `self <op> other` and rebinds the name
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


def _broadcasts_to(shape: tuple[int, ...], target: tuple[int, ...]) -> bool:
    """True when an array of `shape` broadcasts to `target` without growing it (what an in-place change needs)."""
    try:
        return np.broadcast_shapes(shape, target) == target
    except ValueError:
        return False
