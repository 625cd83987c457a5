"""Reductions over axes, and the softmax family (stable for logits of any size)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..function import Function, register
from .samples import cases, normal
from .tangents import negative_axes


def _keepdims_shape(shape: tuple[int, ...], axis: Any) -> tuple[int, ...]:
    """The shape a reduction over `axis` has with keepdims=True (None reduces every axis)."""
    if axis is None:
        return (1,) * len(shape)
    axes = {a % len(shape) for a in (axis if isinstance(axis, tuple) else (axis,))}
    return tuple(1 if i in axes else size for i, size in enumerate(shape))


def _expand(xp: Any, grad: Any, shape: tuple[int, ...], axis: Any) -> Any:
    """Spread a reduction's gradient back over the input's `shape` (reduced axes kept or dropped alike)."""
    return xp.broadcast_to(grad.reshape(_keepdims_shape(shape, axis)), shape)


def _reduced(ctx: Any, tangent: np.ndarray) -> np.ndarray:
    """A stack of tangents summed over the reduced axes, in the output's shape (kept axes or dropped alike)."""
    summed = tangent.sum(axis=negative_axes(ctx.axis, len(ctx.shape)))
    return summed.reshape(tangent.shape[:1] + ctx.grad_shape)


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
        return _expand(ctx.xp, grad, ctx.shape, ctx.axis)

    @staticmethod
    def jvp(ctx, tangent):
        return _reduced(ctx, tangent)


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
        return _expand(ctx.xp, grad / ctx.count, ctx.shape, ctx.axis)

    @staticmethod
    def jvp(ctx, tangent):
        return _reduced(ctx, tangent) / ctx.count


@register("max", sample=_REDUCE)
class Max(Function):
    """z = max of x over `axis`;  dz/dx = 1 at the maximum (shared equally between ties), else 0"""
    saves = (0, "output")

    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False):
        out = np.asarray(x.max(axis=axis, keepdims=keepdims))
        ctx.axis = axis
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        x, out = ctx.saved_tensors
        xp = ctx.xp
        keep_shape = _keepdims_shape(x.shape, ctx.axis)
        mask = xp.astype(xp.equal(x, out.reshape(keep_shape)), grad.dtype)  # (an int count would upcast float32)
        return grad.reshape(keep_shape) * mask / mask.sum(axis=ctx.axis, keepdims=True)

    @staticmethod
    def jvp(ctx, tangent):
        x, out = ctx.saved_tensors
        axes = negative_axes(ctx.axis, x.ndim)
        mask = (x == out.reshape(_keepdims_shape(x.shape, ctx.axis))).astype(tangent.dtype)
        shared = (tangent * mask).sum(axis=axes, keepdims=True) / mask.sum(axis=axes, keepdims=True)
        return shared.reshape(tangent.shape[:1] + out.shape)


_SOFTMAX = cases(((normal(3, 5),), {"axis": -1}), ((normal(2, 3, 4),), {"axis": 1}))


@register("log_softmax", sample=_SOFTMAX)
class LogSoftmax(Function):
    """z = x - max - log(sum(exp(x - max)));  dL/dx = g - softmax(x) * sum(g)"""
    saves = ("output",)

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
        return grad - ctx.xp.exp(out) * grad.sum(axis=ctx.axis, keepdims=True)

    @staticmethod
    def jvp(ctx, tangent):
        (out,) = ctx.saved_tensors
        axis = negative_axes(ctx.axis, out.ndim)
        return tangent - (np.exp(out) * tangent).sum(axis=axis, keepdims=True)


@register("softmax", sample=_SOFTMAX)
class Softmax(Function):
    """z = exp(x - max) / sum(exp(x - max));  dL/dx = z * (g - sum(g * z))"""
    saves = ("output",)

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

    @staticmethod
    def jvp(ctx, tangent):
        (out,) = ctx.saved_tensors
        return out * (tangent - (out * tangent).sum(axis=negative_axes(ctx.axis, out.ndim), keepdims=True))
