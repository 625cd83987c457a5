"""The switches every op reads: grad recording, the current scope, anomaly detection, keeping outputs.

They are per thread and per asyncio task, as PyTorch's grad mode is per thread: the state lives in a ContextVar,
and a `with` block sets a new state for its duration and puts the old one back. A state is never changed in
place, so a thread or task that started from it is not affected.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from typing import Any

import numpy as np


class Mode:
    """One combination of the switches (immutable: `with_` makes a changed copy)."""

    __slots__ = ("grad_enabled", "scope", "anomaly", "keep_values")

    def __init__(self, grad_enabled: bool = True, scope: str | None = None, anomaly: bool = False,
                 keep_values: bool = False) -> None:
        self.grad_enabled, self.scope, self.anomaly, self.keep_values = grad_enabled, scope, anomaly, keep_values

    def with_(self, **changes: Any) -> Mode:
        settings = {name: getattr(self, name) for name in Mode.__slots__}
        settings.update(changes)
        return Mode(**settings)


MODE: ContextVar[Mode] = ContextVar("tinygrad_rnn_mode", default=Mode())  # noqa: B039 (a Mode never changes)
current = MODE.get
"""`current()`: the switches in force in this thread or task."""


class _Switched:
    """A `with` block that runs under changed switches, then restores the ones before it, however it ends."""

    __slots__ = ("changes", "previous")

    def __init__(self, **changes: Any) -> None:
        self.changes = changes

    def __enter__(self) -> None:
        self.previous = MODE.get()
        MODE.set(self.previous.with_(**self.changes))

    def __exit__(self, *exc_info: Any) -> None:
        MODE.set(self.previous)


def no_grad() -> _Switched:
    """Run ops without recording a graph (inference, optimiser updates)."""
    return _Switched(grad_enabled=False)


def enable_grad() -> _Switched:
    """Record a graph again inside a `no_grad` block."""
    return _Switched(grad_enabled=True)


def is_grad_enabled() -> bool:
    """True when ops record the graph."""
    return MODE.get().grad_enabled


def is_anomaly_enabled() -> bool:
    """True inside `detect_anomaly()`."""
    return MODE.get().anomaly


def keep_values() -> _Switched:
    """Let the graph recorded inside keep every op's output (`ctx.output`), so that a drawing can show the
    values and names of intermediates. Without it the graph holds only what backward reads, as in PyTorch."""
    return _Switched(keep_values=True)


def detect_anomaly() -> _Switched:
    """Make the first op whose forward or backward yields NaN/inf raise, naming the op, scope and shapes."""
    return _Switched(anomaly=True)


class scope:  # noqa: N801 (used like a function: `with scope("t=3"):`)
    """Tag every node made inside with `name`; scopes nest with '/' (e.g. `rnn.l0/t=3`)."""

    __slots__ = ("name", "previous")

    def __init__(self, name: str) -> None:
        if not isinstance(name, str):
            raise TypeError(f"scope: a scope's name is a string (such as 't=3'), got {type(name).__name__}")
        self.name = name

    def __enter__(self) -> str:
        self.previous = previous = MODE.get()
        name = self.name if previous.scope is None else f"{previous.scope}/{self.name}"
        MODE.set(previous.with_(scope=name))
        return name

    def __exit__(self, *exc_info: Any) -> None:
        MODE.set(self.previous)


class step_scopes:  # noqa: N801 (used like a function, as scope is)
    """`with step_scopes("rnn.l0", range(T)) as steps: for t in steps: ...` runs each step in the scope
    "rnn.l0/t=<t>", as a `with scope(...)` inside the loop would; the scope is restored when the block ends."""

    __slots__ = ("name", "steps", "previous")

    def __init__(self, name: str, steps: Iterable[int]) -> None:
        self.name, self.steps = name, steps

    def __enter__(self) -> Iterator[int]:
        self.previous = previous = MODE.get()
        prefix = self.name if previous.scope is None else f"{previous.scope}/{self.name}"
        return self._each(previous, prefix)

    def _each(self, previous: Mode, prefix: str) -> Iterator[int]:
        for step in self.steps:
            MODE.set(Mode(previous.grad_enabled, f"{prefix}/t={step}", previous.anomaly, previous.keep_values))
            yield step

    def __exit__(self, *exc_info: Any) -> None:
        MODE.set(self.previous)


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
