"""`tinygrad-rnn demo NAME [args]`: run demos/NAME.py with the remaining arguments."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .arguments import CommandError, shown

DEMOS = Path(__file__).resolve().parents[2] / "demos"


def add_parser(commands: Any) -> None:
    """Add `demo` and its arguments to the subcommands."""
    demo = commands.add_parser("demo", help="run demos/<name>.py, passing the remaining arguments on",
                               description="Run one of the demo scripts; arguments after the name go to it.")
    demo.add_argument("name", nargs="?", type=demo_name, help="demo name (e.g. char_rnn); leave out to list them")
    demo.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the demo")


def demo_name(text: str) -> str:
    """The argparse type of a demo's name (`char_rnn` or `char_rnn.py`): one of the scripts in demos/, when
    that folder is there (when it is not, running the demo says so)."""
    name = text.removesuffix(".py")
    if DEMOS.is_dir() and name not in available_demos():
        raise argparse.ArgumentTypeError(f"unknown demo {shown(text)}; available: {', '.join(available_demos())}")
    return name


def run(args: argparse.Namespace) -> int:
    """Run the demo; its exit status is ours."""
    return demo_command(args.name, args.args)



def available_demos(folder: Path = DEMOS) -> list[str]:
    """Names of the demo scripts in `folder` (sorted)."""
    return sorted(path.stem for path in folder.glob("*.py") if not path.name.startswith("_"))


def demo_command(name: str | None, args: Sequence[str], folder: Path = DEMOS) -> int:
    """Run `folder/<name>.py` with `args` in a fresh Python; returns its exit status."""
    if not folder.is_dir():
        raise CommandError(f"no demos folder at {folder} (the demos ship with the source checkout, not the "
                           "installed package: clone the repository and install it with pip install -e .)")
    names = available_demos(folder)
    if name is None:
        raise CommandError(f"which demo? available: {', '.join(names)} (tinygrad-rnn demo <name> [args])")
    if name.endswith(".py"):
        name = name[:-3]
    if name not in names:
        raise CommandError(f"unknown demo {name!r}; available: {', '.join(names)}")
    try:
        return subprocess.call([sys.executable, str(folder / f"{name}.py"), *args])
    except KeyboardInterrupt:
        return 130
