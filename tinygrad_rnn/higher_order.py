"""A backward that can be differentiated again (`create_graph=True`), and `grad`, PyTorch's torch.autograd.grad.

graph.backward, the first-order backward, runs each op's backward on numpy arrays. With `create_graph` this module
runs the very same backwards on graph nodes instead (Tensors, or Values for the scalar engine): the output's
gradient is a node, each value the op saved is handed over as the node of its vertex (a saved input is that input,
a saved output is the op's own vertex: the op declares which in `saves`), and `ctx.xp` is graph_namespace, whose
functions are registered ops. So the backward's arithmetic is recorded, and the gradients are nodes of a graph
that reaches back to the leaves: differentiate them again for a Hessian-vector product or a gradient penalty.
The engine's lazy gradients become ops too: the `IndexedGrad`s that reach a vertex one scatter, its `ProductGrad`s
one matmul of their joined rows. The first-order path never comes here, so it pays nothing for any of this.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from typing import Any

import numpy as np

from . import graph_namespace, ops
from .errors import GraphError
from .gradients import Accumulator, IndexedGrad, LazyGrad, ProductGrad
from .graph import Context, Node, _backward_error, _count_error, _freed_error, fit_gradient, toposort, vertex
from .mode import check_finite, current, enable_grad
from .versions import check_unmodified

__all__ = ["backward", "grad"]


def grad(outputs: Node | Sequence[Node], inputs: Node | Sequence[Node], grad_outputs: Any = None,
         retain_graph: bool | None = None, create_graph: bool = False, allow_unused: bool = False) -> tuple[Any, ...]:
    """d outputs/d inputs, as torch.autograd.grad: the sum over outputs of grad_output^T d output/d input, one per
    input, without touching any `.grad`.

    `grad_outputs` (one per output, arrays or Tensors) may be left out for one-element outputs (ones). With
    `create_graph=True` the gradients are nodes of a graph that can be differentiated again; `retain_graph`
    (default: `create_graph`) keeps the saved arrays for another backward. An input the outputs do not depend on
    is an error, or None with `allow_unused=True`. Only the part of the graph between outputs and inputs runs.
    """
    outputs, inputs = _nodes(outputs, "outputs"), _nodes(inputs, "inputs")
    for position, node in enumerate(inputs):
        if not node.requires_grad:
            raise GraphError(f"grad: input {position} (shape {node.shape}) does not require grad, so no gradient "
                             "reaches it; make it with requires_grad=True")
    seeds = _seeds("grad", outputs, grad_outputs, create_graph)
    captured = {vertex(node): None for node in inputs}
    _run(outputs, seeds, create_graph if retain_graph is None else retain_graph, create_graph, capture=captured)
    results = []
    for position, node in enumerate(inputs):
        gradient = captured[vertex(node)]
        if gradient is None and not allow_unused:
            raise GraphError(f"grad: input {position} (shape {node.shape}) was not used to compute the outputs (no "
                             "path of ops leads from it to them); pass allow_unused=True to get None for it")
        results.append(gradient if gradient is None or create_graph else node._from_op(gradient))
    return tuple(results)


def backward(root: Node, grad_output: Any, *, retain_graph: bool | None, retain_grads: bool) -> None:
    """`root.backward(create_graph=True)`: accumulate d root/d leaf into every leaf's `.grad` as a node of a graph
    (a Tensor or Value that can be differentiated again), as PyTorch does."""
    seeds = _seeds("backward", [root], [grad_output], True)
    _run([root], seeds, True if retain_graph is None else retain_graph, True, retain_grads=retain_grads)


class GraphContext:
    """What an op's backward sees when it is recorded: the op's saved values as nodes of the graph, the graph's
    namespace as `xp`, and every other attribute of the op's own context (`ctx.axis`, `ctx.parents`, ...)."""

    __slots__ = ("ctx", "saved_tensors", "needs_input_grad")
    xp = graph_namespace

    def __init__(self, ctx: Context, prototype: Node, needed: set[Any] | None) -> None:
        self.ctx = ctx
        self.saved_tensors = _saved_nodes(ctx, prototype)
        needs = ctx.needs_input_grad
        if needed is not None:  # grad() asks for some inputs only: skip recording the others' gradients
            needs = tuple(need and parent in needed for need, parent in zip(needs, ctx.parents))
        self.needs_input_grad = needs

    def __getattr__(self, name: str) -> Any:
        return getattr(self.ctx, name)


