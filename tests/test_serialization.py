"""Checkpoints: exact round trips, RNG state, atomic writes that survive a failure mid-save, clear load errors."""

import io
import json
import os
import signal
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import Tensor
from tinygrad_rnn.serialization import MANIFEST, CheckpointError, load, save


def assert_same(loaded, expected):
    """Equal values and exactly the same types and dtypes, all the way down."""
    assert type(loaded) is type(expected), (loaded, expected)
    if isinstance(expected, dict):
        assert list(loaded) == list(expected)
        for key in expected:
            assert type(key) is type(next(k for k in loaded if k == key))
            assert_same(loaded[key], expected[key])
    elif isinstance(expected, (list, tuple)):
        assert len(loaded) == len(expected)
        for item, expected_item in zip(loaded, expected):
            assert_same(item, expected_item)
    elif isinstance(expected, (np.ndarray, np.generic)):
        assert loaded.dtype == expected.dtype and np.shape(loaded) == np.shape(expected)
        np.testing.assert_array_equal(loaded, expected)
    elif isinstance(expected, np.random.Generator):
        assert loaded.bit_generator.state == expected.bit_generator.state
    elif isinstance(expected, float) and np.isnan(expected):
        assert np.isnan(loaded)
    else:
        assert loaded == expected


def test_nested_round_trip(tmp_path):
    """A nested round trip keeps values, types and dtypes."""
    rng = np.random.default_rng(0)
    obj = {
        "model": {"weight_ih_l0": rng.standard_normal((4, 3)).astype(np.float32),
                  "bias": rng.standard_normal(4), "counts": np.arange(5, dtype=np.int64),
                  "mask": np.array([True, False]), "empty": np.zeros((0, 3)), "zero_d": np.array(2.5)},
        "optimizer": {"state": {0: {"step": 3, "exp_avg": rng.standard_normal(2)}},
                      "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "amsgrad": False, "params": [0]}]},
        "step": 12, "big": 2**100, "loss": 0.125, "nan": float("nan"), "inf": float("-inf"), "name": "lstm ✓",
        "nothing": None, "flags": [True, 1, 1.0], "scalars": (np.float32(1.5), np.int16(-3), np.bool_(True)),
        "np_float": np.float64(0.1),
    }
    save(obj, tmp_path / "checkpoint.npz")
    assert_same(load(tmp_path / "checkpoint.npz"), obj)


def test_tensors_are_saved_as_arrays(tmp_path):
    weight = Tensor(np.arange(6, dtype=np.float32).reshape(2, 3), requires_grad=True)
    tg.save({"weight": weight, "list": [weight * 2.0]}, str(tmp_path / "t.npz"))
    loaded = tg.load(str(tmp_path / "t.npz"))
    assert_same(loaded, {"weight": weight.data, "list": [weight.data * 2.0]})


def test_other_root_objects_round_trip(tmp_path):
    for obj in (np.ones(3), [1, "two", None], (), {}, 7, "text", None):
        save(obj, tmp_path / "root.npz")
        assert_same(load(tmp_path / "root.npz"), obj)


def test_colliding_keys_round_trip(tmp_path):
    """Keys that collide when flattened or clash with names we use round-trip."""
    obj = {"a/b": np.ones(1), "a": {"b": np.zeros(1)}, "file": np.full(2, 3.0), MANIFEST: np.full(1, 4.0),
           "allow_pickle": np.full(1, 5.0), "": np.full(1, 6.0), "value": np.full(1, 7.0), 3: np.full(1, 8.0),
           "3": np.full(1, 9.0)}
    save(obj, tmp_path / "keys.npz")
    assert_same(load(tmp_path / "keys.npz"), obj)


def test_file_is_a_plain_npz(tmp_path):
    """The written file is a plain npz with readable member names."""
    save({"model": {"weight_hh_l0": np.eye(2)}}, tmp_path / "plain.npz")
    with np.load(tmp_path / "plain.npz", allow_pickle=False) as archive:
        assert sorted(archive.files) == sorted([MANIFEST, "model/weight_hh_l0"])
        np.testing.assert_array_equal(archive["model/weight_hh_l0"], np.eye(2))
        manifest = json.loads(archive[MANIFEST].tobytes())
    assert manifest["format"] == "tinygrad_rnn.checkpoint" and manifest["version"] == 1


def test_path_is_used_exactly(tmp_path):
    save({"x": 1}, tmp_path / "checkpoint")
    assert os.listdir(tmp_path) == ["checkpoint"]
    assert load(tmp_path / "checkpoint") == {"x": 1}


@pytest.mark.parametrize("bit_generator", [np.random.PCG64, np.random.MT19937, np.random.Philox])
def test_rng_state_round_trip(tmp_path, bit_generator):
    """Both a Generator and its bit_generator.state (a nested dict with big ints or arrays) restore the stream."""
    rng = np.random.Generator(bit_generator(1234))
    rng.standard_normal(10)
    save({"rng": rng, "rng_state": rng.bit_generator.state}, tmp_path / "rng.npz")
    expected = rng.standard_normal(5)
    loaded = load(tmp_path / "rng.npz")
    np.testing.assert_array_equal(loaded["rng"].standard_normal(5), expected)
    restored = np.random.Generator(bit_generator())
    restored.bit_generator.state = loaded["rng_state"]
    np.testing.assert_array_equal(restored.standard_normal(5), expected)


def test_unsupported_objects_are_refused(tmp_path):
    """Unsupported objects are refused without leaving files."""
    with pytest.raises(TypeError, match="save: cannot save a set .*at a/0"):
        save({"a": [{1, 2}]}, tmp_path / "bad.npz")
    with pytest.raises(TypeError, match="dtype object; expected plain numeric"):
        save({"a": np.array([None, 1])}, tmp_path / "bad.npz")
    with pytest.raises(TypeError, match=r"dict keys must be str or int, but a has the key \(1, 2\)"):
        save({"a": {(1, 2): 3}}, tmp_path / "bad.npz")
    assert os.listdir(tmp_path) == []


def make_write_fail_halfway(monkeypatch, error):
    """Let the first array be written, then write half of the second one and raise `error`."""
    real_write_array = np.lib.format.write_array
    calls = []

    def failing_write_array(file, array, *args, **kwargs):
        calls.append(array)
        if len(calls) == 2:
            file.write(np.ascontiguousarray(array).tobytes()[: array.nbytes // 2])
            raise error
        return real_write_array(file, array, *args, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", failing_write_array)
    return calls


@pytest.mark.parametrize("error", [OSError(28, "No space left on device"), KeyboardInterrupt()],
                         ids=["disk-full", "ctrl-c"])
def test_failed_save_keeps_the_old_file(tmp_path, monkeypatch, error):
    path = tmp_path / "checkpoint.npz"
    old = {"step": 1, "weight": np.arange(4.0), "bias": np.ones(1000)}
    save(old, path)
    old_bytes = path.read_bytes()
    calls = make_write_fail_halfway(monkeypatch, error)
    with pytest.raises(type(error)):
        save({"step": 2, "weight": np.arange(4.0) + 1, "bias": np.zeros(1000)}, path)
    assert len(calls) == 2, "the failure should happen half-way through the write"
    assert os.listdir(tmp_path) == ["checkpoint.npz"], "no temporary file may be left behind"
    assert path.read_bytes() == old_bytes
    monkeypatch.undo()
    assert_same(load(path), old)


def test_failed_first_save_leaves_nothing(tmp_path, monkeypatch):
    make_write_fail_halfway(monkeypatch, OSError("disk on fire"))
    with pytest.raises(OSError, match="disk on fire"):
        save({"a": np.ones(3), "b": np.ones(3)}, tmp_path / "new.npz")
    assert os.listdir(tmp_path) == []


def test_save_errors_name_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"save: cannot write '.*missing/x.npz': the folder .* does not exist"):
        tg.save({"a": 1}, tmp_path / "missing" / "x.npz")
    with pytest.raises(IsADirectoryError, match=r"save: cannot write .*: it is a folder; give the name of the file"):
        tg.save({"a": 1}, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_failed_rename_keeps_old_file(tmp_path, monkeypatch):
    """A failing rename keeps the old file and removes the temporary one."""
    path = tmp_path / "checkpoint.npz"
    save({"step": 1}, path)

    def failing_replace(source, destination):
        raise PermissionError("replace refused")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(PermissionError):
        save({"step": 2}, path)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["checkpoint.npz"]
    assert load(path) == {"step": 1}


def test_overwrite_keeps_permissions(tmp_path):
    path = tmp_path / "checkpoint.npz"
    save({"step": 1}, path)
    os.chmod(path, 0o640)
    save({"step": 2}, path)
    assert load(path) == {"step": 2}
    assert os.stat(path).st_mode & 0o777 == 0o640
    assert os.listdir(tmp_path) == ["checkpoint.npz"]


def test_new_file_follows_umask(tmp_path):
    previous = os.umask(0o027)
    try:
        save({"step": 1}, tmp_path / "fresh.npz")
    finally:
        os.umask(previous)
    assert os.stat(tmp_path / "fresh.npz").st_mode & 0o777 == 0o640


# ---- load errors ------------------------------------------------------------------------------------------------
@pytest.fixture
def good_checkpoint(tmp_path):
    path = tmp_path / "good.npz"
    save({"model": {"weight": np.linspace(0, 1, 500)}, "step": 3}, path)
    return path


def test_truncated_file(good_checkpoint, tmp_path):
    data = good_checkpoint.read_bytes()
    for cut in (0, 10, len(data) // 2, len(data) - 5):
        truncated = tmp_path / f"cut{cut}.npz"
        truncated.write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match=f"cut{cut}.npz is not an npz checkpoint"):
            load(truncated)


def test_corrupt_array_bytes(good_checkpoint):
    data = bytearray(good_checkpoint.read_bytes())
    start = data.index(np.linspace(0, 1, 500)[100:102].tobytes())
    data[start:start + 16] = bytes(16)
    good_checkpoint.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="good.npz is corrupt or truncated.*BadZipFile"):
        load(good_checkpoint)


def test_not_an_npz(tmp_path):
    text = tmp_path / "notes.npz"
    text.write_text("just some text, not a checkpoint\n")
    npy = tmp_path / "array.npy"
    np.save(npy, np.ones(3))
    for path in (text, npy):
        with pytest.raises(CheckpointError, match="not an npz checkpoint"):
            load(path)


def test_foreign_npz_without_manifest(tmp_path):
    path = tmp_path / "foreign.npz"
    np.savez(path, weight=np.ones(3))
    with pytest.raises(CheckpointError, match="was not written by tinygrad_rnn.save"):
        load(path)


def test_pickled_array_is_never_unpickled(tmp_path):
    """An npz whose member holds a pickle (with a manifest pointing at it) is refused, not executed."""
    path = tmp_path / "pickled.npz"
    manifest = json.dumps({"format": "tinygrad_rnn.checkpoint", "version": 1,
                           "root": {"kind": "array", "name": "payload"}})
    np.savez(path, payload=np.array([object()], dtype=object),
             **{MANIFEST: np.frombuffer(manifest.encode(), dtype=np.uint8)})
    with pytest.raises(CheckpointError, match="holds pickled objects.*allow_pickle=False"):
        load(path)


def write_with_manifest(path, manifest, **arrays):
    """An npz with a hand-made manifest (bytes or JSON-able) and arrays."""
    text = manifest if isinstance(manifest, bytes) else json.dumps(manifest).encode()
    np.savez(path, **arrays, **{MANIFEST: np.frombuffer(text, dtype=np.uint8)})


@pytest.mark.parametrize(("manifest", "arrays", "message"), [
    (b"{not json", {}, "unreadable manifest"),
    ({"format": "someone.else", "version": 1, "root": {"kind": "none"}}, {}, "not a tinygrad_rnn.checkpoint"),
    ({"format": "tinygrad_rnn.checkpoint", "version": 99, "root": {"kind": "none"}}, {}, "format version 99"),
    ({"format": "tinygrad_rnn.checkpoint", "version": 1, "root": {"kind": "array", "name": "missing"}}, {},
     "does not match its contents.*KeyError"),
    ({"format": "tinygrad_rnn.checkpoint", "version": 1, "root": {"kind": "pickle"}}, {}, "unknown entry kind"),
    ({"format": "tinygrad_rnn.checkpoint", "version": 1, "root": {"kind": "int", "value": "7"}}, {},
     "does not match"),
    ({"format": "tinygrad_rnn.checkpoint", "version": 1,
      "root": {"kind": "generator", "bit_generator": "RandomState", "state": {"kind": "none"}}}, {},
     "unknown bit generator"),
    ({"format": "tinygrad_rnn.checkpoint", "version": 1, "root": {"kind": "none"}}, {"extra": np.ones(1)},
     r"arrays its manifest does not mention: \['extra'\]"),
])
def test_malformed_manifest(tmp_path, manifest, arrays, message):
    path = tmp_path / "odd.npz"
    write_with_manifest(path, manifest, **arrays)
    with pytest.raises(CheckpointError, match=message):
        load(path)


def test_checkpoint_error_types(tmp_path):
    """CheckpointError is a ValueError, and a missing file is FileNotFoundError."""
    assert issubclass(CheckpointError, ValueError)
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        load(tmp_path / "absent.npz")


def test_zip_that_is_not_npz(tmp_path):
    path = tmp_path / "archive.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(CheckpointError, match="not written by tinygrad_rnn.save"):
        load(path)


# ---- a whole training run -------------------------------------------------------------------------------------
def test_training_resumes_exactly(tmp_path):
    """Model, optimiser, step and both RNG states saved mid-run: resuming equals never stopping, bit for bit.

    Dropout between the LSTM layers draws from nn's generator, so the run only matches if its state is restored.
    """
    from tinygrad_rnn import nn, optim
    from tinygrad_rnn.nn.random import default_generator, manual_seed
    from tinygrad_rnn.nn.utils import clip_grad_norm_

    def build():
        manual_seed(0)
        lstm = nn.LSTM(3, 5, num_layers=2, dropout=0.3, dtype=np.float64)
        head = nn.Linear(5, 1, dtype=np.float64)
        return lstm, head, optim.Adam([*lstm.parameters(), *head.parameters()], lr=0.01)

    def train_step(lstm, head, optimizer, data_rng):
        inputs, targets = data_rng.standard_normal((6, 4, 3)), data_rng.standard_normal((4, 1))
        optimizer.zero_grad()
        output, _ = lstm(Tensor(inputs))
        loss = nn.functional.mse_loss(head(output[-1]), Tensor(targets))
        loss.backward()
        clip_grad_norm_([*lstm.parameters(), *head.parameters()], max_norm=0.5)
        optimizer.step()
        return loss.item()

    lstm, head, optimizer = build()
    data_rng = np.random.default_rng(1)
    uninterrupted = [train_step(lstm, head, optimizer, data_rng) for _ in range(6)]
    expected_weights = {**lstm.state_dict(), **head.state_dict()}

    lstm, head, optimizer = build()
    data_rng = np.random.default_rng(1)
    losses = [train_step(lstm, head, optimizer, data_rng) for _ in range(3)]
    save({"model": {"lstm": lstm.state_dict(), "head": head.state_dict()}, "optimizer": optimizer.state_dict(),
          "step": 3, "rng": {"nn": default_generator().bit_generator.state, "data": data_rng}},
         tmp_path / "run.npz")

    lstm, head, optimizer = build()  # fresh weights and a reseeded generator: everything must come from the file
    manual_seed(123)
    checkpoint = load(tmp_path / "run.npz")
    lstm.load_state_dict(checkpoint["model"]["lstm"])
    head.load_state_dict(checkpoint["model"]["head"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    default_generator().bit_generator.state = checkpoint["rng"]["nn"]
    data_rng = checkpoint["rng"]["data"]
    losses += [train_step(lstm, head, optimizer, data_rng) for _ in range(checkpoint["step"], 6)]

    assert losses == uninterrupted
    for name, array in {**lstm.state_dict(), **head.state_dict()}.items():
        np.testing.assert_array_equal(array, expected_weights[name], err_msg=name)


# ---- any byte string: an exact load or a CheckpointError --------------------------------------------------------
def fuzz_outcomes(path, expected):
    """Flip every bit of the checkpoint at `path`, then cut it at every length, loading each variant in place;
    returns how many loaded (each exactly `expected`) and how many were refused. Anything else fails."""
    data = path.read_bytes()
    counts = {"loaded": 0, "refused": 0}

    def attempt(variant):
        try:
            loaded = load(path)
        except CheckpointError as error:
            assert str(path) in str(error), str(error)
            counts["refused"] += 1
        else:
            try:
                assert_same(loaded, expected)
            except AssertionError as error:
                pytest.fail(f"a wrong load from {variant}: {error}")
            counts["loaded"] += 1

    descriptor = os.open(path, os.O_WRONLY)
    try:
        for position, byte in enumerate(data):
            for bit in range(8):
                os.pwrite(descriptor, bytes([byte ^ (1 << bit)]), position)
                attempt(f"byte {position} with bit {bit} flipped")
            os.pwrite(descriptor, bytes([byte]), position)
        for length in range(len(data) - 1, -1, -1):
            os.ftruncate(descriptor, length)
            attempt(f"the first {length} bytes")
    finally:
        os.close(descriptor)
    return counts


def test_every_bit_flip_and_cut(tmp_path):
    """Every bit flip and truncation of a small checkpoint is refused or loads exactly."""
    path = tmp_path / "small.npz"
    obj = {"w": np.arange(3, dtype=np.float32), "step": 3}
    save(obj, path)
    size = path.stat().st_size
    counts = fuzz_outcomes(path, obj)
    assert counts["loaded"] + counts["refused"] == 9 * size
    assert counts["refused"] > 8 * size // 2  # most flips break the zip structure, a CRC or the manifest


@pytest.mark.slow
def test_every_bit_flip_of_every_kind(tmp_path):
    """Every bit flip of a checkpoint holding every kind of entry is refused or loads exactly."""
    path = tmp_path / "rich.npz"
    obj = {"model": {"weight": np.linspace(0, 1, 6).reshape(2, 3), "mask": np.array([True, False]),
                     "name": np.array(["ab", "c"])},
           "rng": np.random.default_rng(0), "step": 2**70, "lr": 0.5, "tag": "é", "flags": (None, True),
           "scalar": np.int16(-3), "empty": []}
    save(obj, path)
    counts = fuzz_outcomes(path, obj)
    assert counts["refused"] > 0 and counts["loaded"] > 0


def zip_with_manifest(path, members, manifest=None, compression=zipfile.ZIP_STORED):
    """A zip holding our manifest (by default: a dict naming every member) and the given raw `.npy` bytes."""
    if manifest is None:
        manifest = {"format": "tinygrad_rnn.checkpoint", "version": 1,
                    "root": {"kind": "dict", "items": [[name, {"kind": "array", "name": name}] for name in members]}}
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        buffer = io.BytesIO()
        np.lib.format.write_array(buffer, np.frombuffer(json.dumps(manifest).encode(), dtype=np.uint8))
        archive.writestr(MANIFEST + ".npy", buffer.getvalue())
        for name, raw in members.items():
            archive.writestr(name + ".npy", raw)


def npy_bytes(array, header=None):
    """The .npy encoding of `array`, optionally with its header dict replaced by `header` (a hostile one)."""
    buffer = io.BytesIO()
    if header is None:
        np.lib.format.write_array(buffer, array)
    else:
        np.lib.format.write_array_header_1_0(buffer, header)
        buffer.write(array.tobytes())
    return buffer.getvalue()


def test_hostile_members_refused_early(tmp_path):
    """Hostile members are refused before anything is allocated."""
    ones = np.ones(4)
    cases = {
        "huge": (npy_bytes(ones, {"descr": "<f8", "fortran_order": False, "shape": (10**12, 10**6)}),
                 r"holds 32 bytes of data, but its header says shape \(1000000000000, 1000000\)"),
        "short": (npy_bytes(ones, {"descr": "<f8", "fortran_order": False, "shape": (5,)}), "says shape"),
        "negative": (npy_bytes(ones, {"descr": "<f8", "fortran_order": False, "shape": (-4,)}), "says shape"),
        "trailing": (npy_bytes(ones) + b"extra", "holds 37 bytes"),
        "objects": (npy_bytes(ones, {"descr": "|O", "fortran_order": False, "shape": (4,)}), "never unpickles"),
        "datetime": (npy_bytes(ones, {"descr": "<M8[s]", "fortran_order": False, "shape": (4,)}), "dtype"),
        "version3": (b"\x93NUMPY\x03\x00" + npy_bytes(ones)[8:], r"\.npy format version \(3, 0\)"),
        "notnpy": (b"hello", "corrupt or truncated"),
    }
    for name, (raw, message) in cases.items():
        path = tmp_path / f"{name}.npz"
        zip_with_manifest(path, {"a": raw})
        with pytest.raises(CheckpointError, match=f"{name}.npz.*{message}"):
            load(path)


def test_odd_members_are_refused(tmp_path):
    """Encrypted, compressed, duplicate and foreign members are refused."""
    good = npy_bytes(np.ones(2))
    path = tmp_path / "encrypted.npz"
    zip_with_manifest(path, {"a": good})
    data = bytearray(path.read_bytes())
    central = data.index(b"PK\x01\x02")  # the first central directory entry: its flag bits are at offset 8
    data[central + 8] |= 1
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="encrypted.npz: member '__tinygrad_rnn__.npy' is marked encrypted"):
        load(path)
    zip_with_manifest(tmp_path / "deflated.npz", {"a": good}, compression=zipfile.ZIP_DEFLATED)
    with pytest.raises(CheckpointError, match="deflated.npz: member .* is compressed"):
        load(tmp_path / "deflated.npz")
    with pytest.warns(UserWarning, match="Duplicate name"):
        zip_with_manifest(tmp_path / "twice.npz", {"a": good, "b": good})
        with zipfile.ZipFile(tmp_path / "twice.npz", "a") as archive:
            archive.writestr("a.npy", npy_bytes(np.zeros(2)))
    with pytest.raises(CheckpointError, match="twice.npz holds the member 'a.npy' twice"):
        load(tmp_path / "twice.npz")
    zip_with_manifest(tmp_path / "text.npz", {})
    with zipfile.ZipFile(tmp_path / "text.npz", "a") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(CheckpointError, match="text.npz holds the member 'readme.txt' that is not an .npy array"):
        load(tmp_path / "text.npz")


@pytest.mark.parametrize("manifest", [
    b"[" * 100_000 + b"]" * 100_000,
    json.dumps({"format": "tinygrad_rnn.checkpoint", "version": 1, "root": {"kind": "float", "value": 10**400}}),
    json.dumps({"format": "tinygrad_rnn.checkpoint", "version": 1, "root": ["kind"]}),
    json.dumps({"format": "tinygrad_rnn.checkpoint", "version": 1,
                "root": {"kind": "generator", "bit_generator": "PCG64", "state": {"kind": "int", "value": 3}}}),
    json.dumps({"format": "tinygrad_rnn.checkpoint", "version": 1,
                "root": {"kind": "dict", "items": [["a", {"kind": "none"}, "extra"]]}}),
], ids=["deep-json", "float-overflow", "node-not-a-dict", "bad-generator-state", "bad-item"])
def test_hostile_manifests_are_refused(tmp_path, manifest):
    path = tmp_path / "odd.npz"
    write_with_manifest(path, manifest.encode() if isinstance(manifest, str) else manifest)
    with pytest.raises(CheckpointError, match="odd.npz"):
        load(path)


def test_load_refuses_deep_nesting(tmp_path):
    from tinygrad_rnn.serialization import MAX_DEPTH
    node = {"kind": "none"}
    for _ in range(MAX_DEPTH + 1):
        node = {"kind": "list", "items": [node]}
    path = tmp_path / "deep.npz"
    write_with_manifest(path, {"format": "tinygrad_rnn.checkpoint", "version": 1, "root": node})
    with pytest.raises(CheckpointError, match=f"deep.npz .*nested more than {MAX_DEPTH} deep"):
        load(path)


def test_load_os_errors_name_the_path(tmp_path):
    """Loading a folder or an unreadable file is an OSError naming it."""
    with pytest.raises(IsADirectoryError, match=f"load: {tmp_path} is a folder"):
        load(tmp_path)
    if os.geteuid() != 0:  # root reads anything
        path = tmp_path / "locked.npz"
        save({"a": 1}, path)
        path.chmod(0)
        with pytest.raises(PermissionError, match="locked.npz"):
            load(path)


# ---- what save refuses ---------------------------------------------------------------------------------------
def test_cycles_are_refused(tmp_path):
    looped = []
    looped.append(looped)
    with pytest.raises(ValueError, match="save: the list at 0 contains itself .* a tree, not a cycle"):
        save(looped, tmp_path / "cycle.npz")
    outer = {"model": {"layers": [{}]}}
    outer["model"]["layers"][0]["parent"] = outer["model"]
    with pytest.raises(ValueError, match="save: the dict at model/layers/0/parent contains itself"):
        save(outer, tmp_path / "cycle.npz")
    assert os.listdir(tmp_path) == []


def test_shared_object_saved_twice(tmp_path):
    """An object used twice but not cyclic is saved as two copies."""
    shared = [np.ones(2), {"n": 1}]
    save({"a": shared, "b": [shared, shared]}, tmp_path / "shared.npz")
    loaded = load(tmp_path / "shared.npz")
    assert_same(loaded, {"a": shared, "b": [shared, shared]})
    assert loaded["b"][0] is not loaded["b"][1]


def test_save_refuses_deep_nesting(tmp_path):
    """Deep nesting is refused clearly; up to the limit it saves and loads."""
    from tinygrad_rnn.serialization import MAX_DEPTH

    def nested(depth):
        obj = np.ones(1)
        for _ in range(depth):
            obj = [obj]
        return obj

    save(nested(MAX_DEPTH), tmp_path / "deepest.npz")
    assert_same(load(tmp_path / "deepest.npz"), nested(MAX_DEPTH))
    for depth in (MAX_DEPTH + 1, 5000):
        with pytest.raises(ValueError, match=f"save: the object is nested more than {MAX_DEPTH} containers deep"):
            save(nested(depth), tmp_path / "deep.npz")
    assert os.listdir(tmp_path) == ["deepest.npz"]


def test_huge_int_is_refused(tmp_path):
    """An int too long for JSON is refused clearly."""
    with pytest.raises(ValueError, match="save: cannot write the manifest: .*digits"):
        save({"n": 10**5000}, tmp_path / "n.npz")
    assert os.listdir(tmp_path) == []


# ---- symbolic links -------------------------------------------------------------------------------------------
def test_save_through_a_symlink(tmp_path):
    """Saving through a symlink writes its target and keeps the link."""
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "checkpoint.npz"
    save({"step": 1}, target)
    target.chmod(0o640)
    link = tmp_path / "latest.npz"
    link.symlink_to(os.path.join("real", "checkpoint.npz"))  # relative, as `ln -s` makes it
    save({"step": 2}, link)
    assert link.is_symlink() and os.readlink(link) == os.path.join("real", "checkpoint.npz")
    assert load(target) == {"step": 2} and load(link) == {"step": 2}
    assert target.stat().st_mode & 0o777 == 0o640
    assert sorted(os.listdir(tmp_path)) == ["latest.npz", "real"] and os.listdir(tmp_path / "real") == [
        "checkpoint.npz"]


def test_save_through_a_dangling_symlink(tmp_path):
    link = tmp_path / "latest.npz"
    link.symlink_to(tmp_path / "new.npz")
    save({"step": 1}, link)
    assert link.is_symlink() and load(tmp_path / "new.npz") == {"step": 1}


def test_symlink_loop_is_refused(tmp_path):
    """Saving through a symlink loop or onto a linked folder is refused."""
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    with pytest.raises(OSError, match="loop of symbolic links"):
        save({"x": 1}, tmp_path / "a")
    (tmp_path / "folder").mkdir()
    (tmp_path / "to_folder").symlink_to(tmp_path / "folder")
    with pytest.raises(IsADirectoryError, match="is a folder"):
        save({"x": 1}, tmp_path / "to_folder")
    assert os.listdir(tmp_path / "folder") == []


# ---- temporary files left by a killed save -------------------------------------------------------------------
PAUSING_SAVE = """
import sys
import numpy as np
from tinygrad_rnn import serialization

real_write_array = np.lib.format.write_array

def write_array_then_wait(file, array, *args, **kwargs):
    real_write_array(file, array, *args, **kwargs)
    print("wrote an array", flush=True)
    sys.stdin.readline()  # the test kills us here, or lets us go on

np.lib.format.write_array = write_array_then_wait
serialization.save({"step": 2, "weight": np.arange(1000.0)}, sys.argv[1])
print("saved", flush=True)
"""


def start_pausing_save(path):
    """A child process that saves {"step": 2, ...} to `path`, stopping after its first array until told."""
    child = subprocess.Popen([sys.executable, "-c", PAUSING_SAVE, str(path)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline() == "wrote an array\n"
    return child


def temporaries(folder):
    return sorted(name for name in os.listdir(folder) if name.endswith(".tmp"))


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")
def test_killed_save_keeps_old_file(tmp_path):
    """A save killed midway keeps the old checkpoint, and the next save removes its temporary file."""
    path = tmp_path / "checkpoint.npz"
    save({"step": 1}, path)
    child = start_pausing_save(path)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL
    [orphan] = temporaries(tmp_path)  # the half-written file a killed save leaves
    assert orphan.startswith(".checkpoint.npz.tinygrad-rnn-save-")
    assert load(path) == {"step": 1}
    save({"step": 3}, path)
    assert temporaries(tmp_path) == [] and os.listdir(tmp_path) == ["checkpoint.npz"]
    assert load(path) == {"step": 3}


@pytest.mark.skipif(sys.platform == "win32", reason="temporary files are cleaned only where flock exists")
def test_running_save_keeps_its_temp(tmp_path):
    """A save running in another process keeps its temporary file."""
    path = tmp_path / "checkpoint.npz"
    child = start_pausing_save(path)
    try:
        [running] = temporaries(tmp_path)
        save({"step": 1}, path)  # must not take the running save's file for an orphan
        assert temporaries(tmp_path) == [running] and load(path) == {"step": 1}
        out, _ = child.communicate("\n" * 2)  # after the weight and after the manifest
    finally:
        child.kill()
    assert child.returncode == 0 and out == "wrote an array\nsaved\n"
    assert temporaries(tmp_path) == []
    assert load(path)["step"] == 2


@pytest.mark.skipif(sys.platform == "win32", reason="temporary files are cleaned only where flock exists")
def test_only_our_stale_temps_removed(tmp_path):
    """Only unlocked temporary files of our own naming are removed."""
    import fcntl

    ours = [".a.npz.tinygrad-rnn-save-abc_1234.tmp", ".other name.npz.tinygrad-rnn-save-zzzzzzzz.tmp"]
    theirs = [".a.npz.abcd1234.tmp", "a.npz.tinygrad-rnn-save-abcd1234.tmp", ".a.npz.tinygrad-rnn-save-abc.tmp",
              ".a.npz.tinygrad-rnn-save-abcd1234.tmp.bak", "notes.tmp", ".a.npz.tinygrad-rnn-save-ABCD1234.tmp"]
    for name in ours + theirs:
        (tmp_path / name).write_bytes(b"half a checkpoint")
    held = tmp_path / ".held.npz.tinygrad-rnn-save-held1234.tmp"  # a save in this very process, still writing
    held.write_bytes(b"")
    (tmp_path / ".link.npz.tinygrad-rnn-save-link1234.tmp").symlink_to(tmp_path / "notes.tmp")
    with open(held, "rb") as holder:
        fcntl.flock(holder, fcntl.LOCK_EX)
        save({"x": 1}, tmp_path / "a.npz")
        assert sorted(os.listdir(tmp_path)) == sorted(
            ["a.npz", held.name, ".link.npz.tinygrad-rnn-save-link1234.tmp", *theirs])
    save({"x": 2}, tmp_path / "b.npz")  # the lock is gone: now it is an orphan
    assert held.name not in os.listdir(tmp_path)
