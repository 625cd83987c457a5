"""Per-op overhead: forward + graph recording + backward of a deep chain of small ops, in microseconds per op.

The chain is x_0 = a, x_k = tanh(x_{k-1} * b + c) (or x_{k-1} @ b), 50 links deep, 3 ops per link, with a, b, c
all requiring grad. It runs on (4, 4) float32 tensors, where the cost is all overhead, and on (256, 256), where
it is all arithmetic. Beside ours: raw numpy doing the same forward math, numpy forward + hand-written backward,
and PyTorch autograd when torch is importable. First the float64 gradients of the chain must equal the
hand-written backward's to 1e-10 relative (else exit 1). Last, `import tinygrad_rnn` is timed in a fresh
interpreter and checked not to import graphviz or matplotlib.

    python benchmarks/op_overhead.py [--repeats N] [--depth 50] [--smoke]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import harness
import numpy as np

import tinygrad_rnn as tg

GRADIENT_TOLERANCE = 1e-10
OPS_PER_LINK = 3
KINDS = ("mul", "matmul")
HEAVY_MODULES = ("graphviz", "matplotlib")
IMPORT_GOAL_SECONDS = 0.2


def chain_formula(kind: str) -> str:
    return "tanh(a*b + c)" if kind == "mul" else "tanh(a @ b + c)"


def make_inputs(size: int, dtype: type, kind: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """a, b, c of shape (size, size). For the matmul chain b is scaled by 1/sqrt(size), so that the chain does not
    saturate tanh; for the elementwise chain b is 1 + 0.1 N(0, 1), so that over the default 50 links the gradient,
    multiplied by b at each, stays out of denormal floats (with b / 16 at (256, 256) it did not, and the backward
    ran 4.5x slower on an Intel CPU: a measure of denormal arithmetic, not of the engine; --depth 100 sinks some
    elements again)."""
    rng = np.random.default_rng(seed)
    a, b, c = (rng.standard_normal((size, size)) for _ in range(3))
    b = b / np.sqrt(size) if kind == "matmul" else 1 + 0.1 * b
    return a.astype(dtype), b.astype(dtype), (0.1 * c).astype(dtype)


# ---- the chain, four ways ------------------------------------------------------------------------------------

def numpy_forward(a: np.ndarray, b: np.ndarray, c: np.ndarray, kind: str, depth: int) -> np.ndarray:
    """The chain's forward math in raw numpy, nothing saved."""
    x = a
    if kind == "mul":
        for _ in range(depth):
            x = np.tanh(x * b + c)
    else:
        for _ in range(depth):
            x = np.tanh(x @ b + c)
    return x