def _saved_nodes(ctx: Context, prototype: Node) -> tuple[Any, ...]:
    """The op's saved values, each one the node of its vertex, as the op's `saves` declares (constants stay)."""
    saved = ctx.saved_tensors
    if not saved:
        return saved
    saves = ctx.function.saves
    if saves is None or len(saves) != len(saved):
        declared = "declares none" if saves is None else f"declares {len(saves)} in `saves`"
        raise GraphError(f"op '{ctx.name}': its backward cannot be recorded for create_graph: it saved {len(saved)} "
                         f"value(s) but {declared}; set `saves` on the op, one entry per saved value: the input's "
                         "position, 'output', or None for a constant (an index, a mask)")
    nodes = []
    for what, value in zip(saves, saved):
        if what is None:
            nodes.append(value)
        elif what == "output":
            nodes.append(prototype._from_op(value, ctx))
        else:
            parent = ctx.parents[what]
            nodes.append(parent if type(parent) is not Context else prototype._from_op(value, parent))
    return tuple(nodes)


def _run(roots: list[Node], seeds: list[Any], retain_graph: bool, create_graph: bool, *,
         retain_grads: bool = False, capture: dict[Any, Any] | None = None) -> None:
    """The backward pass over everything reachable from `roots`, whose gradients are `seeds`: on nodes, recorded,
    with `create_graph`, else on arrays. With `capture` (vertex -> None) only the vertices that lead to its
    vertices run, and their gradients are put there instead of on the leaves."""
    if create_graph and not current().grad_enabled:
        raise GraphError("create_graph=True records the backward as a graph, but grad recording is off here "
                         "(inside tg.no_grad()); call it outside no_grad, or with create_graph=False")
    order = toposort(roots)
    check_unmodified(order)
    needed = None
    if capture is not None:
        needed = _leading_to(order, capture)
        order = [node for node in order if node in needed]
    prototype = roots[0]
    anomaly = current().anomaly
    pending: dict[Any, Any] = {}
    for root, seed in zip(roots, seeds):
        _add(pending, vertex(root), seed, create_graph)
    with enable_grad() if create_graph else nullcontext():
        for node in reversed(order):
            parts = pending.pop(node, None)
            if parts is None:
                continue
            shape = node.grad_shape
            gradient = _node_sum(parts, shape) if create_graph else _array_sum(parts, shape)
            if node._hooks:
                gradient = _run_hooks(node, gradient, prototype, create_graph)
            if capture is not None and node in capture:
                capture[node] = gradient
            if type(node) is not Context:  # a leaf
                if capture is None:
                    _accumulate_leaf(node, gradient, create_graph)
                continue
            if capture is None and (retain_grads or node._retains_grad):
                node._accumulate(gradient)
            if needed is not None and not any(parent in needed for parent in node.parents):
                continue  # an input of grad() with no other input behind it: nothing to pass on
            if node.saved_tensors is None:
                raise _freed_error(node)
            grads = _op_backward(node, gradient, GraphContext(node, prototype, needed) if create_graph else node)
            for parent, parent_grad in zip(node.parents, grads):
                if parent_grad is None or not parent.requires_grad or (needed is not None and parent not in needed):
                    continue
                if create_graph:
                    parent_grad = _fit_node(node, parent, parent_grad, prototype, anomaly)
                else:
                    parent_grad = fit_gradient(node, parent, parent_grad, anomaly)
                _add(pending, parent, parent_grad, create_graph)
            if not retain_graph:
                node.saved_tensors = None


