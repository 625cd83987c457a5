"""Stateless layers and losses composed from registry ops (PyTorch's `nn.functional` names and semantics)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..factories import addmm, where
from ..tensor import Tensor
from .random import default_generator

REDUCTIONS = ("mean", "sum", "none")


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = x W^T + b.  input: (..., in_features), weight: (out_features, in_features), bias: (out_features,)"""
    if input.ndim < 1 or input.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: expected input of shape (..., {weight.shape[1]}) for a weight of shape "
                         f"{weight.shape}, got input of shape {input.shape}")
    if input.dtype != weight.dtype:
        raise TypeError(f"linear: input has dtype {input.dtype} but the weight is {weight.dtype}; convert the "
                        "input or the module (.double(), .float()), as the recurrent layers require")
    return input @ weight.T if bias is None else addmm(bias, input, weight.T)


def relu(input: Tensor) -> Tensor:
    """max(x, 0), elementwise."""
    return input.relu()


def tanh(input: Tensor) -> Tensor:
    """tanh x, elementwise."""
    return input.tanh()


def sigmoid(input: Tensor) -> Tensor:
    """1 / (1 + e^-x), elementwise."""
    return input.sigmoid()


def softmax(input: Tensor, dim: int) -> Tensor:
    """e^x / sum(e^x) along `dim` (which must be given: PyTorch's implicit choice is deprecated)."""
    return input.softmax(dim=_given_dim("softmax", dim))


def log_softmax(input: Tensor, dim: int) -> Tensor:
    """x - log(sum(e^x)) along `dim`, stable for any size of logits (`dim` must be given, as for softmax)."""
    return input.log_softmax(dim=_given_dim("log_softmax", dim))


def _given_dim(function: str, dim: Any) -> int:
    """`dim`, refusing None: PyTorch would guess one (deprecated), and a guess that differs would be silent."""
    if dim is None:
        raise TypeError(f"{function}: give dim, the axis to normalise along (e.g. dim=-1)")
    return dim


def dropout(input: Tensor, p: float = 0.5, training: bool = True,
            generator: np.random.Generator | None = None) -> Tensor:
    """Zero each element with probability p and scale the rest by 1/(1-p) (identity when not training)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: probability p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * 0.0
    rng = default_generator() if generator is None else generator
    mask = (rng.random(input.shape) >= p).astype(input.dtype) / input.dtype.type(1.0 - p)
    return input * input._from_op(mask)


def embedding(indices: Any, weight: Tensor, padding_idx: int | None = None) -> Tensor:
    """Rows of `weight` picked by integer `indices`: (*) -> (*, embedding_dim); padding rows give zeros."""
    index = np.asarray(indices.data if isinstance(indices, Tensor) else indices)
    count = weight.shape[0]
    if index.dtype.kind not in "iu":
        raise TypeError(f"embedding: expected integer indices, got dtype {index.dtype}")
    if index.size and (index.min() < 0 or index.max() >= count):  # as PyTorch: no negative aliases
        raise IndexError(f"embedding: indices must be in [0, {count}) for {count} embeddings, "
                         f"got values from {index.min()} to {index.max()}")
    rows = weight[index]
    if padding_idx is None:
        return rows
    keep = (index != padding_idx % count)[..., None]
    return where(keep, rows, 0.0)


def _reduce(losses: Tensor, reduction: str, function: str) -> Tensor:
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    if reduction == "none":
        return losses
    raise ValueError(f"{function}: reduction must be one of {REDUCTIONS}, got {reduction!r}")


def mse_loss(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Mean (or sum) of (input - target)^2; input and target have the same shape."""
    target_shape = np.shape(target.data if isinstance(target, Tensor) else target)
    if tuple(target_shape) != input.shape:
        raise ValueError(f"mse_loss: input and target must have the same shape, got input {input.shape} "
                         f"and target {tuple(target_shape)}")
    difference = input - target
    return _reduce(difference * difference, reduction, "mse_loss")


def nll_loss(log_probs: Tensor, target: Any, ignore_index: int = -100, reduction: str = "mean") -> Tensor:
    """-log_probs[n, target[n]] averaged over the targets that are not `ignore_index`.

    log_probs: (N, C) or (C,) or (N, C, d1, ...); target: integers of shape (N,) or () or (N, d1, ...).
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"nll_loss: reduction must be one of {REDUCTIONS}, got {reduction!r}")
    targets = np.asarray(target.data if isinstance(target, Tensor) else target)
    if targets.dtype.kind not in "iu":
        raise TypeError(f"nll_loss: expected integer class targets, got dtype {targets.dtype}")
    class_axis = 0 if log_probs.ndim == 1 else 1
    expected = log_probs.shape[:class_axis] + log_probs.shape[class_axis + 1:]
    if log_probs.ndim == 0 or targets.shape != expected:
        raise ValueError(f"nll_loss: input of shape {log_probs.shape} (classes on axis {class_axis}) needs "
                         f"targets of shape {expected}, got {targets.shape}")
    classes = log_probs.shape[class_axis]
    keep = targets != ignore_index
    valid = targets[keep]
    if valid.size and (valid.min() < 0 or valid.max() >= classes):
        raise IndexError(f"nll_loss: targets must be in [0, {classes}) or equal ignore_index={ignore_index}, "
                         f"got values from {valid.min()} to {valid.max()}")
    if log_probs.ndim > 2:
        axes = (0,) + tuple(range(2, log_probs.ndim)) + (1,)
        log_probs = log_probs.permute(axes)  # classes last: (N, d1, ..., C)
    rows = np.indices(targets.shape, sparse=True)
    picked = -log_probs[tuple(rows) + (np.where(keep, targets, 0),)]
    if not keep.all():
        picked = where(keep, picked, 0.0)
    if reduction == "none":
        return picked
    total = picked.sum()
    if reduction == "sum":
        return total
    return total * (1.0 / keep.sum()) if keep.any() else total * np.nan


def cross_entropy(logits: Tensor, target: Any, ignore_index: int = -100, reduction: str = "mean") -> Tensor:
    """nll_loss(log_softmax(logits over the class axis)); stable for logits of any size.

    logits: (N, C) or (C,) or (N, C, d1, ...); target: integers of shape (N,) or () or (N, d1, ...).
    """
    class_axis = 0 if logits.ndim == 1 else 1
    return nll_loss(logits.log_softmax(axis=class_axis), target, ignore_index=ignore_index, reduction=reduction)
