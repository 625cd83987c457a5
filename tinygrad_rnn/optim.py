"""Optimisers with PyTorch's update rules: SGD (momentum, Nesterov), Adam (AMSGrad), Adagrad.

Each updates `p.data` in place, in the parameter's own dtype, from `p.grad`, skipping parameters whose grad is
None. `state_dict()` holds only arrays, numbers and tuples, so `tinygrad_rnn.save` can write it to `.npz`.
Because the update is in place, a graph kept with `retain_graph=True` from before a `step()` holds the new
weights: backward through it again would mix old activations with new weights, so it raises a GraphError (as
PyTorch's version counter does); build a new graph after each step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from .mode import enable_grad
from .tensor import Tensor
from .versions import mark_modified

ParamsArg = Iterable[Tensor] | Iterable[dict[str, Any]]


class Optimizer:
    """Parameter groups, per-parameter state and the bookkeeping every optimiser shares.

    `param_groups` is a list of dicts: `"params"` (a list of Tensors) plus that group's hyperparameters, which
    may be changed between steps (a learning-rate schedule writes `group["lr"]`). `state[i]` belongs to the
    i-th parameter counting through all groups in order, as in PyTorch's `state_dict`.
    """

    state_keys: tuple[str, ...] = ()

    def __init__(self, params: ParamsArg, defaults: dict[str, Any]) -> None:
        name = type(self).__name__
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
        unknown = sorted(set(group) - set(self.defaults) - {"params"})
        if unknown:
            raise ValueError(f"{name}: unknown hyperparameters {unknown} in parameter group; "
                             f"expected some of {sorted(self.defaults)}")
        hyperparameters = self._checked_hyperparameters({**self.defaults, **{k: v for k, v in group.items()
                                                                           if k != "params"}})
        first_index = len(list(self._params()))
        self.param_groups.append({"params": params, **hyperparameters})
        for offset, param in enumerate(params):
            self.state[first_index + offset] = self._initial_state(param, hyperparameters)

    def _params(self) -> Iterator[Tensor]:
        for group in self.param_groups:
            yield from group["params"]

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
        index = 0
        for group_number, group in enumerate(self.param_groups):
            for param in group["params"]:
                if param.grad is not None:
                    grad = np.asarray(param.grad)
                    if grad.shape != param.data.shape:
                        raise ValueError(f"{type(self).__name__}.step: parameter {index} (group {group_number}) "
                                         f"has shape {param.data.shape} but its grad has shape {grad.shape}")
                    self._update(param.data, grad.astype(param.data.dtype, copy=False), self.state[index], group)
                    mark_modified(param)
                index += 1
        return loss

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
        state = {index: {key: np.array(value) if isinstance(value, np.ndarray) else value
                         for key, value in entry.items()}
                 for index, entry in self.state.items() if entry}
        groups, index = [], 0
        for group in self.param_groups:
            count = len(group["params"])
            groups.append({**{k: v for k, v in group.items() if k != "params"},
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
        new_groups, saved_to_own = [], {}
        own_index = 0
        for number, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            if not isinstance(saved, dict) or "params" not in saved:
                raise ValueError(f"{name}: parameter group {number} should be a dict with a 'params' list, got "
                                 f"{type(saved).__name__}")
            saved_params = list(saved["params"])
            if len(saved_params) != len(group["params"]):
                raise ValueError(f"{name}: parameter group {number} has {len(saved_params)} parameters in the state "
                                 f"dict but {len(group['params'])} in this optimizer")
            hyperparameters = {k: v for k, v in saved.items() if k != "params"}
            missing = sorted(set(self.defaults) - set(hyperparameters))
            unexpected = sorted(set(hyperparameters) - set(self.defaults))
            if missing or unexpected:
                raise ValueError(f"{name}: parameter group {number} hyperparameters do not match; "
                                 f"missing {missing}, unexpected {unexpected}")
            new_groups.append(self._checked_hyperparameters(hyperparameters))
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
        for group, hyperparameters in zip(self.param_groups, new_groups):
            group.update(hyperparameters)
        self.state = new_state

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for number, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {number}")
            lines.extend(f"    {key}: {group[key]}" for key in sorted(group) if key != "params")
        return "\n".join(lines + [")"])


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


class SGD(Optimizer):
    """Stochastic gradient descent with PyTorch's momentum (the first step's buffer is the gradient itself).

    g = grad + weight_decay * p;  b = momentum * b + (1 - dampening) * g;
    p -= lr * (g + momentum * b if nesterov else b)   (p -= lr * g when momentum is 0)
    """

    state_keys = ("momentum_buffer",)

    def __init__(self, params: ParamsArg, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False) -> None:
        super().__init__(params, {"lr": lr, "momentum": momentum, "dampening": dampening,
                                  "weight_decay": weight_decay, "nesterov": nesterov})

    def _checked_hyperparameters(self, hyperparameters: dict[str, Any]) -> dict[str, Any]:
        _nonnegative("SGD", hyperparameters, "lr", "momentum", "weight_decay")
        hyperparameters["dampening"] = float(hyperparameters["dampening"])
        hyperparameters["nesterov"] = bool(hyperparameters["nesterov"])
        if hyperparameters["nesterov"] and (hyperparameters["momentum"] <= 0 or hyperparameters["dampening"] != 0):
            raise ValueError("SGD: Nesterov momentum requires a momentum > 0 and zero dampening, got "
                             f"momentum={hyperparameters['momentum']}, dampening={hyperparameters['dampening']}")
        return hyperparameters

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any], group: dict[str, Any]) -> None:
        momentum = group["momentum"]
        if group["weight_decay"] != 0:
            grad = grad + group["weight_decay"] * param
        if momentum != 0:
            buffer = state.get("momentum_buffer")
            if buffer is None:
                buffer = state["momentum_buffer"] = np.array(grad, dtype=param.dtype)
            else:
                buffer *= momentum
                buffer += (1 - group["dampening"]) * grad
            grad = grad + momentum * buffer if group["nesterov"] else buffer
        param -= group["lr"] * grad


class Adam(Optimizer):
    """Adam with PyTorch's bias correction (and its L2 `weight_decay`, added to the gradient, not AdamW's).

    g = grad + weight_decay * p;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2   (t counts steps from 1)
    p -= lr / (1 - b1^t) * m / (sqrt(v_hat) / sqrt(1 - b2^t) + eps),  v_hat = max over steps of v if amsgrad else v
    """

    state_keys = ("step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq")

    def __init__(self, params: ParamsArg, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False) -> None:
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                                  "amsgrad": amsgrad})

    def _checked_hyperparameters(self, hyperparameters: dict[str, Any]) -> dict[str, Any]:
        _nonnegative("Adam", hyperparameters, "lr", "eps", "weight_decay")
        betas = tuple(float(beta) for beta in hyperparameters["betas"])
        if len(betas) != 2 or not all(0.0 <= beta < 1.0 for beta in betas):
            raise ValueError(f"Adam: invalid betas {hyperparameters['betas']!r}; expected two numbers in [0, 1)")
        hyperparameters["betas"] = betas
        hyperparameters["amsgrad"] = bool(hyperparameters["amsgrad"])
        return hyperparameters

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any], group: dict[str, Any]) -> None:
        beta1, beta2 = group["betas"]
        if "step" not in state:
            state["step"] = 0
            state["exp_avg"] = np.zeros_like(param)
            state["exp_avg_sq"] = np.zeros_like(param)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = np.zeros_like(param)
        state["step"] += 1
        step = state["step"]
        if group["weight_decay"] != 0:
            grad = grad + group["weight_decay"] * param
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        exp_avg += (1 - beta1) * (grad - exp_avg)
        exp_avg_sq *= beta2
        exp_avg_sq += (1 - beta2) * grad * grad
        step_size = group["lr"] / (1 - beta1**step)
        bias_correction2_sqrt = (1 - beta2**step) ** 0.5
        if group["amsgrad"]:
            second_moment = state.setdefault("max_exp_avg_sq", np.zeros_like(param))
            np.maximum(second_moment, exp_avg_sq, out=second_moment)
        else:
            second_moment = exp_avg_sq
        denominator = np.sqrt(second_moment) / bias_correction2_sqrt + group["eps"]
        param -= step_size * (exp_avg / denominator)


class Adagrad(Optimizer):
    """Adagrad as in PyTorch (and min-char-rnn): each weight's step shrinks with its summed squared gradients.

    g = grad + weight_decay * p;  s += g^2;  p -= lr / (1 + (t - 1) lr_decay) * g / (sqrt(s) + eps)
    """

    state_keys = ("step", "sum")

    def __init__(self, params: ParamsArg, lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10) -> None:
        super().__init__(params, {"lr": lr, "lr_decay": lr_decay, "weight_decay": weight_decay,
                                  "initial_accumulator_value": initial_accumulator_value, "eps": eps})

    def _checked_hyperparameters(self, hyperparameters: dict[str, Any]) -> dict[str, Any]:
        _nonnegative("Adagrad", hyperparameters, "lr", "lr_decay", "weight_decay", "initial_accumulator_value",
                     "eps")
        return hyperparameters

    def _initial_state(self, param: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        return {"step": 0, "sum": np.full_like(param.data, group["initial_accumulator_value"])}

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any], group: dict[str, Any]) -> None:
        state["step"] += 1
        if group["weight_decay"] != 0:
            grad = grad + group["weight_decay"] * param
        learning_rate = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        state["sum"] += grad * grad
        param -= learning_rate * (grad / (np.sqrt(state["sum"]) + group["eps"]))


__all__ = ["SGD", "Adagrad", "Adam", "Optimizer"]
