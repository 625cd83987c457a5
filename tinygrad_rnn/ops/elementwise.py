"""Elementwise ops: binary ones return gradients in the output's shape (the engine undoes broadcasting)."""

from __future__ import annotations

import numpy as np

from ..function import Function, register
from .samples import BINARY, UNARY, cases, normal, positive
from .tangents import scaled, total

BROADCAST = "shapes that broadcast together (numpy rules)"
EXPONENT_LIMITS = {np.dtype(np.float16): 11.0, np.dtype(np.float32): 88.0}
"""t below log(largest float) of each type, so that e^t is finite; float64 (and integers, which become it) take 709."""


# ---- elementwise binary -------------------------------------------------------------------------------------

@register("add", sample=BINARY)
class Add(Function):
    """z = x + y;  dz/dx = 1,  dz/dy = 1"""
    expects = BROADCAST
    broadcasts = True

    @staticmethod
    def forward(ctx, x, y):
        return x + y

    @staticmethod
    def backward(ctx, grad):
        return grad, grad

    @staticmethod
    def jvp(ctx, x_tangent, y_tangent):
        return total(x_tangent, y_tangent)


@register("sub", sample=BINARY)
class Sub(Function):
    """z = x - y;  dz/dx = 1,  dz/dy = -1"""
    expects = BROADCAST
    broadcasts = True

    @staticmethod
    def forward(ctx, x, y):
        return x - y

    @staticmethod
    def backward(ctx, grad):
        return grad, (-grad if ctx.needs_input_grad[1] else None)

    @staticmethod
    def jvp(ctx, x_tangent, y_tangent):
        return total(x_tangent, scaled(y_tangent, -1))


@register("mul", sample=BINARY)
class Mul(Function):
    """z = x * y;  dz/dx = y,  dz/dy = x"""
    expects = BROADCAST
    broadcasts = True
    saves = (0, 1)

    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return x * y

    @staticmethod
    def backward(ctx, grad):
        x, y = ctx.saved_tensors
        needs_x, needs_y = ctx.needs_input_grad
        return (grad * y if needs_x else None), (grad * x if needs_y else None)

    @staticmethod
    def jvp(ctx, x_tangent, y_tangent):
        x, y = ctx.saved_tensors
        return total(scaled(x_tangent, y), scaled(y_tangent, x))


@register("div", sample=cases(((normal(3, 4), positive(3, 4)), {}), ((normal(2, 3), positive(3)), {})))
class Div(Function):
    """z = x / y;  dz/dx = 1/y,  dz/dy = -x/y^2 = -z/y"""
    expects = BROADCAST
    broadcasts = True
    saves = (1, "output")

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

    @staticmethod
    def jvp(ctx, x_tangent, y_tangent):
        y, out = ctx.saved_tensors
        return total(x_tangent, scaled(y_tangent, -out)) / y


@register("lerp", sample=cases(((normal(3, 4), normal(3, 4), normal(3, 4)), {}),
                              ((normal(2, 3, 4), normal(4), normal(3, 1)), {})))
class Lerp(Function):
    """z = start + weight (end - start), PyTorch's lerp (a GRU's h' = n + z (h - n) in one op, saving nothing
    new);  dz/dstart = 1 - weight,  dz/dend = weight,  dz/dweight = end - start"""
    expects = BROADCAST
    broadcasts = True
    saves = (0, 1, 2)

    @staticmethod
    def forward(ctx, start, end, weight):
        ctx.save_for_backward(start, end, weight)
        return start + weight * (end - start)

    @staticmethod
    def backward(ctx, grad):
        start, end, weight = ctx.saved_tensors
        needs_start, needs_end, needs_weight = ctx.needs_input_grad
        grad_end = grad * weight if needs_start or needs_end else None
        grad_start = grad - grad_end if needs_start else None
        return grad_start, grad_end, (grad * (end - start) if needs_weight else None)

    @staticmethod
    def jvp(ctx, start_tangent, end_tangent, weight_tangent):
        start, end, weight = ctx.saved_tensors
        return total(scaled(start_tangent, 1 - weight), scaled(end_tangent, weight),
                     scaled(weight_tangent, end - start))


# ---- elementwise unary --------------------------------------------------------------------------------------

@register("neg", sample=UNARY)
class Neg(Function):
    """z = -x;  dz/dx = -1"""

    @staticmethod
    def forward(ctx, x):
        return -x

    @staticmethod
    def backward(ctx, grad):
        return -grad

    @staticmethod
    def jvp(ctx, tangent):
        return -tangent


def _away_from_zero(rng):
    """Samples for |x|: normal values pushed at least 0.1 from its kink at 0, where finite differences fail."""
    values = rng.standard_normal((3, 4))
    return [((values + np.copysign(0.1, values),), {})]


@register("abs", sample=_away_from_zero)
class Abs(Function):
    """z = |x|;  dz/dx = sign(x) (0 at x = 0, as PyTorch)"""
    saves = (0,)

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.abs(x)

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.xp.sign(ctx.saved_tensors[0])

    @staticmethod
    def jvp(ctx, tangent):
        return tangent * np.sign(ctx.saved_tensors[0])


