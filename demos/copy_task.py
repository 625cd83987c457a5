"""The copy memory task (Hochreiter & Schmidhuber 1997; Arjovsky, Shah & Bengio 2016): remember 10 symbols
for T steps, then say them back.

Symbols: 0 is blank, 1-8 are data, 9 is the delimiter. A sequence has T + 20 steps: 10 random data symbols,
T - 1 blanks, the delimiter, 10 blanks. The target is blank for the first T + 10 steps and then the 10 data
symbols in order. A model without memory can do no better than answer blank for T + 10 steps (they always are)
and guess uniformly among the 8 data symbols for the last 10, a cross-entropy averaged over the T + 20 steps of

    baseline = 10 ln 8 / (T + 20).

Beating it means carrying information across T + 10 steps. The tanh RNN, the LSTM and the GRU get equal
budgets: the same optimiser (Adam, the same learning rate and clipping), batches and number of steps, and about
the same number of parameters (the RNN's and the GRU's hidden sizes are chosen to match the LSTM's count). The
LSTM's forget gate starts with bias 1 (Gers et al. 2000; TensorFlow's and Keras's default; PyTorch's is 0, with
which this LSTM barely leaves the baseline in the same budget: try --forget-bias 0).

    python demos/copy_task.py                    # about 2 minutes on 2 cores
    python demos/copy_task.py --delay 20 --steps 5000
"""

from __future__ import annotations

import os

# Set before numpy loads: small matrices, where BLAS threads cost more than they give (see char_rnn.py).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from _lab import lab_parser, outputs, report, save_figure  # noqa: E402
from tqdm import tqdm  # noqa: E402

import tinygrad_rnn as tg  # noqa: E402
from tinygrad_rnn import nn  # noqa: E402
from tinygrad_rnn.cli.arguments import Parser, comma_list, finite, nonnegative, positive, refuse_larger  # noqa: E402
from tinygrad_rnn.nn.functional import cross_entropy  # noqa: E402
from tinygrad_rnn.nn.utils import clip_grad_norm_  # noqa: E402
from tinygrad_rnn.optim import Adam  # noqa: E402

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
NAMES = {"rnn": "tanh RNN", "lstm": "LSTM", "gru": "GRU"}
BLANK, DELIMITER, DATA_SYMBOLS, COPIED = 0, 9, 8, 10
VOCABULARY = DATA_SYMBOLS + 2  # inputs: blank, 8 data symbols, delimiter
CLASSES = DATA_SYMBOLS + 1  # answers: blank or a data symbol
FILES = ("copy_task.png",)
SMOKE = {"delay": 3, "steps": 40, "hidden_size": 12, "batch_size": 16, "test_size": 64}


def memoryless_baseline(delay: int) -> float:
    """The cross-entropy per step of the best model without memory: 10 uniform guesses among 8 symbols, over
    T + 20 steps."""
    return COPIED * math.log(DATA_SYMBOLS) / (delay + 2 * COPIED)


