"""gradcheck (gradcheck.py): what it accepts, and that it catches a wrong backward."""

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import Function, register


def test_non_contiguous_no_grad():
    """Non-contiguous inputs are fine, and so is being called under no_grad."""
    matrix = np.arange(6.0).reshape(2, 3).T / 10
    assert tg.gradcheck(lambda x: x.tanh(), [matrix])
    with tg.no_grad():
        assert tg.gradcheck(lambda x: x * x, [np.array([1.0, 2.0])])


@pytest.mark.parametrize("scalar", [np.array(0.3), 0.3, np.float32(0.3), tg.tensor(0.3)],
                         ids=["0-d array", "float", "numpy float32", "0-d tensor"])
def test_scalar_input(scalar):
    """A scalar input stays a scalar (shape ()), whatever kind of number it came as."""
    shapes = []
    assert tg.gradcheck(lambda x: (shapes.append(x.shape), (x * x).tanh())[1], [scalar])
    assert set(shapes) == {()}


def test_catches_wrong_backward():
    @register("bad_square", sample=None)
    class BadSquare(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, grad):
            return grad * ctx.saved_tensors[0]  # missing the factor 2

    with pytest.raises(tg.GradcheckError, match=r"input 0 .* element .* analytic .* numerical"):
        tg.gradcheck(BadSquare.apply, [np.array([1.0, -2.0, 3.0])])


def test_catches_ignored_grad():
    """A backward that ignores its incoming gradient is caught."""
    @register("bad_exp", sample=None)
    class BadExp(Function):
        @staticmethod
        def forward(ctx, x):
            return np.exp(x)

        @staticmethod
        def backward(ctx, grad):
            return None if grad is None else np.exp(np.zeros_like(grad))  # ignores grad and x

    with pytest.raises(tg.GradcheckError):
        tg.gradcheck(BadExp.apply, [np.array([0.0, 0.0])])
