"""The graph core shared by `Tensor` and the scalar `Value`: nodes, grad mode, scopes, toposort, backward.

A node is a value plus the context (`_ctx`) of the op that made it; the graph's vertices are the leaves and
those contexts (`Context`), which hold what backward reads and not the values. `backward` is the only place
gradients move: it walks one topological order of the vertices, calls each op's backward, undoes
broadcasting, checks every gradient's shape against its input's, and accumulates. Both engines run through
exactly this code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from itertools import count
from operator import attrgetter
from typing import Any
from weakref import ref

import numpy as np

from .gradients import Accumulator, GraphError, LazyGrad

__all__ = ["Context", "GraphError", "Node", "backward", "detect_anomaly", "enable_grad",
           "is_grad_enabled", "keep_values", "mark_modified", "no_grad", "scope", "step_scopes", "toposort", "vertex"]


class _State:
    """Global switches read by every op: grad recording, the current scope name, anomaly detection, keeping op
    outputs for drawing; and when a value was last changed in place (see `mark_modified`)."""

    __slots__ = ("grad_enabled", "scope", "anomaly", "keep_values", "modified")

    def __init__(self) -> None:
        self.grad_enabled = True
        self.scope: str | None = None
        self.anomaly = False
        self.keep_values = False
        self.modified = -1


STATE = _State()


@contextmanager
def _switched(setting: str, value: bool) -> Iterator[None]:
    """Set one of STATE's switches for the duration of a `with` block, then restore it."""
    previous = getattr(STATE, setting)
    setattr(STATE, setting, value)
    try:
        yield
    finally:
        setattr(STATE, setting, previous)


def no_grad() -> AbstractContextManager[None]:
    """Run ops without recording a graph (inference, optimiser updates)."""
    return _switched("grad_enabled", False)


def enable_grad() -> AbstractContextManager[None]:
    """Record a graph again inside a `no_grad` block."""
    return _switched("grad_enabled", True)


def is_grad_enabled() -> bool:
    """True when ops record the graph."""
    return STATE.grad_enabled


class scope:  # noqa: N801 (used like a function: `with scope("t=3"):`)
    """Tag every node made inside with `name`; scopes nest with '/' (e.g. `rnn.l0/t=3`).

    A small class rather than a generator: recurrent layers enter one scope per time step.
    """

    __slots__ = ("name", "previous")

    def __init__(self, name: str) -> None:
        if not isinstance(name, str):
            raise TypeError(f"scope: a scope's name is a string (such as 't=3'), got {type(name).__name__}")
        self.name = name

    def __enter__(self) -> str:
        self.previous = previous = STATE.scope
        STATE.scope = self.name if previous is None else f"{previous}/{self.name}"
        return STATE.scope

    def __exit__(self, *exc_info: Any) -> None:
        STATE.scope = self.previous


class step_scopes:  # noqa: N801 (used like a function, as scope is)
    """`with step_scopes("rnn.l0", range(T)) as steps: for t in steps: ...` runs each step in the scope
    "rnn.l0/t=<t>", as a `with scope(...)` inside the loop would, at under a third of its cost per step; the scope
    is restored when the block ends, however it ends."""

    __slots__ = ("name", "steps", "previous")

    def __init__(self, name: str, steps: Iterable[int]) -> None:
        self.name, self.steps = name, steps

    def __enter__(self) -> Iterator[int]:
        self.previous = previous = STATE.scope
        return self._each(self.name if previous is None else f"{previous}/{self.name}")

    def _each(self, prefix: str) -> Iterator[int]:
        for step in self.steps:
            STATE.scope = f"{prefix}/t={step}"
            yield step

    def __exit__(self, *exc_info: Any) -> None:
        STATE.scope = self.previous


def keep_values() -> AbstractContextManager[None]:
    """Let the graph recorded inside keep every op's output (`ctx.output`), so that a drawing can show the
    values and names of intermediates. Without it the graph holds only what backward reads, as in PyTorch."""
    return _switched("keep_values", True)


def detect_anomaly() -> AbstractContextManager[None]:
    """Make the first op whose forward or backward yields NaN/inf raise, naming the op, scope and shapes."""
    return _switched("anomaly", True)


