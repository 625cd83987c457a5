"""Checkpoints: `save(obj, path)` / `load(path)` for nested containers of arrays and numbers in one `.npz` file.

The file is an ordinary npz: one `.npy` member per array, named by its path in the object (`model/weight_hh_l0`),
plus a JSON manifest (`__tinygrad_rnn__`, stored as a uint8 array) that records the structure, the Python
numbers and strings, and which member holds which array. Nothing is ever pickled, in either direction.
Writes are atomic (see files.py): a temporary file in the same folder is filled, fsynced and renamed over the
target, so a crash or Ctrl-C mid-save leaves the previous checkpoint as it was. Reads trust no byte: every
member's size is checked against its header before anything is allocated, and every member is read to its end,
so its CRC is.
"""

from __future__ import annotations

import json
import os
import zipfile
from typing import Any

import numpy as np

from .files import write_atomically
from .tensor import Tensor

MANIFEST = "__tinygrad_rnn__"
FORMAT = "tinygrad_rnn.checkpoint"
VERSION = 1
SEPARATOR = "/"
MAX_DEPTH = 100
"""Containers nested deeper than this are refused by save (and load): real checkpoints nest a few levels."""
# Bit generators a checkpoint may name; `load` never looks up an arbitrary attribute of numpy.random.
BIT_GENERATORS = ("MT19937", "PCG64", "PCG64DXSM", "Philox", "SFC64")
ARRAY_KINDS = "biufcSU"
"""Array dtypes a checkpoint holds: bool, integers, floats, complex, bytes and str (nothing that needs pickling)."""


class CheckpointError(ValueError):
    """A file that `load` cannot read as a checkpoint written by `save` (corrupt, truncated or foreign)."""


def _encode(obj: Any, path: tuple[str, ...], arrays: dict[str, np.ndarray],
            enclosing: tuple[int, ...] = ()) -> dict[str, Any]:
    """The manifest node for `obj`, moving its arrays into `arrays` under names built from `path`.
    `enclosing` holds the ids of the containers `obj` is inside (to refuse a cycle)."""
    where = SEPARATOR.join(path) or "the root"
    if obj is None:
        return {"kind": "none"}
    if isinstance(obj, (Tensor, np.ndarray, np.generic)):  # first: np.float64 is a float too
        array = np.array(obj.data if isinstance(obj, Tensor) else obj)
        if array.dtype.kind not in ARRAY_KINDS:
            raise TypeError(f"save: the array at {where} has dtype {array.dtype}; expected plain numeric, bool or "
                            f"string data (an object array would need pickling)")
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
                "state": _encode(obj.bit_generator.state, path, arrays, enclosing)}
    if not isinstance(obj, (dict, list, tuple)):
        raise TypeError(f"save: cannot save a {type(obj).__name__} (at {where}); expected dicts, lists, tuples, "
                        f"arrays, Tensors, numpy Generators, numbers, strings, bools or None")
    if id(obj) in enclosing:
        raise ValueError(f"save: the {type(obj).__name__} at {where} contains itself (it is one of the containers "
                         f"around it); a checkpoint holds a tree, not a cycle")
    if len(enclosing) >= MAX_DEPTH:
        raise ValueError(f"save: the object is nested more than {MAX_DEPTH} containers deep (at "
                         f"{SEPARATOR.join(path[:5])}/.../{path[-1]}); a checkpoint holds at most {MAX_DEPTH} levels")
    enclosing = (*enclosing, id(obj))
    if isinstance(obj, dict):
        items = []
        for key, value in obj.items():
            if isinstance(key, bool) or not isinstance(key, (str, int)):
                raise TypeError(f"save: dict keys must be str or int, but {where} has the key {key!r}")
            items.append([key, _encode(value, (*path, str(key)), arrays, enclosing)])
        return {"kind": "dict", "items": items}
    return {"kind": "tuple" if isinstance(obj, tuple) else "list",
            "items": [_encode(value, (*path, str(i)), arrays, enclosing) for i, value in enumerate(obj)]}


