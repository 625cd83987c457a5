"""Time one full RNN training step through our generic autograd against a hand-written numpy BPTT (and PyTorch).

One step: forward over T steps, readout P_t = h_t W_hy + b_y, loss mean((P - y)^2) over all t, full backward, SGD
update. Contenders: our `nn.RNN` (when it exists), its ops replayed with no engine around them (`ops_only.py`),
our RNN as a plain loop of Tensor ops (input projection hoisted into one matmul, and not), the numpy baseline
(`numpy_bptt.py`), the smallest pure-Python autograd (`floor.py`), and PyTorch eager (a manual loop, and
`nn.RNN`) when torch is importable. First every contender's float64 gradients must equal the numpy BPTT's to
1e-10 relative (else exit 1); then float32 is timed with one BLAS thread, round-robin, and each contender's time
is divided by the numpy baseline's from the same round (median over rounds). With --lone, each round runs every
contender alone in a fresh process instead, as a user's training loop runs.

    python benchmarks/rnn_step.py [--workloads W1,W2] [--repeats N] [--memory-lengths 250,1000] [--lone] [--smoke]
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import floor
import harness
import numpy as np
import numpy_bptt
import ops_only

import tinygrad_rnn as tg

GRADIENT_TOLERANCE = 1e-10
LEARNING_RATE = 1e-3


@dataclass(frozen=True)
class Workload:
    """Sizes of one benchmark; the readout predicts `input_size` outputs (O = I), as a next-input model would."""

    name: str
    batch: int
    input_size: int
    hidden_size: int
    length: int
    rounds: int
    target_seconds: float

    def describe(self) -> str:
        return (f"{self.name}: B={self.batch} I={self.input_size} H={self.hidden_size} T={self.length} "
                f"(O={self.input_size})")

    def data(self) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
        """(parameters, inputs, targets) in float32, drawn from a fixed seed."""
        rng = np.random.default_rng(0)
        parameters = numpy_bptt.init_parameters(rng, self.input_size, self.hidden_size, self.input_size)
        return (parameters, *numpy_bptt.make_batch(rng, self.length, self.batch, self.input_size, self.input_size))


WORKLOADS = {
    "W1": Workload("W1", 1, 16, 32, 25, rounds=21, target_seconds=0.05),
    "W2": Workload("W2", 32, 64, 128, 50, rounds=15, target_seconds=0.1),
    "W3": Workload("W3", 64, 256, 512, 100, rounds=5, target_seconds=0.0),
    "W4": Workload("W4", 8, 32, 64, 1000, rounds=7, target_seconds=0.0),
}
SMOKE_WORKLOADS = {"W1": Workload("W1", 2, 4, 6, 5, rounds=2, target_seconds=0.0)}
CHECK_SHAPES = ((1, 16, 32, 25), (3, 5, 6, 7))
"""(B, I, H, T) of the float64 gradient checks: W1's shape and a small batch."""


# ---- contenders: each copies the shared parameters, then `step()` trains once and `gradients()` reports -------

class Contender:
    """One implementation of the training step on its own copy of the parameters."""

    name = "contender"

    def step(self) -> None:
        """Forward, backward and SGD update."""
        raise NotImplementedError

    def gradients(self) -> dict[str, np.ndarray]:
        """Forward and backward without the update; d loss/d parameter as numpy arrays."""
        raise NotImplementedError


class NumpyBPTT(Contender):
    name = "numpy BPTT (hand-written)"

    def __init__(self, parameters: dict[str, np.ndarray], inputs: np.ndarray, targets: np.ndarray) -> None:
        self.parameters = {name: array.copy() for name, array in parameters.items()}
        self.inputs, self.targets = inputs, targets

    def step(self) -> None:
        numpy_bptt.train_step(self.parameters, self.inputs, self.targets, LEARNING_RATE)

    def gradients(self) -> dict[str, np.ndarray]:
        return numpy_bptt.loss_and_gradients(self.parameters, self.inputs, self.targets)[1]