def numpy_gradients(a: np.ndarray, b: np.ndarray, c: np.ndarray, kind: str,
                    depth: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Forward saving each link's output, then the hand-written backward with d out = ones: (da, db, dc)."""
    outputs = [a]
    for _ in range(depth):
        previous = outputs[-1]
        outputs.append(np.tanh((previous * b if kind == "mul" else previous @ b) + c))
    grad = np.ones_like(a)
    grad_b, grad_c = np.zeros_like(b), np.zeros_like(c)
    for link in range(depth, 0, -1):
        out, previous = outputs[link], outputs[link - 1]
        grad = grad * (1 - out * out)
        grad_c += grad
        if kind == "mul":
            grad_b += grad * previous
            grad = grad * b
        else:
            grad_b += previous.T @ grad
            grad = grad @ b.T
    return grad, grad_b, grad_c


def our_leaves(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> tuple[tg.Tensor, tg.Tensor, tg.Tensor]:
    return tuple(tg.Tensor(array, requires_grad=True) for array in (a, b, c))


def our_forward(a: tg.Tensor, b: tg.Tensor, c: tg.Tensor, kind: str, depth: int) -> tg.Tensor:
    x = a
    if kind == "mul":
        for _ in range(depth):
            x = (x * b + c).tanh()
    else:
        for _ in range(depth):
            x = (x @ b + c).tanh()
    return x


def our_gradients(a: np.ndarray, b: np.ndarray, c: np.ndarray, kind: str, depth: int) -> tuple[np.ndarray, ...]:
    leaves = our_leaves(a, b, c)
    our_forward(*leaves, kind, depth).backward(np.ones_like(a))
    return tuple(leaf.grad for leaf in leaves)


def torch_gradients(torch: Any, a: np.ndarray, b: np.ndarray, c: np.ndarray, kind: str,
                    depth: int) -> tuple[np.ndarray, ...]:
    leaves = tuple(torch.tensor(array, requires_grad=True) for array in (a, b, c))
    out = torch_forward(torch, *leaves, kind, depth)
    out.backward(torch.ones_like(out))
    return tuple(leaf.grad.numpy() for leaf in leaves)


def torch_forward(torch: Any, a: Any, b: Any, c: Any, kind: str, depth: int) -> Any:
    x = a
    if kind == "mul":
        for _ in range(depth):
            x = torch.tanh(x * b + c)
    else:
        for _ in range(depth):
            x = torch.tanh(x @ b + c)
    return x


# ---- the parts of a run --------------------------------------------------------------------------------------

def check_gradients(torch: Any, depth: int) -> None:
    """Our (and torch's) float64 chain gradients must equal the hand-written backward's (else exit 1)."""
    print(f"float64 gradient check of the {depth}-link chains against the hand-written numpy backward "
          f"(must be <= {GRADIENT_TOLERANCE:g} relative):")
    for kind in KINDS:
        inputs = make_inputs(5, np.float64, kind, seed=1)
        reference = numpy_gradients(*inputs, kind, depth)
        candidates = {"ours": our_gradients(*inputs, kind, depth)}
        if torch is not None:
            candidates["torch"] = torch_gradients(torch, *inputs, kind, depth)
        for name, gradients in candidates.items():
            error = max(harness.relative_error(g, r) for g, r in zip(gradients, reference))
            verdict = "ok" if error <= GRADIENT_TOLERANCE else "MISMATCH"
            print(f"  {chain_formula(kind):<16} {name:<6} worst {error:.1e}  {verdict}")
            if verdict != "ok":
                harness.fail(f"{name}: float64 gradients of the {chain_formula(kind)} chain differ from the "
                             f"hand-written backward by {error:.3e} relative (tolerance {GRADIENT_TOLERANCE:g})")
    print("gradient check passed")


def chain_contenders(torch: Any, kind: str, size: int, depth: int) -> dict[str, Callable[[], object]]:
    """Callables that each run the chain once on float32 (size, size) inputs."""
    a, b, c = make_inputs(size, np.float32, kind)
    leaves = our_leaves(a, b, c)
    seed = np.ones_like(a)

    def ours_forward_no_grad() -> None:
        with tg.no_grad():
            our_forward(*leaves, kind, depth)

    def ours_forward_record() -> None:
        our_forward(*leaves, kind, depth)

    def ours_forward_record_backward() -> None:
        for leaf in leaves:
            leaf.grad = None
        our_forward(*leaves, kind, depth).backward(seed)

    contenders: dict[str, Callable[[], object]] = {
        "numpy: forward only (raw)": lambda: numpy_forward(a, b, c, kind, depth),
        "numpy: forward + hand-written backward": lambda: numpy_gradients(a, b, c, kind, depth),
        "ours: forward, no_grad": ours_forward_no_grad,
        "ours: forward + record": ours_forward_record,
        "ours: forward + record + backward": ours_forward_record_backward,
    }
    if torch is not None:
        torch_leaves = tuple(torch.tensor(array, requires_grad=True) for array in (a, b, c))
        torch_seed = torch.ones_like(torch_leaves[0])

        def torch_forward_backward() -> None:
            for leaf in torch_leaves:
                leaf.grad = None
            torch_forward(torch, *torch_leaves, kind, depth).backward(torch_seed)

        contenders["torch: forward + record + backward"] = torch_forward_backward
    return contenders


def time_chains(torch: Any, sizes: tuple[int, ...], depth: int, rounds: int | None, clock: str,
                smoke: bool = False) -> None:
    """Print microseconds per op for each chain kind and size (smoke: one call per sample, to check it runs)."""
    ops = OPS_PER_LINK * depth
    for kind in KINDS:
        for size in sizes:
            count = rounds or (15 if size <= 32 else 5)
            timings = harness.time_round_robin(chain_contenders(torch, kind, size, depth), count,
                                               target_seconds=0.05 if size <= 32 and not smoke else 0.0,
                                               clock=clock)
            rows = [[t.name, f"{t.median / ops * 1e6:.2f}", f"{min(t.seconds) / ops * 1e6:.2f}", f"{t.spread:.0%}",
                     f"{t.page_faults / ops:.1f}", f"{harness.paired_ratio(t, timings[0]):.1f}x"] for t in timings]
            print(f"\n{chain_formula(kind)}, ({size}, {size}) float32, {depth} links = {ops} ops, {count} rounds, "
                  f"{clock} clock")
            header = ["contender", "median us/op", "min us/op", "spread", "faults/op", "x numpy forward"]
            print(harness.format_table(header, rows))


def import_report(runs: int = 5) -> tuple[float, float, list[str]]:
    """Median seconds of `import tinygrad_rnn` in a fresh interpreter, of numpy alone, and heavy modules loaded."""
    probe = ("import sys, time\n"
             "start = time.perf_counter()\nimport numpy\nnumpy_done = time.perf_counter()\n"
             "import tinygrad_rnn\ndone = time.perf_counter()\n"
             f"heavy = [m for m in {HEAVY_MODULES!r} if m in sys.modules]\n"
             "print(done - start, numpy_done - start, ','.join(heavy))")
    totals, numpy_times, heavy = [], [], ""
    for _ in range(runs):
        result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
        total, numpy_time, *rest = result.stdout.split()
        totals.append(float(total))
        numpy_times.append(float(numpy_time))
        heavy = rest[0] if rest else ""
    return statistics.median(totals), statistics.median(numpy_times), [m for m in heavy.split(",") if m]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=None, help="timing rounds (default 15 small, 5 large)")
    parser.add_argument("--depth", type=int, default=50, help="links in the chain (3 ops each)")
    parser.add_argument("--smoke", action="store_true", help="tiny chain, one round: checks that the script runs")
    harness.add_clock_argument(parser)
    parser.add_argument("--profile", choices=KINDS, default=None,
                        help="instead of timing, cProfile our forward + record + backward of that (4, 4) chain")
    args = parser.parse_args(argv)

    blas = harness.limit_blas_threads()
    torch = harness.import_torch()
    for line in harness.machine_lines(blas):
        print(line)
    print(f"torch {torch.__version__}, 1 thread" if torch is not None else
          "torch is not importable here: no torch rows")
    depth = 3 if args.smoke else args.depth
    check_gradients(torch, depth)
    if args.profile is not None:
        run = chain_contenders(None, args.profile, 4, depth)["ours: forward + record + backward"]
        calls = harness.calibrate(run, 2.0)
        print(f"\ncProfile of {calls} chains of {chain_formula(args.profile)}, (4, 4) float32, {depth} links")
        harness.print_profile(run, calls)
        return 0
    time_chains(torch, (4, 8) if args.smoke else (4, 256), depth, 1 if args.smoke else args.repeats, args.clock,
                args.smoke)

    seconds, numpy_seconds, heavy = import_report(2 if args.smoke else 5)
    verdict = "meets" if seconds < IMPORT_GOAL_SECONDS else "misses"
    print(f"\nimport tinygrad_rnn in a fresh interpreter: {seconds:.3f} s median including numpy "
          f"({numpy_seconds:.3f} s of it numpy; {verdict} the {IMPORT_GOAL_SECONDS} s goal); "
          f"graphviz/matplotlib imported: {', '.join(heavy) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
