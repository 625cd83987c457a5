"""gradcheck: compare the graph's gradients with central finite differences, in float64."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .mode import enable_grad, no_grad
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
            raise GradcheckError(f"gradcheck: input {position} (shape {leaf.shape}) element {tuple(map(int, worst))}: "
                                 f"analytic {analytic[worst]:.8g} vs numerical {numeric[worst]:.8g} "
                                 f"(atol={atol}, rtol={rtol})")
    return True


def _is_float(x: Any) -> bool:
    if isinstance(x, Tensor):
        return x.dtype.kind == "f"
    return isinstance(x, (float, np.floating)) or (isinstance(x, np.ndarray) and x.dtype.kind == "f")
