"""Gradient clipping, the classic cure for exploding gradients in recurrent networks (as `torch.nn.utils`)."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from ..tensor import Tensor


def _tensors(parameters: Tensor | Iterable[Tensor], caller: str) -> list[Tensor]:
    """A single Tensor or an iterable of them, as a list."""
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    for position, param in enumerate(params):
        if not isinstance(param, Tensor):
            raise TypeError(f"{caller}: expected Tensors, but parameter {position} is a {type(param).__name__}")
    return params


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> np.floating:
    """Scale all grads by min(1, max_norm / (total + 1e-6)); returns total, the norm of all grads as one vector.

    total = (sum over grads g of ||g||_p^p)^(1/p), or the largest |g| when norm_type is inf. Parameters without
    a grad are ignored; the total is computed in float64 and each grad keeps its dtype.
    """
    params = _tensors(parameters, "clip_grad_norm_")
    norm_type = float(norm_type)
    if not (norm_type > 0 or math.isinf(norm_type)) or math.isnan(norm_type):
        raise ValueError(f"clip_grad_norm_: norm_type must be > 0 or inf, got {norm_type}")
    grads = [np.asarray(param.grad, dtype=np.float64) for param in params if param.grad is not None]
    if not grads:
        return np.float64(0.0)
    if math.isinf(norm_type):
        total = max(float(np.max(np.abs(grad), initial=0.0)) for grad in grads)
    else:
        norms = np.array([np.linalg.norm(grad.ravel(), ord=norm_type) for grad in grads])
        total = float(np.linalg.norm(norms, ord=norm_type))
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is {total}; "
                           f"pass error_if_nonfinite=False to clip anyway")
    clip_coef = float(max_norm) / (total + 1e-6)
    if clip_coef < 1.0:
        for param in params:
            if param.grad is not None:
                # a new array: someone else (a hook, a log) may still hold the old one
                param.grad = (param.grad * clip_coef).astype(param.grad.dtype, copy=False)
    return np.float64(total)


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float) -> None:
    """Clamp every grad elementwise into [-clip_value, clip_value]."""
    params = _tensors(parameters, "clip_grad_value_")
    clip_value = float(clip_value)
    if not clip_value >= 0:
        raise ValueError(f"clip_grad_value_: clip_value must be >= 0, got {clip_value}")
    for param in params:
        if param.grad is not None:
            param.grad = np.clip(param.grad, -clip_value, clip_value).astype(param.grad.dtype, copy=False)


__all__ = ["clip_grad_norm_", "clip_grad_value_"]