class OurContender(Contender):
    """Shared by our contenders: `self.tensors` maps numpy_bptt's parameter names to leaf Tensors."""

    tensors: dict[str, tg.Tensor]

    def __init__(self, parameters: dict[str, np.ndarray], inputs: np.ndarray, targets: np.ndarray) -> None:
        self.inputs = tg.Tensor(inputs)
        self.flat_targets = tg.Tensor(targets.reshape(-1, targets.shape[-1]))
        self.tensors = {name: tg.Tensor(array, requires_grad=True) for name, array in parameters.items()}

    def loss(self) -> tg.Tensor:
        raise NotImplementedError

    def readout_loss(self, hidden: tg.Tensor) -> tg.Tensor:
        """mean((h W_hy + b_y - y)^2) for hidden: (T, B, H)."""
        flat = hidden.reshape(-1, hidden.shape[-1])
        prediction = flat @ self.tensors["weight_hy"] + self.tensors["bias_y"]
        return ((prediction - self.flat_targets) ** 2).mean()

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


class OurLoopHoisted(OurContender):
    name = "ours: loop of ops, hoisted x@W_ih"

    def loss(self) -> tg.Tensor:
        p = self.tensors
        length, batch, input_size = self.inputs.shape
        hidden_size = p["weight_hh"].shape[0]
        flat_inputs = self.inputs.reshape(length * batch, input_size)
        projected = (flat_inputs @ p["weight_ih"].T + (p["bias_ih"] + p["bias_hh"])).reshape(
            length, batch, hidden_size)
        weight_hh_t = p["weight_hh"].T
        hidden = tg.zeros(batch, hidden_size, dtype=self.inputs.dtype)
        outputs = []
        for timestep in range(length):
            hidden = (projected[timestep] + hidden @ weight_hh_t).tanh()
            outputs.append(hidden)
        return self.readout_loss(tg.stack(outputs))


class OurLoopPerStep(OurContender):
    name = "ours: loop of ops, x_t@W_ih each step"

    def loss(self) -> tg.Tensor:
        p = self.tensors
        length, batch, _ = self.inputs.shape
        hidden_size = p["weight_hh"].shape[0]
        weight_ih_t, weight_hh_t = p["weight_ih"].T, p["weight_hh"].T
        bias = p["bias_ih"] + p["bias_hh"]
        hidden = tg.zeros(batch, hidden_size, dtype=self.inputs.dtype)
        outputs = []
        for timestep in range(length):
            hidden = (self.inputs[timestep] @ weight_ih_t + hidden @ weight_hh_t + bias).tanh()
            outputs.append(hidden)
        return self.readout_loss(tg.stack(outputs))


def our_rnn_class() -> tuple[Any, str]:
    """Our `nn.RNN`, or None and the reason it cannot be benchmarked yet."""
    try:
        from tinygrad_rnn import nn
    except ImportError as error:
        return None, f"tinygrad_rnn.nn is not importable ({error})"
    rnn = getattr(nn, "RNN", None)
    return (rnn, "") if rnn is not None else (None, "tinygrad_rnn.nn has no RNN yet")


class OurNNRNN(OurContender):
    name = "ours: nn.RNN"

    def __init__(self, parameters: dict[str, np.ndarray], inputs: np.ndarray, targets: np.ndarray) -> None:
        super().__init__(parameters, inputs, targets)
        rnn_class, _ = our_rnn_class()
        hidden_size, input_size = parameters["weight_ih"].shape
        self.rnn = rnn_class(input_size, hidden_size, dtype=parameters["weight_ih"].dtype)
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            parameter = getattr(self.rnn, f"{name}_l0")
            parameter.data = parameters[name].copy()
            self.tensors[name] = parameter  # the layer's own parameters are what gets trained and checked

    def loss(self) -> tg.Tensor:
        output, _ = self.rnn(self.inputs)
        return self.readout_loss(output)


