"""Forward mode: Jacobian-vector products in the forward pass itself (`jvp`, and `forward_mode` for a loop).

Inside `forward_mode()`, a value may carry a tangent, a direction in which its input moves. Every op that runs there
hands the tangents of its inputs to its `jvp` rule, beside its backward in the registry, and the output carries
J v: the derivative of the whole computation along v arrives with the value, step by step, with no graph kept (it
works under no_grad too). A tangent may stack several directions (`directions=n`): each op then carries n of them
at once, which is how real-time recurrent learning carries d h_t/d theta forward through time (analysis/rtrl.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from weakref import WeakKeyDictionary

import numpy as np

from .errors import GraphError
from .function import Function
from .graph import Node
from .mode import tangents_switched

__all__ = ["forward_mode", "jvp"]


class forward_mode:  # noqa: N801 (used like a function, as scope is)
    """`with forward_mode() as tangents:` attach tangents to values, run ops, read the tangents they made.

    `tangents.attach(x, v)`, then `y = f(x)`, then `tangents.of(y)` is J_f v. With `directions=n` every tangent is
    a stack of n directions, of shape (n,) + the value's shape. Tangents live as long as their values, and end
    with the block.
    """

    def __init__(self, directions: int | None = None) -> None:
        if directions is not None and (not isinstance(directions, int) or directions < 1):
            raise ValueError(f"forward_mode: directions must be a positive integer (or None), got {directions!r}")
        self.directions = directions
        self._tangents: WeakKeyDictionary[Node, np.ndarray] = WeakKeyDictionary()
        self._switch: Any = None

    def __enter__(self) -> forward_mode:
        self._switch = tangents_switched(self)
        self._switch.__enter__()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._switch.__exit__(*exc_info)
        self._switch = None  # (it refers to this block: a cycle only the garbage collector would free)
        self._tangents = WeakKeyDictionary()

    def attach(self, node: Node, tangent: Any) -> None:
        """Let `node` carry `tangent`: of its shape and dtype (with directions=n: (n,) + its shape)."""
        if not isinstance(node, Node):
            raise TypeError(f"forward_mode: tangents are attached to Tensors (or Values), got {type(node).__name__}")
        data = node.data
        tangent = np.asarray(tangent.data if isinstance(tangent, Node) else tangent)
        expected = np.shape(data) if self.directions is None else (self.directions,) + np.shape(data)
        if tangent.shape != expected:
            raise ValueError(f"forward_mode: a tangent of shape {tangent.shape} for a value of shape "
                             f"{np.shape(data)}; expected shape {expected}"
                             + ("" if self.directions is None else f" ({self.directions} directions)"))
        if tangent.dtype != np.result_type(data):
            raise TypeError(f"forward_mode: a tangent of dtype {tangent.dtype} for a value of dtype "
                            f"{np.result_type(data)}; expected the value's dtype")
        self._tangents[node] = tangent if self.directions is not None else tangent[None]

    def of(self, node: Node) -> np.ndarray:
        """The tangent `node` carries (zeros when nothing it depends on carries one)."""
        stacked = self._tangents.get(node)
        if stacked is None:
            shape = np.shape(node.data)
            stacked = np.zeros((self.directions or 1,) + shape, dtype=np.result_type(node.data))
        return stacked if self.directions is not None else stacked[0]

    def push(self, ctx: Any, out: Node, inputs: tuple[Node, ...]) -> None:
        """After an op's forward: its output's tangent from its inputs' by the op's `jvp` rule (ops call this)."""
        tangents = [self._tangents.get(node) for node in inputs]
        if all(tangent is None for tangent in tangents):
            return
        op = ctx.function
        if op.jvp is Function.jvp:
            raise GraphError(f"forward mode: op '{op.name}' has no JVP rule, so a tangent cannot pass through it; "
                             f"define jvp(ctx, *tangents) on {op.__qualname__}, beside its backward")
        rank = np.ndim(out.data)
        if op.broadcasts:  # align every tangent with the output's rank, as numpy aligns the values
            tangents = [tangent if tangent is None or tangent.ndim - 1 >= rank else
                        tangent.reshape(tangent.shape[:1] + (1,) * (rank + 1 - tangent.ndim) + tangent.shape[1:])
                        for tangent in tangents]
        try:
            result = op.jvp(ctx, *tangents)
        except (ValueError, TypeError, IndexError, AttributeError) as error:
            shapes = " and ".join("None" if t is None else str(t.shape) for t in tangents)
            raise GraphError(f"op '{op.name}': its jvp failed for tangents of shapes {shapes} "
                             f"({type(error).__name__}: {error})") from error
        if result is None:
            return
        expected = (len(next(t for t in tangents if t is not None)),) + np.shape(out.data)
        result = np.asarray(result)
        if result.shape != expected:
            try:
                result = np.broadcast_to(result, expected)
            except ValueError:
                raise GraphError(f"op '{op.name}': its jvp returned a tangent of shape {result.shape}; expected "
                                 f"{expected} (the directions, then the output's shape)") from None
        dtype = np.result_type(out.data)
        self._tangents[out] = result if result.dtype == dtype or dtype.kind != "f" else result.astype(dtype)


def jvp(fn: Callable[..., Any], primals: Sequence[Any], tangents: Sequence[Any]) -> tuple[Any, Any]:
    """(fn(*primals), J v): the outputs and the Jacobian-vector product of fn at `primals` along `tangents`, in one
    forward pass, as torch.func.jvp. primals: Tensors or arrays; tangents: one per primal, of its shape and dtype.
    fn returns a Tensor or a tuple of them; J v has the same structure, as Tensors."""
    from .tensor import Tensor

    primals, tangents = tuple(primals), tuple(tangents)
    if len(primals) != len(tangents):
        raise ValueError(f"jvp: {len(primals)} primals but {len(tangents)} tangents; expected one tangent per primal")
    inputs = [primal._from_op(primal.data) if isinstance(primal, Node) else Tensor(primal) for primal in primals]
    with forward_mode() as level:
        for position, (node, tangent) in enumerate(zip(inputs, tangents)):
            try:
                level.attach(node, tangent)
            except (ValueError, TypeError) as error:
                raise type(error)(f"jvp: tangent {position}: {str(error).removeprefix('forward_mode: ')}") from None
        outputs = fn(*inputs)
        single = isinstance(outputs, Node)
        for output in (outputs,) if single else outputs:
            if not isinstance(output, Node):
                raise TypeError(f"jvp: fn must return a Tensor (or Value) or a tuple of them, got "
                                f"{type(output).__name__}")
        out_tangents = [output._from_op(level.of(output)) for output in ((outputs,) if single else outputs)]
    return outputs, (out_tangents[0] if single else tuple(out_tangents))
