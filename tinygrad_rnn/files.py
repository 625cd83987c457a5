"""Writing a file whole or not at all: into a temporary file beside it, renamed over it when complete, so an
interrupted write never leaves half a picture or page (checkpoints have their own, in serialization.py)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # read once: setting the umask to read it is not safe while other threads make files


def write_atomically(path: str | os.PathLike[str], write: Callable[[str], None], who: str = "write") -> Path:
    """Call `write(temporary_path)`, then rename the temporary file to `path`; on any failure remove it and keep
    what was at `path`. The file gets the permissions `open()` would give it. `who` names the caller in errors."""
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    cannot = f"{who}: cannot write {str(target)!r}"
    if not folder.is_dir():
        why = "is a file, not a folder" if folder.exists() else "does not exist"
        raise FileNotFoundError(f"{cannot}: the folder {str(folder)!r} {why}")
    if target.is_dir():
        raise IsADirectoryError(f"{cannot}: it is a folder")
    try:
        descriptor, temporary = tempfile.mkstemp(dir=folder, prefix=f".{target.stem}-", suffix=target.suffix)
    except OSError as error:
        raise type(error)(f"{cannot}: no file can be made in the folder {str(folder)!r} ({error.strerror})") from None
    os.close(descriptor)
    try:
        write(temporary)
        os.chmod(temporary, 0o666 & ~_UMASK)  # mkstemp's file is private (0600)
        os.replace(temporary, target)
    except BaseException as error:
        if os.path.exists(temporary):
            os.remove(temporary)
        if isinstance(error, OSError) and temporary in (error.filename, error.filename2):
            raise type(error)(f"{cannot}: {error.strerror}") from None  # name the target, not our temporary file
        raise
    return target