def _op_backward(ctx: Context, grad_output: Any, seen_as: Any) -> tuple[Any, ...]:
    """The op's backward called with `seen_as` as its ctx (the context itself, or a GraphContext, with which
    `a *= b` on a node the backward made rebinds `a`, as for a float, rather than write an array of the graph)."""
    mode = current()
    recording, mode.recording_backward = mode.recording_backward, seen_as is not ctx
    try:
        grads = ctx.function.backward(seen_as, grad_output)
    except (ValueError, TypeError, IndexError, AttributeError) as error:
        if seen_as is ctx:
            raise _backward_error(ctx, grad_output, error) from error
        raise GraphError(f"op '{ctx.name}': its backward failed on graph nodes, as create_graph runs it "
                         f"({type(error).__name__}: {error}); an op whose backward can be recorded computes with "
                         "Python's operators and ctx.xp's functions (ctx.xp.exp, ctx.xp.where, ...), not numpy's"
                         ) from error
    finally:
        mode.recording_backward = recording
    grads = grads if type(grads) is tuple else (grads,)
    if len(grads) != len(ctx.parents):
        raise _count_error(ctx, grads)
    return grads


def _add(pending: dict[Any, Any], target: Any, gradient: Any, create_graph: bool) -> None:
    """Add `gradient` to what is pending for `target`: a list of nodes (summed by ops when complete), or on arrays
    the first-order backward's sum (an Accumulator from the second one on)."""
    current_sum = pending.get(target)
    if create_graph:
        if current_sum is None:
            pending[target] = [gradient]
        else:
            current_sum.append(gradient)
    elif current_sum is None:
        pending[target] = gradient
    elif current_sum.__class__ is Accumulator:
        current_sum.add(gradient, target.grad_shape)
    else:
        pending[target] = Accumulator(current_sum, gradient, target.grad_shape)


def _array_sum(total: Any, shape: tuple[int, ...]) -> Any:
    return total.evaluate(shape) if isinstance(total, LazyGrad) else total


def _node_sum(parts: list[Any], shape: tuple[int, ...]) -> Node:
    """The sum of the gradients that reached one vertex, as ops: dense ones added, indexed ones scattered by one
    scatter op, products as one matmul of their joined rows (as the first-order Accumulator sums them)."""
    dense = [part for part in parts if not isinstance(part, LazyGrad)]
    indexed = [part for part in parts if type(part) is IndexedGrad]
    if indexed:
        dense.append(ops.Scatter.apply(*(part.values for part in indexed),
                                       indices=tuple(part.index for part in indexed), shape=shape))
    products = [part for part in parts if type(part) is ProductGrad]
    if products:
        left, right = (_joined([getattr(part, side) for part in products]) for side in ("left", "right"))
        dense.append(ops.MatMul.apply(left.mT, right))
    total = dense[0]
    for part in dense[1:]:
        total = total + part
    return total


def _joined(rows: list[Node]) -> Node:
    return rows[0] if len(rows) == 1 else ops.Concatenate.apply(*rows, axis=0)


def _fit_node(ctx: Context, parent: Any, gradient: Any, prototype: Node, anomaly: bool) -> Any:
    """A recorded backward's gradient for `parent`, checked against the input's shape (broadcasting undone by a
    sum op); an array an op returned becomes a constant node."""
    shape = parent.grad_shape
    if isinstance(gradient, LazyGrad):
        gradient.check(shape, ctx)
        return gradient
    if not isinstance(gradient, Node):
        if not hasattr(gradient, "shape"):
            raise GraphError(f"op '{ctx.name}': backward returned a {type(gradient).__name__} for input "
                             f"{ctx.parents.index(parent)}; expected a Tensor (a Value) or None under create_graph")
        gradient = prototype._from_op(gradient)
    if gradient.shape != shape:
        gradient = _unbroadcast(gradient, shape, ctx)
    if anomaly:
        check_finite(gradient.data, ctx, "backward")
    return gradient


def _unbroadcast(gradient: Node, shape: tuple[int, ...], ctx: Context) -> Node:
    """Sum `gradient` over the axes broadcasting added or stretched (graph.py's rule, as a recorded sum)."""
    extra = len(gradient.shape) - len(shape)
    if extra >= 0:
        stretched = tuple(i + extra for i, size in enumerate(shape) if size == 1 and gradient.shape[i + extra] != 1)
        if extra or stretched:
            gradient = gradient.sum(axis=tuple(range(extra)) + stretched, keepdims=True).reshape(shape)
        if gradient.shape == shape:
            return gradient
    raise GraphError(f"op '{ctx.name}': backward returned a gradient of shape {gradient.shape} for an input of "
                     f"shape {shape}; expected the input's shape (or a shape it broadcasts to)")


