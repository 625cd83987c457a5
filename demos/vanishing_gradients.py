"""The vanishing gradient, measured: log ||dL/dh_t|| against t for tanh RNNs with W_hh = s * Q, and an LSTM.

With h_t = tanh(W_ih x_t + W_hh h_{t-1} + b) and a loss on the last step only, backpropagation through time
multiplies dL/dh by diag(1 - h^2) W_hh once per step back, so (Pascanu, Mikolov & Bengio 2013)

    ||dL/dh_t|| <= ||dL/dh_{T-1}|| * (sigma_max(W_hh) * max|tanh'|)^(T-1-t) = ||dL/dh_{T-1}|| * s^(T-1-t).

sigma_max is the largest singular value; with Q orthogonal it equals the spectral radius s (for other matrices
the eigenvalues alone do not bound the gradient). Below 1 the gradient must vanish geometrically; above 1 it
may explode, until tanh saturates and its derivative pulls it back. The LSTM's gradient travels along the cell
state, scaled by the forget gate at each step: at PyTorch's default init the gate sits near sigmoid(0) = 0.5,
so it decays too; a positive forget-gate bias (Gers et al. 2000; Jozefowicz et al. 2015) keeps it open.

Writes the plot (PNG) and the BPTT graph at two radii, one above the other, and prints the measured decay rate per
step next to the bound.
"""

from __future__ import annotations

import os

# Set before numpy loads: small matrices, where BLAS threads cost more than they give (see char_rnn.py).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

import tinygrad_rnn as tg  # noqa: E402
from tinygrad_rnn import analysis, nn, viz  # noqa: E402
from tinygrad_rnn.cli.arguments import (  # noqa: E402
    Parser,
    comma_list,
    finite,
    make_output_folder,
    nonnegative,
    output_folder,
    positive,
    refuse_larger,
)

SMOKE = {"steps": 20, "hidden_size": 16, "batch_size": 4, "graph_steps": 4}


def tanh_rnn(radius: float, input_size: int, hidden_size: int, seed: int) -> nn.RNN:
    """A float64 tanh RNN with PyTorch's init except W_hh = radius * Q (Q random orthogonal), zero biases."""
    nn.manual_seed(seed)
    model = nn.RNN(input_size, hidden_size, dtype=np.float64)
    model.weight_hh_l0.data[...] = analysis.scaled_orthogonal(hidden_size, radius, generator=seed)
    model.bias_ih_l0.data[...] = model.bias_hh_l0.data[...] = 0.0
    return model


def lstm(input_size: int, hidden_size: int, seed: int, forget_bias: float | None) -> nn.LSTM:
    """A float64 LSTM at PyTorch's init; with forget_bias, the forget gate's biases are set to forget_bias / 2."""
    nn.manual_seed(seed)
    model = nn.LSTM(input_size, hidden_size, dtype=np.float64)
    if forget_bias is not None:  # gate order i, f, g, o; bias_ih + bias_hh = forget_bias
        forget = slice(hidden_size, 2 * hidden_size)
        model.bias_ih_l0.data[forget] = model.bias_hh_l0.data[forget] = forget_bias / 2
    return model


def decay_per_step(norms: np.ndarray) -> float:
    """The geometric-mean factor by which ||dL/dh_t|| changes per step back: (|g_0| / |g_{T-1}|)^(1/(T-1))."""
    return float((norms[0] / norms[-1]) ** (1.0 / (len(norms) - 1))) if norms[0] > 0 else 0.0


def measure(args: argparse.Namespace) -> list[dict[str, object]]:
    """||dL/dh_t|| for every model, with L = <probe, h_{T-1}> (a loss on the last step only)."""
    rng = np.random.default_rng(args.seed)
    inputs = args.input_scale * rng.standard_normal((args.steps, args.batch_size, args.input_size))
    probe = rng.standard_normal((args.batch_size, args.hidden_size))

    def loss_on_last_step(output: tg.Tensor) -> tg.Tensor:
        return (output[-1] * probe).sum()

    models = [(f"tanh RNN, s = {radius:g}", radius, tanh_rnn(radius, args.input_size, args.hidden_size, args.seed))
              for radius in args.radii]
    models.append(("LSTM, default init", None, lstm(args.input_size, args.hidden_size, args.seed, None)))
    models.append((f"LSTM, forget bias {args.forget_bias:g}", None,
                   lstm(args.input_size, args.hidden_size, args.seed, args.forget_bias)))
    return [{"label": label, "radius": radius,
             "norms": analysis.gradient_norms_through_time(model, inputs, loss_on_last_step)}
            for label, radius, model in models]


