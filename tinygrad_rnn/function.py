"""Function (an op) and the op registry: the only way an op is defined.

An op is a `Function` subclass with `forward(ctx, *arrays, **attrs)` and `backward(ctx, grad)`, registered by
name with `@register`. `Op.apply(*nodes, **attrs)` runs the forward and, when a gradient is wanted, records its
context (`graph.Context`) in the graph.

The contract. forward takes numpy arrays (numpy float64 scalars for the scalar engine) and returns one.
backward takes the output's gradient, a dense array of the output's shape, and returns one gradient per input:
an array of the input's shape (or of a shape that broadcasts to it: the engine sums the extra axes), None when
the input needs none (`ctx.needs_input_grad`), or one of the lazy gradients of gradients.py, which the engine
sums without making them dense first: `IndexedGrad` (getitem) and `ProductGrad` (addmm's weight).

backward computes with Python's operators and the functions of `ctx.xp` (namespace.py), never numpy's directly:
then the same lines run on arrays for a first-order backward and on Tensors, recording a graph, when
`create_graph` asks for a backward that can be differentiated again. Such an op declares what it saves (`saves`).

jvp, forward mode's rule, takes one tangent per input (None for zero) and returns the output's: J v. A tangent is a
stack of directions, an array of shape (n,) + the input's shape (broadcasting ops: aligned with the output's rank,
see `broadcasts`), and the answer has shape (n,) + the output's shape. It reads what forward saved, as backward does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from .errors import OpError
from .graph import Context
from .mode import THREAD, check_finite, current
from .versions import next_sequence_number

SampleFn = Callable[[np.random.Generator], list[tuple[tuple[Any, ...], dict[str, Any]]]]

OPS: dict[str, type[Function]] = {}
"""The registry: op name -> Function subclass. Tests, error messages and the renderer read it."""


class Function:
    """An op: `forward` and `backward` on arrays. What one application saves for its backward is a `Context`
    (`ctx`), which is also the graph's vertex for the op's output."""

    name: ClassVar[str] = "function"
    expects: ClassVar[str] = ""
    """What the op expects of its inputs, quoted when numpy rejects them."""
    sample: ClassVar[SampleFn | None] = None
    """rng -> [(input arrays, attrs), ...]: small cases that the test suite gradchecks in float64."""
    saves: ClassVar[tuple[int | str | None, ...] | None] = None
    """What `ctx.save_for_backward` keeps, one entry per value: an input's position (the value is that input), "output"
    (the value is the op's output) or None (a constant such as an index or a mask). Only a backward recorded for
    create_graph reads it, to link each saved value to its vertex in the graph; the first-order path never does."""
    broadcasts: ClassVar[bool] = False
    """True when the inputs broadcast together (add, mul, ...): forward mode then hands `jvp` each input's tangent
    with size-1 axes put in front of the input's, up to the output's rank."""

    @staticmethod
    def forward(ctx: Context, *arrays: Any, **attrs: Any) -> Any:
        """Compute the output array from the input arrays."""
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Context, grad: Any) -> Any:
        """Given d loss/d output, return d loss/d input: one gradient (or None) per input (see the contract)."""
        raise NotImplementedError

    @staticmethod
    def jvp(ctx: Context, *tangents: Any) -> Any:
        """Given each input's tangent (None for zero), return the output's, J v (see the contract)."""
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs: Any, **attrs: Any) -> Any:
        """Run the op on nodes (Tensors or Values) and record it when any input requires grad."""
        try:
            mode = THREAD.mode
        except AttributeError:  # this thread's first op
            mode = current()
        grad_enabled = mode.grad_enabled
        ctx = Context()
        ctx.function = cls
        ctx.saved_tensors = ()
        arrays, needs, parents = [], [], []
        try:
            for node in inputs:
                arrays.append(node.data)
                needs.append(node.requires_grad and grad_enabled)
                parents.append(node._ctx or node)  # the input's vertex: its op's context, or a leaf itself
        except AttributeError:
            kinds = ", ".join(type(node).__name__ for node in inputs)
            raise TypeError(f"op '{cls.name}': inputs must be Tensors (or scalar Values), got {kinds}") from None
        ctx.needs_input_grad = needs = tuple(needs)
        try:
            data = cls.forward(ctx, *arrays, **attrs)
        except (ValueError, TypeError, IndexError) as error:  # numpy's complaints; other errors keep their traceback
            if isinstance(error, OpError):
                raise
            raise _forward_error(cls, inputs, attrs, error) from None
        if True in needs:
            ctx.parents = tuple(parents)
            ctx.scope = mode.scope
            ctx._seq = next_sequence_number()
            ctx._pending = ctx._hooks = None
            ctx._retains_grad = False
            ctx.requires_grad = True
            out = inputs[0]._from_op(data, ctx)
            if mode.keep_values:
                ctx.output = out
        else:
            out = inputs[0]._from_op(data, None)
        try:
            ctx.grad_shape = out.data.shape
        except AttributeError:  # a user op whose forward returned no array, with or without grad
            raise _output_error(cls, data) from None
        if mode.watched:  # detect_anomaly, forward mode
            _watch(mode, ctx, out, inputs, arrays, parents)
        return out


def _watch(mode: Any, ctx: Context, out: Any, inputs: tuple[Any, ...], arrays: list[Any], parents: list[Any]) -> None:
    """What an op does after its forward when watched: refuse NaN/inf (detect_anomaly), push tangents (forward
    mode)."""
    if mode.anomaly:
        ctx.parents, ctx.scope = tuple(parents), mode.scope
        check_finite(out.data, ctx, "forward", arrays)
    if mode.tangents is not None:
        mode.tangents.push(ctx, out, inputs)


def register(name: str, sample: SampleFn | None = None) -> Callable[[type[Function]], type[Function]]:
    """Class decorator: add a Function to the registry under `name` (names are unique)."""

    if not (isinstance(name, str) and name):
        raise TypeError(f"register: an op's name must be a non-empty string, got {name!r}")

    def add(op: type[Function]) -> type[Function]:
        if name in OPS:
            raise ValueError(f"register: an op named '{name}' is already registered ({OPS[name].__qualname__})")
        if not (isinstance(op, type) and issubclass(op, Function)):
            raise TypeError(f"register('{name}'): expected a Function subclass, got {op!r}")
        if op in OPS.values():  # renaming it would change the registered op's name and samples
            raise ValueError(f"register('{name}'): {op.__qualname__} is already registered as '{op.name}'; "
                             "register a subclass to add it under another name")
        op.name = name
        op.sample = staticmethod(sample) if sample is not None else None
        OPS[name] = op
        return op

    return add


def get_op(name: str) -> type[Function]:
    """The registered op called `name`; an unknown name lists the known ones."""
    try:
        return OPS[name]
    except KeyError:
        raise KeyError(f"unknown op '{name}'; registered ops: {', '.join(sorted(OPS))}") from None


def _output_error(op: type[Function], data: Any) -> OpError:
    """The error for a forward that returned something other than an array (a list, None, a Python float)."""
    return OpError(f"op '{op.name}': forward returned a {type(data).__name__}; expected a numpy array (or a "
                   "numpy float64, for the scalar engine)")


def _forward_error(op: type[Function], inputs: tuple[Any, ...], attrs: dict[str, Any], error: Exception) -> OpError:
    """Turn numpy's complaint into one that names the op, its input shapes and what it expects."""
    shapes = " and ".join(str(getattr(node, "shape", ())) for node in inputs)
    detail = f" with {', '.join(f'{k}={v!r}' for k, v in attrs.items())}" if attrs else ""
    expected = f"; expected {op.expects}" if op.expects else ""
    return OpError(f"op '{op.name}': cannot apply to input shapes {shapes}{detail}{expected} ({error})")
