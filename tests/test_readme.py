"""The README's Python examples run as written, and what they print is what the README says."""

import contextlib
import io
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_prints_its_claims(index, tmp_path, monkeypatch):
    """The README example runs and prints what it claims."""
    monkeypatch.chdir(tmp_path)
    source = BLOCKS[index]
    if 'register("softplus"' in source:  # the test suite registers the same example op; use a fresh name
        source = source.replace('"softplus"', '"softplus_readme"')
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(source, f"README block {index}", "exec"), {"__name__": "readme"})
    outputs = printed.getvalue().splitlines()
    prints = [line for line in source.splitlines() if line.lstrip().startswith("print(")]
    for line, output in zip(prints, outputs):
        claimed = re.search(r"#\s*(.+)$", line)
        if claimed and re.fullmatch(r"[-\d. ()True False,]+", claimed.group(1).strip()):
            assert output.strip() == claimed.group(1).strip(), f"README says {claimed.group(1)!r}, got {output!r}"


def test_readme_states_checkable_numbers():
    claims = [m for block in BLOCKS for m in re.findall(r"print\(.*#\s*([-\d. ()TrueFals,]+)$", block, flags=re.M)]
    assert len(claims) >= 2, "the README examples should show numbers a reader can check"


def test_engine_line_counts_are_true():
    """The reading-order table and the doors' paragraph give each file's length: they must stay true."""
    text = README.read_text()
    section = text[text.index("## The engine, in reading order"):text.index("### Your own op")]
    package = README.parent / "tinygrad_rnn"

    def lines(name: str, folder: Path) -> int:
        return len((folder / name).read_text().splitlines())

    rows = re.findall(r"^\| (`[^|]+`) \| (\d+) \|", section, flags=re.M)
    assert len(rows) >= 4
    for files, claimed in rows:
        names = re.findall(r"`([^`]+)`", files)
        folder = package / Path(names[0]).parent
        assert sum(lines(Path(name).name, folder) for name in names) == int(claimed), files
    doors = re.findall(r"`(\w+\.py)` \((\d+)", section)
    assert len(doors) >= 4
    for name, claimed in doors:
        assert lines(name, package) == int(claimed), name


COMMANDS = [line.split("#")[0].strip() for block in re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.S)
            for line in block.splitlines() if line.split("#")[0].strip()]
SLOW_COMMANDS = {"python demos/main.py", "python demos/render_graph.py"}  # training runs and a browser


def test_readme_make_targets_exist():
    """The README's two commands are targets of the Makefile (CI runs `make test` itself)."""
    makefile = (README.parent / "Makefile").read_text()
    targets = [command.split()[1] for command in COMMANDS if command.startswith("make ")]
    assert targets == ["demo", "test"]
    assert all(re.search(rf"^{target}:", makefile, flags=re.M) for target in targets)


@pytest.mark.parametrize("command", [
    pytest.param(command, marks=pytest.mark.slow) if any(command.startswith(s) for s in SLOW_COMMANDS) else command
    for command in COMMANDS if not command.startswith("make ")])
def test_readme_command_runs(command, tmp_path):
    """Each README command that remakes a picture runs as written (in a scratch folder) and writes its PNG."""
    import shlex
    import shutil
    import subprocess
    import sys

    import matplotlib.pyplot as plt

    words = shlex.split(command)
    if words[0] == ".venv/bin/tinygrad-rnn":
        words = [sys.executable, "-m", "tinygrad_rnn", *words[1:]]
    elif words[:2] == ["python", words[1]] and words[1].startswith("demos/"):
        words = [sys.executable, str(README.parent / words[1]), *words[2:]]
    needs = ["dot"] + (["chromium", "chromedriver"] if "--screenshot" in words else [])
    missing = [tool for tool in needs if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"the README command needs {', '.join(missing)} (make tools)")
    (tmp_path / "docs").mkdir()
    result = subprocess.run(words, cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    pictures = [words[i + 1] for i, word in enumerate(words) if word in ("--out", "--screenshot")]
    assert pictures
    for picture in pictures:
        image = plt.imread(tmp_path / picture)
        assert image.shape[0] > 100 and image.shape[1] > 100 and image[..., :3].std() > 0.01, picture
