"""Matrix multiplication (batched, with numpy's vector rules)."""

from __future__ import annotations

import numpy as np

from ..errors import OpError
from ..function import Function, register
from ..gradients import ProductGrad
from ..namespace import matmul
from .samples import cases, normal
from .tangents import total


@register("matmul", sample=cases(((normal(3, 4), normal(4, 2)), {}), ((normal(2, 3, 4), normal(4, 5)), {}),
                                ((normal(2, 3, 4), normal(2, 4, 2)), {}), ((normal(4,), normal(4, 3)), {}),
                                ((normal(3, 4), normal(4,)), {}), ((normal(4,), normal(4,)), {})))
class MatMul(Function):
    """Z = X @ Y (batched, numpy rules);  dL/dX = G @ Y^T,  dL/dY = X^T @ G"""
    expects = "inner dimensions to agree, (..., n, k) @ (..., k, m), with batch dimensions that broadcast"
    broadcasts = True
    saves = (0, 1)

    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return matmul(x, y)

    @staticmethod
    def backward(ctx, grad):
        x, y = ctx.saved_tensors
        needs_x, needs_y = ctx.needs_input_grad
        product = ctx.xp.matmul
        if x.ndim == 1 or y.ndim == 1:
            # vectors act as a row (on the left) or a column (on the right); restore the dropped axis
            x2 = x.reshape(1, -1) if x.ndim == 1 else x
            y2 = y.reshape(-1, 1) if y.ndim == 1 else y
            grad2 = grad.reshape(grad.shape + (1,)) if y.ndim == 1 else grad
            grad2 = grad2.reshape(grad2.shape[:-1] + (1,) + grad2.shape[-1:]) if x.ndim == 1 else grad2
            grad_x = product(grad2, y2.mT) if needs_x else None
            grad_y = product(x2.mT, grad2) if needs_y else None
            if grad_x is not None and x.ndim == 1:
                grad_x = grad_x.reshape(grad_x.shape[:-2] + x.shape)
            if grad_y is not None and y.ndim == 1:
                grad_y = grad_y.reshape(grad_y.shape[:-2] + y.shape)
            return grad_x, grad_y
        return (product(grad, y.mT) if needs_x else None), (product(x.mT, grad) if needs_y else None)

    @staticmethod
    def jvp(ctx, x_tangent, y_tangent):
        # a vector x is a row of the product, a vector y its column: give their tangents that axis back
        x, y = ctx.saved_tensors
        from_x = from_y = None
        if x_tangent is not None:
            from_x = x_tangent @ y if x.ndim > 1 or y.ndim == 1 else (x_tangent[..., None, :] @ y)[..., 0, :]
        if y_tangent is not None:
            from_y = x @ y_tangent if y.ndim > 1 else (x @ y_tangent[..., None])[..., 0]
        return total(from_x, from_y)


def transposed_product_pays(x: np.ndarray, w: np.ndarray) -> bool:
    """Whether float32 x @ w, for x (n, k) with few rows and w a transposed weight (W^T, column-major), is faster
    computed as (W x^T)^T: OpenBLAS's sgemm runs a recurrent step's h W_hh^T up to 2.7x slower as written.
    Where it pays was measured with `benchmarks/gemm_layout.py` (see benchmarks/README.md); float64 never."""
    rows, depth = x.shape
    columns = w.shape[1]
    if rows <= 32:
        pays = rows > 1 and columns >= 128 and rows * columns >= 2048
    else:
        pays = rows <= 64 and depth >= 128 and columns >= 128
    return pays and x.dtype == np.float32 and w.dtype == np.float32 and w.flags.f_contiguous


@register("addmm", sample=cases(((normal(3, 2), normal(3, 4), normal(4, 2)), {}),
                               ((normal(2,), normal(4,), normal(4, 2)), {}),
                               ((normal(5,), normal(2, 3, 4), normal(4, 5)), {})))
class AddMM(Function):
    """Z = C + X @ W for a matrix W, in one step as BLAS's GEMM computes it (a recurrent step's h W_hh^T + x_t
    W_ih^T + b, a Linear layer);  dL/dC = G,  dL/dX = G @ W^T,  dL/dW = sum over leading axes of X^T G"""
    expects = "x of shape (..., k), a matrix w of shape (k, m), and c that broadcasts to (..., m)"
    broadcasts = True
    saves = (1, 2)

    @staticmethod
    def forward(ctx, c, x, w):
        rank = x.ndim
        if w.ndim != 2 or rank == 0:
            raise OpError(f"op 'addmm': expected x (..., k) and a matrix w (k, m), got shapes {x.shape} and "
                          f"{w.shape}")
        ctx.save_for_backward(x, w)
        if rank == 2 and x.shape[0] > 1 and transposed_product_pays(x, w):  # (one row: a matrix-vector product)
            product = np.dot(w.T, x.T).T  # column-major: adding c writes it row-major again
            return np.add(product, c, out=np.empty(product.shape, product.dtype))
        out = np.dot(x, w) if rank <= 2 else x @ w  # (np.dot: straight to BLAS, see namespace.matmul)
        out += c  # the product is ours: add the (broadcast) c in place
        return out

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved_tensors
        _, needs_x, needs_w = ctx.needs_input_grad
        rows, grad_rows = (x, grad) if x.ndim == 2 else (x.reshape(-1, w.shape[0]), grad.reshape(-1, w.shape[1]))
        grad_x = ctx.xp.matmul_matrix(grad_rows, w.T) if needs_x else None
        if needs_x and x.ndim != 2:
            grad_x = grad_x.reshape(x.shape)  # leading axes (or a vector) went in as rows of one matrix
        return grad, grad_x, ProductGrad(rows, grad_rows) if needs_w else None

    @staticmethod
    def jvp(ctx, c_tangent, x_tangent, w_tangent):
        x, w = ctx.saved_tensors
        return total(c_tangent, None if x_tangent is None else x_tangent @ w,
                     None if w_tangent is None else x @ w_tangent)
