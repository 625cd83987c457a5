"""Real-time recurrent learning beside backpropagation through time: the same gradient, two bills.

A cell h_t = f(h_{t-1}, x_t; theta) with a loss read at every step, L = sum_t l_t(h_t). BPTT runs the sequence
forward keeping every step, then sends dL/dh back through all of them: memory grows with T. RTRL (Williams &
Zipser 1989) carries the sensitivity S_t = d h_t/d theta forward instead,

    S_t = (d f/d h_{t-1}) S_{t-1} + d f/d theta,        dL/d theta = sum_t (d l_t/d h_t) S_t,

one forward-mode pass per step with the P parameters as its directions (`analysis.rtrl_gradient`). It keeps no
past step, so its memory (H P numbers of sensitivity per sequence, and a pass's one-hot parameter tangents) is
flat in T, and it could learn online, while the sequence is still arriving; it pays in time, every step costing
about P directions of arithmetic. This lab checks that the two gradients agree (1e-10), then measures peak memory
(tracemalloc) and time of each as T grows, and plots them.
"""

from __future__ import annotations

import os

# Set before numpy loads: small matrices, where BLAS threads cost more than they give (see char_rnn.py).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import sys  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from _lab import lab_parser, outputs, report, save_figure  # noqa: E402

import tinygrad_rnn as tg  # noqa: E402
from tinygrad_rnn import analysis, nn  # noqa: E402
from tinygrad_rnn.cli.arguments import comma_list, positive, refuse_larger  # noqa: E402

CELLS = {"rnn": nn.RNNCell, "lstm": nn.LSTMCell, "gru": nn.GRUCell}
SMOKE = {"lengths": [5, 10, 20], "hidden_size": 3, "batch_size": 2, "input_size": 2}


def build_parser() -> Any:
    """The command line of this script (its arguments, their types and bounds)."""
    parser = lab_parser("rtrl", "RTRL against BPTT: the same gradient, memory and time as T grows.")
    parser.add_argument("--cells", type=comma_list(allowed=tuple(CELLS)), default=list(CELLS),
                        help="cells to compare (default rnn,lstm,gru)")
    parser.add_argument("--lengths", type=comma_list(positive(int, 100_000), at_most=20),
                        default=[50, 100, 200, 500, 1000], help="sequence lengths T (default 50,100,200,500,1000)")
    parser.add_argument("--hidden-size", type=positive(int, 64), default=8, help="H (default 8)")
    parser.add_argument("--input-size", type=positive(int, 256), default=4, help="input size (default 4)")
    parser.add_argument("--batch-size", type=positive(int, 256), default=4, help="sequences (default 4)")
    return parser


def parse_args(argv: list[str] | None) -> Any:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    if "--smoke" in argv:
        parser.set_defaults(**SMOKE)
    args = parser.parse_args(argv)
    refuse_larger(parser, 20_000_000, "numbers of hidden state BPTT keeps",
                  {"T": max(args.lengths), "--batch-size": args.batch_size, "--hidden-size": args.hidden_size})
    args.parser = parser
    return args


def problem(args: Any, cell_name: str, length: int) -> tuple[Any, tg.Tensor, Any]:
    """A float64 cell, T inputs and a loss read at every step, mean((h_t - y_t)^2)."""
    tg.manual_seed(0)
    cell = CELLS[cell_name](args.input_size, args.hidden_size, dtype=np.float64)
    rng = np.random.default_rng(0)
    inputs = tg.tensor(rng.standard_normal((length, args.batch_size, args.input_size)), dtype=np.float64)
    targets = [tg.tensor(y) for y in rng.standard_normal((length, args.batch_size, args.hidden_size))]
    return cell, inputs, lambda hidden, step: ((hidden - targets[step]) ** 2).mean()


