"""Small sample inputs for the ops' gradchecks: factories rng -> array, and cases built from them."""

from __future__ import annotations

from typing import Any


def normal(*shape: int) -> Any:
    """A sample factory: rng -> standard-normal array of `shape`."""
    return lambda rng: rng.standard_normal(shape)


def positive(*shape: int) -> Any:
    """A sample factory: rng -> array of `shape` with values in [0.5, 2]."""
    return lambda rng: rng.uniform(0.5, 2.0, shape)


def cases(*cases: tuple[tuple[Any, ...], dict[str, Any]]) -> Any:
    """Build a `sample` function from (input factories, attrs) pairs."""
    return lambda rng: [(tuple(make(rng) for make in inputs), attrs) for inputs, attrs in cases]


BINARY = cases(((normal(3, 4), normal(3, 4)), {}), ((normal(2, 3, 4), normal(4)), {}),
               ((normal(2, 1, 3), normal(4, 3)), {}))
UNARY = cases(((normal(3, 4),), {}))
