"""Values changed in place (versions.py): a graph whose op used a value before it changed refuses to go back
through it, also through a tensor sharing its array (detach, views), as PyTorch's version counter does."""

import gc

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import versions

STALE = r"changed in place after the op used it"


def leaf(values, dtype=np.float64):
    return tg.Tensor(np.asarray(values, dtype=dtype), requires_grad=True)


def test_mark_modified():
    """An edit marked after the forward is caught, naming the input, its shape, the op and its scope."""
    weight = leaf(np.ones((2, 3)))
    with tg.scope("t=0"):
        loss = (weight * 2.0).tanh().sum()
    weight.data *= 0.5
    tg.mark_modified(weight)
    with pytest.raises(tg.GraphError, match=rf"input 0 \(shape \(2, 3\)\) of op 'mul' \(scope t=0\) was {STALE}"):
        loss.backward()


def test_marked_before_graph():
    """An edit marked before the graph's ops ran is no concern of that graph."""
    weight = leaf([1.0, 2.0])
    weight.data *= 3.0
    tg.mark_modified(weight)
    (weight * weight).sum().backward()
    np.testing.assert_array_equal(weight.grad, [6.0, 12.0])


def test_unrelated_edit():
    """Marking a value the graph never used leaves the graph usable."""
    weight, other = leaf([1.0, 2.0]), leaf([5.0])
    loss = (weight * 3.0).sum()
    tg.mark_modified(other)
    loss.backward()
    np.testing.assert_array_equal(weight.grad, [3.0, 3.0])


def test_marked_intermediate():
    """An intermediate changed in place (through its array) after a later op used it is caught too."""
    a = leaf([1.0, 2.0])
    hidden = a * 2.0
    loss = (hidden * hidden).sum()
    hidden.data[0] = 10.0
    tg.mark_modified(hidden)
    with pytest.raises(tg.GraphError, match=rf"input 0 .* of op 'mul' .*{STALE}"):
        loss.backward()


@pytest.mark.parametrize("share", [lambda weight: weight.detach(), lambda weight: weight[1].detach(),
                                   lambda weight: weight.detach().T], ids=["detach", "detached row", "transpose"])
def test_sharing_tensor_stale(share):
    """A tensor sharing the edited array (detach(), a view) saw the old values: its graph is stale too."""
    weight = leaf(np.ones((3, 2)))
    other = leaf(np.ones(share(weight).shape))
    loss = (share(weight) * other).sum()
    weight.data -= 0.1
    tg.mark_modified(weight)
    with pytest.raises(tg.GraphError, match=rf"input 0 .* of op 'mul'.*{STALE}"):
        loss.backward()
    (share(weight) * other).sum().backward()  # recorded after the edit: fine


def test_marking_a_view():
    """Marking a view marks the array it views: a graph that used the whole array is stale."""
    weight = leaf(np.ones((3, 2)))
    loss = (weight * 2.0).sum()
    row = weight[0].detach()
    row.data[:] = 5.0
    tg.mark_modified(row)
    with pytest.raises(tg.GraphError, match=STALE):
        loss.backward()


def test_marks_freed_with_array():
    """The registry of edited arrays holds them weakly: an array that is freed leaves it."""
    weight = leaf(np.ones(4))
    tg.mark_modified(weight)
    key = id(weight.data)
    assert key in versions._MODIFIED_ARRAYS
    del weight
    gc.collect()
    assert key not in versions._MODIFIED_ARRAYS


def test_index_changed_after():
    """An index array changed after the forward does not move the gradient (getitem keeps its own copy)."""
    x = leaf([1.0, 2.0, 3.0, 4.0])
    index = np.array([1, 2])
    out = x[index].sum()
    index[:] = 0
    out.backward()
    np.testing.assert_array_equal(x.grad, [0.0, 1.0, 1.0, 0.0])
