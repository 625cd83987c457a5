"""The primitive ops. Each is a registered Function: forward, backward (written once, for arrays and for a
recorded backward alike, see function.py) and jvp, with its math in its docstring.

Importing this package registers them all: elementwise math, matmul, reductions and the softmax family, and
shape ops (with scatter, getitem's gradient as an op). Binary ops return gradients in the output's shape; the
engine (graph.backward) undoes broadcasting. Each op's `sample` gives small float64 cases that the test suite
checks: gradcheck, the second order, and forward mode against the backward.
"""

from ..errors import OpError
from ..function import OPS, Function, get_op, register
from .elementwise import BROADCAST, Abs, Add, Div, Exp, Lerp, Log, Mul, Neg, Pow, ReLU, Sigmoid, Sub, Tanh, Where
from .linalg import AddMM, MatMul
from .reduce import LogSoftmax, Max, Mean, Softmax, Sum
from .shape import Concatenate, Expand, GetItem, Permute, Reshape, Scatter, Stack

__all__ = [
    "BROADCAST", "OPS", "Abs", "Add", "AddMM", "Concatenate", "Div", "Exp", "Expand", "Function", "GetItem", "Lerp",
    "Log", "LogSoftmax", "Max", "MatMul", "Mean", "Mul", "Neg", "OpError", "Permute", "Pow", "ReLU", "Reshape",
    "Scatter", "Sigmoid", "Softmax", "Stack", "Sub", "Sum", "Tanh", "Where", "get_op", "register",
]
