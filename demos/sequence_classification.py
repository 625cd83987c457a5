"""Sequence classification with variable-length batches: the parity of bit strings of random lengths.

Each example is a string of bits (+1 or -1) whose length is drawn from [--min-length, --max-length]; its class is
the parity of its +1 bits (with --task sum-sign: whether its values, drawn from N(0, 1), add up to more than 0).
A batch is padded with pad_sequence and packed with pack_padded_sequence, so the recurrent layer runs each
sequence for its own length and h_n holds each sequence's state at its own last step; a linear readout of h_n
gives the class. The majority baseline (always answer the most frequent class) is what learning nothing scores.

The same model trained on the padded batch without packing (--modes packed,padded) reads h_n after the padding:
for parity the answer must then survive up to T - 1 steps of zeros, and the model has to learn that first.

    python demos/sequence_classification.py                     # GRU, parity, lengths 1-30, packed and padded
    python demos/sequence_classification.py --task sum-sign --cell lstm --modes packed
"""

from __future__ import annotations

import os

# Set before numpy loads: small matrices, where BLAS threads cost more than they give (see char_rnn.py).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from _lab import lab_parser, outputs, report  # noqa: E402
from tqdm import tqdm  # noqa: E402

import tinygrad_rnn as tg  # noqa: E402
from tinygrad_rnn import nn, viz  # noqa: E402
from tinygrad_rnn.cli.arguments import Parser, comma_list, nonnegative, positive, refuse_larger  # noqa: E402
from tinygrad_rnn.nn.functional import cross_entropy  # noqa: E402
from tinygrad_rnn.nn.utils import clip_grad_norm_  # noqa: E402
from tinygrad_rnn.nn.utils.rnn import pack_padded_sequence, pad_sequence  # noqa: E402
from tinygrad_rnn.optim import Adam  # noqa: E402

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
TASKS = ("parity", "sum-sign")
MODES = {"packed": "packed: h_n at each sequence's own last step",
         "padded": "padded, no packing: h_n after the padding"}
SMOKE = {"max_length": 8, "steps": 150, "hidden_size": 16, "test_size": 300, "modes": ["packed"]}
GRAPH_LENGTHS = (2, 4, 1)  # the tiny batch drawn: unsorted, so its rows are sorted and sorted back
GRAPH_FILES = ("sequence_classification_graph.svg", "sequence_classification_graph.png")


def make_examples(rng: np.random.Generator, task: str, lengths: Sequence[int]) -> tuple[list[np.ndarray], np.ndarray]:
    """Sequences (L_i, 1) of the given lengths and their classes (0 or 1)."""
    if task == "parity":
        sequences = [rng.choice(np.array([-1.0, 1.0], dtype=np.float32), (length, 1)) for length in lengths]
        labels = np.array([int((sequence > 0).sum()) % 2 for sequence in sequences])
    else:
        sequences = [rng.standard_normal((length, 1)).astype(np.float32) for length in lengths]
        labels = np.array([int(sequence.sum() > 0) for sequence in sequences])
    return sequences, labels


class Classifier(nn.Module):
    """A recurrent layer over a batch of variable-length sequences, read out from its final state h_n."""

    def __init__(self, cell: str, hidden_size: int, packed: bool) -> None:
        super().__init__()
        self.packed = packed
        self.rnn = CELLS[cell](1, hidden_size, batch_first=True)
        self.readout = nn.Linear(hidden_size, 2)

    def forward(self, sequences: list[np.ndarray]) -> tg.Tensor:
        """Logits (N, 2) of the sequences (L_i, 1)."""
        padded = pad_sequence([tg.Tensor(sequence) for sequence in sequences], batch_first=True)  # (N, T, 1)
        if self.packed:
            lengths = [len(sequence) for sequence in sequences]
            padded = pack_padded_sequence(padded, lengths, batch_first=True, enforce_sorted=False)
        _, h_n = self.rnn(padded)
        h_n = h_n[0] if isinstance(h_n, tuple) else h_n  # the LSTM's (h_n, c_n)
        return self.readout(h_n[-1])


def accuracy_by_length(correct: np.ndarray, lengths: np.ndarray, buckets: int = 4) -> list[tuple[str, float]]:
    """(lengths 'a-b', accuracy) for `buckets` ranges of lengths of about equal width."""
    edges = np.unique(np.linspace(lengths.min(), lengths.max() + 1, buckets + 1).astype(int))
    rows = []
    for low, high in zip(edges[:-1], edges[1:]):
        inside = (lengths >= low) & (lengths < high)
        if inside.any():
            rows.append((f"{low}-{high - 1}" if high - 1 > low else f"{low}", float(correct[inside].mean())))
    return rows


def random_examples(rng: np.random.Generator, args: argparse.Namespace,
                    count: int) -> tuple[list[np.ndarray], np.ndarray]:
    """`count` examples of lengths drawn uniformly from [--min-length, --max-length]."""
    return make_examples(rng, args.task, rng.integers(args.min_length, args.max_length + 1, count))