class Node:
    """A value the user holds, a `Tensor` or a `Value`: its `data`, its `grad`, and the context (`_ctx`) of the
    op that made it, or None for a leaf.

    The graph is not made of these. Its vertices are the leaves and the op contexts (`Context`, below): a
    context stands for its op's output and links to its inputs' vertices (`parents`), never to the output's
    data. So an intermediate that no backward reads is freed when the user drops it, as in PyTorch; a context
    keeps its output (`ctx.output`) only under `keep_values()`, for drawing. A non-leaf's `.grad` lives on its
    context (see `retain_grad`).
    """

    __slots__ = ("data", "_grad", "requires_grad", "_ctx", "_seq", "_pending", "_hooks", "name", "_modified",
                 "__weakref__")

    shape: tuple[int, ...]
    is_context = False
    """False: a leaf is its own vertex of the graph (an op context says True)."""

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
        target = self if self._ctx is None else self._ctx
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
    other names. One class for every op, so that Python's attribute caches stay warm in the backward loop.
    """

    __slots__ = ("function", "parents", "saved_tensors", "needs_input_grad", "scope", "grad_shape", "requires_grad",
                 "_seq", "_pending", "_hooks", "_retains_grad", "__dict__")

    is_context = True
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
    """The graph's vertices reachable from `root` (a Tensor, Value or vertex), every vertex after all of its
    inputs (iterative: no recursion limit). A vertex is a leaf (a Tensor or Value) or an op's context, which
    stands for the op's output: its `name` is the op, its `parents` its inputs' vertices, its `grad` the
    output's gradient when retained, and its `output` the output itself under `keep_values()`.

    Backward needs this order because a node used twice (`b = a + a; c = b + b`) must receive all of its
    gradient before it passes any on. Every node gets a sequence number when it is made, and an op's output is
    always made after its inputs, so creation order is a topological order: collect what is reachable (an
    explicit stack), then sort by that number. By default only nodes that need a gradient are listed; the
    renderer asks for `all_inputs=True` to see constant inputs too.
    """
    root = vertex(root)
    nodes, seen, stack = [root], {root}, [root]
    while stack:
        node = stack.pop()
        if type(node) is Context:  # (faster than node.is_context, a class attribute, in the hot loops)
            for parent in node.parents:
                if parent not in seen and (all_inputs or parent.requires_grad):
                    seen.add(parent)
                    nodes.append(parent)
                    stack.append(parent)
    nodes.sort(key=_sequence_number)
    return nodes


_sequence_number = attrgetter("_seq")
next_sequence_number = count().__next__
"""Called once per leaf and per recorded context: creation order is the topological order `toposort` uses."""


def mark_modified(node: Node) -> None:
    """Note that `node.data` was just changed in place (an optimizer step, an init). A graph whose ops used it
    before then refuses to go back through it: what those ops saved is no longer what they saw. That holds for
    every tensor that shares the array too (`detach()`, views), as PyTorch's version counter does."""
    vertex(node)._modified = STATE.modified = sequence = next_sequence_number()
    data = getattr(node, "data", None)
    if isinstance(data, np.ndarray):
        owner = _owner(data)
        key = id(owner)
        _MODIFIED_ARRAYS[key] = (ref(owner, lambda _, key=key: _MODIFIED_ARRAYS.pop(key, None)), sequence)


_MODIFIED_ARRAYS: dict[int, tuple[Any, int]] = {}
"""id(array that owns its memory) -> (a weak reference to it, when it was last marked modified)."""


def _owner(array: np.ndarray) -> np.ndarray:
    """The array whose memory `array` views (itself when it owns it)."""
    while isinstance(array.base, np.ndarray):
        array = array.base
    return array


def _modified_since(parent: Any) -> int:
    """When the value of vertex `parent` was last changed in place: through it, or (a leaf) through any tensor
    that shares its array."""
    sequence = getattr(parent, "_modified", -1)
    data = getattr(parent, "data", None)
    if isinstance(data, np.ndarray):
        owner = _owner(data)
        entry = _MODIFIED_ARRAYS.get(id(owner))
        if entry is not None and entry[0]() is owner:
            sequence = max(sequence, entry[1])
    return sequence


def _check_unmodified(order: list[Any]) -> None:
    """Raise if a value in the graph was changed in place after an op of the graph used it.

    Free unless something was changed after the graph's first op. Then it is conservative: it does not ask
    whether the op saved that very array (a view of it, such as `W.T`, is saved as often).
    """
    first_op = next((node._seq for node in order if node.is_context), None)
    if first_op is None or STATE.modified < first_op:
        return
    for node in order:
        _check_inputs_unmodified(node)


def _check_inputs_unmodified(ctx: Any) -> None:
    """Raise if an input of the op context `ctx` (a vertex) was changed in place after that op ran."""
    if not ctx.is_context:
        return
    for position, parent in enumerate(ctx.parents):
        if _modified_since(parent) > ctx._seq:
            raise GraphError(f"backward: input {position} (shape {parent.grad_shape}) of op '{ctx.name}' (scope "
                             f"{ctx.scope}) was changed in place after the op used it (an optimizer step?), so "
                             "the graph would mix old and new values; run backward before step(), or build the "
                             "graph again")


