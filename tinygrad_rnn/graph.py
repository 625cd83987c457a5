"""The graph core shared by `Tensor` and the scalar `Value`: nodes, their contexts, toposort, backward.

A value the user holds (a `Node`) has its `data`, its `grad`, and the context (`_ctx`) of the op that made it.
The graph's vertices are the leaves and those contexts: a context stands for its op's output and links to its
inputs' vertices (`parents`), never to the output's data. So an intermediate that no backward reads is freed
when the user drops it, as in PyTorch. `backward` is the only place gradients move: it walks the vertices in
topological order, calls each op's backward and accumulates what reaches every input.

The details live behind doors of their own:
    mode.py       grad recording, scopes, keep_values, detect_anomaly: the switches ops read (per thread)
    versions.py   the clock that orders the graph, and values changed in place after an op used them
    gradients.py  how the gradients that reach one vertex are summed (Accumulator, lazy gradients)
    errors.py     GraphError and OpError
    higher_order.py  the backward recorded as a graph, to differentiate again (create_graph, tg.grad)
    forward_mode.py  Jacobian-vector products in the forward pass (tg.jvp), each op's jvp rule
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import Any, ClassVar

import numpy as np

from . import namespace
from .errors import GraphError
from .gradients import Accumulator, LazyGrad
from .mode import check_finite, current
from .versions import check_unmodified, next_sequence_number

__all__ = ["Context", "GraphError", "Node", "backward", "fit_gradient", "op_backward", "toposort", "vertex"]


class Node:
    """A value the user holds, a `Tensor` or a `Value`: its `data`, its `grad`, and the context (`_ctx`) of the
    op that made it, or None for a leaf. A non-leaf's `.grad` lives on its context (see `retain_grad`)."""

    __slots__ = ("data", "_grad", "requires_grad", "_ctx", "_seq", "_pending", "_hooks", "name", "_modified",
                 "__weakref__")

    shape: tuple[int, ...]
    is_context = False
    """False: a leaf is its own vertex of the graph (an op context says True)."""
    op_output: ClassVar[type[Node]]
    """The kind of node an op on this one makes."""

    def _from_op(self, data: Any, ctx: Context | None = None) -> Any:
        """An op's output as a node of this one's `op_output` kind, without copying `data`. With `ctx` (recorded)
        the context is its vertex in the graph; without, it is a new leaf that needs no gradient."""
        out = object.__new__(self.op_output)
        out.data = data
        out._ctx = ctx
        out.name = None
        if ctx is None:
            out.requires_grad = False
            out._seq = next_sequence_number()
            out._grad = out._pending = out._hooks = None
        else:
            out.requires_grad = True
        return out

    @property
    def grad(self) -> Any:
        """d loss/d this value after backward: always kept on a leaf, on other nodes only when retained."""
        ctx = self._ctx
        return self._grad if ctx is None else ctx.grad

    @grad.setter
    def grad(self, grad: Any) -> None:
        ctx = self._ctx
        if ctx is None:
            self._grad = grad
        else:
            ctx.grad = grad

    @property
    def grad_fn(self) -> Any:
        """The context of the op that made this node: its vertex in the graph (None for a leaf), as in PyTorch."""
        return self._ctx

    @property
    def op(self) -> str | None:
        """Name of the registered op that made this node (None for a leaf)."""
        return None if self._ctx is None else self._ctx.name

    @property
    def scope(self) -> str | None:
        """The scope this node was made in (None for a leaf or outside any scope)."""
        return None if self._ctx is None else self._ctx.scope

    @property
    def is_leaf(self) -> bool:
        """True for values made by the user rather than by an op that records a graph."""
        return self._ctx is None

    @property
    def grad_shape(self) -> tuple[int, ...]:
        """The shape every gradient reaching this vertex has (a context keeps its output's)."""
        return self.data.shape

    def retain_grad(self) -> None:
        """Keep `.grad` on this non-leaf node after backward (leaves always keep theirs)."""
        if not self.requires_grad:
            raise GraphError("retain_grad: this value does not require grad, so no gradient will reach it")
        if self._ctx is not None:
            self._ctx._retains_grad = True

    def register_hook(self, hook: Callable[[Any], Any]) -> Callable[[], None]:
        """Call `hook(grad)` when this node's gradient is complete; a non-None return replaces the gradient.

        Returns a function that removes the hook.
        """
        if not self.requires_grad:
            raise GraphError("register_hook: this value does not require grad, so no gradient will reach it")
        target = vertex(self)
        if target._hooks is None:
            target._hooks = []
        hooks = target._hooks
        hooks.append(hook)

        def remove() -> None:
            """Remove the hook (again: nothing happens, as in PyTorch)."""
            if hook in hooks:
                hooks.remove(hook)

        return remove

    def _accumulate(self, grad: Any) -> None:
        """Add `grad` into `.grad` without touching an array someone else may hold."""
        raise NotImplementedError