def train_one(mode: str, args: argparse.Namespace) -> dict:
    """Train a fresh model on batches of `mode` ('packed' or 'padded'); its test accuracy and more."""
    nn.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    test_sequences, test_labels = random_examples(np.random.default_rng(args.seed + 1), args, args.test_size)
    model = Classifier(args.cell, args.hidden_size, packed=mode == "packed")
    optimizer = Adam(model.named_parameters(), lr=args.lr)
    started = time.perf_counter()
    bar = tqdm(range(args.steps), desc=mode, unit="step", disable=args.no_progress, leave=False)
    for _ in bar:
        sequences, labels = random_examples(rng, args, args.batch_size)
        loss = cross_entropy(model(sequences), labels)
        optimizer.zero_grad()
        loss.backward()
        clip_grad_norm_(model.parameters(), args.clip)
        optimizer.step()
        bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
    with tg.no_grad():
        correct = model(test_sequences).data.argmax(axis=1) == test_labels
    lengths = np.array([len(sequence) for sequence in test_sequences])
    return {"mode": mode, "accuracy": float(correct.mean()), "by_length": accuracy_by_length(correct, lengths),
            "seconds": time.perf_counter() - started, "model": model}


def draw_graph(model: Classifier, args: argparse.Namespace, paths: list[Path]) -> list[tuple[Path, str]]:
    """The unrolled graph of `model` on a tiny packed batch, one file per path."""
    sequences, labels = make_examples(np.random.default_rng(args.seed), args.task, GRAPH_LENGTHS)
    with tg.keep_values():
        loss = cross_entropy(model(sequences), labels)
    loss.backward(retain_graph=True, retain_grads=True)
    params = {f"classifier.{name}": parameter for name, parameter in model.named_parameters()}
    ends = sorted({length - 1 for length in GRAPH_LENGTHS})
    title = (f"{args.cell.upper()} on a packed batch of lengths {', '.join(map(str, GRAPH_LENGTHS))}: step t runs on "
             f"the sequences still running; h_n takes each one's state at its own last step, "
             f"t={', '.join(map(str, ends))}")
    for path in paths:
        viz.render(loss, path, params=params, highlight="hidden", title=title)
    return [(path, "the unrolled graph: which steps each sequence reaches, and where its final state is taken")
            for path in paths]


def run(args: argparse.Namespace, graph_paths: list[Path]) -> list[dict]:
    """Train a model per mode and print the table; returns its rows."""
    print(f"sequence classification: {args.task} of sequences of lengths {args.min_length}-{args.max_length}; "
          f"{args.cell.upper()} hidden {args.hidden_size}, {args.steps} Adam steps of batch {args.batch_size}")
    _, test_labels = random_examples(np.random.default_rng(args.seed + 1), args, args.test_size)
    baseline = max(test_labels.mean(), 1 - test_labels.mean())
    print(f"  majority baseline (always the most frequent class): {baseline:.1%} of {args.test_size} test sequences")
    rows = []
    for mode in args.modes:
        row = train_one(mode, args)
        row["baseline"] = baseline
        rows.append(row)
        buckets = "  ".join(f"{lengths}: {accuracy:.0%}" for lengths, accuracy in row["by_length"])
        print(f"  {MODES[mode]:<45} accuracy {row['accuracy']:6.1%} ({100 * (row['accuracy'] - baseline):+.1f} "
              f"points over the baseline; by length {buckets}) ({row['seconds']:.0f} s)")
    if graph_paths:
        packed = next((row["model"] for row in rows if row["mode"] == "packed"), None)
        try:
            report(draw_graph(packed or Classifier(args.cell, args.hidden_size, packed=True), args, graph_paths))
        except viz.GraphvizNotFoundError as error:
            print(f"  no graph drawn: {error}")
    return rows


def build_parser() -> Parser:
    """The command line of this script (its arguments, their types and bounds)."""
    parser = lab_parser("sequence_classification", __doc__.splitlines()[0])
    parser.add_argument("--task", choices=TASKS, default="parity", help="parity (default) or sum-sign")
    parser.add_argument("--cell", choices=tuple(CELLS), default="gru")
    parser.add_argument("--modes", type=comma_list(allowed=tuple(MODES)), default=list(MODES),
                        help="comma-separated: packed,padded (default both)")
    parser.add_argument("--min-length", type=positive(int, 1000), default=1)
    parser.add_argument("--max-length", type=positive(int, 1000), default=30)
    parser.add_argument("--steps", type=positive(int, 100_000), default=800)
    parser.add_argument("--hidden-size", type=positive(int, 1024), default=32)
    parser.add_argument("--batch-size", type=positive(int, 4096), default=32)
    parser.add_argument("--lr", type=positive(float, 10), default=1e-2)
    parser.add_argument("--clip", type=positive(float), default=1.0)
    parser.add_argument("--test-size", type=positive(int, 100_000), default=1000)
    parser.add_argument("--seed", type=nonnegative(int), default=0)
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--no-graph", action="store_true", help="do not draw the unrolled graph")
    return parser


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    if "--smoke" in argv:
        parser.set_defaults(**SMOKE)
    args = parser.parse_args(argv)
    if args.min_length > args.max_length:
        parser.error(f"argument --min-length: {args.min_length} is more than --max-length {args.max_length}")
    refuse_larger(parser, 20_000_000, "numbers in one kind of array the graph holds",
                  {"--max-length": args.max_length, "--batch-size": args.batch_size, "--hidden-size": args.hidden_size})
    refuse_larger(parser, 20_000_000, "numbers in the test batch's arrays",
                  {"--max-length": args.max_length, "--test-size": args.test_size, "--hidden-size": args.hidden_size})
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    graph_paths = [] if args.no_graph else outputs(build_parser(), args, GRAPH_FILES)
    run(args, graph_paths)
    return 0


if __name__ == "__main__":
    sys.exit(main())
