"""Keep freed memory for the next training step (glibc's malloc, set once on import).

A training step makes and frees the same arrays every step. By default glibc hands the freed top of its heap
back to the kernel, so the next step maps and zeroes it afresh: a char-RNN-sized LSTM step from a fresh state,
~5,000 page faults and 10-20% of its time. On import we ask malloc to keep 64 MiB free at the heap's top (memory
the process then holds on to) and to serve arrays below 32 MiB from the heap (setting the first alone fixes
glibc's mmap threshold at 128 KiB, so larger arrays would be mapped afresh every time). Like numpy's hugepage
advice, it is on by default: `TINYGRAD_RNN_MALLOC=default` in the environment leaves malloc as the machine sets
it, and so do malloc settings of one's own (`MALLOC_TOP_PAD_`, `MALLOC_MMAP_THRESHOLD_`, `glibc.malloc` in
`GLIBC_TUNABLES`).
"""

from __future__ import annotations

import ctypes
import os

TOP_PAD_BYTES = 64 * 2**20
MMAP_THRESHOLD_BYTES = 32 * 2**20  # glibc's own ceiling for the threshold it adjusts by itself
M_TOP_PAD, M_MMAP_THRESHOLD = -2, -3  # <malloc.h>
OPT_OUT = "TINYGRAD_RNN_MALLOC"
OWN_SETTINGS = ("MALLOC_TOP_PAD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")


def keep_freed_memory(top_pad: int = TOP_PAD_BYTES, mmap_threshold: int = MMAP_THRESHOLD_BYTES) -> bool:
    """Ask glibc's malloc to keep `top_pad` free bytes at its heap's top and to map only arrays of
    `mmap_threshold` bytes or more; True if it agreed, False where the C library is not glibc."""
    try:
        libc = ctypes.CDLL(None)
    except (OSError, TypeError):  # TypeError: Windows loads no library by the name None
        return False
    if not hasattr(libc, "gnu_get_libc_version"):  # not glibc (musl's mallopt does nothing)
        return False
    return bool(libc.mallopt(M_MMAP_THRESHOLD, mmap_threshold)) and bool(libc.mallopt(M_TOP_PAD, top_pad))


def tune_on_import() -> bool:
    """keep_freed_memory() unless the environment opts out or sets malloc itself; whether malloc was tuned."""
    own = any(name in os.environ for name in OWN_SETTINGS) or "glibc.malloc" in os.environ.get("GLIBC_TUNABLES", "")
    if own or os.environ.get(OPT_OUT, "").lower() == "default":
        return False
    return keep_freed_memory()


TUNED = tune_on_import()
"""Whether importing tinygrad_rnn tuned this process's malloc."""
