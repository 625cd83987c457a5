"""Time one training step of a character model with an LSTM or a GRU against a hand-written numpy BPTT (and PyTorch).

One step of the char-RNN demo's model: embedding, LSTM or GRU over T steps, linear decoder, mean cross-entropy
over all T*B predictions, full backward, SGD update (`numpy_gated.py` states the math). Contenders: our
`nn.LSTM`/`nn.GRU`, their ops replayed with no engine around them (`ops_only.py`: the bound for any engine on
our ops), the hand-written numpy BPTT, and PyTorch eager (`nn.LSTM`/`nn.GRU`, whose loop is C++, and a Python
loop of `nn.LSTMCell`/`nn.GRUCell`) when torch is importable. First every contender's float64 gradients must
equal the numpy BPTT's to 1e-10 relative (else exit 1); then float32 is timed with one BLAS thread, round-robin,
and each contender's time is divided by the numpy baseline's from the same round (median over rounds). With
--lone, each round runs every contender alone in a fresh process instead, as a user's training loop runs.

    python benchmarks/gated_step.py [--workloads G1,G2,G3] [--cells lstm,gru] [--repeats N] [--lone] [--smoke]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import harness
import numpy as np
import numpy_gated
import ops_only
import rnn_step

import tinygrad_rnn as tg
from tinygrad_rnn import nn
from tinygrad_rnn.nn.functional import cross_entropy
from tinygrad_rnn.ops.linalg import transposed_product_pays

GRADIENT_TOLERANCE = 1e-10
LEARNING_RATE = 1e-3
LAYERS = {"lstm": "LSTM", "gru": "GRU"}


@dataclass(frozen=True)
class Workload:
    """Sizes of one benchmark: B sequences of T characters from a vocabulary of V, embedded in X dimensions."""

    name: str
    batch: int
    embedding_dim: int
    hidden_size: int
    length: int
    vocab_size: int
    rounds: int
    target_seconds: float

    def describe(self) -> str:
        return (f"{self.name}: B={self.batch} X={self.embedding_dim} H={self.hidden_size} T={self.length} "
                f"V={self.vocab_size}")

    def data(self, cell: str, dtype: type = np.float32, length: int | None = None) -> tuple[Any, ...]:
        """(parameters, ids, targets) drawn from a fixed seed."""
        rng = np.random.default_rng(0)
        parameters = numpy_gated.init_parameters(rng, cell, self.vocab_size, self.embedding_dim, self.hidden_size,
                                                 dtype)
        return (parameters, *numpy_gated.make_batch(rng, length or self.length, self.batch, self.vocab_size))


WORKLOADS = {
    "G1": Workload("G1", 32, 32, 256, 50, 65, rounds=9, target_seconds=0.1),  # the char-RNN demo's sizes
    "G2": Workload("G2", 1, 32, 32, 100, 65, rounds=15, target_seconds=0.1),
    "G3": Workload("G3", 64, 32, 512, 100, 65, rounds=5, target_seconds=0.0),
}
SMOKE_WORKLOADS = {"G0": Workload("G0", 2, 3, 4, 5, 7, rounds=1, target_seconds=0.0)}
CHECK_SHAPES = ((1, 32, 32, 100, 65), (3, 5, 6, 7, 11))
"""(B, X, H, T, V) of the float64 gradient checks: G2's shape and a small batch."""


# ---- contenders: each copies the shared parameters, then `step()` trains once and `gradients()` reports -------

class Contender:
    """One implementation of the training step for `cell` ('lstm' or 'gru') on its own copy of the parameters."""

    title = "contender"
    """The row's name; '{layer}' becomes LSTM or GRU."""

    def __init__(self, cell: str, parameters: dict[str, np.ndarray], ids: np.ndarray, targets: np.ndarray) -> None:
        self.cell = cell

    @classmethod
    def label(cls, cell: str) -> str:
        return cls.title.format(layer=LAYERS[cell])

    def step(self) -> None:
        """Forward, backward and SGD update."""
        raise NotImplementedError

    def gradients(self) -> dict[str, np.ndarray]:
        """Forward and backward without the update; d loss/d parameter as numpy arrays."""
        raise NotImplementedError


