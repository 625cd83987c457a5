"""Checkpoints: `save(obj, path)` / `load(path)` for nested containers of arrays and numbers in one `.npz` file.

The file is an ordinary npz: one `.npy` member per array, named by its path in the object (`model/weight_hh_l0`),
plus a JSON manifest (`__tinygrad_rnn__`, stored as a uint8 array) that records the structure, the Python
numbers and strings, and which member holds which array. Nothing is ever pickled, in either direction.
Writes are atomic: a temporary file in the same folder is filled, fsynced and renamed over the target, so a
crash or Ctrl-C mid-save leaves the previous checkpoint as it was.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from typing import Any

import numpy as np

from .tensor import Tensor

MANIFEST = "__tinygrad_rnn__"
FORMAT = "tinygrad_rnn.checkpoint"
VERSION = 1
SEPARATOR = "/"
# Bit generators a checkpoint may name; `load` never looks up an arbitrary attribute of numpy.random.
BIT_GENERATORS = ("MT19937", "PCG64", "PCG64DXSM", "Philox", "SFC64")


class CheckpointError(ValueError):
    """A file that `load` cannot read as a checkpoint written by `save` (corrupt, truncated or foreign)."""


def _encode(obj: Any, path: tuple[str, ...], arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """The manifest node for `obj`, moving its arrays into `arrays` under names built from `path`."""
    where = SEPARATOR.join(path) or "the root"
    if obj is None:
        return {"kind": "none"}
    if isinstance(obj, (Tensor, np.ndarray, np.generic)):  # first: np.float64 is a float too
        array = np.array(obj.data if isinstance(obj, Tensor) else obj)
        if array.dtype.hasobject:
            raise TypeError(f"save: the array at {where} has dtype {array.dtype}, which would need pickling; "
                            f"only plain numeric, bool and string arrays can be saved")
        name = SEPARATOR.join(path) or "value"
        if name in arrays or name == MANIFEST:
            name = next(f"{name}~{n}" for n in range(1, len(arrays) + 2) if f"{name}~{n}" not in arrays)
        arrays[name] = array
        kind = "scalar" if isinstance(obj, np.generic) else "tensor" if isinstance(obj, Tensor) else "array"
        return {"kind": kind, "name": name}
    for kind, python_type in (("bool", bool), ("int", int), ("float", float), ("str", str)):  # bool is an int too
        if isinstance(obj, python_type):
            return {"kind": kind, "value": python_type(obj)}
    if isinstance(obj, np.random.Generator):
        bit_generator = type(obj.bit_generator).__name__
        if bit_generator not in BIT_GENERATORS:
            raise TypeError(f"save: the Generator at {where} uses {bit_generator}; expected one of {BIT_GENERATORS}")
        return {"kind": "generator", "bit_generator": bit_generator,
                "state": _encode(obj.bit_generator.state, path, arrays)}
    if isinstance(obj, dict):
        items = []
        for key, value in obj.items():
            if isinstance(key, bool) or not isinstance(key, (str, int)):
                raise TypeError(f"save: dict keys must be str or int, but {where} has the key {key!r}")
            items.append([key, _encode(value, (*path, str(key)), arrays)])
        return {"kind": "dict", "items": items}
    if isinstance(obj, (list, tuple)):
        return {"kind": "tuple" if isinstance(obj, tuple) else "list",
                "items": [_encode(value, (*path, str(i)), arrays) for i, value in enumerate(obj)]}
    raise TypeError(f"save: cannot save a {type(obj).__name__} (at {where}); expected dicts, lists, tuples, "
                    f"arrays, Tensors, numpy Generators, numbers, strings, bools or None")


def _write_npz(file: Any, arrays: dict[str, np.ndarray]) -> None:
    """Write `arrays` as an npz archive (uncompressed, as `np.savez`), one `<name>.npy` member each."""
    with zipfile.ZipFile(file, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, array in arrays.items():
            with archive.open(name + ".npy", mode="w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)


def save(obj: Any, path: str | os.PathLike[str]) -> None:
    """Write `obj` (nested dicts, lists, tuples of arrays, Tensors, numbers, strings, Generators) to `path`.

    Tensors are saved as their arrays. The file appears under `path` only when complete: it is written to a
    temporary file in the same folder, flushed, fsynced, then renamed over `path` with `os.replace`.
    """
    arrays: dict[str, np.ndarray] = {}
    root = _encode(obj, (), arrays)
    manifest = json.dumps({"format": FORMAT, "version": VERSION, "root": root}, allow_nan=True)
    arrays[MANIFEST] = np.frombuffer(manifest.encode("utf-8"), dtype=np.uint8)
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise IsADirectoryError(f"save: '{path}' is a folder; give the name of the file to write")
    try:
        descriptor, temporary = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    except OSError as error:  # name the file asked for, not the temporary one
        raise type(error)(error.errno, f"save: cannot write '{path}': {error.strerror}") from None
    try:
        with os.fdopen(descriptor, "wb") as file:
            _write_npz(file, arrays)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, _mode_for(path))
        os.replace(temporary, path)
    except BaseException:  # Ctrl-C too: never leave a half-written temporary file behind
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise
    _fsync_folder(folder)


def _mode_for(path: str) -> int:
    """The permissions the new file gets: the old file's, or what the umask allows for a fresh one."""
    try:
        return os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


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


