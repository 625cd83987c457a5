"""Memory horizon: how far back a trained model's output still depends on its input.

Trains a tanh RNN, an LSTM and a GRU on the adding problem (see adding_problem.py), then measures each one's
connectivity map M[t, s] = ||dy_t / dx_s|| (`tinygrad_rnn.analysis.connectivity`) on a probe twice the training
length, where y_t = readout(h_t) is the answer the model would give if the sequence ended at step t. The
horizon (`analysis.horizon`) is the largest lag t - s at which the map is still 1% of its diagonal. The first
marked value lies T/2 to T - 1 steps back, so a model whose horizon is shorter cannot solve the task.

Then a character-level RNN (see char_rnn.py) is trained briefly on the standard library's docstrings and mapped
on a held-out sentence, with the characters on the axes: entry [t, s] is ||dL_t / dx_s||, how much the loss of
predicting character t + 1 depends on (the embedding of) character s.

    python demos/memory_horizon.py                 # about 2 minutes on 2 cores
    python demos/memory_horizon.py --length 100 --steps 2000
"""

import os

# (No `from __future__ import annotations`: the dataclasses below must work in a module the tests load by path.)
# Set before numpy loads: small matrices, where BLAS threads cost more than they give (see char_rnn.py).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from _lab import lab_parser, outputs, report, save_figure, sibling  # noqa: E402
from tqdm import tqdm  # noqa: E402

import tinygrad_rnn as tg  # noqa: E402
from tinygrad_rnn import analysis, nn  # noqa: E402
from tinygrad_rnn.cli.arguments import Parser, nonnegative, positive, refuse_larger  # noqa: E402
from tinygrad_rnn.nn.functional import mse_loss  # noqa: E402
from tinygrad_rnn.nn.utils import clip_grad_norm_  # noqa: E402
from tinygrad_rnn.optim import Adam  # noqa: E402

adding_problem = sibling("adding_problem")
char_rnn = sibling("char_rnn")

CELLS = {"rnn": "tanh RNN", "lstm": "LSTM", "gru": "GRU"}
FILES = ("memory_horizon.png", "memory_horizon_char.png")
SMOKE = {"length": 10, "steps": 40, "hidden_size": 8, "batch_size": 16, "char_steps": 15, "char_hidden": 16,
         "char_chars": 40_000}
FLOOR = 1e-4  # the colour scale's bottom, as a fraction of the diagonal: below it reads as "nothing"


@dataclass
class Mapped:
    """One model's connectivity map and what it says."""

    label: str
    matrix: np.ndarray
    horizon: int
    loss: float
    model: Any
    inputs: np.ndarray  # what the map was measured on (for the char-RNN: the embedded characters)


@dataclass
class Result:
    """What a run measured and wrote."""

    adders: list[Mapped]
    char: Mapped
    sentence: str
    char_ids: np.ndarray
    entropy: float
    written: list[tuple[Path, str]]


# ---- the adding problem -------------------------------------------------------------------------------------

def train_adder(cell: str, args: argparse.Namespace, bar: Any) -> tuple[Any, float]:
    """A fresh Adder trained with Adam on the adding problem at length T; returns it and its test MSE."""
    nn.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    model = adding_problem.Adder(cell, args.hidden_size)
    optimizer = Adam(model.named_parameters(), lr=1e-2)
    bar.set_description(f"training {CELLS[cell]}")
    for _ in range(args.steps):
        inputs, targets = adding_problem.adding_batch(rng, args.length, args.batch_size)
        loss = mse_loss(model(inputs), targets)
        optimizer.zero_grad()
        loss.backward()
        clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        bar.set_postfix(mse=f"{loss.item():.4f}", refresh=False)
        bar.update(1)
    test_inputs, test_targets = adding_problem.adding_batch(np.random.default_rng(args.seed + 1), args.length, 1000)
    with tg.no_grad():
        return model, mse_loss(model(test_inputs), test_targets).item()


def probes(args: argparse.Namespace) -> np.ndarray:
    """32 adding-problem sequences of length `probe_length` (float64), the maps' inputs."""
    inputs, _ = adding_problem.adding_batch(np.random.default_rng(args.seed + 2), args.probe_length, 32)
    return inputs.astype(np.float64)


