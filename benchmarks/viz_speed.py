"""Speed of the pictures (not a test): the default picture of RNN/LSTM/GRU at T=1000 laid out and rendered
(goal: under 5 s), and the page of a collapsed 1000-step LSTM written (goal: under 2 s and under 2 MB).

    python benchmarks/viz_speed.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

import numpy as np

import tinygrad_rnn as tg
from tinygrad_rnn import nn, viz


def model_loss(cell: str, steps: int, layers: int = 1, bidirectional: bool = False):
    nn.manual_seed(0)
    model = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell](2, 3, num_layers=layers,
                                                                  bidirectional=bidirectional, dtype=np.float64)
    output, _ = model(tg.Tensor(np.random.default_rng(0).standard_normal((steps, 1, 2))))
    return (output[-1] ** 2).mean(), {f"{cell}.{n}": p for n, p in model.named_parameters()}


def main() -> int:
    folder = tempfile.mkdtemp()
    for cell, layers, bidirectional in (("rnn", 1, False), ("lstm", 1, False), ("gru", 1, False),
                                        ("lstm", 2, True)):
        loss, params = model_loss(cell, 1000, layers, bidirectional)
        started = time.perf_counter()
        viz.render(loss, os.path.join(folder, "p.svg"), params=params)
        print(f"default picture, {cell} T=1000 layers={layers} bidirectional={bidirectional}: "
              f"{time.perf_counter() - started:.2f} s")
    loss, params = model_loss("lstm", 1000)
    started = time.perf_counter()
    path = viz.to_html(loss, os.path.join(folder, "p.html"), params=params)
    print(f"page, collapsed lstm T=1000: {time.perf_counter() - started:.2f} s, {os.path.getsize(path) / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
