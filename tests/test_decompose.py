"""The split backward's bookkeeping: which rows an index picks, and rows through the projection's ops."""

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn.analysis import credit
from tinygrad_rnn.analysis.decompose import Rows, rows_of


@pytest.mark.parametrize("index", [2, -1, (slice(None), 1), (slice(1, 3),), (1, slice(None)), np.array([3, 0, 0]),
                                   (slice(None), np.array([1, 0])), (slice(None, None, 2), 1)])
def test_rows_of_picks_the_indexed_rows(index):
    shape = (4, 3, 5)
    array = np.arange(np.prod(shape)).reshape(shape)
    rows = rows_of(index, shape)
    np.testing.assert_array_equal(array.reshape(-1, 5)[rows], array[index].reshape(-1, 5))


@pytest.mark.parametrize("index", [(Ellipsis, 1), (slice(None), slice(None), slice(0, 2)), (None, 1),
                                   np.array([True, False, True, False]), (1, 2, 3)])
def test_rows_of_refuses_other_indices(index):
    """Indices that cut the last axis or add axes give None."""
    assert rows_of(index, (4, 3, 5)) is None


def test_repeated_rows_add_when_dense():
    rows = Rows(np.array([1, 1, 0]), np.ones((3, 2)))
    np.testing.assert_array_equal(rows.dense((3, 2)), [[1, 1], [2, 2], [0, 0]])


def test_sliced_projection_splits_exactly():
    """A projection sliced with repeats and strides splits exactly into the ledger."""
    rng = np.random.default_rng(0)
    weight = tg.Tensor(rng.standard_normal((3, 2)), requires_grad=True)
    bias = tg.Tensor(rng.standard_normal(3), requires_grad=True)
    inputs = tg.Tensor(rng.standard_normal((2, 4, 2)))  # (B, T, I), read with strided and repeated indices
    projected = (inputs.reshape(-1, 2) @ weight.T + bias).reshape(2, 4, 3)
    hidden = tg.Tensor(np.zeros((2, 3)))
    for timestep in range(4):
        with tg.scope(f"t={timestep}"):
            picked = projected[:, timestep] + projected[np.array([0, 0]), timestep] * 0.5
            hidden = (picked + hidden * bias).tanh()
    loss = (hidden ** 2).sum()
    ledger = credit(loss, {"weight": weight, "bias": bias}, retain_graph=True)
    loss.backward()
    np.testing.assert_allclose(ledger.total("weight"), weight.grad, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ledger.total("bias"), bias.grad, rtol=0, atol=1e-12)
    assert np.all(ledger.norms("weight") > 0)