class Context:
    """What one application of an op saves for its backward (`ctx`), and the graph's vertex that stands for the
    op's output (PyTorch's `grad_fn`).

    The engine's attributes: `function` (the op), `parents` (the inputs' vertices), `needs_input_grad`,
    `saved_tensors`, `scope`, `grad_shape` (the output's shape), `grad` (the output's gradient, when retained)
    and `output` (the output itself, under `keep_values()`). An op may add its own (`ctx.axis = axis`) under
    other names. One class for every op (not one per op, as PyTorch's `ctx` is not the op's class either).
    """

    __slots__ = ("function", "parents", "saved_tensors", "needs_input_grad", "scope", "grad_shape", "requires_grad",
                 "_seq", "_pending", "_hooks", "_retains_grad", "__dict__")

    is_context = True
    xp = namespace
    """What the op's backward computes with: numpy (higher_order.py hands the graph's under create_graph)."""
    grad: Any = None
    output: Any = None
    _modified = -1
    """Defaults that few contexts change (one that does keeps its own in `__dict__`)."""

    @property
    def name(self) -> str:
        """The op's registered name."""
        return self.function.name

    op = name  # as a value's `.op` says it: every vertex of the graph answers `.op`

    def save_for_backward(self, *arrays: Any) -> None:
        """Keep the arrays (or index) backward will read, and nothing more: backward frees them as it passes.
        Small things such as shapes and axes can be plain attributes (`ctx.axis = axis`), which stay."""
        self.saved_tensors = arrays

    def _accumulate(self, grad: Any) -> None:
        """Keep the output's gradient (retain_grad, or backward with retain_grads=True), as a copy of its own."""
        if isinstance(grad, np.ndarray):
            grad = grad.copy()
        self.grad = grad if self.grad is None else self.grad + grad

    def __repr__(self) -> str:
        return f"<Context of {self.function.name}, scope {getattr(self, 'scope', None)}>"


def vertex(node: Any) -> Any:
    """The graph vertex that stands for `node`: the context of the op that made it, or a leaf itself."""
    ctx = getattr(node, "_ctx", None)
    return node if ctx is None else ctx


def toposort(root: Any, *, all_inputs: bool = False) -> list[Any]:
    """The graph's vertices reachable from `root` (a Tensor, Value or vertex, or a list of them), every vertex
    after all of its inputs.

    Backward needs this order because a node used twice (`b = a + a; c = b + b`) must receive all of its
    gradient before it passes any on. Every vertex is numbered when it is made (versions.py), after its inputs,
    so creation order is a topological order: collect what is reachable with an explicit stack (no recursion
    limit), then sort by that number. By default only vertices that need a gradient are listed; the renderer
    asks for `all_inputs=True` to see constant inputs too.
    """
    if type(root) is list:
        vertices = list(dict.fromkeys(vertex(node) for node in root))
        seen, stack = set(vertices), list(vertices)
    else:
        root = vertex(root)
        vertices, seen, stack = [root], {root}, [root]
    while stack:
        node = stack.pop()
        if type(node) is Context:
            for parent in node.parents:
                if parent not in seen and (all_inputs or parent.requires_grad):
                    seen.add(parent)
                    vertices.append(parent)
                    stack.append(parent)
    vertices.sort(key=_sequence_number)
    return vertices


_sequence_number = attrgetter("_seq")


def backward(root: Node, grad: Any, *, retain_graph: bool = False, retain_grads: bool = False) -> None:
    """Send `grad` (d out/d root) back through the graph and accumulate it on the leaves.

    `retain_graph` keeps the saved arrays for another backward; `retain_grads` keeps `.grad` on every node
    (for drawing and analysis), as `retain_grad()` does for one.
    """
    if not root.requires_grad:
        raise GraphError("backward: this value does not require grad and has no graph "
                         "(was it made under no_grad, or from inputs without requires_grad=True?)")
    order = toposort(root)
    check_unmodified(order)
    vertex(root)._pending = grad
    try:
        _run_backward(order, retain_graph, retain_grads)
    except BaseException:
        for node in order:  # an error (or Ctrl-C) part-way must not leave gradients for the next backward
            node._pending = None
        raise


def _run_backward(order: list[Any], retain_graph: bool, retain_grads: bool) -> None:
    """The backward pass proper, over `order` (inputs before outputs) from the last vertex to the first: each
    vertex's `_pending` gradient is complete when the loop reaches it."""
    anomaly = current().anomaly
    for node in reversed(order):
        grad = node._pending
        if grad is None:
            continue
        node._pending = None
        if isinstance(grad, LazyGrad):
            grad = grad.evaluate(node.grad_shape)
        if node._hooks:
            grad = _run_hooks(node, grad)
        if type(node) is not Context:  # a leaf
            node._accumulate(grad)
            continue
        if retain_grads or node._retains_grad:
            node._accumulate(grad)
        if node.saved_tensors is None:
            raise _freed_error(node)
        try:
            grads = node.function.backward(node, grad)
        except (ValueError, TypeError, IndexError, AttributeError) as error:  # a user op's bug: name the op
            raise _backward_error(node, grad, error) from error
        if type(grads) is not tuple:
            grads = (grads,)
        if len(grads) != len(node.parents):
            raise _count_error(node, grads)
        for parent, parent_grad in zip(node.parents, grads):
            if parent_grad is None or not parent.requires_grad:
                continue
            shape = parent.grad_shape
            if isinstance(parent_grad, LazyGrad):
                parent_grad.check(shape, node)
                if anomaly:
                    parent_grad = fit_gradient(node, parent, parent_grad, anomaly)
            else:
                try:
                    misfit = anomaly or parent_grad.shape != shape
                except AttributeError:  # not an array: fit_gradient names what it is
                    misfit = True
                if misfit:
                    parent_grad = fit_gradient(node, parent, parent_grad, anomaly)
            pending = parent._pending
            if pending is None:
                parent._pending = parent_grad
            elif pending.__class__ is Accumulator:
                pending.add(parent_grad, shape)
            else:
                parent._pending = Accumulator(pending, parent_grad, shape)
        if not retain_graph:
            node.saved_tensors = None  # what ops keep as attributes stays: shapes and axes, small (as in PyTorch)


