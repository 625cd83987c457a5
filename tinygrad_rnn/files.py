"""Writing a file whole or not at all, for checkpoints, pictures and pages alike: into a temporary file beside
it, flushed to disk, then renamed over it, so an interrupted write never leaves half a file and never loses the
old one.

A symbolic link is written through (its target gets the new file; the link stays), as editors do. A temporary
file left by a write that was killed is removed by the next write into that folder; one that a running write
holds (it keeps an advisory lock on it) is left alone, so two processes may write at once (not on Windows,
which has no flock: no cleaning there).
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

TEMPORARY_MARK = ".tinygrad-rnn-save-"
"""Our temporary files are `.<name>.tinygrad-rnn-save-<8 random characters>.tmp`, beside the target."""
_TEMPORARY_NAME = re.compile(rf"\..+{re.escape(TEMPORARY_MARK)}[a-z0-9_]{{8}}\.tmp", re.DOTALL)


def _umask() -> int:
    """The process's umask now, read from /proc where Linux has it: setting the umask to read it (the only
    portable way) would briefly change it for other threads making files."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomically(path: str | os.PathLike[str], write: Callable[[str], None], who: str = "write") -> Path:
    """Call `write(temporary_path)`, then fsync and rename the temporary file over `path`; on any failure
    remove it and keep what was at `path`. The file keeps the old file's permissions (a new one gets what
    `open()` would give it). `who` names the public caller in errors. Returns `path`."""
    shown = os.fspath(path)
    cannot = f"{who}: cannot write {shown!r}"
    target = os.path.realpath(shown)
    folder = os.path.dirname(target)
    if not os.path.isdir(folder):
        why = "is a file, not a folder" if os.path.exists(folder) else "does not exist"
        raise FileNotFoundError(f"{cannot}: the folder {folder!r} {why}")
    if os.path.isdir(target):
        raise IsADirectoryError(f"{cannot}: it is a folder; give the name of the file to write")
    if os.path.islink(target):
        raise OSError(f"{cannot}: it is a loop of symbolic links")
    _remove_stale_temporaries(folder)
    descriptor, temporary = _claim_temporary(cannot, target)
    try:
        write(temporary)
        os.fsync(descriptor)  # the same file: its data reach the disk before the rename
        os.chmod(temporary, _mode_for(target))  # mkstemp's file is private (0600)
        os.replace(temporary, target)  # still locked: a cleaning write elsewhere must not take it before this
    except BaseException as error:  # Ctrl-C too: never leave a half-written temporary file behind
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        if isinstance(error, OSError) and temporary in (error.filename, error.filename2):
            raise type(error)(f"{cannot}: {error.strerror}") from None  # name the target, not our temporary file
        raise
    finally:
        os.close(descriptor)
    _fsync_folder(folder)
    return Path(shown)


def _claim_temporary(cannot: str, target: str) -> tuple[int, str]:
    """A new temporary file beside `target`, open and locked (so that no other write removes it as stale)."""
    for _ in range(10):
        try:
            descriptor, temporary = tempfile.mkstemp(dir=os.path.dirname(target), suffix=".tmp",
                                                     prefix=f".{os.path.basename(target)}{TEMPORARY_MARK}")
        except OSError as error:  # name the file asked for, not the temporary one
            folder = os.path.dirname(target)
            raise type(error)(f"{cannot}: no file can be made in the folder {folder!r} ({error.strerror})") from None
        if fcntl is None:
            return descriptor, temporary
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        if os.fstat(descriptor).st_nlink > 0:
            return descriptor, temporary
        os.close(descriptor)  # another write took it for stale in the instant before the lock: take a new one
    raise OSError(f"{cannot}: every temporary file was removed at once by another process")


def _remove_stale_temporaries(folder: str) -> None:
    """Remove our temporary files in `folder` that no running write holds (their write was killed).

    A write holds an advisory lock on its temporary file until it is renamed; the kernel drops the lock when
    the process dies, however it dies. So a file of our naming whose lock we can take is an orphan.
    """
    if fcntl is None:
        return
    try:
        names = [entry.name for entry in os.scandir(folder) if _TEMPORARY_NAME.fullmatch(entry.name)]
    except OSError:
        return
    for name in names:
        candidate = os.path.join(folder, name)
        try:
            descriptor = os.open(candidate, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:  # gone already, or not ours to read
            continue
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            status = os.fstat(descriptor)
            if stat.S_ISREG(status.st_mode) and os.path.samestat(status, os.lstat(candidate)):
                os.unlink(candidate)  # while locked, so its write (if it just began) sees it gone and starts over
        except OSError:  # a running write holds it, or it vanished
            pass
        finally:
            os.close(descriptor)


def _mode_for(path: str) -> int:
    """The permissions the new file gets: the old file's, or what the umask allows for a fresh one."""
    try:
        return os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        return 0o666 & ~_umask()


def _fsync_folder(folder: str) -> None:
    """Make the rename itself durable (not possible on every platform, e.g. Windows: then skipped)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