def answers(model: Any, inputs: Any) -> tg.Tensor:
    """y_t = readout(h_t) for every step: (T, N, 1)."""
    hidden, _ = model.rnn(inputs if isinstance(inputs, tg.Tensor) else tg.Tensor(inputs))
    return model.readout(hidden)


def adder_map(model: Any, inputs: np.ndarray) -> np.ndarray:
    """M[t, s] = ||d readout(h_t) / d x_s|| on the probes, in float64."""
    model.double()
    leaf = tg.Tensor(inputs, requires_grad=True)
    return analysis.connectivity(answers(model, leaf), leaf)


# ---- the char-RNN -------------------------------------------------------------------------------------------

def held_out_sentence(text: str, longest: int) -> str:
    """The first sentence of the held-out text made of letters, spaces and commas alone (fits on the axes)."""
    found = re.search(rf"(?<![A-Za-z])[A-Z][a-z][a-z ,]{{20,{max(20, longest - 3)}}}\.", text)
    return found.group() if found else text[:longest]


def char_map(args: argparse.Namespace, bar: Any) -> tuple[Mapped, str, np.ndarray, float]:
    """Train a char-RNN briefly; its map on a held-out sentence, the sentence and its ids, and the unigram
    entropy."""
    train_text, held_out_text = char_rnn.stdlib_docstrings(args.char_chars)
    vocab = "".join(sorted(set(train_text) | set(held_out_text)))
    lookup = {char: index for index, char in enumerate(vocab)}
    train_ids = np.array([lookup[char] for char in train_text], dtype=np.int64)
    streams = char_rnn.as_streams(train_ids, 32)
    nn.manual_seed(args.seed)
    model = char_rnn.CharModel(len(vocab), "rnn", args.char_hidden, 32, 1)
    optimizer = Adam(model.named_parameters(), lr=3e-3)
    bar.set_description("training the char-RNN")
    position, state = 0, None
    for _ in range(args.char_steps):
        if position + 51 > len(streams):
            position, state = 0, None
        loss, state = char_rnn.loss_on(model, streams, position, 50, state)
        optimizer.zero_grad()
        loss.backward()
        clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        state, position = char_rnn.detach(state), position + 50
        bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
        bar.update(1)
    held_out_ids = np.array([lookup[char] for char in held_out_text[:20_000]], dtype=np.int64)
    held_out_loss = char_rnn.evaluate(model, char_rnn.as_streams(held_out_ids, 8), 50)

    sentence = held_out_sentence(held_out_text, 48)
    ids = np.array([lookup[char] for char in sentence], dtype=np.int64)
    model.double()
    with tg.no_grad():
        embedded = model.embedding(ids[:-1, None]).data
    inputs = tg.Tensor(embedded, requires_grad=True)  # (T, 1, embedding): the characters as the RNN reads them
    matrix = analysis.connectivity(char_losses(model, inputs, ids), inputs, batched=False)
    entropy = char_rnn.unigram_entropy(train_ids, len(vocab))
    mapped = Mapped("char-RNN", matrix, analysis.horizon(matrix, args.fraction), held_out_loss, model, embedded)
    return mapped, sentence, ids, entropy


def char_losses(model: Any, inputs: tg.Tensor, ids: np.ndarray) -> list[tg.Tensor]:
    """L_t = -log p(character t + 1 | characters 0..t) for each step, each of shape (1,), from the embedded
    characters `inputs` (T, 1, embedding)."""
    hidden, _ = model.rnn(inputs)
    log_probabilities = model.decoder(hidden).log_softmax(axis=-1)
    return [-log_probabilities[t, 0, ids[t + 1]:ids[t + 1] + 1] for t in range(len(ids) - 1)]


# ---- pictures -----------------------------------------------------------------------------------------------

def relative(matrix: np.ndarray) -> np.ndarray:
    """The map over its mean diagonal (the unit the horizon is measured in); the future (s > t) stays 0."""
    return matrix / analysis.lag_profile(matrix)[0]


def reach(mapped: Mapped, args: argparse.Namespace) -> str:
    """The horizon in words; one that reaches the probe's first step is a lower bound."""
    whole = mapped.horizon >= args.probe_length - 1
    return f"{'>= ' if whole else ''}{mapped.horizon} steps{' (the whole probe)' if whole else ''}"