def copy_batch(rng: np.random.Generator, delay: int, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """inputs and targets, (T + 20, N) integer symbols: the data at steps 0-9, the delimiter at step T + 9, the
    data again as the answer at steps T + 10 .. T + 19, blank everywhere else."""
    length = delay + 2 * COPIED
    data = rng.integers(1, DATA_SYMBOLS + 1, (COPIED, batch_size))
    inputs = np.full((length, batch_size), BLANK)
    inputs[:COPIED] = data
    inputs[delay + COPIED - 1] = DELIMITER
    targets = np.full((length, batch_size), BLANK)
    targets[delay + COPIED:] = data
    return inputs, targets


class Copier(nn.Module):
    """A recurrent layer on one-hot symbols with a linear readout at every step.  (L, N) -> (L * N, 9) logits"""

    def __init__(self, cell: str, hidden_size: int, forget_bias: float = 0.0) -> None:
        super().__init__()
        self.rnn = CELLS[cell](VOCABULARY, hidden_size)
        self.readout = nn.Linear(hidden_size, CLASSES)
        if cell == "lstm":  # gate order i, f, g, o; only b_ih + b_hh matters
            forget = slice(hidden_size, 2 * hidden_size)
            self.rnn.bias_ih_l0.data[forget] = forget_bias
            self.rnn.bias_hh_l0.data[forget] = 0.0

    def forward(self, symbols: np.ndarray) -> tg.Tensor:
        one_hot = np.eye(VOCABULARY, dtype=np.float32)[symbols]
        output, _ = self.rnn(tg.Tensor(one_hot))
        return self.readout(output.reshape(-1, output.shape[-1]))


def parameter_count(cell: str, hidden_size: int) -> int:
    """How many numbers a Copier holds: the recurrent layer's and the readout's."""
    gates = {"rnn": 1, "lstm": 4, "gru": 3}[cell]
    return gates * hidden_size * (VOCABULARY + hidden_size + 2) + CLASSES * (hidden_size + 1)


def matched_hidden_size(cell: str, lstm_hidden_size: int) -> int:
    """The hidden size whose Copier has the parameter count closest to the LSTM's at `lstm_hidden_size`."""
    budget = parameter_count("lstm", lstm_hidden_size)
    return min(range(1, 4 * lstm_hidden_size + 2), key=lambda size: abs(parameter_count(cell, size) - budget))


def train_one(cell: str, args: argparse.Namespace) -> dict[str, Any]:
    """Train a fresh Copier; its loss per step, the held-out loss and the share of the 10 answers it gets right."""
    nn.manual_seed(args.seed)
    hidden_size = matched_hidden_size(cell, args.hidden_size)
    model = Copier(cell, hidden_size, args.forget_bias)
    optimizer = Adam(model.named_parameters(), lr=args.lr)
    rng = np.random.default_rng(args.seed)
    baseline = memoryless_baseline(args.delay)
    losses = []
    started = time.perf_counter()
    bar = tqdm(range(args.steps), desc=f"{NAMES[cell]} H={hidden_size}", unit="step", leave=False,
               disable=args.no_progress)
    for _ in bar:
        inputs, targets = copy_batch(rng, args.delay, args.batch_size)
        loss = cross_entropy(model(inputs), targets.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        clip_grad_norm_(model.parameters(), args.clip)
        optimizer.step()
        losses.append(loss.item())
        bar.set_postfix(loss_over_baseline=f"{loss.item() / baseline:.3f}", refresh=False)
    seconds = time.perf_counter() - started
    inputs, targets = copy_batch(np.random.default_rng(args.seed + 1), args.delay, args.test_size)
    with tg.no_grad():
        logits = model(inputs)
        test_loss = cross_entropy(logits, targets.reshape(-1)).item()
    answers = logits.data.reshape(targets.shape + (CLASSES,)).argmax(axis=-1)[-COPIED:]
    return {"cell": cell, "hidden_size": hidden_size, "parameters": parameter_count(cell, hidden_size),
            "losses": np.array(losses), "test_loss": test_loss, "fraction": test_loss / baseline,
            "recalled": float((answers == targets[-COPIED:]).mean()), "seconds": seconds}


def plot(results: list[dict[str, Any]], args: argparse.Namespace, path: Path) -> Path:
    """Training loss over the baseline against the step (a running mean of 25 steps), the baseline drawn at 1."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(9, 5.2))
    baseline = memoryless_baseline(args.delay)
    window = max(1, min(25, args.steps // 10))
    for index, result in enumerate(results):
        ratio = result["losses"] / baseline
        smooth = np.convolve(ratio, np.ones(window) / window, mode="valid")
        axis.semilogy(np.arange(window, len(ratio) + 1), smooth, color=f"C{index}", linewidth=1.6,
                      label=f"{NAMES[result['cell']]} (H={result['hidden_size']}, {result['parameters']:,} params): "
                            f"held-out {result['fraction']:.2f} x baseline, {result['recalled']:.0%} recalled")
    axis.axhline(1.0, color="black", linestyle="--", linewidth=1.2,
                 label=f"memoryless baseline 10 ln 8 / (T + 20) = {baseline:.4f} nats")
    axis.set_xlabel(f"Adam step (batch {args.batch_size}, lr {args.lr:g})")
    axis.set_ylabel(f"training cross-entropy / baseline (running mean of {window})")
    axis.grid(alpha=0.3, which="both")
    axis.legend(fontsize=8, loc="lower left")
    summary = ", ".join(f"{NAMES[result['cell']]} {result['fraction']:.2f}" for result in results)
    axis.set_title(f"Copy task, T = {args.delay}: final loss as a fraction of the baseline: {summary}", fontsize=11)
    figure.tight_layout()
    return save_figure(figure, path)


def build_parser() -> Parser:
    """The command line of this lab (its arguments, their types and bounds)."""
    parser = lab_parser("copy_task", __doc__.splitlines()[0])
    parser.add_argument("--delay", type=positive(int, 1000), default=10,
                        help="T: steps from the last data symbol to the delimiter (default 10)")
    parser.add_argument("--cells", type=comma_list(allowed=tuple(CELLS)), default=list(CELLS),
                        help="comma-separated: rnn,lstm,gru")
    parser.add_argument("--steps", type=positive(int, 1_000_000), default=2000, help="Adam steps per model")
    parser.add_argument("--hidden-size", type=positive(int, 1024), default=64,
                        help="the LSTM's hidden size; the others are matched to its parameter count")
    parser.add_argument("--batch-size", type=positive(int, 4096), default=64)
    parser.add_argument("--lr", type=positive(float, 10), default=2e-2)
    parser.add_argument("--clip", type=positive(float), default=1.0, help="gradient-norm clipping threshold")
    parser.add_argument("--forget-bias", type=finite(float), default=1.0, help="the LSTM's forget-gate bias at init")
    parser.add_argument("--test-size", type=positive(int, 100_000), default=1000, help="held-out sequences")
    parser.add_argument("--seed", type=nonnegative(int), default=0)
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    if "--smoke" in argv:
        parser.set_defaults(**SMOKE)
    args = parser.parse_args(argv)
    length = args.delay + 2 * COPIED
    for size, name in ((args.batch_size, "--batch-size"), (args.test_size, "--test-size")):
        refuse_larger(parser, 20_000_000, "numbers in one kind of array the graph holds",
                      {"T + 20": length, name: size, "--hidden-size x 4": 4 * args.hidden_size})
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    (picture,) = outputs(build_parser(), args, FILES)
    baseline = memoryless_baseline(args.delay)
    print(f"copy task: 10 of 8 symbols, delay T = {args.delay} (sequences of {args.delay + 2 * COPIED} steps); "
          f"memoryless baseline 10 ln 8 / (T + 20) = {baseline:.4f} nats per step")
    results = [train_one(cell, args) for cell in args.cells]
    report([(plot(results, args, picture), "training loss / baseline for each cell; below the dashed line means "
             "it remembers")])
    print(f"{'cell':<9} {'hidden':>6} {'params':>7} {'held-out loss':>13} {'/ baseline':>10} {'recalled':>9} "
          f"{'seconds':>8}")
    for result in results:
        print(f"{NAMES[result['cell']]:<9} {result['hidden_size']:>6} {result['parameters']:>7,} "
              f"{result['test_loss']:>13.4f} {result['fraction']:>10.3f} {result['recalled']:>9.1%} "
              f"{result['seconds']:>8.0f}")
    print(f"({args.steps} Adam steps each, batch {args.batch_size}, lr {args.lr:g}, clip {args.clip:g}, "
          f"LSTM forget bias {args.forget_bias:g}; recalled: "
          f"the share of the 10 answers right on {args.test_size} held-out sequences, chance 12.5%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
