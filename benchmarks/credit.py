"""What the credit analyses cost beside one training step: the ledger (`analysis.credit`) and `FlowRecorder`.

One training step: forward over T steps of our nn.RNN (or LSTM), a readout at every step, MSE, backward, SGD.
Contenders, timed round-robin with one BLAS thread (float32): the training step; forward + the ledger with norms
only (arrays=False) and with the per-step arrays; the training step with `FlowRecorder(every=1)`; and 50
training steps with and without `FlowRecorder(every=50)` (one recorded step in 50). First the ledger's total is
checked against the engine's gradient in float64 (1e-12), and the recorder's losses against a plain run
(bit-identical). Memory: the peak traced by tracemalloc during each call, and what the ledger itself holds.

    python benchmarks/credit.py [--cells rnn,lstm] [--rounds N] [--clock cpu] [--smoke]
"""

from __future__ import annotations

import argparse
import sys
import tracemalloc
from collections.abc import Callable
from typing import Any

import harness
import numpy as np

import tinygrad_rnn as tg
from tinygrad_rnn import analysis, nn, optim

SIZES = {"batch": 32, "input_size": 64, "hidden_size": 128, "length": 50}
SMOKE_SIZES = {"batch": 2, "input_size": 3, "hidden_size": 4, "length": 5}
RECORD_EVERY = 50
GOALS = {"ledger (norms)": 2.0, "FlowRecorder every=1": 1.3, f"FlowRecorder every={RECORD_EVERY}": 1.05}


class Model(nn.Module):
    """A recurrent layer with a readout at every step (as benchmarks/rnn_step.py's workloads)."""

    def __init__(self, cell: str, sizes: dict[str, int], dtype: Any) -> None:
        super().__init__()
        layer = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell]
        self.rnn = layer(sizes["input_size"], sizes["hidden_size"], dtype=dtype)
        self.head = nn.Linear(sizes["hidden_size"], sizes["input_size"], dtype=dtype)

    def loss(self, inputs: tg.Tensor, targets: tg.Tensor) -> tg.Tensor:
        output, _ = self.rnn(inputs)
        return ((self.head(output) - targets) ** 2).mean()


def make(cell: str, sizes: dict[str, int], dtype: Any, seed: int = 0) -> tuple[Model, tg.Tensor, tg.Tensor]:
    nn.manual_seed(seed)
    rng = np.random.default_rng(seed)
    shape = (sizes["length"], sizes["batch"], sizes["input_size"])
    return Model(cell, sizes, dtype), tg.Tensor(rng.standard_normal(shape).astype(dtype)), \
        tg.Tensor(rng.standard_normal(shape).astype(dtype))


def check(cell: str, sizes: dict[str, int]) -> None:
    """The ledger's total equals the engine's gradient (float64), and recording changes no loss (float32)."""
    model, inputs, targets = make(cell, sizes, np.float64)
    params = dict(model.named_parameters())
    ledger = analysis.credit(model.loss(inputs, targets), params, arrays=False)
    model.loss(inputs, targets).backward()
    worst = max(float(np.max(np.abs(ledger.total(name) - param.grad))) for name, param in params.items())
    if worst > 1e-12:
        sys.exit(f"MISMATCH: the ledger's total differs from the engine's gradient by {worst:.3g}")
    runs = []
    for every in (None, 2):
        model, inputs, targets = make(cell, sizes, np.float32)
        optimizer = optim.SGD(model.parameters(), lr=1e-3)
        recorder = None if every is None else analysis.FlowRecorder(model, every=every)
        losses = []
        for _ in range(4):
            optimizer.zero_grad()
            loss = model.loss(inputs, targets)
            (loss.backward() if recorder is None else recorder.backward(loss))
            optimizer.step()
            losses.append(loss.item())
        runs.append(losses)
    if runs[0] != runs[1]:
        sys.exit(f"MISMATCH: FlowRecorder changed the losses: {runs[0]} vs {runs[1]}")
    print(f"{cell}: check passed (ledger total = engine gradient to {worst:.1e} in float64; FlowRecorder losses "
          "bit-identical)")


