"""The gradient cliff and clipping (Pascanu, Mikolov & Bengio 2013), measured on two recurrent networks.

The one-unit RNN of the paper: x_t = w sigmoid(x_{t-1}) + b, x_0 = 0.5, loss L(w, b) = (x_50 - 0.7)^2. For
w > 4 the map has two stable fixed points, and the line of (w, b) where x_0 sits on the unstable one between
them is a wall: on one side x_50 lands near the low fixed point, on the other near the high one, and close to
the wall dL/d(w, b) grows like the unstable point's slope to the 50th power. The wall is thin, so most SGD
steps miss it; the start here is one whose unclipped run lands on it. Three SGD runs from the same start:

    unclipped       theta -= lr g
    norm-clipped    theta -= lr g min(1, tau / ||g||)       (clip_grad_norm_: every step is at most lr tau long)
    value-clipped   theta -= lr clip(g, -tau, tau)          (clip_grad_value_: each coordinate at most lr tau)

The companion: a tanh RNN with W_hh = 1.5 Q (Q orthogonal) reads 256 steps of noise and must output the sum of
the last two inputs (always answering 0 scores MSE 2). At this radius the gradient through 256 steps is ~10^5
to 10^6, so one unclipped SGD step saturates every unit, after which the readout's own step is unstable and the
loss explodes; clip_grad_norm_ bounds every step and the same SGD learns.

    python demos/gradient_cliff.py                 # about a minute on 2 cores
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
from tinygrad_rnn.cli.arguments import Parser, nonnegative, positive, refuse_larger  # noqa: E402
from tinygrad_rnn.nn.functional import mse_loss  # noqa: E402
from tinygrad_rnn.nn.utils import clip_grad_norm_, clip_grad_value_  # noqa: E402
from tinygrad_rnn.optim import SGD  # noqa: E402

START = (5.6, -4.7)  # (w, b): a start whose unclipped run lands on the wall (most starts' runs miss it)
INITIAL_STATE, TARGET = 0.5, 0.7
MODES = ("unclipped", "norm-clipped", "value-clipped")
COLOURS = {"unclipped": "#d62728", "norm-clipped": "#ffffff", "value-clipped": "#ff9f1c"}
FILES = ("gradient_cliff.png", "gradient_cliff_rnn.png")
GRAD_CEILING, LOSS_CEILING = 1e24, 1e4  # the companion's plots stop here (the unclipped run's values reach inf)
SMOKE = {"sgd_steps": 30, "grid": 40, "rnn_steps": 32, "hidden_size": 8, "train_steps": 15, "batch_size": 8}


def one_unit_loss(weight: tg.Tensor, bias: tg.Tensor, steps: int) -> tg.Tensor:
    """(x_steps - 0.7)^2 for x_t = w sigmoid(x_{t-1}) + b, x_0 = 0.5, elementwise over w and b's shape."""
    state = tg.Tensor(np.full(np.broadcast_shapes(weight.shape, bias.shape), INITIAL_STATE))
    for timestep in range(steps):
        with tg.scope(f"t={timestep}"):
            state = weight * state.sigmoid() + bias
    return (state - TARGET) ** 2


def loss_surface(weights: np.ndarray, biases: np.ndarray, steps: int) -> np.ndarray:
    """L on the grid weights x biases (rows: biases), every point at once through the engine, without a graph."""
    with tg.no_grad():
        return one_unit_loss(tg.Tensor(weights[None, :]), tg.Tensor(biases[:, None]), steps).data


def descend(mode: str, args: argparse.Namespace, bar: Any = None) -> dict[str, np.ndarray]:
    """SGD on the one-unit RNN from START: the path (K+1, 2), the loss at each point (K+1,) and ||g|| before
    clipping at each step (K,)."""
    weight = tg.Tensor(np.array([START[0]]), requires_grad=True)
    bias = tg.Tensor(np.array([START[1]]), requires_grad=True)
    optimizer = SGD([weight, bias], lr=args.lr)
    path, losses, grad_norms = [], [], []
    for step in range(args.sgd_steps + 1):
        loss = one_unit_loss(weight, bias, args.unit_steps).sum()
        path.append((weight.item(), bias.item()))
        losses.append(loss.item())
        if step == args.sgd_steps:
            break
        optimizer.zero_grad()
        loss.backward()
        grad_norms.append(float(np.hypot(weight.grad[0], bias.grad[0])))
        if mode == "norm-clipped":
            clip_grad_norm_([weight, bias], args.threshold)
        elif mode == "value-clipped":
            clip_grad_value_([weight, bias], args.threshold)
        optimizer.step()
        if bar is not None:
            bar.update()
    return {"path": np.array(path), "losses": np.array(losses), "grad_norms": np.array(grad_norms)}