class NumpyGated(Contender):
    title = "numpy BPTT (hand-written)"

    def __init__(self, cell: str, parameters: dict[str, np.ndarray], ids: np.ndarray, targets: np.ndarray) -> None:
        super().__init__(cell, parameters, ids, targets)
        self.parameters = {name: array.copy() for name, array in parameters.items()}
        self.ids, self.targets = ids, targets

    def step(self) -> None:
        numpy_gated.train_step(self.cell, self.parameters, self.ids, self.targets, LEARNING_RATE)

    def gradients(self) -> dict[str, np.ndarray]:
        return numpy_gated.loss_and_gradients(self.cell, self.parameters, self.ids, self.targets)[1]


class CharModel(nn.Module):
    """Embedding -> LSTM/GRU -> Linear, the char-RNN demo's model: ids (T, B) -> logits (T*B, V)."""

    def __init__(self, cell: str, vocab_size: int, embedding_dim: int, hidden_size: int, dtype: Any) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, dtype=dtype)
        self.rnn = getattr(nn, LAYERS[cell])(embedding_dim, hidden_size, dtype=dtype)
        self.decoder = nn.Linear(hidden_size, vocab_size, dtype=dtype)

    def forward(self, ids: np.ndarray) -> tg.Tensor:
        output, _ = self.rnn(self.embedding(ids))
        return self.decoder(output.reshape(-1, output.shape[-1]))


class OurNN(Contender):
    title = "ours: nn.{layer}"

    def __init__(self, cell: str, parameters: dict[str, np.ndarray], ids: np.ndarray, targets: np.ndarray) -> None:
        super().__init__(cell, parameters, ids, targets)
        vocab_size, embedding_dim = parameters["embedding.weight"].shape
        hidden_size = parameters["rnn.weight_hh_l0"].shape[1]
        self.model = CharModel(cell, vocab_size, embedding_dim, hidden_size, parameters["embedding.weight"].dtype)
        self.tensors = dict(self.model.named_parameters())
        for name, tensor in self.tensors.items():
            tensor.data = parameters[name].copy()
        self.ids, self.flat_targets = ids, targets.reshape(-1)

    def loss(self) -> tg.Tensor:
        return cross_entropy(self.model(self.ids), self.flat_targets)

    def step(self) -> None:
        self.loss().backward()
        for tensor in self.tensors.values():
            tensor.data -= LEARNING_RATE * tensor.grad
            tensor.grad = None

    def gradients(self) -> dict[str, np.ndarray]:
        self.loss().backward()
        gradients = {name: tensor.grad for name, tensor in self.tensors.items()}
        for tensor in self.tensors.values():
            tensor.grad = None
        return gradients


class OpsOnly(Contender):
    """ops_only.py: our layer's ops, recorded once and replayed as straight-line calls with no engine around them,
    a lower bound for any engine (one in C too) that keeps our ops."""

    title = "our ops alone, no engine (ops_only.py)"

    def __init__(self, cell: str, parameters: dict[str, np.ndarray], ids: np.ndarray, targets: np.ndarray) -> None:
        super().__init__(cell, parameters, ids, targets)
        model = OurNN(cell, parameters, ids, targets)
        self.tensors = model.tensors
        # the replay names its leaves in Python code: 'rnn.weight_hh_l0' is passed as 'rnn_weight_hh_l0'
        self.names = {name.replace(".", "_"): name for name in model.tensors}
        self.replay = ops_only.OpsOnly(model.loss, {key: model.tensors[name] for key, name in self.names.items()})

    def gradients(self) -> dict[str, np.ndarray]:
        return {self.names[key]: gradient for key, gradient in self.replay().items()}

    def step(self) -> None:
        for name, gradient in self.gradients().items():
            self.tensors[name].data -= LEARNING_RATE * gradient


