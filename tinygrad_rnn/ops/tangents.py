"""What the ops' forward-mode rules (`jvp`) share: tangents are stacks of directions, None where zero."""

from __future__ import annotations

from typing import Any


def total(*terms: Any) -> Any:
    """The sum of the terms that are not None (None when every term is: a zero tangent)."""
    result = None
    for term in terms:
        if term is not None:
            result = term if result is None else result + term
    return result


def scaled(tangent: Any, factor: Any) -> Any:
    """tangent * factor, or None for a zero tangent."""
    return None if tangent is None else tangent * factor


def along(index: Any) -> tuple[Any, ...]:
    """`index` (of an input) as an index of a stack of its tangents: every direction, then `index`."""
    return (slice(None),) + (index if type(index) is tuple else (index,))


def negative_axes(axis: Any, ndim: int) -> tuple[int, ...]:
    """The axes `axis` (None: all) of an input with `ndim` axes, counted from the end, so that they name the same
    axes of a stack of its tangents."""
    if axis is None:
        return tuple(range(-ndim, 0))
    axes = axis if isinstance(axis, tuple) else (axis,)
    return tuple(sorted(axis % ndim - ndim for axis in axes))
