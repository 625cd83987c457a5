"""Forward mode (forward_mode.py): every registered op has a JVP rule, equal to its VJP transposed; tg.jvp and
forward_mode with stacked directions; the errors."""

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import OPS, Function, register
from tinygrad_rnn.scalar import Value


class UserSoftplus(Function):
    """y = log(1 + e^x);  dy/dx = sigmoid(x), with its own JVP rule"""
    saves = (0,)

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.logaddexp(0, x)

    @staticmethod
    def backward(ctx, grad):
        return grad / (1 + ctx.xp.exp(-ctx.saved_tensors[0]))

    @staticmethod
    def jvp(ctx, tangent):
        return tangent / (1 + np.exp(-ctx.saved_tensors[0]))


@pytest.fixture(autouse=True, scope="module")
def _register_user_op():
    register("jvp_softplus", sample=lambda rng: [((rng.standard_normal((3, 4)),), {})])(UserSoftplus)
    yield
    del OPS["jvp_softplus"]


OP_NAMES = sorted([*OPS, "jvp_softplus"])
"""Every built-in op and the user's op: a newly registered op is checked without new test code."""


def _cases(name):
    op = OPS[name]
    for inputs, attrs in op.sample(np.random.default_rng(0)):
        yield (lambda *xs, attrs=attrs: op.apply(*xs, **attrs)), [np.asarray(x, dtype=np.float64) for x in inputs]


@pytest.mark.parametrize("name", OP_NAMES)
def test_every_op_has_a_jvp(name):
    assert OPS[name].jvp is not Function.jvp, f"op '{name}' has no JVP rule (define jvp beside its backward)"


@pytest.mark.parametrize("name", OP_NAMES)
def test_jvp_is_the_transpose_of_the_vjp(name):
    """<u, J v> = <J^T u, v> for random u, v, in float64 to 1e-10: forward mode agrees with the (gradchecked)
    backward."""
    rng = np.random.default_rng(1)
    for fn, inputs in _cases(name):
        directions = [rng.standard_normal(x.shape) for x in inputs]
        output, forward = tg.jvp(fn, inputs, directions)
        cotangent = rng.standard_normal(output.shape)
        leaves = [tg.Tensor(x, requires_grad=True) for x in inputs]
        backward = tg.grad(fn(*leaves), leaves, grad_outputs=cotangent, allow_unused=True)
        left = np.sum(cotangent * forward.data)
        right = sum(np.sum(g.data * v) for g, v in zip(backward, directions) if g is not None)
        assert abs(left - right) <= 1e-10 * max(1.0, abs(left)), f"op '{name}': <u, Jv> {left} != <J^T u, v> {right}"


@pytest.mark.parametrize("name", OP_NAMES)
def test_stacked_directions_match_single(name):
    """With directions=3 every op carries three tangents at once, each the one a single jvp gives."""
    rng = np.random.default_rng(2)
    for fn, inputs in _cases(name):
        stacks = [rng.standard_normal((3,) + x.shape) for x in inputs]
        with tg.forward_mode(directions=3) as tangents:
            values = [tg.Tensor(x) for x in inputs]
            for value, stack in zip(values, stacks):
                tangents.attach(value, stack)
            carried = tangents.of(fn(*values))
        for k in range(3):
            _, single = tg.jvp(fn, inputs, [stack[k] for stack in stacks])
            np.testing.assert_allclose(carried[k], single.data, rtol=1e-12, atol=1e-14, err_msg=f"op '{name}'")


def test_lstm_cell_jvp_matches_differences():
    """J v of an LSTM cell's (h', c') along random directions of x, h, c equals central differences."""
    rng = np.random.default_rng(3)
    tg.manual_seed(0)
    cell = tg.nn.LSTMCell(3, 4, dtype=np.float64)
    primals = [rng.standard_normal((2, 3)), rng.standard_normal((2, 4)), rng.standard_normal((2, 4))]
    directions = [rng.standard_normal(p.shape) for p in primals]

    def step(x, h, c):
        return cell(x, (h, c))

    _, (tangent_h, tangent_c) = tg.jvp(step, primals, directions)
    eps = 1e-6
    with tg.no_grad():
        plus = step(*[tg.Tensor(p + eps * v) for p, v in zip(primals, directions)])
        minus = step(*[tg.Tensor(p - eps * v) for p, v in zip(primals, directions)])
    for tangent, high, low in zip((tangent_h, tangent_c), plus, minus):
        np.testing.assert_allclose(tangent.data, (high.data - low.data) / (2 * eps), atol=1e-8)


