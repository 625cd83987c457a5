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
    if not folder.is_dir():
        raise FileNotFoundError(f"{who}: cannot write {str(target)!r}: the folder {str(folder)!r} does not exist")
    if target.is_dir():
        raise IsADirectoryError(f"{who}: cannot write {str(target)!r}: it is a folder")
    descriptor, temporary = tempfile.mkstemp(dir=folder, prefix=f".{target.stem}-", suffix=target.suffix)
    os.close(descriptor)
    try:
        write(temporary)
        os.chmod(temporary, 0o666 & ~_UMASK)  # mkstemp's file is private (0600)
        os.replace(temporary, target)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
    return target