def load(path: str | os.PathLike[str]) -> Any:
    """Read what `save` wrote: arrays (and Tensors) come back as numpy arrays, Generators as Generators.

    Raises CheckpointError for a file that is not a complete checkpoint written by `save` (corrupt, truncated,
    not an npz, or an npz without our manifest), and FileNotFoundError when there is no file. Never unpickles.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"load: no checkpoint at {path}")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"load: {path} is not an npz checkpoint (not a zip archive; truncated or another "
                              f"format)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            names = list(archive.files)
            if MANIFEST not in names:
                raise CheckpointError(f"load: {path} is an npz file but was not written by tinygrad_rnn.save "
                                      f"(no '{MANIFEST}' manifest)")
            arrays = {name: archive[name] for name in names}
    except CheckpointError:
        raise
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, NotImplementedError) as error:
        raise CheckpointError(f"load: {path} is corrupt, truncated or holds pickled objects (which load "
                              f"refuses) ({type(error).__name__}: {error})") from error
    try:
        manifest = json.loads(arrays.pop(MANIFEST).tobytes().decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as error:
        raise CheckpointError(f"load: {path} has an unreadable manifest ({error})") from error
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or "root" not in manifest:
        raise CheckpointError(f"load: {path} has a manifest that is not a {FORMAT} manifest")
    if manifest.get("version") != VERSION:
        raise CheckpointError(f"load: {path} is checkpoint format version {manifest.get('version')!r}; this "
                              f"version of tinygrad_rnn reads version {VERSION}")
    used: list[str] = []
    try:
        obj = _decode(manifest["root"], arrays, used)
    except (KeyError, TypeError, ValueError, IndexError, RecursionError) as error:
        raise CheckpointError(f"load: {path} has a manifest that does not match its contents "
                              f"({type(error).__name__}: {error})") from error
    unused = sorted(set(arrays) - set(used))
    if unused:
        raise CheckpointError(f"load: {path} holds arrays its manifest does not mention: {unused}")
    return obj


def _decode(node: dict[str, Any], arrays: dict[str, np.ndarray], used: list[str]) -> Any:
    """Rebuild the object a manifest node describes (KeyError/TypeError/ValueError on a malformed node)."""
    kind = node["kind"]
    if kind == "none":
        return None
    if kind in ("bool", "int", "float", "str"):
        value = node["value"]
        expected = {"bool": bool, "int": int, "float": (float, int), "str": str}[kind]
        if not isinstance(value, expected) or (kind == "int" and isinstance(value, bool)):
            raise TypeError(f"a {kind} entry holds {value!r}")
        return float(value) if kind == "float" else value
    if kind in ("array", "tensor", "scalar"):
        name = node["name"]
        if name in used:
            raise ValueError(f"array {name!r} is referenced twice")
        used.append(name)
        array = arrays[name]
        return array[()] if kind == "scalar" else array
    if kind == "generator":
        if node["bit_generator"] not in BIT_GENERATORS:
            raise ValueError(f"unknown bit generator {node['bit_generator']!r}")
        bit_generator = getattr(np.random, node["bit_generator"])()
        bit_generator.state = _decode(node["state"], arrays, used)
        return np.random.Generator(bit_generator)
    if kind == "dict":
        result = {}
        for key, value in node["items"]:
            if isinstance(key, bool) or not isinstance(key, (str, int)):
                raise TypeError(f"dict key {key!r}")
            result[key] = _decode(value, arrays, used)
        return result
    if kind in ("list", "tuple"):
        items = [_decode(value, arrays, used) for value in node["items"]]
        return tuple(items) if kind == "tuple" else items
    raise ValueError(f"unknown entry kind {kind!r}")


__all__ = ["CheckpointError", "load", "save"]