def test_jvp_on_values():
    """The scalar engine runs the same rules: d/dx (x tanh x) = tanh x + x (1 - tanh^2 x)."""
    output, tangent = tg.jvp(lambda x: x * x.tanh(), [Value(0.5)], [np.float64(1.0)])
    t = np.tanh(0.5)
    assert isinstance(tangent, Value) and tangent.data == pytest.approx(t + 0.5 * (1 - t * t), rel=1e-14)
    assert output.data == pytest.approx(0.5 * t)


def test_jvp_under_no_grad_records_nothing():
    with tg.no_grad():
        output, tangent = tg.jvp(lambda x: (x * x).sum(), [np.array([1.0, 2.0])], [np.array([1.0, 0.5])])
    assert output.grad_fn is None and tangent.data == pytest.approx(2 * 1.0 + 4 * 0.5)


def test_tangents_end_with_the_block():
    with tg.forward_mode() as tangents:
        x = tg.tensor([1.0, 2.0], dtype=np.float64)
        tangents.attach(x, np.ones(2))
        y = x.exp()
    np.testing.assert_array_equal(tangents.of(y), np.zeros(2))  # read after the block: no tangent is kept
    z = x.exp()  # outside forward mode ops push nothing
    assert z.grad_fn is None


# ---- bad input gets a clear error ---------------------------------------------------------------------------

def test_tangent_of_wrong_shape_or_dtype():
    primal = np.zeros((2, 3))
    with pytest.raises(ValueError, match=r"jvp: tangent 0: a tangent of shape \(3,\) for a value of shape \(2, 3\)"):
        tg.jvp(lambda x: x.tanh(), [primal], [np.zeros(3)])
    with pytest.raises(TypeError, match="jvp: tangent 0: a tangent of dtype float32 for a value of dtype float64"):
        tg.jvp(lambda x: x.tanh(), [primal], [np.zeros((2, 3), dtype=np.float32)])
    with pytest.raises(ValueError, match="jvp: 1 primals but 2 tangents"):
        tg.jvp(lambda x: x.tanh(), [primal], [np.zeros((2, 3)), np.zeros(1)])
    with tg.forward_mode(directions=4) as tangents:
        with pytest.raises(ValueError, match=r"expected shape \(4, 2, 3\) \(4 directions\)"):
            tangents.attach(tg.Tensor(primal), np.zeros((2, 3)))


def test_op_without_jvp_is_named():
    class NoForward(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            return grad * 2

    register("no_forward")(NoForward)
    with pytest.raises(tg.GraphError, match="forward mode: op 'no_forward' has no JVP rule.* define jvp"):
        tg.jvp(NoForward.apply, [np.ones(2)], [np.ones(2)])
    assert NoForward.apply(tg.tensor([1.0])).item() == 2.0  # outside forward mode it is an ordinary op


def test_jvp_of_wrong_shape_is_named():
    class WrongJvp(Function):
        @staticmethod
        def forward(ctx, x):
            return x.sum(axis=0)

        @staticmethod
        def backward(ctx, grad):
            return grad

        @staticmethod
        def jvp(ctx, tangent):
            return tangent  # not summed

    register("wrong_jvp")(WrongJvp)
    with pytest.raises(tg.GraphError, match=r"op 'wrong_jvp': its jvp returned a tangent of shape \(1, 2, 3\); "
                                            r"expected \(1, 3\)"):
        tg.jvp(WrongJvp.apply, [np.ones((2, 3))], [np.ones((2, 3))])
