"""files.write_atomically: whole or not at all, with the permissions open() gives."""

import os
import stat

import pytest

from tinygrad_rnn.files import write_atomically


def test_writes_whole(tmp_path):
    path = write_atomically(tmp_path / "a.txt", lambda temporary: open(temporary, "w").write("new"))
    assert path.read_text() == "new" and os.listdir(tmp_path) == ["a.txt"]
    reference = tmp_path / "b.txt"
    reference.write_text("x")
    assert stat.S_IMODE(path.stat().st_mode) == stat.S_IMODE(reference.stat().st_mode)


def test_failure_keeps_the_old_file(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("old")

    def fail(temporary):
        open(temporary, "w").write("half")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        write_atomically(path, fail)
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["a.txt"]


def test_bad_targets(tmp_path):
    with pytest.raises(FileNotFoundError, match="plot: cannot write .* the folder .* does not exist"):
        write_atomically(tmp_path / "missing" / "a.png", lambda temporary: None, "plot")
    with pytest.raises(IsADirectoryError, match="it is a folder"):
        write_atomically(tmp_path, lambda temporary: None)
