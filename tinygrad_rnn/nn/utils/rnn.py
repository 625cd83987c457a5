"""Variable-length batches as `torch.nn.utils.rnn`: pad sequences of different lengths into one tensor, pack a
padded batch so that a recurrent layer runs each sequence for its own length only, and unpack what it returns.

A PackedSequence holds the batch time-major with the padding left out: step t keeps the batch_sizes[t]
sequences still running at t, longest first, in rows data[offset_t : offset_t + batch_sizes[t]]. For x, y, z of
lengths 2, 3, 1 (longest first: y, x, z, so sorted_indices = [1, 0, 2]):
    data = y0 x0 z0 | y1 x1 | y2        batch_sizes = [3, 2, 1]
Each function is one or two registry ops (cat, getitem with an index array): gradients flow back to every real
step of the padded tensor and never to its padding.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral
from typing import Any, NamedTuple

import numpy as np

from ...factories import cat
from ...ops import GetItem
from ...tensor import Tensor


class _Fields(NamedTuple):
    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Tensor | None
    unsorted_indices: Tensor | None


class PackedSequence(_Fields):
    """A batch of sequences packed time-major without padding (see the module's docstring); made by
    pack_padded_sequence or pack_sequence, read and returned by RNN, LSTM and GRU.

    data: (sum of lengths, *); batch_sizes: (longest length,) int64, how many sequences run at each step;
    sorted_indices: (batch,) the batch positions longest first, unsorted_indices its inverse (None for a batch
    given longest first).
    """

    __slots__ = ()

    def __new__(cls, data: Tensor, batch_sizes: Any, sorted_indices: Any = None,
                unsorted_indices: Any = None) -> PackedSequence:
        if not isinstance(data, Tensor) or data.ndim < 1:
            raise TypeError(f"PackedSequence: expected data to be a Tensor of shape (sum of lengths, *), got "
                            f"{type(data).__name__}{'' if not isinstance(data, Tensor) else f' of shape {data.shape}'}")
        sizes = _integers(batch_sizes, "PackedSequence", "batch_sizes")
        if sizes.size == 0 or sizes.min() < 1 or np.any(np.diff(sizes) > 0):
            raise ValueError(f"PackedSequence: batch_sizes must be positive and non-increasing (the number of "
                             f"sequences still running at each step), got {sizes.tolist()}")
        if sizes.sum() != data.shape[0]:
            raise ValueError(f"PackedSequence: batch_sizes {sizes.tolist()} add up to {sizes.sum()} rows, but data "
                             f"has shape {data.shape}")
        if sorted_indices is None:
            if unsorted_indices is not None:
                raise ValueError("PackedSequence: unsorted_indices given without sorted_indices")
            return super().__new__(cls, data, Tensor(sizes), None, None)
        order = _integers(sorted_indices, "PackedSequence", "sorted_indices")
        if not np.array_equal(np.sort(order), np.arange(sizes[0])):
            raise ValueError(f"PackedSequence: sorted_indices must be a permutation of 0..{sizes[0] - 1} (one "
                             f"per sequence of the batch), got {order.tolist()}")
        inverse = np.argsort(order)
        if unsorted_indices is not None and not np.array_equal(
                _integers(unsorted_indices, "PackedSequence", "unsorted_indices"), inverse):
            raise ValueError("PackedSequence: unsorted_indices must be the inverse permutation of sorted_indices")
        return super().__new__(cls, data, Tensor(sizes), Tensor(order), Tensor(inverse))


def pad_sequence(sequences: Sequence[Tensor] | Tensor, batch_first: bool = False, padding_value: float = 0.0,
                 padding_side: str = "right") -> Tensor:
    """Sequences (L_i, *) as one tensor (T, N, *), T = max L_i (batch_first: (N, T, *)), each filled up with
    `padding_value` after its steps (padding_side='right') or before them ('left')."""
    sequences = _sequences(sequences, "pad_sequence")
    if padding_side not in ("left", "right"):
        raise ValueError(f"pad_sequence: padding_side must be 'left' or 'right', got {padding_side!r}")
    lengths = np.array([sequence.shape[0] for sequence in sequences], dtype=np.int64)
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    shift = lengths.max() - lengths if padding_side == "left" else np.zeros_like(lengths)
    position = np.arange(lengths.max())[:, None] - shift  # (T, N): the step of sequence n shown at t
    real = (position >= 0) & (position < lengths)
    padding_row = int(lengths.sum())
    index = np.where(real, starts + position, padding_row)
    joined = cat([*sequences, _constant_row(sequences[0], padding_value)])
    return GetItem.apply(joined, index=index.T if batch_first else index)


def unpad_sequence(padded_sequences: Tensor, lengths: Any, batch_first: bool = False) -> list[Tensor]:
    """The sequences (L_i, *) of a right-padded batch (T, N, *) (batch_first: (N, T, *)), each a getitem of it."""
    if not isinstance(padded_sequences, Tensor) or padded_sequences.ndim < 2:
        raise TypeError(f"unpad_sequence: expected a padded Tensor of 2 or more dimensions, got "
                        f"{_describe(padded_sequences)}")
    steps, batch = padded_sequences.shape[:2][::-1] if batch_first else padded_sequences.shape[:2]
    counts = _lengths(lengths, batch, padded_sequences.shape, "unpad_sequence", steps, int(batch_first), minimum=0)
    return [GetItem.apply(padded_sequences, index=(n, slice(0, int(length))) if batch_first
                          else (slice(0, int(length)), n)) for n, length in enumerate(counts)]


def pack_padded_sequence(input: Tensor, lengths: Any, batch_first: bool = False,
                         enforce_sorted: bool = True) -> PackedSequence:
    """Pack a padded batch (T, N, *) (batch_first: (N, T, *)) whose sequence n has lengths[n] real steps.

    With enforce_sorted=True the lengths must be in decreasing order; with False the batch is sorted here and
    sorted_indices records how, so that the layers' final states and pad_packed_sequence come back in the
    batch's own order. The padding is never read: it receives no gradient.
    """
    if not isinstance(input, Tensor) or input.ndim < 2:
        layout = "(batch, seq_len, *)" if batch_first else "(seq_len, batch, *)"
        raise TypeError(f"pack_padded_sequence: expected input to be a Tensor {layout}, got {_describe(input)}")
    steps, batch = input.shape[:2][::-1] if batch_first else input.shape[:2]
    counts = _lengths(lengths, batch, input.shape, "pack_padded_sequence", steps, int(batch_first))
    order, batch_sizes, time_index, batch_index = _packing(counts, enforce_sorted, "pack_padded_sequence")
    data = GetItem.apply(input, index=(batch_index, time_index) if batch_first else (time_index, batch_index))
    return _packed(data, batch_sizes, order)


def pack_sequence(sequences: Sequence[Tensor], enforce_sorted: bool = True) -> PackedSequence:
    """Pack sequences (L_i, *) of different lengths (longest first, unless enforce_sorted=False)."""
    sequences = _sequences(sequences, "pack_sequence")
    counts = np.array([sequence.shape[0] for sequence in sequences], dtype=np.int64)
    if counts.min() < 1:
        raise ValueError(f"pack_sequence: every sequence needs at least one step, but sequence "
                         f"{int(counts.argmin())} has shape {sequences[int(counts.argmin())].shape}")
    order, batch_sizes, time_index, batch_index = _packing(counts, enforce_sorted, "pack_sequence")
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    data = GetItem.apply(cat(sequences), index=starts[batch_index] + time_index)
    return _packed(data, batch_sizes, order)


def pad_packed_sequence(sequence: PackedSequence, batch_first: bool = False, padding_value: float = 0.0,
                        total_length: int | None = None) -> tuple[Tensor, Tensor]:
    """(padded, lengths): a packed batch as (T, N, *) (batch_first: (N, T, *)) in the batch's own order, padded
    with `padding_value` to T = total_length (default: the longest length), and each sequence's length."""
    if not isinstance(sequence, PackedSequence):
        raise TypeError(f"pad_packed_sequence: expected a PackedSequence, got {type(sequence).__name__}")
    batch_sizes, data = sequence.batch_sizes.data, sequence.data
    steps, batch = len(batch_sizes), int(batch_sizes[0])
    if total_length is None:
        total_length = steps
    elif not isinstance(total_length, Integral) or isinstance(total_length, bool):
        raise TypeError(f"pad_packed_sequence: total_length must be an integer, got {total_length!r}")
    elif total_length < steps:
        raise ValueError(f"pad_packed_sequence: expected total_length to be at least the length of the longest "
                         f"sequence in the batch, but got total_length={total_length} and a longest sequence of "
                         f"{steps} steps")
    position = np.arange(batch)
    offsets = np.concatenate(([0], np.cumsum(batch_sizes)[:-1]))
    padding_row = data.shape[0]
    index = np.full((int(total_length), batch), padding_row, dtype=np.int64)
    index[:steps] = np.where(position < batch_sizes[:, None], offsets[:, None] + position, padding_row)
    lengths = (batch_sizes > position[:, None]).sum(axis=1)
    if sequence.unsorted_indices is not None:
        index, lengths = index[:, sequence.unsorted_indices.data], lengths[sequence.unsorted_indices.data]
    joined = cat([data, _constant_row(data, padding_value)])
    padded = GetItem.apply(joined, index=index.T if batch_first else index)
    return padded, Tensor(lengths.astype(np.int64))


def unpack_sequence(packed_sequences: PackedSequence) -> list[Tensor]:
    """The sequences (L_i, *) of a packed batch, in the batch's own order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)


# ---- helpers ------------------------------------------------------------------------------------------------

def _packing(lengths: np.ndarray, enforce_sorted: bool,
             caller: str) -> tuple[np.ndarray | None, np.ndarray, np.ndarray, np.ndarray]:
    """(sorted_indices or None, batch_sizes, and for each packed row its time step and batch position)."""
    if enforce_sorted:
        if np.any(np.diff(lengths) > 0):
            raise ValueError(f"{caller}: lengths must be sorted in decreasing order when enforce_sorted=True, got "
                             f"{lengths.tolist()}; pass enforce_sorted=False to have the batch sorted here")
        order = None
    else:
        order = np.argsort(-lengths, kind="stable")
    sorted_lengths = lengths if order is None else lengths[order]
    running = sorted_lengths > np.arange(sorted_lengths[0])[:, None]  # (T, N): sequence n still runs at t
    time_index, position = np.nonzero(running)  # step by step, longest first: the packed order
    return order, running.sum(axis=1), time_index, (position if order is None else order[position])


def _packed(data: Tensor, batch_sizes: np.ndarray, order: np.ndarray | None) -> PackedSequence:
    """A PackedSequence made here (already consistent: no checks)."""
    sorted_indices = None if order is None else Tensor(order.astype(np.int64))
    unsorted_indices = None if order is None else Tensor(np.argsort(order).astype(np.int64))
    return PackedSequence._make((data, Tensor(batch_sizes.astype(np.int64)), sorted_indices, unsorted_indices))


def _lengths(lengths: Any, batch: int, shape: tuple[int, ...], caller: str, steps: int, time_axis: int,
             minimum: int = 1) -> np.ndarray:
    """`lengths` as int64, one per sequence of the batch, each in [minimum, steps]."""
    counts = _integers(lengths, caller, "lengths")
    if batch == 0:
        raise ValueError(f"{caller}: the batch is empty (input of shape {shape})")
    if counts.shape[0] != batch:
        raise ValueError(f"{caller}: expected one length per sequence of the batch, {batch} (input of shape "
                         f"{shape}), got {counts.shape[0]} lengths")
    shortest, longest = int(counts.argmin()), int(counts.argmax())
    if counts[shortest] < minimum:
        needs = "at least 1 (a sequence needs a step)" if minimum else "at least 0"
        raise ValueError(f"{caller}: every length must be {needs}, got lengths[{shortest}] = {counts[shortest]}")
    if counts[longest] > steps:
        raise ValueError(f"{caller}: lengths[{longest}] = {counts[longest]} is longer than the input's {steps} "
                         f"time steps (input of shape {shape}, time in dimension {time_axis})")
    return counts


def _integers(values: Any, caller: str, name: str) -> np.ndarray:
    """`values` (a Tensor, an array or a list of integers) as a 1-D int64 array."""
    array = values.data if isinstance(values, Tensor) else np.asarray(values)
    if array.size == 0 and not isinstance(values, Tensor | np.ndarray):
        array = array.astype(np.int64)  # [] is numpy's float64
    if array.ndim != 1 or array.dtype.kind not in "iu":
        kind = {Tensor: "a Tensor", np.ndarray: "an array"}.get(type(values), f"a {type(values).__name__}")
        raise TypeError(f"{caller}: expected {name} to be a 1-D list, array or Tensor of integers, got {kind} of "
                        f"shape {array.shape} and dtype {array.dtype}")
    return array.astype(np.int64)


def _sequences(sequences: Any, caller: str) -> list[Tensor]:
    """A non-empty list of Tensors (L_i, *) with equal trailing shapes and dtypes (a Tensor: its rows)."""
    if isinstance(sequences, Tensor):
        sequences = [sequences[row] for row in range(sequences.shape[0])] if sequences.ndim else [sequences]
    sequences = list(sequences)
    if not sequences:
        raise ValueError(f"{caller}: expected a non-empty list of sequences, got none")
    first = sequences[0]
    for position, sequence in enumerate(sequences):
        if not isinstance(sequence, Tensor) or sequence.ndim < 1:
            raise TypeError(f"{caller}: expected every sequence to be a Tensor (length, *), but sequence "
                            f"{position} is {_describe(sequence)}")
        if sequence.shape[1:] != first.shape[1:] or sequence.dtype != first.dtype:
            raise ValueError(f"{caller}: every sequence must have the same shape after its first (time) dimension "
                             f"and the same dtype; sequence 0 is {_describe(first)}, sequence {position} is "
                             f"{_describe(sequence)}")
    return sequences


def _constant_row(like: Tensor, value: float) -> Tensor:
    """One row (1, *) of `value` shaped as a row of `like`, in its dtype (the padding every padded step reads)."""
    return Tensor(np.full((1,) + like.shape[1:], value, dtype=like.dtype))


def _describe(value: Any) -> str:
    if isinstance(value, Tensor):
        return f"a Tensor of shape {value.shape} and dtype {value.dtype}"
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    return type(value).__name__


__all__ = ["PackedSequence", "pack_padded_sequence", "pack_sequence", "pad_packed_sequence", "pad_sequence",
           "unpack_sequence", "unpad_sequence"]