@register("pow", sample=cases(((positive(3, 4),), {"exponent": 2.5}), ((normal(3, 4),), {"exponent": 3}),
                             ((normal(3, 4),), {"exponent": 2}), ((positive(2, 2),), {"exponent": -1.0})))
class Pow(Function):
    """z = x ** c for a constant c;  dz/dx = c * x ** (c - 1)"""
    saves = (0,)

    @staticmethod
    def forward(ctx, x, exponent):
        ctx.save_for_backward(x)
        ctx.exponent = exponent
        return x ** exponent

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        exponent = ctx.exponent
        if exponent == 0:
            return ctx.xp.zeros_like(grad)  # x ** 0 is constant; c * x ** (c - 1) would be 0 * inf at x = 0
        slope = x if exponent == 2 else x ** (exponent - 1)  # (x ** 1 would run numpy's slow general power)
        return grad * exponent * slope

    @staticmethod
    def jvp(ctx, tangent):
        (x,) = ctx.saved_tensors
        exponent = ctx.exponent
        if exponent == 0:
            return np.zeros_like(tangent)
        return tangent * (exponent * (x if exponent == 2 else x ** (exponent - 1)))


@register("exp", sample=UNARY)
class Exp(Function):
    """z = e^x;  dz/dx = z"""
    saves = ("output",)

    @staticmethod
    def forward(ctx, x):
        out = np.exp(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.saved_tensors[0]

    @staticmethod
    def jvp(ctx, tangent):
        return tangent * ctx.saved_tensors[0]


@register("log", sample=cases(((positive(3, 4),), {})))
class Log(Function):
    """z = ln x;  dz/dx = 1/x"""
    saves = (0,)

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.log(x)

    @staticmethod
    def backward(ctx, grad):
        return grad / ctx.saved_tensors[0]

    @staticmethod
    def jvp(ctx, tangent):
        return tangent / ctx.saved_tensors[0]


@register("tanh", sample=UNARY)
class Tanh(Function):
    """z = tanh x;  dz/dx = 1 - z^2"""
    saves = ("output",)

    @staticmethod
    def forward(ctx, x):
        out = np.tanh(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        out = ctx.saved_tensors[0]
        local = 1 - out * out
        local *= grad  # local is ours: multiply in place (a float, or a node of a recorded backward, rebinds)
        return local

    @staticmethod
    def jvp(ctx, tangent):
        out = ctx.saved_tensors[0]
        return tangent * (1 - out * out)


@register("sigmoid", sample=UNARY)
class Sigmoid(Function):
    """z = 1 / (1 + e^-x), x clipped below so that e^-x stays finite (what it cuts is subnormal);  dz/dx = z (1 - z)

    Not (1 + tanh(x/2)) / 2: that rounds the tail to 0 (below x = -17 in float32), and numpy's tanh costs about
    twice its exp."""
    saves = ("output",)

    @staticmethod
    def forward(ctx, x):
        denominator = np.exp(-np.maximum(x, -EXPONENT_LIMITS.get(x.dtype, 709.0)))
        denominator += 1
        out = 1 / denominator
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        out = ctx.saved_tensors[0]
        local = 1 - out
        local *= out
        local *= grad  # local is ours: multiply in place (a float, or a node of a recorded backward, rebinds)
        return local

    @staticmethod
    def jvp(ctx, tangent):
        out = ctx.saved_tensors[0]
        return tangent * (out * (1 - out))


@register("relu", sample=UNARY)
class ReLU(Function):
    """z = max(x, 0);  dz/dx = 1 where x > 0, else 0"""
    saves = (0,)

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.maximum(x, 0)

    @staticmethod
    def backward(ctx, grad):
        xp = ctx.xp  # where selects, so an upstream inf stays out of x <= 0
        return xp.where(xp.greater(ctx.saved_tensors[0], 0), grad, 0)

    @staticmethod
    def jvp(ctx, tangent):
        return np.where(ctx.saved_tensors[0] > 0, tangent, 0)


@register("where", sample=lambda rng: [((rng.standard_normal((3, 4)), rng.standard_normal((3, 4))),
                                       {"condition": rng.standard_normal((3, 4)) > 0}),
                                      ((rng.standard_normal((3, 4)), rng.standard_normal((4,))),
                                       {"condition": rng.standard_normal((3, 1)) > 0})])
class Where(Function):
    """z = x where condition else y (a constant boolean mask);  dz/dx = condition,  dz/dy = not condition"""
    expects = "a condition and inputs whose shapes broadcast together"
    broadcasts = True
    saves = (None,)

    @staticmethod
    def forward(ctx, x, y, condition):
        ctx.save_for_backward(condition)  # an array: freed with the graph
        return np.where(condition, x, y)

    @staticmethod
    def backward(ctx, grad):
        (condition,) = ctx.saved_tensors
        where = ctx.xp.where
        needs_x, needs_y = ctx.needs_input_grad
        return (where(condition, grad, 0) if needs_x else None), (where(condition, 0, grad) if needs_y else None)

    @staticmethod
    def jvp(ctx, x_tangent, y_tangent):
        (condition,) = ctx.saved_tensors
        return np.where(condition, 0 if x_tangent is None else x_tangent, 0 if y_tangent is None else y_tangent)
