"""Speed of the pictures (not a test): the default picture of RNN/LSTM/GRU at T=1000 laid out and rendered
(goal: under 5 s), and the page of a collapsed 1000-step LSTM written (goal: under 2 s and under 2 MB).

Each figure is the best of `--repeat` runs: wall clock, this process's CPU time (time.process_time) and the CPU
time of Graphviz's `dot` (a child process), so a loaded machine's waiting shows apart from the work.

    python benchmarks/viz_speed.py                 # every case
    python benchmarks/viz_speed.py --profile page  # cProfile of one case (picture names: rnn, lstm, gru, lstm2bi)
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import resource
import sys
import tempfile
import time
from collections.abc import Callable

import numpy as np

import tinygrad_rnn as tg
from tinygrad_rnn import nn, viz

PICTURES = {"rnn": ("rnn", 1, False), "lstm": ("lstm", 1, False), "gru": ("gru", 1, False),
            "lstm2bi": ("lstm", 2, True)}


def model_loss(cell: str, steps: int, layers: int = 1, bidirectional: bool = False):
    nn.manual_seed(0)
    model = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell](2, 3, num_layers=layers,
                                                                  bidirectional=bidirectional, dtype=np.float64)
    output, _ = model(tg.Tensor(np.random.default_rng(0).standard_normal((steps, 1, 2))))
    return (output[-1] ** 2).mean(), {f"{cell}.{n}": p for n, p in model.named_parameters()}


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(work: Callable[[], object], repeat: int) -> tuple[float, float, float]:
    """Best (wall, process CPU, dot CPU) seconds over `repeat` runs."""
    best = (float("inf"),) * 3
    for _ in range(repeat):
        wall, cpu, child = time.perf_counter(), time.process_time(), children_cpu()
        work()
        taken = (time.perf_counter() - wall, time.process_time() - cpu, children_cpu() - child)
        best = tuple(min(a, b) for a, b in zip(best, taken))
    return best


def cases(folder: str) -> dict[str, Callable[[], object]]:
    made: dict[str, Callable[[], object]] = {}
    for name, (cell, layers, bidirectional) in PICTURES.items():
        loss, params = model_loss(cell, 1000, layers, bidirectional)
        made[name] = lambda loss=loss, params=params: viz.render(loss, os.path.join(folder, "p.svg"), params=params)
    loss, params = model_loss("lstm", 1000)
    made["page"] = lambda: viz.to_html(loss, os.path.join(folder, "p.html"), params=params)
    return made


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", choices=(*PICTURES, "page"), help="print a cProfile of this case instead")
    args = parser.parse_args(argv)
    folder = tempfile.mkdtemp()
    work = cases(folder)
    if args.profile:
        profile = cProfile.Profile()
        profile.runcall(work[args.profile])
        pstats.Stats(profile).sort_stats("tottime").print_stats(25)
        return 0
    print(f"{'T=1000, best of ' + str(args.repeat):<44} {'wall s':>7} {'CPU s':>6} {'dot CPU s':>9}")
    for name, (cell, layers, bidirectional) in PICTURES.items():
        wall, cpu, child = measure(work[name], args.repeat)
        what = f"default picture, {cell}, {layers} layer(s){', bidirectional' if bidirectional else ''}"
        print(f"{what:<44} {wall:>7.2f} {cpu:>6.2f} {child:>9.2f}")
    wall, cpu, child = measure(work["page"], args.repeat)
    size = os.path.getsize(os.path.join(folder, "p.html")) / 1e6
    print(f"{'page, collapsed lstm (' + format(size, '.2f') + ' MB)':<44} {wall:>7.2f} {cpu:>6.2f} {child:>9.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
