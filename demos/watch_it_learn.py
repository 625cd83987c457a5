"""Watch it learn: the gradient flow through time of a small model, recorded as it trains, in a page to scrub.

An LSTM (or --cell rnn / gru) learns the adding problem (see adding_problem.py). `analysis.FlowRecorder(model,
every=N)` stands in for `loss.backward()` and for clipping: every N-th training step it notes ||dL/dh_t|| (and
an LSTM's ||dL/dc_t||) at every time step, the loss and the gradient norm before and after clipping, and
changes nothing else. The interactive page (`viz.to_html`) draws the trained model's graph on one sequence; its
training slider moves through the recorded steps and recolours the time steps by the gradient that reached
them then. At first the answer's gradient fades within a few steps; as the model learns to carry the marked
values, it learns to carry their gradient back too.

    python demos/watch_it_learn.py                 # about a minute on 2 cores; open out/watch_it_learn.html
    python demos/watch_it_learn.py --cell rnn --every 10
"""

import os

# (No `from __future__ import annotations`: the dataclasses below must work in a module the tests load by path.)
# Set before numpy loads: small matrices, where BLAS threads cost more than they give (see char_rnn.py).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import sys  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from _lab import lab_parser, outputs, report, save_figure, sibling  # noqa: E402
from tqdm import tqdm  # noqa: E402

import tinygrad_rnn as tg  # noqa: E402
from tinygrad_rnn import analysis, nn, viz  # noqa: E402
from tinygrad_rnn.analysis import plots  # noqa: E402
from tinygrad_rnn.cli.arguments import Parser, nonnegative, positive, refuse_larger  # noqa: E402
from tinygrad_rnn.nn.functional import mse_loss  # noqa: E402
from tinygrad_rnn.optim import Adam  # noqa: E402

adding_problem = sibling("adding_problem")

FILES = ("watch_it_learn.html", "watch_it_learn.png")
NAMES = {"rnn": "tanh RNN", "lstm": "LSTM", "gru": "GRU"}
SMOKE = {"length": 8, "hidden_size": 4, "steps": 30, "every": 10, "batch_size": 8}


@dataclass
class Trained:
    """The trained model, its recorder, the test MSE, and the loss whose graph the page draws."""

    model: Any
    recorder: analysis.FlowRecorder
    test_mse: float
    page_loss: tg.Tensor


def train(args: argparse.Namespace) -> Trained:
    """Train on the adding problem with a FlowRecorder; the loss of one test sequence, its graph kept."""
    nn.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    model = adding_problem.Adder(args.cell, args.hidden_size)
    optimizer = Adam(model.named_parameters(), lr=1e-2)
    recorder = analysis.FlowRecorder(model, every=args.every)
    bar = tqdm(range(args.steps), desc=f"{NAMES[args.cell]} T={args.length}", unit="step", dynamic_ncols=True)
    for _ in bar:
        inputs, targets = adding_problem.adding_batch(rng, args.length, args.batch_size)
        loss = mse_loss(model(inputs), targets)
        optimizer.zero_grad()
        recorder.backward(loss)  # loss.backward(), noting ||dL/dh_t|| every `every` steps
        recorder.clip(1.0)       # clip_grad_norm_(model.parameters(), 1.0), noting the norm after
        optimizer.step()
        bar.set_postfix(mse=f"{loss.item():.4f}", refresh=False)
    test_inputs, test_targets = adding_problem.adding_batch(np.random.default_rng(args.seed + 1), args.length, 1000)
    with tg.no_grad():
        test_mse = mse_loss(model(test_inputs), test_targets).item()
    with tg.keep_values():  # the page shows the values of the small tensors of one sequence
        inputs, targets = adding_problem.adding_batch(np.random.default_rng(args.seed + 2), args.length, 1)
        page_loss = mse_loss(model(inputs), targets)
    return Trained(model, recorder, test_mse, page_loss)


