"""In-place edits: += -= *= /= and x[i] = v change the tensor's own array, as in PyTorch, and a graph built
before such an edit refuses backward; what our graph cannot record is refused with a clear message."""

import re

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import GraphError, Tensor

OPERATORS = {"+=": np.add, "-=": np.subtract, "*=": np.multiply, "/=": np.true_divide}


def apply_in_place(tensor, symbol, other):
    """`tensor <symbol> other`, written out (the statement itself cannot be parametrised)."""
    if symbol == "+=":
        tensor += other
    elif symbol == "-=":
        tensor -= other
    elif symbol == "*=":
        tensor *= other
    else:
        tensor /= other
    return tensor


@pytest.mark.parametrize("symbol", OPERATORS)
@pytest.mark.parametrize("other", [2.5, np.array([1.0, -2.0, 4.0]), Tensor(np.array([0.5, 3.0, -1.0]))],
                         ids=["number", "array", "tensor"])
def test_operators_edit_the_array_in_place(symbol, other):
    start = np.array([[1.0, 2.0, 3.0], [-4.0, 5.0, 0.5]])
    tensor = Tensor(start, dtype=np.float64)
    array, same = tensor.data, tensor
    result = apply_in_place(tensor, symbol, other)
    assert result is same and tensor is same and tensor.data is array  # not rebound to a new tensor
    expected = OPERATORS[symbol](start, np.asarray(other))
    np.testing.assert_array_equal(tensor.data, expected)


def test_dtype_is_kept():
    """The tensor keeps its dtype and a float64 operand is cast to it, as in PyTorch."""
    weight = tg.ones(3)
    weight -= np.array([0.1, 0.2, 0.3], dtype=np.float64)
    assert weight.dtype == np.float32
    np.testing.assert_array_equal(weight.data, np.float32(1) - np.array([0.1, 0.2, 0.3], dtype=np.float32))
    counts = tg.tensor([1, 2, 3])
    counts += 2
    counts *= tg.tensor([2, 2, 2])
    assert counts.dtype == np.int64 and counts.data.tolist() == [6, 8, 10]


@pytest.mark.parametrize("symbol, other", [("+=", 1.5), ("/=", 2), ("*=", tg.tensor([0.5, 1.0, 2.0]))])
def test_int_tensor_refuses_floats(symbol, other):
    """A result an int tensor cannot hold is refused and the tensor is left as it was."""
    counts = tg.tensor([1, 2, 3])
    with pytest.raises(TypeError, match=re.escape(symbol) + r": the result has dtype float\d+, which cannot be "
                                                           r"stored in this int64 tensor in place"):
        apply_in_place(counts, symbol, other)
    assert counts.data.tolist() == [1, 2, 3]


def test_broadcast_only_into_own_shape():
    tensor = tg.zeros(2, 3)
    tensor += tg.ones(3)
    tensor += np.ones((2, 1))
    np.testing.assert_array_equal(tensor.data, np.full((2, 3), 2.0))
    for other in (tg.ones(4, 2, 3), tg.ones(3, 3), tg.ones(2)):
        with pytest.raises(ValueError, match=re.escape(f"+=: the other operand has shape {other.shape}, which "
                                                       "does not broadcast to this tensor's shape (2, 3)")):
            tensor += other
    np.testing.assert_array_equal(tensor.data, np.full((2, 3), 2.0))


def test_grad_leaf_changes_only_under_no_grad():
    """A leaf that requires grad is refused in grad mode and changed under no_grad."""
    weight = tg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(GraphError, match="-=: a leaf that requires grad cannot be changed in place while grad "
                                         r"mode is on \(as in PyTorch\); update it inside `with tg.no_grad\(\):`"):
        weight -= 1.0
    assert weight.data.tolist() == [1.0, 2.0]
    with tg.no_grad():
        weight -= 1.0
    assert weight.data.tolist() == [0.0, 1.0] and weight.requires_grad and weight.is_leaf


def test_op_output_is_refused_in_both_modes():
    """A tensor an op made is refused in grad mode and under no_grad."""
    weight = tg.tensor([1.0, 2.0], requires_grad=True)
    hidden = (weight * 2.0).tanh()
    before = hidden.data.copy()
    for mode in (tg.enable_grad, tg.no_grad):
        with mode(), pytest.raises(GraphError, match=r"\*=: this tensor was made by op 'tanh' and belongs to a "
                                                     r"graph .* write x = x \* y for a new tensor instead"):
            hidden *= 3.0
    np.testing.assert_array_equal(hidden.data, before)


def test_grad_operand_refused_in_grad_mode():
    """An operand that requires grad is refused in grad mode only."""
    constant, weight = tg.zeros(2), tg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(GraphError, match=r"\+=: the other operand requires grad, but an in-place change is not "
                                         "recorded in the graph"):
        constant += weight
    with tg.no_grad():
        constant += weight
    assert constant.data.tolist() == [1.0, 2.0] and not constant.requires_grad


