"""The ops (ops/): every registered op, built-in or user-added, passes gradcheck in float64; broadcasting is
property-tested; what single ops must get right (stability, repeated indices, infinite gradients)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_rnn as tg
from tinygrad_rnn import OPS, Function, register


def leaf(values, dtype=np.float64):
    return tg.Tensor(np.asarray(values, dtype=dtype), requires_grad=True)


class Softplus(Function):
    """y = log(1 + e^x);  dy/dx = sigmoid(x)  (the README's user-op example)"""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.logaddexp(0, x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad / (1 + np.exp(-x))


@pytest.fixture(autouse=True, scope="module")
def _register_softplus():
    """The user op joins the registry for this module's tests only (registered at import, it would stay in OPS
    for every later test module)."""
    register("softplus", sample=lambda rng: [((rng.standard_normal((3, 4)),), {})])(Softplus)
    yield
    del OPS["softplus"]


OP_NAMES = sorted([*OPS, "softplus"])
"""Every built-in op and the user op: a test fails for an op without sample inputs."""


@pytest.mark.parametrize("name", OP_NAMES)
def test_gradcheck(name):
    """Every registered op passes gradcheck in float64 on its sample inputs."""
    op = OPS[name]
    assert op.sample is not None, f"op '{name}' registers no sample inputs, so it cannot be gradchecked"
    cases = op.sample(np.random.default_rng(0))
    assert cases, f"op '{name}' has an empty sample list"
    for inputs, attrs in cases:
        assert tg.gradcheck(lambda *xs, attrs=attrs: op.apply(*xs, **attrs), inputs)


def _run(op, arrays, attrs, dtype, constant=None, seed=1):
    """Apply `op` to leaves of `dtype` (input `constant` needs no grad), backward a random projection; returns
    the leaves and the gradient each leaf's hook saw (before the leaf's own cast)."""
    leaves = [tg.Tensor(np.asarray(a, dtype=dtype), requires_grad=i != constant) for i, a in enumerate(arrays)]
    seen = {}
    for i, tensor in enumerate(leaves):
        if tensor.requires_grad:
            tensor.register_hook(lambda grad, i=i: seen.__setitem__(i, grad))
    out = op.apply(*leaves, **attrs)
    projection = np.random.default_rng(seed).standard_normal(out.shape).astype(dtype)
    (out * tg.Tensor(projection)).sum().backward()
    return leaves, seen


@pytest.mark.parametrize("name", OP_NAMES)
def test_float32_backward(name):
    """Every op keeps float32 in its backward."""
    for inputs, attrs in OPS[name].sample(np.random.default_rng(0)):
        leaves, seen = _run(OPS[name], inputs, attrs, np.float32)
        assert set(seen) == set(range(len(inputs))), f"op '{name}': some input received no gradient"
        for i, grad in seen.items():
            assert grad.dtype == np.float32, f"op '{name}' sends a {grad.dtype} gradient to float32 input {i}"


@pytest.mark.parametrize("name", OP_NAMES)
def test_constant_inputs(name):
    """Every op gives the same gradients when its other inputs are constants."""
    for inputs, attrs in OPS[name].sample(np.random.default_rng(0)):
        if len(inputs) < 2:
            continue
        _, everything = _run(OPS[name], inputs, attrs, np.float64)
        assert set(everything) == set(range(len(inputs))), f"op '{name}': some input received no gradient"
        for constant in range(len(inputs)):
            _, some = _run(OPS[name], inputs, attrs, np.float64, constant=constant)
            assert set(some) == set(everything) - {constant}
            for i, grad in some.items():
                np.testing.assert_allclose(grad, everything[i], rtol=1e-12, err_msg=f"op '{name}' input {i}")


def test_user_op():
    """A user op is used like a built-in one."""
    x = tg.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    y = Softplus.apply(x)
    assert y.op == "softplus" and "softplus" in OPS
    (y * tg.tensor([1.0, 2.0, 3.0])).sum().backward()
    np.testing.assert_allclose(x.grad, np.array([1, 2, 3]) / (1 + np.exp(-x.data)), rtol=1e-6)


def test_inf_grad_no_nan():
    """relu and pow(0) do not turn an infinite upstream gradient into NaN."""
    x = leaf([-1.0, 4.0])
    with np.errstate(divide="ignore"):
        (x.relu() ** 0.5).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.25])
    y = leaf([0.0, 2.0])
    (y ** 0).sum().backward()
    np.testing.assert_array_equal(y.grad, [0.0, 0.0])