def reach(snapshot: analysis.FlowSnapshot) -> float:
    """||dL/dh_0|| / ||dL/dh_(T-1)|| of the first layer: how much of the answer's gradient reaches the start."""
    norms = next(iter(snapshot.hidden.values()))
    return float(norms[0] / norms[-1]) if norms[-1] > 0 else 0.0


# ---- command line -------------------------------------------------------------------------------------------

def build_parser() -> Parser:
    """The command line of this script (its arguments, their types and bounds)."""
    parser = lab_parser("watch_it_learn", __doc__.splitlines()[0])
    parser.add_argument("--cell", choices=tuple(NAMES), default="lstm", help="recurrent cell (lstm)")
    parser.add_argument("--length", type=positive(int, 500), default=30, help="adding problem: T (30)")
    parser.add_argument("--hidden-size", type=positive(int, 512), default=16)
    parser.add_argument("--steps", type=positive(int, 100_000), default=1000, help="Adam steps (1000)")
    parser.add_argument("--every", type=positive(int, 100_000), default=20, help="record every N steps (20)")
    parser.add_argument("--batch-size", type=positive(int, 1024), default=32)
    parser.add_argument("--seed", type=nonnegative(int), default=0)
    return parser


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    if "--smoke" in argv:
        parser.set_defaults(**SMOKE)
    args = parser.parse_args(argv)
    if args.length < 2:
        parser.error(f"argument --length: the adding problem needs T of at least 2 (two marked steps), got "
                     f"{args.length}")
    if args.every >= args.steps:
        parser.error(f"argument --every: {args.every} records only the first of --steps {args.steps}; the page "
                     "needs two snapshots or more to scrub through, so pass a smaller --every")
    refuse_larger(parser, 20_000_000, "numbers in one kind of array the graph holds",
                  {"--length": args.length, "--batch-size": args.batch_size, "--hidden-size": args.hidden_size})
    return args


def run(args: argparse.Namespace) -> tuple[Trained, list[tuple[Path, str]]]:
    """Train, then write the page and the picture; returns the trained model (and its recorder) and the files."""
    page_path, picture_path = outputs(build_parser(), args, FILES)
    trained = train(args)
    snapshots = trained.recorder.snapshots
    name = NAMES[args.cell]
    title = (f"{name} learning the adding problem (T={args.length}, hidden {args.hidden_size}): move the training "
             f"slider through {len(snapshots)} recorded steps")
    params = dict(trained.model.named_parameters())
    viz.to_html(trained.page_loss, page_path, params=params, snapshots=snapshots, title=title)
    picture = plots.plot_flow_over_training(snapshots, title=f"{name} learning the adding problem (T={args.length}, "
                                                             f"hidden {args.hidden_size}), recorded every "
                                                             f"{args.every} steps")
    written = [(page_path, "the page: drag 'training' to scrub through the recorded steps, hover a step for its "
                           "||dL/dh_t||, click a hidden state for its paths to the loss"),
               (save_figure(picture, picture_path), "the same recordings at once: rows are training steps, "
                                                    "columns time steps; below, the loss and the gradient norm")]
    return trained, written


def summary(args: argparse.Namespace, trained: Trained, written: list[tuple[Path, str]]) -> None:
    """Print the measured numbers and the files written."""
    snapshots, name = trained.recorder.snapshots, NAMES[args.cell]
    first, last = snapshots[0], snapshots[-1]
    print(f"\n{name}, adding problem T={args.length}, hidden {args.hidden_size}: {args.steps} Adam steps, "
          f"{len(snapshots)} snapshots (every {args.every})")
    print(f"  training loss: {first.loss:.4f} at step {first.step} -> {last.loss:.4f} at step {last.step}; test MSE "
          f"{trained.test_mse:.4f} (baseline {adding_problem.BASELINE_MSE:.3f})")
    print(f"  ||dL/dh_0|| / ||dL/dh_(T-1)||: {reach(first):.3g} at step {first.step} -> {reach(last):.3g} at "
          f"step {last.step}")
    report(written)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        summary(args, *run(args))
    except viz.GraphvizNotFoundError as error:
        print(f"watch_it_learn.py: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
