"""Reductions over axes, and the softmax family (stable for logits of any size)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..function import Function, register
from .samples import cases, normal


def _keepdims_shape(shape: tuple[int, ...], axis: Any) -> tuple[int, ...]:
    """The shape a reduction over `axis` has with keepdims=True (None reduces every axis)."""
    if axis is None:
        return (1,) * len(shape)
    axes = {a % len(shape) for a in (axis if isinstance(axis, tuple) else (axis,))}
    return tuple(1 if i in axes else size for i, size in enumerate(shape))


def _expand(grad: np.ndarray, shape: tuple[int, ...], axis: Any) -> np.ndarray:
    """Spread a reduction's gradient back over the input's `shape` (reduced axes kept or dropped alike)."""
    out = np.empty(shape, dtype=grad.dtype)
    out[...] = grad.reshape(_keepdims_shape(shape, axis))
    return out


_REDUCE = cases(((normal(3, 4),), {}), ((normal(3, 4),), {"axis": 0}),
                ((normal(2, 3, 4),), {"axis": (0, 2), "keepdims": True}), ((normal(2, 3, 4),), {"axis": -1}))


@register("sum", sample=_REDUCE)
class Sum(Function):
    """z = sum of x over `axis` (all by default);  dz/dx = 1 (the gradient is broadcast back)"""

    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False):
        ctx.shape, ctx.axis = x.shape, axis
        return np.asarray(x.sum(axis=axis, keepdims=keepdims))

    @staticmethod
    def backward(ctx, grad):
        return _expand(grad, ctx.shape, ctx.axis)


@register("mean", sample=_REDUCE)
class Mean(Function):
    """z = mean of x over `axis` (all by default);  dz/dx = 1/n for the n elements averaged"""

    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False):
        ctx.shape, ctx.axis = x.shape, axis
        out = np.asarray(x.mean(axis=axis, keepdims=keepdims))
        ctx.count = x.size // max(out.size, 1)
        return out

    @staticmethod
    def backward(ctx, grad):
        return _expand(grad / ctx.count, ctx.shape, ctx.axis)


@register("max", sample=_REDUCE)
class Max(Function):
    """z = max of x over `axis`;  dz/dx = 1 at the maximum (shared equally between ties), else 0"""

    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False):
        out = np.asarray(x.max(axis=axis, keepdims=keepdims))
        ctx.axis = axis
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        x, out = ctx.saved_tensors
        keep_shape = _keepdims_shape(x.shape, ctx.axis)
        mask = x == out.reshape(keep_shape)
        ties = mask.sum(axis=ctx.axis, keepdims=True).astype(grad.dtype)  # an int count would upcast float32
        return grad.reshape(keep_shape) * mask / ties


_SOFTMAX = cases(((normal(3, 5),), {"axis": -1}), ((normal(2, 3, 4),), {"axis": 1}))


@register("log_softmax", sample=_SOFTMAX)
class LogSoftmax(Function):
    """z = x - max - log(sum(exp(x - max)));  dL/dx = g - softmax(x) * sum(g)"""

    @staticmethod
    def forward(ctx, x, axis=-1):
        shifted = x - x.max(axis=axis, keepdims=True)
        out = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
        ctx.axis = axis
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad - np.exp(out) * grad.sum(axis=ctx.axis, keepdims=True)


@register("softmax", sample=_SOFTMAX)
class Softmax(Function):
    """z = exp(x - max) / sum(exp(x - max));  dL/dx = z * (g - sum(g * z))"""

    @staticmethod
    def forward(ctx, x, axis=-1):
        exps = np.exp(x - x.max(axis=axis, keepdims=True))
        out = exps / exps.sum(axis=axis, keepdims=True)
        ctx.axis = axis
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return out * (grad - (grad * out).sum(axis=ctx.axis, keepdims=True))
