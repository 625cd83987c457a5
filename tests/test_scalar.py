"""The scalar Value engine: micrograd-sized, but the same ops and the same backward as Tensor."""

import math

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn.scalar import Value


def test_micrograd_example():
    a, b = Value(-4.0), Value(2.0)
    c = a + b
    d = a * b + b**3
    c = c + c + 1
    c = c + 1 + c + (-a)
    d = d + d * 2 + (b + a).relu()
    d = d + 3 * d + (b - a).relu()
    e = c - d
    f = e**2
    g = f / 2.0
    g = g + 10.0 / f
    g.backward()
    # micrograd's README numbers (checked there against PyTorch)
    assert math.isclose(g.data, 24.7041, abs_tol=1e-4)
    assert math.isclose(a.grad, 138.8338, abs_tol=1e-4)
    assert math.isclose(b.grad, 645.5773, abs_tol=1e-4)


def test_registry_ops():
    """A Value's ops are the registry's ops, on floats."""
    x = Value(0.3)
    assert (x.tanh()).op == "tanh" and (x * 2).op == "mul" and x.exp().log().op == "log"
    assert isinstance((x * 2).data, float)


def test_shared_core():
    """A Value graph runs through the shared core: the one toposort, the iterative backward."""
    a = Value(2.0)
    b = a * a
    c = b + a
    assert tg.toposort(c) == [a, b.grad_fn, c.grad_fn]  # the one topological sort, as for Tensor
    c.backward()
    assert a.grad == 5.0
    long = a
    for _ in range(100_000):
        long = long * 1.0
    a.grad = None
    long.backward()  # iterative, like Tensor: no RecursionError
    assert a.grad == 1.0


def test_rnn_step():
    """h1 = tanh(W_xh x + W_hh h0 + b), loss = sum(h1 * r): the same gradients one number at a time."""
    rng = np.random.default_rng(3)
    hidden_size, input_size = 3, 2
    w_xh, w_hh = rng.standard_normal((hidden_size, input_size)), rng.standard_normal((hidden_size, hidden_size))
    bias, x, h0, r = (rng.standard_normal(hidden_size), rng.standard_normal(input_size),
                      rng.standard_normal(hidden_size), rng.standard_normal(hidden_size))

    tw_xh, tw_hh, tb, th0 = (tg.Tensor(a, requires_grad=True) for a in (w_xh, w_hh, bias, h0))
    t_loss = ((tw_xh @ tg.Tensor(x) + tw_hh @ th0 + tb).tanh() * tg.Tensor(r)).sum()
    t_loss.backward()

    vw_xh = [[Value(v) for v in row] for row in w_xh]
    vw_hh = [[Value(v) for v in row] for row in w_hh]
    vb, vh0 = [Value(v) for v in bias], [Value(v) for v in h0]
    v_loss = Value(0.0, requires_grad=False)
    for i in range(hidden_size):
        pre = vb[i]
        for j in range(input_size):
            pre = pre + vw_xh[i][j] * x[j]
        for j in range(hidden_size):
            pre = pre + vw_hh[i][j] * vh0[j]
        v_loss = v_loss + pre.tanh() * r[i]
    v_loss.backward()

    assert math.isclose(v_loss.data, t_loss.item(), rel_tol=1e-12)
    np.testing.assert_allclose([[v.grad for v in row] for row in vw_hh], tw_hh.grad, rtol=1e-12)
    np.testing.assert_allclose([[v.grad for v in row] for row in vw_xh], tw_xh.grad, rtol=1e-12)
    np.testing.assert_allclose([v.grad for v in vb], tb.grad, rtol=1e-12)
    np.testing.assert_allclose([v.grad for v in vh0], th0.grad, rtol=1e-12)


def test_input_gradients():
    """What each input of a Value op received (analysis.edges, which the renderer reads)."""
    from tinygrad_rnn.analysis.edges import input_gradients

    a, b = Value(2.0), Value(3.0)
    product = a * b
    product.backward(retain_graph=True, retain_grads=True)
    assert [float(g) for g in input_gradients(product)] == [3.0, 2.0]


def test_value_errors():
    with pytest.raises(TypeError, match=r"Value holds one real number, got ndarray of shape \(3,\)"):
        Value(np.ones(3))
    for not_a_number in (None, "3.5"):  # numpy's float64 would take both (as nan and 3.5)
        with pytest.raises(TypeError, match="Value holds one real number, got"):
            Value(2.0) + not_a_number