class TorchContender(Contender):
    """Shared by the PyTorch contenders: an Embedding, the recurrence (`self.recurrence`) and a Linear decoder;
    `self.tensors` maps numpy_gated's parameter names to the modules' parameters."""

    torch: Any = None

    def __init__(self, cell: str, parameters: dict[str, np.ndarray], ids: np.ndarray, targets: np.ndarray) -> None:
        super().__init__(cell, parameters, ids, targets)
        torch = self.torch
        vocab_size, embedding_dim = parameters["embedding.weight"].shape
        hidden_size = parameters["rnn.weight_hh_l0"].shape[1]
        dtype = torch.from_numpy(parameters["embedding.weight"][:0]).dtype
        self.embedding = torch.nn.Embedding(vocab_size, embedding_dim, dtype=dtype)
        self.decoder = torch.nn.Linear(hidden_size, vocab_size, dtype=dtype)
        self.recurrence, names = self.make_recurrence(embedding_dim, hidden_size, dtype)
        self.tensors = {"embedding.weight": self.embedding.weight, "decoder.weight": self.decoder.weight,
                        "decoder.bias": self.decoder.bias}
        self.tensors.update((f"rnn.{kind}_l0", getattr(self.recurrence, name))
                            for kind, name in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"), names))
        with torch.no_grad():
            for name, tensor in self.tensors.items():
                tensor.copy_(torch.from_numpy(parameters[name]))
        self.ids = torch.from_numpy(ids.copy())
        self.flat_targets = torch.from_numpy(targets.reshape(-1).copy())

    def make_recurrence(self, embedding_dim: int, hidden_size: int, dtype: Any) -> tuple[Any, tuple[str, ...]]:
        """The recurrent module and the names of its weight_ih, weight_hh, bias_ih and bias_hh."""
        raise NotImplementedError

    def hidden(self, inputs: Any) -> Any:
        """h_1..h_T: (T, B, H) from the embedded inputs (T, B, X)."""
        raise NotImplementedError

    def loss(self) -> Any:
        hidden = self.hidden(self.embedding(self.ids))
        logits = self.decoder(hidden.reshape(-1, hidden.shape[-1]))
        return self.torch.nn.functional.cross_entropy(logits, self.flat_targets)

    def step(self) -> None:
        self.loss().backward()
        with self.torch.no_grad():
            for tensor in self.tensors.values():
                tensor -= LEARNING_RATE * tensor.grad
                tensor.grad = None

    def gradients(self) -> dict[str, np.ndarray]:
        self.loss().backward()
        gradients = {name: tensor.grad.numpy().copy() for name, tensor in self.tensors.items()}
        for tensor in self.tensors.values():
            tensor.grad = None
        return gradients


class TorchNN(TorchContender):
    title = "torch: nn.{layer} (C++ loop)"

    def make_recurrence(self, embedding_dim, hidden_size, dtype):
        layer = getattr(self.torch.nn, LAYERS[self.cell])(embedding_dim, hidden_size, dtype=dtype)
        return layer, ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")

    def hidden(self, inputs):
        return self.recurrence(inputs)[0]


class TorchCellLoop(TorchContender):
    title = "torch: loop of nn.{layer}Cell (eager)"

    def make_recurrence(self, embedding_dim, hidden_size, dtype):
        cell = getattr(self.torch.nn, f"{LAYERS[self.cell]}Cell")(embedding_dim, hidden_size, dtype=dtype)
        return cell, ("weight_ih", "weight_hh", "bias_ih", "bias_hh")

    def hidden(self, inputs):
        cell, outputs, state = self.recurrence, [], None
        for step_input in inputs.unbind(0):
            state = cell(step_input, state)
            outputs.append(state[0] if self.cell == "lstm" else state)
        return self.torch.stack(outputs)


def gemm_floor(workload: Workload, cell: str, torch: Any = None, as_ours: bool = False) -> Callable[[], None]:
    """The matrix products of one numpy_gated training step alone, same shapes and layouts (np.dot), or the same
    products through torch's BLAS: how much of a step any implementation spends in GEMMs. `as_ours` lays the
    recurrent product h W_hh^T out as our addmm does (as (W_hh h^T)^T where `transposed_product_pays`)."""
    gates, batch, size = numpy_gated.CELLS[cell], workload.batch, workload.hidden_size
    rows, later = workload.length * batch, (workload.length - 1) * batch
    rng = np.random.default_rng(0)

    def array(*shape: int) -> Any:
        values = rng.standard_normal(shape).astype(np.float32)
        return values if torch is None else torch.from_numpy(values)

    inputs, weight_ih = array(rows, workload.embedding_dim), array(gates * size, workload.embedding_dim)
    weight_hh, hidden, grad_gates = array(gates * size, size), array(batch, size), array(batch, gates * size)
    flat_hidden, weight_decoder = array(rows, size), array(workload.vocab_size, size)
    grad_logits, flat_grad = array(rows, workload.vocab_size), array(rows, gates * size)
    product = np.dot if torch is None else torch.mm
    weight_ih_t, weight_hh_t, weight_decoder_t = weight_ih.T, weight_hh.T, weight_decoder.T
    grad_logits_t, flat_grad_t, later_grad_t = grad_logits.T, flat_grad.T, flat_grad[batch:].T
    earlier_hidden = flat_hidden[:later]

    swapped = as_ours and transposed_product_pays(hidden, weight_hh_t)

    def run() -> None:
        product(inputs, weight_ih_t)
        for _ in range(workload.length - 1):
            if swapped:
                product(weight_hh, hidden.T)
            else:
                product(hidden, weight_hh_t)
        product(flat_hidden, weight_decoder_t)
        product(grad_logits_t, flat_hidden)
        product(grad_logits, weight_decoder)
        for _ in range(workload.length - 1):
            product(grad_gates, weight_hh)
        product(later_grad_t, earlier_hidden)
        product(flat_grad_t, inputs)
        product(flat_grad, weight_ih)
    return run


def contenders(torch: Any) -> tuple[list[type[Contender]], list[str]]:
    """The contender classes available in this environment, and notes on the ones that are not."""
    available: list[type[Contender]] = [NumpyGated, OurNN, OpsOnly]
    if torch is None:
        return available, ["skipped the torch rows: torch is not importable here (run under a Python that has "
                           "it, with PYTHONPATH pointing at this checkout)"]
    TorchContender.torch = torch
    return available + [TorchNN, TorchCellLoop], []


# ---- the parts of a run --------------------------------------------------------------------------------------

def check_gradients(classes: list[type[Contender]], cells: list[str],
                    shapes: tuple[tuple[int, ...], ...] = CHECK_SHAPES) -> None:
    """Every contender's float64 gradients must equal the numpy BPTT's to GRADIENT_TOLERANCE (else exit 1)."""
    print(f"float64 gradient check against the numpy BPTT (max |g - g_ref| / max |g_ref| per parameter, "
          f"must be <= {GRADIENT_TOLERANCE:g}):")
    for cell in cells:
        for batch, embedding_dim, hidden_size, length, vocab_size in shapes:
            workload = Workload("check", batch, embedding_dim, hidden_size, length, vocab_size, 1, 0.0)
            parameters, ids, targets = workload.data(cell, np.float64)
            reference = numpy_gated.loss_and_gradients(cell, parameters, ids, targets)[1]
            for contender_class in classes[1:]:
                gradients = contender_class(cell, parameters, ids, targets).gradients()
                errors = {name: harness.relative_error(gradients[name], reference[name]) for name in reference}
                worst = max(errors, key=errors.get)
                verdict = "ok" if errors[worst] <= GRADIENT_TOLERANCE else "MISMATCH"
                label = contender_class.label(cell)
                print(f"  {cell} B={batch} X={embedding_dim} H={hidden_size} T={length} V={vocab_size}  "
                      f"{label:<40} worst {errors[worst]:.1e} ({worst})  {verdict}")
                if verdict != "ok":
                    harness.fail(f"{label}: float64 gradient of {worst} differs from the numpy BPTT's by "
                                 f"{errors[worst]:.3e} relative (tolerance {GRADIENT_TOLERANCE:g}) at {cell} "
                                 f"B={batch} X={embedding_dim} H={hidden_size} T={length} V={vocab_size}")
    print("gradient check passed")


GEMMS_NUMPY = "numpy: the step's GEMMs alone"
GEMMS_OURS = "numpy: those GEMMs as our addmm lays them out"
GEMMS_TORCH = "torch: the same GEMMs alone"


def lone_sample(workload: Workload, cell: str, label: str, clock: str) -> tuple[float, float]:
    """Seconds and page faults per float32 step of the contender named `label`, run in a fresh process (--lone);
    torch is imported only for its own contenders."""
    harness.limit_blas_threads()
    classes, _ = contenders(harness.import_torch() if label.startswith("torch") else None)
    contender = next(c for c in classes if c.label(cell) == label)
    return harness.time_steady(contender(cell, *workload.data(cell)).step, harness.LONE_SECONDS, clock)


def time_workload(workload: Workload, cell: str, classes: list[type[Contender]], rounds: int | None,
                  clock: str, torch: Any = None, lone: bool = False) -> dict[str, float]:
    """Print the float32 timing table of one workload and cell; return each contender's ratio to numpy. The
    GEMMs of the numpy BPTT alone (also as our addmm lays them out, and through torch's BLAS, given torch) are
    timed in the same rounds; with `lone`, each contender instead runs in a fresh process per round, GEMMs not."""
    count = rounds or (harness.LONE_ROUNDS if lone else workload.rounds)
    started = time.perf_counter()
    if lone:
        timings = harness.time_in_processes({c.label(cell): (lone_sample, (workload, cell, c.label(cell), clock))
                                             for c in classes}, count)
    else:
        parameters, ids, targets = workload.data(cell)
        runs: dict[str, Callable[[], None]] = {c.label(cell): c(cell, parameters, ids, targets).step
                                               for c in classes}
        runs[GEMMS_NUMPY] = gemm_floor(workload, cell)
        runs[GEMMS_OURS] = gemm_floor(workload, cell, as_ours=True)
        if torch is not None:
            runs[GEMMS_TORCH] = gemm_floor(workload, cell, torch)
        timings = harness.time_round_robin(runs, count, workload.target_seconds, clock)
    ratios = {timing.name: harness.paired_ratio(timing, timings[0]) for timing in timings}
    rows = [[timing.name, f"{timing.median * 1e3:.3f}", f"{min(timing.seconds) * 1e3:.3f}", f"{timing.spread:.0%}",
             f"{timing.page_faults:.0f}", f"{ratios[timing.name]:.2f}x"] for timing in timings]
    mode = harness.LONE if lone else ""
    print(f"\n{LAYERS[cell]} {workload.describe()}, float32, {count} rounds{mode}, {clock} clock "
          f"({time.perf_counter() - started:.0f} s)")
    print(harness.format_table(["contender", "median ms/step", "min ms/step", "spread", "faults/step",
                                "ratio to numpy"], rows))
    return ratios


def profile_contender(workload: Workload, cell: str, classes: list[type[Contender]], name: str) -> int:
    """Print where one contender's float32 training step spends its time (about 2 s of steps under cProfile)."""
    matches = [c for c in classes if name in c.label(cell)]
    if len(matches) != 1:
        print(f"--profile {name!r} must match exactly one of: {', '.join(c.label(cell) for c in classes)}",
              file=sys.stderr)
        return 2
    step = matches[0](cell, *workload.data(cell)).step
    calls = harness.calibrate(step, 2.0)
    print(f"\ncProfile of {calls} float32 training steps of '{matches[0].label(cell)}', {workload.describe()}")
    harness.print_profile(step, calls)
    return 0


def kept_per_step(cell: str, workload: Workload) -> int:
    """Bytes per time step a BPTT must keep for backward (float32): the gates after their nonlinearities, c_t
    and h_t for the LSTM (6H); r, z, n, h_{t-1} W_hn^T + b_hn and h_t for the GRU (5H); and the decoder's V
    softmax outputs, for each of the B sequences."""
    per_row = (6 if cell == "lstm" else 5) * workload.hidden_size + workload.vocab_size
    return workload.batch * per_row * np.dtype(np.float32).itemsize


def measure_memory(workload: Workload, cell: str, lengths: list[int], classes: list[type[Contender]]) -> None:
    """Peak memory of one float32 step for several T, per time step, against what a BPTT must keep."""
    ours = [c for c in classes if c in (NumpyGated, OurNN)]  # tracemalloc cannot see torch; ops_only is a time bound
    need = kept_per_step(cell, workload)
    print(f"\npeak memory of one float32 {LAYERS[cell]} step (tracemalloc) at {workload.name}'s B={workload.batch} "
          f"X={workload.embedding_dim} H={workload.hidden_size} V={workload.vocab_size}, per time step: 'peak' = "
          "growth of the peak between the shortest and longest T; 'graph' = arrays our recorded graph holds before "
          f"backward; 'need' = what a BPTT must keep, {need} bytes (see kept_per_step)")
    header = ([f"{LAYERS[cell]} contender"] + [f"T={length} KiB" for length in lengths]
              + ["peak B/step", "graph B/step", "peak/need", "graph/need"])
    rows = []
    for contender_class in ours:
        peaks, held = [], []
        for length in lengths:
            contender = contender_class(cell, *workload.data(cell, length=length))
            peaks.append(rnn_step.peak_step_memory(contender))
            if isinstance(contender, OurNN):
                held.append(rnn_step.graph_array_bytes(contender.loss()))
        per_step = rnn_step._per_step(peaks, lengths)
        held_per_step = rnn_step._per_step(held, lengths) if held else None
        rows.append([contender_class.label(cell)] + [f"{peak / 1024:.0f}" for peak in peaks]
                    + [f"{per_step:.0f}", "-" if held_per_step is None else f"{held_per_step:.0f}",
                       f"{per_step / need:.2f}x", "-" if held_per_step is None else f"{held_per_step / need:.2f}x"])
    print(harness.format_table(header, rows))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workloads", default="G1,G2,G3", help="comma-separated subset of G1,G2,G3")
    parser.add_argument("--cells", default="lstm,gru", help="comma-separated subset of lstm,gru")
    parser.add_argument("--repeats", type=int, default=None, help="timing rounds per workload (default: per workload)")
    parser.add_argument("--memory-lengths", default="50,200",
                        help="sequence lengths T for the peak-memory table at G1's sizes ('' to skip)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one round: checks that the script runs")
    harness.add_clock_argument(parser)
    parser.add_argument("--contenders", default="", metavar="NAMES",
                        help="comma-separated parts of contender names to keep, e.g. 'ours,Cell' (the numpy "
                             "baseline is always kept)")
    parser.add_argument("--lone", action="store_true",
                        help="time each contender alone in a fresh process per round (its own heap and caches, "
                             "steps back to back as a training loop makes them) instead of interleaved in this "
                             "one; the GEMM rows are left out")
    parser.add_argument("--markdown", action="store_true", help="print the summary table as Markdown")
    parser.add_argument("--profile", metavar="NAME", default=None,
                        help="instead of timing, cProfile the contender whose name contains NAME (e.g. 'ours') "
                             "on the first workload and cell and print the top functions")
    args = parser.parse_args(argv)

    cells = [cell.strip() for cell in args.cells.split(",") if cell.strip()]
    if not cells or any(cell not in LAYERS for cell in cells):
        parser.error(f"--cells: choose from {', '.join(LAYERS)}, got {args.cells!r}")
    table = SMOKE_WORKLOADS if args.smoke else WORKLOADS
    names = ["G0"] if args.smoke else [name.strip() for name in args.workloads.split(",") if name.strip()]
    unknown = [name for name in names if name not in table]
    if unknown:
        parser.error(f"unknown workload(s) {', '.join(unknown)}; choose from {', '.join(table)}")

    blas = harness.limit_blas_threads()
    torch = harness.import_torch()
    for line in harness.machine_lines(blas, args.lone):
        print(line)
    if torch is not None:
        print(f"torch {torch.__version__}, {torch.get_num_threads()} thread")
    classes, notes = contenders(torch)
    if args.contenders:
        wanted = [part.strip() for part in args.contenders.split(",") if part.strip()]
        classes = [classes[0]] + [c for c in classes[1:]
                                  if any(part in c.label(cell) for part in wanted for cell in cells)]
    for note in notes:
        print(note)
    check_gradients(classes, cells, ((2, 3, 4, 5, 7),) if args.smoke else CHECK_SHAPES)
    if args.profile is not None:
        return profile_contender(table[names[0]], cells[0], classes, args.profile)

    rounds = 1 if args.smoke else args.repeats
    ratios = {(name, cell): time_workload(table[name], cell, classes, rounds, args.clock, torch, args.lone)
              for name in names for cell in cells}
    print("\nsummary: median time per training step / numpy BPTT's, float32, 1 BLAS thread")
    columns = [(name, cell) for name in names for cell in cells]
    rows = [[c.title.format(layer="LSTM/GRU")] + [f"{ratios[key][c.label(key[1])]:.2f}x" for key in columns]
            for c in classes]
    rows += [[label] + [f"{ratios[key][label]:.2f}x" for key in columns]
             for label in (GEMMS_NUMPY, GEMMS_OURS, GEMMS_TORCH) if label in ratios[columns[0]]]
    print(harness.format_table(["contender"] + [f"{LAYERS[cell]} {name}" for name, cell in columns], rows,
                               markdown=args.markdown))

    lengths = [5, 10] if args.smoke else [int(length) for length in args.memory_lengths.split(",") if length.strip()]
    if lengths:
        for cell in cells:
            measure_memory(table["G0" if args.smoke else "G1"], cell, lengths, classes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
