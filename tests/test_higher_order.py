"""Higher-order gradients (higher_order.py): create_graph and tg.grad; every registered op's backward differentiated
again (gradgradcheck from its registry sample); Hessian-vector products, gradient penalties, the scalar engine."""

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import OPS, Function, register
from tinygrad_rnn.scalar import Value


def leaf(values):
    return tg.Tensor(np.asarray(values, dtype=np.float64), requires_grad=True)


def numeric_gradient(objective, array, eps=1e-6):
    """Central differences of objective() with respect to `array`, perturbed in place."""
    gradient = np.zeros_like(array)
    flat, out = array.reshape(-1), gradient.reshape(-1)
    for i in range(flat.size):
        original = flat[i]
        flat[i] = original + eps
        plus = objective()
        flat[i] = original - eps
        minus = objective()
        flat[i] = original
        out[i] = (plus - minus) / (2 * eps)
    return gradient


class UserSoftplus(Function):
    """y = log(1 + e^x);  dy/dx = sigmoid(x): a user's op whose backward computes with ctx.xp, so it is recorded"""
    saves = (0,)

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.logaddexp(0, x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad / (1 + ctx.xp.exp(-x))

    @staticmethod
    def jvp(ctx, tangent):
        (x,) = ctx.saved_tensors
        return tangent / (1 + np.exp(-x))


@pytest.fixture(autouse=True, scope="module")
def _register_user_op():
    register("user_softplus", sample=lambda rng: [((rng.standard_normal((3, 4)),), {})])(UserSoftplus)
    yield
    del OPS["user_softplus"]


OP_NAMES = sorted([*OPS, "user_softplus"])
"""Every built-in op and the user's op: a newly registered op is checked here without new test code."""


@pytest.mark.parametrize("name", OP_NAMES)
def test_gradgradcheck(name):
    """Every registered op's backward, recorded with create_graph, matches finite differences of its backward."""
    op = OPS[name]
    assert op.sample is not None, f"op '{name}' registers no sample inputs, so its backward cannot be checked"
    for inputs, attrs in op.sample(np.random.default_rng(0)):
        assert tg.gradgradcheck(lambda *xs, attrs=attrs: op.apply(*xs, **attrs), inputs)


def test_gradgradcheck_catches_bad_saves():
    """A saved input declared a constant loses its part of the second derivative, and the check says so."""
    class BadMul(Function):
        saves = (0, None)
        forward = staticmethod(OPS["mul"].forward)
        backward = staticmethod(OPS["mul"].backward)

    register("bad_mul")(BadMul)
    rng = np.random.default_rng(0)
    with pytest.raises(tg.GradcheckError, match="gradgradcheck: input 1"):
        tg.gradgradcheck(BadMul.apply, [rng.standard_normal((2, 3)), rng.standard_normal((2, 3))])


# ---- the scalar engine: the same ops, the same recorded backward ----------------------------------------------

def test_scalar_tanh_derivatives():
    """d/dx, d2/dx2 and d3/dx3 of tanh on Values equal 1 - t^2, -2t(1 - t^2), -2(1 - t^2)^2 + 4t^2(1 - t^2)."""
    x = Value(0.7)
    x.tanh().backward(create_graph=True)
    first = x.grad
    x.grad = None
    first.backward(create_graph=True)
    second = x.grad
    x.grad = None
    second.backward()
    t = np.tanh(0.7)
    assert isinstance(first, Value) and isinstance(second, Value)
    assert abs(first.data - (1 - t * t)) < 1e-14
    assert abs(second.data - (-2 * t * (1 - t * t))) < 1e-14
    assert abs(x.grad - (-2 * (1 - t * t) ** 2 + 4 * t * t * (1 - t * t))) < 1e-14
    y = Value(0.5)
    (y * y).backward(create_graph=True)
    assert repr(y) == "Value(data=0.5, grad=1)"  # its grad is a Value now


def test_scalar_grad_of_a_product():
    """tg.grad on Values: d/dx (x^2 y) = 2xy, and its derivative in y is 2x."""
    x, y = Value(1.5), Value(-2.0)
    (dx,) = tg.grad(x * x * y, [x], create_graph=True)
    assert dx.data == pytest.approx(2 * 1.5 * -2.0)
    (dxdy,) = tg.grad(dx, [y])
    assert dxdy.data == pytest.approx(3.0) and x.grad is None and y.grad is None


# ---- tg.grad: torch.autograd.grad's semantics -----------------------------------------------------------------

def test_grad_matches_backward():
    rng = np.random.default_rng(0)
    x, w = leaf(rng.standard_normal((3, 4))), leaf(rng.standard_normal((4, 2)))
    loss = ((x @ w).tanh() * tg.tensor(rng.standard_normal((3, 2)), dtype=np.float64)).sum()
    grad_x, grad_w = tg.grad(loss, [x, w], retain_graph=True)
    assert x.grad is None and w.grad is None
    assert isinstance(grad_x, tg.Tensor) and grad_x.grad_fn is None
    loss.backward()
    np.testing.assert_allclose(grad_x.data, x.grad, rtol=1e-14)
    np.testing.assert_allclose(grad_w.data, w.grad, rtol=1e-14)


def test_grad_of_several_outputs():
    """The sum over outputs of grad_output^T d output/d input; an intermediate can be an input."""
    x = leaf([0.5, -1.0, 2.0])
    hidden = x * 3.0
    first, second = hidden.tanh(), (hidden * hidden).sum()
    weights = np.array([1.0, 2.0, -1.0])
    (grad_hidden,) = tg.grad([first, second], hidden, grad_outputs=[weights, None])
    expected = weights * (1 - np.tanh(hidden.data) ** 2) + 2 * hidden.data
    np.testing.assert_allclose(grad_hidden.data, expected, rtol=1e-14)


def test_grad_allow_unused():
    x, unused = leaf([1.0, 2.0]), leaf([3.0])
    loss = (x * x).sum()
    with pytest.raises(tg.GraphError, match="input 1 .* was not used"):
        tg.grad(loss, [x, unused], retain_graph=True)
    grad_x, grad_unused = tg.grad(loss, [x, unused], allow_unused=True)
    assert grad_unused is None
    np.testing.assert_array_equal(grad_x.data, [2.0, 4.0])


def test_grad_runs_only_what_it_needs():
    """A branch that does not lead to the inputs is not visited (here its graph is already freed)."""
    a, c = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    branch = (a * a).sum()
    branch.backward()  # frees the branch's saved arrays
    (grad_c,) = tg.grad(branch + (c * c).sum(), [c])
    np.testing.assert_array_equal(grad_c.data, [6.0, 8.0])


def test_grad_bad_arguments():
    x = leaf([1.0, 2.0])
    out = x * 2.0
    with pytest.raises(tg.GraphError, match="grad_outputs can be left out only for a one-element output"):
        tg.grad(out, [x])
    with pytest.raises(tg.GraphError, match=r"has shape \(3,\) but output 0 has shape \(2,\)"):
        tg.grad(out, [x], grad_outputs=np.ones(3))
    with pytest.raises(tg.GraphError, match="input 0 .* does not require grad"):
        tg.grad(out.sum(), [tg.tensor([1.0])])
    with pytest.raises(tg.GraphError, match="output 0 does not require grad"):
        tg.grad(tg.tensor([1.0]).sum(), [x])
    with pytest.raises(TypeError, match="inputs must be a Tensor"):
        tg.grad(out.sum(), [])


# ---- backward(create_graph=True) -------------------------------------------------------------------------------

def test_create_graph_makes_grad_a_tensor():
    """x.grad is a Tensor with a grad_fn (as in PyTorch), it accumulates, and it can be differentiated again."""
    x = leaf([0.5, -1.5])
    (x ** 3).sum().backward(create_graph=True)
    assert isinstance(x.grad, tg.Tensor) and x.grad.grad_fn is not None
    np.testing.assert_allclose(x.grad.data, 3 * x.data ** 2)
    (x ** 3).sum().backward(create_graph=True)
    np.testing.assert_allclose(x.grad.data, 6 * x.data ** 2)
    (second,) = tg.grad(x.grad.sum(), [x])
    np.testing.assert_allclose(second.data, 12 * x.data)


def test_create_graph_keeps_the_graph():
    x = leaf([0.3])
    y = (x.tanh() * x).sum()
    tg.grad(y, [x], create_graph=True)
    y.backward()  # the saved arrays are still there
    assert x.grad is not None


def test_hooks_see_tensors_under_create_graph():
    """A hook receives the recorded gradient (a Tensor) and may replace it; retain_grad keeps a Tensor too."""
    x = leaf([1.0, 2.0])
    hidden = x * x
    hidden.retain_grad()
    seen = []
    remove = hidden.register_hook(lambda grad: seen.append(grad) or grad * 3.0)
    (hidden * x).sum().backward(create_graph=True)
    assert isinstance(seen[0], tg.Tensor) and isinstance(hidden.grad, tg.Tensor)
    np.testing.assert_allclose(x.grad.data, 3.0 * x.data * 2 * x.data + x.data ** 2)  # the hook's x3 on hidden's path
    remove()  # (kept, it would scale hidden's gradient in this backward too, as in PyTorch)
    (second,) = tg.grad(x.grad.sum(), [x])
    np.testing.assert_allclose(second.data, 14.0 * x.data)


def test_third_derivative():
    x = leaf([0.2, -0.4])
    (first,) = tg.grad(x.sigmoid().sum(), [x], create_graph=True)
    (second,) = tg.grad(first.sum(), [x], create_graph=True)
    (third,) = tg.grad(second.sum(), [x])
    s = 1 / (1 + np.exp(-x.data))
    np.testing.assert_allclose(third.data, s * (1 - s) * (1 - 6 * s + 6 * s * s), rtol=1e-12)


def test_lazy_gradients_are_recorded_as_ops():
    """getitem's IndexedGrad becomes one scatter op and addmm's ProductGrads one matmul: values as first order."""
    rng = np.random.default_rng(1)
    sequence, weight = leaf(rng.standard_normal((4, 2, 3))), leaf(rng.standard_normal((3, 3)))
    hidden = tg.zeros(2, 3, dtype=np.float64)
    for step in range(4):
        hidden = tg.addmm(sequence[step], hidden, weight).tanh()
    loss = (hidden * hidden).sum()
    recorded = tg.grad(loss, [sequence, weight], create_graph=True)
    plain = tg.grad(loss, [sequence, weight])
    assert recorded[0].op == "scatter" and "matmul" in [v.op for v in tg.toposort(recorded[1]) if v.is_context]
    for got, expected in zip(recorded, plain):
        np.testing.assert_allclose(got.data, expected.data, rtol=1e-12)


# ---- what it is for: Hessian-vector products and gradient penalties -------------------------------------------

def test_lstm_hessian_vector_product():
    """H v from differentiating <dL/dtheta, v> equals central differences of dL/dtheta along v, to 1e-6."""
    rng = np.random.default_rng(0)
    tg.manual_seed(0)
    lstm = tg.nn.LSTM(3, 4, dtype=np.float64)
    inputs = tg.tensor(rng.standard_normal((5, 2, 3)), dtype=np.float64)
    projection = tg.tensor(rng.standard_normal((5, 2, 4)), dtype=np.float64)
    parameters = list(lstm.parameters())
    directions = [rng.standard_normal(p.shape) for p in parameters]

    def loss():
        output, _ = lstm(inputs)
        return (output * projection).sum() + (output * output).sum()

    grads = tg.grad(loss(), parameters, create_graph=True)
    along = sum((g * tg.tensor(v)).sum() for g, v in zip(grads, directions))
    hessian_vector = tg.grad(along, parameters)

    def gradient_at(step):
        for p, v in zip(parameters, directions):
            p.data += step * v
        result = [g.data for g in tg.grad(loss(), parameters)]
        for p, v in zip(parameters, directions):
            p.data -= step * v
        return result

    eps = 1e-5
    for got, plus, minus in zip(hessian_vector, gradient_at(eps), gradient_at(-eps)):
        np.testing.assert_allclose(got.data, (plus - minus) / (2 * eps), atol=1e-6)


def _tanh_rnn(weight, inputs, first_hidden):
    hiddens = [first_hidden]
    for x in inputs:
        hiddens.append((hiddens[-1] @ weight + x).tanh())
    return hiddens


def test_pascanu_regulariser():
    """Omega = sum_k (||d_{k+1} dh_{k+1}/dh_k|| / ||d_{k+1}|| - 1)^2 with d_{k+1} = dL/dh_{k+1} held constant
    (Pascanu, Mikolov & Bengio 2013): dOmega/dW from the recorded vector-Jacobian products equals differences."""
    rng = np.random.default_rng(2)
    weight = leaf(rng.standard_normal((3, 3)) * 0.8)
    inputs = [tg.tensor(rng.standard_normal((1, 3)), dtype=np.float64) for _ in range(4)]
    first_hidden = leaf(rng.standard_normal((1, 3)))
    hiddens = _tanh_rnn(weight, inputs, first_hidden)
    loss = (hiddens[-1] * tg.tensor(rng.standard_normal((1, 3)))).sum()
    upstream = [g.data for g in tg.grad(loss, hiddens[1:], retain_graph=True)]

    def omega(hiddens, create_graph):
        total = 0.0
        for k, d in enumerate(upstream):
            (vjp,) = tg.grad(hiddens[k + 1], hiddens[k], grad_outputs=d, create_graph=create_graph)
            total = total + ((vjp * vjp).sum().sqrt() / np.linalg.norm(d) - 1) ** 2
        return total

    omega(hiddens, create_graph=True).backward()
    numeric = numeric_gradient(lambda: omega(_tanh_rnn(weight, inputs, first_hidden), False).item(), weight.data)
    np.testing.assert_allclose(weight.grad.data, numeric, atol=1e-7)


def test_grad_of_the_h0_gradient_norm():
    """d/dW ||dL/dh_0|| through the recorded backward equals central differences."""
    rng = np.random.default_rng(3)
    weight = leaf(rng.standard_normal((3, 3)))
    inputs = [tg.tensor(rng.standard_normal((2, 3)), dtype=np.float64) for _ in range(5)]
    first_hidden = leaf(rng.standard_normal((2, 3)))
    projection = tg.tensor(rng.standard_normal((2, 3)), dtype=np.float64)

    def norm(create_graph):
        loss = (_tanh_rnn(weight, inputs, first_hidden)[-1] * projection).sum()
        (grad_h0,) = tg.grad(loss, [first_hidden], create_graph=create_graph)
        return (grad_h0 * grad_h0).sum().sqrt()

    norm(True).backward()
    numeric = numeric_gradient(lambda: norm(False).item(), weight.data)
    np.testing.assert_allclose(weight.grad.data, numeric, atol=1e-7)


# ---- bad input gets a clear error ---------------------------------------------------------------------------

def test_create_graph_under_no_grad_refused():
    x = leaf([1.0, 2.0])
    loss = (x * x).sum()
    with tg.no_grad():
        with pytest.raises(tg.GraphError, match=r"create_graph=True .* grad recording is off .*no_grad"):
            loss.backward(create_graph=True)
        with pytest.raises(tg.GraphError, match="create_graph=True"):
            tg.grad(loss, [x], create_graph=True)


def test_second_backward_of_a_freed_graph():
    """The recorded gradient reaches back through the first graph; once that is freed, the error names the op."""
    x = leaf([0.4, 0.9])
    y = (x.tanh() * 2.0).sum()
    (grad_x,) = tg.grad(y, [x], create_graph=True)
    y.backward()  # retain_graph=False: frees the first graph's saved arrays
    with pytest.raises(tg.GraphError, match="through op 'tanh' .* already freed"):
        grad_x.sum().backward()


def test_op_without_saves_is_refused():
    """An op that does not declare `saves` cannot be recorded under create_graph, but runs first order."""
    class Undeclared(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, grad):
            return 2 * grad * ctx.saved_tensors[0]

    register("undeclared")(Undeclared)
    x = leaf([1.0, 2.0])
    loss = Undeclared.apply(x).sum()
    with pytest.raises(tg.GraphError, match="op 'undeclared': .* saved 1 value.* declares none; set `saves`"):
        tg.grad(loss, [x], create_graph=True)
    np.testing.assert_array_equal(tg.grad(loss, [x])[0].data, [2.0, 4.0])  # first order needs no declaration


def test_in_place_in_recorded_backward():
    """`local *= grad` (tanh's and sigmoid's backward) makes a new node under create_graph; outside one, an op's
    output still refuses in-place changes."""
    x = leaf([0.3, -0.8])
    (slope,) = tg.grad(x.sigmoid().sum(), [x], create_graph=True)
    assert [v.op for v in tg.toposort(slope) if v.is_context][-1] == "mul"
    with pytest.raises(tg.GraphError, match=r"\*=: this tensor was made by op 'mul'"):
        slope *= 2.0


def test_numpy_backward_is_refused():
    """An op whose backward computes with numpy cannot be recorded under create_graph."""
    class NumpyBackward(Function):
        saves = (0,)

        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return np.exp(x)

        @staticmethod
        def backward(ctx, grad):
            return grad * np.exp(ctx.saved_tensors[0])

    register("numpy_backward")(NumpyBackward)
    x = leaf([0.5])
    with pytest.raises(tg.GraphError, match="op 'numpy_backward': its backward failed on graph nodes.*ctx.xp"):
        tg.grad(NumpyBackward.apply(x).sum(), [x], create_graph=True)