class Floor(Contender):
    """floor.py's bare autograd on the same model: what Python's per-op cost alone takes."""

    name = "pure-Python floor (floor.py)"

    def __init__(self, parameters: dict[str, np.ndarray], inputs: np.ndarray, targets: np.ndarray) -> None:
        self.parameters = {name: floor.Node(array.copy()) for name, array in parameters.items()}
        self.inputs, self.flat_targets = inputs, targets.reshape(-1, targets.shape[-1])

    def gradients(self) -> dict[str, np.ndarray]:
        floor.backward(floor.rnn_loss(self.parameters, self.inputs, self.flat_targets))
        gradients = {name: floor.gradient(node) for name, node in self.parameters.items()}
        for node in self.parameters.values():
            node.grad = None
        return gradients

    def step(self) -> None:
        for node, gradient in zip(self.parameters.values(), self.gradients().values()):
            node.data -= LEARNING_RATE * gradient


class OpsOnly(Contender):
    """ops_only.py: our nn.RNN's ops, recorded once and replayed as straight-line calls with no engine around
    them, a lower bound for any engine (one in C too) that keeps our ops."""

    name = "our ops alone, no engine (ops_only.py)"

    def __init__(self, parameters: dict[str, np.ndarray], inputs: np.ndarray, targets: np.ndarray) -> None:
        model = OurNNRNN(parameters, inputs, targets)
        self.tensors = model.tensors
        self.replay = ops_only.OpsOnly(model.loss, model.tensors)

    def gradients(self) -> dict[str, np.ndarray]:
        return self.replay()

    def step(self) -> None:
        for name, gradient in self.replay().items():
            self.tensors[name].data -= LEARNING_RATE * gradient


class TorchContender(Contender):
    """Shared by the PyTorch contenders: `self.tensors` maps parameter names to leaf torch tensors."""

    torch: Any = None

    def __init__(self, parameters: dict[str, np.ndarray], inputs: np.ndarray, targets: np.ndarray) -> None:
        torch = self.torch
        self.inputs = torch.from_numpy(inputs.copy())
        self.flat_targets = torch.from_numpy(targets.reshape(-1, targets.shape[-1]).copy())
        self.tensors = {name: torch.tensor(array, requires_grad=True) for name, array in parameters.items()}

    def hidden(self) -> Any:
        raise NotImplementedError

    def loss(self) -> Any:
        hidden = self.hidden()
        prediction = hidden.reshape(-1, hidden.shape[-1]) @ self.tensors["weight_hy"] + self.tensors["bias_y"]
        return ((prediction - self.flat_targets) ** 2).mean()

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


class TorchLoop(TorchContender):
    name = "torch: manual loop (autograd)"

    def hidden(self) -> Any:
        torch, p = self.torch, self.tensors
        length, batch, input_size = self.inputs.shape
        hidden_size = p["weight_hh"].shape[0]
        projected = (self.inputs.reshape(length * batch, input_size) @ p["weight_ih"].T
                     + (p["bias_ih"] + p["bias_hh"])).reshape(length, batch, hidden_size)
        weight_hh_t = p["weight_hh"].T
        hidden = torch.zeros(batch, hidden_size, dtype=self.inputs.dtype)
        outputs = []
        for projected_t in projected.unbind(0):
            hidden = torch.tanh(projected_t + hidden @ weight_hh_t)
            outputs.append(hidden)
        return torch.stack(outputs)


class TorchNNRNN(TorchContender):
    name = "torch: nn.RNN"

    def __init__(self, parameters: dict[str, np.ndarray], inputs: np.ndarray, targets: np.ndarray) -> None:
        super().__init__(parameters, inputs, targets)
        torch = self.torch
        hidden_size, input_size = parameters["weight_ih"].shape
        self.rnn = torch.nn.RNN(input_size, hidden_size, dtype=torch.from_numpy(inputs[:0]).dtype)
        with torch.no_grad():
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                parameter = getattr(self.rnn, f"{name}_l0")
                parameter.copy_(torch.from_numpy(parameters[name]))
                self.tensors[name] = parameter

    def hidden(self) -> Any:
        output, _ = self.rnn(self.inputs)
        return output