def bptt_gradient(cell: Any, inputs: tg.Tensor, loss_fn: Any) -> dict[str, np.ndarray]:
    """Unroll, sum the per-step losses, one backward: the engine's BPTT."""
    state, total = None, None
    for step in range(len(inputs)):
        state = cell(inputs[step], state)
        loss = loss_fn(state[0] if isinstance(state, tuple) else state, step)
        total = loss if total is None else total + loss
    names, parameters = zip(*cell.named_parameters())
    return dict(zip(names, (grad.data for grad in tg.grad(total, list(parameters)))))


def cost(method: Any, *arguments: Any) -> tuple[float, float, Any]:
    """(peak KB traced while it runs, seconds of the best of three runs without tracing, its result)."""
    tracemalloc.start()
    try:
        result = method(*arguments)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    seconds = []
    for _ in range(3):
        start = time.perf_counter()
        method(*arguments)
        seconds.append(time.perf_counter() - start)
    return peak / 1024, min(seconds), result


def measure(args: Any) -> dict[str, dict[str, list[float]]]:
    """For each cell and T: both methods' memory and time, after checking that their gradients agree."""
    results = {}
    for cell_name in args.cells:
        rows = {"bptt_kb": [], "rtrl_kb": [], "bptt_s": [], "rtrl_s": []}
        for length in args.lengths:
            cell, inputs, loss_fn = problem(args, cell_name, length)
            bptt_kb, bptt_s, reference = cost(bptt_gradient, cell, inputs, loss_fn)
            rtrl_kb, rtrl_s, online = cost(analysis.rtrl_gradient, cell, inputs, loss_fn)
            worst = max(float(np.max(np.abs(online[name] - reference[name]))) for name in reference)
            if worst > 1e-10:
                raise SystemExit(f"rtrl.py: error: {cell_name} T={length}: the gradients differ by {worst:.3g}")
            for key, value in zip(rows, (bptt_kb, rtrl_kb, bptt_s, rtrl_s)):
                rows[key].append(value)
            print(f"{cell_name:>5} T={length:<6} BPTT {bptt_kb:9.0f} KB {bptt_s:8.3f} s   "
                  f"RTRL {rtrl_kb:9.0f} KB {rtrl_s:8.3f} s   max |RTRL - BPTT| {worst:.1e}", flush=True)
        results[cell_name] = rows
    return results


def plot(args: Any, results: dict[str, dict[str, list[float]]], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (memory, seconds) = plt.subplots(1, 2, figsize=(11, 4.2))
    for color, (cell_name, rows) in zip(("tab:blue", "tab:orange", "tab:green"), results.items()):
        for method, style in (("bptt", "-"), ("rtrl", "--")):
            label = f"{cell_name} {method.upper()}"
            memory.plot(args.lengths, rows[f"{method}_kb"], style, color=color, marker="o", label=label)
            seconds.plot(args.lengths, rows[f"{method}_s"], style, color=color, marker="o", label=label)
    memory.set(xlabel="sequence length T", ylabel="peak memory (KB, tracemalloc)",
               title="memory: BPTT keeps every step, RTRL none")
    seconds.set(xlabel="sequence length T", ylabel="seconds per gradient", yscale="log",
                title="time: every RTRL step carries all P directions")
    for axes in (memory, seconds):
        axes.grid(alpha=0.3)
    memory.legend(fontsize=8, ncol=2)
    figure.suptitle(f"The same gradient two ways (H={args.hidden_size}, input {args.input_size}, "
                    f"batch {args.batch_size}, float64): solid BPTT, dashed RTRL")
    figure.tight_layout()
    return save_figure(figure, path)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.paths = outputs(args.parser, args, ["rtrl_vs_bptt.png"])
    print(f"RTRL vs BPTT: one gradient of sum_t mean((h_t - y_t)^2), H={args.hidden_size}, "
          f"input {args.input_size}, batch {args.batch_size}, float64")
    results = measure(args)
    report([(plot(args, results, args.paths[0]), "peak memory and time against T: BPTT's memory climbs, RTRL's "
             "stays flat")])
    return 0


if __name__ == "__main__":
    sys.exit(main())
