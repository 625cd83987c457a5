"""benchmarks/credit.py stays runnable and its correctness checks are real (no timing is asserted)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_credit_benchmark_smoke():
    """benchmarks/credit.py --smoke runs and its checks pass."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "credit.py"), "--smoke", "--cells", "rnn,gru"],
                            cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("check passed") == 2 and "MISMATCH" not in result.stdout
    assert "ledger (norms)" in result.stdout and "FlowRecorder every=50" in result.stdout
    assert "the ledger holds (norms only)" in result.stdout
