"""Machine instructions per RNN training step, counted by valgrind: repeatable where the clock is not.

On a shared VM one run's clock spreads are 25-100% and a ratio moves by ~7% between runs, too much to see a change
of a few percent. Instructions counted by `valgrind --tool=callgrind`, with one BLAS thread, a fixed hash seed and
no address randomisation, repeat to the instruction. They miss what memory costs (cache misses, page faults), so
they complement `rnn_step.py`'s clock; they do not replace it.

    python benchmarks/instructions.py [--workloads W1,W2,W4] [--steps N] [--length T] [--smoke]   (needs valgrind)

Each count is (a run of N steps - a run of 0 steps) / N, after one warm-up step in both, so that start-up and
imports cancel. Every run is a fresh interpreter under valgrind, about 50x slower than native.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys

import harness
import numpy as np
import numpy_bptt
import rnn_step

CONTENDERS = {"numpy": rnn_step.NumpyBPTT, "ours": rnn_step.OurNNRNN, "ops": rnn_step.OpsOnly, "floor": rnn_step.Floor}
DEFAULT_STEPS = {"W1": 20, "W2": 3, "W3": 1, "W4": 2}
DEFAULT_LENGTHS = {"W3": 10, "W4": 100}
"""Shorter sequences for the slow workloads (valgrind runs ~50x slower); a step costs about the same per time step."""


def run_steps(contender_name: str, workload: rnn_step.Workload, steps: int) -> None:
    """The child's work: build one contender at the workload's sizes, warm it up, then run `steps` steps."""
    harness.limit_blas_threads()
    rng = np.random.default_rng(0)
    parameters = numpy_bptt.init_parameters(rng, workload.input_size, workload.hidden_size, workload.input_size)
    inputs, targets = numpy_bptt.make_batch(rng, workload.length, workload.batch, workload.input_size,
                                            workload.input_size)
    contender = CONTENDERS[contender_name](parameters, inputs, targets)
    for _ in range(steps + 1):
        contender.step()


def count(contender_name: str, workload: rnn_step.Workload, steps: int) -> int:
    """Instructions of a fresh interpreter that runs `steps` (+1 warm-up) steps, under callgrind."""
    python = [sys.executable] + (["-S"] if sys.flags.no_site else [])  # -S with PYTHONPATH: count another checkout
    command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *python, __file__, "--child",
               contender_name, workload.name, str(steps), str(workload.length), str(workload.batch)]
    if shutil.which("setarch"):
        command = ["setarch", platform.machine(), "-R"] + command  # same addresses, so the same hashing of ids
    env = dict(os.environ, PYTHONHASHSEED="0")
    # Without this OpenBLAS starts a thread pool whose idle spinning valgrind counts too. (The child also limits
    # BLAS to one thread as rnn_step.py does; a value the machine sets is kept, and main() warns about it.)
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    match = re.search(r"Collected : (\d+)", result.stderr)
    if result.returncode != 0 or match is None:
        harness.fail(f"valgrind run of {contender_name} at {workload.name} failed:\n{result.stderr[-2000:]}")
    return int(match.group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workloads", default="W1,W2,W4", help="comma-separated subset of W1,W2,W3,W4")
    parser.add_argument("--steps", type=int, default=None, help="steps counted per run (default: per workload)")
    parser.add_argument("--length", type=int, default=None,
                        help="every workload's T (default: as rnn_step.py, but W3 at T=10 and W4 at T=100)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, two steps: checks that the script runs")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        name, workload_name, steps, length, batch = args.child
        base = (rnn_step.SMOKE_WORKLOADS if workload_name not in rnn_step.WORKLOADS else rnn_step.WORKLOADS)
        workload = base[workload_name]
        workload = rnn_step.Workload(workload.name, int(batch), workload.input_size, workload.hidden_size,
                                     int(length), workload.rounds, workload.target_seconds)
        run_steps(name, workload, int(steps))
        return 0
    if shutil.which("valgrind") is None:
        harness.fail("valgrind is not installed (apt-get install -y valgrind)")
    workloads = rnn_step.SMOKE_WORKLOADS if args.smoke else rnn_step.WORKLOADS
    names = list(workloads) if args.smoke else [name.strip() for name in args.workloads.split(",")]
    unknown = [name for name in names if name not in workloads]
    if unknown:
        harness.fail(f"unknown workload(s) {', '.join(unknown)}; choose from {', '.join(workloads)}")
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "1")
    print("instructions per training step (valgrind callgrind; 1 BLAS thread, PYTHONHASHSEED=0, "
          f"{'no ASLR' if shutil.which('setarch') else 'ASLR on: counts may wander'}); code: {harness.code_version()}")
    if threads != "1":
        print(f"warning: OPENBLAS_NUM_THREADS={threads} is set here, so OpenBLAS's idle threads are counted too")
    rows = []
    for name in names:
        workload = workloads[name]
        length = args.length or (workload.length if args.smoke else DEFAULT_LENGTHS.get(name, workload.length))
        workload = rnn_step.Workload(workload.name, workload.batch, workload.input_size, workload.hidden_size,
                                     length, workload.rounds, workload.target_seconds)
        steps = 2 if args.smoke else args.steps or DEFAULT_STEPS.get(name, 2)
        per_step = {}
        for contender_name in CONTENDERS:
            counted = count(contender_name, workload, steps) - count(contender_name, workload, 0)
            per_step[contender_name] = counted / steps
        numpy_count = per_step["numpy"]
        rows.append([workload.describe(), f"{numpy_count / 1e6:.3f}", f"{per_step['ours'] / 1e6:.3f}",
                     f"{per_step['ours'] / numpy_count:.2f}x", f"{per_step['ops'] / numpy_count:.2f}x",
                     f"{per_step['floor'] / numpy_count:.2f}x"])
    print(harness.format_table(["workload", "numpy BPTT M/step", "ours: nn.RNN M/step", "ours / numpy",
                                "ops_only.py / numpy", "floor.py / numpy"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