def contenders(cell: str, sizes: dict[str, int]) -> dict[str, Callable[[], object]]:
    model, inputs, targets = make(cell, sizes, np.float32)
    params = dict(model.named_parameters())
    optimizer = optim.SGD(model.parameters(), lr=1e-4)
    every_one = analysis.FlowRecorder(model, every=1)
    sparse = analysis.FlowRecorder(model, every=RECORD_EVERY)

    def train(recorder: Any = None) -> None:
        optimizer.zero_grad()
        loss = model.loss(inputs, targets)
        if recorder is None:
            loss.backward()
        else:
            recorder.backward(loss)
            recorder._snapshots.clear()  # (a long benchmark would otherwise keep every snapshot)
        optimizer.step()

    def many(recorder: Any = None) -> None:
        for _ in range(RECORD_EVERY):
            train(recorder)

    return {
        "training step": train,
        "ledger (norms)": lambda: analysis.credit(model.loss(inputs, targets), params, arrays=False),
        "ledger (arrays)": lambda: analysis.credit(model.loss(inputs, targets), params, arrays=True),
        "FlowRecorder every=1": lambda: train(every_one),
        f"{RECORD_EVERY} training steps": many,
        f"FlowRecorder every={RECORD_EVERY}": lambda: many(sparse),
    }


def peak_bytes(run: Callable[[], object]) -> int:
    """The most memory Python's allocator (numpy included) held above the start during one call."""
    run()
    tracemalloc.start()
    run()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def ledger_bytes(cell: str, sizes: dict[str, int], arrays: bool) -> int:
    model, inputs, targets = make(cell, sizes, np.float32)
    ledger = analysis.credit(model.loss(inputs, targets), dict(model.named_parameters()), arrays=arrays)
    held = [ledger._norms, ledger._totals, ledger._outside] + ([ledger._parts] if arrays else [])  # (internals)
    return sum(array.nbytes for table in held for array in table.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", default="rnn", help="comma-separated: rnn, lstm, gru (default rnn)")
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, two rounds (what the tests run)")
    harness.add_clock_argument(parser)
    args = parser.parse_args(argv)
    blas = harness.limit_blas_threads()
    sizes = SMOKE_SIZES if args.smoke else SIZES
    rounds = 2 if args.smoke else args.rounds
    for line in harness.machine_lines(blas):
        print(line)
    print(f"sizes: B={sizes['batch']} I={sizes['input_size']} H={sizes['hidden_size']} T={sizes['length']}, "
          f"float32, {rounds} rounds, clock {args.clock}")
    for cell in args.cells.split(","):
        check(cell, sizes)
        runs = contenders(cell, sizes)
        timings = {timing.name: timing for timing in harness.time_round_robin(
            runs, rounds, target_seconds=0.0 if args.smoke else 0.2, clock=args.clock)}
        step, many = timings["training step"], timings[f"{RECORD_EVERY} training steps"]
        print(f"\n{cell}: time per call (median over rounds) and ratio to the training step(s) of the same round")
        for name, timing in timings.items():
            baseline = many if name.endswith(f"every={RECORD_EVERY}") or name == many.name else step
            ratio = harness.paired_ratio(timing, baseline)
            goal = f"  (goal <= {GOALS[name]}x: {'met' if ratio <= GOALS[name] else 'MISSED'})" if name in GOALS else ""
            print(f"  {name:<28} {timing.median * 1e3:9.2f} ms  spread {timing.spread:5.0%}  {ratio:5.2f}x{goal}")
        print(f"\n{cell}: peak memory traced during one call")
        for name in ("training step", "ledger (norms)", "ledger (arrays)", "FlowRecorder every=1"):
            print(f"  {name:<28} {peak_bytes(runs[name]) / 2**20:8.2f} MB")
        parameters = sum(param.data.size for param in make(cell, sizes, np.float32)[0].parameters())
        for arrays in (False, True):
            print(f"  the ledger holds ({'arrays' if arrays else 'norms only'}): "
                  f"{ledger_bytes(cell, sizes, arrays) / 2**20:.2f} MB ({parameters} float32 parameters, "
                  f"T = {sizes['length']})")
    print("\nsummary: ledger and FlowRecorder timed against the training step of the same round")
    return 0


if __name__ == "__main__":
    sys.exit(main())
