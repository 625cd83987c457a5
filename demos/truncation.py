"""Truncated BPTT, measured: the same tanh RNN trained with BPTT(k) for several k and with full BPTT, with the
recurrent weight started in the vanishing regime (W_hh = 0.5 Q) and in the exploding one (W_hh = 1.5 Q).

The task is delayed recall: the input is noise x_t ~ N(0, 1), the target at every step t >= d is x_{t-d}
(answering 0 scores MSE 1), so the model must carry each input d steps. BPTT(k) cuts the sequence into chunks
of k steps and detaches the hidden state between them (the forward pass is unchanged; the gradient of a loss
reaches back to the start of its chunk only); every run sums the chunks' gradients and takes one Adam step per
sequence, on the same sequences, so runs differ in their gradient alone.

Before training, the truncation meter (`tinygrad_rnn.analysis.truncations`) compares, for W_hh and the first
batch, the gradient that keeps lags 0 .. k-1 of every per-step loss with the full one: their cosine, and the
share of the credit at lags >= k that truncation throws away. Those numbers stand beside each curve.

    python demos/truncation.py                    # about a minute on 2 cores
    python demos/truncation.py --delay 10 --ks 4,8,16,32
"""

from __future__ import annotations

import os

# Set before numpy loads: small matrices, where BLAS threads cost more than they give (see char_rnn.py).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from _lab import lab_parser, outputs, report, save_figure  # noqa: E402
from tqdm import tqdm  # noqa: E402

import tinygrad_rnn as tg  # noqa: E402
from tinygrad_rnn import analysis, nn  # noqa: E402
from tinygrad_rnn.cli.arguments import Parser, comma_list, nonnegative, positive, refuse_larger  # noqa: E402
from tinygrad_rnn.nn.utils import clip_grad_norm_  # noqa: E402
from tinygrad_rnn.optim import Adam  # noqa: E402

FILES = ("truncation.png",)
RECURRENT = "rnn.weight_hh_l0"
SMOKE = {"steps": 12, "delay": 2, "ks": [1, 3], "hidden_size": 8, "batch_size": 4, "train_steps": 8}


def recall_batch(rng: np.random.Generator, steps: int, batch_size: int, delay: int) -> tuple[np.ndarray, np.ndarray]:
    """inputs (T, N, 1) ~ N(0, 1) and targets (T, N, 1): x_{t-d} at steps t >= d, 0 before (not scored)."""
    inputs = rng.standard_normal((steps, batch_size, 1))
    targets = np.zeros_like(inputs)
    targets[delay:] = inputs[:-delay]
    return inputs, targets


class Recaller(nn.Module):
    """A float64 tanh RNN with W_hh = radius Q (Q random orthogonal) and a linear readout at every step."""

    def __init__(self, hidden_size: int, radius: float, seed: int) -> None:
        super().__init__()
        nn.manual_seed(seed)
        self.rnn = nn.RNN(1, hidden_size, dtype=np.float64)
        self.rnn.weight_hh_l0.data[...] = analysis.scaled_orthogonal(hidden_size, radius, generator=seed)
        self.readout = nn.Linear(hidden_size, 1, dtype=np.float64)

    def forward(self, inputs: np.ndarray, hidden: tg.Tensor | None = None) -> tuple[tg.Tensor, tg.Tensor]:
        """Predictions (T, N, 1) and the last hidden state."""
        output, hidden = self.rnn(tg.Tensor(inputs), hidden)
        steps, batch, size = output.shape
        return self.readout(output.reshape(-1, size)).reshape(steps, batch, 1), hidden


def chunk_loss(predictions: tg.Tensor, targets: np.ndarray, first: int, delay: int, scored: int) -> tg.Tensor:
    """The chunk's part of the sequence's loss: the squared errors at its steps t >= d, over N x (T - d)."""
    scored_steps = (np.arange(first, first + predictions.shape[0]) >= delay).astype(np.float64)[:, None, None]
    return (((predictions - targets) ** 2) * scored_steps).sum() / scored


