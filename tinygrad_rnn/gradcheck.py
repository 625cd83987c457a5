"""gradcheck: compare the graph's gradients with central finite differences, in float64; gradgradcheck: the same
for the recorded backward (create_graph), whose derivatives are the second derivatives."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .factories import cat
from .higher_order import grad
from .mode import enable_grad, is_grad_enabled, no_grad
from .tensor import Tensor


class GradcheckError(AssertionError):
    """Analytic and numerical gradients disagree; the message names the input, the element and both values."""


def gradcheck(fn: Callable[..., Tensor], inputs: Sequence[Any], eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3, seed: int = 0) -> bool:
    """Check d(sum(fn(*inputs) * R))/d input for a fixed random R against central differences.

    Floating inputs are copied to float64 tensors that require grad; other inputs are passed unchanged.
    A random projection R (not a bare sum) makes a backward that ignores its incoming gradient fail.
    Returns True, or raises GradcheckError at the worst element.
    """
    return _compare(fn, inputs, eps, atol, rtol, seed, "gradcheck", lambda position: f"input {position}")


def _compare(fn: Callable[..., Tensor], inputs: Sequence[Any], eps: float, atol: float, rtol: float, seed: int,
             who: str, describe: Callable[[int], str]) -> bool:
    """gradcheck's work; an error names the check (`who`) and the input (`describe(position)`)."""
    # C-contiguous copies of the same shape (0-d too), so that perturbing a flat view of a leaf perturbs the leaf
    leaves = [Tensor(np.array(x.data if isinstance(x, Tensor) else x, dtype=np.float64, order="C"),
                     requires_grad=True) if _is_float(x) else x for x in inputs]
    with enable_grad():
        output = fn(*leaves)
        if not isinstance(output, Tensor):
            raise TypeError(f"gradcheck: fn must return a Tensor, got {type(output).__name__}")
        projection = np.random.default_rng(seed).standard_normal(output.shape)
        (output * Tensor(projection, dtype=np.float64)).sum().backward()

    def objective() -> float:
        with no_grad():
            return float(np.sum(fn(*leaves).data * projection))

    for position, leaf in enumerate(leaves):
        if not isinstance(leaf, Tensor) or not leaf.requires_grad:
            continue
        analytic = np.zeros_like(leaf.data) if leaf.grad is None else leaf.grad
        numeric = np.zeros_like(leaf.data)
        flat = leaf.data.reshape(-1)  # a view: writing it perturbs the leaf in place
        for i in range(flat.size):
            original = flat[i]
            flat[i] = original + eps
            plus = objective()
            flat[i] = original - eps
            minus = objective()
            flat[i] = original
            numeric.reshape(-1)[i] = (plus - minus) / (2 * eps)
        error = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
        if error.size and error.max() > 0:
            worst = np.unravel_index(int(np.argmax(error)), error.shape)
            raise GradcheckError(f"{who}: {describe(position)} (shape {leaf.shape}) element "
                                 f"{tuple(map(int, worst))}: analytic {analytic[worst]:.8g} vs numerical "
                                 f"{numeric[worst]:.8g} (atol={atol}, rtol={rtol})")
    return True


def gradgradcheck(fn: Callable[..., Tensor], inputs: Sequence[Any], eps: float = 1e-6, atol: float = 1e-5,
                  rtol: float = 1e-3, seed: int = 0) -> bool:
    """gradcheck of the backward itself, as PyTorch's gradgradcheck: the map (inputs, u) -> u^T d fn/d inputs,
    recorded with create_graph=True, is differentiated by the graph and compared with central differences of
    first-order backwards. u is a fixed random cotangent of fn's output shape, an input of the map too.

    Floating inputs become float64 leaves; other inputs are passed unchanged. Returns True or raises
    GradcheckError at the worst element.
    """
    leaves = [np.array(x.data if isinstance(x, Tensor) else x, dtype=np.float64) if _is_float(x) else x
              for x in inputs]
    with no_grad():
        output_shape = fn(*[Tensor(x) if isinstance(x, np.ndarray) else x for x in leaves]).shape
    cotangent = np.random.default_rng(seed + 1).standard_normal(output_shape)

    def vector_jacobian_product(*arguments: Any) -> Tensor:
        """u^T d fn/d x for every floating x, flattened and joined; recorded when grad recording is on (the
        analytic pass), a plain first-order backward when gradcheck's differences call it under no_grad."""
        *xs, grad_output = arguments
        wanted = [x for x in xs if isinstance(x, Tensor) and x.requires_grad]
        record = is_grad_enabled()
        with enable_grad():
            grads = grad(fn(*xs), wanted, grad_outputs=grad_output, create_graph=record, allow_unused=True)
        return cat([(Tensor(np.zeros(x.shape)) if g is None else g).reshape(-1) for x, g in zip(wanted, grads)])

    def describe(position: int) -> str:
        return "the cotangent u" if position == len(leaves) else f"input {position}"

    return _compare(vector_jacobian_product, [*leaves, cotangent], eps, atol, rtol, seed, "gradgradcheck", describe)


def _is_float(x: Any) -> bool:
    if isinstance(x, Tensor):
        return x.dtype.kind == "f"
    return isinstance(x, (float, np.floating)) or (isinstance(x, np.ndarray) and x.dtype.kind == "f")
