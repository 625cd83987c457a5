"""Shape ops: views, indexing and joining; gradients are put back where the values came from."""

from __future__ import annotations

import numpy as np

from ..function import Function, register
from ..gradients import IndexedGrad
from .samples import cases, normal


@register("reshape", sample=cases(((normal(3, 4),), {"shape": (2, 6)}), ((normal(2, 3, 4),), {"shape": (-1,)})))
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


@register("expand", sample=cases(((normal(3, 1),), {"shape": (3, 4)}), ((normal(4,),), {"shape": (2, 3, 4)}),
                                ((normal(1, 3, 1),), {"shape": (2, 3, 5)})))
class Expand(Function):
    """z = x broadcast to `shape` (size-1 axes stretched, new axes in front), a read-only view as numpy's
    broadcast_to;  dz/dx sums the gradient over the stretched axes (the engine's unbroadcast does it)"""
    expects = "a shape the input broadcasts to (numpy rules)"

    @staticmethod
    def forward(ctx, x, shape):
        return np.broadcast_to(x, shape)

    @staticmethod
    def backward(ctx, grad):
        return grad


@register("permute", sample=cases(((normal(3, 4),), {"axes": (1, 0)}), ((normal(2, 3, 4),), {"axes": (2, 0, 1)})))
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


@register("getitem", sample=cases(((normal(4, 5),), {"index": 1}), ((normal(4, 5),), {"index": (slice(1, 3), -1)}),
                                 ((normal(4, 5),), {"index": np.array([0, 2, 2, 3])}),
                                 ((normal(4, 5),), {"index": (np.array([0, 1, 1]), np.array([4, 2, 2]))})))
class GetItem(Function):
    """z = x[index] (ints, slices, integer arrays);  dz/dx scatters the gradient back, repeats summed"""
    expects = "an index valid for the input's shape"

    @staticmethod
    def forward(ctx, x, index):
        ctx.save_for_backward(index)  # an index array is freed with the graph, like a saved array
        return np.asarray(x[index])

    @staticmethod
    def backward(ctx, grad):
        return IndexedGrad(ctx.saved_tensors[0], grad)


@register("concatenate", sample=cases(((normal(2, 3), normal(4, 3)), {"axis": 0}),
                                     ((normal(2, 3), normal(2, 1), normal(2, 2)), {"axis": 1})))
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


@register("stack", sample=cases(((normal(2, 3), normal(2, 3)), {"axis": 0}),
                               ((normal(2, 3), normal(2, 3), normal(2, 3)), {"axis": -1})))
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
        return tuple(grad if ctx.axis == 0 else np.moveaxis(grad, ctx.axis, 0))
