"""Machine instructions per RNN training step, counted by valgrind: repeatable where the clock is not.

On a shared VM one run's clock spreads are 25-100% and a ratio moves by ~7% between runs, too much to see a change
of a few percent. Instructions counted by `valgrind --tool=callgrind`, with one BLAS thread, a fixed hash seed and
no address randomisation, repeat to the instruction. They miss what memory costs (cache misses, page faults), so
they complement `rnn_step.py`'s clock; they do not replace it.

    python benchmarks/instructions.py [--workloads W1,W2,W4] [--steps N] [--length T] [--smoke]   (needs valgrind)
    python benchmarks/instructions.py --workloads G1-lstm,G1-gru,G2-lstm    (gated cells: gated_step.py's sizes)

Each count is (a run of N steps - a run of 0 steps) / N, after one warm-up step in both, so that start-up and
imports cancel. Every run is a fresh interpreter under valgrind, about 50x slower than native.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import re
import shutil
import subprocess
import sys
from typing import Any

import gated_step
import harness
import numpy as np
import numpy_bptt
import rnn_step

CONTENDERS = {"numpy": rnn_step.NumpyBPTT, "ours": rnn_step.OurNNRNN, "ops": rnn_step.OpsOnly, "floor": rnn_step.Floor}
GATED_CONTENDERS = {"numpy": gated_step.NumpyGated, "ours": gated_step.OurNN, "ops": gated_step.OpsOnly}
"""For the gated workloads, named '<G1|G2|G3>-<lstm|gru>' (floor.py has no gated cells)."""
DEFAULT_STEPS = {"W1": 20, "W2": 3, "W3": 1, "W4": 2, "G1": 1, "G2": 5, "G3": 1}
DEFAULT_LENGTHS = {"W3": 10, "W4": 100, "G3": 10}
"""Shorter sequences for the slow workloads (valgrind runs ~50x slower); a step costs about the same per time step."""


def gated_workload(name: str) -> tuple[gated_step.Workload, str] | None:
    """('G1-lstm' ->) gated_step's workload and the cell, or None when `name` is not a gated workload's."""
    size, _, cell = name.partition("-")
    workloads = {**gated_step.WORKLOADS, **gated_step.SMOKE_WORKLOADS}
    if size not in workloads or cell not in gated_step.LAYERS:
        return None
    return workloads[size], cell


def run_steps(contender_name: str, workload: Any, steps: int, cell: str | None = None) -> None:
    """The child's work: build one contender at the workload's sizes, warm it up, then run `steps` steps."""
    harness.limit_blas_threads()
    if cell is not None:
        contender = GATED_CONTENDERS[contender_name](cell, *workload.data(cell))
    else:
        rng = np.random.default_rng(0)
        parameters = numpy_bptt.init_parameters(rng, workload.input_size, workload.hidden_size, workload.input_size)
        inputs, targets = numpy_bptt.make_batch(rng, workload.length, workload.batch, workload.input_size,
                                                workload.input_size)
        contender = CONTENDERS[contender_name](parameters, inputs, targets)
    for _ in range(steps + 1):
        contender.step()


def count(contender_name: str, workload: Any, steps: int, name: str) -> int:
    """Instructions of a fresh interpreter that runs `steps` (+1 warm-up) steps of the workload called `name`,
    under callgrind."""
    python = [sys.executable] + (["-S"] if sys.flags.no_site else [])  # -S with PYTHONPATH: count another checkout
    command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *python, __file__, "--child",
               contender_name, name, str(steps), str(workload.length), str(workload.batch)]
    if shutil.which("setarch"):
        command = ["setarch", platform.machine(), "-R"] + command  # same addresses, so the same hashing of ids
    env = dict(os.environ, PYTHONHASHSEED="0")
    # Without this OpenBLAS starts a thread pool whose idle spinning valgrind counts too. (The child also limits
    # BLAS to one thread as rnn_step.py does; a value the machine sets is kept, and main() warns about it.)
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    match = re.search(r"Collected : (\d+)", result.stderr)
    if result.returncode != 0 or match is None:
        harness.fail(f"valgrind run of {contender_name} at {name} failed:\n{result.stderr[-2000:]}")
    return int(match.group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workloads", default="W1,W2,W4",
                        help="comma-separated subset of W1,W2,W3,W4 and of G1,G2,G3 with a cell: G1-lstm,G2-gru")
    parser.add_argument("--steps", type=int, default=None, help="steps counted per run (default: per workload)")
    parser.add_argument("--length", type=int, default=None,
                        help="every workload's T (default: as rnn_step.py, but W3 at T=10 and W4 at T=100)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, two steps: checks that the script runs")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        name, workload_name, steps, length, batch = args.child
        gated = gated_workload(workload_name)
        if gated is not None:
            run_steps(name, dataclasses.replace(gated[0], length=int(length), batch=int(batch)), int(steps), gated[1])
            return 0
        base = (rnn_step.SMOKE_WORKLOADS if workload_name not in rnn_step.WORKLOADS else rnn_step.WORKLOADS)
        workload = dataclasses.replace(base[workload_name], length=int(length), batch=int(batch))
        run_steps(name, workload, int(steps))
        return 0
    if shutil.which("valgrind") is None:
        harness.fail("valgrind is not installed (apt-get install -y valgrind)")
    workloads = rnn_step.SMOKE_WORKLOADS if args.smoke else rnn_step.WORKLOADS
    names = [*workloads, "G0-gru"] if args.smoke else [name.strip() for name in args.workloads.split(",")]
    unknown = [name for name in names if name not in workloads and gated_workload(name) is None]
    if unknown:
        harness.fail(f"unknown workload(s) {', '.join(unknown)}; choose from {', '.join(workloads)}, or "
                     f"{', '.join(gated_step.WORKLOADS)} with a cell ({', '.join(gated_step.LAYERS)}), as G1-lstm")
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "1")
    print("instructions per training step (valgrind callgrind; 1 BLAS thread, PYTHONHASHSEED=0, "
          f"{'no ASLR' if shutil.which('setarch') else 'ASLR on: counts may wander'}); code: {harness.code_version()}")
    if threads != "1":
        print(f"warning: OPENBLAS_NUM_THREADS={threads} is set here, so OpenBLAS's idle threads are counted too")
    rows = []
    for name in names:
        gated = gated_workload(name)
        workload, cell = gated if gated is not None else (workloads[name], None)
        length = args.length or (workload.length if args.smoke else DEFAULT_LENGTHS.get(workload.name,
                                                                                        workload.length))
        workload = dataclasses.replace(workload, length=length)
        steps = 2 if args.smoke else args.steps or DEFAULT_STEPS.get(workload.name, 2)
        per_step = {}
        for contender_name in CONTENDERS if cell is None else GATED_CONTENDERS:
            counted = count(contender_name, workload, steps, name) - count(contender_name, workload, 0, name)
            per_step[contender_name] = counted / steps
        numpy_count = per_step["numpy"]
        floor = f"{per_step['floor'] / numpy_count:.2f}x" if "floor" in per_step else "-"
        described = workload.describe() if cell is None else f"{gated_step.LAYERS[cell]} {workload.describe()}"
        rows.append([described, f"{numpy_count / 1e6:.3f}", f"{per_step['ours'] / 1e6:.3f}",
                     f"{per_step['ours'] / numpy_count:.2f}x", f"{per_step['ops'] / numpy_count:.2f}x", floor])
    print(harness.format_table(["workload", "numpy BPTT M/step", "ours: nn layer M/step", "ours / numpy",
                                "ops_only.py / numpy", "floor.py / numpy"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
