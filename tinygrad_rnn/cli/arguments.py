"""Command-line helpers shared by `tinygrad-rnn` and the demos: argument errors as one line, argparse types
for numbers, lists and output paths that refuse what would fail later (or run for ever) with a clear message."""

from __future__ import annotations

import argparse
import math
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line on stderr (`prog: error: ...`), without the usage block."""

    def error(self, message: str) -> NoReturn:
        message = _CONTROL.sub(lambda match: repr(match.group())[1:-1], message)  # one line, whatever was typed
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def shown(text: str) -> str:
    """`text` quoted for an error message, shortened when long."""
    return repr(text) if len(text) <= 40 else repr(text[:30]) + f"... ({len(text)} characters)"


def printable(text: object) -> str:
    """`text` as it is when every character prints, else quoted with escapes, so that a file name cannot send
    control characters to the terminal."""
    text = str(text)
    return text if text.isprintable() else repr(text)


def positive(kind: type, at_most: float | None = None) -> Callable[[str], Any]:
    """An argparse type: a positive number of `kind` (int or float; floats must be finite), at most `at_most`."""
    return _number(kind, 0, False, at_most)


def nonnegative(kind: type, at_most: float | None = None) -> Callable[[str], Any]:
    """An argparse type: a number of `kind` that is 0 or more (and finite), at most `at_most`."""
    return _number(kind, 0, True, at_most)


def finite(kind: type = float) -> Callable[[str], Any]:
    """An argparse type: any finite number of `kind` (not NaN or inf)."""
    return _number(kind, None, True, None)


def _number(kind: type, low: float | None, low_allowed: bool, at_most: float | None) -> Callable[[str], Any]:
    """The argparse type behind `positive`, `nonnegative` and `finite`; its attributes say what it allows."""
    noun = "whole number" if kind is int else "number"
    if low is None:
        description = f"a finite {noun}"
    elif at_most is None:
        description = f"{'0 or a positive' if low_allowed else 'a positive'} {noun}"
    elif kind is int:
        description = f"a whole number from {low if low_allowed else low + 1} to {at_most:,}"
    else:
        description = f"{'0 or a positive' if low_allowed else 'a positive'} number up to {at_most:g}"

    def parse(text: str) -> Any:
        try:
            if not text.isascii():  # int() and float() read other scripts' digits too: refuse them plainly
                raise ValueError
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {noun}, got {shown(text)}") from None
        in_range = math.isfinite(value) and (low is None or value > low or (low_allowed and value == low))
        if not in_range or (at_most is not None and value > at_most):
            raise argparse.ArgumentTypeError(f"expected {description}, got {shown(text)}")
        return value

    parse.kind, parse.low, parse.low_allowed, parse.at_most = kind, low, low_allowed, at_most
    return parse


def comma_list(item: Callable[[str], Any] | None = None, allowed: tuple[str, ...] = (),
               at_most: int = 100) -> Callable[[str], list]:
    """An argparse type: a non-empty comma-separated list (of at most `at_most` items), of `allowed` names or of
    values parsed by `item`."""

    def parse(text: str) -> list:
        items = [part.strip() for part in text.split(",") if part.strip()]
        if not items:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list, got {shown(text)}")
        if len(items) > at_most:
            raise argparse.ArgumentTypeError(f"expected at most {at_most} items, got {len(items)}")
        if allowed:
            unknown = [name for name in items if name not in allowed]
            if unknown:
                raise argparse.ArgumentTypeError(f"unknown {', '.join(map(shown, unknown))}; choose from "
                                                 f"{', '.join(allowed)}")
            return items
        return [item(part) for part in items] if item else items

    parse.item, parse.allowed, parse.at_most = item, allowed, at_most
    return parse


def file_name(suffixes: tuple[str, ...] = ()) -> Callable[[str], str]:
    """An argparse type: the name of a file to read or write, not empty (and ending in one of `suffixes`, if
    given). Whether it can be read or written is found out when it is, and reported then."""

    def parse(text: str) -> str:
        if not text or "\0" in text:
            raise argparse.ArgumentTypeError(f"expected a file name, got {shown(text)}")
        suffix = os.path.splitext(text)[1]
        if suffixes and suffix.lstrip(".").lower() not in suffixes:
            raise argparse.ArgumentTypeError(f"{shown(text)}: unknown format {shown(suffix or '(no suffix)')}; "
                                             f"expected a file ending in one of "
                                             f"{', '.join('.' + suffix for suffix in suffixes)}")
        return text

    parse.suffixes = suffixes
    return parse


def output_folder(text: str) -> str:
    """An argparse type: a folder to write into (made if missing), refused when it can be seen now that making
    or writing it must fail: empty, a file, under a file, or under a folder that is not writable."""
    if not text or "\0" in text:
        raise argparse.ArgumentTypeError(f"expected a folder name, got {shown(text)}")
    existing = os.path.abspath(text)
    while not os.path.exists(existing) and os.path.dirname(existing) != existing:
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        where = "is" if existing == os.path.abspath(text) else f"is inside {shown(existing)}, which is"
        raise argparse.ArgumentTypeError(f"{shown(text)} {where} a file; expected a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"{shown(text)}: the folder {shown(existing)} is not writable")
    return text


def make_output_folder(parser: argparse.ArgumentParser, text: str) -> Path:
    """Make the --out folder and check that a file can be written in it, before any work is done; a failure
    exits through `parser.error` with the system's reason (root passes `output_folder`'s access check)."""
    folder = Path(text)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as error:
        parser.error(f"argument --out: {shown(text)}: cannot write in this folder ({error.strerror})")
    return folder


class CommandError(Exception):
    """A problem with the user's request, reported as one line."""


def refuse_larger(parser: argparse.ArgumentParser, limit: int, what: str, sizes: dict[str, int]) -> None:
    """Exit through `parser.error` when the product of `sizes` (argument -> value) passes `limit`: each size
    alone may be fine while together they would not fit in memory."""
    product = math.prod(sizes.values())
    if product > limit:
        given = " x ".join(f"{name} {value}" for name, value in sizes.items())
        parser.error(f"{given} = {product:,} {what}; at most {limit:,} fit: make one of them smaller")
