"""The pure-Python floor: the smallest reverse-mode autograd that trains the benchmark's RNN, to show how close an
engine written in Python, with nothing but the essentials, comes to the hand-written numpy BPTT.

A node is one object: its array, its inputs, and a closure that sends its gradient to them (micrograd's design,
on arrays). Nothing else: no op registry, scopes, hooks, shape or input checks, error messages, graph freeing,
scalar engine or renderer. It runs the same three ops per time step as our `nn.RNN` (getitem, addmm, tanh) and
sums a shared weight's per-step gradients as one GEMM, as our engine does. So the gap between this and the numpy
BPTT is what Python's per-op cost alone takes, and the gap between our engine and this is what its features cost.
`rnn_step.py` checks its gradients like every other contender's.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import count
from operator import attrgetter
from typing import Any

import numpy as np

_next_order = count().__next__


class Node:
    """An array, its inputs, and `send(grad)`, which adds d loss/d input to each input's `grad`; a constant
    (needs_grad=False) gets none."""

    __slots__ = ("data", "inputs", "send", "grad", "order", "needs_grad")

    def __init__(self, data: np.ndarray, inputs: tuple[Node, ...] = (), send: Callable[[Any], None] | None = None,
                 needs_grad: bool = True) -> None:
        self.data, self.inputs, self.send, self.grad = data, inputs, send, None
        self.order, self.needs_grad = _next_order(), needs_grad


def _add_grad(node: Node, grad: Any) -> None:
    """Accumulate `grad` on `node`: the first is kept, later ones are summed (a list of factors for a product)."""
    if type(grad) is tuple:  # (left, right): left^T @ right, kept to be summed with the others as one GEMM
        if node.grad is None:
            node.grad = []
        node.grad.append(grad)
    elif node.grad is None:
        node.grad = grad
    else:
        node.grad = node.grad + grad


def _dense(grad: Any) -> np.ndarray:
    """A gradient as an array: a list of product factors becomes one GEMM over all their rows."""
    if type(grad) is not list:
        return grad
    return np.dot(np.concatenate([left for left, _ in grad]).T, np.concatenate([right for _, right in grad]))


def backward(root: Node) -> None:
    """d root/d every node, in reverse creation order (a topological order)."""
    nodes, seen, stack = [], {root}, [root]
    while stack:
        node = stack.pop()
        nodes.append(node)
        for parent in node.inputs:
            if parent not in seen:
                seen.add(parent)
                stack.append(parent)
    nodes.sort(key=attrgetter("order"), reverse=True)
    root.grad = np.ones_like(root.data)
    for node in nodes:
        if node.send is not None and node.grad is not None:
            node.send(_dense(node.grad))


# ---- ops: each computes its output and makes the closure that sends the gradient back -----------------------

def addmm(bias: Node, x: Node, weight: Node) -> Node:
    """bias + x @ weight, with bias broadcast over x's rows; weight's gradient is kept as factors."""
    out = np.dot(x.data, weight.data)
    out += bias.data

    def send(grad: np.ndarray) -> None:
        _add_grad(bias, grad if grad.shape == bias.data.shape else grad.sum(axis=0))
        if x.needs_grad:
            _add_grad(x, np.dot(grad, weight.data.T))
        _add_grad(weight, (x.data, grad))
    return Node(out, (bias, x, weight), send)


def row(x: Node, index: slice) -> Node:
    """x[index] along the first axis."""
    def send(grad: np.ndarray) -> None:
        if x.grad is None:
            x.grad = np.zeros_like(x.data)
        x.grad[index] += grad
    return Node(x.data[index], (x,), send)


def tanh(x: Node) -> Node:
    out = np.tanh(x.data)

    def send(grad: np.ndarray) -> None:
        _add_grad(x, grad * (1 - out * out))
    return Node(out, (x,), send)


def stack_rows(nodes: list[Node]) -> Node:
    """The nodes' arrays stacked along a new first axis, then flattened to rows: (T * B, H)."""
    out = np.stack([node.data for node in nodes])

    def send(grad: np.ndarray) -> None:
        for node, piece in zip(nodes, grad.reshape(out.shape)):
            _add_grad(node, piece)
    return Node(out.reshape(-1, out.shape[-1]), tuple(nodes), send)


def squared_error(prediction: Node, target: np.ndarray) -> Node:
    """mean((prediction - target)^2)."""
    residual = prediction.data - target

    def send(grad: np.ndarray) -> None:
        _add_grad(prediction, residual * (grad * 2.0 / residual.size))
    return Node(np.array(np.vdot(residual, residual) / residual.size, dtype=residual.dtype), (prediction,), send)


def transposed(x: Node) -> Node:
    def send(grad: np.ndarray) -> None:
        _add_grad(x, grad.T)
    return Node(x.data.T, (x,), send)


def summed(a: Node, b: Node) -> Node:
    def send(grad: np.ndarray) -> None:
        _add_grad(a, grad)
        _add_grad(b, grad)
    return Node(a.data + b.data, (a, b), send)


def rnn_loss(parameters: dict[str, Node], inputs: np.ndarray, flat_targets: np.ndarray) -> Node:
    """The benchmark's model: projection hoisted over the sequence, then getitem, addmm, tanh per step."""
    length, batch, input_size = inputs.shape
    bias = summed(parameters["bias_ih"], parameters["bias_hh"])
    rows = Node(inputs.reshape(length * batch, input_size), needs_grad=False)
    projected = addmm(bias, rows, transposed(parameters["weight_ih"]))
    weight_hh_t = transposed(parameters["weight_hh"])
    hidden = Node(np.zeros((batch, weight_hh_t.data.shape[0]), dtype=inputs.dtype), needs_grad=False)
    outputs = []
    for timestep in range(length):
        hidden = tanh(addmm(row(projected, slice(timestep * batch, (timestep + 1) * batch)), hidden, weight_hh_t))
        outputs.append(hidden)
    prediction = addmm(parameters["bias_y"], stack_rows(outputs), parameters["weight_hy"])
    return squared_error(prediction, flat_targets)


def gradient(node: Node) -> np.ndarray:
    """A leaf's gradient after backward, as an array."""
    return _dense(node.grad)
