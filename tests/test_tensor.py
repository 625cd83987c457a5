"""Tensor, the user's view: factories, dtypes, numpy interop, indexing, reductions, PyTorch's dim/keepdim, max."""

import numpy as np
import pytest

import tinygrad_rnn as tg


def leaf(values, dtype=np.float64):
    return tg.Tensor(np.asarray(values, dtype=dtype), requires_grad=True)


# ---- making tensors ------------------------------------------------------------------------------------------

def test_factories():
    """Factories are reproducible with a generator; arange gives integers for integers."""
    assert np.array_equal(tg.randn(3, 2, generator=7).data, tg.randn(3, 2, generator=7).data)
    rng = np.random.default_rng(1)
    assert tg.randn(2, generator=rng).shape == (2,)
    assert tg.arange(5).dtype.kind == "i" and tg.arange(0.0, 1.0, 0.25).shape == (4,)
    assert tg.arange(0.0, 1.0, 0.25).dtype == np.float32 and tg.arange(3, step=0.5).dtype == np.float32


def test_numpy_int_sizes():
    """numpy integers work as sizes."""
    assert tg.zeros(np.int64(3)).shape == (3,) and tg.ones((np.int32(2), 3)).shape == (2, 3)
    x = tg.randn(2, 3)
    assert x.reshape(np.prod((2, 3))).shape == (6,) and x.reshape(np.int64(3), 2).shape == (3, 2)
    assert [p.shape for p in tg.randn(6).split(np.int64(4))] == [(4,), (2,)]
    assert [p.shape for p in tg.randn(6).chunk(np.int64(2))] == [(3,), (3,)]


# ---- dtypes --------------------------------------------------------------------------------------------------

def test_dtypes():
    """float32 by default, and float64 is kept."""
    assert tg.tensor([1.0, 2.0]).dtype == np.float32
    assert tg.zeros(2, 3).dtype == np.float32 and tg.ones(2).shape == (2,)
    assert tg.Tensor(np.zeros(3)).dtype == np.float64
    x = tg.tensor([1.0], dtype=np.float64, requires_grad=True)
    y = (x * 2 + 1).tanh()
    assert y.dtype == np.float64
    y.sum().backward()
    assert x.grad.dtype == np.float64
    small = tg.tensor([1.0, 2.0], requires_grad=True)
    assert (small * 0.5 + 1).dtype == np.float32  # Python numbers do not upcast


def test_float32_with_numpy():
    """float32 stays float32 next to numpy (float64) constants."""
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    assert (x + np.zeros(2)).dtype == np.float32 and (np.ones(2) * x).dtype == np.float32
    assert (x ** np.float64(2)).dtype == np.float32
    assert tg.where([True, False], 1.0, 2.0).dtype == np.float32
    assert tg.where([True, False], x, np.float64(3.0)).dtype == np.float32
    assert (tg.arange(3) + 2.5).data.tolist() == [2.5, 3.5, 4.5]  # an integer tensor is not truncated
    seen = []
    out = (x * np.float64(3.0)).max()
    out.register_hook(lambda grad: seen.append(grad.dtype))
    x.register_hook(lambda grad: seen.append(grad.dtype))
    out.backward()
    assert seen == [np.float32, np.float32]


def test_leaf_grad_dtype():
    """A leaf's grad is cast to the leaf's dtype."""
    weight = tg.tensor([1.0, 2.0], requires_grad=True)
    (weight * tg.Tensor(np.array([1.0, 1.0]))).sum().backward()  # float64 partner
    assert weight.grad.dtype == np.float32


def test_int_requires_grad():
    with pytest.raises(TypeError, match="floating-point"):
        tg.Tensor(np.arange(3), requires_grad=True)


# ---- numpy interop and indexing ------------------------------------------------------------------------------

def test_numpy_interop():
    """Tensors are numbers to numpy and to tensor()."""
    x = tg.tensor([1.0, 2.0])
    assert np.array(x).dtype == np.float32 and np.allclose(x, [1.0, 2.0])
    assert np.array(x, dtype=np.float64).dtype == np.float64
    joined = tg.tensor([tg.tensor(1.0), tg.tensor(2.0)])
    assert joined.dtype == np.float32 and joined.shape == (2,)
    for bad in (None, "abc", [[1.0], [1.0, 2.0]], {"a": 1}):
        with pytest.raises(TypeError, match=r"tensor: expected numbers"):
            tg.tensor(bad)


def test_truth_value():
    """The truth value of a tensor, as in PyTorch."""
    assert not tg.tensor([0.0]) and tg.tensor(2.0) and float(tg.tensor([[2.5]])) == 2.5
    with pytest.raises(ValueError, match=r"bool: the truth value of a tensor of shape \(2,\) \(2 elements\) "
                                         r"is ambiguous"):
        bool(tg.tensor([0.0, 0.0]))


def test_indexing():
    x = tg.Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    assert x.T.shape == (3, 2) and x[1].shape == (3,) and x[:, 1:].shape == (2, 2)
    assert x[1, 2].item() == 5.0 and x.numpy() is x.data
    assert x.transpose(0, 1).shape == (3, 2) and x.permute(1, 0).shape == (3, 2)
    out = (2.0 - x) / 2 + 1 / (x + 1) - (-x) ** 2
    assert out.shape == (2, 3)


# ---- reductions, split, and PyTorch's words ------------------------------------------------------------------

def test_reduce_axis_list():
    x = tg.tensor(np.arange(24.0).reshape(2, 3, 4))
    for reduce in ("sum", "mean", "max"):
        np.testing.assert_array_equal(getattr(x, reduce)(axis=[0, 2]).data, getattr(x.data, reduce)(axis=(0, 2)))


