"""What every lab shares: its command line (--out, --smoke, --overwrite), the files it will write, and how it
writes them (atomically, so an interrupted lab leaves no half-written picture)."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from tinygrad_rnn.cli.arguments import Parser, make_output_folder, output_folder
from tinygrad_rnn.files import write_atomically


def lab_parser(name: str, description: str) -> Parser:
    """The parser of lab `name`, with --out, --smoke and --overwrite already there."""
    parser = Parser(prog=f"{name}.py", description=description)
    parser.add_argument("--out", type=output_folder, default="out", help="folder for the pictures (default out)")
    parser.add_argument("--smoke", action="store_true", help="a few seconds at tiny sizes (what the tests run)")
    parser.add_argument("--overwrite", action="store_true", help="replace pictures an earlier run left in --out")
    return parser


def outputs(parser: Parser, args: Any, names: Sequence[str]) -> list[Path]:
    """The paths the lab will write in `args.out`, after refusing (one line, exit 2) to replace existing ones
    unless --overwrite was given. Makes the folder."""
    folder = Path(args.out)
    paths = [folder / name for name in names]
    existing = [str(path) for path in paths if path.exists()]
    if existing and not args.overwrite:
        parser.error(f"{existing[0]} exists (from an earlier run?); pass --overwrite to replace it, or choose "
                     "another --out")
    make_output_folder(parser, args.out)
    return paths


def save_figure(figure: Any, path: Path, dpi: int = 120) -> Path:
    """Write a matplotlib figure to `path` atomically and close it."""
    import matplotlib.pyplot as plt

    try:
        return write_atomically(path, lambda temporary: figure.savefig(temporary, dpi=dpi, format=path.suffix[1:]))
    finally:
        plt.close(figure)


def report(written: Sequence[tuple[Path, str]]) -> None:
    """Print every file written with one line on what to look at in it."""
    print("wrote:")
    for path, what in written:
        print(f"  {path}  {what}")
    sys.stdout.flush()


def sibling(name: str) -> ModuleType:
    """Import demos/<name>.py (its models and data) however the lab was started: script, runpy or test."""
    spec = importlib.util.spec_from_file_location(f"demos_{name}", Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
