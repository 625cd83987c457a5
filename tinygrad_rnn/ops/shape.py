"""Shape ops: views, indexing and joining; gradients are put back where the values came from."""

from __future__ import annotations

import numpy as np

from ..function import Function, register
from ..gradients import IndexedGrad
from .samples import cases, normal
from .tangents import along


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

    @staticmethod
    def jvp(ctx, tangent):
        return tangent.reshape(tangent.shape[:1] + ctx.grad_shape)


@register("expand", sample=cases(((normal(3, 1),), {"shape": (3, 4)}), ((normal(4,),), {"shape": (2, 3, 4)}),
                                ((normal(1, 3, 1),), {"shape": (2, 3, 5)})))
class Expand(Function):
    """z = x broadcast to `shape` (size-1 axes stretched, new axes in front), a read-only view as numpy's
    broadcast_to;  dz/dx sums the gradient over the stretched axes (the engine's unbroadcast does it)"""
    expects = "a shape the input broadcasts to (numpy rules)"
    broadcasts = True

    @staticmethod
    def forward(ctx, x, shape):
        return np.broadcast_to(x, shape)

    @staticmethod
    def backward(ctx, grad):
        return grad

    @staticmethod
    def jvp(ctx, tangent):
        return np.broadcast_to(tangent, tangent.shape[:1] + ctx.grad_shape)


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
        return ctx.xp.permute_dims(grad, np.argsort(ctx.axes))

    @staticmethod
    def jvp(ctx, tangent):
        ndim = len(ctx.axes)
        return tangent.transpose((0,) + tuple(axis % ndim + 1 for axis in ctx.axes))


@register("getitem", sample=cases(((normal(4, 5),), {"index": 1}), ((normal(4, 5),), {"index": (slice(1, 3), -1)}),
                                 ((normal(4, 5),), {"index": np.array([0, 2, 2, 3])}),
                                 ((normal(4, 5),), {"index": (np.array([0, 1, 1]), np.array([4, 2, 2]))})))
class GetItem(Function):
    """z = x[index] (ints, slices, integer arrays);  dz/dx scatters the gradient back, repeats summed"""
    expects = "an index valid for the input's shape"
    saves = (None,)

    @staticmethod
    def forward(ctx, x, index):
        ctx.save_for_backward(index)  # an index array is freed with the graph, like a saved array
        return np.asarray(x[index])

    @staticmethod
    def backward(ctx, grad):
        return IndexedGrad(ctx.saved_tensors[0], grad)

    @staticmethod
    def jvp(ctx, tangent):
        index = ctx.saved_tensors[0]
        picked = tangent[along(index)]
        if picked.shape[1:] != ctx.grad_shape:  # advanced indices apart put their axes first: one direction at a time
            picked = np.stack([np.asarray(direction[index]) for direction in tangent])
        return picked


@register("scatter", sample=cases(((normal(5), normal(2)), {"indices": (1, (slice(1, 3), -1)), "shape": (4, 5)}),
                                 ((normal(4, 5),), {"indices": (np.array([0, 2, 2, 3]),), "shape": (4, 5)}),
                                 ((normal(3), normal(2, 5)), {"indices": ((np.array([0, 1, 1]), np.array([4, 2, 2])),
                                                                         slice(0, 2)), "shape": (4, 5)})))
class Scatter(Function):
    """z = zeros(shape), then z[indices[k]] += values[k] for each k (repeats summed): getitem's gradient as an op,
    which a backward recorded for create_graph uses;  dz/dvalues[k] = the gradient at indices[k] (a getitem)"""
    expects = "values shaped as x[index] is for an x of `shape`, one index per value"

    @staticmethod
    def forward(ctx, *values, indices, shape):
        if len(values) != len(indices):
            raise ValueError(f"{len(values)} value(s) for {len(indices)} indices")
        ctx.indices = indices
        out = np.zeros(shape, dtype=np.result_type(*values))
        for index, value in zip(indices, values):
            IndexedGrad(index, value).scatter_into(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        return tuple(grad[index] for index in ctx.indices)

    @staticmethod
    def jvp(ctx, *tangents):
        out = None
        for index, tangent in zip(ctx.indices, tangents):
            if tangent is None:
                continue
            if out is None:
                out = np.zeros(tangent.shape[:1] + ctx.grad_shape, dtype=tangent.dtype)
            for direction, values in zip(out, tangent):
                IndexedGrad(index, values).scatter_into(direction)
        return out


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
        return tuple(ctx.xp.split(grad, ctx.bounds, axis=ctx.axis))

    @staticmethod
    def jvp(ctx, *tangents):
        shape = ctx.grad_shape
        axis = ctx.axis % len(shape)
        sizes = np.diff([0, *ctx.bounds, shape[axis]])
        first = next(tangent for tangent in tangents if tangent is not None)
        parts = [np.zeros(first.shape[:1] + shape[:axis] + (size,) + shape[axis + 1:], first.dtype)
                 if tangent is None else tangent for tangent, size in zip(tangents, sizes)]
        return np.concatenate(parts, axis=axis + 1)


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
        return tuple(grad if ctx.axis == 0 else ctx.xp.moveaxis(grad, ctx.axis, 0))

    @staticmethod
    def jvp(ctx, *tangents):
        part = ctx.grad_shape[:ctx.axis] + ctx.grad_shape[ctx.axis + 1:]
        first = next(tangent for tangent in tangents if tangent is not None)
        return np.stack([np.zeros(first.shape[:1] + part, first.dtype) if tangent is None else tangent
                         for tangent in tangents], axis=ctx.axis + 1)
