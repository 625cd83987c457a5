"""The input's share of a recurrent layer's gates, x_t W_ih^T + b, computed ahead for a chunk of steps at a time:
one GEMM per chunk instead of one per step, made just before its steps run (see `Projections`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..mode import scope
from ..ops import GetItem
from ..tensor import Tensor
from .cells import project
from .packed import ActiveRows

Weights = tuple[Tensor, Tensor, Tensor | None, Tensor | None]


def step_index(time_axis: int, timestep: int) -> Any:
    """The index that picks one time step from a (L, ...) or (N, L, ...) tensor."""
    return timestep if time_axis == 0 else (slice(None), timestep)


PROJECTION_CHUNK_BYTES = 1 << 20
"""How many bytes of time steps the input projection x_t W_ih^T + b computes at once (one GEMM a chunk)."""


class Projections:
    """The input's share of every time step's gates, projected a chunk of consecutive steps at a time.

    One GEMM per chunk keeps the projection fast, and a chunk is made just before its first step runs, so it
    and its gradient live only while its steps do: memory grows with T only by what BPTT keeps. The first
    chunk (usually the whole sequence) is made in the layer's scope, later ones in the scope of the step that
    first reads them, under "input".
    """

    def __init__(self, input: Tensor, time_axis: int, steps: range, outputs: int, project_chunk: Any) -> None:
        self.input, self.time_axis, self.steps, self.project_chunk = input, time_axis, steps, project_chunk
        self.length = len(steps)
        step_bytes = self._rows_per_step() * outputs * input.dtype.itemsize
        self.chunk = max(1, PROJECTION_CHUNK_BYTES // max(step_bytes, 1))
        self.start = self.stop = 0
        self.parts: tuple[Tensor, ...] = ()
        self._make(steps[0])

    def _rows_per_step(self) -> int:
        return self.input.numel() // (self.length * self.input.shape[-1])

    def _make(self, timestep: int) -> None:
        """Project the chunk of steps that `timestep` begins, in processing order."""
        reverse = self.steps.step < 0
        self.start = max(0, timestep - self.chunk + 1) if reverse else timestep
        self.stop = timestep + 1 if reverse else min(self.length, timestep + self.chunk)
        self.parts = self.project_chunk(self._chunk_rows(self.start, self.stop))

    def _chunk_rows(self, start: int, stop: int) -> Tensor:
        """The input's steps start:stop."""
        if stop - start == self.length:
            return self.input
        return self.input[step_index(self.time_axis, slice(start, stop))]

    def at(self, timestep: int) -> list[Tensor]:
        """The projections of `timestep` (run inside its step's scope)."""
        if not self.start <= timestep < self.stop:
            with scope("input"):
                self._make(timestep)
        index = timestep - self.start
        if self.time_axis:
            index = (slice(None), index)
        selected = []
        for part in self.parts:
            selected.append(GetItem.apply(part, index=index))
        return selected


class PackedProjections(Projections):
    """Projections of a packed sequence's data (sum of lengths, I), whose step t is rows offsets[t]:offsets[t+1]."""

    def __init__(self, data: Tensor, batch_sizes: list[int], steps: range, outputs: int, project_chunk: Any) -> None:
        self.offsets = [0, *np.cumsum(batch_sizes).tolist()]
        super().__init__(data, 0, steps, outputs, project_chunk)

    def _rows_per_step(self) -> int:
        return self.offsets[1]

    def _chunk_rows(self, start: int, stop: int) -> Tensor:
        if stop - start == self.length:
            return self.input
        return self.input[self.offsets[start]:self.offsets[stop]]

    def at(self, timestep: int) -> list[Tensor]:
        if not self.start <= timestep < self.stop:
            with scope("input"):
                self._make(timestep)
        first = self.offsets[self.start]
        index = slice(self.offsets[timestep] - first, self.offsets[timestep + 1] - first)
        return [GetItem.apply(part, index=index) for part in self.parts]


def projections_of(input: Tensor, time_axis: int, steps: range, outputs: int, project_chunk: Any,
                 rows: ActiveRows | None) -> Projections:
    """The projections of a tensor's steps, or (with `rows`) of a packed sequence's data."""
    if rows is None:
        return Projections(input, time_axis, steps, outputs, project_chunk)
    return PackedProjections(input, rows.batch_sizes, steps, outputs, project_chunk)


def folded_projection(weights: Weights) -> Any:
    """rows -> (x W_ih^T + b_ih + b_hh,) for the steps in rows (both biases act the same way)."""
    weight_ih, _, bias_ih, bias_hh = weights
    bias = None if bias_ih is None else bias_ih + bias_hh
    return lambda rows: (project(rows, weight_ih, bias),)
