"""SGD with PyTorch's momentum, dampening, Nesterov momentum and L2 weight decay."""

from __future__ import annotations

from typing import Any

import numpy as np

from .optimizer import Optimizer, ParamsArg, _nonnegative


class SGD(Optimizer):
    """Stochastic gradient descent with PyTorch's momentum (the first step's buffer is the gradient itself).

    g = grad + weight_decay * p;  b = momentum * b + (1 - dampening) * g;
    p -= lr * (g + momentum * b if nesterov else b)   (p -= lr * g when momentum is 0)
    """

    state_keys = ("momentum_buffer",)

    def __init__(self, params: ParamsArg, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, check_finite: bool = True) -> None:
        super().__init__(params, {"lr": lr, "momentum": momentum, "dampening": dampening,
                                  "weight_decay": weight_decay, "nesterov": nesterov}, check_finite)

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


__all__ = ["SGD"]