def train(radius: float, k: int, args: argparse.Namespace, bar: Any) -> dict[str, Any]:
    """Adam on a fresh Recaller with BPTT(k): the loss per sequence, and the first sequence's W_hh gradient."""
    model = Recaller(args.hidden_size, radius, args.seed)
    optimizer = Adam(model.named_parameters(), lr=args.lr)
    rng = np.random.default_rng(args.seed)
    scored = args.batch_size * (args.steps - args.delay)
    losses, first_gradient = [], None
    for _ in range(args.train_steps):
        inputs, targets = recall_batch(rng, args.steps, args.batch_size, args.delay)
        optimizer.zero_grad()
        hidden, total = None, 0.0
        for first in range(0, args.steps, k):
            predictions, hidden = model(inputs[first:first + k], hidden)
            loss = chunk_loss(predictions, targets[first:first + k], first, args.delay, scored)
            loss.backward()
            hidden = hidden.detach()  # the truncation: no gradient crosses into the previous chunk
            total += loss.item()
        if first_gradient is None:
            first_gradient = model.rnn.weight_hh_l0.grad.copy()
        clip_grad_norm_(model.parameters(), args.clip)
        optimizer.step()
        losses.append(total)
        bar.update()
    return {"losses": np.array(losses), "first_gradient": first_gradient}


def meter(radius: float, args: argparse.Namespace) -> list[analysis.Truncation]:
    """The truncation meter for W_hh at init on the first training batch, for every k in args.ks."""
    model = Recaller(args.hidden_size, radius, args.seed)
    inputs, targets = recall_batch(np.random.default_rng(args.seed), args.steps, args.batch_size, args.delay)
    predictions, _ = model(inputs)
    scored = args.batch_size * (args.steps - args.delay)
    losses = [None if step < args.delay else ((predictions[step] - targets[step]) ** 2).sum() / scored
              for step in range(args.steps)]
    reports = analysis.truncations(losses, {RECURRENT: model.rnn.weight_hh_l0}, list(args.ks))
    return [report[RECURRENT] for report in reports]


def cosine(first: np.ndarray, second: np.ndarray) -> float:
    return float(first.ravel() @ second.ravel() / (np.linalg.norm(first) * np.linalg.norm(second)))


