"""The primitive ops. Each is a registered Function: forward and backward on numpy arrays, math in its docstring.

Binary ops return gradients in the output's shape; the engine (graph.backward) undoes broadcasting.
Each op's `sample` gives small float64 cases that the test suite gradchecks.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .function import OPS, Function, OpError, get_op, register
from .gradients import IndexedGrad

__all__ = ["OPS", "Function", "OpError", "get_op", "register"]

BROADCAST = "shapes that broadcast together (numpy rules)"


def _normal(*shape: int) -> Any:
    """A sample factory: rng -> standard-normal array of `shape`."""
    return lambda rng: rng.standard_normal(shape)


def _positive(*shape: int) -> Any:
    """A sample factory: rng -> array of `shape` with values in [0.5, 2]."""
    return lambda rng: rng.uniform(0.5, 2.0, shape)


def _cases(*cases: tuple[tuple[Any, ...], dict[str, Any]]) -> Any:
    """Build a `sample` function from (input factories, attrs) pairs."""
    return lambda rng: [(tuple(make(rng) for make in inputs), attrs) for inputs, attrs in cases]


_BINARY = _cases(((_normal(3, 4), _normal(3, 4)), {}), ((_normal(2, 3, 4), _normal(4)), {}),
                 ((_normal(2, 1, 3), _normal(4, 3)), {}))
_UNARY = _cases(((_normal(3, 4),), {}))


# ---- elementwise binary -------------------------------------------------------------------------------------

@register("add", sample=_BINARY)
class Add(Function):
    """z = x + y;  dz/dx = 1,  dz/dy = 1"""
    expects = BROADCAST

    @staticmethod
    def forward(ctx, x, y):
        return x + y

    @staticmethod
    def backward(ctx, grad):
        return grad, grad


@register("sub", sample=_BINARY)
class Sub(Function):
    """z = x - y;  dz/dx = 1,  dz/dy = -1"""
    expects = BROADCAST

    @staticmethod
    def forward(ctx, x, y):
        return x - y

    @staticmethod
    def backward(ctx, grad):
        return grad, (-grad if ctx.needs_input_grad[1] else None)


@register("mul", sample=_BINARY)
class Mul(Function):
    """z = x * y;  dz/dx = y,  dz/dy = x"""
    expects = BROADCAST

    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return x * y

    @staticmethod
    def backward(ctx, grad):
        x, y = ctx.saved_tensors
        needs_x, needs_y = ctx.needs_input_grad
        return (grad * y if needs_x else None), (grad * x if needs_y else None)


@register("div", sample=_cases(((_normal(3, 4), _positive(3, 4)), {}), ((_normal(2, 3), _positive(3)), {})))
class Div(Function):
    """z = x / y;  dz/dx = 1/y,  dz/dy = -x/y^2 = -z/y"""
    expects = BROADCAST

    @staticmethod
    def forward(ctx, x, y):
        out = x / y
        ctx.save_for_backward(y, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        y, out = ctx.saved_tensors
        grad_x = grad / y
        return grad_x, (-grad_x * out if ctx.needs_input_grad[1] else None)


# ---- elementwise unary --------------------------------------------------------------------------------------

@register("neg", sample=_UNARY)
class Neg(Function):
    """z = -x;  dz/dx = -1"""

    @staticmethod
    def forward(ctx, x):
        return -x

    @staticmethod
    def backward(ctx, grad):
        return -grad


@register("pow", sample=_cases(((_positive(3, 4),), {"exponent": 2.5}), ((_normal(3, 4),), {"exponent": 3}),
                              ((_positive(2, 2),), {"exponent": -1.0})))
class Pow(Function):
    """z = x ** c for a constant c;  dz/dx = c * x ** (c - 1)"""

    @staticmethod
    def forward(ctx, x, exponent):
        ctx.save_for_backward(x)
        ctx.exponent = exponent
        return x ** exponent

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * ctx.exponent * x ** (ctx.exponent - 1)


@register("exp", sample=_UNARY)
class Exp(Function):
    """z = e^x;  dz/dx = z"""

    @staticmethod
    def forward(ctx, x):
        out = np.exp(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.saved_tensors[0]


@register("log", sample=_cases(((_positive(3, 4),), {})))
class Log(Function):
    """z = ln x;  dz/dx = 1/x"""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.log(x)

    @staticmethod
    def backward(ctx, grad):
        return grad / ctx.saved_tensors[0]


@register("tanh", sample=_UNARY)
class Tanh(Function):
    """z = tanh x;  dz/dx = 1 - z^2"""

    @staticmethod
    def forward(ctx, x):
        out = np.tanh(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        out = ctx.saved_tensors[0]
        return grad * (1 - out * out)


@register("sigmoid", sample=_UNARY)
class Sigmoid(Function):
    """z = 1 / (1 + e^-x), computed as (1 + tanh(x/2)) / 2 so it never overflows;  dz/dx = z (1 - z)"""

    @staticmethod
    def forward(ctx, x):
        out = np.tanh(x * 0.5) * 0.5 + 0.5
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        out = ctx.saved_tensors[0]
        return grad * out * (1 - out)


@register("relu", sample=_UNARY)
class ReLU(Function):
    """z = max(x, 0);  dz/dx = 1 where x > 0, else 0"""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.maximum(x, 0)

    @staticmethod
    def backward(ctx, grad):
        return grad * (ctx.saved_tensors[0] > 0)


# ---- linear algebra -----------------------------------------------------------------------------------------

@register("matmul", sample=_cases(((_normal(3, 4), _normal(4, 2)), {}), ((_normal(2, 3, 4), _normal(4, 5)), {}),
                                 ((_normal(2, 3, 4), _normal(2, 4, 2)), {}), ((_normal(4,), _normal(4, 3)), {}),
                                 ((_normal(3, 4), _normal(4,)), {}), ((_normal(4,), _normal(4,)), {})))
class MatMul(Function):
    """Z = X @ Y (batched, numpy rules);  dL/dX = G @ Y^T,  dL/dY = X^T @ G"""
    expects = "inner dimensions to agree, (..., n, k) @ (..., k, m), with batch dimensions that broadcast"

    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return x @ y

    @staticmethod
    def backward(ctx, grad):
        x, y = ctx.saved_tensors
        needs_x, needs_y = ctx.needs_input_grad
        if x.ndim == 1 or y.ndim == 1:
            # vectors act as a row (on the left) or a column (on the right); restore the dropped axis
            x2 = x[None, :] if x.ndim == 1 else x
            y2 = y[:, None] if y.ndim == 1 else y
            grad2 = grad[..., None] if y.ndim == 1 else grad
            grad2 = grad2[..., None, :] if x.ndim == 1 else grad2
            grad_x = grad2 @ y2.mT if needs_x else None
            grad_y = x2.mT @ grad2 if needs_y else None
            if grad_x is not None and x.ndim == 1:
                grad_x = grad_x.reshape(grad_x.shape[:-2] + x.shape)
            if grad_y is not None and y.ndim == 1:
                grad_y = grad_y.reshape(grad_y.shape[:-2] + y.shape)
            return grad_x, grad_y
        return (grad @ y.mT if needs_x else None), (x.mT @ grad if needs_y else None)


# ---- reductions ---------------------------------------------------------------------------------------------

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


_REDUCE = _cases(((_normal(3, 4),), {}), ((_normal(3, 4),), {"axis": 0}),
                 ((_normal(2, 3, 4),), {"axis": (0, 2), "keepdims": True}), ((_normal(2, 3, 4),), {"axis": -1}))


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
        return grad.reshape(keep_shape) * mask / mask.sum(axis=ctx.axis, keepdims=True)


# ---- shape ---------------------------------------------------------------------------------------------------

@register("reshape", sample=_cases(((_normal(3, 4),), {"shape": (2, 6)}), ((_normal(2, 3, 4),), {"shape": (-1,)})))
class Reshape(Function):
    """z = x viewed with a new shape;  dz/dx reshapes the gradient back"""
    expects = "a shape with the same number of elements"

    @staticmethod
    def forward(ctx, x, shape):
        ctx.shape = x.shape
        return x.reshape(shape)

    @staticmethod
    def backward(ctx, grad):
        return grad.reshape(ctx.shape)


@register("permute", sample=_cases(((_normal(3, 4),), {"axes": (1, 0)}), ((_normal(2, 3, 4),), {"axes": (2, 0, 1)})))
class Permute(Function):
    """z = x with its axes reordered;  dz/dx applies the inverse permutation to the gradient"""
    expects = "a permutation of the input's axes"

    @staticmethod
    def forward(ctx, x, axes):
        ctx.axes = axes
        return x.transpose(axes)

    @staticmethod
    def backward(ctx, grad):
        return grad.transpose(np.argsort(ctx.axes))


@register("getitem", sample=_cases(((_normal(4, 5),), {"index": 1}), ((_normal(4, 5),), {"index": (slice(1, 3), -1)}),
                                  ((_normal(4, 5),), {"index": np.array([0, 2, 2, 3])}),
                                  ((_normal(4, 5),), {"index": (np.array([0, 1, 1]), np.array([4, 2, 2]))})))
class GetItem(Function):
    """z = x[index] (ints, slices, integer arrays);  dz/dx scatters the gradient back, repeats summed"""
    expects = "an index valid for the input's shape"

    @staticmethod
    def forward(ctx, x, index):
        ctx.index = index
        return np.asarray(x[index])

    @staticmethod
    def backward(ctx, grad):
        return IndexedGrad(ctx.index, grad)


@register("concatenate", sample=_cases(((_normal(2, 3), _normal(4, 3)), {"axis": 0}),
                                      ((_normal(2, 3), _normal(2, 1), _normal(2, 2)), {"axis": 1})))
class Concatenate(Function):
    """z = [x1, x2, ...] joined along `axis`;  each input gets its slice of the gradient"""
    expects = "equal shapes except along the joining axis"

    @staticmethod
    def forward(ctx, *arrays, axis=0):
        ctx.axis = axis
        ctx.bounds = np.cumsum([array.shape[axis] for array in arrays])[:-1]
        return np.concatenate(arrays, axis=axis)

    @staticmethod
    def backward(ctx, grad):
        return tuple(np.split(grad, ctx.bounds, axis=ctx.axis))


@register("stack", sample=_cases(((_normal(2, 3), _normal(2, 3)), {"axis": 0}),
                                ((_normal(2, 3), _normal(2, 3), _normal(2, 3)), {"axis": -1})))
class Stack(Function):
    """z = [x1, x2, ...] stacked along a new `axis`;  each input gets its slice of the gradient"""
    expects = "inputs of equal shape"

    @staticmethod
    def forward(ctx, *arrays, axis=0):
        out = np.stack(arrays, axis=axis)
        ctx.axis = axis if axis >= 0 else axis + out.ndim
        return out

    @staticmethod
    def backward(ctx, grad):
        return tuple(np.moveaxis(grad, ctx.axis, 0))


@register("where", sample=lambda rng: [((rng.standard_normal((3, 4)), rng.standard_normal((3, 4))),
                                        {"condition": rng.standard_normal((3, 4)) > 0}),
                                       ((rng.standard_normal((3, 4)), rng.standard_normal((4,))),
                                        {"condition": rng.standard_normal((3, 1)) > 0})])
class Where(Function):
    """z = x where condition else y (a constant boolean mask);  dz/dx = condition,  dz/dy = not condition"""
    expects = "a condition and inputs whose shapes broadcast together"

    @staticmethod
    def forward(ctx, x, y, condition):
        ctx.condition = condition
        return np.where(condition, x, y)

    @staticmethod
    def backward(ctx, grad):
        zero = np.zeros((), dtype=grad.dtype)
        return np.where(ctx.condition, grad, zero), np.where(ctx.condition, zero, grad)


# ---- softmax family (stable for logits of any size) ---------------------------------------------------------

_SOFTMAX = _cases(((_normal(3, 5),), {"axis": -1}), ((_normal(2, 3, 4),), {"axis": 1}))


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
