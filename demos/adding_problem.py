"""The adding problem (Hochreiter & Schmidhuber 1997; Le, Jaitly & Hinton 2015): a test of long memory.

Each input step is a pair (value, marker): values are uniform in [0, 1], and exactly two steps are marked, one
in the first half of the sequence and one in the second. The target, read from the last hidden state, is the
sum of the two marked values. Predicting the mean, 1, gives MSE Var(u1 + u2) = 2/12 = 0.167: the baseline
every model must beat. The first marked value lies at least T/2 steps back, so the gradient that would teach
the model to remember it has to travel that far: a tanh RNN struggles as T grows, LSTM and GRU do not.

    python demos/adding_problem.py                     # RNN, LSTM and GRU at T = 50
    python demos/adding_problem.py --lengths 50,100 --cells rnn,lstm
"""

from __future__ import annotations

import os

# Set before numpy loads: small matrices, where BLAS threads cost more than they give (see char_rnn.py).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

import tinygrad_rnn as tg  # noqa: E402
from tinygrad_rnn import nn  # noqa: E402
from tinygrad_rnn.cli.arguments import Parser, comma_list, nonnegative, positive, refuse_larger  # noqa: E402
from tinygrad_rnn.nn.functional import mse_loss  # noqa: E402
from tinygrad_rnn.nn.utils import clip_grad_norm_  # noqa: E402
from tinygrad_rnn.optim import Adam  # noqa: E402

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
BASELINE_MSE = 2 / 12  # predict 1 always: Var(u1 + u2) for u1, u2 ~ U(0, 1)
SMOKE = {"lengths": [10], "cells": ["lstm"], "steps": 300, "hidden_size": 16, "batch_size": 32, "test_size": 256}


def adding_batch(rng: np.random.Generator, length: int, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """inputs (T, N, 2) of (value, marker) pairs and targets (N, 1) = the sum of the two marked values."""
    values = rng.uniform(0.0, 1.0, (length, batch_size))
    markers = np.zeros((length, batch_size))
    half = length // 2
    columns = np.arange(batch_size)
    first, second = rng.integers(0, half, batch_size), rng.integers(half, length, batch_size)
    markers[first, columns] = markers[second, columns] = 1.0
    targets = values[first, columns] + values[second, columns]
    return np.stack([values, markers], axis=-1).astype(np.float32), targets[:, None].astype(np.float32)


class Adder(nn.Module):
    """A recurrent layer read out from its last hidden state.  (T, N, 2) -> (N, 1)"""

    def __init__(self, cell: str, hidden_size: int) -> None:
        super().__init__()
        self.rnn = CELLS[cell](2, hidden_size)
        self.readout = nn.Linear(hidden_size, 1)

    def forward(self, inputs: np.ndarray) -> tg.Tensor:
        output, _ = self.rnn(tg.Tensor(inputs))
        return self.readout(output[-1])


def train_one(cell: str, length: int, args: argparse.Namespace) -> tuple[float, float]:
    """Train a fresh model; return (test MSE, seconds)."""
    nn.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    test_inputs, test_targets = adding_batch(np.random.default_rng(args.seed + 1), length, args.test_size)
    model = Adder(cell, args.hidden_size)
    optimizer = Adam(model.named_parameters(), lr=args.lr)
    started = time.perf_counter()
    bar = tqdm(range(args.steps), desc=f"{cell} T={length}", unit="step", disable=args.no_progress, leave=False)
    for _ in bar:
        inputs, targets = adding_batch(rng, length, args.batch_size)
        loss = mse_loss(model(inputs), targets)
        optimizer.zero_grad()
        loss.backward()
        clip_grad_norm_(model.parameters(), args.clip)
        optimizer.step()
        bar.set_postfix(mse=f"{loss.item():.4f}", refresh=False)
    with tg.no_grad():
        test_mse = mse_loss(model(test_inputs), test_targets).item()
    return test_mse, time.perf_counter() - started


def run(args: argparse.Namespace) -> list[dict[str, float | str | int]]:
    """Train every (length, cell) pair and print the table; returns its rows."""
    print(f"adding problem: {args.steps} Adam steps of batch {args.batch_size}, hidden {args.hidden_size}; "
          f"baseline (always predict 1) MSE = {BASELINE_MSE:.3f}")
    rows = []
    for length in args.lengths:
        for cell in args.cells:
            test_mse, seconds = train_one(cell, length, args)
            rows.append({"cell": cell, "length": length, "mse": test_mse, "seconds": seconds})
            print(f"  {cell:>4}  T={length:<4d} test MSE {test_mse:.4f}  baseline/MSE {BASELINE_MSE / test_mse:6.1f}x"
                  f"  {'beats the baseline 10x' if test_mse < BASELINE_MSE / 10 else '':<22}  ({seconds:.0f} s)")
    return rows


def build_parser() -> Parser:
    """The command line of this script (its arguments, their types and bounds)."""
    parser = Parser(prog="adding_problem.py", description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=comma_list(positive(int, 2000), at_most=20), default=[50],
                        help="sequence lengths T, e.g. 50,100")
    parser.add_argument("--cells", type=comma_list(allowed=tuple(CELLS)), default=list(CELLS),
                        help="comma-separated: rnn,lstm,gru")
    parser.add_argument("--steps", type=positive(int, 1_000_000), default=1000)
    parser.add_argument("--hidden-size", type=positive(int, 2048), default=32)
    parser.add_argument("--batch-size", type=positive(int, 4096), default=64)
    parser.add_argument("--lr", type=positive(float, 10), default=1e-2)
    parser.add_argument("--clip", type=positive(float), default=1.0)
    parser.add_argument("--test-size", type=positive(int, 100_000), default=1000)
    parser.add_argument("--seed", type=nonnegative(int), default=0)
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="LSTM at T=10 only, for tests (seconds)")
    return parser


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    if "--smoke" in argv:
        parser.set_defaults(**SMOKE)
    args = parser.parse_args(argv)
    if min(args.lengths) < 2:
        parser.error(f"argument --lengths: every T must be at least 2 (two marked steps), got {args.lengths}")
    refuse_larger(parser, 20_000_000, "numbers in one kind of array the graph holds",
                  {"T": max(args.lengths), "--batch-size": args.batch_size, "--hidden-size": args.hidden_size})
    return args


def main(argv: list[str] | None = None) -> int:
    run(parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
