"""Hostile values for every argument of an argparse parser, read from the parser itself, so that a new argument
joins the table tests in test_cli.py and test_demos.py without anyone listing it (or fails them until it is
classified). Each value must be refused with one line on stderr and exit status 2."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from typing import Any

NOT_NUMBERS = ["", " ", "abc", "1,5", "0x10", "1/2", "\u0663", "\uff15", "\x1b[31m1", "1\n2", "1e400", "nan",
               "-nan", "inf", "+inf", "NaN", "Infinity", "\u202e1"]
NOT_WHOLE = ["1.5", "1e3", "2.0", "9" * 5000]
NOT_NAMES = ["", "nope", " ", "\x1b[2J", "\u202enur", "a\nb", "x" * 10_000]


def arguments(parser: argparse.ArgumentParser) -> Iterator[tuple[str, argparse.Action]]:
    """(prefix of argv that selects the subcommand, action) for every argument, subcommands included."""
    for action in parser._actions:  # argparse keeps no public list of its arguments
        if isinstance(action, argparse._SubParsersAction):
            yield "", action  # the subcommand's name
            for name, subparser in action.choices.items():
                for prefix, subaction in arguments(subparser):
                    yield f"{name} {prefix}".strip(), subaction
        elif not isinstance(action, argparse._HelpAction):
            yield "", action


def label(action: argparse.Action) -> str:
    """How the argument is named on the command line (and in argparse's messages)."""
    return action.option_strings[-1] if action.option_strings else action.metavar or action.dest


def hostile_values(action: argparse.Action, free: dict[str, str], unbounded: dict[str, str],
                   custom: dict[str, list[str]], existing_file: str) -> list[str]:
    """The values `action` must refuse. Arguments that take any text (`free`), numbers with no upper bound
    (`unbounded`, where a huge value is fine) and arguments with a hand-written type (`custom`, given their
    values) are named by the caller with a reason; any other argument that cannot be classified raises."""
    name = label(action)
    kind: Callable[..., Any] | None = action.type
    if name in custom:
        return custom[name]
    if action.nargs == 0:  # a flag: a value is refused
        return []
    if action.choices is not None:
        first = str(next(iter(action.choices)))
        return [*NOT_NAMES, first.upper() if first.upper() != first else first.lower(), first + " ", first * 2]
    if hasattr(kind, "kind"):  # tinygrad_rnn.cli.arguments: positive, nonnegative, finite
        return number_values(kind, name, unbounded)
    if hasattr(kind, "allowed"):  # comma_list
        return list_values(kind, name, unbounded)
    if hasattr(kind, "suffixes"):  # file_name
        return ["", *(["picture.bmpx", "no_suffix", "dot.", ".svg.bak"] if kind.suffixes else [])]
    if getattr(kind, "__name__", "") == "output_folder":
        return ["", existing_file, f"{existing_file}/inside"]
    if name in free:
        return []
    raise AssertionError(f"argument {name} has no hostile values: give it a type from tinygrad_rnn.cli.arguments, "
                         "or name it as free text (with the reason) in the table")


def number_values(kind: Any, name: str, unbounded: dict[str, str]) -> list[str]:
    """Non-numbers, values below the allowed range, and (when bounded) above it."""
    values = NOT_NUMBERS + (NOT_WHOLE if kind.kind is int else [])
    if kind.low is not None:
        values += [repr(kind.low - 1), "-1", "-99999999999999999999999"] + ([] if kind.low_allowed else ["0", "-0"])
    if kind.at_most is not None:
        above = kind.at_most + 1 if kind.kind is int else kind.at_most * 1.5
        values += [str(above), "1" + "0" * 40 if kind.kind is int else "1e300"]
    elif name not in unbounded:
        raise AssertionError(f"argument {name} takes any number up to infinity: bound it (positive(int, N)) so "
                             "that a huge value cannot run for ever or exhaust memory, or name it as unbounded "
                             "(with the reason) in the table")
    return values


def list_values(kind: Any, name: str, unbounded: dict[str, str]) -> list[str]:
    """Empty lists, too many items, unknown names or hostile numbers inside a list."""
    values = ["", ",", " , ,"]
    if kind.allowed:
        values += ["nope", f"{kind.allowed[0]},nope", ",".join([kind.allowed[0]] * (kind.at_most + 1)),
                   kind.allowed[0].upper()]
    else:
        values += [f"2,{value}" for value in number_values(kind.item, name, unbounded)
                   if value.strip() and "," not in value]
        values.append(",".join(["2"] * (kind.at_most + 1)))
    return values


def table(parser: argparse.ArgumentParser, free: dict[str, str], unbounded: dict[str, str],
          custom: dict[str, list[str]], existing_file: str) -> list[tuple[str, str, list[str]]]:
    """(subcommand prefix, argument, argv for each hostile value) for every argument of `parser`."""
    rows = []
    for prefix, action in arguments(parser):
        name = label(action)
        values = hostile_values(action, free, unbounded, custom, existing_file)
        if action.nargs == 0:
            argvs = [[f"{name}=yes"], [f"{name}="]]
        elif action.option_strings:
            argvs = [[f"{name}={value}"] for value in values]  # `=`: a value that starts with '-' stays a value
        else:
            argvs = [[value] for value in values]
        rows.append((prefix, name, [prefix.split() + argv for argv in argvs]))
    return rows
