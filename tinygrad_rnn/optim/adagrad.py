"""Adagrad with PyTorch's learning-rate decay and initial accumulator."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..tensor import Tensor
from .optimizer import Optimizer, ParamsArg, _nonnegative


class Adagrad(Optimizer):
    """Adagrad as in PyTorch (and min-char-rnn): each weight's step shrinks with its summed squared gradients.

    g = grad + weight_decay * p;  s += g^2;  p -= lr / (1 + (t - 1) lr_decay) * g / (sqrt(s) + eps)
    """

    state_keys = ("step", "sum")

    def __init__(self, params: ParamsArg, lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10, check_finite: bool = True) -> None:
        super().__init__(params, {"lr": lr, "lr_decay": lr_decay, "weight_decay": weight_decay,
                                  "initial_accumulator_value": initial_accumulator_value, "eps": eps}, check_finite)

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


__all__ = ["Adagrad"]
