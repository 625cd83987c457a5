"""Gradient clipping, the classic cure for exploding gradients in recurrent networks (as `torch.nn.utils`)."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from ...tensor import Tensor


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
    a grad are ignored; the total is computed in float64 and each grad keeps its dtype. A NaN or inf total raises
    a RuntimeError naming the parameters with `error_if_nonfinite=True`; without it, as in PyTorch, the grads are
    scaled anyway: by 0 for an inf total (finite entries become 0, inf entries NaN), by NaN for a NaN total (every
    entry becomes NaN), so an optimizer's `check_finite` then refuses the step.
    """
    params = _tensors(parameters, "clip_grad_norm_")
    norm_type, max_norm = float(norm_type), float(max_norm)
    if not (norm_type > 0 or math.isinf(norm_type)) or math.isnan(norm_type):
        raise ValueError(f"clip_grad_norm_: norm_type must be > 0 or inf, got {norm_type}")
    if not max_norm >= 0:
        raise ValueError(f"clip_grad_norm_: max_norm must be a number >= 0, got {max_norm}")
    with_grad = [(position, param) for position, param in enumerate(params) if param.grad is not None]
    grads = [np.asarray(param.grad, dtype=np.float64) for _, param in with_grad]
    if not grads:
        return np.float64(0.0)
    with np.errstate(all="ignore"):  # a NaN/inf total is an answer here, handled below
        if math.isinf(norm_type):
            total = float(np.max([np.max(np.abs(grad), initial=0.0) for grad in grads]))  # np.max keeps a NaN
        else:
            norms = np.array([np.linalg.norm(grad.ravel(), ord=norm_type) for grad in grads])
            total = float(np.linalg.norm(norms, ord=norm_type))
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is {total}, so "
                           f"they cannot be clipped; {_nonfinite_grads(with_grad, grads)}. Nothing was changed. "
                           f"Find where it started with tg.detect_anomaly(), or pass error_if_nonfinite=False to "
                           f"scale them anyway (as PyTorch, they then become NaN)")
    clip_coef = max_norm / (total + 1e-6)
    if clip_coef < 1.0 or math.isnan(clip_coef):
        with np.errstate(invalid="ignore"):  # inf * 0 is NaN, as documented
            for _, param in with_grad:
                # a new array: someone else (a hook, a log) may still hold the old one
                param.grad = (param.grad * clip_coef).astype(param.grad.dtype, copy=False)
    return np.float64(total)


def _nonfinite_grads(with_grad: list[tuple[int, Tensor]], grads: list[np.ndarray]) -> str:
    """Which parameters hold NaN/inf in their gradients (or that none do: then the norm itself overflowed)."""
    found = []
    for (position, param), grad in zip(with_grad, grads):
        nan, inf = int(np.isnan(grad).sum()), int(np.isinf(grad).sum())
        if nan or inf:
            counts = " and ".join(f"{count} {kind}" for count, kind in ((nan, "NaN"), (inf, "inf")) if count)
            found.append(f"parameter {position} (shape {param.shape}) has {counts}")
    return ", ".join(found) if found else "every gradient is finite, but the norm overflows float64"


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