def draw_adders(maps: list[Mapped], args: argparse.Namespace) -> Any:
    """Top: the three maps on one colour scale (fractions of each map's diagonal). Bottom: the mean by lag."""
    from matplotlib.colors import LogNorm
    from matplotlib.figure import Figure

    figure = Figure(figsize=(15, 9), layout="constrained")
    grid = figure.add_gridspec(2, len(maps), height_ratios=(3, 2))
    scale = LogNorm(vmin=FLOOR, vmax=max(float(relative(m.matrix).max()) for m in maps))
    for column, mapped in enumerate(maps):
        axes = figure.add_subplot(grid[0, column])
        shown = relative(mapped.matrix)
        image = axes.imshow(np.where(shown > 0, np.maximum(shown, FLOOR), np.nan), norm=scale, cmap="viridis",
                            interpolation="nearest")
        axes.set_title(f"{mapped.label}: horizon {reach(mapped, args)}\n(test MSE {mapped.loss:.4f}; "
                       f"baseline {adding_problem.BASELINE_MSE:.3f})")
        axes.set_xlabel("input step s")
        axes.set_ylabel("answer read at step t")
    figure.colorbar(image, ax=figure.axes, shrink=0.9, extend="min",
                    label="||dy_t/dx_s|| / its mean diagonal (log; white: s > t, the future)")
    profile_axes = figure.add_subplot(grid[1, :])
    for index, mapped in enumerate(maps):
        profile = analysis.lag_profile(mapped.matrix)
        profile_axes.plot(np.arange(len(profile)), np.where(profile > 0, profile / profile[0], np.nan), marker=".",
                          markersize=3, color=f"C{index}", label=f"{mapped.label} (horizon {reach(mapped, args)})")
        profile_axes.axvline(mapped.horizon, color=f"C{index}", linestyle="--", linewidth=1)
    profile_axes.axhline(args.fraction, color="#777777", linewidth=0.8)
    profile_axes.text(0.5, args.fraction * 2.5, f"the horizon's threshold: {args.fraction:g} of lag 0", fontsize=8,
                      color="#555555")
    profile_axes.axvspan(args.length // 2, args.length - 1, color="#fdae6b", alpha=0.25,
                         label=f"where the first marked value lies (lags {args.length // 2}-{args.length - 1})")
    profile_axes.set_yscale("log")
    profile_axes.set_xlim(0, args.probe_length - 1)
    profile_axes.set_xlabel("lag t - s (steps)")
    profile_axes.set_ylabel("mean ||dy_t/dx_(t-lag)|| / lag 0")
    profile_axes.legend(fontsize=8, loc="lower left")
    figure.suptitle(f"Memory horizon on the adding problem: trained at T={args.length}, probed at "
                    f"T={args.probe_length} (y_t = readout(h_t), the answer if the sequence ended at t)")
    return figure


def draw_char(mapped: Mapped, sentence: str, entropy: float, args: argparse.Namespace) -> Any:
    """The char-RNN's map with the sentence's characters on both axes, and its mean by lag."""
    from matplotlib.colors import LogNorm
    from matplotlib.figure import Figure

    figure = Figure(figsize=(14, 7.5), layout="constrained")
    left, right = figure.subplots(1, 2, width_ratios=(2.2, 1))
    shown = relative(mapped.matrix)
    image = left.imshow(np.where(shown > 0, np.maximum(shown, FLOOR), np.nan), cmap="viridis",
                        norm=LogNorm(vmin=FLOOR, vmax=float(shown.max())), interpolation="nearest")
    visible = [{" ": "␣", "\n": "↵"}.get(char, char) for char in sentence]
    left.set_xticks(range(len(sentence) - 1), visible[:-1], family="monospace", fontsize=9)
    left.set_yticks(range(len(sentence) - 1), visible[1:], family="monospace", fontsize=9)
    left.set_xlabel("character s the RNN reads")
    left.set_ylabel("character t + 1 it predicts")
    left.set_title(f'"{sentence}" (held out)')
    figure.colorbar(image, ax=left, extend="min", label="||dL_t/dx_s|| / mean diagonal (log)")
    profile = analysis.lag_profile(mapped.matrix)
    right.plot(np.arange(len(profile)), np.where(profile > 0, profile / profile[0], np.nan), marker=".")
    right.axvline(mapped.horizon, color="C3", linestyle="--", label=f"horizon {mapped.horizon} characters")
    right.axhline(args.fraction, color="#777777", linewidth=0.8)
    right.set_yscale("log")
    right.set_xlabel("lag t - s (characters)")
    right.set_ylabel("mean ||dL_t/dx_(t-lag)|| / lag 0")
    right.legend(fontsize=8)
    figure.suptitle(f"Char-RNN (tanh, hidden {args.char_hidden}, {args.char_steps} Adam steps; held-out "
                    f"{mapped.loss:.2f} nats/char, unigram {entropy:.2f}): which characters each prediction uses")
    return figure