def _run_hooks(node: Any, gradient: Any, prototype: Node, create_graph: bool) -> Any:
    """The vertex's hooks in order, as the first-order backward calls them (on nodes when recorded)."""
    for hook in node._hooks:
        replaced = hook(gradient)
        if replaced is not None:
            if np.shape(replaced) != node.grad_shape:
                raise GraphError(f"backward: hook {getattr(hook, '__qualname__', hook)!r} returned a gradient "
                                 f"of shape {np.shape(replaced)} for a node of shape {node.grad_shape}")
            if create_graph and not isinstance(replaced, Node):
                replaced = prototype._from_op(np.asarray(replaced))
            gradient = replaced
            if current().anomaly and not np.all(np.isfinite(gradient.data if create_graph else gradient)):
                raise FloatingPointError(f"detect_anomaly: hook {getattr(hook, '__qualname__', hook)!r} returned "
                                         f"NaN/inf for a node of shape {node.grad_shape}")
    return gradient


def _accumulate_leaf(leaf: Any, gradient: Any, create_graph: bool) -> None:
    """Add to a leaf's `.grad`: a recorded gradient stays a node, so `.grad` can be differentiated (PyTorch's)."""
    if not create_graph:
        leaf._accumulate(gradient)
    else:
        leaf._grad = gradient if leaf._grad is None else leaf._grad + gradient


def _leading_to(order: list[Any], targets: dict[Any, Any]) -> set[Any]:
    """The vertices of `order` (inputs first) from which a path of ops leads to one of `targets`, and those."""
    needed: set[Any] = set()
    for node in order:
        if node in targets or (type(node) is Context and any(parent in needed for parent in node.parents)):
            needed.add(node)
    return needed


def _nodes(values: Any, what: str) -> list[Node]:
    """One node or a sequence of them as a non-empty list, or an error naming `what` and the odd one."""
    nodes = [values] if isinstance(values, Node) else list(values) if isinstance(values, (list, tuple)) else None
    if not nodes:
        raise TypeError(f"grad: {what} must be a Tensor (or Value) or a non-empty sequence of them, got "
                        f"{type(values).__name__}")
    for position, node in enumerate(nodes):
        if not isinstance(node, Node):
            raise TypeError(f"grad: {what}[{position}] is a {type(node).__name__}; expected a Tensor (or Value)")
    return nodes


def _seeds(who: str, outputs: list[Node], grad_outputs: Any, create_graph: bool) -> list[Any]:
    """The gradient each output starts with: given (an array, a Tensor), or ones for a one-element output; a node
    when the backward is recorded, else an array."""
    if grad_outputs is None or isinstance(grad_outputs, (Node, np.ndarray)):
        grad_outputs = [grad_outputs] * len(outputs) if grad_outputs is None else [grad_outputs]
    grad_outputs = list(grad_outputs)
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"{who}: {len(grad_outputs)} grad_outputs for {len(outputs)} outputs; expected one per "
                         "output (None for a one-element output)")
    seeds = []
    for position, (output, seed) in enumerate(zip(outputs, grad_outputs)):
        where, argument = ("the output", "grad") if who == "backward" else (f"output {position}", "grad_outputs")
        if not output.requires_grad:
            raise GraphError(f"{who}: {where} does not require grad and has no graph (was it made under no_grad, "
                             "or from inputs without requires_grad=True?)")
        data = output.data
        if seed is None:
            if np.size(data) != 1:
                raise GraphError(f"{who}: {argument} can be left out only for a one-element output, but {where} "
                                 f"has shape {np.shape(data)}; pass {argument}= of that shape (e.g. ones)")
            seed = np.ones_like(data) if isinstance(data, np.ndarray) else np.float64(1.0)
        elif not isinstance(seed, Node):
            seed = np.asarray(seed, dtype=data.dtype) if isinstance(data, np.ndarray) else np.float64(seed)
        if np.shape(seed) != np.shape(data):
            raise GraphError(f"{who}: {argument} for {where} has shape {np.shape(seed)} but {where} has shape "
                             f"{np.shape(data)}")
        if create_graph:
            seeds.append(seed if isinstance(seed, Node) else output._from_op(seed))
        else:
            seeds.append(seed.data if isinstance(seed, Node) else seed)
    return seeds
