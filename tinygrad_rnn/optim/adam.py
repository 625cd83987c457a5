"""Adam with PyTorch's bias correction and AMSGrad."""

from __future__ import annotations

from typing import Any

import numpy as np

from .optimizer import Optimizer, ParamsArg, _nonnegative


class Adam(Optimizer):
    """Adam with PyTorch's bias correction (and its L2 `weight_decay`, added to the gradient, not AdamW's).

    g = grad + weight_decay * p;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2   (t counts steps from 1)
    p -= lr / (1 - b1^t) * m / (sqrt(v_hat) / sqrt(1 - b2^t) + eps),  v_hat = max over steps of v if amsgrad else v
    """

    state_keys = ("step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq")

    def __init__(self, params: ParamsArg, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False,
                 check_finite: bool = True) -> None:
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                                  "amsgrad": amsgrad}, check_finite)

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


__all__ = ["Adam"]
