"""The `tinygrad-rnn` command: draw backpropagation through time, run a demo, or analyse credit through time.

    tinygrad-rnn graph --cell rnn --steps 5 --hidden 3 --radius 0.9 --out bptt.svg
    tinygrad-rnn demo char_rnn --smoke
    tinygrad-rnn analyze truncation --cell rnn --radius 1.5
Each subcommand is a module here (`graph.py`, `demo.py`, `analyze.py`) with `add_parser(commands)` and `run(args)`.
Bad input is one line on stderr and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from . import analyze, demo, graph
from .arguments import CommandError, Parser

SUBCOMMANDS = {"graph": graph, "demo": demo, "analyze": analyze}


def build_parser() -> Parser:
    """The argument parser of `tinygrad-rnn` and its subcommands."""
    parser = Parser(prog="tinygrad-rnn", description="See how recurrent networks learn.")
    commands = parser.add_subparsers(dest="command", metavar="{" + ",".join(SUBCOMMANDS) + "}")
    commands.required = True
    for module in SUBCOMMANDS.values():
        module.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        return SUBCOMMANDS[args.command].run(args)
    except CommandError as error:
        print(f"tinygrad-rnn {args.command}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"tinygrad-rnn {args.command}: interrupted", file=sys.stderr)
        return 130
