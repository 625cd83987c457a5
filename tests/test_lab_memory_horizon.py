"""demos/memory_horizon.py on its smoke run: the pictures, the maps against finite differences, the horizons by
their definition, and bad input refused."""

import contextlib
import io

import numpy as np
import pytest
from lab_runs import assert_bad_output_folders_refused, assert_png, assert_reported, lab, refusal, run_script

import tinygrad_rnn as tg

memory_horizon = lab("memory_horizon")


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """One smoke run: its arguments, what it measured, the folder it wrote and what it printed."""
    out = tmp_path_factory.mktemp("memory_horizon")
    args = memory_horizon.parse_args(["--smoke", "--out", str(out)])
    result = memory_horizon.run(args)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        memory_horizon.summary(args, result)
    return args, result, out, printed.getvalue()


def by_definition(matrix, fraction):
    """The largest lag d whose mean M[t, t-d] is at least `fraction` of the mean diagonal."""
    profile = [np.diagonal(matrix, offset=-lag).mean() for lag in range(len(matrix))]
    return max(lag for lag, value in enumerate(profile) if value >= fraction * profile[0])


def test_writes_the_pictures_it_lists(smoke):
    _, result, out, printed = smoke
    paths = [out / name for name in memory_horizon.FILES]
    assert [path for path, _ in result.written] == paths
    assert_reported(printed, paths)
    for path in paths:
        assert_png(path)
    assert sorted(p.name for p in out.iterdir()) == sorted(memory_horizon.FILES)  # no temporary left
    for mapped in result.adders:
        assert f"  {mapped.label:<9} horizon {memory_horizon.reach(mapped, smoke[0])}" in printed
    assert f"char-RNN: horizon {result.char.horizon} characters on {result.sentence!r}" in printed


def test_maps_are_causal_with_right_horizons(smoke):
    """The maps are causal and each horizon follows its definition."""
    args, result, _, _ = smoke
    assert [mapped.label for mapped in result.adders] == ["tanh RNN", "LSTM", "GRU"]
    for mapped in [*result.adders, result.char]:
        assert np.all(np.triu(mapped.matrix, k=1) == 0), mapped.label  # nothing depends on the future
        assert np.all(np.diagonal(mapped.matrix) > 0), mapped.label
        assert mapped.horizon == by_definition(mapped.matrix, args.fraction), mapped.label
    assert all(mapped.matrix.shape == (args.probe_length,) * 2 for mapped in result.adders)
    assert result.char.matrix.shape == (len(result.sentence) - 1,) * 2


def central_difference(function, inputs, s, eps=1e-6):
    """d function(inputs) / d inputs[s] for every feature of step s: (features, *output shape)."""
    columns = []
    for feature in np.ndindex(*inputs.shape[2:]):
        plus, minus = inputs.copy(), inputs.copy()
        plus[(s, slice(None), *feature)] += eps
        minus[(s, slice(None), *feature)] -= eps
        columns.append((function(plus) - function(minus)) / (2 * eps))
    return np.array(columns)


def test_adding_maps_equal_finite_differences(smoke):
    _, result, _, _ = smoke
    for mapped in result.adders:
        def answers(inputs, model=mapped.model):
            with tg.no_grad():
                return memory_horizon.answers(model, inputs).data[..., 0]  # (T, N)

        steps = len(mapped.matrix)
        for t, s in ((steps - 1, steps - 1), (steps - 1, steps // 2), (steps // 2, 0), (3, 1)):
            derivative = central_difference(answers, mapped.inputs, s)[:, t, :]  # (features, N)
            expected = np.sqrt((derivative ** 2).sum(axis=0).mean())  # RMS over the sequences of the norm
            np.testing.assert_allclose(mapped.matrix[t, s], expected, rtol=1e-5, atol=1e-9,
                                       err_msg=f"{mapped.label} [{t}, {s}]")


def test_char_map_equals_finite_differences(smoke):
    _, result, _, _ = smoke
    char, ids = result.char, result.char_ids

    def losses(inputs):
        with tg.no_grad():
            return np.array([loss.data[0] for loss in memory_horizon.char_losses(char.model, tg.Tensor(inputs), ids)])

    steps = len(char.matrix)
    for s in (0, steps // 2, steps - 1):
        derivative = central_difference(losses, char.inputs, s)  # (embedding, T)
        np.testing.assert_allclose(char.matrix[:, s], np.sqrt((derivative ** 2).sum(axis=0)), rtol=1e-5, atol=1e-9)


def test_sentence_is_held_out_and_fits():
    """The sentence comes from the held-out text and fits the axes."""
    text = "see x.\nThe answer, in short, is a list of names.\nIt is good."
    assert memory_horizon.held_out_sentence(text, 48) == "The answer, in short, is a list of names."
    assert memory_horizon.held_out_sentence("no sentence here", 48) == "no sentence here"


def test_bad_input_fails_in_one_line(capsys, tmp_path):
    assert_bad_output_folders_refused(capsys, memory_horizon.main, memory_horizon.FILES, tmp_path)
    for argv, phrase in ((["--steps", "0"], "--steps"), (["--hidden-size", "-3"], "--hidden-size"),
                         (["--length", "1"], "at least 2"), (["--char-hidden", "0"], "--char-hidden")):
        status, err = refusal(capsys, memory_horizon.main, ["--smoke", "--out", str(tmp_path / "x"), *argv])
        assert status == 2 and phrase in err, err
    assert not (tmp_path / "x").exists()


def test_real_run_keeps_a_picture(tmp_path):
    picture = tmp_path / memory_horizon.FILES[0]
    picture.write_bytes(b"kept")
    result = run_script("memory_horizon", "--smoke", "--out", tmp_path)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert str(picture) in result.stderr and picture.read_bytes() == b"kept"
