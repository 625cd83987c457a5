"""Function and the op registry (function.py): register, get_op, apply, and the errors a user's op gets."""

import numpy as np
import pytest

import tinygrad_rnn as tg


def leaf(values, dtype=np.float64):
    return tg.Tensor(np.asarray(values, dtype=dtype), requires_grad=True)


# ---- the registry --------------------------------------------------------------------------------------------

def test_unknown_op():
    """An unknown op's name gets the list of known ones."""
    with pytest.raises(KeyError, match="unknown op 'softmaxx'.*softmax"):
        tg.get_op("softmaxx")


def test_register_twice():
    with pytest.raises(ValueError, match="already registered"):
        tg.register("add")(type("Again", (tg.Function,), {}))
    with pytest.raises(ValueError, match=r"register\('my_mul'\): Mul is already registered as 'mul'"):
        tg.register("my_mul")(tg.get_op("mul"))
    assert tg.get_op("mul").name == "mul" and "my_mul" not in tg.OPS
    with pytest.raises(TypeError, match=r"register: an op's name must be a non-empty string, got 3"):
        tg.register(3)


# ---- apply: bad input to an op -------------------------------------------------------------------------------

def test_matmul_shape_error():
    """A matmul shape mismatch names the op and both shapes."""
    with pytest.raises(tg.OpError, match=r"'matmul'.*\(3, 4\) and \(5, 2\).*inner dimensions"):
        tg.randn(3, 4) @ tg.randn(5, 2)


def test_broadcast_error():
    """A broadcast mismatch names the op and both shapes."""
    with pytest.raises(tg.OpError, match=r"'add'.*\(3, 4\) and \(5,\).*broadcast"):
        tg.randn(3, 4) + tg.randn(5)


def test_apply_non_tensor():
    x = tg.randn(2, 3)
    with pytest.raises(TypeError, match="op 'add': inputs must be Tensors"):
        tg.get_op("add").apply(x, np.ones(3))


# ---- a user op's forward -------------------------------------------------------------------------------------

@pytest.mark.parametrize("requires_grad", [True, False])
@pytest.mark.parametrize("returned", [[1.0, 2.0], None, 3.0])
def test_forward_no_array(requires_grad, returned):
    """A user forward that returns no array is refused, naming the op."""
    name = f"returns_{type(returned).__name__}_{requires_grad}"

    @tg.register(name)
    class ReturnsNoArray(tg.Function):
        @staticmethod
        def forward(ctx, x):
            return returned

        @staticmethod
        def backward(ctx, grad):
            return grad

    x = tg.Tensor(np.array([1.0, 2.0]), requires_grad=requires_grad)
    with pytest.raises(tg.OpError, match=rf"op '{name}': forward returned a {type(returned).__name__}; expected a "
                                         "numpy array"):
        ReturnsNoArray.apply(x)


@pytest.mark.parametrize("requires_grad", [True, False])
@pytest.mark.parametrize("kind, make", [("scalar", lambda x: x.sum()), ("0_d", lambda x: np.asarray(x.sum())),
                                        ("array", lambda x: np.float32(2.0) * x)])
def test_forward_numpy_scalar(requires_grad, kind, make):
    """A user forward may return numpy scalars and 0-d arrays."""
    name = f"returns_numpy_{kind}_{requires_grad}"

    @tg.register(name)
    class ReturnsNumpy(tg.Function):
        @staticmethod
        def forward(ctx, x):
            return make(x)

        @staticmethod
        def backward(ctx, grad):
            return np.ones((2,)) * grad

    out = ReturnsNumpy.apply(tg.Tensor(np.array([1.0, 2.0]), requires_grad=requires_grad))
    assert out.requires_grad == requires_grad and np.shape(out.data) in ((), (2,))


def test_forward_bug_kept():
    """A bug inside a user forward keeps its own error."""

    @tg.register("buggy")
    class Buggy(tg.Function):
        @staticmethod
        def forward(ctx, x):
            return undefined_name * x  # noqa: F821

        @staticmethod
        def backward(ctx, grad):
            return grad

    with pytest.raises(NameError):
        Buggy.apply(leaf([1.0]))


def test_needs_input_grad():
    """A user op may read needs_input_grad in forward, under no_grad too."""

    @tg.register("reads_needs")
    class ReadsNeeds(tg.Function):
        @staticmethod
        def forward(ctx, x, y):
            needs_x, needs_y = ctx.needs_input_grad
            return x + y

        @staticmethod
        def backward(ctx, grad):
            return grad, grad

    with tg.no_grad():
        out = ReadsNeeds.apply(leaf([1.0]), leaf([2.0]))
    assert out.item() == 3.0


# ---- a user op's backward ------------------------------------------------------------------------------------

def test_grad_count_error():
    """A user backward returning the wrong number of gradients is named."""

    @tg.register("bad_count")
    class BadCount(tg.Function):
        @staticmethod
        def forward(ctx, x, y):
            return x + y

        @staticmethod
        def backward(ctx, grad):
            return (grad,)

    out = BadCount.apply(leaf([1.0]), leaf([2.0]))
    with pytest.raises(tg.GraphError, match="'bad_count'.*1 gradient.*2 input"):
        out.sum().backward()


def test_grad_shape_error():
    """A user backward returning the wrong gradient shape is named."""

    @tg.register("bad_shape")
    class BadShape(tg.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            return grad[:1]

    out = BadShape.apply(leaf([1.0, 2.0, 3.0]))
    with pytest.raises(tg.GraphError, match=r"'bad_shape'.*shape \(1,\).*shape \(3,\)"):
        out.sum().backward()


def test_backward_bug_error():
    """A user backward that fails, or returns no array, is named."""

    @tg.register("bad_matmul_test")
    class BadMatMul(tg.Function):
        @staticmethod
        def forward(ctx, x, w):
            ctx.save_for_backward(x, w)
            return x @ w

        @staticmethod
        def backward(ctx, grad):
            x, w = ctx.saved_tensors
            return grad @ w, x.T @ grad  # the first should be grad @ w.T

    out = BadMatMul.apply(leaf(np.ones((2, 3))), leaf(np.ones((3, 4))))
    with pytest.raises(tg.GraphError, match=r"op 'bad_matmul_test': its backward failed for input shapes \(2, 3\) "
                                            r"and \(3, 4\) and an output gradient of shape \(2, 4\) \(ValueError: "):
        out.sum().backward()

    @tg.register("float_grad_test")
    class FloatGrad(tg.Function):
        @staticmethod
        def forward(ctx, x):
            return 2.0 * x

        @staticmethod
        def backward(ctx, grad):
            return 2.0 * float(grad)  # a Python float has no shape: the engine wants an array (np.float64)

    from tinygrad_rnn.scalar import Value

    with pytest.raises(tg.GraphError, match=r"op 'float_grad_test': backward returned a float for input 0; "
                                            r"expected an array \(np.float64 for a Value\) or None"):
        FloatGrad.apply(Value(1.5)).backward()