def biggest_step(run: dict[str, np.ndarray]) -> dict[str, float]:
    """The step that met the largest ||g||: its index, ||g||, and the loss before and after it."""
    step = int(np.argmax(run["grad_norms"]))
    return {"step": step, "grad_norm": float(run["grad_norms"][step]), "loss_before": float(run["losses"][step]),
            "loss_after": float(run["losses"][step + 1])}


# ---- the companion: a tanh RNN with W_hh = 1.5 Q over 256 steps ------------------------------------------------

class LastTwoSum(nn.Module):
    """A tanh RNN read out from its last hidden state.  (T, N, 1) -> (N, 1)"""

    def __init__(self, hidden_size: int, radius: float, seed: int) -> None:
        super().__init__()
        nn.manual_seed(seed)
        self.rnn = nn.RNN(1, hidden_size, dtype=np.float64)
        self.rnn.weight_hh_l0.data[...] = analysis.scaled_orthogonal(hidden_size, radius, generator=seed)
        self.readout = nn.Linear(hidden_size, 1, dtype=np.float64)

    def forward(self, inputs: np.ndarray) -> tg.Tensor:
        output, _ = self.rnn(tg.Tensor(inputs))
        return self.readout(output[-1])


def last_two_batch(rng: np.random.Generator, steps: int, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """inputs (T, N, 1) ~ N(0, 1) and targets (N, 1) = x_{T-1} + x_{T-2} (variance 2: the MSE of answering 0)."""
    inputs = rng.standard_normal((steps, batch_size, 1))
    return inputs, inputs[-1] + inputs[-2]


def train_companion(clip: bool, args: argparse.Namespace) -> dict[str, Any]:
    """SGD on LastTwoSum, clipping the gradient norm to tau or not: the loss, ||g|| before clipping and ||delta
    theta|| at each step, and the step whose update the optimizer refused as non-finite (None if none)."""
    model = LastTwoSum(args.hidden_size, args.radius, args.seed)
    params = list(model.parameters())
    optimizer = SGD(params, lr=args.rnn_lr)
    rng = np.random.default_rng(args.seed)
    losses, grad_norms, step_norms, refused = [], [], [], None
    label = "clip_grad_norm_" if clip else "unclipped"
    with np.errstate(over="ignore", invalid="ignore"):  # the unclipped run overflows: that is what it shows
        for step in tqdm(range(args.train_steps), desc=f"tanh RNN, {label}", unit="step", leave=False,
                         disable=args.no_progress):
            inputs, targets = last_two_batch(rng, args.rnn_steps, args.batch_size)
            loss = mse_loss(model(inputs), targets)
            optimizer.zero_grad()
            loss.backward()
            total = float(np.sqrt(sum(float((param.grad.astype(np.float64) ** 2).sum()) for param in params)))
            if clip:
                clip_grad_norm_(params, args.threshold)
            before = np.concatenate([param.data.ravel() for param in params])
            try:
                optimizer.step()
            except FloatingPointError:  # the update would write inf or NaN into a weight
                refused = step
                break
            finally:
                losses.append(loss.item())
                grad_norms.append(total)
            step_norms.append(float(np.linalg.norm(np.concatenate([p.data.ravel() for p in params]) - before)))
    return {"losses": np.array(losses), "grad_norms": np.array(grad_norms), "step_norms": np.array(step_norms),
            "refused": refused}


# ---- pictures ----------------------------------------------------------------------------------------------------

def plot_cliff(runs: dict[str, dict[str, np.ndarray]], args: argparse.Namespace, path: Path) -> Path:
    """Overview and zoom of log10 L over (w, b) with the three paths; ||g|| and L against the SGD step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hit = biggest_step(runs["unclipped"])
    figure, axes = plt.subplots(2, 2, figsize=(13, 10))
    everything = np.concatenate([run["path"] for run in runs.values()])
    clipped = np.concatenate([runs[mode]["path"] for mode in MODES[1:]] +
                             [runs["unclipped"]["path"][:hit["step"] + 1]])
    windows = {"overview": _window(everything, 0.05), "zoom": _window(clipped, 0.15)}
    for axis, (name, (low, high)) in zip(axes[0], windows.items()):
        weights = np.linspace(low[0], high[0], args.grid)
        biases = np.linspace(low[1], high[1], args.grid)
        surface = np.log10(loss_surface(weights, biases, args.unit_steps) + 1e-12)
        mesh = axis.pcolormesh(weights, biases, surface, shading="auto", cmap="viridis", rasterized=True)
        figure.colorbar(mesh, ax=axis, label=f"log10 L(w, b) = log10 (x_{args.unit_steps} - 0.7)^2")
        for mode, run in runs.items():
            axis.plot(run["path"][:, 0], run["path"][:, 1], ".-", color=COLOURS[mode], markersize=2.5,
                      linewidth=1, label=mode)
        axis.plot(*START, "o", color="black", markersize=7, markerfacecolor="none", label="start")
        where = runs["unclipped"]["path"][hit["step"]]
        axis.plot(*where, "*", color="#d62728", markersize=15, markeredgecolor="black",
                  label=f"unclipped meets ||g|| = {hit['grad_norm']:.3g}")
        axis.set_xlim(low[0], high[0])
        axis.set_ylim(low[1], high[1])
        axis.set_xlabel("w (recurrent weight)")
        axis.set_ylabel("b (bias)")
        axis.set_title(f"{name}: x_t = w sigmoid(x_(t-1)) + b, x_0 = 0.5", fontsize=10)
    end = runs["unclipped"]["path"][-1]
    axes[0, 0].annotate(f"unclipped ends at ({end[0]:.1f}, {end[1]:.1f})", end, xytext=(10, -20),
                        textcoords="offset points", color="white", fontsize=9)
    after = runs["unclipped"]["path"][hit["step"] + 1]
    axes[0, 1].annotate(f"unclipped thrown to\n({after[0]:.0f}, {after[1]:.0f})", _edge_point(where, after, windows),
                        xytext=(0.03, 0.97), textcoords="axes fraction", va="top", color="white", fontsize=9,
                        arrowprops={"arrowstyle": "->", "color": "white"})
    axes[0, 1].legend(fontsize=8, loc="lower left", framealpha=0.8)
    for mode, run in runs.items():
        colour = "black" if mode == "norm-clipped" else COLOURS[mode]
        axes[1, 0].semilogy(np.arange(len(run["grad_norms"])), run["grad_norms"], color=colour, linewidth=1,
                            label=mode)
        axes[1, 1].semilogy(np.arange(len(run["losses"])), np.maximum(run["losses"], 1e-300), color=colour,
                            linewidth=1, label=f"{mode}: final L = {run['losses'][-1]:.2g}")
    axes[1, 0].axhline(args.threshold, color="gray", linestyle="--", label=f"threshold tau = {args.threshold:g}")
    axes[1, 0].set_ylabel("||dL/d(w, b)|| before clipping")
    axes[1, 1].set_ylabel("loss L")
    for axis in axes[1]:
        axis.set_xlabel("SGD step")
        axis.grid(alpha=0.3, which="both")
        axis.legend(fontsize=8)
    figure.suptitle(f"The gradient cliff: unclipped SGD meets ||g|| = {hit['grad_norm']:,.0f} = "
                    f"{hit['grad_norm'] / args.threshold:,.0f} x tau and its loss jumps {hit['loss_before']:.3g} -> "
                    f"{hit['loss_after']:.3g}; norm-clipped ends at L = {runs['norm-clipped']['losses'][-1]:.2g} "
                    f"(lr {args.lr:g}, {args.sgd_steps} steps)", fontsize=11)
    figure.tight_layout()
    return save_figure(figure, path)


def _window(points: np.ndarray, pad: float) -> tuple[np.ndarray, np.ndarray]:
    low, high = points.min(axis=0), points.max(axis=0)
    margin = np.maximum((high - low) * pad, 0.3)
    return low - margin, high + margin


def _edge_point(inside: np.ndarray, outside: np.ndarray, windows: dict) -> np.ndarray:
    """Where the segment from `inside` to `outside` leaves the zoom window (for an arrow that points away)."""
    low, high = windows["zoom"]
    direction = outside - inside
    with np.errstate(divide="ignore", invalid="ignore"):
        limits = np.where(direction > 0, (high - inside) / direction, (low - inside) / direction)
    scale = min(1.0, float(np.nanmin(np.where(np.isfinite(limits), limits, np.inf)))) * 0.97
    return inside + scale * direction


def plot_companion(runs: dict[str, dict[str, Any]], args: argparse.Namespace, path: Path) -> Path:
    """||g|| before clipping and the loss against the SGD step, with and without clip_grad_norm_; values past
    the ceilings are drawn at the top edge and the largest one is written beside it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (gradients, losses) = plt.subplots(1, 2, figsize=(13, 4.8))
    colours = {"unclipped": "#d62728", "clip_grad_norm_": "#1f77b4"}
    tops: dict[Any, float] = {}
    for label, run in runs.items():
        steps = np.arange(len(run["losses"]))
        ending = (f"update refused at step {run['refused']} (non-finite)" if run["refused"] is not None
                  else f"final MSE {run['losses'][-1]:.3g}")
        for axis, values, name, ceiling in ((gradients, run["grad_norms"], label, GRAD_CEILING),
                                            (losses, run["losses"], f"{label}: {ending}", LOSS_CEILING)):
            axis.semilogy(steps, np.minimum(values, ceiling), color=colours[label], linewidth=1, label=name)
            if not np.all(values <= ceiling):
                finite = values[np.isfinite(values)]
                first = int(np.argmax(~(values <= ceiling)))
                overflow = int(np.argmax(~np.isfinite(values))) if not np.all(np.isfinite(values)) else None
                axis.text(0.3, 0.75, f"{label}: past {ceiling:.0e} from step {first} (drawn at the top edge);\n"
                          f"largest finite value {finite.max():.2g}" +
                          ("" if overflow is None else f", inf from step {overflow}"),
                          transform=axis.transAxes, fontsize=8, color=colours[label], va="top")
                tops[axis] = ceiling * 1e3
    gradients.axhline(args.threshold, color="gray", linestyle="--", label=f"threshold tau = {args.threshold:g}")
    losses.axhline(2.0, color="black", linestyle=":", label="answer 0 always: MSE 2")
    gradients.set_ylabel("||g|| before clipping (all parameters)")
    losses.set_ylabel("training MSE")
    for axis, key in ((gradients, "grad_norms"), (losses, "losses")):
        values = np.concatenate([run[key] for run in runs.values()])
        lowest = values[np.isfinite(values) & (values > 0)].min()
        axis.set_ylim(min(lowest, args.threshold if axis is gradients else lowest) / 3, tops.get(axis))
        axis.set_xlabel("SGD step")
        axis.grid(alpha=0.3, which="major")
        axis.legend(fontsize=8, loc="center right")
    numbers = companion_numbers(runs, args)
    figure.suptitle(f"tanh RNN, W_hh = {args.radius:g} Q, {args.rnn_steps} steps, SGD lr {args.rnn_lr:g}: ||g|| at "
                    f"init = {numbers['initial_grad_norm']:.3g} = {numbers['initial_grad_norm'] / args.threshold:.3g}"
                    f" x tau; unclipped loss {numbers['loss_before']:.3g} -> {numbers['largest_loss']:.3g}; "
                    f"clipped final MSE {numbers['clipped_final']:.3g}", fontsize=11)
    figure.tight_layout()
    return save_figure(figure, path)


def companion_numbers(runs: dict[str, dict[str, Any]], args: argparse.Namespace) -> dict[str, float]:
    """The companion's measured numbers: ||g|| at init (the same for both runs), the unclipped run's largest
    finite ||g|| and loss, and the clipped run's final loss (the mean of the last 20 steps too)."""
    unclipped, clipped = runs["unclipped"], runs["clip_grad_norm_"]
    finite_grads = unclipped["grad_norms"][np.isfinite(unclipped["grad_norms"])]
    finite_losses = unclipped["losses"][np.isfinite(unclipped["losses"])]
    return {"initial_grad_norm": float(unclipped["grad_norms"][0]), "largest_grad_norm": float(finite_grads.max()),
            "loss_before": float(unclipped["losses"][0]), "largest_loss": float(finite_losses.max()),
            "clipped_final": float(clipped["losses"][-1]), "clipped_last_20": float(clipped["losses"][-20:].mean())}


# ---- the command line --------------------------------------------------------------------------------------------

def build_parser() -> Parser:
    """The command line of this lab (its arguments, their types and bounds)."""
    parser = lab_parser("gradient_cliff", __doc__.splitlines()[0])
    parser.add_argument("--lr", type=positive(float, 10), default=0.05, help="SGD learning rate, one-unit RNN")
    parser.add_argument("--threshold", type=positive(float, 1e6), default=1.0,
                        help="clipping threshold tau (norm and value), both models (default 1)")
    parser.add_argument("--sgd-steps", type=positive(int, 100_000), default=300, help="SGD steps, one-unit RNN")
    parser.add_argument("--unit-steps", type=positive(int, 1000), default=50,
                        help="time steps of the one-unit RNN (the loss reads x at this step; default 50)")
    parser.add_argument("--grid", type=positive(int, 2000), default=300, help="loss-surface points per axis")
    parser.add_argument("--rnn-steps", type=positive(int, 10_000), default=256, help="companion: sequence length")
    parser.add_argument("--hidden-size", type=positive(int, 1024), default=32, help="companion: hidden units")
    parser.add_argument("--radius", type=positive(float, 100), default=1.5, help="companion: W_hh = radius Q")
    parser.add_argument("--rnn-lr", type=positive(float, 10), default=0.1, help="companion: SGD learning rate")
    parser.add_argument("--train-steps", type=positive(int, 100_000), default=600, help="companion: SGD steps")
    parser.add_argument("--batch-size", type=positive(int, 4096), default=32, help="companion: sequences per step")
    parser.add_argument("--seed", type=nonnegative(int), default=0)
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    if "--smoke" in argv:
        parser.set_defaults(**SMOKE)
    args = parser.parse_args(argv)
    if args.rnn_steps < 2:
        parser.error(f"argument --rnn-steps: the target is the sum of the last two inputs, so at least 2 steps are "
                     f"needed, got {args.rnn_steps}")
    refuse_larger(parser, 20_000_000, "numbers in one kind of array the companion's graph holds",
                  {"--rnn-steps": args.rnn_steps, "--batch-size": args.batch_size, "--hidden-size": args.hidden_size})
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cliff_path, companion_path = outputs(build_parser(), args, FILES)
    with tqdm(total=len(MODES) * args.sgd_steps, desc="one-unit RNN, 3 SGD runs", unit="step", leave=False,
              disable=args.no_progress) as bar:
        runs = {mode: descend(mode, args, bar) for mode in MODES}
    companion = {label: train_companion(clip, args) for label, clip in (("unclipped", False),
                                                                          ("clip_grad_norm_", True))}
    written = [(plot_cliff(runs, args, cliff_path), "top: the loss surface with the three SGD paths (overview, "
                "zoom); bottom: ||g|| against tau, and the loss"),
               (plot_companion(companion, args, companion_path), "the tanh RNN's ||g|| and loss, with and without "
                "clip_grad_norm_")]
    report(written)
    hit = biggest_step(runs["unclipped"])
    print(f"one-unit RNN (x_0 = 0.5, T = {args.unit_steps}), start (w, b) = {START}, lr {args.lr:g}, tau "
          f"{args.threshold:g}, {args.sgd_steps} SGD steps:")
    print(f"  unclipped: largest ||g|| {hit['grad_norm']:.4g} = {hit['grad_norm'] / args.threshold:.4g} x tau at "
          f"step {hit['step']}; loss jumps {hit['loss_before']:.4g} -> {hit['loss_after']:.4g}; ends at L = "
          f"{runs['unclipped']['losses'][-1]:.3g}, (w, b) = ({runs['unclipped']['path'][-1][0]:.1f}, "
          f"{runs['unclipped']['path'][-1][1]:.1f})")
    for mode, bound in (("norm-clipped", "at most lr tau"), ("value-clipped", "each coordinate at most lr tau")):
        run = runs[mode]
        print(f"  {mode}: largest ||g|| {run['grad_norms'].max():.4g}, largest step "
              f"{np.linalg.norm(np.diff(run['path'], axis=0), axis=1).max():.4g} ({bound} = "
              f"{args.lr * args.threshold:.4g}); final L = {run['losses'][-1]:.3g}")
    unclipped, clipped = companion["unclipped"], companion["clip_grad_norm_"]
    numbers = companion_numbers(companion, args)
    print(f"tanh RNN, W_hh = {args.radius:g} Q, T = {args.rnn_steps}, H = {args.hidden_size}, SGD lr {args.rnn_lr:g}, "
          f"{args.train_steps} steps, target x_(T-1) + x_(T-2) (answering 0: MSE 2):")
    print(f"  ||g|| at init: {numbers['initial_grad_norm']:.4g} = {numbers['initial_grad_norm'] / args.threshold:.4g} "
          f"x tau (both runs start there)")
    print(f"  unclipped: loss {numbers['loss_before']:.3g} at step 0, largest finite loss "
          f"{numbers['largest_loss']:.3g}, largest finite ||g|| {numbers['largest_grad_norm']:.3g}; " +
          (f"update refused as non-finite at step {unclipped['refused']}" if unclipped["refused"] is not None
           else f"final MSE {unclipped['losses'][-1]:.3g}"))
    print(f"  clip_grad_norm_: largest step {clipped['step_norms'].max():.4g} (lr tau = "
          f"{args.rnn_lr * args.threshold:.4g}); final MSE {numbers['clipped_final']:.3g} (mean of the last 20: "
          f"{numbers['clipped_last_20']:.3g})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
