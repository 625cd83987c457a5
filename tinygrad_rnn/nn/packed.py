"""How a recurrent layer runs on a packed batch (see nn.utils.rnn): which rows of the batch each step runs on,
where each sequence's final states are taken, and where a reverse direction starts each sequence."""

from __future__ import annotations

from ..factories import cat
from ..mode import scope
from ..tensor import Tensor


class ActiveRows:
    """The rows of a packed batch that each step of one direction runs on: step t, the batch_sizes[t] sequences
    still running at t (rows 0:batch_sizes[t], longest first).

    Going forward, a sequence's final states are its states at its own last step t (cut in the scope
    "<layer>/t=<t>/end"), and the next step reads the rows still running (cut in "<layer>/t=<t+1>/running"); in
    reverse, a sequence starts from its initial states at its own last step (joined in "<layer>/t=<t>/start").
    These scopes mark the ops that are packing, not the cell (the renderer draws them so). A layer's loop calls
    `before` and `after` around each step.
    """

    def __init__(self, batch_sizes: list[int], start: list[Tensor], reverse: bool) -> None:
        self.batch_sizes, self.start, self.reverse = batch_sizes, start, reverse
        self.active = 0 if reverse else start[0].shape[0]
        self.ended: list[tuple[Tensor, ...]] = []  # going forward: the final states of the rows ending, by step

    def before(self, timestep: int, states: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        """The states of the sequences running at `timestep`."""
        rows, active = self.batch_sizes[timestep], self.active
        self.active = rows
        if rows < active:
            with scope("running"):
                return tuple([state[:rows] for state in states])
        if rows > active:
            with scope("start"):
                return tuple([(initial if rows == initial.shape[0] else initial[:rows]) if active == 0
                              else cat([state, initial[active:rows]]) for state, initial in zip(states, self.start)])
        return states

    def after(self, timestep: int, states: tuple[Tensor, ...]) -> None:
        """Going forward, keep the final states of the sequences whose last step `timestep` was."""
        if self.reverse:
            return
        rows = self.active
        following = self.batch_sizes[timestep + 1] if timestep + 1 < len(self.batch_sizes) else 0
        if following == 0:
            self.ended.append(states)
        elif following < rows:
            with scope("end"):
                self.ended.append(tuple([state[following:rows] for state in states]))

    def finals(self, states: list[Tensor]) -> list[Tensor]:
        """Every sequence's final states, in the batch's sorted order (`states`: those after the last step)."""
        if self.reverse:
            return states
        if len(self.ended) == 1:
            return list(self.ended[0])
        return [cat(pieces[::-1]) for pieces in zip(*self.ended)]
