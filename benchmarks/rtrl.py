"""RTRL against BPTT as T grows: peak memory (tracemalloc) and time of one gradient of a recurrent cell's loss.

BPTT (the engine's backward through the unrolled graph) keeps every step until its backward, so its memory grows
with T. RTRL (`analysis.rtrl_gradient`) carries d h_t/d theta forward and keeps no past step: its memory is set
by H and P (the sensitivities and one pass's one-hot parameter tangents), flat in T; it pays in time, each step
costing about P directions of arithmetic. The two gradients are checked against each other first (float64, 1e-10).
Each peak is what tracemalloc sees allocated during the call, the cell and the inputs made before it; times are
the best of --repeats runs without tracemalloc (one BLAS thread, a busy machine's clock: read ratios, not digits).

    python benchmarks/rtrl.py [--cells rnn,lstm,gru] [--lengths 100,200,500,1000] [--hidden-size 8] [--smoke]
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import harness
import numpy as np

import tinygrad_rnn as tg
from tinygrad_rnn import analysis, nn

CELLS = {"rnn": nn.RNNCell, "lstm": nn.LSTMCell, "gru": nn.GRUCell}
SIZES = {"batch": 4, "input_size": 4, "hidden_size": 8}
SMOKE = {"batch": 2, "input_size": 2, "hidden_size": 3, "lengths": "5,10", "repeats": 1}


def problem(cell_name: str, sizes: dict[str, int], length: int, seed: int = 0) -> tuple[Any, tg.Tensor, Callable]:
    """A float64 cell, T inputs and loss_fn(h_t, t) = mean((h_t - y_t)^2): a loss read at every step."""
    tg.manual_seed(seed)
    cell = CELLS[cell_name](sizes["input_size"], sizes["hidden_size"], dtype=np.float64)
    rng = np.random.default_rng(seed)
    inputs = tg.tensor(rng.standard_normal((length, sizes["batch"], sizes["input_size"])), dtype=np.float64)
    targets = [tg.tensor(target, dtype=np.float64)
               for target in rng.standard_normal((length, sizes["batch"], sizes["hidden_size"]))]

    def loss_fn(hidden: tg.Tensor, step: int) -> tg.Tensor:
        return ((hidden - targets[step]) ** 2).mean()

    return cell, inputs, loss_fn


def bptt_gradient(cell: Any, inputs: tg.Tensor, loss_fn: Callable) -> dict[str, np.ndarray]:
    """The same gradient by backpropagation through time: unroll, sum the losses, one backward."""
    state, total = None, None
    for step in range(len(inputs)):
        state = cell(inputs[step], state)
        loss = loss_fn(state[0] if isinstance(state, tuple) else state, step)
        total = loss if total is None else total + loss
    parameters = dict(cell.named_parameters())
    grads = tg.grad(total, list(parameters.values()))
    return {name: grad.data for name, grad in zip(parameters, grads)}


def rtrl(cell: Any, inputs: tg.Tensor, loss_fn: Callable) -> dict[str, np.ndarray]:
    return analysis.rtrl_gradient(cell, inputs, loss_fn)


def peak_bytes(run: Callable[[], Any]) -> int:
    """The most memory tracemalloc saw allocated at once while `run()` ran (what existed before is not counted)."""
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def best_seconds(run: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def measure(cell_name: str, sizes: dict[str, int], length: int, repeats: int) -> dict[str, float]:
    """Peak memory and time of both methods at one length, after checking that they agree."""
    cell, inputs, loss_fn = problem(cell_name, sizes, length)
    reference, online = bptt_gradient(cell, inputs, loss_fn), rtrl(cell, inputs, loss_fn)
    difference = max(float(np.max(np.abs(online[name] - reference[name]))) for name in reference)
    if difference > 1e-10:
        harness.fail(f"{cell_name} T={length}: RTRL and BPTT gradients differ by {difference:.3g}")
    result = {"difference": difference, "parameters": sum(p.data.size for p in cell.parameters())}
    for method, run in (("bptt", bptt_gradient), ("rtrl", rtrl)):
        result[f"{method}_bytes"] = peak_bytes(lambda run=run: run(cell, inputs, loss_fn))
        result[f"{method}_seconds"] = best_seconds(lambda run=run: run(cell, inputs, loss_fn), repeats)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", default="rnn,lstm,gru", help="comma-separated subset of rnn,lstm,gru")
    parser.add_argument("--lengths", default="100,200,500,1000", help="comma-separated sequence lengths T")
    parser.add_argument("--hidden-size", type=int, default=SIZES["hidden_size"])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per method (the best is kept)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks that the script runs")
    args = parser.parse_args(argv)
    cells = [name.strip() for name in args.cells.split(",")]
    unknown = [name for name in cells if name not in CELLS]
    if unknown:
        harness.fail(f"unknown cell(s) {', '.join(unknown)}; choose from {', '.join(CELLS)}")
    sizes = dict(SIZES, hidden_size=args.hidden_size)
    lengths, repeats = args.lengths, args.repeats
    if args.smoke:
        sizes = {key: SMOKE[key] for key in SIZES}
        lengths, repeats = SMOKE["lengths"], SMOKE["repeats"]
    harness.limit_blas_threads()
    print(f"RTRL vs BPTT, one gradient (batch {sizes['batch']}, input {sizes['input_size']}, hidden "
          f"{sizes['hidden_size']}, float64); code: {harness.code_version()}")
    rows = []
    for cell_name in cells:
        for length in (int(text) for text in lengths.split(",")):
            m = measure(cell_name, sizes, length, repeats)
            rows.append([cell_name, str(m["parameters"]), str(length), f"{m['bptt_bytes'] / 1024:.0f}",
                         f"{m['rtrl_bytes'] / 1024:.0f}", f"{m['bptt_seconds'] * 1e3:.1f}",
                         f"{m['rtrl_seconds'] * 1e3:.1f}", f"{m['difference']:.1e}"])
    print(harness.format_table(["cell", "P", "T", "BPTT peak KB", "RTRL peak KB", "BPTT ms", "RTRL ms",
                                "max |RTRL - BPTT|"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