def backward(root: Node, grad: Any, *, retain_graph: bool = False, retain_grads: bool = False) -> None:
    """Send `grad` (d out/d root) back through the graph and accumulate it on the leaves.

    `retain_graph` keeps the saved arrays for another backward; `retain_grads` keeps `.grad` on every node
    (for drawing and analysis), as `retain_grad()` does for one.
    """
    if not root.requires_grad:
        raise GraphError("backward: this value does not require grad and has no graph "
                         "(was it made under no_grad, or from inputs without requires_grad=True?)")
    order = toposort(root)
    _check_unmodified(order)
    vertex(root)._pending = grad
    try:
        _run_backward(order, retain_graph, retain_grads)
    except BaseException:
        for node in order:  # an error (or Ctrl-C) part-way must not leave gradients for the next backward
            node._pending = None
        raise


def _run_backward(order: list[Any], retain_graph: bool, retain_grads: bool) -> None:
    """The backward pass proper, over `order` (inputs before outputs) from the last node to the first."""
    anomaly = STATE.anomaly
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
        ctx = node
        if retain_grads or ctx._retains_grad:
            ctx._accumulate(grad)
        if ctx.saved_tensors is None:
            raise GraphError(f"backward: the graph through op '{ctx.name}' (scope {ctx.scope}) was already "
                             "freed by an earlier backward; call the first backward(retain_graph=True) to "
                             "go through it twice")
        try:
            grads = ctx.function.backward(ctx, grad)
        except (ValueError, TypeError, IndexError, AttributeError) as error:  # a user op's bug: name the op
            shapes = " and ".join(str(parent.grad_shape) for parent in ctx.parents)
            raise GraphError(f"op '{ctx.name}': its backward failed for input shapes {shapes} and an output "
                             f"gradient of shape {np.shape(grad)} ({type(error).__name__}: {error})") from error
        parents = ctx.parents
        if type(grads) is not tuple:
            grads = (grads,)
        if len(grads) != len(parents):
            raise GraphError(f"op '{ctx.name}': backward returned {len(grads)} gradient(s) for "
                             f"{len(parents)} input(s); expected one (or None) per input")
        for parent, parent_grad in zip(parents, grads):
            if parent_grad is None or not parent.requires_grad:
                continue
            shape = parent.grad_shape
            if isinstance(parent_grad, LazyGrad):
                parent_grad.check(shape, ctx)
                if anomaly:
                    parent_grad = parent_grad.evaluate(shape)
            else:
                try:
                    mismatched = parent_grad.shape != shape
                except AttributeError:
                    raise GraphError(f"op '{ctx.name}': backward returned a {type(parent_grad).__name__} for input "
                                     f"{parents.index(parent)}; expected an array (np.float64 for a Value) or None"
                                     ) from None
                if mismatched:
                    parent_grad = _unbroadcast(parent_grad, shape, ctx)
            if anomaly:
                _check_finite(parent_grad, ctx, "backward")
            pending = parent._pending
            if pending is None:
                parent._pending = parent_grad
            elif pending.__class__ is Accumulator:
                pending.add(parent_grad, shape)
            else:
                parent._pending = Accumulator(pending, parent_grad, shape)
        if not retain_graph:
            ctx.saved_tensors = None  # what ops keep as attributes stays: shapes and axes, small (as in PyTorch)


def _run_hooks(node: Node, grad: Any) -> Any:
    """Call `node`'s hooks in order; a hook may return a replacement, which must keep the node's shape."""
    for hook in node._hooks:
        replaced = hook(grad)
        if replaced is not None:
            if np.shape(replaced) != node.grad_shape:
                raise GraphError(f"backward: hook {getattr(hook, '__qualname__', hook)!r} returned a gradient "
                                 f"of shape {np.shape(replaced)} for a node of shape {node.grad_shape}")
            grad = replaced
            if STATE.anomaly and not np.all(np.isfinite(grad)):
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


def _check_finite(array: Any, ctx: Any, phase: str, inputs: Any = ()) -> None:
    """Raise when `array` holds NaN or inf (only while `detect_anomaly` is on), blaming the forward's `inputs`
    instead of the op when they already held them."""
    if not np.all(np.isfinite(array)):
        shapes = ", ".join(str(p.grad_shape) for p in ctx.parents)
        where = f"(scope {ctx.scope}, input shapes {shapes})"
        for position, data in enumerate(inputs):
            if np.issubdtype(np.result_type(data), np.inexact) and not np.all(np.isfinite(data)):
                raise FloatingPointError(f"detect_anomaly: op '{ctx.name}' received NaN/inf in its input {position} "
                                         f"{where}: they came in with the data, not from an op run under "
                                         "detect_anomaly")
        raise FloatingPointError(f"detect_anomaly: op '{ctx.name}' produced NaN/inf in its {phase} {where}")
