"""`tinygrad-rnn graph`: build a small RNN/LSTM/GRU, run forward and backward on random data, draw the graph."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from .arguments import CommandError, file_name, nonnegative, positive, printable, shown

CELLS = ("rnn", "lstm", "gru")
FORMATS = ("svg", "png", "pdf", "dot", "gv", "jpg", "jpeg", "html")
MAX_STEPS, MAX_SIZE = 10_000, 1024
"""Bounds on --steps and --hidden/--input-size: the model is built before anything is drawn, and a picture holds
a few steps of it in any case (the rest elided), so larger values are refused at once."""


def add_parser(commands: Any) -> None:
    """Add `graph` and its options to the subcommands."""
    graph = commands.add_parser("graph", help="render the unrolled graph of a small RNN/LSTM/GRU with gradients",
                                description="Build a small recurrent model, run forward and backward on random "
                                            "data, and draw the unrolled graph with its gradients.")
    graph.add_argument("--cell", choices=CELLS, default="rnn", help="recurrent cell (default rnn)")
    graph.add_argument("--steps", type=positive(int, MAX_STEPS), default=5, help="sequence length T (default 5)")
    graph.add_argument("--hidden", type=positive(int, MAX_SIZE), default=3, help="hidden size (default 3)")
    graph.add_argument("--input-size", type=positive(int, MAX_SIZE), default=2, help="input features (default 2)")
    graph.add_argument("--layers", type=positive(int, 8), default=1, help="stacked layers (default 1)")
    graph.add_argument("--bidirectional", action="store_true", help="a forward and a reverse direction per layer")
    graph.add_argument("--radius", type=nonnegative(float), default=None,
                       help="set W_hh = radius * Q (Q random orthogonal; for LSTM/GRU each gate's block), so "
                            "spectral radius = largest singular value = radius: 0.5 fades, 1.5 explodes")
    graph.add_argument("--loss", choices=("last", "all"), default="last",
                       help="mean squared error of the last hidden state (default) or of every step's output")
    graph.add_argument("--seed", type=nonnegative(int), default=0,
                       help="seed for weights, inputs and targets (default 0)")
    graph.add_argument("--out", type=file_name(FORMATS), default=None,
                       help="output file; format from the suffix: svg, png, pdf, html (the interactive page), or "
                            "dot for the DOT text (default bptt.svg, or bptt.<format> with --format)")
    graph.add_argument("--format", choices=FORMATS, default=None, help="output format (default: from --out's suffix)")
    graph.add_argument("--collapse", action="store_true", help="one node per cell per step (the default)")
    graph.add_argument("--expand", action="store_true", help="draw every op of every step instead")
    graph.add_argument("--max-steps", type=max_steps, default=None,
                       help=f"keep the first and last steps, elide the middle (default {viz_auto()}; 0 keeps all)")
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


def viz_auto() -> int:
    """How many steps a picture keeps by default (the renderer's setting)."""
    from ..viz import AUTO_MAX_STEPS

    return AUTO_MAX_STEPS


def run(args: argparse.Namespace) -> int:
    """Draw the picture `args` describe."""
    print(f"wrote {printable(graph_command(args))}")
    return 0



def graph_command(args: argparse.Namespace) -> str:
    """Build, run and draw the model described by `args`; returns the path written."""
    from .. import viz

    out = Path(args.out or f"bptt.{args.format or 'svg'}")
    fmt = args.format or out.suffix.lstrip(".").lower()
    if args.format and out.suffix.lstrip(".").lower() != args.format:
        raise CommandError(f"--out {str(out)!r} and --format {args.format}: the file's suffix says another format")
    if args.collapse and args.expand:
        raise CommandError("--collapse and --expand: choose one")
    if not out.parent.is_dir():
        raise CommandError(f"--out {str(out)!r}: the folder {str(out.parent)!r} does not exist")
    if out.is_dir():
        raise CommandError(f"--out {str(out)!r}: is a folder")
    loss, params = unrolled_loss(args.cell, args.steps, args.hidden, args.input_size, args.radius, args.loss,
                                 args.seed, layers=args.layers, bidirectional=args.bidirectional)
    max_steps = "auto" if args.max_steps is None else (args.max_steps or None)
    radius = "" if args.radius is None else f", W_hh = {args.radius:g} Q"
    shape = f"{args.layers} layers, " if args.layers > 1 else ""
    shape += "bidirectional, " if args.bidirectional else ""
    title = args.title if args.title is not None else (
        f"{args.cell.upper()} unrolled over T={args.steps} steps ({shape}hidden size {args.hidden}{radius}); "
        f"loss = MSE of {'h_T' if args.loss == 'last' else 'every h_t'}")
    options = dict(params=params, collapse=None if args.expand else "timestep", max_steps=max_steps,
                   intermediates=args.all_tensors, grad_labels=args.grad_labels,
                   highlight=None if args.no_highlight else "hidden", legend=not args.no_legend,
                   rankdir=args.rankdir, title=title)
    try:
        if fmt == "html":
            return viz.to_html(loss, out, **options)
        return viz.render(loss, out, format=fmt, **options)
    except viz.GraphvizNotFoundError as error:
        raise CommandError(f"{error} (--out {out.with_suffix('.dot').name} writes the DOT text without it)") from None
    except (viz.RenderError, viz.PictureTooLargeError) as error:
        raise CommandError(str(error)) from None
    except OSError as error:
        raise CommandError(f"could not write {str(out)!r}: {error.strerror or error}") from None


def unrolled_loss(cell: str, steps: int, hidden: int, input_size: int, radius: float | None, loss_kind: str,
                  seed: int, layers: int = 1, bidirectional: bool = False) -> tuple[Any, dict[str, Any]]:
    """Forward and backward (keeping the graph) through a small float64 model on random data; returns the
    loss and the parameters, named `<cell>.<name>` as the layers' scopes are (`gru.weight_hh_l0`, `gru.l0`)."""
    import tinygrad_rnn as tg
    from tinygrad_rnn import nn

    nn.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell](input_size, hidden, num_layers=layers,
                                                                  bidirectional=bidirectional, dtype=np.float64)
    if radius is not None:
        for name, parameter in model.named_parameters():
            if name.startswith("weight_hh"):
                set_recurrent_radius(parameter, radius, rng)
    inputs = tg.Tensor(rng.standard_normal((steps, 1, input_size)))
    inputs.name = "x"
    with tg.keep_values():  # the picture and the page show the values of small intermediates
        output, state = model(inputs)
        last = state[0] if cell == "lstm" else state
        prediction = last if loss_kind == "last" else output
        target = tg.Tensor(rng.standard_normal(prediction.shape))
        target.name = "target"
        loss = ((prediction - target) ** 2).mean()
    loss.backward(retain_graph=True)  # the parameters' .grad, for a caller; the picture computes its own
    return loss, {f"{cell}.{name}": parameter for name, parameter in model.named_parameters()}


def set_recurrent_radius(weight_hh: Any, radius: float, rng: np.random.Generator) -> None:
    """Overwrite W_hh, gate block by gate block (rows k*H:(k+1)*H), with radius * Q_k, Q_k random orthogonal."""
    from ..analysis import scaled_orthogonal

    rows, hidden = weight_hh.shape
    blocks = [scaled_orthogonal(hidden, radius, rng) for _ in range(rows // hidden)]
    weight_hh.data[...] = np.concatenate(blocks, axis=0)