# ---- command line -------------------------------------------------------------------------------------------

def build_parser() -> Parser:
    """The command line of this script (its arguments, their types and bounds)."""
    parser = lab_parser("memory_horizon", __doc__.splitlines()[0])
    parser.add_argument("--length", type=positive(int, 500), default=50, help="adding problem: training T (50)")
    parser.add_argument("--probe-length", type=positive(int, 1000), default=None,
                        help="length of the sequences the maps are measured on (default 2 x --length)")
    parser.add_argument("--steps", type=positive(int, 100_000), default=1000, help="Adam steps per cell (1000)")
    parser.add_argument("--hidden-size", type=positive(int, 512), default=32, help="adding models' hidden size")
    parser.add_argument("--batch-size", type=positive(int, 1024), default=64)
    parser.add_argument("--char-steps", type=positive(int, 100_000), default=600, help="char-RNN Adam steps (600)")
    parser.add_argument("--char-hidden", type=positive(int, 1024), default=128, help="char-RNN hidden size (128)")
    parser.add_argument("--char-chars", type=positive(int, 10_000_000), default=400_000,
                        help="docstring characters the char-RNN reads (400,000)")
    parser.add_argument("--fraction", type=positive(float, 1), default=0.01, help="the horizon's threshold (0.01)")
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
    args.probe_length = args.probe_length or 2 * args.length
    refuse_larger(parser, 20_000_000, "numbers in one kind of array the graph holds",
                  {"--length": args.length, "--batch-size": args.batch_size, "--hidden-size": args.hidden_size})
    return args


def run(args: argparse.Namespace) -> Result:
    """Train, map and draw; the pictures are written once everything is measured."""
    paths = outputs(build_parser(), args, FILES)
    maps = []
    inputs = probes(args)
    with tqdm(total=len(CELLS) * args.steps + args.char_steps, unit="step", dynamic_ncols=True) as bar:
        for cell, label in CELLS.items():
            model, mse = train_adder(cell, args, bar)
            bar.set_description(f"mapping {label}")
            matrix = adder_map(model, inputs)
            maps.append(Mapped(label, matrix, analysis.horizon(matrix, args.fraction), mse, model, inputs))
        char, sentence, ids, entropy = char_map(args, bar)
    written = [
        (save_figure(draw_adders(maps, args), paths[0]), "the three maps side by side: the tanh RNN's is a thin band "
                                                          "by the diagonal, the gated cells' fill the past"),
        (save_figure(draw_char(char, sentence, entropy, args), paths[1]),
         "the char-RNN's map with the characters on the axes: which letters each prediction leans on"),
    ]
    return Result(maps, char, sentence, ids, entropy, written)


def summary(args: argparse.Namespace, result: Result) -> None:
    """Print the measured numbers and the files written."""
    print(f"\nmemory horizon (lag where ||dy_t/dx_s|| falls below {args.fraction:g} of lag 0), adding problem "
          f"trained at T={args.length}, probed at T={args.probe_length}:")
    for mapped in result.adders:
        print(f"  {mapped.label:<9} horizon {reach(mapped, args):<31} test MSE {mapped.loss:.4f} "
              f"(baseline {adding_problem.BASELINE_MSE:.3f})")
    print(f"  the first marked value lies {args.length // 2} to {args.length - 1} steps back")
    print(f"char-RNN: horizon {result.char.horizon} characters on {result.sentence!r}; held-out loss "
          f"{result.char.loss:.3f} nats/char (unigram entropy {result.entropy:.3f})")
    report(result.written)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    summary(args, run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
