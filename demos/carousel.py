"""LSTM's constant error carousel: how the gradient of the cell state crosses each step, and how far back credit
reaches, for an LSTM at default init, an LSTM with forget-gate bias 3, and a GRU.

An LSTM's cell is c_t = f_t c_(t-1) + i_t g_t, so dL/dc_t = f_(t+1) dL/dc_(t+1) (the carousel: multiplied by
the forget gate alone, no weight matrix, no squashing) + the part through h_t (+ anything else that reads c_t).
A GRU's h_t = (1 - z_t) n_t + z_t h_(t-1) has the same kind of path, z_(t+1) dL/dh_(t+1) (`direct`).
`tinygrad_rnn.analysis.gate_paths` reads each part off its own edge of the graph (they sum to the engine's
gradient) for a loss at the last step; `analysis.credit_matrix`, with a loss at every step, gives the share of
W_hh's credit at each lag. The models are untrained, on random inputs: what the architecture does by itself.

    python demos/carousel.py                      # seconds
    python demos/carousel.py --steps 200 --forget-bias 5
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
from _lab import lab_parser, outputs, report, save_figure  # noqa: E402
from tqdm import tqdm  # noqa: E402

import tinygrad_rnn as tg  # noqa: E402
from tinygrad_rnn import analysis, nn  # noqa: E402
from tinygrad_rnn.cli.arguments import Parser, finite, nonnegative, positive, refuse_larger  # noqa: E402

FILES = ("carousel.png",)
SMOKE = {"steps": 12, "hidden_size": 8, "batch_size": 2, "input_size": 3}
PARTS = {"lstm": ("carousel", "through_hidden", "other"), "gru": ("direct", "through_gates", "other")}
COLOURS = {"carousel": "#d94801", "direct": "#d94801", "through_hidden": "#3182bd", "through_gates": "#3182bd",
           "other": "#bdbdbd"}
LONG_LAG = 10  # "long range": credit at lags of at least this many steps


@dataclass
class Measured:
    """One model's gate paths (loss at the last step) and W_hh's credit by lag (a loss at every step)."""

    label: str
    kind: str
    model: Any
    inputs: np.ndarray
    paths: analysis.GatePaths
    lag_share: np.ndarray

    @property
    def direct(self) -> str:
        """The name of the gated path (the carousel, or the GRU's direct path)."""
        return PARTS[self.kind][0]

    def survival(self) -> float:
        """||dL/dstate_0|| / ||dL/dstate_(T-1)||: how much of the last step's gradient reaches the first step."""
        norms = self.paths.norms("total")
        return float(norms[0] / norms[-1]) if norms[-1] > 0 else 0.0

    def gate(self) -> tuple[str, float]:
        """The gate that multiplies the direct path (f or z) and its mean over steps and units."""
        name = "f" if self.kind == "lstm" else "z"
        return name, float(np.mean(self.paths.gate_means[name]))


def build(kind: str, forget_bias: float | None, args: argparse.Namespace) -> Any:
    """A fresh float64 LSTM or GRU (PyTorch's init); `forget_bias` sets the forget gate's bias b_if + b_hf."""
    nn.manual_seed(args.seed)
    model = {"lstm": nn.LSTM, "gru": nn.GRU}[kind](args.input_size, args.hidden_size, dtype=np.float64)
    if forget_bias is not None:
        hidden = args.hidden_size
        with tg.no_grad():
            model.bias_ih_l0.data[hidden:2 * hidden] = forget_bias  # gate order i, f, g, o
            model.bias_hh_l0.data[hidden:2 * hidden] = 0.0
    return model


def measure(label: str, kind: str, forget_bias: float | None, args: argparse.Namespace) -> Measured:
    """Gate paths for a loss at the last step and credit by lag for a loss at every step, on random inputs."""
    model = build(kind, forget_bias, args)
    rng = np.random.default_rng(args.seed + 1)
    inputs = rng.standard_normal((args.steps, args.batch_size, args.input_size))
    readout = rng.standard_normal((args.steps, args.batch_size, args.hidden_size))  # fixed random r_t
    output, _ = model(tg.Tensor(inputs))
    paths = analysis.gate_paths((output[-1] * readout[-1]).sum())[f"{kind}.l0"]
    output, _ = model(tg.Tensor(inputs))
    losses = [(output[t] * readout[t]).sum() for t in range(args.steps)]  # L_t = <h_t, r_t>
    credit = analysis.credit_matrix(losses, {"weight_hh_l0": model.weight_hh_l0})
    return Measured(label, kind, model, inputs, paths, credit.lag_share("weight_hh_l0"))


def models(args: argparse.Namespace) -> list[tuple[str, str, float | None]]:
    return [("LSTM, default init", "lstm", None), (f"LSTM, forget bias {args.forget_bias:g}", "lstm",
                                                     args.forget_bias), ("GRU, default init", "gru", None)]


# ---- the picture --------------------------------------------------------------------------------------------

def shares_by_step(paths: analysis.GatePaths) -> dict[str, np.ndarray]:
    """Each part's norm over the sum of the parts' norms, step by step (0 where no gradient arrives)."""
    norms = {name: paths.norms(name) for name in paths.parts}
    whole = sum(norms.values())
    return {name: np.divide(value, whole, out=np.zeros_like(value), where=whole > 0) for name, value in norms.items()}


def draw(results: list[Measured], args: argparse.Namespace) -> Any:
    """Top: each model's split of dL/dstate_t into its paths, step by step. Bottom: ||dL/dstate_t|| for all
    three, and the share of W_hh's credit at each lag."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(15, 9), layout="constrained")
    grid = figure.add_gridspec(2, 6)
    for column, result in enumerate(results):
        axes = figure.add_subplot(grid[0, 2 * column:2 * column + 2])
        shares = shares_by_step(result.paths)
        state = "c_t" if result.kind == "lstm" else "h_t"
        axes.stackplot(result.paths.steps, *shares.values(), colors=[COLOURS[name] for name in shares],
                       labels=[f"{name} ({result.paths.share(name):.0%})" for name in shares])
        axes.set_ylim(0, 1)
        axes.set_xlim(result.paths.steps[0], result.paths.steps[-1])
        axes.set_xlabel("time step t")
        axes.set_ylabel(f"share of ||part of dL/d{state}||")
        gate, mean = result.gate()
        axes.set_title(f"{result.label}\nmean {gate} = {mean:.2f}", fontsize=11)
        axes.legend(fontsize=8, loc="lower left", framealpha=0.9)
    norms_axes = figure.add_subplot(grid[1, :3])
    lags_axes = figure.add_subplot(grid[1, 3:])
    for index, result in enumerate(results):
        state = "c_t" if result.kind == "lstm" else "h_t"
        norms = result.paths.norms("total")
        norms_axes.plot(result.paths.steps, np.where(norms > 0, norms, np.nan), color=f"C{index}",
                        label=f"{result.label}: ||dL/d{state}||, first/last {result.survival():.2g}")
        shares = result.lag_share
        lags_axes.plot(np.arange(len(shares)), np.where(shares > 0, shares, np.nan), color=f"C{index}", marker=".",
                       markersize=3, label=f"{result.label}: {shares[LONG_LAG:].sum():.1%} at lags >= {LONG_LAG}")
    norms_axes.set_yscale("log")
    norms_axes.set_xlabel("time step t")
    norms_axes.set_ylabel("||dL/dstate_t|| (loss at the last step)")
    norms_axes.set_title("how far back the last step's gradient reaches")
    norms_axes.legend(fontsize=8)
    lags_axes.set_yscale("log")
    lags_axes.axvline(LONG_LAG, color="#999999", linewidth=0.8, linestyle="--")
    lags_axes.set_xlabel("lag |t - s| between the loss and the use of W_hh (steps)")
    lags_axes.set_ylabel("share of W_hh's credit")
    lags_axes.set_title("credit by lag (a loss at every step)")
    lags_axes.legend(fontsize=8)
    figure.suptitle(f"The constant error carousel: untrained models, hidden {args.hidden_size}, T={args.steps}, "
                    f"random inputs; the orange path is multiplied by a gate alone (f for the LSTM, z for the GRU)")
    return figure


# ---- command line -------------------------------------------------------------------------------------------

def build_parser() -> Parser:
    """The command line of this script (its arguments, their types and bounds)."""
    parser = lab_parser("carousel", __doc__.splitlines()[0])
    parser.add_argument("--steps", type=positive(int, 1000), default=100, help="sequence length T (100)")
    parser.add_argument("--hidden-size", type=positive(int, 512), default=32)
    parser.add_argument("--input-size", type=positive(int, 512), default=4)
    parser.add_argument("--batch-size", type=positive(int, 256), default=8)
    parser.add_argument("--forget-bias", type=finite(float), default=3.0, help="the second LSTM's forget bias (3)")
    parser.add_argument("--seed", type=nonnegative(int), default=0)
    return parser


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    if "--smoke" in argv:
        parser.set_defaults(**SMOKE)
    args = parser.parse_args(argv)
    if args.steps < 2:
        parser.error(f"argument --steps: a path between steps needs at least 2 steps, got {args.steps}")
    refuse_larger(parser, 20_000_000, "numbers in one kind of array the graph holds",
                  {"--steps": args.steps, "--batch-size": args.batch_size, "--hidden-size": args.hidden_size})
    return args


def run(args: argparse.Namespace) -> tuple[list[Measured], list[tuple[Path, str]]]:
    """Measure the three models and draw them; returns the measurements and the files written."""
    paths = outputs(build_parser(), args, FILES)
    results = [measure(label, kind, bias, args)
               for label, kind, bias in tqdm(models(args), unit="model", dynamic_ncols=True)]
    written = [(save_figure(draw(results, args), paths[0]),
                "top: the orange carousel (LSTM) or direct path (GRU) is each step's share of the state gradient; "
                "bottom: how far back it reaches")]
    return results, written


def summary(args: argparse.Namespace, results: list[Measured], written: list[tuple[Path, str]]) -> None:
    """Print the measured numbers and the files written."""
    print(f"\nhidden {args.hidden_size}, T={args.steps}, batch {args.batch_size}, random inputs, untrained:")
    print(f"  {'model':<22} {'gated path':>11} {'weighted':>9} {'gate mean':>10} {'first/last':>11} "
          f"{'credit lag 0':>13} {f'lags >= {LONG_LAG}':>11}")
    for result in results:
        gate, mean = result.gate()
        print(f"  {result.label:<22} {result.paths.share(result.direct):>11.1%} "
              f"{result.paths.share(result.direct, weighted=True):>9.1%} {gate + ' = ' + f'{mean:.3f}':>10} "
              f"{result.survival():>11.3g} {result.lag_share[0]:>13.1%} {result.lag_share[LONG_LAG:].sum():>11.1%}")
    print("  gated path: the carousel's (GRU: the direct path's) share of each step's state gradient, averaged "
          "over steps;\n  weighted: the same summed over steps; first/last: ||dL/dstate_0|| / ||dL/dstate_(T-1)||")
    report(written)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    summary(args, *run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
