"""`tinygrad-rnn analyze WHAT`: the credit analyses of a small RNN/LSTM/GRU on random data, printed and drawn.

    tinygrad-rnn analyze ledger --cell rnn --radius 0.9 --out ledger.png
    tinygrad-rnn analyze truncation --cell rnn --radius 1.5 --hidden 64 --steps 100
    tinygrad-rnn analyze gates --cell lstm --forget-bias 3
    tinygrad-rnn analyze flow --cell gru --train-steps 200 --every 10 --save-flow flow.npz
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from .arguments import CommandError, comma_list, file_name, finite, nonnegative, positive, printable
from .graph import set_recurrent_radius

ANALYSES = ("ledger", "credit", "truncation", "connectivity", "gates", "flow")
CELLS = ("rnn", "lstm", "gru")


def add_parser(commands: Any) -> None:
    """Add `analyze` and its options to the subcommands."""
    parser = commands.add_parser("analyze", help="credit through time of a small RNN/LSTM/GRU: ledger, credit by "
                                                 "lag, truncation, connectivity, gate paths, flow over training",
                                 description="Build a small recurrent model on random data (float64), run one of "
                                             "the credit analyses, print its numbers and draw it.")
    parser.add_argument("what", choices=ANALYSES, help="the analysis")
    parser.add_argument("--cell", choices=CELLS, default="rnn", help="recurrent cell (default rnn)")
    parser.add_argument("--steps", type=positive(int, 1000), default=30, help="sequence length T (default 30)")
    parser.add_argument("--hidden", type=positive(int, 512), default=32, help="hidden size (default 32)")
    parser.add_argument("--input-size", type=positive(int, 512), default=None,
                        help="input features (default 4; flow trains on the adding problem: 2)")
    parser.add_argument("--batch", type=positive(int, 256), default=8, help="sequences per batch (default 8)")
    parser.add_argument("--layers", type=positive(int, 4), default=1, help="stacked layers (default 1)")
    parser.add_argument("--bidirectional", action="store_true", help="a bidirectional layer")
    parser.add_argument("--radius", type=nonnegative(float, 100), default=None,
                        help="set W_hh = radius * Q (Q orthogonal; for LSTM/GRU each gate's block)")
    parser.add_argument("--forget-bias", type=finite(float), default=None, help="LSTM: set the forget gate's bias")
    parser.add_argument("--loss", choices=("last", "all"), default="last",
                        help="ledger and gates: a loss read at the last step (default) or at every step")
    parser.add_argument("--k", type=comma_list(positive(int, 1000), at_most=20), default=None,
                        help="truncation lengths, comma-separated (default 1,2,5,10,20,... up to T)")
    parser.add_argument("--fraction", type=positive(float, 1), default=0.01,
                        help="connectivity: the horizon's fraction")
    parser.add_argument("--train-steps", type=positive(int, 100_000), default=100,
                        help="flow: Adam steps (default 100)")
    parser.add_argument("--every", type=positive(int, 100_000), default=10,
                        help="flow: record every N steps (default 10)")
    parser.add_argument("--save-flow", type=file_name(("npz",)), default=None,
                        help="flow: also write the recording (.npz)")
    parser.add_argument("--seed", type=nonnegative(int), default=0, help="seed for weights and data (default 0)")
    parser.add_argument("--out", type=file_name(("png", "svg", "pdf")), default=None,
                        help="picture to write (.png, .svg, .pdf; default <what>.png)")


def run(args: argparse.Namespace) -> int:
    """Run the analysis `args` ask for; print its numbers and the picture written."""
    print(f"wrote {printable(analyze_command(args))}")
    return 0


def analyze_command(args: argparse.Namespace) -> str:
    """Build the model, run the analysis, print its summary and draw it; returns the path written."""
    from ..analysis import plots

    out = Path(args.out or f"{args.what}.png")
    if out.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise CommandError(f"--out {str(out)!r}: expected a file ending in .png, .svg or .pdf")
    if not out.parent.is_dir():
        raise CommandError(f"--out {str(out)!r}: the folder {str(out.parent)!r} does not exist")
    if args.forget_bias is not None and args.cell != "lstm":
        raise CommandError(f"--forget-bias is for --cell lstm, not {args.cell}")
    if args.what == "gates" and args.cell == "rnn":
        raise CommandError("gates needs a gated cell: --cell lstm or --cell gru")
    if not 0 < args.fraction <= 1:
        raise CommandError(f"--fraction {args.fraction}: expected a number in (0, 1]")
    if args.k and max(args.k) > args.steps:
        raise CommandError(f"--k {max(args.k)}: a truncation length cannot exceed --steps {args.steps}")
    if args.save_flow is not None and args.what != "flow":
        raise CommandError("--save-flow goes with `analyze flow`")
    if args.what == "flow" and args.input_size not in (None, 2):
        raise CommandError(f"--input-size {args.input_size}: analyze flow trains on the adding problem, whose "
                           "inputs have 2 features")
    args.input_size = args.input_size or (2 if args.what == "flow" else 4)
    model, params = build_model(args)
    rng = np.random.default_rng(args.seed + 1)
    figure = DRAW[args.what](args, model, params, rng, plots)
    try:
        plots.save_figure(figure, out)
    except OSError as error:
        raise CommandError(f"could not write {str(out)!r}: {error.strerror or error}") from None
    return str(out)


def build_model(args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    """The recurrent layer (float64) the arguments describe, and its parameters by name."""
    from .. import nn

    nn.manual_seed(args.seed)
    layer = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[args.cell]
    model = layer(args.input_size, args.hidden, num_layers=args.layers, bidirectional=args.bidirectional,
                  dtype=np.float64)
    rng = np.random.default_rng(args.seed)
    for name, param in model.named_parameters():
        if name.startswith("weight_hh") and args.radius is not None:
            set_recurrent_radius(param, args.radius, rng)
        if args.forget_bias is not None and name.startswith("bias_"):
            param.data[args.hidden:2 * args.hidden] = args.forget_bias if name.startswith("bias_ih") else 0.0
    return model, dict(model.named_parameters())


def _sequence(args: argparse.Namespace, rng: np.random.Generator, requires_grad: bool = False) -> Any:
    import tinygrad_rnn as tg

    return tg.Tensor(rng.standard_normal((args.steps, args.batch, args.input_size)), requires_grad=requires_grad)


def _losses(args: argparse.Namespace, model: Any, rng: np.random.Generator) -> list[Any]:
    """One loss per step: <y_t, r_t> for a fixed random readout r (so every step has its own loss)."""
    output, _ = model(_sequence(args, rng))
    readout = rng.standard_normal(output.shape)
    return [(output[t] * readout[t]).sum() for t in range(args.steps)]


def _one_loss(args: argparse.Namespace, model: Any, rng: np.random.Generator) -> Any:
    output, _ = model(_sequence(args, rng))
    readout = rng.standard_normal(output.shape)
    return (output[-1] * readout[-1]).sum() if args.loss == "last" else (output * readout).sum()


def _describe(args: argparse.Namespace) -> str:
    radius = "" if args.radius is None else f", W_hh = {args.radius:g} Q"
    bias = "" if args.forget_bias is None else f", forget bias {args.forget_bias:g}"
    layers = f", {args.layers} layers" if args.layers > 1 else ""
    return f"{args.cell.upper()} H={args.hidden}, T={args.steps}{radius}{bias}{layers}"


def draw_ledger(args, model, params, rng, plots):
    from .. import analysis

    ledger = analysis.credit(_one_loss(args, model, rng), params)
    print(f"credit ledger of {_describe(args)}, loss at {'the last step' if args.loss == 'last' else 'every step'}")
    print(f"{'parameter':<24} {'|dL/dW|':>10} {'last step':>10} {'last 5':>8} {'steps for 90%':>14}")
    for name in params:
        share = ledger.share(name)
        recent = np.cumsum(share[::-1])  # the share of the last 1, 2, ... steps
        print(f"{name:<24} {np.linalg.norm(ledger.total(name)):>10.3g} {share[-1]:>10.1%} "
              f"{recent[min(4, len(share) - 1)]:>8.1%} {int(np.searchsorted(recent, 0.9) + 1):>14}")
    return plots.plot_ledger(ledger, title=f"Credit ledger: {_describe(args)}")


def draw_credit(args, model, params, rng, plots):
    from .. import analysis

    matrix = analysis.credit_matrix(_losses(args, model, rng), params)
    name = _recurrent_weight(params)
    shares = matrix.lag_share(name)
    print(f"credit by lag of {name} ({_describe(args)}, a loss at every step)")
    for lags in ((0, 1), (1, 5), (5, 20), (20, None)):
        print(f"  lags {lags[0]}..{'' if lags[1] is None else lags[1] - 1}: {shares[lags[0]:lags[1]].sum():.2%}")
    return plots.plot_credit_matrix(matrix, name, title=f"Credit by lag: {_describe(args)}")


def draw_truncation(args, model, params, rng, plots):
    from .. import analysis

    ks = args.k or sorted({k for k in (1, 2, 5, 10, 20, 50, 100, 200) if k < args.steps} | {args.steps})
    reports = analysis.truncations(_losses(args, model, rng), params, ks)
    name = _recurrent_weight(params)
    print(f"truncated BPTT(k) against full BPTT for {name} ({_describe(args)}, a loss at every step)")
    print(f"{'k':>5} {'cosine':>8} {'|trunc|/|full|':>15} {'credit at lags >= k':>20}")
    for k, report in zip(ks, reports):
        print(f"{k:>5} {report[name].cosine:>8.3f} {report[name].norm_ratio:>15.3f} {report[name].share_beyond:>20.2%}")
    return plots.plot_truncation(reports, [name, name.replace("weight_hh", "weight_ih")],
                                 title=f"Truncation meter: {_describe(args)}")


def draw_connectivity(args, model, params, rng, plots):
    from .. import analysis

    inputs = _sequence(args, rng, requires_grad=True)
    output, _ = model(inputs)
    matrix = analysis.connectivity(output, inputs)
    reach = analysis.horizon(matrix, args.fraction)
    print(f"connectivity of {_describe(args)}: horizon {reach} steps (the mean ||dy_t/dx_(t-lag)|| stays >= "
          f"{args.fraction:g} of lag 0 up to that lag)")
    return plots.plot_connectivity(matrix, args.fraction, title=f"Connectivity: {_describe(args)}")


def draw_gates(args, model, params, rng, plots):
    from .. import analysis

    paths = analysis.gate_paths(_one_loss(args, model, rng))
    first = next(iter(paths.values()))
    for layer, result in paths.items():
        shares = ", ".join(f"{part} {result.share(part):.1%}" for part in result.parts)
        means = ", ".join(f"{gate} {values.mean():.2f}" for gate, values in result.gate_means.items())
        saturated = ", ".join(f"{gate} {values.mean():.1%}" for gate, values in result.saturation.items())
        print(f"{layer}: shares per step {shares}; mean gates {means}; saturated {saturated}")
    return plots.plot_gate_paths(first, title=f"Gate paths: {_describe(args)}")


def draw_flow(args, model, params, rng, plots):
    """Train on the adding problem (sum the two marked numbers of a sequence) with a FlowRecorder."""
    import tinygrad_rnn as tg

    from .. import analysis, nn, optim

    head = nn.Linear(model.hidden_size * (2 if args.bidirectional else 1), 1, dtype=np.float64)

    class Adder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn, self.head = model, head

    adder = Adder()
    optimizer = optim.Adam(adder.parameters(), lr=1e-2)
    recorder = analysis.FlowRecorder(adder, every=args.every)
    for _ in range(args.train_steps):
        values = rng.uniform(size=(args.steps, args.batch))
        marks = np.zeros_like(values)
        for column in range(args.batch):
            marks[rng.choice(args.steps, size=2, replace=False), column] = 1.0
        inputs = np.stack([values, marks], axis=-1)
        optimizer.zero_grad()
        output, _ = model(tg.Tensor(inputs))
        loss = ((head(output[-1]) - tg.Tensor((values * marks).sum(axis=0)[:, None])) ** 2).mean()
        recorder.backward(loss)
        recorder.clip(1.0)
        optimizer.step()
    snapshots = recorder.snapshots
    if args.save_flow:
        try:
            recorder.save(args.save_flow)
        except OSError as error:
            raise CommandError(f"could not write {args.save_flow!r}: {error.strerror or error}") from None
        print(f"wrote {printable(args.save_flow)}")
    first, last = snapshots[0], snapshots[-1]
    layer = next(iter(last.hidden))
    print(f"adding problem, {_describe(args)}: loss {first.loss:.4f} -> {last.loss:.4f} over {args.train_steps} "
          f"steps; ||dL/dh_0|| / ||dL/dh_T-1|| of {layer}: {_ratio(first.hidden[layer]):.3g} -> "
          f"{_ratio(last.hidden[layer]):.3g}")
    return plots.plot_flow_over_training(snapshots, layer, title=f"Gradient flow over training: {_describe(args)}")


def _ratio(norms: np.ndarray) -> float:
    return float(norms[0] / norms[-1]) if norms[-1] > 0 else float("nan")


def _recurrent_weight(params: dict[str, Any]) -> str:
    return next(name for name in params if name.startswith("weight_hh"))


DRAW = {"ledger": draw_ledger, "credit": draw_credit, "truncation": draw_truncation,
        "connectivity": draw_connectivity, "gates": draw_gates, "flow": draw_flow}
