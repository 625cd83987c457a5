"""Optimizer: parameter groups, per-parameter state, `step`, `zero_grad` and state dicts, shared by every rule.

A rule (SGD, Adam, Adagrad, each in its own module) updates `p.data` in place, in the parameter's own dtype, from
`p.grad`, skipping parameters whose grad is None. `state_dict()` holds only arrays, numbers and tuples, so
`tinygrad_rnn.save` can write it to `.npz`. Because the update is in place, a graph kept with `retain_graph=True`
from before a `step()` holds the new weights: backward through it again would mix old activations with new
weights, so it raises a GraphError (as PyTorch's version counter does); build a new graph after each step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from ..mode import enable_grad, is_anomaly_enabled
from ..tensor import Tensor
from ..versions import mark_modified

ParamsArg = Iterable[Tensor] | Iterable[tuple[str, Tensor]] | Iterable[dict[str, Any]]
# what a learning-rate scheduler keeps in a group beside the hyperparameters (saved and loaded with them)
SCHEDULE_KEYS = ("initial_lr",)


class Optimizer:
    """Parameter groups, per-parameter state and the bookkeeping every optimiser shares.

    `params` are Tensors, or (name, Tensor) pairs from `named_parameters()` (then kept as the group's
    `"param_names"` and used in messages, as PyTorch does), or dicts, one per group.
    `param_groups` is a list of dicts: `"params"` (a list of Tensors) plus that group's hyperparameters, which
    may be changed between steps (a learning-rate schedule writes `group["lr"]`). `state[i]` belongs to the
    i-th parameter counting through all groups in order, as in PyTorch's `state_dict`.

    `check_finite` (on by default; PyTorch has no such check): a step that would write NaN or inf into a parameter
    or its state raises a FloatingPointError naming the parameter and changes nothing, instead of silently
    training on NaN. Off, a step still checks inside `tg.detect_anomaly()`. The check costs a copy of each updated
    parameter and its state per step (the way back if the step is refused).
    """

    state_keys: tuple[str, ...] = ()

    def __init__(self, params: ParamsArg, defaults: dict[str, Any], check_finite: bool = True) -> None:
        name = type(self).__name__
        self.check_finite = bool(check_finite)
        if isinstance(params, Tensor):
            raise TypeError(f"{name}: params should be an iterable of Tensors or dicts, but got a single Tensor; "
                            f"wrap it in a list")
        self.defaults = self._checked_hyperparameters(dict(defaults))
        self.param_groups: list[dict[str, Any]] = []
        self.state: dict[int, dict[str, Any]] = {}
        groups = list(params)
        if not groups:
            raise ValueError(f"{name}: optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group: dict[str, Any]) -> None:
        """Add a group: `{"params": [...], **hyperparameters}`; missing hyperparameters take the defaults."""
        name = type(self).__name__
        if not isinstance(group, dict) or "params" not in group:
            raise TypeError(f"{name}: a parameter group must be a dict with a 'params' entry, got {type(group)}")
        params = [group["params"]] if isinstance(group["params"], Tensor) else list(group["params"])
        named = [isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str) for item in params]
        mixed_groups = self.param_groups and params and all(named) != ("param_names" in self.param_groups[0])
        if mixed_groups or (any(named) and not all(named)):
            raise TypeError(f"{name}: give every parameter with a name, as (name, Tensor) pairs from "
                            f"named_parameters(), or none")
        names = [item[0] for item in params] if params and all(named) else None
        params = [item[1] for item in params] if names else params
        for position, param in enumerate(params):
            if not isinstance(param, Tensor):
                raise TypeError(f"{name}: can only optimize Tensors, but parameter {position} is a "
                                f"{type(param).__name__}")
            if not param.is_leaf:
                raise ValueError(f"{name}: can't optimize a non-leaf Tensor (parameter {position}, made by op "
                                 f"'{param.op}')")
            if param.data.dtype.kind != "f":
                raise TypeError(f"{name}: can only optimize floating-point Tensors, parameter {position} has "
                                f"dtype {param.dtype}")
        seen = {id(param) for param in self._params()}
        if len({id(param) for param in params}) != len(params) or any(id(param) in seen for param in params):
            raise ValueError(f"{name}: some parameters appear more than once (in one group or across groups)")
        unknown = sorted(set(group) - set(self.defaults) - {"params", *SCHEDULE_KEYS})
        if unknown:
            raise ValueError(f"{name}: unknown hyperparameters {unknown} in parameter group; "
                             f"expected some of {sorted(self.defaults)}")
        hyperparameters = self._checked_group({**self.defaults, **{k: v for k, v in group.items() if k != "params"}})
        first_index = len(list(self._params()))
        self.param_groups.append({"params": params, **hyperparameters, **({"param_names": names} if names else {})})
        for offset, param in enumerate(params):
            self.state[first_index + offset] = self._initial_state(param, hyperparameters)

    def _params(self) -> Iterator[Tensor]:
        for group in self.param_groups:
            yield from group["params"]

    def _checked_group(self, hyperparameters: dict[str, Any]) -> dict[str, Any]:
        """The rule's hyperparameters checked by `_checked_hyperparameters`, and a scheduler's entries (>= 0)."""
        schedule = {key: hyperparameters.pop(key) for key in SCHEDULE_KEYS if key in hyperparameters}
        _nonnegative(type(self).__name__, schedule, *schedule)
        return {**self._checked_hyperparameters(hyperparameters), **schedule}

    def _checked_hyperparameters(self, hyperparameters: dict[str, Any]) -> dict[str, Any]:
        """Validate and normalise one group's hyperparameters (numbers become Python floats)."""
        raise NotImplementedError

    def _initial_state(self, param: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        """The state a parameter starts with (most optimisers create theirs lazily, on the first step)."""
        return {}

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any], group: dict[str, Any]) -> None:
        """Apply one update to `param` in place."""
        raise NotImplementedError

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a grad; `closure` (optional) re-evaluates the loss and is returned."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        updates = []  # every grad is checked before any parameter changes
        index = 0
        for group_number, group in enumerate(self.param_groups):
            for param in group["params"]:
                if param.grad is not None:
                    grad = np.asarray(param.grad)
                    if grad.shape != param.data.shape:
                        raise ValueError(f"{type(self).__name__}.step: parameter {index} (group {group_number}) "
                                         f"has shape {param.data.shape} but its grad has shape {grad.shape}")
                    updates.append((index, group_number, param, grad.astype(param.data.dtype, copy=False), group))
                index += 1
        if self.check_finite or is_anomaly_enabled():
            self._update_finite(updates)
        else:
            for index, _, param, grad, group in updates:
                self._update(param.data, grad, self.state[index], group)
        for _, _, param, _, _ in updates:
            mark_modified(param)
        return loss

    def _update_finite(self, updates: list[tuple[int, int, Tensor, np.ndarray, dict[str, Any]]]) -> None:
        """Apply the updates, or none of them if one writes NaN/inf: then put everything back and raise."""
        before = []  # (parameter, its data, its state, a copy of that state) for each one updated so far
        for index, group_number, param, grad, group in updates:
            state = self.state[index]
            before.append((param, param.data.copy(), state, _copied(state)))
            with np.errstate(all="ignore"):  # numpy's warnings would only repeat the error below
                self._update(param.data, grad, state, group)
            written = [("the parameter", param.data), *((f"its state '{key}'", value) for key, value in state.items()
                                                        if isinstance(value, np.ndarray))]
            broken = [where for where, array in written if not np.isfinite(array).all()]
            if broken:
                for updated, data, live_state, saved_state in before:
                    updated.data[...] = data
                    live_state.clear()
                    live_state.update(saved_state)
                name, (_, data_before, _, state_before) = type(self).__name__, before[-1]
                label = self._label(index, param)
                raise FloatingPointError(
                    f"{name}.step: refused to write NaN/inf into {' and '.join(broken)} of parameter {index}{label} "
                    f"(group {group_number}, shape {param.data.shape}): {_cause(grad, data_before, state_before)}; no "
                    f"parameter or state was changed. Find where it started with tg.detect_anomaly(), or pass "
                    f"{name}(..., check_finite=False) to step anyway, as PyTorch does")

    def _label(self, index: int, param: Tensor) -> str:
        """The parameter's name, for messages: from named_parameters(), else its Tensor's name, else nothing."""
        for group in self.param_groups:
            if index < len(group["params"]):
                names = group.get("param_names")
                name = names[index] if names else param.name
                return f" {name!r}" if isinstance(name, str) else ""
            index -= len(group["params"])
        return ""

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget every parameter's grad: None by default (as PyTorch), or zeros with `set_to_none=False`."""
        for param in self._params():
            if set_to_none:
                param.grad = None
            elif param.grad is not None:
                param.grad = np.zeros_like(param.data)

    def state_dict(self) -> dict[str, Any]:
        """`{"state": {index: {name: array | number}}, "param_groups": [{hyperparameters, "params": [index]}]}`.

        Arrays are copies, so later steps do not change a state dict already taken.
        """
        state = {index: _copied(entry) for index, entry in self.state.items() if entry}
        groups, index = [], 0
        for group in self.param_groups:
            count = len(group["params"])
            groups.append({**{k: list(v) if k == "param_names" else v for k, v in group.items() if k != "params"},
                           "params": list(range(index, index + count))})
            index += count
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore hyperparameters and state from `state_dict()` (arrays are copied into each param's dtype).

        Everything is checked before anything changes: group and parameter counts, hyperparameter names,
        state names and shapes.
        """
        name = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, dict) or set(state_dict) != {"state", "param_groups"}:
            keys = sorted(state_dict) if isinstance(state_dict, dict) else type(state_dict).__name__
            raise ValueError(f"{name}: expected a dict with keys ['param_groups', 'state'], got {keys}")
        saved_groups = list(state_dict["param_groups"])
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{name}: the state dict has {len(saved_groups)} parameter groups, this optimizer "
                             f"has {len(self.param_groups)}")
        new_groups, saved_to_own, saved_names_by_group = [], {}, {}
        own_index = 0
        for number, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            if not isinstance(saved, dict) or "params" not in saved:
                raise ValueError(f"{name}: parameter group {number} should be a dict with a 'params' list, got "
                                 f"{type(saved).__name__}")
            saved_params = list(saved["params"])
            if len(saved_params) != len(group["params"]):
                raise ValueError(f"{name}: parameter group {number} has {len(saved_params)} parameters in the state "
                                 f"dict but {len(group['params'])} in this optimizer")
            hyperparameters = {k: v for k, v in saved.items() if k not in ("params", "param_names")}
            if "param_names" in saved:  # as PyTorch: the saved names replace ours
                saved_names = saved["param_names"]
                if not isinstance(saved_names, (list, tuple)) or len(saved_names) != len(saved_params) or not all(
                        isinstance(saved_name, str) for saved_name in saved_names):
                    raise ValueError(f"{name}: param_names of parameter group {number} should be a list of "
                                     f"{len(saved_params)} strings, got {saved_names!r}")
                saved_names_by_group[number] = list(saved_names)
            missing = sorted(set(self.defaults) - set(hyperparameters))
            unexpected = sorted(set(hyperparameters) - set(self.defaults) - set(SCHEDULE_KEYS))
            if missing or unexpected:
                raise ValueError(f"{name}: parameter group {number} hyperparameters do not match; "
                                 f"missing {missing}, unexpected {unexpected}")
            new_groups.append(self._checked_group(hyperparameters))
            for saved_index in saved_params:
                saved_to_own[saved_index] = own_index
                own_index += 1
        params, new_state = [], {}
        for group, hyperparameters in zip(self.param_groups, new_groups):
            for param in group["params"]:
                new_state[len(params)] = self._initial_state(param, hyperparameters)
                params.append(param)
        for saved_index, entry in dict(state_dict["state"]).items():
            if saved_index not in saved_to_own:
                raise ValueError(f"{name}: state for parameter {saved_index!r}, which no parameter group lists")
            index = saved_to_own[saved_index]
            param = params[index]
            if not isinstance(entry, dict):
                raise ValueError(f"{name}: the state of parameter {index} should be a dict, got {type(entry).__name__}")
            unexpected = sorted(set(entry) - set(self.state_keys))
            if unexpected:
                raise ValueError(f"{name}: unexpected state {unexpected} for parameter {index}; "
                                 f"{type(self).__name__} keeps {list(self.state_keys)}")
            for key, value in entry.items():
                if key == "step":
                    new_state[index][key] = int(np.asarray(value).item())
                    continue
                value = np.asarray(value)
                if value.shape != param.data.shape:
                    raise ValueError(f"{name}: state '{key}' of parameter {index} has shape {value.shape}, but the "
                                     f"parameter has shape {param.data.shape}")
                new_state[index][key] = np.array(value, dtype=param.data.dtype)
        for number, (group, hyperparameters) in enumerate(zip(self.param_groups, new_groups)):
            group.update(hyperparameters)
            if number in saved_names_by_group:
                group["param_names"] = saved_names_by_group[number]
        self.state = new_state

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for number, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {number}")
            lines.extend(f"    {key}: {group[key]}" for key in sorted(group) if key != "params")
        return "\n".join(lines + [")"])


def _copied(state: dict[str, Any]) -> dict[str, Any]:
    """A parameter's state with its arrays copied."""
    return {key: np.array(value) if isinstance(value, np.ndarray) else value for key, value in state.items()}


def _cause(grad: np.ndarray, data: np.ndarray, old_state: dict[str, Any]) -> str:
    """Why an update went non-finite: the gradient, the parameter or state it started from, or an overflow."""
    if not np.isfinite(grad).all():
        return f"its gradient holds {_count_nonfinite(grad)}"
    if not np.isfinite(data).all():
        return f"the parameter already held {_count_nonfinite(data)} before this step"
    for key, value in old_state.items():
        if isinstance(value, np.ndarray) and not np.isfinite(value).all():
            return f"its state '{key}' already held {_count_nonfinite(value)} before this step"
    return (f"the update overflowed {grad.dtype} (the gradient's largest magnitude is "
            f"{float(np.max(np.abs(grad), initial=0.0)):.3g})")


def _count_nonfinite(array: np.ndarray) -> str:
    nan, inf = int(np.isnan(array).sum()), int(np.isinf(array).sum())
    return " and ".join(f"{count} {kind}" for count, kind in ((nan, "NaN"), (inf, "inf")) if count)


def _nonnegative(owner: str, hyperparameters: dict[str, Any], *keys: str) -> None:
    """Turn each named hyperparameter into a float, refusing negative values."""
    for key in keys:
        try:
            value = float(hyperparameters[key])
        except (TypeError, ValueError):
            value = float("nan")
        if not value >= 0.0:
            raise ValueError(f"{owner}: invalid {key} value {hyperparameters[key]!r}; expected a number >= 0")
        hyperparameters[key] = value


__all__ = ["Optimizer", "ParamsArg"]
