"""The switches every op reads: grad recording, the current scope, anomaly detection, keeping outputs, and forward
mode's tangents.

They are per thread, as PyTorch's grad mode is: each thread starts with grad recording on and no scope, and a
`with` block in one thread never changes what another sees. (asyncio tasks on one thread share them, as in
PyTorch.) A `with` block sets a switch for its duration and puts the old value back, however it ends.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np


class Mode:
    """The switches of one thread."""

    __slots__ = ("grad_enabled", "scope", "anomaly", "keep_values", "tangents", "watched", "recording_backward")

    def __init__(self) -> None:
        self.grad_enabled = True
        self.scope: str | None = None
        self.anomaly = False
        self.keep_values = False
        self.tangents: Any = None
        """Forward mode's tangents (forward_mode.py), or None outside it."""
        self.watched = False
        """anomaly or tangents: every op then takes its slow path after its forward (one test for both)."""
        self.recording_backward = False
        """True while an op's backward runs on nodes for create_graph (inplace.py reads it)."""


THREAD = threading.local()
"""`THREAD.mode`: the calling thread's switches (an op reads them once; `current()` makes them for a new thread)."""


def current() -> Mode:
    """The calling thread's switches, made the first time the thread asks."""
    try:
        return THREAD.mode
    except AttributeError:
        THREAD.mode = mode = Mode()
        return mode


class _Switched:
    """A `with` block that runs with one switch changed, then puts back what it was."""

    __slots__ = ("setting", "value", "previous")

    def __init__(self, setting: str, value: Any) -> None:
        self.setting, self.value = setting, value

    def __enter__(self) -> None:
        mode = current()
        self.previous = getattr(mode, self.setting)
        setattr(mode, self.setting, self.value)

    def __exit__(self, *exc_info: Any) -> None:
        setattr(current(), self.setting, self.previous)


def no_grad() -> _Switched:
    """Run ops without recording a graph (inference, optimiser updates)."""
    return _Switched("grad_enabled", False)


def enable_grad() -> _Switched:
    """Record a graph again inside a `no_grad` block."""
    return _Switched("grad_enabled", True)


def is_grad_enabled() -> bool:
    """True when ops record the graph."""
    return current().grad_enabled


def is_anomaly_enabled() -> bool:
    """True inside `detect_anomaly()`."""
    return current().anomaly


def keep_values() -> _Switched:
    """Let the graph recorded inside keep every op's output (`ctx.output`), so that a drawing can show the
    values and names of intermediates. Without it the graph holds only what backward reads, as in PyTorch."""
    return _Switched("keep_values", True)


class _Watching(_Switched):
    """A `with` block that changes a switch an op watches after its forward (anomaly, tangents)."""

    __slots__ = ()

    def __enter__(self) -> None:
        super().__enter__()
        _update_watched(current())

    def __exit__(self, *exc_info: Any) -> None:
        super().__exit__()
        _update_watched(current())


def _update_watched(mode: Mode) -> None:
    mode.watched = mode.anomaly or mode.tangents is not None


def detect_anomaly() -> _Switched:
    """Make the first op whose forward or backward yields NaN/inf raise, naming the op, scope and shapes."""
    return _Watching("anomaly", True)


def tangents_switched(tangents: Any) -> _Switched:
    """Run with forward mode's `tangents` (forward_mode.py) watching every op."""
    return _Watching("tangents", tangents)


class scope:  # noqa: N801 (used like a function: `with scope("t=3"):`)
    """Tag every node made inside with `name`; scopes nest with '/' (e.g. `rnn.l0/t=3`)."""

    __slots__ = ("name", "previous")

    def __init__(self, name: str) -> None:
        if not isinstance(name, str):
            raise TypeError(f"scope: a scope's name is a string (such as 't=3'), got {type(name).__name__}")
        self.name = name

    def __enter__(self) -> str:
        mode = current()
        self.previous = previous = mode.scope
        mode.scope = name = self.name if previous is None else f"{previous}/{self.name}"
        return name

    def __exit__(self, *exc_info: Any) -> None:
        current().scope = self.previous


class step_scopes:  # noqa: N801 (used like a function, as scope is)
    """`with step_scopes("rnn.l0", range(T)) as steps: for t in steps: ...` runs each step in the scope
    "rnn.l0/t=<t>", as a `with scope(...)` inside the loop would; the scope is restored when the block ends."""

    __slots__ = ("name", "steps", "previous")

    def __init__(self, name: str, steps: Iterable[int]) -> None:
        self.name, self.steps = name, steps

    def __enter__(self) -> Iterator[int]:
        mode = current()
        self.previous = previous = mode.scope
        return self._each(mode, self.name if previous is None else f"{previous}/{self.name}")

    def _each(self, mode: Mode, prefix: str) -> Iterator[int]:
        for step in self.steps:
            mode.scope = f"{prefix}/t={step}"
            yield step

    def __exit__(self, *exc_info: Any) -> None:
        current().scope = self.previous


def check_finite(array: Any, ctx: Any, phase: str, inputs: Any = ()) -> None:
    """Under `detect_anomaly`: raise when `array` holds NaN or inf, blaming the forward's `inputs` instead of
    the op when they already held them."""
    if not np.all(np.isfinite(array)):
        shapes = ", ".join(str(p.grad_shape) for p in ctx.parents)
        where = f"(scope {ctx.scope}, input shapes {shapes})"
        for position, data in enumerate(inputs):
            if np.issubdtype(np.result_type(data), np.inexact) and not np.all(np.isfinite(data)):
                raise FloatingPointError(f"detect_anomaly: op '{ctx.name}' received NaN/inf in its input {position} "
                                         f"{where}: they came in with the data, not from an op run under "
                                         "detect_anomaly")
        raise FloatingPointError(f"detect_anomaly: op '{ctx.name}' produced NaN/inf in its {phase} {where}")
