"""What the lab tests share: import a lab as a module, run it as a script, check its pictures and its refusals."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

DEMOS = Path(__file__).resolve().parent.parent / "demos"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
if str(DEMOS) not in sys.path:
    sys.path.insert(0, str(DEMOS))  # the labs import demos/_lab.py


def lab(name: str):
    """demos/<name>.py as a module."""
    spec = importlib.util.spec_from_file_location(f"lab_{name}", DEMOS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_lab(name: str, *args: object) -> subprocess.CompletedProcess:
    """`python demos/<name>.py args` in a fresh Python (no timeout: a busy machine must not fail the test)."""
    return subprocess.run([sys.executable, str(DEMOS / f"{name}.py"), *map(str, args)], capture_output=True,
                          text=True, env=dict(os.environ))


def assert_png(path: Path) -> None:
    """A non-empty PNG that matplotlib can read back."""
    import matplotlib.pyplot as plt

    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, path
    image = plt.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100, (path, image.shape)


def assert_refused(result: subprocess.CompletedProcess, *phrases: str) -> None:
    """Exit status 2, one line on stderr naming the problem, no traceback."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for phrase in phrases:
        assert phrase in lines[0], lines[0]


def files_in(folder: Path) -> list[str]:
    """Every file under `folder` (hidden temporary files included), sorted."""
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))