def _write_npz(file: Any, arrays: dict[str, np.ndarray]) -> None:
    """Write `arrays` as an npz archive (uncompressed, as `np.savez`), one `<name>.npy` member each."""
    with zipfile.ZipFile(file, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, array in arrays.items():
            with archive.open(name + ".npy", mode="w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)


def save(obj: Any, path: str | os.PathLike[str]) -> None:
    """Write `obj` (nested dicts, lists, tuples of arrays, Tensors, numbers, strings, Generators) to `path`.

    Tensors are saved as their arrays. The file appears under `path` only when complete, through a symbolic
    link to its target, and a temporary file a killed save left is removed by the next (see files.py).
    """
    arrays: dict[str, np.ndarray] = {}
    root = _encode(obj, (), arrays)
    try:
        manifest = json.dumps({"format": FORMAT, "version": VERSION, "root": root}, allow_nan=True)
    except ValueError as error:  # e.g. an int past Python's int-to-text limit
        raise ValueError(f"save: cannot write the manifest: {error}") from None
    arrays[MANIFEST] = np.frombuffer(manifest.encode("utf-8"), dtype=np.uint8)
    write_atomically(path, lambda temporary: _write_npz_file(temporary, arrays), "save")


def _write_npz_file(path: str, arrays: dict[str, np.ndarray]) -> None:
    with open(path, "wb") as file:
        _write_npz(file, arrays)


def load(path: str | os.PathLike[str]) -> Any:
    """Read what `save` wrote: arrays (and Tensors) come back as numpy arrays, Generators as Generators.

    Raises CheckpointError, naming the file, for any content that is not a complete checkpoint written by
    `save` (corrupt, truncated, not an npz, or an npz without our manifest); FileNotFoundError when there is no
    file, and other OSErrors when it cannot be opened. Never unpickles, never allocates more than the file holds.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"load: no checkpoint at {path}")
    if os.path.isdir(path):
        raise IsADirectoryError(f"load: {path} is a folder, not a checkpoint file")
    with open(path, "rb") as file:
        try:
            return _read_checkpoint(file, path)
        except (CheckpointError, MemoryError):
            raise
        except Exception as error:  # any other failure to parse these bytes means they are not a checkpoint
            detail = str(error) if len(str(error)) <= 200 else str(error)[:200] + "..."
            raise CheckpointError(f"load: {path} is corrupt or truncated ({type(error).__name__}: {detail})") from error


def _read_checkpoint(file: Any, path: str) -> Any:
    """The object in the open checkpoint `file` (named `path` in errors)."""
    if not zipfile.is_zipfile(file):
        raise CheckpointError(f"load: {path} is not an npz checkpoint (not a zip archive; truncated or another "
                              f"format)")
    with zipfile.ZipFile(file) as archive:
        members = archive.infolist()
        names = [member.filename for member in members]
        if MANIFEST + ".npy" not in names:
            raise CheckpointError(f"load: {path} is an npz file but was not written by tinygrad_rnn.save "
                                  f"(no '{MANIFEST}' manifest)")
        arrays = {}
        for member in members:
            name = member.filename.removesuffix(".npy")
            if name in arrays or name == member.filename:
                raise CheckpointError(f"load: {path} holds the member {member.filename!r} "
                                      f"{'twice' if name in arrays else 'that is not an .npy array'}")
            arrays[name] = _read_member(archive, member, path)
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
        obj = _decode(manifest["root"], arrays, used, 0)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, RecursionError) as error:
        raise CheckpointError(f"load: {path} has a manifest that does not match its contents "
                              f"({type(error).__name__}: {error})") from error
    unused = sorted(set(arrays) - set(used))
    if unused:
        raise CheckpointError(f"load: {path} holds arrays its manifest does not mention: {unused}")
    return obj


def _read_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo, path: str) -> np.ndarray:
    """One `.npy` member as an array, after checking that its header agrees with its size (so no header can
    make us allocate more than the file holds) and reading it to its end (so zipfile checks its CRC)."""
    where = f"load: {path}: member {member.filename!r}"
    if member.flag_bits & 0x1:
        raise CheckpointError(f"{where} is marked encrypted; save never encrypts (a damaged file?)")
    if member.compress_type != zipfile.ZIP_STORED or member.compress_size != member.file_size:
        raise CheckpointError(f"{where} is compressed (method {member.compress_type}); save stores members "
                              f"uncompressed (a damaged or foreign file?)")
    with archive.open(member) as stream:
        version = np.lib.format.read_magic(stream)
        if version not in ((1, 0), (2, 0)):
            raise CheckpointError(f"{where} is .npy format version {version}; expected 1.0 or 2.0")
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = read_header(stream)
        if dtype.kind not in ARRAY_KINDS:
            raise CheckpointError(f"{where} has dtype {dtype}, which load refuses: it holds pickled objects or "
                                  f"other non-plain data, and load never unpickles (allow_pickle=False)")
        expected = int(np.prod(shape, dtype=object)) * dtype.itemsize
        if member.file_size - stream.tell() != expected:
            raise CheckpointError(f"{where} holds {member.file_size - stream.tell()} bytes of data, but its header "
                                  f"says shape {shape} of {dtype} ({expected} bytes): corrupt")
    with archive.open(member) as stream:
        array = np.lib.format.read_array(stream, allow_pickle=False)
        if stream.read(1):  # also reaches the end, where zipfile checks the CRC
            raise CheckpointError(f"{where} has bytes after its array: corrupt")
    return array


def _decode(node: dict[str, Any], arrays: dict[str, np.ndarray], used: list[str], depth: int) -> Any:
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
        bit_generator.state = _decode(node["state"], arrays, used, depth)
        return np.random.Generator(bit_generator)
    if depth >= MAX_DEPTH and kind in ("dict", "list", "tuple"):
        raise ValueError(f"containers nested more than {MAX_DEPTH} deep")
    if kind == "dict":
        result = {}
        for key, value in node["items"]:
            if isinstance(key, bool) or not isinstance(key, (str, int)):
                raise TypeError(f"dict key {key!r}")
            result[key] = _decode(value, arrays, used, depth + 1)
        return result
    if kind in ("list", "tuple"):
        items = [_decode(value, arrays, used, depth + 1) for value in node["items"]]
        return tuple(items) if kind == "tuple" else items
    raise ValueError(f"unknown entry kind {kind!r}")


__all__ = ["CheckpointError", "load", "save"]
