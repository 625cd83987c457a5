"""The tutorials in notebooks/ run top to bottom (their cells assert what they teach) and are committed without
outputs. Each runs in a fresh kernel of this interpreter (a kernelspec of our own, so a user's Jupyter set-up
plays no part), importing this checkout's tinygrad_rnn, in a temporary folder (what a notebook writes lands there).
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import shutil
import sys
from pathlib import Path

import pytest

import tinygrad_rnn

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
TUTORIALS = {  # name -> the kinds of picture it must show inline
    "01_bptt_is_a_sum_over_time.ipynb": {"image/svg+xml", "image/png"},
    "02_vanishing_gradients.ipynb": {"image/png"},
    "03_debugging_a_training_run.ipynb": {"image/png"},
}
NEEDS_DOT = {"01_bptt_is_a_sum_over_time.ipynb", "03_debugging_a_training_run.ipynb"}
KERNEL = "tinygrad-rnn-tests"
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
WHO = "import sys, tinygrad_rnn\n(sys.executable, tinygrad_rnn.__file__)"  # who ran the kernel


def load(name: str) -> dict:
    return json.loads((NOTEBOOKS / name).read_text(encoding="utf-8"))


def test_the_tutorials_are_these():
    assert sorted(path.name for path in NOTEBOOKS.glob("*.ipynb")) == sorted(TUTORIALS)


@pytest.mark.parametrize("name", sorted(TUTORIALS))
def test_committed_without_outputs(name):
    stale = [index for index, cell in enumerate(load(name)["cells"]) if cell["cell_type"] == "code"
             and (cell.get("outputs") or cell.get("execution_count") is not None or "execution" in cell["metadata"])]
    assert not stale, (f"{name}: code cells {stale} hold outputs or execution counts; clear them before committing "
                       "(in Jupyter: Edit > Clear Outputs of All Cells; or, with nbconvert installed, "
                       f"jupyter nbconvert --clear-output --inplace notebooks/{name})")


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    """A kernelspec running this interpreter, found through JUPYTER_PATH ahead of any the user has."""
    missing = [name for name in ("nbclient", "nbformat", "ipykernel") if importlib.util.find_spec(name) is None]
    if missing:
        message = f"running the notebooks needs {', '.join(missing)} (pip install -e '.[dev]')"
        if os.environ.get("CI"):
            pytest.fail(message + "; CI installs the dev extra, so its set-up is broken")
        pytest.skip(message)
    folder = tmp_path_factory.mktemp("jupyter")
    spec = folder / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "tinygrad-rnn tests", "language": "python"}))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JUPYTER_PATH", str(folder) + os.pathsep + os.environ.get("JUPYTER_PATH", ""))
        yield KERNEL


SLOW = {"03_debugging_a_training_run.ipynb"}  # trains for a while: runs with the slow tests


@pytest.mark.parametrize("name", [pytest.param(name, marks=pytest.mark.slow) if name in SLOW else name
                                  for name in sorted(TUTORIALS)])
def test_runs_top_to_bottom(name, kernel, tmp_path):
    if name in NEEDS_DOT and shutil.which("dot") is None:
        pytest.skip(f"{name} draws graphs: Graphviz 'dot' is not installed (make tools)")
    import nbclient
    import nbformat

    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(WHO))
    package_root = str(Path(tinygrad_rnn.__file__).resolve().parent.parent)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])))
    client = nbclient.NotebookClient(notebook, kernel_name=kernel, timeout=None, startup_timeout=600,
                                     resources={"metadata": {"path": str(tmp_path)}})
    failure = None
    try:
        client.execute(env=env)
    except nbclient.exceptions.CellExecutionError as error:
        failure = ANSI.sub("", str(error))
    if failure is not None:  # outside the except: the message alone, not the chain of nbclient's internals
        pytest.fail(f"{name}: a cell failed\n{failure}", pytrace=False)

    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    executable, package = ast.literal_eval(outputs.pop()["data"]["text/plain"])
    assert (executable, Path(package).resolve()) == (sys.executable, Path(tinygrad_rnn.__file__).resolve())
    shown = {kind for output in outputs for kind in output.get("data", {})}
    assert TUTORIALS[name] <= shown, f"{name}: no {TUTORIALS[name] - shown} output, so a picture did not render"
    noise = [output["text"] for output in outputs if output.get("name") == "stderr"]
    assert not noise, f"{name}: wrote to stderr (a reader sees it as a warning): {noise}"