def contenders(torch: Any) -> tuple[list[type[Contender]], list[str]]:
    """The contender classes available in this environment, and notes on the ones that are not."""
    available: list[type[Contender]] = [NumpyBPTT]
    notes = []
    rnn_class, reason = our_rnn_class()
    if rnn_class is None:
        notes.append(f"skipped 'ours: nn.RNN': {reason}")
    else:
        available += [OurNNRNN, OpsOnly]
    available += [OurLoopHoisted, OurLoopPerStep, Floor]
    if torch is None:
        notes.append("skipped the torch rows: torch is not importable here (run under a Python that has it, "
                     "with PYTHONPATH pointing at this checkout)")
    else:
        TorchContender.torch = torch
        available += [TorchLoop, TorchNNRNN]
    return available, notes


# ---- the three parts of a run --------------------------------------------------------------------------------

def check_gradients(classes: list[type[Contender]]) -> None:
    """Every contender's float64 gradients must equal the numpy BPTT's to GRADIENT_TOLERANCE (else exit 1)."""
    print(f"float64 gradient check against the numpy BPTT (max |g - g_ref| / max |g_ref| per parameter, "
          f"must be <= {GRADIENT_TOLERANCE:g}):")
    for batch, input_size, hidden_size, length in CHECK_SHAPES:
        rng = np.random.default_rng(1)
        parameters = numpy_bptt.init_parameters(rng, input_size, hidden_size, input_size, np.float64)
        inputs, targets = numpy_bptt.make_batch(rng, length, batch, input_size, input_size, np.float64)
        reference = numpy_bptt.loss_and_gradients(parameters, inputs, targets)[1]
        for contender_class in classes[1:]:
            gradients = contender_class(parameters, inputs, targets).gradients()
            errors = {name: harness.relative_error(gradients[name], reference[name]) for name in reference}
            worst = max(errors, key=errors.get)
            verdict = "ok" if errors[worst] <= GRADIENT_TOLERANCE else "MISMATCH"
            print(f"  B={batch} I={input_size} H={hidden_size} T={length}  {contender_class.name:<40} "
                  f"worst {errors[worst]:.1e} ({worst})  {verdict}")
            if verdict != "ok":
                harness.fail(f"{contender_class.name}: float64 gradient of {worst} differs from the numpy BPTT's "
                             f"by {errors[worst]:.3e} relative (tolerance {GRADIENT_TOLERANCE:g}) at B={batch} "
                             f"I={input_size} H={hidden_size} T={length}")
    print("gradient check passed")


def lone_sample(workload: Workload, name: str, clock: str) -> tuple[float, float]:
    """Seconds and page faults per float32 step of the contender `name`, run in a fresh process (--lone)."""
    harness.limit_blas_threads()
    classes, _ = contenders(harness.import_torch() if name.startswith("torch") else None)
    contender = next(c for c in classes if c.name == name)
    return harness.time_steady(contender(*workload.data()).step, harness.LONE_SECONDS, clock)


def time_workload(workload: Workload, classes: list[type[Contender]], rounds: int | None,
                  clock: str, lone: bool = False) -> dict[str, float]:
    """Print the float32 timing table of one workload; return each contender's ratio to the numpy baseline. With
    `lone`, each contender runs alone in a fresh process per round instead of interleaved in this one."""
    count = rounds or (harness.LONE_ROUNDS if lone else workload.rounds)
    started = time.perf_counter()
    if lone:
        timings = harness.time_in_processes({c.name: (lone_sample, (workload, c.name, clock)) for c in classes},
                                            count)
    else:
        parameters, inputs, targets = workload.data()
        runs: dict[str, Callable[[], None]] = {c.name: c(parameters, inputs, targets).step for c in classes}
        timings = harness.time_round_robin(runs, count, workload.target_seconds, clock)
    ratios = {timing.name: harness.paired_ratio(timing, timings[0]) for timing in timings}
    rows = [[timing.name, f"{timing.median * 1e3:.3f}", f"{min(timing.seconds) * 1e3:.3f}", f"{timing.spread:.0%}",
             f"{timing.page_faults:.0f}", f"{ratios[timing.name]:.2f}x"] for timing in timings]
    mode = harness.LONE if lone else ""
    print(f"\n{workload.describe()}, float32, {count} rounds{mode}, {clock} clock "
          f"({time.perf_counter() - started:.0f} s)")
    print(harness.format_table(["contender", "median ms/step", "min ms/step", "spread", "faults/step",
                                "ratio to numpy"], rows))
    return ratios


