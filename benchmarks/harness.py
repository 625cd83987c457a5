"""What the benchmark scripts share: one BLAS thread, a description of the machine, round-robin timing, medians.

Timing is round-robin: every round runs each contender once (a few steps each) before the next round starts,
so a slow patch of a shared machine hits all of them alike and the ratios measured in one run stay fair.
"""

from __future__ import annotations

import ctypes
import gc
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
MACHINE_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
"""Set by the machine and left alone: they change numpy's GEMM speed, but every ratio comes from one run."""


def _openblas_library() -> tuple[ctypes.CDLL, str] | None:
    """The OpenBLAS that numpy loaded and its symbol prefix/suffix (Linux: read from /proc/self/maps)."""
    try:
        with open("/proc/self/maps") as maps:
            paths = sorted({line.split()[-1] for line in maps if "openblas" in line.lower() and "/" in line})
    except OSError:
        return None
    for path in paths:
        library = ctypes.CDLL(path)
        for prefix in ("scipy_openblas", "openblas"):
            for suffix in ("64_", ""):
                if hasattr(library, f"{prefix}_get_num_threads{suffix}"):
                    return library, f"{prefix}_{{}}{suffix}"
    return None


def limit_blas_threads() -> str:
    """Make numpy's BLAS (and torch, if loaded) use one thread; return a line saying how and with what BLAS."""
    for variable in THREAD_VARIABLES:
        os.environ[variable] = "1"  # for child processes; this process is limited below
    try:
        from threadpoolctl import threadpool_info, threadpool_limits
    except ImportError:
        threadpool_limits = None
    if threadpool_limits is not None:
        threadpool_limits(1)
        described = "; ".join(f"{info['internal_api']} {info.get('version')} ({info.get('architecture')}, "
                              f"{info['num_threads']} thread)" for info in threadpool_info())
        return f"threadpoolctl: {described}"
    found = _openblas_library()
    if found is None:
        config = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return (f"{config.get('name')} {config.get('version')} (threads not controllable here: "
                f"{', '.join(THREAD_VARIABLES)}=1 only reach BLAS if set before numpy is imported)")
    library, symbol = found
    getattr(library, symbol.format("set_num_threads"))(1)
    threads = getattr(library, symbol.format("get_num_threads"))()
    corename = getattr(library, symbol.format("get_corename"))
    config = getattr(library, symbol.format("get_config"))
    corename.restype = config.restype = ctypes.c_char_p
    return (f"{config().decode().strip()}, core {corename().decode()}, {threads} thread "
            "(set through ctypes; threadpoolctl is not installed)")


def code_version() -> str:
    """The checkout's commit, and whether the package has uncommitted changes (so a table can be traced back)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                                timeout=10).stdout.strip()
        changed = subprocess.run(["git", "status", "--porcelain", "--", "tinygrad_rnn"], cwd=root,
                                 capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown (git not available)"
    if not commit:
        return "unknown (not a git checkout)"
    return commit + (" with uncommitted changes in tinygrad_rnn/" if changed else "")


LONE_ROUNDS = 5
LONE_SECONDS = 1.0
"""--lone: rounds by default, and the steps each process times after its warm-up (at least five)."""
LONE = ", each contender alone in a fresh process per round"


def machine_lines(blas: str, lone: bool = False) -> list[str]:
    """Lines describing the machine, Python, numpy, BLAS, malloc, the environment variables that affect BLAS,
    and how the contenders are timed (`lone`: each in processes of its own, see time_in_processes)."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), cpu)
    except OSError:
        pass
    variables = ", ".join(f"{name}={os.environ.get(name, 'unset')}" for name in MACHINE_VARIABLES)
    return [f"machine: {cpu}, {os.cpu_count()} logical cores (shared with other processes: expect noise)",
            f"python {platform.python_version()}, numpy {np.__version__}; BLAS: {blas}",
            f"left as the machine sets them: {variables}",
            f"code: {code_version()}",
            f"malloc: {malloc_line()}",
            ("timing: each round runs every contender alone in a fresh process, its steps back to back after a "
             "warm-up (the median step is its sample)" if lone else
             "timing: contenders interleaved round by round") +
            "; median over rounds reported, min = least disturbed round, spread = (max - min) / median; a ratio is "
            "the median over rounds of the two times in one round; faults = minor page faults per call (fresh "
            "memory the kernel maps and zeroes: allocation churn)"]


def malloc_line() -> str:
    """Whether importing tinygrad_rnn tuned malloc (it changes every contender's page faults)."""
    allocator = sys.modules.get("tinygrad_rnn.allocator")
    if allocator is None:
        return "as the machine sets it (tinygrad_rnn not imported)"
    if allocator.TUNED:
        return "tuned by tinygrad_rnn.allocator for every contender (TINYGRAD_RNN_MALLOC=default opts out)"
    return "as the machine sets it (tinygrad_rnn.allocator opted out, or not glibc)"


def add_clock_argument(parser: Any) -> None:
    parser.add_argument("--clock", choices=tuple(CLOCKS), default="wall",
                        help="wall: elapsed time (default); cpu: this process's CPU time, steadier when other "
                             "processes compete for the cores (BLAS and torch run one thread, so both agree "
                             "on a quiet machine)")