def test_split_sizes():
    """split refuses negative sizes and keeps an empty piece."""
    with pytest.raises(ValueError, match=r"split: expected sizes of at least 0 that add up to the length 3 of "
                                         r"axis 0, got \[4, -1\]"):
        tg.arange(3.0).split([4, -1])
    assert [p.shape for p in tg.zeros(0, 2).split(1)] == [(0, 2)]  # as torch.split: one empty piece


def test_dim_keepdim():
    """PyTorch's dim and keepdim mean what axis and keepdims mean."""
    x = tg.Tensor(np.random.default_rng(0).standard_normal((2, 3, 4)))
    for name in ("sum", "mean"):
        np.testing.assert_array_equal(getattr(x, name)(dim=1, keepdim=True).data,
                                      getattr(x, name)(axis=1, keepdims=True).data)
        np.testing.assert_array_equal(getattr(x, name)(dim=[0, 2]).data, getattr(x.data, name)(axis=(0, 2)))
    for name in ("softmax", "log_softmax"):
        np.testing.assert_array_equal(getattr(x, name)(dim=0).data, getattr(x, name)(axis=0).data)
        np.testing.assert_array_equal(getattr(x, name)().data, getattr(x, name)(axis=-1).data)
    for ours, theirs in zip(x.split(2, dim=2), np.split(x.data, 2, axis=2)):
        np.testing.assert_array_equal(ours.data, theirs)
    for ours, theirs in zip(x.chunk(3, dim=-2), np.split(x.data, 3, axis=1)):
        np.testing.assert_array_equal(ours.data, theirs)
    np.testing.assert_array_equal(tg.cat([x, 2 * x], dim=1).data, np.concatenate([x.data, 2 * x.data], axis=1))
    np.testing.assert_array_equal(tg.stack([x, 2 * x], dim=-1).data, np.stack([x.data, 2 * x.data], axis=-1))
    assert tg.cat([x, x]).shape == (4, 3, 4) and tg.stack([x, x]).shape == (2, 2, 3, 4)


def test_axis_and_dim():
    """Giving both the numpy and the PyTorch word is refused."""
    x = tg.Tensor(np.ones((2, 3)))
    with pytest.raises(TypeError, match=r"sum: got both axis=0 and dim=1"):
        x.sum(axis=0, dim=1)
    with pytest.raises(TypeError, match=r"mean: got both keepdims=True and keepdim=False"):
        x.mean(keepdims=True, keepdim=False)
    with pytest.raises(TypeError, match=r"cat: got both axis=0 and dim=0"):
        tg.cat([x, x], 0, dim=0)
    with pytest.raises(TypeError, match=r"max: dim must be one integer"):
        x.max(dim=(0, 1))
    with pytest.raises(ValueError, match=r"max: axis 2 is out of range for a tensor of shape \(2, 3\)"):
        x.max(dim=2)


# ---- max -----------------------------------------------------------------------------------------------------

def test_max_dim():
    """max(dim=) answers values and indices, as torch.max."""
    data = np.array([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]])
    x = leaf(data)
    values, indices = x.max(dim=1)
    np.testing.assert_array_equal(values.data, [5.0, 7.0])
    np.testing.assert_array_equal(indices.data, [1, 0])
    assert not indices.requires_grad and indices.data.dtype.kind == "i"
    values.sum().backward()  # the values carry the gradient, to the largest element of each row
    np.testing.assert_array_equal(x.grad, [[0, 1, 0], [1, 0, 0]])
    kept = x.max(dim=0, keepdim=True)
    assert kept.values.shape == (1, 3) and kept.indices.shape == (1, 3)
    np.testing.assert_array_equal(x.max(axis=1).data, [5.0, 7.0])  # numpy's word: the values alone


def test_max_dim_ties():
    """torch.max(dim) reports one index per row and its backward goes to that element alone (amax would share
    it among ties); numpy's `axis` keeps sharing, as before."""
    data = np.array([[1.0, 5.0, 5.0], [7.0, 0.0, 7.0]])
    x = leaf(data)
    values, indices = x.max(dim=-1, keepdim=True)
    np.testing.assert_array_equal(values.data, [[5.0], [7.0]])
    np.testing.assert_array_equal(indices.data, [[1], [0]])
    (values * tg.Tensor(np.array([[2.0], [3.0]]))).sum().backward()
    np.testing.assert_array_equal(x.grad, [[0, 2, 0], [3, 0, 0]])
    shared = leaf(data)
    shared.max(axis=1).sum().backward()
    np.testing.assert_array_equal(shared.grad, [[0, 0.5, 0.5], [0.5, 0, 0.5]])


# ---- errors --------------------------------------------------------------------------------------------------

def test_bad_inputs():
    x = tg.randn(2, 3)
    with pytest.raises(TypeError, match="cat: expected a Tensor at position 1, got ndarray"):
        tg.cat([x, np.ones((2, 3))])
    with pytest.raises(ValueError, match="stack: expected a non-empty"):
        tg.stack([])
    with pytest.raises(ValueError, match=r"transpose: axis 5 is out of range for a tensor of shape \(2, 3\)"):
        x.transpose(0, 5)
    with pytest.raises(ValueError, match="split: axis 2 is out of range"):
        x.split(1, axis=2)
    with pytest.raises(ValueError, match="chunk: chunks must be a positive integer"):
        x.chunk(0)
    with pytest.raises(TypeError, match="len.. of a 0-d tensor"):
        len(x.sum())
    from tinygrad_rnn.scalar import Value

    with pytest.raises(TypeError, match="other operand, got Value"):
        x + Value(1.0)
    with pytest.raises(TypeError, match="where: condition must be a boolean"):
        tg.where(None, x, x)