def run(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """For each regime: the meter's reports before training and a training run for every k and for full BPTT."""
    regimes = {"vanishing": args.vanishing_radius, "exploding": args.exploding_radius}
    results = {}
    with tqdm(total=len(regimes) * (len(args.ks) + 1) * args.train_steps, desc="BPTT(k) and full BPTT",
              unit="update", disable=args.no_progress) as bar:
        for regime, radius in regimes.items():
            reports = meter(radius, args)
            runs = {k: train(radius, k, args, bar) for k in [*args.ks, args.steps]}
            full = runs[args.steps]
            results[regime] = {"radius": radius, "full": full, "rows": [
                {"k": k, "meter": report, "run": runs[k],
                 "chunked_cosine": cosine(runs[k]["first_gradient"], full["first_gradient"])}
                for k, report in zip(args.ks, reports)]}
    return results


def final_loss(run: dict[str, Any]) -> float:
    """The mean loss of the last 10% of the updates (one sequence's loss is noisy)."""
    return float(run["losses"][-max(1, len(run["losses"]) // 10):].mean())


def plot(results: dict[str, dict[str, Any]], args: argparse.Namespace, path: Path) -> Path:
    """One panel per regime: the loss of each BPTT(k) run and of full BPTT, the meter's numbers in the legend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(14, 7.2), sharey=True)
    window = max(1, min(10, args.train_steps // 10))
    colours = plt.get_cmap("viridis")(np.linspace(0.0, 0.85, len(args.ks)))
    for axis, (regime, result) in zip(axes, results.items()):
        for colour, row in zip(colours, result["rows"]):
            _curve(axis, row["run"], window, colour, 1.4,
                   f"BPTT({row['k']}): meter cos {row['meter'].cosine:.2f}, lost {row['meter'].share_beyond:.0%}; "
                   f"final {final_loss(row['run']):.3g}")
        full = final_loss(result["full"])
        _curve(axis, result["full"], window, "#d62728", 2.2, f"full BPTT (k = T = {args.steps}): final {full:.3g}",
               linestyle="--")
        axis.axhline(1.0, color="gray", linestyle=":", label="answer 0 always: MSE 1")
        ratios = ", ".join(f"k={row['k']} {final_loss(row['run']) / full:.2g}x" for row in result["rows"])
        axis.set_title(f"{regime} regime: W_hh = {result['radius']:g} Q at init\nfinal loss / full BPTT's: {ratios}",
                       fontsize=10)
        axis.set_xlabel("Adam update (one sequence each)")
        axis.grid(alpha=0.3, which="both")
        axis.legend(fontsize=8.5, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2)
    axes[0].set_ylabel(f"MSE of recalling x_(t-{args.delay}) (running mean of {window})")
    axes[0].set_yscale("log")
    figure.suptitle(f"Truncated BPTT on delayed recall (d = {args.delay}, T = {args.steps}, H = {args.hidden_size}); "
                    "legend: the truncation meter on W_hh's gradient before training (cosine with full BPTT's, "
                    "credit lost at lags >= k)", fontsize=10)
    figure.tight_layout()
    return save_figure(figure, path)


def _curve(axis: Any, run: dict[str, Any], window: int, colour: Any, width: float, label: str,
           linestyle: str = "-") -> None:
    smooth = np.convolve(run["losses"], np.ones(window) / window, mode="valid")
    axis.plot(np.arange(window, len(run["losses"]) + 1), smooth, color=colour, linewidth=width, label=label,
              linestyle=linestyle)


def build_parser() -> Parser:
    """The command line of this lab (its arguments, their types and bounds)."""
    parser = lab_parser("truncation", __doc__.splitlines()[0])
    parser.add_argument("--steps", type=positive(int, 2000), default=64, help="sequence length T (default 64)")
    parser.add_argument("--delay", type=positive(int, 2000), default=5,
                        help="d: the target at step t is the input at t - d (default 5)")
    parser.add_argument("--ks", type=comma_list(positive(int, 2000), at_most=10), default=[1, 2, 4, 8, 16],
                        help="truncation lengths k, each below --steps (full BPTT is always run too)")
    parser.add_argument("--vanishing-radius", type=positive(float, 100), default=0.5, help="W_hh = radius Q")
    parser.add_argument("--exploding-radius", type=positive(float, 100), default=1.5, help="W_hh = radius Q")
    parser.add_argument("--hidden-size", type=positive(int, 1024), default=32)
    parser.add_argument("--batch-size", type=positive(int, 4096), default=32)
    parser.add_argument("--train-steps", type=positive(int, 100_000), default=400, help="Adam updates per run")
    parser.add_argument("--lr", type=positive(float, 10), default=3e-3)
    parser.add_argument("--clip", type=positive(float), default=1.0, help="gradient-norm clipping threshold")
    parser.add_argument("--seed", type=nonnegative(int), default=0)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    if "--smoke" in argv:
        parser.set_defaults(**SMOKE)
    args = parser.parse_args(argv)
    if args.delay >= args.steps:
        parser.error(f"argument --delay: a delay of {args.delay} steps leaves nothing to score in a sequence of "
                     f"--steps {args.steps}; expected a delay shorter than the sequence")
    if max(args.ks) >= args.steps:
        parser.error(f"argument --ks: k = {max(args.ks)} does not truncate a sequence of --steps {args.steps}; "
                     "expected every k below the sequence length (full BPTT is run anyway)")
    args.ks = sorted(set(args.ks))
    refuse_larger(parser, 20_000_000, "numbers in one kind of array the graph holds",
                  {"--steps": args.steps, "--batch-size": args.batch_size, "--hidden-size": args.hidden_size})
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    (picture,) = outputs(build_parser(), args, FILES)
    results = run(args)
    report([(plot(results, args, picture), "each regime's loss curves for BPTT(k) and full BPTT; the legend holds "
             "the meter's cosine and lost credit before training")])
    print(f"delayed recall, d = {args.delay}, T = {args.steps}, H = {args.hidden_size}, {args.train_steps} Adam "
          f"updates (lr {args.lr:g}, clip {args.clip:g}); meter on W_hh at init; final = mean loss of the last 10%")
    print(f"{'regime':<10} {'k':>4} {'meter cos':>10} {'|trunc|/|full|':>15} {'lost credit':>12} {'chunked cos':>12} "
          f"{'final loss':>11} {'/ full':>8}")
    for regime, result in results.items():
        full = final_loss(result["full"])
        for row in result["rows"]:
            truncation = row["meter"]
            print(f"{regime:<10} {row['k']:>4} {truncation.cosine:>10.3f} {truncation.norm_ratio:>15.3g} "
                  f"{truncation.share_beyond:>12.1%} {row['chunked_cosine']:>12.3f} {final_loss(row['run']):>11.4g} "
                  f"{final_loss(row['run']) / full:>8.2f}")
        print(f"{regime:<10} {'full':>4} {1.0:>10.3f} {1.0:>15.3g} {0.0:>12.1%} {1.0:>12.3f} {full:>11.4g} "
              f"{1.0:>8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
