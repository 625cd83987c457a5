"""`make demo`: train a character-level RNN for about a minute, measure the vanishing gradient, draw BPTT.

Runs three demos with their defaults and writes everything to `out/` (or `--out`):
  1. char_rnn.py            the char-RNN on the standard library's docstrings (checkpoint out/char_rnn.npz,
                            replaced on every run)
  2. vanishing_gradients.py out/vanishing_gradients.png and the BPTT graph at two radii, out/bptt_radii.png
  3. render_graph.py        the unrolled RNN graph with its gradients, out/graph_rnn.svg and .png
`--smoke` runs each in its small test mode (seconds).
"""

from __future__ import annotations

import os

# Set before numpy loads: small matrices, where BLAS threads cost more than they give (see char_rnn.py).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from types import ModuleType  # noqa: E402

from tinygrad_rnn.cli.arguments import Parser, output_folder  # noqa: E402


def sibling(name: str) -> ModuleType:
    """Import demos/<name>.py however this file was started (script, runpy, test)."""
    spec = importlib.util.spec_from_file_location(f"demos_{name}", Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_parser() -> Parser:
    """The command line of this script (its arguments, their types and bounds)."""
    parser = Parser(prog="main.py", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=output_folder, default="out", help="folder for everything written")
    parser.add_argument("--smoke", action="store_true", help="each demo in its small test mode")
    return parser


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    return build_parser().parse_args(sys.argv[1:] if argv is None else argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    smoke, out = (["--smoke"] if args.smoke else []), args.out
    started = time.perf_counter()
    print("== 1/3 char-RNN on the docstrings of the Python standard library ==")
    status = sibling("char_rnn").main([*smoke, "--checkpoint", f"{out}/char_rnn.npz", "--overwrite"])
    if status != 0:
        return status
    print("\n== 2/3 the vanishing gradient ==")
    status = sibling("vanishing_gradients").main([*smoke, "--out", out])
    if status != 0:
        return status
    print("\n== 3/3 the unrolled graph of an RNN, with gradients ==")
    status = sibling("render_graph").main(["--cells", "rnn", "--out", out])
    if status != 0:
        return status
    print("\n== the interactive page: an LSTM over 30 steps, its gradients through time ==")
    from tinygrad_rnn import viz
    from tinygrad_rnn.cli.graph import unrolled_loss

    loss, params = unrolled_loss("lstm", 30, 3, 2, None, "last", seed=0)
    try:
        title = "LSTM, T=30: hover, click a hidden state, move the time slider"
        print(f"wrote {viz.to_html(loss, Path(out) / 'bptt.html', params=params, title=title)}")
    except viz.GraphvizNotFoundError as error:
        print(f"main.py: error: {error}", file=sys.stderr)
        return 1
    print(f"\ndone in {time.perf_counter() - started:.0f} s. Open these:")
    for name in ("bptt.html", "vanishing_gradients.png", "bptt_radii.png", "graph_rnn.svg", "graph_rnn.png",
                 "char_rnn.npz"):
        print(f"  {Path(out) / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
