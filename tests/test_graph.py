"""The graph core (graph.py): the classic traps, what the graph keeps and frees, retain_grad, hooks, toposort."""

import weakref

import numpy as np
import pytest

import tinygrad_rnn as tg


def leaf(values, dtype=np.float64):
    return tg.Tensor(np.asarray(values, dtype=dtype), requires_grad=True)


# ---- the classic traps ---------------------------------------------------------------------------------------

def test_reuse():
    a = leaf([3.0])
    (a + a).sum().backward()
    assert a.grad[0] == 2.0


def test_reuse_intermediate():
    """A reused intermediate receives all its gradient before it passes any on."""
    a = leaf([3.0])
    b = a + a
    c = b * b  # dc/da = 2b * 2 = 24
    c.sum().backward()
    assert a.grad[0] == 24.0


def test_diamond():
    a = leaf([2.0])
    left, right = a * 3.0, a.exp()
    (left * right).sum().backward()
    np.testing.assert_allclose(a.grad, [3 * np.exp(2.0) + 6 * np.exp(2.0)])


def test_backward_twice_accumulates():
    a = leaf([1.0, 2.0])
    (a * a).sum().backward()
    (a * a).sum().backward()
    np.testing.assert_array_equal(a.grad, [4.0, 8.0])


def test_shared_weight_sums():
    """A weight used at every step gets the sum over its uses."""
    weight = leaf([[0.5]])
    hidden = tg.Tensor(np.ones((1, 1)))
    for _ in range(4):
        hidden = hidden @ weight
    hidden.sum().backward()  # d(w^4)/dw = 4 w^3
    np.testing.assert_allclose(weight.grad, [[4 * 0.5**3]])


def test_chain_100k():
    """A 100,000-op chain: backward is iterative, no RecursionError."""
    x = leaf([1.0])
    y = x
    for _ in range(100_000):
        y = y * 1.0
    y.sum().backward()
    assert x.grad[0] == 1.0


def test_leaf_grads_independent():
    """Leaf grads are independent arrays."""
    a, b = leaf([1.0]), leaf([2.0])
    (a + b).sum().backward()
    a.grad *= 10  # an optimiser scaling one grad in place must not touch another
    assert b.grad[0] == 1.0


def test_constant_gets_no_grad():
    a = leaf([1.0])
    constant = tg.Tensor(np.array([5.0]))
    (a * constant).sum().backward()
    assert constant.grad is None and a.grad[0] == 5.0


def test_detach():
    a = leaf([2.0])
    (a * a.detach()).sum().backward()
    assert a.grad[0] == 2.0


def test_toposort():
    a = leaf([1.0])
    b = a * 2
    c = b + a
    order = tg.toposort(c)  # the graph's vertices: leaves, and the contexts that stand for op outputs
    assert order == [a, b.grad_fn, c.grad_fn]


# ---- which nodes keep .grad ----------------------------------------------------------------------------------

def test_grad_on_leaves_only():
    """Grad is kept only on leaves and retained nodes."""
    a = leaf([1.0, 2.0])
    hidden = a * 2.0
    kept = hidden.tanh()
    kept.retain_grad()
    kept.sum().backward()
    assert a.grad is not None and kept.grad is not None and hidden.grad is None
    assert kept.grad.shape == kept.shape


def test_retain_grads():
    a = leaf([1.0, 2.0])
    hidden = a * 2.0
    out = hidden.sum()
    out.backward(retain_grads=True)
    np.testing.assert_array_equal(hidden.grad, [1.0, 1.0])
    assert out.grad == 1.0


def test_grad_on_vertex():
    """A non-leaf's grad lives on its vertex (its context)."""
    a = leaf([1.0, 2.0])
    hidden = a * 2.0
    hidden.retain_grad()
    (hidden * hidden).sum().backward()
    np.testing.assert_array_equal(hidden.grad, [4.0, 8.0])
    assert hidden.grad is hidden.grad_fn.grad
    hidden.grad = None
    assert hidden.grad_fn.grad is None


def test_retain_grad_error():
    with pytest.raises(tg.GraphError, match="retain_grad: this value does not require grad"):
        tg.tensor([1.0]).retain_grad()


# ---- what the graph holds, and a second backward -------------------------------------------------------------

def test_outputs_freed():
    """The graph holds what backward reads, not the ops' outputs."""
    x = leaf(np.ones((3, 4)))
    preactivation = x * 2.0  # tanh saves its output, not its input: nothing reads this array in backward
    array = weakref.ref(preactivation.data)
    hidden = preactivation.tanh()
    assert hidden.grad_fn.parents == (preactivation.grad_fn,)  # vertices, not the tensors and their data
    del preactivation
    assert array() is None  # freed: as in PyTorch, only what an op saved outlives the user's reference
    hidden.sum().backward()
    np.testing.assert_allclose(x.grad, 2.0 * (1.0 - np.tanh(2.0) ** 2))


def test_freed_graph_error():
    a = leaf([1.0])
    out = (a * a).sum()
    out.backward()
    with pytest.raises(tg.GraphError, match="freed.*retain_graph=True"):
        out.backward()


def test_retain_graph():
    a = leaf([3.0])
    out = (a * a).sum()
    out.backward(retain_graph=True)
    out.backward()
    assert a.grad[0] == 12.0


def test_failed_backward_clean():
    """A backward that fails half way leaves nothing for the next."""
    x, w = leaf([1.0, 2.0]), leaf([0.0, 1.0])
    with pytest.raises(FloatingPointError), np.errstate(divide="ignore"), tg.detect_anomaly():
        ((w ** 0.5).sum() + (x * 2.0).sum()).backward()
    x.grad = None
    (x * 1.0).sum().backward()
    np.testing.assert_array_equal(x.grad, [1.0, 1.0])


def test_non_scalar_backward():
    """Backward of a non-scalar without grad= is a clear error."""
    a = leaf([1.0, 2.0])
    with pytest.raises(tg.GraphError, match=r"shape \(2,\).*grad="):
        (a * 2).backward()
    (a * 2).backward(np.array([1.0, 0.5]))
    np.testing.assert_array_equal(a.grad, [2.0, 1.0])


# ---- hooks ---------------------------------------------------------------------------------------------------

def test_hooks():
    """Hooks see the gradient, and may replace it."""
    a = leaf([1.0, 2.0])
    hidden = a * 3.0
    seen = []
    hidden.register_hook(lambda grad: seen.append(grad.copy()))
    hidden.register_hook(lambda grad: grad * 0.5)
    hidden.sum().backward()
    np.testing.assert_array_equal(seen[0], [1.0, 1.0])
    np.testing.assert_array_equal(a.grad, [1.5, 1.5])


def test_hook_remove():
    """A removed hook is not called; removing it twice is harmless."""
    a = leaf([1.0])
    calls = []
    remove = a.register_hook(calls.append)
    remove()
    remove()  # as PyTorch's handle.remove(): nothing left to remove
    (a * 2).sum().backward()
    assert calls == [] and a.grad[0] == 2.0


def test_hook_shape_error():
    """A hook returning the wrong shape is named."""
    x = leaf([1.0, 2.0, 3.0])

    def summing_hook(grad):
        return grad.sum()

    x.register_hook(summing_hook)
    with pytest.raises(tg.GraphError, match=r"summing_hook.*shape \(\).*shape \(3,\)"):
        (x * 2.0).sum().backward()