def op_backward(ctx: Context, grad: Any) -> tuple[Any, ...]:
    """Call the backward of the op of `ctx` on its output's gradient: one gradient (or None) per input, as the
    op returned them (see `fit_gradient`). The backward loop does the same inline."""
    if ctx.saved_tensors is None:
        raise _freed_error(ctx)
    try:
        grads = ctx.function.backward(ctx, grad)
    except (ValueError, TypeError, IndexError, AttributeError) as error:
        raise _backward_error(ctx, grad, error) from error
    grads = grads if type(grads) is tuple else (grads,)
    if len(grads) != len(ctx.parents):
        raise _count_error(ctx, grads)
    return grads


def _freed_error(ctx: Context) -> GraphError:
    return GraphError(f"backward: the graph through op '{ctx.name}' (scope {ctx.scope}) was already freed by an "
                      "earlier backward; call the first backward(retain_graph=True) to go through it twice")


def _backward_error(ctx: Context, grad: Any, error: Exception) -> GraphError:
    shapes = " and ".join(str(parent.grad_shape) for parent in ctx.parents)
    return GraphError(f"op '{ctx.name}': its backward failed for input shapes {shapes} and an output gradient "
                      f"of shape {np.shape(grad)} ({type(error).__name__}: {error})")


def _count_error(ctx: Context, grads: tuple[Any, ...]) -> GraphError:
    return GraphError(f"op '{ctx.name}': backward returned {len(grads)} gradient(s) for {len(ctx.parents)} "
                      "input(s); expected one (or None) per input")


def fit_gradient(ctx: Context, parent: Any, grad: Any, anomaly: bool = False) -> Any:
    """`grad`, which the op of `ctx` sent to its input `parent`, checked against the input's shape: broadcasting
    undone, a lazy gradient checked (made dense under `detect_anomaly`), NaN/inf refused under it."""
    shape = parent.grad_shape
    if isinstance(grad, LazyGrad):
        grad.check(shape, ctx)
        if anomaly:
            grad = grad.evaluate(shape)
    else:
        try:
            mismatched = grad.shape != shape
        except AttributeError:
            raise GraphError(f"op '{ctx.name}': backward returned a {type(grad).__name__} for input "
                             f"{ctx.parents.index(parent)}; expected an array (np.float64 for a Value) or None"
                             ) from None
        if mismatched:
            grad = _unbroadcast(grad, shape, ctx)
    if anomaly:
        check_finite(grad, ctx, "backward")
    return grad


def _run_hooks(node: Any, grad: Any) -> Any:
    """Call `node`'s hooks in order; a hook may return a replacement, which must keep the node's shape."""
    for hook in node._hooks:
        replaced = hook(grad)
        if replaced is not None:
            if np.shape(replaced) != node.grad_shape:
                raise GraphError(f"backward: hook {getattr(hook, '__qualname__', hook)!r} returned a gradient "
                                 f"of shape {np.shape(replaced)} for a node of shape {node.grad_shape}")
            grad = replaced
            if current().anomaly and not np.all(np.isfinite(grad)):
                raise FloatingPointError(f"detect_anomaly: hook {getattr(hook, '__qualname__', hook)!r} returned "
                                         f"NaN/inf for a node of shape {node.grad_shape}")
    return grad


def _unbroadcast(grad: np.ndarray, shape: tuple[int, ...], ctx: Any) -> np.ndarray:
    """Sum `grad` over the axes that broadcasting added or stretched, so that it has the input's `shape`."""
    extra = np.ndim(grad) - len(shape)
    if extra >= 0:
        stretched = tuple(i + extra for i, size in enumerate(shape) if size == 1 and grad.shape[i + extra] != 1)
        if extra or stretched:
            grad = grad.sum(axis=tuple(range(extra)) + stretched, keepdims=True)
            grad = grad.reshape(grad.shape[extra:])
        if grad.shape == shape:
            return grad
    raise GraphError(f"op '{ctx.name}': backward returned a gradient of shape {np.shape(grad)} for an input "
                     f"of shape {shape}; expected the input's shape (or a shape it broadcasts to)")
