"""Command-line helpers shared by `tinygrad-rnn` and the demos: argument errors as one line, argparse types
for numbers and lists."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any, NoReturn


class Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line on stderr (`prog: error: ...`), without the usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def positive(kind: type) -> Callable[[str], Any]:
    """An argparse type: a positive number of `kind` (int or float; floats must be finite)."""
    return _number(kind, lambda value: value > 0, "a positive")


def nonnegative(kind: type) -> Callable[[str], Any]:
    """An argparse type: a number of `kind` that is 0 or more (and finite)."""
    return _number(kind, lambda value: value >= 0, "0 or a positive")


def _number(kind: type, allowed: Callable[[Any], bool], description: str) -> Callable[[str], Any]:
    noun = "whole number" if kind is int else "number"

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {noun}, got {text!r}") from None
        if not (allowed(value) and math.isfinite(value)):
            raise argparse.ArgumentTypeError(f"expected {description} {noun}, got {text!r}")
        return value

    return parse


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


class CommandError(Exception):
    """A problem with the user's request, reported as one line."""
