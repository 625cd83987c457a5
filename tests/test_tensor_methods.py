"""The Tensor methods a PyTorch user reaches for: each snippet against PyTorch (committed fixtures, and live when
torch is installed), the composites gradchecked, and bad input refused with PyTorch's reasons."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import nn
from tinygrad_rnn.scalar import Value

FIXTURES = Path(__file__).parent / "fixtures"
_spec = importlib.util.spec_from_file_location("make_tensor_fixtures", FIXTURES / "make_tensor_fixtures.py")
table = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(table)
FIXTURE = np.load(FIXTURES / "tensor_methods.npz", allow_pickle=False)

ISSUE_METHODS = ("unsqueeze", "squeeze", "view", "flatten", "expand", "abs", "sqrt", "clamp", "clamp_min", "clamp_max",
                 "argmax", "argmin", "clone", "tolist", "numel", "zeros_like", "ones_like", "randn_like", "masked_fill",
                 "gather", "size", "item", "max", "min")


def leaf(array):
    tensor = tg.Tensor(array)
    return tensor.requires_grad_() if tensor.dtype.kind == "f" else tensor


def check(case, expected):
    """Run the snippet of `case` on tinygrad_rnn and compare with `expected` (a fixture, or a live torch record)."""
    result, tensors = table.run(tg, table.CASES[case], leaf)
    parts = table.flatten(result)
    assert f"{case}/out{len(parts)}/kind" not in expected, f"{case}: torch gave more results than {len(parts)}"
    loss = None
    for position, part in enumerate(parts):
        key = f"{case}/out{position}"
        kind = str(expected[f"{key}/kind"])
        assert table.kind_of(part) == kind, f"{case}: result {position} is a {type(part).__name__}, torch's a {kind}"
        value = expected[f"{key}/value"]
        if kind == "tensor":
            assert isinstance(part, tg.Tensor)
            assert part.dtype.name == str(expected[f"{key}/dtype"]), f"{case}: dtype {part.dtype}"
            assert part.shape == value.shape, f"{case}: shape {part.shape}, torch's {value.shape}"
            if case not in table.RANDOM:
                tolerance = 1e-6 if part.dtype == np.float32 else 1e-12
                np.testing.assert_allclose(part.data, value, rtol=tolerance, atol=tolerance, equal_nan=True,
                                           err_msg=case)
            assert part.requires_grad == (f"{key}/R" in expected), f"{case}: requires_grad {part.requires_grad}"
            if part.requires_grad:
                term = (part * tg.Tensor(expected[f"{key}/R"])).sum()
                loss = term if loss is None else loss + term
        elif kind == "size":
            assert isinstance(part, tg.Size) and part == tuple(value.tolist()), case
        elif kind == "list":
            assert part == json.loads(str(value)), case
        elif kind == "int":
            assert type(part) is int and part == value, case
        else:
            assert type(part) is float and part == pytest.approx(float(value), rel=1e-6), case
    if loss is not None:
        loss.backward()
    for name, tensor in tensors.items():
        key = f"{case}/grad/{name}"
        if key in expected:
            assert tensor.grad is not None, f"{case}: no gradient reached {name}"
            np.testing.assert_allclose(tensor.grad, expected[key], rtol=1e-5, atol=1e-6, err_msg=f"{case}: {name}")
        else:
            assert tensor.grad is None, f"{case}: {name} received a gradient that torch does not give"


# ---- against PyTorch ------------------------------------------------------------------------------------------

def test_fixture_matches_the_table():
    assert sorted(key[:-len("/snippet")] for key in FIXTURE.files if key.endswith("/snippet")) == sorted(table.CASES)
    for case, snippet in table.CASES.items():
        assert str(FIXTURE[f"{case}/snippet"]) == snippet, f"{case}: run tests/fixtures/make_tensor_fixtures.py"
    assert json.loads(str(FIXTURE["error_snippets"])) == table.ERRORS
    for name, array in table.INPUTS.items():
        np.testing.assert_array_equal(FIXTURE[f"input/{name}"], array)


def test_every_method_has_a_snippet():
    snippets = " ".join(table.CASES.values())
    missing = [name for name in ISSUE_METHODS if f".{name}(" not in snippets and f"{name}(" not in snippets]
    assert not missing


RESULTS_WITH_INFINITIES = pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # in sum(out*R)


@RESULTS_WITH_INFINITIES
@pytest.mark.parametrize("case", sorted(table.CASES))
def test_snippet_matches_pytorch(case):
    check(case, FIXTURE)


@RESULTS_WITH_INFINITIES
@pytest.mark.parametrize("case", sorted(table.CASES))
def test_snippet_matches_live_pytorch(case):
    torch = pytest.importorskip("torch")
    check(case, table.record(torch, case, table.CASES[case], np.random.default_rng(7)))


# ---- bad input: refused by PyTorch (the fixture keeps its message) and by us, saying why -------------------------

AxisError = np.exceptions.AxisError
REFUSALS = {
    "view_incompatible_size": (tg.OpError, r"view: shape \(4, 2\) is invalid for a tensor of shape \(2, 3\) "
                                           r"\(6 elements\); expected sizes whose product is 6"),
    "view_two_inferred": (tg.OpError, r"view: only one size can be inferred \(-1\), got \(-1, -1\)"),
    "view_transposed": (tg.OpError, r"view: shape \(6,\) is not compatible with the memory layout of this tensor "
                                    r"of shape \(3, 2\) .*use \.reshape"),
    "view_transposed_merge": (tg.OpError, r"view: shape \(3, 8\) is not compatible .* shape \(3, 2, 4\)"),
    "squeeze_out_of_range": (AxisError, r"squeeze: dim 2 is out of range for a tensor of shape \(2, 3\) "
                                        r"\(expected a dim in \[-2, 1\]\)"),
    "unsqueeze_out_of_range": (AxisError, r"unsqueeze: dim 3 is out of range for a tensor of shape \(2, 3\) "
                                          r"\(expected a dim in \[-3, 2\]\)"),
    "unsqueeze_negative_out_of_range": (AxisError, r"unsqueeze: dim -4 is out of range .* \[-3, 2\]"),
    "expand_incompatible": (tg.OpError, r"expand: size 4 for axis 1, of size 3 of a tensor of shape \(2, 3\) "
                                        r"\(sizes \(2, 4\)\); expected sizes of which the last 2 match \(2, 3\)"),
    "expand_fewer_sizes": (tg.OpError, r"expand: 1 sizes \(3,\) for a tensor of shape \(2, 3\); expected"),
    "expand_new_axis_inferred": (tg.OpError, r"expand: size -1 for a new leading axis of a tensor of shape \(3, 1\)"),
    "gather_index_rank": (tg.OpError, r"gather: index of shape \(4,\) for a tensor of shape \(2, 3\) along dim 1; "
                                      r"expected 2 axes, none but dim 1 longer than the tensor's"),
    "gather_index_too_large": (tg.OpError, r"gather: index of shape \(3, 3\) for a tensor of shape \(2, 3\)"),
    "gather_index_out_of_range": (IndexError, r"gather: index values from 3 to 5 for dim 1 of size 3 \(tensor shape "
                                              r"\(2, 3\)\); expected values in \[0, 2\]"),
    "gather_float_index": (TypeError, r"gather: index must hold integers .*got dtype float32"),
    "masked_fill_float_mask": (TypeError, r"masked_fill: the mask must be a bool tensor, got dtype float32 "
                                          r"\(shape \(2, 3\)\)"),
    "masked_fill_int_mask": (TypeError, r"masked_fill: the mask must be a bool tensor, got dtype int64"),
    "masked_fill_mask_shape": (tg.OpError, r"masked_fill: a mask of shape \(4,\) for a tensor of shape \(2, 3\); "
                                           r"expected shapes that broadcast together"),
    "item_of_many": (ValueError, r"item: only a tensor with one element converts to a Python number, but this one "
                                 r"has shape \(2, 3\) \(6 elements\)"),
    "clamp_without_bounds": (ValueError, r"clamp: give at least one of min and max"),
    "flatten_start_after_end": (ValueError, r"flatten: start_dim 2 comes after end_dim 1 for a tensor of shape "
                                            r"\(2, 3, 4\)"),
    "size_out_of_range": (AxisError, r"size: dim 2 is out of range for a tensor of shape \(2, 3\)"),
    "argmax_out_of_range": (AxisError, r"argmax: dim 2 is out of range for a tensor of shape \(2, 3\)"),
}


def test_every_torch_refusal_has_ours():
    assert sorted(REFUSALS) == sorted(table.ERRORS)


@pytest.mark.parametrize("case", sorted(table.ERRORS))
def test_refused_as_pytorch_refuses(case):
    assert str(FIXTURE[f"error/{case}"])  # torch refused it too (its message is kept in the fixture)
    error, message = REFUSALS[case]
    with pytest.raises(error, match=message):
        table.run(tg, table.ERRORS[case], leaf)


def test_bad_dim_error_kinds():
    """An out-of-range dim raises an error of both numpy's kind and PyTorch's."""
    with pytest.raises(IndexError):  # PyTorch's kind
        tg.zeros(2, 3).unsqueeze(5)
    with pytest.raises(ValueError):  # numpy's kind, and what the older methods raised
        tg.zeros(2, 3).squeeze(-3)


# ---- composites: gradchecked in float64 (the new primitives abs and expand are in test_ops' registry table) ------

COMPOSITES = {
    "unsqueeze": (lambda x: x.unsqueeze(1), [(2, 3)]),
    "squeeze": (lambda x: x.squeeze(), [(2, 1, 3, 1)]),
    "view": (lambda x: x.view(3, -1), [(2, 3)]),
    "flatten": (lambda x: x.flatten(1), [(2, 3, 2)]),
    "sqrt": (lambda x: (x * x + 0.5).sqrt(), [(2, 3)]),
    "clamp": (lambda x: x.clamp(-0.5, 0.5), [(3, 4)]),
    "clamp_tensor_bounds": (lambda x, low, high: x.clamp(low - 1, high + 1), [(3, 4), (4,), (3, 1)]),
    "clamp_min_above_max": (lambda x, low, high: x.clamp(low + 1, high - 1), [(3, 4), (4,), (3, 1)]),
    "masked_fill": (lambda x: x.masked_fill(np.array([True, False, True]), 2.0), [(2, 3)]),
    "masked_fill_tensor_value": (lambda x, value: x.masked_fill(np.array([[True], [False]]), value), [(2, 3), ()]),
    "gather": (lambda x: x.gather(1, np.array([[0, 2, 2], [1, 0, 1]])), [(2, 3)]),
    "gather_dim0": (lambda x: x.gather(0, np.array([[1, 0, 1], [1, 1, 0], [0, 0, 0]])), [(2, 3)]),
    "clone": (lambda x: x.clone(), [(2, 3)]),
    "max_dim": (lambda x: x.max(1).values, [(3, 4)]),
    "min_dim": (lambda x: x.min(0, keepdim=True).values, [(3, 4)]),
    "min_all": (lambda x: x.min(), [(3, 4)]),
    "min_axis": (lambda x: x.min(axis=(0, 2)), [(2, 3, 2)]),
    "expand_then_view": (lambda x: x.expand(2, 3, 4).view(2, 3, 2, 2), [(3, 1)]),
}


@pytest.mark.parametrize("name", sorted(COMPOSITES))
def test_composite_passes_gradcheck(name):
    function, shapes = COMPOSITES[name]
    rng = np.random.default_rng(3)
    inputs = [rng.standard_normal(shape) for shape in shapes]
    if name.startswith("clamp"):  # keep values off the kinks, where finite differences straddle two slopes
        inputs[0] = np.where(np.abs(np.abs(inputs[0]) - 0.5) < 0.05, inputs[0] * 1.3, inputs[0])
    assert tg.gradcheck(function, inputs)


def test_new_primitives_have_samples():
    for name in ("abs", "expand"):
        assert tg.OPS[name].sample is not None


# ---- what changed from numpy's meaning, and what stays -----------------------------------------------------------

def test_size_and_numel():
    x = tg.zeros(2, 3, 4)
    assert x.size() == (2, 3, 4) and isinstance(x.size(), tuple) and repr(x.size()) == "Size([2, 3, 4])"
    assert x.size(0) == 2 and x.size(-1) == 4 and x.numel() == 24 == x.size().numel()
    assert x.shape == (2, 3, 4) and x.data.size == 24  # numpy's own size, on the array, is untouched


def test_max_dim_and_axis():
    """max(dim) returns PyTorch's (values, indices) pair; max(axis=...) keeps numpy's values."""
    x = tg.tensor([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]])
    values, indices = x.max(1)
    np.testing.assert_array_equal(values.data, [5.0, 7.0])
    np.testing.assert_array_equal(indices.data, [1, 0])
    assert x.max(1).indices.dtype == np.int64 and x.min(1).values.data.tolist() == [1.0, 0.0]
    np.testing.assert_array_equal(x.max(axis=1).data, [5.0, 7.0])  # numpy's word: the values alone
    np.testing.assert_array_equal(x.min(axis=(0, 1)).data, 0.0)
    with pytest.raises(TypeError, match="max: dim must be one integer"):
        x.max((0, 1))


def test_view_expand_and_clone_memory():
    """view shares the data, expand copies nothing and clone copies."""
    x = tg.randn(2, 3, generator=0)
    assert np.shares_memory(x.view(3, 2).data, x.data)
    expanded = tg.randn(3, 1, generator=0).expand(3, 1000)
    assert expanded.data.strides[1] == 0 and not expanded.data.flags.writeable  # a read-only broadcast view
    copy = x.clone()
    assert not np.shares_memory(copy.data, x.data)
    np.testing.assert_array_equal(np.signbit(tg.tensor([-0.0]).clone().data), [True])  # exact, -0.0 too


def test_view_refuses_a_dtype():
    """view refuses a dtype, and reshape still copies where a view cannot."""
    x = tg.randn(2, 3, generator=0)
    with pytest.raises(TypeError, match=r"view: reinterpreting the data as another dtype"):
        x.view(np.int32)
    np.testing.assert_array_equal(x.T.reshape(-1).data, x.data.T.reshape(-1))


def test_clamp_min_above_max():
    """clamp with min above max gives max everywhere, as in PyTorch."""
    x = tg.tensor([[-2.0, 0.0, 3.0]], requires_grad=True)
    out = x.clamp(1.0, -1.0)
    np.testing.assert_array_equal(out.data, [[-1.0, -1.0, -1.0]])
    out.sum().backward()
    np.testing.assert_array_equal(x.grad, [[0.0, 0.0, 0.0]])


def test_clamp_gradient_at_bounds():
    """clamp passes the gradient at its bounds, as PyTorch does."""
    x = tg.tensor([-1.0, -0.5, 0.0, 0.5, 1.0], requires_grad=True)
    (x.clamp(-0.5, 0.5) * tg.tensor([1.0, 2.0, 3.0, 4.0, 5.0])).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 2.0, 3.0, 4.0, 0.0])


def test_int_with_float_is_float32():
    """Integer tensors meeting Python floats become float32, as in PyTorch."""
    counts = tg.tensor([1, 2, 3])
    assert (counts + 0.5).dtype == np.float32 and (0.5 * counts).dtype == np.float32
    assert (counts / 2).dtype == np.float32 and (2 / counts).dtype == np.float32
    assert (counts @ tg.ones(3)).dtype == np.float32 and (counts + 1).dtype == np.int64
    assert (counts + tg.tensor([1.0, 2.0, 3.0], dtype=np.float64)).dtype == np.float64
    weight = tg.tensor([0.5, 1.0, 2.0], requires_grad=True)
    (weight * counts).sum().backward()
    assert weight.grad.dtype == np.float32
    np.testing.assert_array_equal(weight.grad, [1.0, 2.0, 3.0])


def test_abs_on_scalar_values():
    value = Value(-3.0)
    out = abs(value) * 2
    out.backward()
    assert out.data == 6.0 and value.grad == -2.0
    assert Value(4.0).sqrt().data == 2.0


def test_manual_seed_repeats_layers():
    tg.manual_seed(5)
    first = nn.Linear(3, 2).weight.data.copy()
    tg.manual_seed(5)
    np.testing.assert_array_equal(nn.Linear(3, 2).weight.data, first)
    assert "manual_seed" in tg.__all__ and tg.manual_seed is nn.manual_seed


def test_like_constructors():
    """The *_like constructors take shape and dtype, and randn_like refuses integers."""
    x = tg.zeros(2, 3, dtype=np.float64)
    assert tg.ones_like(x).dtype == np.float64 and tg.zeros_like(x, dtype=np.int64).dtype == np.int64
    assert tg.randn_like(x, generator=1).shape == (2, 3)
    np.testing.assert_array_equal(tg.randn_like(x, generator=1).data, tg.randn_like(x, generator=1).data)
    assert tg.ones_like(x, requires_grad=True).requires_grad
    with pytest.raises(TypeError, match="randn_like: normal samples need a floating dtype, got int64"):
        tg.randn_like(tg.tensor([1, 2]))


def test_gather_cross_entropy():
    """Cross-entropy written with gather equals nn.functional.cross_entropy."""
    logits = tg.tensor(table.INPUTS["logits"], requires_grad=True)
    targets = tg.tensor(table.INPUTS["targets"])
    by_gather = -logits.log_softmax(-1).gather(1, targets.unsqueeze(1)).mean()
    np.testing.assert_allclose(by_gather.item(), nn.functional.cross_entropy(logits, targets).item(), rtol=1e-6)


def test_numpy_spellings_of_arg_and_squeeze():
    """argmax/argmin and squeeze take numpy's axis/keepdims too; giving both names is refused."""
    x = tg.tensor(np.random.default_rng(0).standard_normal((1, 3, 4)))
    np.testing.assert_array_equal(x.argmax(axis=2).data, x.argmax(2).data)
    assert x.argmin(axis=1, keepdims=True).shape == x.argmin(1, keepdim=True).shape == (1, 1, 4)
    assert x.squeeze(axis=0).shape == x.squeeze(0).shape == (3, 4)
    with pytest.raises(TypeError, match="argmax: got both axis=1 and dim=1"):
        x.argmax(1, axis=1)
