"""What the lab tests share: import a lab, run it as a script, check its pictures and its refusals."""

from __future__ import annotations

import importlib.util
import os
import struct
import subprocess
import sys
from pathlib import Path

DEMOS = Path(__file__).resolve().parent.parent / "demos"
if str(DEMOS) not in sys.path:
    sys.path.insert(0, str(DEMOS))  # the labs import _lab and their sibling demos from there
ENV = dict(os.environ)  # the machine's OPENBLAS_* settings pass through unchanged


def lab(name):
    spec = importlib.util.spec_from_file_location(f"lab_{name}", DEMOS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_script(name, *args):
    return subprocess.run([sys.executable, str(DEMOS / f"{name}.py"), *map(str, args)], capture_output=True,
                          text=True, env=ENV)


def run_command(*args):
    """`tinygrad-rnn ...` as a user runs it (python -m tinygrad_rnn)."""
    return subprocess.run([sys.executable, "-m", "tinygrad_rnn", *map(str, args)], capture_output=True, text=True,
                          env=ENV)


def assert_png(path):
    """A whole PNG: the signature, a non-empty image header, and pixels that decode."""
    import matplotlib.image

    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    width, height = struct.unpack(">II", data[16:24])
    assert data[12:16] == b"IHDR" and width > 100 and height > 100, (path, width, height)
    pixels = matplotlib.image.imread(path)
    assert pixels.shape[:2] == (height, width) and pixels.std() > 0, path  # not one flat colour


def assert_reported(printed, paths):
    """The run's list of files written names each of `paths`, one line each with what to look at."""
    lines = printed.split("wrote:\n", 1)[1].splitlines()
    for path in paths:
        line = next((line for line in lines if line.strip().startswith(str(path) + "  ")), None)
        assert line is not None and len(line.split(str(path), 1)[1].strip()) > 20, (path, lines)


def refusal(capsys, main, argv):
    """Run `main(argv)` in this process; the exit status and the one line it printed on stderr."""
    try:
        status = main(argv)
    except SystemExit as stop:
        status = stop.code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.endswith("\n") and "Traceback" not in err, err
    return status, err


def assert_bad_output_folders_refused(capsys, main, files, tmp_path):
    """--out a file, --out under a file, and an earlier run's output without --overwrite: exit 2, one line each,
    nothing written or changed."""
    a_file = tmp_path / "a_file"
    a_file.write_text("precious")
    for out, phrase in ((a_file, "is a file; expected a folder"), (a_file / "inside", "is inside")):
        status, err = refusal(capsys, main, ["--smoke", "--out", str(out)])
        assert status == 2 and phrase in err and "--out" in err, err
    assert a_file.read_text() == "precious"
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    (earlier / files[-1]).write_bytes(b"an earlier run's picture")
    status, err = refusal(capsys, main, ["--smoke", "--out", str(earlier)])
    assert status == 2 and str(earlier / files[-1]) in err and "--overwrite" in err, err
    assert sorted(path.name for path in earlier.iterdir()) == [files[-1]]
    assert (earlier / files[-1]).read_bytes() == b"an earlier run's picture"
