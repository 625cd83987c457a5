"""Reading time steps off the graph: the scope "<layer>/t=<t>" each recurrent step is recorded in.

The layers record every op of step t in "<kind>.l<layer>[_reverse]/t=<t>" (e.g. "lstm.l0/t=3"); a user's own
loop does the same with `with tg.scope(f"t={t}")`. Ops outside every step scope (W.T, the projection of the
whole sequence, a readout after the loop) are "step-less". t is the time index, also in a reverse direction.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import numpy as np

from ..graph import toposort, vertex
from ..tensor import Tensor

STEP = re.compile(r"(?:^|/)t=(\d+)(?=/|$)")


@lru_cache(maxsize=4096)
def step_of(scope: str | None) -> int | None:
    """The time step a scope names (its last "t=<t>" part), or None outside every step scope."""
    if not scope:
        return None
    matches = STEP.findall(scope)
    return int(matches[-1]) if matches else None


@lru_cache(maxsize=4096)
def layer_of(scope: str | None) -> str | None:
    """The scope a step scope sits in ("lstm.l0" for "lstm.l0/t=3/gates"; "" for a top-level "t=3"), or None."""
    if not scope:
        return None
    matches = list(STEP.finditer(scope))
    return scope[:matches[-1].start()] if matches else None


def graph_of(loss: Any, caller: str) -> list[Any]:
    """The vertices behind a one-element `loss` that needs grad, in topological order, after checking that a
    backward can still go through them (none was freed by an earlier backward)."""
    if not isinstance(loss, Tensor):
        raise TypeError(f"{caller}: expected the loss to be a Tensor, got {type(loss).__name__}")
    if loss.data.size != 1:
        raise ValueError(f"{caller}: expected a one-element loss, got shape {loss.shape}; reduce it first "
                         "(.sum(), .mean())")
    if not loss.requires_grad or loss.is_leaf:
        raise ValueError(f"{caller}: the loss has no graph (it needs no grad: made under no_grad, or from "
                         "tensors without requires_grad=True?)")
    order = toposort(loss)
    for node in order:
        if node.is_context and node.saved_tensors is None:
            raise ValueError(f"{caller}: the graph was already freed by a backward (op '{node.name}', scope "
                             f"{node.scope}); build it again, or call that backward with retain_graph=True")
    return order


def named_parameters(params: Any, caller: str) -> dict[str, Any]:
    """`params` (a name -> Tensor mapping, or a Module) as a dict, after checking that each is a leaf that
    requires grad."""
    if hasattr(params, "named_parameters") and not isinstance(params, Mapping):
        params = dict(params.named_parameters())
    if not isinstance(params, Mapping) or not params:
        raise TypeError(f"{caller}: expected params as a non-empty name -> Tensor dict (such as "
                        f"dict(model.named_parameters())), got {type(params).__name__}")
    checked = {}
    for name, param in params.items():
        if not isinstance(param, Tensor):
            raise TypeError(f"{caller}: params[{name!r}] is a {type(param).__name__}; expected a Tensor")
        if not param.is_leaf:
            raise ValueError(f"{caller}: params[{name!r}] (shape {param.shape}) is not a leaf but the output of op "
                             f"'{param.op}'; pass the parameters themselves (leaves with requires_grad=True)")
        if not param.requires_grad:
            raise ValueError(f"{caller}: params[{name!r}] (shape {param.shape}) does not require grad, so no "
                             "gradient reaches it")
        checked[str(name)] = param
    return checked


def step_labels(order: list[Any]) -> list[int]:
    """The time steps named by the scopes of the graph's ops, sorted."""
    return sorted({step for node in order if node.is_context and (step := step_of(node.scope)) is not None})


def consumers(order: list[Any]) -> dict[int, list[tuple[Any, int]]]:
    """id(vertex) -> [(op context that reads it, input position), ...] in creation order."""
    readers: dict[int, list[tuple[Any, int]]] = {}
    for node in order:
        if node.is_context:
            for position, parent in enumerate(node.parents):
                readers.setdefault(id(parent), []).append((node, position))
    return readers


def hidden_states(order: list[Any]) -> dict[str, list[Any]]:
    """layer scope -> the vertices of h_0 .. h_{T-1} in time order, for each recurrent layer in the graph.

    A layer of `nn` stacks its outputs in its own scope ("rnn.l0"): the stack's inputs are the states. A loop of
    the user's own (scope "t=<t>" around a cell) has no such stack; there h_t is the op of step t that the next
    step reads and something outside the steps reads too (the output the loop collects).
    """
    found: dict[str, list[Any]] = {}
    for node in order:
        if node.is_context and node.name == "stack" and step_of(node.scope) is None and node.scope:
            parents = node.parents
            if parents and all(parent.is_context and layer_of(parent.scope) == node.scope for parent in parents):
                found[node.scope] = list(parents)
    return found or _carried_states(order)


def _carried_states(order: list[Any]) -> dict[str, list[Any]]:
    """h_t for loops without a layer's output stack: the step op read by the next step and outside the steps."""
    readers = consumers(order)
    by_layer: dict[str, dict[int, list[Any]]] = {}
    for node in order:
        if node.is_context and (step := step_of(node.scope)) is not None:
            by_layer.setdefault(layer_of(node.scope), {}).setdefault(step, []).append(node)
    states: dict[str, list[Any]] = {}
    for layer, steps in by_layer.items():
        chosen = []
        for step in sorted(steps):
            candidates = []
            for node in steps[step]:
                read_by = [step_of(reader.scope) for reader, _ in readers.get(id(node), [])]
                if any(other is not None and other != step for other in read_by) and None in read_by:
                    candidates.append(node)
            if not candidates:  # the last step: read outside the steps only; take its last such op
                candidates = [node for node in steps[step] if any(step_of(reader.scope) is None for reader, _ in
                                                                   readers.get(id(node), []))]
            if candidates:
                chosen.append(candidates[-1])
        if chosen and len(chosen) == len(steps):
            states[layer] = chosen
    return states


def lstm_cell_state(hidden: Any) -> Any | None:
    """c_t of an LSTM step from its h_t = o * tanh(c_t) (the vertex of c_t), or None if h_t is not made so."""
    hidden = vertex(hidden)
    if not (hidden.is_context and hidden.name == "mul" and len(hidden.parents) == 2):
        return None
    squashed = hidden.parents[1]
    if not (squashed.is_context and squashed.name == "tanh" and squashed.scope == hidden.scope):
        return None
    cell = squashed.parents[0]
    if cell.is_context and cell.name == "add" and cell.scope == hidden.scope:
        return cell
    return None


def norm(array: Any) -> float:
    """The 2-norm of an array over all its elements (as a Python float; accumulated in the array's dtype)."""
    flat = np.ravel(array, order="K")  # a view for a transposed array too (W.T's gradient comes back transposed)
    return float(np.sqrt(np.dot(flat, flat)))