def test_softmax_huge_logits():
    """The softmax family is stable for huge logits."""
    logits = tg.tensor([[1e4, 0.0, -1e4], [5e3, 5e3, 0.0]], requires_grad=True)
    log_probs = logits.log_softmax(axis=-1)
    probs = logits.softmax(axis=-1)
    assert np.all(np.isfinite(log_probs.data)) and np.all(np.isfinite(probs.data))
    np.testing.assert_allclose(probs.data.sum(axis=-1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(log_probs.data[1, :2], np.log(0.5), rtol=1e-6)
    (log_probs.sum() + probs.sum()).backward()
    assert np.all(np.isfinite(logits.grad))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_tails(dtype):
    """sigmoid keeps its tails to the float's precision where they are normal numbers (no rounding to 0 at
    x = -20), goes below the smallest normal float past that, and neither overflows nor warns at any x."""
    x = np.concatenate([np.linspace(-1000, 1000, 4001), [-np.inf, np.inf]]).astype(dtype)
    exact = np.where(x >= 0, 1 / (1 + np.exp(-np.abs(x.astype(np.float64)))),
                     np.exp(-np.abs(x.astype(np.float64))) / (1 + np.exp(-np.abs(x.astype(np.float64)))))
    inputs = leaf(x, dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        out = inputs.sigmoid()
        out.sum().backward()
    assert out.data.dtype == dtype
    info = np.finfo(dtype)
    normal = exact >= info.tiny
    np.testing.assert_allclose(out.data[normal], exact[normal], rtol=4 * info.eps, atol=0)
    assert np.all((out.data[~normal] >= 0) & (out.data[~normal] < info.tiny))
    np.testing.assert_allclose(inputs.grad, out.data * (1 - out.data), rtol=4 * info.eps, atol=0)
    assert np.isnan(leaf([np.nan], dtype).sigmoid().data[0])


def test_getitem_repeats():
    """getitem sums the gradients of repeated indices."""
    x = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x[[0, 2, 2, 2]].sum().backward()
    np.testing.assert_array_equal(x.grad, [1.0, 0.0, 3.0])


def test_split_chunk():
    x = tg.Tensor(np.arange(10.0).reshape(2, 5), requires_grad=True)
    pieces = x.split(2, axis=1)
    assert [p.shape for p in pieces] == [(2, 2), (2, 2), (2, 1)]
    assert [p.shape for p in x.chunk(2, axis=1)] == [(2, 3), (2, 2)]
    weights = [1.0, 10.0, 100.0]
    sum(p.sum() * w for p, w in zip(pieces, weights)).backward()
    np.testing.assert_array_equal(x.grad, [[1, 1, 10, 10, 100]] * 2)


@pytest.mark.parametrize("bias_shape", [(1024,), (32, 1024)])
def test_addmm_transposed_layout(bias_shape):
    """A recurrent step's float32 h @ W^T + c, which addmm computes as (W h^T)^T, has the plain product's values
    and comes out row-major, as every other op's output; the rule picks that layout only where it applies."""
    from tinygrad_rnn.ops.linalg import transposed_product_pays
    rng = np.random.default_rng(0)
    hidden = rng.standard_normal((32, 256)).astype(np.float32)
    weight, c = rng.standard_normal((1024, 256)).astype(np.float32), rng.standard_normal(bias_shape).astype(np.float32)
    assert transposed_product_pays(hidden, weight.T)
    out = tg.addmm(tg.Tensor(c), tg.Tensor(hidden), tg.Tensor(weight).T)
    assert out.dtype == np.float32 and out.data.flags.c_contiguous and out.shape == (32, 1024)
    reference = c.astype(np.float64) + hidden.astype(np.float64) @ weight.T.astype(np.float64)
    np.testing.assert_allclose(out.data, reference, rtol=1e-5, atol=1e-4)
    assert not transposed_product_pays(hidden[:1], weight.T)  # one row: a matrix-vector product
    assert not transposed_product_pays(hidden, np.ascontiguousarray(weight.T))  # not a transposed view
    assert not transposed_product_pays(hidden.astype(np.float64), weight.T.astype(np.float64))  # dgemm: never
    assert not transposed_product_pays(hidden, weight.T.astype(np.float64))  # mixed: a float64 product
    with pytest.raises(tg.OpError, match=r"addmm.*\(3, 1024\) and \(32, 256\) and \(256, 1024\)"):
        tg.addmm(tg.Tensor(np.ones((3, 1024), np.float32)), tg.Tensor(hidden), tg.Tensor(weight).T)


binary_ops = st.sampled_from(["add", "sub", "mul", "div"])


@st.composite
def broadcastable_pair(draw):
    """Two shapes of possibly different ranks that broadcast together, e.g. (3,4)+(4,), (2,1,3)*(4,3)."""
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3))
    return shapes.input_shapes


@settings(max_examples=60, deadline=None)
@given(name=binary_ops, shapes=broadcastable_pair(), seed=st.integers(0, 2**16))
def test_broadcast_binary(name, shapes, seed):
    """Binary ops broadcast shapes of different ranks and match finite differences."""
    rng = np.random.default_rng(seed)
    left = rng.standard_normal(shapes[0])
    right = rng.uniform(0.5, 2.0, shapes[1]) * rng.choice([-1, 1], shapes[1])
    op = OPS[name]
    out = op.apply(tg.Tensor(left), tg.Tensor(right))
    assert out.shape == np.broadcast_shapes(np.shape(left), np.shape(right))
    assert tg.gradcheck(op.apply, [left, right])
