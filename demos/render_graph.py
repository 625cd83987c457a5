"""Pictures of backpropagation through time: the unrolled graph of a tiny RNN, LSTM and GRU, with gradients.

Each model reads a short random sequence; the loss is the sum of its last hidden state; after
`backward(retain_grads=True)` every edge is drawn with the width and colour of the gradient flowing back along
it, the hidden-state path h_T -> ... -> h_0 in red, and each shared parameter once, with an edge into every step.

    python demos/render_graph.py                     # out/graph_rnn.svg/.png, out/graph_lstm..., out/graph_gru...
    python demos/render_graph.py --steps 6 --collapse
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

import tinygrad_rnn as tg
from tinygrad_rnn import nn, viz
from tinygrad_rnn.cli.arguments import Parser, comma_list, nonnegative, output_folder, positive

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


def unrolled_loss(cell: str, steps: int, hidden_size: int, seed: int) -> tuple[tg.Tensor, nn.Module]:
    """Forward and backward through a tiny float64 model; returns (loss with its graph and gradients, model)."""
    nn.manual_seed(seed)
    model = CELLS[cell](2, hidden_size, dtype=np.float64)
    inputs = tg.Tensor(np.random.default_rng(seed).standard_normal((steps, 1, 2)))
    with tg.keep_values():  # the picture shows the values of small intermediates
        output, _ = model(inputs)
        loss = output[-1].sum()
    loss.backward(retain_graph=True, retain_grads=True)
    return loss, model


def render_all(args: argparse.Namespace) -> list[str]:
    """Render one picture per cell and format; returns the paths written."""
    folder = Path(args.out)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for cell in args.cells:
        loss, model = unrolled_loss(cell, args.steps, args.hidden_size, args.seed)
        params = {f"{cell}.{name}": parameter for name, parameter in model.named_parameters()}
        for fmt in args.formats:
            written.append(viz.render(loss, folder / f"graph_{cell}.{fmt}", params=params, highlight="hidden",
                                      collapse="timestep" if args.collapse else None,
                                      intermediates=args.all_tensors,
                                      title=f"{cell.upper()}: {args.steps} steps unrolled, hidden size "
                                            f"{args.hidden_size}; loss = sum(h_T)"))
    return written


def build_parser() -> Parser:
    """The command line of this script (its arguments, their types and bounds)."""
    parser = Parser(prog="render_graph.py", description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=comma_list(allowed=tuple(CELLS)), default=list(CELLS), help="rnn,lstm,gru")
    parser.add_argument("--steps", type=positive(int, 50), default=4, help="time steps drawn (at most 50)")
    parser.add_argument("--hidden-size", type=positive(int, 64), default=3)
    parser.add_argument("--formats", type=comma_list(allowed=("svg", "png", "pdf", "dot")), default=["svg", "png"])
    parser.add_argument("--collapse", action="store_true", help="one node per time step")
    parser.add_argument("--all-tensors", action="store_true",
                        help="draw every tensor an op makes (default: ops, hidden states, leaves, output)")
    parser.add_argument("--out", type=output_folder, default="out")
    parser.add_argument("--seed", type=nonnegative(int), default=0)
    parser.add_argument("--smoke", action="store_true", help="same pictures (they are already fast)")
    return parser


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    return build_parser().parse_args(sys.argv[1:] if argv is None else argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        for path in render_all(args):
            print(f"wrote {path}")
    except viz.GraphvizNotFoundError as error:
        print(f"render_graph.py: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
