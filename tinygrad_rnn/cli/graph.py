"""`tinygrad-rnn graph`: build a small RNN/LSTM/GRU, run forward and backward on random data, draw the graph."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from .arguments import CommandError, file_name, nonnegative, positive, shown

CELLS = ("rnn", "lstm", "gru")
FORMATS = ("svg", "png", "pdf", "dot", "gv", "jpg", "jpeg")
AUTO_MAX_STEPS = 6
"""With more steps than this and no --max-steps, the middle is elided (the first and last 3 steps stay)."""
MAX_SIZE = 1024
"""The largest --hidden and --input-size: the picture shows shapes, and more only costs memory."""


def add_parser(commands: Any) -> None:
    """Add `graph` and its options to the subcommands."""
    graph = commands.add_parser("graph", help="render the unrolled graph of a small RNN/LSTM/GRU with gradients",
                                description="Build a small recurrent model, run forward and backward on random "
                                            "data, and draw the unrolled graph with its gradients.")
    graph.add_argument("--cell", choices=CELLS, default="rnn", help="recurrent cell (default rnn)")
    graph.add_argument("--steps", type=positive(int), default=5, help="sequence length T (default 5)")
    graph.add_argument("--hidden", type=positive(int, MAX_SIZE), default=3, help="hidden size (default 3)")
    graph.add_argument("--input-size", type=positive(int, MAX_SIZE), default=2, help="input features (default 2)")
    graph.add_argument("--radius", type=nonnegative(float), default=None,
                       help="set W_hh = radius * Q (Q random orthogonal; for LSTM/GRU each gate's block), so "
                            "spectral radius = largest singular value = radius: 0.5 fades, 1.5 explodes")
    graph.add_argument("--loss", choices=("last", "all"), default="last",
                       help="mean squared error of the last hidden state (default) or of every step's output")
    graph.add_argument("--seed", type=nonnegative(int), default=0,
                       help="seed for weights, inputs and targets (default 0)")
    graph.add_argument("--out", type=file_name(FORMATS), default="bptt.svg",
                       help="output file; format from the suffix: svg, png, pdf, or dot for the DOT text "
                            "(default bptt.svg)")
    graph.add_argument("--collapse", action="store_true", help="one node per time step")
    graph.add_argument("--max-steps", type=max_steps, default=None,
                       help=f"keep the first and last steps, elide the middle (default: {AUTO_MAX_STEPS} when "
                            f"T > {AUTO_MAX_STEPS + 2}; 0 keeps all)")
    graph.add_argument("--all-tensors", action="store_true",
                       help="draw every intermediate tensor as a box (default: ops, hidden states, leaves only)")
    graph.add_argument("--grad-labels", action="store_true", help="write the gradient norm on every edge")
    graph.add_argument("--no-highlight", action="store_true", help="do not draw the hidden-state path in red")
    graph.add_argument("--no-legend", action="store_true", help="leave out the colour legend")
    graph.add_argument("--rankdir", choices=("LR", "TB"), default="LR", help="layout direction (default LR)")
    graph.add_argument("--title", default=None, help="caption (default: describes the model)")


def max_steps(text: str) -> int:
    """The argparse type of --max-steps: 0 (keep every step) or at least 2 (the first and the last)."""
    value = nonnegative(int)(text)
    if value == 1:
        raise argparse.ArgumentTypeError(f"expected 0 (keep all) or at least 2, got {shown(text)}")
    return value


def run(args: argparse.Namespace) -> int:
    """Draw the picture `args` describe."""
    print(f"wrote {graph_command(args)}")
    return 0



def graph_command(args: argparse.Namespace) -> str:
    """Build, run and draw the model described by `args`; returns the path written."""
    from .. import viz

    out = Path(args.out)
    if not out.parent.is_dir():
        raise CommandError(f"--out {args.out!r}: the folder {str(out.parent)!r} does not exist")
    loss, params = unrolled_loss(args.cell, args.steps, args.hidden, args.input_size, args.radius, args.loss,
                                 args.seed)
    max_steps = args.max_steps
    if max_steps is None:
        max_steps = AUTO_MAX_STEPS if args.steps > AUTO_MAX_STEPS + 2 else 0
    radius = "" if args.radius is None else f", W_hh = {args.radius:g} Q"
    title = args.title if args.title is not None else (
        f"{args.cell.upper()} unrolled over T={args.steps} steps (hidden size {args.hidden}{radius}); "
        f"loss = MSE of {'h_T' if args.loss == 'last' else 'every h_t'}")
    try:
        return viz.render(loss, out, params=params, collapse="timestep" if args.collapse else None,
                          max_steps=max_steps or None, intermediates=args.all_tensors,
                          grad_labels=args.grad_labels, highlight=None if args.no_highlight else "hidden",
                          legend=not args.no_legend, rankdir=args.rankdir, title=title)
    except viz.GraphvizNotFoundError as error:
        raise CommandError(f"{error} (--out {out.with_suffix('.dot').name} writes the DOT text without it)") from None
    except viz.RenderError as error:
        raise CommandError(str(error)) from None
    except OSError as error:
        raise CommandError(f"could not write {args.out!r}: {error.strerror or error}") from None


def unrolled_loss(cell: str, steps: int, hidden: int, input_size: int, radius: float | None, loss_kind: str,
                  seed: int) -> tuple[Any, dict[str, Any]]:
    """Forward and backward (keeping every gradient and the graph) through a small float64 model on random
    data; returns the loss and the named parameters."""
    import tinygrad_rnn as tg
    from tinygrad_rnn import nn

    nn.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell](input_size, hidden, dtype=np.float64)
    if radius is not None:
        set_recurrent_radius(model.weight_hh_l0, radius, rng)
    inputs = tg.Tensor(rng.standard_normal((steps, 1, input_size)))
    inputs.name = "x"
    with tg.keep_values():  # the picture shows the values of small intermediates
        output, state = model(inputs)
        last = state[0] if cell == "lstm" else state
        prediction = last if loss_kind == "last" else output
        target = tg.Tensor(rng.standard_normal(prediction.shape))
        target.name = "target"
        loss = ((prediction - target) ** 2).mean()
    loss.backward(retain_graph=True, retain_grads=True)
    return loss, {f"{cell}.{name}": parameter for name, parameter in model.named_parameters()}


def set_recurrent_radius(weight_hh: Any, radius: float, rng: np.random.Generator) -> None:
    """Overwrite W_hh, gate block by gate block (rows k*H:(k+1)*H), with radius * Q_k, Q_k random orthogonal."""
    from ..analysis import scaled_orthogonal

    rows, hidden = weight_hh.shape
    blocks = [scaled_orthogonal(hidden, radius, rng) for _ in range(rows // hidden)]
    weight_hh.data[...] = np.concatenate(blocks, axis=0)


