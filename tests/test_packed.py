"""Variable-length batches (nn.utils.rnn and the recurrent layers on a PackedSequence): every snippet against
PyTorch (committed fixtures, and live when torch is installed), each sequence against the same layer run on it
alone, gradcheck, the padding's zero gradient, the graph's step scopes, and bad input refused saying why."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_rnn as tg
from tinygrad_rnn import nn
from tinygrad_rnn.nn.utils import rnn
from tinygrad_rnn.nn.utils.rnn import PackedSequence

FIXTURES = Path(__file__).parent / "fixtures"
_spec = importlib.util.spec_from_file_location("make_packed_fixtures", FIXTURES / "make_packed_fixtures.py")
table = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(table)
FIXTURE = np.load(FIXTURES / "packed_sequences.npz", allow_pickle=False)
TOLERANCE = {"float64": 1e-12, "float32": 2e-5}


def leaf(array):
    tensor = tg.Tensor(array)
    return tensor.requires_grad_() if tensor.dtype.kind == "f" else tensor


def our_module(name, state=None):
    """MODULES[name] with the weights torch made (from the fixture unless `state` is given)."""
    layer, kwargs, dtype = table.MODULES[name]
    module = getattr(nn, layer)(**kwargs, dtype=np.dtype(dtype))
    if state is None:
        state = {key: FIXTURE[f"module/{name}/{key}"] for key in FIXTURE[f"module/{name}/keys"]}
    module.load_state_dict(state)
    return module


def check(case, expected, modules_state=None):
    """Run the snippet of `case` on tinygrad_rnn and compare with `expected` (a fixture, or a live torch record)."""
    def make_module(name):
        return our_module(name, None if modules_state is None else modules_state[name])

    result, tensors, modules = table.run(tg, table.CASES[case], leaf, make_module)
    assert table.structure(result) == str(expected[f"{case}/structure"]), case
    loss = None
    for position, part in enumerate(table.leaves(result)):
        key = f"{case}/out{position}"
        if part is None:
            assert f"{key}/value" not in expected, f"{case}: result {position} is None, torch's a tensor"
            continue
        value, dtype = expected[f"{key}/value"], str(expected[f"{key}/dtype"])
        assert part.dtype.name == dtype, f"{case}: result {position} has dtype {part.dtype}, torch's {dtype}"
        tolerance = TOLERANCE.get(dtype, 0)
        np.testing.assert_allclose(part.data, value, rtol=tolerance, atol=tolerance, err_msg=f"{case}: {position}")
        assert part.requires_grad == (f"{key}/R" in expected), f"{case}: requires_grad of result {position}"
        if part.requires_grad:
            term = (part * tg.Tensor(expected[f"{key}/R"])).sum()
            loss = term if loss is None else loss + term
    if loss is not None:
        loss.backward()
    for name, tensor in tensors.items():
        key = f"{case}/grad/{name}"
        if key in expected:
            tolerance = TOLERANCE[tensor.dtype.name]
            np.testing.assert_allclose(tensor.grad, expected[key], rtol=tolerance, atol=tolerance,
                                       err_msg=f"{case}: grad of {name}")
        else:
            assert tensor.grad is None, f"{case}: {name} received a gradient that torch does not give"
    for module_name, module in modules.items():
        for name, parameter in module.named_parameters():
            tolerance = TOLERANCE[parameter.dtype.name]
            np.testing.assert_allclose(parameter.grad, expected[f"{case}/grad/param/{module_name}/{name}"],
                                       rtol=tolerance, atol=tolerance, err_msg=f"{case}: grad of {module_name}.{name}")


# ---- against PyTorch ------------------------------------------------------------------------------------------

def test_the_fixture_was_made_from_this_table():
    assert sorted(key[:-len("/snippet")] for key in FIXTURE.files if key.endswith("/snippet")) == sorted(table.CASES)
    for case, snippet in table.CASES.items():
        assert str(FIXTURE[f"{case}/snippet"]) == snippet, f"{case}: run tests/fixtures/make_packed_fixtures.py"
    for name, array in table.INPUTS.items():
        np.testing.assert_array_equal(FIXTURE[f"input/{name}"], array)
    assert str(FIXTURE["torch_version"]).startswith("2.13.0")


def test_the_layers_are_covered_as_the_issue_asks():
    for layer in ("elman", "lstm", "gru"):  # 2 layers, bidirectional, batch_first, unsorted lengths, with a tie
        assert f"{layer}({table.PACKED_XB}" in " ".join(table.CASES.values())
        assert table.MODULES[layer][1] == dict(table.STACKED, batch_first=True)
    assert table.STACKED["num_layers"] == 2 and table.STACKED["bidirectional"]
    lengths = table.INPUTS["lengths"]
    assert np.any(np.diff(lengths) > 0) and len(set(lengths)) < len(lengths)


@pytest.mark.parametrize("case", sorted(table.CASES))
def test_snippet_matches_pytorch(case):
    check(case, FIXTURE)


@pytest.fixture(scope="module")
def live_torch_modules():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    states = {}
    for name, (layer, kwargs, dtype) in table.MODULES.items():
        module = getattr(torch.nn, layer)(**kwargs).to(getattr(torch, dtype))
        states[name] = {key: value.detach().numpy().copy() for key, value in module.state_dict().items()}
    return torch, states


@pytest.mark.parametrize("case", sorted(table.CASES))
def test_snippet_matches_live_pytorch(case, live_torch_modules):
    torch, states = live_torch_modules
    check(case, table.record(torch, case, table.CASES[case], states, np.random.default_rng(5)), states)


# ---- bad input: refused by PyTorch (the fixture keeps its message) and by us, saying why ----------------------

REFUSALS = {
    "pack_unsorted_lengths": (ValueError, r"pack_padded_sequence: lengths must be sorted in decreasing order when "
                                          r"enforce_sorted=True, got \[3, 6, 1, 6, 4\]; pass enforce_sorted=False"),
    "pack_sequence_unsorted": (ValueError, r"pack_sequence: lengths must be sorted in decreasing order .*\[2, 4, 1\]"),
    "pack_length_zero": (ValueError, r"pack_padded_sequence: every length must be at least 1 \(a sequence needs a "
                                     r"step\), got lengths\[4\] = 0"),
    "pack_length_zero_unsorted": (ValueError, r"every length must be at least 1 .*got lengths\[0\] = 0"),
    "pack_too_few_lengths": (ValueError, r"pack_padded_sequence: expected one length per sequence of the batch, 5 "
                                         r"\(input of shape \(6, 5, 3\)\), got 3 lengths"),
    "pack_too_many_lengths": (ValueError, r"one length per sequence of the batch, 5 \(input of shape \(5, 6, 3\)\), "
                                          r"got 6 lengths"),
    "pad_packed_total_length_short": (ValueError, r"pad_packed_sequence: expected total_length to be at least the "
                                                  r"length of the longest sequence in the batch, but got "
                                                  r"total_length=5 and a longest sequence of 6 steps"),
    "pad_sequence_empty": (ValueError, r"pad_sequence: expected a non-empty list of sequences, got none"),
    "pad_sequence_shapes": (ValueError, r"pad_sequence: every sequence must have the same shape after its first "
                                        r"\(time\) dimension and the same dtype; sequence 0 is a Tensor of shape "
                                        r"\(2, 3\) and dtype float64, sequence 1 is a Tensor of shape \(2, 4\)"),
    "pad_sequence_side": (ValueError, r"pad_sequence: padding_side must be 'left' or 'right', got 'middle'"),
    "packed_state_batch": (ValueError, r"GRU: expected h_0 of shape \(4, 5, 4\) \(num_layers \* num_directions, "
                                       r"batch, hidden_size\), got \(4, 3, 4\)"),
}


def test_every_refusal_of_pytorch_has_ours():
    assert sorted(REFUSALS) == sorted(table.ERRORS)


@pytest.mark.parametrize("case", sorted(table.ERRORS))
def test_bad_input_is_refused_as_pytorch_refuses_it(case):
    assert str(FIXTURE[f"error/{case}"])  # torch refused it too (its message is kept in the fixture)
    error, message = REFUSALS[case]
    with pytest.raises(error, match=message):
        table.run(tg, table.ERRORS[case], leaf, our_module)


def test_lengths_past_the_sequence_are_refused():
    # torch 2.13 packs these into a PackedSequence whose batch_sizes disagree with its data, and fails later
    with pytest.raises(ValueError, match=r"pack_padded_sequence: lengths\[0\] = 7 is longer than the input's 6 time "
                                         r"steps \(input of shape \(6, 5, 3\), time in dimension 0\)"):
        rnn.pack_padded_sequence(tg.zeros(6, 5, 3), [7, 6, 4, 3, 1])
    with pytest.raises(ValueError, match=r"lengths\[1\] = 7 is longer than the input's 6 time steps \(input of "
                                         r"shape \(5, 6, 3\), time in dimension 1\)"):
        rnn.pack_padded_sequence(tg.zeros(5, 6, 3), [3, 7, 1, 2, 2], batch_first=True, enforce_sorted=False)


def test_other_bad_input():
    with pytest.raises(TypeError, match=r"pack_padded_sequence: expected lengths to be a 1-D list, array or Tensor "
                                        r"of integers, got an array of shape \(2,\) and dtype float64"):
        rnn.pack_padded_sequence(tg.zeros(3, 2, 1), np.array([3.0, 2.0]))
    with pytest.raises(TypeError, match=r"expected input to be a Tensor \(seq_len, batch, \*\), got an array of "
                                        r"shape \(3, 2, 1\)"):
        rnn.pack_padded_sequence(np.zeros((3, 2, 1)), [3, 2])
    with pytest.raises(ValueError, match=r"the batch is empty \(input of shape \(3, 0, 1\)\)"):
        rnn.pack_padded_sequence(tg.zeros(3, 0, 1), [])
    with pytest.raises(TypeError, match=r"pad_sequence: expected every sequence to be a Tensor \(length, \*\), but "
                                        r"sequence 1 is an array of shape \(3,\) and dtype float64"):
        rnn.pad_sequence([tg.zeros(2), np.zeros(3)])
    with pytest.raises(ValueError, match=r"same dtype; sequence 0 is a Tensor of shape \(2,\) and dtype float32, "
                                        r"sequence 1 is a Tensor of shape \(3,\) and dtype float64"):
        rnn.pad_sequence([tg.zeros(2), tg.zeros(3, dtype=np.float64)])
    with pytest.raises(ValueError, match=r"pack_sequence: every sequence needs at least one step, but sequence 1 "
                                         r"has shape \(0, 2\)"):
        rnn.pack_sequence([tg.zeros(2, 2), tg.zeros(0, 2)])
    with pytest.raises(TypeError, match=r"pad_packed_sequence: expected a PackedSequence, got Tensor"):
        rnn.pad_packed_sequence(tg.zeros(3, 2))
    with pytest.raises(ValueError, match=r"unpad_sequence: lengths\[1\] = 4 is longer than the input's 3 time steps"):
        rnn.unpad_sequence(tg.zeros(3, 2, 1), [3, 4])


def test_a_packed_sequence_made_by_hand_is_checked():
    data = tg.zeros(6, 2)
    packed = PackedSequence(data, [3, 2, 1], [2, 0, 1])
    assert packed.unsorted_indices.tolist() == [1, 2, 0] and packed.batch_sizes.dtype == np.int64
    with pytest.raises(ValueError, match=r"batch_sizes \[3, 2, 2\] add up to 7 rows, but data has shape \(6, 2\)"):
        PackedSequence(data, [3, 2, 2])
    with pytest.raises(ValueError, match=r"batch_sizes must be positive and non-increasing .*got \[2, 3, 1\]"):
        PackedSequence(data, [2, 3, 1])
    with pytest.raises(ValueError, match=r"sorted_indices must be a permutation of 0..2 .*got \[0, 0, 1\]"):
        PackedSequence(data, [3, 2, 1], [0, 0, 1])
    with pytest.raises(ValueError, match=r"unsorted_indices must be the inverse permutation"):
        PackedSequence(data, [3, 2, 1], [2, 0, 1], [2, 0, 1])
    with pytest.raises(ValueError, match=r"RNN: expected input of 2 dimensions \(sum of lengths, input_size\) in a "
                                         r"PackedSequence's data, got 3 dimensions"):
        nn.RNN(2, 3)(PackedSequence(tg.zeros(6, 1, 2), [3, 2, 1]))
    with pytest.raises(TypeError, match=r"LSTM: input has dtype float32 but the parameters are float64"):
        nn.LSTM(2, 3, dtype=np.float64)(PackedSequence(data, [3, 2, 1]))


# ---- each sequence as if run alone ----------------------------------------------------------------------------

@settings(max_examples=15, deadline=None)
@given(mode=st.sampled_from(["RNN", "LSTM", "GRU"]), lengths=st.lists(st.integers(1, 5), min_size=1, max_size=4),
       bidirectional=st.booleans(), num_layers=st.integers(1, 2), batch_first=st.booleans(),
       seed=st.integers(0, 2**16))
def test_each_sequence_as_if_run_alone(mode, lengths, bidirectional, num_layers, batch_first, seed):
    """A packed batch gives every sequence the outputs and final states that the layer gives it alone: its final
    states at its own last step, its reverse direction starting at its own end."""
    layer = getattr(nn, mode)(2, 3, num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first,
                              dtype=np.float64)
    rng = np.random.default_rng(seed)
    sequences = [rng.standard_normal((length, 2)) for length in lengths]
    padded = rnn.pad_sequence([tg.Tensor(sequence) for sequence in sequences], batch_first=batch_first)
    packed = rnn.pack_padded_sequence(padded, lengths, batch_first=batch_first, enforce_sorted=False)
    output, finals = layer(packed)
    output, output_lengths = rnn.pad_packed_sequence(output, batch_first=batch_first)
    assert output_lengths.tolist() == lengths
    for n, sequence in enumerate(sequences):
        alone, alone_finals = layer(tg.Tensor(sequence))
        mine = output.data[n] if batch_first else output.data[:, n]
        np.testing.assert_allclose(mine[:lengths[n]], alone.data, atol=1e-13)
        assert not mine[lengths[n]:].any()  # padded with zeros
        for final, alone_final in zip(finals if mode == "LSTM" else (finals,),
                                      alone_finals if mode == "LSTM" else (alone_finals,)):
            np.testing.assert_allclose(final.data[:, n], alone_final.data, atol=1e-13)


@pytest.mark.parametrize("mode", ["RNN", "LSTM", "GRU"])
def test_equal_lengths_match_padded(mode):
    """Equal lengths give what the padded batch gives."""
    layer = getattr(nn, mode)(3, 4, num_layers=2, bidirectional=True, dtype=np.float64)
    inputs = np.random.default_rng(1).standard_normal((5, 3, 3))
    output, finals = layer(tg.Tensor(inputs))
    packed_output, packed_finals = layer(rnn.pack_padded_sequence(tg.Tensor(inputs), [5, 5, 5]))
    np.testing.assert_array_equal(rnn.pad_packed_sequence(packed_output)[0].data, output.data)
    for final, packed_final in zip(finals if mode == "LSTM" else (finals,),
                                   packed_finals if mode == "LSTM" else (packed_finals,)):
        np.testing.assert_array_equal(packed_final.data, final.data)


# ---- gradients ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["RNN", "LSTM", "GRU"])
def test_padded_steps_receive_no_gradient(mode):
    layer = getattr(nn, mode)(3, 4, num_layers=2, bidirectional=True, batch_first=True, dtype=np.float64)
    lengths = [2, 5, 1, 4]
    padded = leaf(np.random.default_rng(2).standard_normal((4, 5, 3)))
    output, finals = layer(rnn.pack_padded_sequence(padded, lengths, batch_first=True, enforce_sorted=False))
    unpacked, _ = rnn.pad_packed_sequence(output, batch_first=True, padding_value=3.0)
    h_n = finals[0] if mode == "LSTM" else finals
    ((unpacked * tg.Tensor(np.random.default_rng(3).standard_normal(unpacked.shape))).sum() + h_n.sum()).backward()
    real = np.arange(5) < np.array(lengths)[:, None]  # (N, T)
    assert np.all(padded.grad[~real] == 0.0)
    assert np.all(np.abs(padded.grad[real]).sum(axis=-1) > 0)


@pytest.mark.parametrize("mode", ["RNN", "LSTM", "GRU"])
def test_packed_layer_gradcheck(mode):
    layer = getattr(nn, mode)(2, 2, bidirectional=True, dtype=np.float64)  # 2 layers: the fixtures
    names = [name for name, _ in layer.named_parameters()]
    values = [parameter.data.copy() for parameter in layer.parameters()]
    inputs = np.random.default_rng(4).standard_normal((3, 3, 2))

    def run(x, *parameters):
        saved = dict(layer._parameters)
        layer._parameters.update(zip(names, parameters))
        try:
            output, finals = layer(rnn.pack_padded_sequence(x, [1, 3, 2], enforce_sorted=False))
        finally:
            layer._parameters.update(saved)
        h_n = finals[1] if mode == "LSTM" else finals  # the LSTM's c_n; its h_n is in the output
        return tg.cat([output.data.reshape(-1), h_n.reshape(-1)])

    assert tg.gradcheck(run, [inputs, *values])


def test_utilities_gradcheck():
    sequences = [np.random.default_rng(seed).standard_normal((length, 2)) for seed, length in enumerate((2, 4, 1))]
    assert tg.gradcheck(lambda *xs: rnn.pad_sequence(list(xs), padding_side="left", padding_value=1.0), sequences)
    assert tg.gradcheck(lambda *xs: rnn.pack_sequence(list(xs), enforce_sorted=False).data, sequences)
    assert tg.gradcheck(lambda *xs: rnn.pad_packed_sequence(rnn.pack_sequence(list(xs), enforce_sorted=False),
                                                            batch_first=True, total_length=6)[0], sequences)


# ---- the graph: each step reads the rows still running; where each sequence ends --------------------------------

def ops_by_scope(root):
    found = {}
    for node in tg.toposort(root, all_inputs=True):
        if node.is_context and node.scope is not None:
            found.setdefault(node.scope, []).append(node.name)
    return found


def test_final_state_is_where_each_sequence_ends():
    """Each step reads the rows still running and leaves each final state at its own sequence's last step."""
    layer = nn.RNN(2, 3, bidirectional=True)
    h_0 = leaf(np.zeros((2, 3, 3), dtype=np.float32))  # (without one, the rows of zeros are constants: no ops)
    output, h_n = layer(rnn.pack_padded_sequence(tg.randn(4, 3, 2, generator=0), [4, 2, 1]), h_0)  # sizes 3 2 1 1
    scopes = ops_by_scope(rnn.pad_packed_sequence(output)[0].sum() + h_n.sum())
    # forward: step t runs on rows 0:batch_sizes[t]; the sequences of rows 2 and 1 end at t=0 and t=1
    assert sorted(scopes["rnn.l0/t=0"]) == ["addmm", "getitem", "tanh"]
    assert sorted(scopes["rnn.l0/t=1"]) == ["addmm", "getitem", "tanh"]
    assert scopes["rnn.l0/t=1/running"] == ["getitem"]  # h[:2], the rows still running (marked for the renderer)
    assert scopes["rnn.l0/t=0/end"] == ["getitem"] and scopes["rnn.l0/t=1/end"] == ["getitem"]
    assert "rnn.l0/t=2/end" not in scopes and "rnn.l0/t=3/end" not in scopes  # the last one ends with the loop
    assert scopes["rnn.l0"].count("concatenate") == 3  # the outputs in packed order, h_n's rows, both directions
    # reverse: sequences start at their own last step, from h_0's rows
    assert scopes["rnn.l0_reverse/t=3/start"] == ["getitem"]  # rows 0:1 of h_0
    assert sorted(scopes["rnn.l0_reverse/t=1/start"]) == ["concatenate", "getitem"]  # + rows 1:2
    assert sorted(scopes["rnn.l0_reverse/t=0/start"]) == ["concatenate", "getitem"]  # + rows 2:3
    assert "rnn.l0_reverse/t=2/start" not in scopes
    end = next(node for node in tg.toposort(h_n, all_inputs=True) if node.is_context and node.scope == "rnn.l0/t=0/end")
    assert end.saved_tensors[0] == slice(2, 3)  # the row of the sequence of length 1
