"""Checkpoints: exact round trips, RNG state, atomic writes that survive a failure mid-save, clear load errors."""

import json
import os
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
    elif isinstance(expected, float) and np.isnan(expected):
        assert np.isnan(loaded)
    else:
        assert loaded == expected


def test_nested_round_trip_keeps_values_types_and_dtypes(tmp_path):
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


def test_keys_that_collide_when_flattened_or_clash_with_names_we_use(tmp_path):
    obj = {"a/b": np.ones(1), "a": {"b": np.zeros(1)}, "file": np.full(2, 3.0), MANIFEST: np.full(1, 4.0),
           "allow_pickle": np.full(1, 5.0), "": np.full(1, 6.0), "value": np.full(1, 7.0), 3: np.full(1, 8.0),
           "3": np.full(1, 9.0)}
    save(obj, tmp_path / "keys.npz")
    assert_same(load(tmp_path / "keys.npz"), obj)


def test_written_file_is_a_plain_npz_with_readable_member_names(tmp_path):
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
def test_rng_state_and_generators_round_trip(tmp_path, bit_generator):
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


def test_unsupported_objects_are_refused_without_leaving_files(tmp_path):
    with pytest.raises(TypeError, match="save: cannot save a set .*at a/0"):
        save({"a": [{1, 2}]}, tmp_path / "bad.npz")
    with pytest.raises(TypeError, match="dtype object, which would need pickling"):
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
def test_failure_mid_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch, error):
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


def test_failure_on_first_save_leaves_nothing(tmp_path, monkeypatch):
    make_write_fail_halfway(monkeypatch, OSError("disk on fire"))
    with pytest.raises(OSError, match="disk on fire"):
        save({"a": np.ones(3), "b": np.ones(3)}, tmp_path / "new.npz")
    assert os.listdir(tmp_path) == []


def test_save_errors_name_the_path_asked_for(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"save: cannot write '.*missing/x.npz': No such file"):
        tg.save({"a": 1}, tmp_path / "missing" / "x.npz")
    with pytest.raises(IsADirectoryError, match=r"save: '.*' is a folder; give the name of the file to write"):
        tg.save({"a": 1}, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_failing_rename_keeps_old_file_and_removes_temporary(tmp_path, monkeypatch):
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


def test_overwrite_replaces_and_keeps_permissions(tmp_path):
    path = tmp_path / "checkpoint.npz"
    save({"step": 1}, path)
    os.chmod(path, 0o640)
    save({"step": 2}, path)
    assert load(path) == {"step": 2}
    assert os.stat(path).st_mode & 0o777 == 0o640
    assert os.listdir(tmp_path) == ["checkpoint.npz"]


def test_new_file_permissions_follow_umask(tmp_path):
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
    with pytest.raises(CheckpointError, match="good.npz is corrupt, truncated.*BadZipFile"):
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


def test_checkpoint_error_is_a_value_error_and_missing_file_is_file_not_found(tmp_path):
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
def test_training_resumes_exactly_from_a_checkpoint(tmp_path):
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