def profile_contender(workload: Workload, classes: list[type[Contender]], name: str) -> int:
    """Print where one contender's float32 training step spends its time (about 2 s of steps under cProfile)."""
    matches = [c for c in classes if name in c.name]
    if len(matches) != 1:
        print(f"--profile {name!r} must match exactly one of: {', '.join(c.name for c in classes)}", file=sys.stderr)
        return 2
    step = matches[0](*workload.data()).step
    calls = harness.calibrate(step, 2.0)
    print(f"\ncProfile of {calls} float32 training steps of '{matches[0].name}', {workload.describe()}")
    harness.print_profile(step, calls)
    return 0


def peak_step_memory(contender: Contender) -> int:
    """Peak bytes that one training step allocates on top of what existed before it (numpy and Python objects)."""
    contender.step()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    contender.step()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak - before


def _base(array: np.ndarray) -> np.ndarray:
    """The array that owns the memory a view looks at."""
    while array.base is not None and isinstance(array.base, np.ndarray):
        array = array.base
    return array


def graph_array_bytes(root: tg.Tensor) -> int:
    """Bytes of the distinct arrays a recorded graph keeps alive until backward: the arrays its ops saved, and
    their outputs where kept (views counted once, with what they look at; the leaves' own data, i.e.
    parameters and inputs, left out)."""
    nodes = tg.toposort(root, all_inputs=True)
    leaf_memory = {id(_base(node.data)) for node in nodes if not node.is_context}
    held: dict[int, int] = {}
    for node in nodes:
        if not node.is_context:
            continue
        arrays = [array for array in node.saved_tensors or () if isinstance(array, np.ndarray)]
        if node.output is not None:
            arrays.append(node.output.data)
        for array in arrays:
            base = _base(array)
            if id(base) not in leaf_memory:
                held[id(base)] = base.nbytes
    return sum(held.values())


def _per_step(values: list[int], lengths: list[int]) -> float:
    """Bytes per time step: the growth from the shortest to the longest T (fixed costs cancel), or value / T."""
    span = lengths[-1] - lengths[0]
    return values[-1] / lengths[-1] if span == 0 else (values[-1] - values[0]) / span