def plot(results: list[dict[str, object]], path: Path, steps: int) -> None:
    """log10 ||dL/dh_t|| against t, with each tanh RNN's bound s^(T-1-t) dashed in the same colour."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 5))
    timesteps = np.arange(steps)
    for index, result in enumerate(results):
        colour = f"C{index}"
        norms = np.maximum(result["norms"], 1e-300)
        axes.plot(timesteps, np.log10(norms), color=colour, label=result["label"], linewidth=2)
        if result["radius"] is not None:
            bound = norms[-1] * result["radius"] ** (steps - 1 - timesteps)
            axes.plot(timesteps, np.log10(bound), color=colour, linestyle="--", linewidth=1)
    axes.set_xlabel("time step t (the loss reads h at t = T-1)")
    axes.set_ylabel("log10 ||dL/dh_t||")
    axes.set_title("Vanishing and exploding gradients through time (dashed: the bound s^(T-1-t))")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def render_graphs(args: argparse.Namespace, folder: Path) -> Path:
    """The BPTT graph of a small tanh RNN at the smallest and largest radius, on one width scale, one above the
    other (the legend once, in the first)."""
    radii = (min(args.radii), max(args.radii))
    rng = np.random.default_rng(args.seed)
    inputs = tg.Tensor(0.1 * rng.standard_normal((args.graph_steps, 1, 2)))
    losses, models = [], []
    for radius in radii:
        model = tanh_rnn(radius, 2, args.graph_hidden, args.seed)
        with tg.keep_values():  # the picture shows the values of small intermediates
            output, _ = model(inputs)
            loss = output[-1].sum()
        loss.backward(retain_graph=True, retain_grads=True)
        losses.append(loss)
        models.append(model)
    norms = [np.linalg.norm(node.grad) for loss in losses for node in tg.toposort(loss) if node.grad is not None]
    grad_range = (math.log10(max(min(norms), 1e-12)), math.log10(max(norms)))
    pictures = []
    for number, (radius, loss, model) in enumerate(zip(radii, losses, models)):
        path = folder / f"bptt_radius_{radius:g}.png"
        viz.render(loss, path, params={f"rnn.{name}": p for name, p in model.named_parameters()},
                   grad_range=grad_range, grad_labels=True, legend=number == 0,
                   title=f"tanh RNN, W_hh = {radius:g} Q: gradient norms flowing back from h_T")
        pictures.append(path)
    return stack_pictures(pictures, [f"spectral radius {radius:g}" for radius in radii], folder / "bptt_radii.png")


def stack_pictures(pictures: list[Path], captions: list[str], path: Path) -> Path:
    """The pictures one above the other at their own size (one pixel each, so their text stays as legible as
    dot drew it), each under its caption, written to `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images = [plt.imread(picture) for picture in pictures]
    caption_px, dpi = 56, 100
    width = max(image.shape[1] for image in images)
    height = sum(image.shape[0] + caption_px for image in images)
    figure = plt.figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    top = height
    for image, caption in zip(images, captions):
        figure.text(0.01, (top - caption_px / 2) / height, caption, fontsize=22, va="center", weight="bold")
        top -= caption_px + image.shape[0]
        axis = figure.add_axes((0, top / height, image.shape[1] / width, image.shape[0] / height))
        axis.imshow(image, interpolation="none")
        axis.axis("off")
    figure.savefig(path, dpi=dpi)
    plt.close(figure)
    return path


def build_parser() -> Parser:
    """The command line of this script (its arguments, their types and bounds)."""
    parser = Parser(prog="vanishing_gradients.py", description=__doc__.splitlines()[0])
    parser.add_argument("--radii", type=comma_list(positive(float, 100), at_most=20), default=[0.5, 0.9, 1.0, 1.1, 1.5],
                        help="spectral radii s of W_hh")
    parser.add_argument("--steps", type=positive(int, 100_000), default=100, help="sequence length T")
    parser.add_argument("--hidden-size", type=positive(int, 2048), default=64)
    parser.add_argument("--input-size", type=positive(int, 2048), default=8)
    parser.add_argument("--input-scale", type=positive(float, 1000), default=0.5, help="std of the random inputs")
    parser.add_argument("--batch-size", type=positive(int, 4096), default=8)
    parser.add_argument("--forget-bias", type=finite(float), default=3.0, help="for the second LSTM")
    parser.add_argument("--graph-steps", type=positive(int, 50), default=5, help="steps in the rendered graphs")
    parser.add_argument("--graph-hidden", type=positive(int, 64), default=3)
    parser.add_argument("--out", type=output_folder, default="out", help="folder for the PNGs")
    parser.add_argument("--no-graph", action="store_true", help="skip the rendered graphs (no Graphviz needed)")
    parser.add_argument("--seed", type=nonnegative(int), default=0)
    parser.add_argument("--smoke", action="store_true", help="a small, fast run for tests")
    return parser


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    if "--smoke" in argv:
        parser.set_defaults(**SMOKE)
    args = parser.parse_args(argv)
    if args.steps < 2:
        parser.error(f"argument --steps: need at least 2 steps to measure a decay, got {args.steps}")
    refuse_larger(parser, 20_000_000, "numbers in one kind of array the graph holds",
                  {"--steps": args.steps, "--batch-size": args.batch_size,
                   "--hidden-size": max(args.hidden_size, args.input_size)})
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    make_output_folder(build_parser(), args.out)  # made only when the demo runs
    folder = Path(args.out)
    results = measure(args)
    print(f"||dL/dh_t|| with the loss on step T-1 = {args.steps - 1}; hidden {args.hidden_size}, float64")
    print(f"{'model':<26} {'measured factor/step':>21} {'bound s':>8} {'||dL/dh_0|| / ||dL/dh_T-1||':>28}")
    for result in results:
        norms = result["norms"]
        bound = "n/a" if result["radius"] is None else f"{result['radius']:.3f}"
        print(f"{result['label']:<26} {decay_per_step(norms):>21.3f} {bound:>8} {norms[0] / norms[-1]:>28.3e}")
    plot_path = folder / "vanishing_gradients.png"
    plot(results, plot_path, args.steps)
    print(f"plot: {plot_path}")
    if not args.no_graph:
        try:
            print(f"BPTT graphs at two radii: {render_graphs(args, folder)}")
        except viz.GraphvizNotFoundError as error:
            print(f"vanishing_gradients.py: error: {error}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
