"""Command-line helpers the demos share: argument errors as one line, and types for numbers and lists."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any, NoReturn


class Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line on stderr (no usage block)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def positive(kind: type) -> Callable[[str], Any]:
    """An argparse type: a positive number of `kind` (int or float; floats must be finite)."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not value > 0 or not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
        return value

    return parse


def nonnegative_int(text: str) -> int:
    """An argparse type: a whole number >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more, got {text!r}")
    return value


def comma_list(item: Callable[[str], Any] | None = None, allowed: tuple[str, ...] = ()) -> Callable[[str], list]:
    """An argparse type: a non-empty comma-separated list, of `allowed` names or of values parsed by `item`."""

    def parse(text: str) -> list:
        items = [part.strip() for part in text.split(",") if part.strip()]
        if not items:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list, got {text!r}")
        if allowed:
            unknown = [name for name in items if name not in allowed]
            if unknown:
                raise argparse.ArgumentTypeError(f"unknown {', '.join(unknown)}; choose from {', '.join(allowed)}")
            return items
        return [item(part) for part in items] if item else items

    return parse