def measure_memory(workload: Workload, lengths: list[int], classes: list[type[Contender]]) -> None:
    """Peak memory of one float32 step at W4's sizes for several T, per time step, against three yardsticks."""
    # (the ops-only replay is a bound on time: it holds values as one function's locals, not as any engine would)
    ours = [c for c in classes if not issubclass(c, (TorchContender, OpsOnly))]
    need = workload.batch * (workload.hidden_size + workload.input_size) * np.dtype(np.float32).itemsize
    print(f"\npeak memory of one float32 step (tracemalloc: numpy arrays and Python objects) at {workload.name}'s "
          f"B={workload.batch} I={workload.input_size} H={workload.hidden_size}, for several T. Per time step: "
          "'peak' = growth of the peak between the shortest and longest T; 'graph' = arrays our recorded graph "
          f"holds before backward; 'need' = h_t and P_t - y_t, the least a BPTT keeps: B*(H+O)*4 = {need} bytes")
    header = (["contender"] + [f"T={length} KiB" for length in lengths]
              + ["peak B/step", "graph B/step", "peak/graph", "peak/need", "peak/numpy"])
    rows = []
    numpy_per_step = None
    for contender_class in ours:
        peaks, held = [], []
        for length in lengths:
            rng = np.random.default_rng(0)
            parameters = numpy_bptt.init_parameters(rng, workload.input_size, workload.hidden_size,
                                                    workload.input_size)
            inputs, targets = numpy_bptt.make_batch(rng, length, workload.batch, workload.input_size,
                                                    workload.input_size)
            contender = contender_class(parameters, inputs, targets)
            peaks.append(peak_step_memory(contender))
            if isinstance(contender, OurContender):
                held.append(graph_array_bytes(contender.loss()))
        per_step = _per_step(peaks, lengths)
        numpy_per_step = numpy_per_step or per_step
        held_per_step = _per_step(held, lengths) if held else None
        rows.append([contender_class.name] + [f"{peak / 1024:.0f}" for peak in peaks]
                    + [f"{per_step:.0f}", "-" if held_per_step is None else f"{held_per_step:.0f}",
                       "-" if not held_per_step else f"{per_step / held_per_step:.1f}x",
                       f"{per_step / need:.1f}x", f"{per_step / numpy_per_step:.1f}x"])
    print(harness.format_table(header, rows))
    if any(issubclass(c, TorchContender) for c in classes):
        print("(torch rows not measured: tracemalloc does not see torch's allocator)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workloads", default="W1,W2,W3,W4", help="comma-separated subset of W1,W2,W3,W4")
    parser.add_argument("--repeats", type=int, default=None, help="timing rounds per workload (default: per workload)")
    parser.add_argument("--memory-lengths", default="250,1000",
                        help="sequence lengths T for the peak-memory table at W4's sizes ('' to skip)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one round: checks that the script runs")
    harness.add_clock_argument(parser)
    parser.add_argument("--contenders", default="", metavar="NAMES",
                        help="comma-separated parts of contender names to keep, e.g. 'nn.RNN,torch' (the numpy "
                             "baseline is always kept)")
    parser.add_argument("--lone", action="store_true",
                        help="time each contender alone in a fresh process per round (its own heap and caches, "
                             "steps back to back as a training loop makes them) instead of interleaved in this one")
    parser.add_argument("--markdown", action="store_true", help="print the summary table as Markdown")
    parser.add_argument("--profile", metavar="NAME", default=None,
                        help="instead of timing, cProfile the contender whose name contains NAME (e.g. 'nn.RNN') "
                             "on the first workload and print the top functions")
    args = parser.parse_args(argv)

    blas = harness.limit_blas_threads()
    torch = harness.import_torch()
    for line in harness.machine_lines(blas, args.lone):
        print(line)
    if torch is not None:
        print(f"torch {torch.__version__}, {torch.get_num_threads()} thread")
    classes, notes = contenders(torch)
    if args.contenders:
        wanted = [part.strip() for part in args.contenders.split(",") if part.strip()]
        classes = [classes[0]] + [c for c in classes[1:] if any(part in c.name for part in wanted)]
    for note in notes:
        print(note)
    check_gradients(classes)

    table = SMOKE_WORKLOADS if args.smoke else WORKLOADS
    names = ["W1"] if args.smoke else [name.strip() for name in args.workloads.split(",") if name.strip()]
    unknown = [name for name in names if name not in table]
    if unknown:
        parser.error(f"unknown workload(s) {', '.join(unknown)}; choose from {', '.join(table)}")
    if args.profile is not None:
        return profile_contender(table[names[0]], classes, args.profile)
    rounds = 1 if args.smoke else args.repeats
    ratios = {name: time_workload(table[name], classes, rounds, args.clock, args.lone) for name in names}

    print("\nsummary: median time per training step / numpy BPTT's, float32, 1 BLAS thread")
    rows = [[c.name] + [f"{ratios[name][c.name]:.2f}x" for name in names] for c in classes]
    print(harness.format_table(["contender", *names], rows, markdown=args.markdown))

    lengths = [int(length) for length in args.memory_lengths.split(",") if length.strip()]
    if args.smoke:
        lengths = [5, 10]
    if lengths:
        memory_workload = SMOKE_WORKLOADS["W1"] if args.smoke else WORKLOADS["W4"]
        measure_memory(memory_workload, lengths, classes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