def test_read_only_array_is_refused():
    tensor = Tensor(np.zeros(3))
    tensor.data.flags.writeable = False
    with pytest.raises(ValueError, match=r"\+=: this tensor's array is read-only"):
        tensor += 1.0


# ---- a graph built before the edit refuses backward -------------------------------------------------------------
def test_backward_after_an_edit_is_refused():
    """Backward through a graph built before the edit is refused, naming the op and input."""
    weight = tg.tensor([1.0, 2.0, 3.0], requires_grad=True, dtype=np.float64)
    loss = (weight * weight).sum()  # mul saved the old weight
    with tg.no_grad():
        weight -= 0.5
    with pytest.raises(GraphError, match=r"input 0 \(shape \(3,\)\) of op 'mul' .* was changed in place after the "
                                         "op used it"):
        loss.backward()


@pytest.mark.parametrize("edit", ["constant", "detached alias", "view", "setitem", "mark_modified"])
def test_every_way_to_edit_is_caught(edit):
    """Every documented way to edit in place is caught by backward."""
    weight = tg.tensor([1.0, 2.0, 3.0], requires_grad=True, dtype=np.float64)
    scale = Tensor(np.array([[2.0, 2.0, 2.0], [1.0, 1.0, 1.0]]))
    loss = (weight * scale).sum()  # the product saved both
    if edit == "constant":
        scale *= 10.0
    elif edit == "detached alias":
        alias = weight.detach()  # shares the array, as in PyTorch
        alias += 1.0
    elif edit == "view":
        row = scale[0]  # a numpy view of scale's array
        row += 1.0
    elif edit == "setitem":
        scale[1, 1] = 7.0
    else:
        weight.data[0] = 9.0  # .data bypasses the check (as in PyTorch) unless the edit is announced
        tg.mark_modified(weight)
    with pytest.raises(GraphError, match="was changed in place after the op used it"):
        loss.backward()


def test_data_bypasses_the_check():
    """What the README warns about: an edit of .data that nobody announces is not seen by backward."""
    weight = tg.tensor([1.0, 2.0], requires_grad=True, dtype=np.float64)
    loss = (weight * weight).sum()
    weight.data[...] = [10.0, 20.0]
    loss.backward()
    np.testing.assert_array_equal(weight.grad, [20.0, 40.0])  # 2 w with the new w: mixed old and new values


def test_no_grad_sgd_loop_matches_numpy():
    """The README's loop: loss, backward, `with tg.no_grad(): w -= lr * w.grad`, repeat; equal to numpy's."""
    target = np.array([0.5, -1.0, 2.0])
    weight = tg.tensor([0.0, 0.0, 0.0], requires_grad=True, dtype=np.float64)
    expected = np.zeros(3)
    for _ in range(5):
        loss = ((weight - Tensor(target)) ** 2).sum()
        loss.backward()
        with tg.no_grad():
            weight -= 0.1 * weight.grad
        weight.grad = None
        expected = expected - 0.1 * 2 * (expected - target)
    np.testing.assert_allclose(weight.data, expected, rtol=0, atol=1e-15)
    assert weight.is_leaf and weight.requires_grad


# ---- item assignment -------------------------------------------------------------------------------------------
def test_setitem_and_augmented_setitem():
    tensor = Tensor(np.zeros((2, 3)))
    tensor[0] = tg.tensor([1.0, 2.0, 3.0], dtype=np.float64)
    tensor[1, 2] = 5.0
    tensor[:, 0] += 1.0  # a getitem view, changed in place, then written back
    tensor[tg.tensor([1]), 1] -= 4.0  # an index array: a copy, changed, then written back
    np.testing.assert_array_equal(tensor.data, [[2.0, 2.0, 3.0], [1.0, -4.0, 5.0]])


def test_setitem_follows_the_same_rules():
    weight = tg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(GraphError, match="setitem: a leaf that requires grad"):
        weight[0] = 5.0
    with pytest.raises(GraphError, match=r"\-=: this tensor was made by op 'getitem'"):
        weight[0] -= 5.0  # in grad mode the getitem is recorded, so nothing changes
    assert weight.data.tolist() == [1.0, 2.0]
    with tg.no_grad():
        weight[0] -= 5.0
    assert weight.data.tolist() == [-4.0, 2.0]
    counts = tg.tensor([1, 2])
    with pytest.raises(TypeError, match="setitem: a float32 value cannot be stored in this int64 tensor"):
        counts[0] = 1.5
    with pytest.raises(ValueError, match=r"setitem: a value of shape \(3,\) does not broadcast to the shape \(\) "):
        counts[0] = tg.tensor([1, 2, 3])
    assert counts.data.tolist() == [1, 2]
