"""Parameter initialisation, in place and without recording a graph (PyTorch's `nn.init` names)."""

from __future__ import annotations

import math

import numpy as np

from ..tensor import Tensor
from ..versions import mark_modified
from .random import default_generator


def _fill(tensor: Tensor, values: np.ndarray) -> Tensor:
    """Write `values` into the tensor's own array (cast to its dtype)."""
    tensor.data[...] = values
    mark_modified(tensor)
    return tensor


def _rng(generator: np.random.Generator | None) -> np.random.Generator:
    return default_generator() if generator is None else generator


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0,
             generator: np.random.Generator | None = None) -> Tensor:
    """Fill with samples from U(a, b)."""
    return _fill(tensor, _rng(generator).uniform(a, b, tensor.shape))


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0,
            generator: np.random.Generator | None = None) -> Tensor:
    """Fill with samples from N(mean, std^2)."""
    return _fill(tensor, _rng(generator).normal(mean, std, tensor.shape))


def constant_(tensor: Tensor, value: float) -> Tensor:
    """Fill with `value`."""
    return _fill(tensor, np.asarray(value))


def zeros_(tensor: Tensor) -> Tensor:
    """Fill with 0."""
    return constant_(tensor, 0.0)


def ones_(tensor: Tensor) -> Tensor:
    """Fill with 1."""
    return constant_(tensor, 1.0)


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator: np.random.Generator | None = None) -> Tensor:
    """Fill a (fan_out, fan_in) matrix from U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out))."""
    if tensor.ndim < 2:
        raise ValueError(f"xavier_uniform_: expected a tensor with at least 2 dimensions, got shape {tensor.shape}")
    receptive = math.prod(tensor.shape[2:])
    fan_in, fan_out = tensor.shape[1] * receptive, tensor.shape[0] * receptive
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound, generator)


def orthogonal_(tensor: Tensor, gain: float = 1.0, generator: np.random.Generator | None = None) -> Tensor:
    """Fill a (rows, cols) matrix with a (semi-)orthogonal one, Q of the QR of a Gaussian matrix, times gain.

    Orthogonal recurrent weights keep |W h| = |h|, a common start against vanishing or exploding gradients.
    """
    if tensor.ndim < 2:
        raise ValueError(f"orthogonal_: expected a tensor with at least 2 dimensions, got shape {tensor.shape}")
    rows, cols = tensor.shape[0], tensor.numel() // tensor.shape[0]
    flat = _rng(generator).standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(flat)
    q *= np.sign(np.diag(r))  # makes the distribution uniform over orthogonal matrices
    if rows < cols:
        q = q.T
    return _fill(tensor, gain * q.reshape(tensor.shape))
