"""Importing tinygrad_rnn makes glibc's malloc keep freed memory: a step-like loop stops faulting its pages back in."""

import os
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(sys.platform != "linux" or platform.libc_ver()[0] != "glibc",
                                reason="malloc tuning needs Linux with glibc (this is not)")

PROBE = """
import resource
import numpy as np
import tinygrad_rnn

def step():  # what a training step does to memory: two dozen 1 MiB arrays made, written and freed
    arrays = [np.ones(1 << 18, dtype=np.float32) for _ in range(24)]
    del arrays

for _ in range(3):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    step()
print(tinygrad_rnn.allocator.TUNED, (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 5)
"""


def run_probe(**environment: str) -> tuple[str, float]:
    """(whether malloc was tuned, page faults per step) in a fresh interpreter with `environment` added."""
    env = {name: value for name, value in os.environ.items()
           if not name.startswith("MALLOC_") and name not in ("GLIBC_TUNABLES", "TINYGRAD_RNN_MALLOC")}
    result = subprocess.run([sys.executable, "-c", PROBE], env={**env, **environment}, capture_output=True,
                            text=True, check=True)
    tuned, faults = result.stdout.split()
    return tuned, float(faults)


def test_freed_memory_is_kept_for_the_next_step():
    tuned, faults = run_probe()
    untuned, untuned_faults = run_probe(TINYGRAD_RNN_MALLOC="default")
    assert (tuned, untuned) == ("True", "False")
    assert untuned_faults > 3000, "glibc's default no longer returns the freed heap top: the probe tests nothing"
    assert faults < 100, f"{faults:.0f} page faults a step with malloc tuned (untuned: {untuned_faults:.0f})"


@pytest.mark.parametrize("setting", [{"MALLOC_TOP_PAD_": "0"}, {"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=0"}])
def test_own_malloc_settings_are_left_alone(setting):
    assert run_probe(**setting)[0] == "False"
