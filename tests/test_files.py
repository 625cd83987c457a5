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
    with pytest.raises(FileNotFoundError, match="the folder .*a.txt' is a file, not a folder"):
        (tmp_path / "a.txt").write_text("x")
        write_atomically(tmp_path / "a.txt" / "b.png", lambda temporary: None)


def test_unwritable_folder_names_the_target(tmp_path, monkeypatch):
    """A folder we may not write in (simulated: the tests may run as root) is named, not our temporary file."""
    def refuse(**kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path / ".a-x.png"))

    monkeypatch.setattr("tempfile.mkstemp", refuse)
    with pytest.raises(PermissionError, match=r"page: cannot write '.*a.png': no file can be made in the folder "
                                              r"'.*' \(Permission denied\)$"):
        write_atomically(tmp_path / "a.png", lambda temporary: None, "page")


def test_failed_write_names_the_target(tmp_path):
    def disk_full(temporary):
        raise OSError(28, "No space left on device", temporary)

    with pytest.raises(OSError, match=r"cannot write '.*a.png': No space left on device$"):
        write_atomically(tmp_path / "a.png", disk_full)
    assert os.listdir(tmp_path) == []


def test_writes_through_a_symlink(tmp_path):
    """A picture saved through a link replaces the link's target and keeps the link (as checkpoints do)."""
    (tmp_path / "real.svg").write_text("old")
    (tmp_path / "latest.svg").symlink_to("real.svg")
    assert write_atomically(tmp_path / "latest.svg", lambda temporary: open(temporary, "w").write("new")).name == \
        "latest.svg"
    assert (tmp_path / "latest.svg").is_symlink() and (tmp_path / "real.svg").read_text() == "new"
    assert sorted(os.listdir(tmp_path)) == ["latest.svg", "real.svg"]


@pytest.mark.skipif(os.name != "posix", reason="temporary files are cleaned only where flock exists")
def test_removes_what_a_killed_write_left(tmp_path):
    """Our temporary file that no write holds (its writer was killed) is removed by the next write there."""
    orphan = tmp_path / ".graph.png.tinygrad-rnn-save-abcd1234.tmp"
    orphan.write_bytes(b"half a picture")
    write_atomically(tmp_path / "other.png", lambda temporary: open(temporary, "wb").write(b"png"))
    assert os.listdir(tmp_path) == ["other.png"]