@dataclass
class Timing:
    """Seconds per call of one contender over several rounds."""

    name: str
    seconds: list[float]
    page_faults: float = float("nan")
    """Minor page faults per call (fresh memory the kernel had to map and zero); NaN where not measurable."""

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def spread(self) -> float:
        """(max - min) / median over the rounds: how noisy this measurement was."""
        return (max(self.seconds) - min(self.seconds)) / self.median


def paired_ratio(timing: Timing, baseline: Timing) -> float:
    """Median over rounds of timing / baseline within the same round: steadier than a ratio of medians when the
    machine's load drifts, since both samples of a pair ran moments apart."""
    return statistics.median(mine / theirs for mine, theirs in zip(timing.seconds, baseline.seconds))


def calibrate(run: Callable[[], object], target_seconds: float) -> int:
    """How many calls of `run` fill about `target_seconds` (at least one); also warms `run` up."""
    run()
    start = time.perf_counter()
    run()
    once = time.perf_counter() - start
    return max(1, min(1000, round(target_seconds / max(once, 1e-9))))


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
"""'cpu' counts only the time this process ran, so other processes competing for the cores inflate it less."""


def time_round_robin(contenders: dict[str, Callable[[], object]], rounds: int,
                     target_seconds: float = 0.05, clock: str = "wall") -> list[Timing]:
    """Time each contender `rounds` times, interleaved; each sample is the mean of enough calls to fill
    `target_seconds`, so microsecond-scale calls are not swamped by the timer."""
    timer = CLOCKS[clock]
    calls = {name: calibrate(run, target_seconds) for name, run in contenders.items()}
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    faults: dict[str, list[int]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, run in contenders.items():
            gc.collect()
            count = calls[name]
            faults_before = minor_page_faults()
            start = timer()
            for _ in range(count):
                run()
            samples[name].append((timer() - start) / count)
            faults[name].append((minor_page_faults() - faults_before) / count)
    return [Timing(name, seconds, statistics.median(faults[name])) for name, seconds in samples.items()]


def time_steady(run: Callable[[], object], target_seconds: float, clock: str = "wall") -> tuple[float, float]:
    """Seconds (median) and minor page faults per call of `run` once warmed up, over the calls that fill
    `target_seconds` (at least five) back to back, as a training loop makes them."""
    timer = CLOCKS[clock]
    count = max(5, calibrate(run, target_seconds))
    seconds = []
    faults_before = minor_page_faults()
    for _ in range(count):
        start = timer()
        run()
        seconds.append(timer() - start)
    return statistics.median(seconds), (minor_page_faults() - faults_before) / count


def time_in_processes(jobs: dict[str, tuple[Callable[..., tuple[float, float]], tuple[Any, ...]]],
                      rounds: int) -> list[Timing]:
    """Run each job, `function(*args)` -> (seconds, faults) per call, in a fresh process of its own every round,
    contenders alternating round by round: each then runs alone with its own heap and caches, as a user's
    training loop does, where interleaved in one process the others' memory and cache traffic sit between its
    calls."""
    import multiprocessing

    samples: dict[str, list[float]] = {name: [] for name in jobs}
    faults: dict[str, list[float]] = {name: [] for name in jobs}
    with multiprocessing.get_context("spawn").Pool(1, maxtasksperchild=1) as pool:
        for _ in range(rounds):
            for name, (function, args) in jobs.items():
                seconds, page_faults = pool.apply(function, args)
                samples[name].append(seconds)
                faults[name].append(page_faults)
    return [Timing(name, seconds, statistics.median(faults[name])) for name, seconds in samples.items()]


def minor_page_faults() -> float:
    """This process's minor page faults so far (NaN where the resource module is missing)."""
    try:
        import resource
    except ImportError:
        return float("nan")
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_minflt)


def print_profile(run: Callable[[], object], calls: int, top: int = 25) -> None:
    """cProfile `calls` calls of `run` and print the `top` functions by own time (profiling inflates small calls)."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        run()
    profiler.disable()
    stats = pstats.Stats(profiler, stream=sys.stdout)
    stats.strip_dirs().sort_stats("tottime").print_stats(top)


def relative_error(ours: np.ndarray, reference: np.ndarray) -> float:
    """max |ours - reference| / max |reference| (0 when both are all zeros)."""
    scale = float(np.max(np.abs(reference))) if reference.size else 0.0
    error = float(np.max(np.abs(np.asarray(ours) - reference))) if reference.size else 0.0
    return error / scale if scale else error


def fail(message: str) -> None:
    """Stop the benchmark loudly with a non-zero exit status."""
    print(f"\nFAILED: {message}", file=sys.stderr)
    sys.exit(1)


def format_table(header: list[str], rows: list[list[str]], markdown: bool = False) -> str:
    """A plain-text (or Markdown) table, left column left-aligned, the others right-aligned."""
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    separator, rule = (" | ", ["-" * widths[0]] + ["-" * (width - 1) + ":" for width in widths[1:]]) if markdown \
        else ("  ", ["-" * width for width in widths])
    lines = []
    for row in [header, rule, *rows]:
        cells = [str(row[0]).ljust(widths[0])] + [str(cell).rjust(width) for cell, width in zip(row[1:], widths[1:])]
        lines.append(separator.join(cells))
    return "\n".join(f"| {line} |" for line in lines) if markdown else "\n".join(lines)


def import_torch() -> object | None:
    """torch with one intra-op and one inter-op thread, or None when it is not installed."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass  # only settable before torch's first parallel work; intra-op threads are what matter here
    return torch
