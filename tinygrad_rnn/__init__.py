"""tinygrad-rnn: a small autograd framework for seeing how recurrent networks learn."""

from . import nn, optim
from .function import OPS, Function, OpError, get_op, register
from .gradcheck import GradcheckError, gradcheck
from .graph import GraphError, detect_anomaly, enable_grad, is_grad_enabled, no_grad, scope, toposort
from .serialization import load, save
from .tensor import Tensor, arange, cat, ones, randn, stack, tensor, where, zeros

__version__ = "0.1.0"

__all__ = [
    "OPS", "Function", "GradcheckError", "GraphError", "OpError", "Tensor", "arange", "cat", "detect_anomaly",
    "enable_grad", "get_op", "gradcheck", "is_grad_enabled", "load", "nn", "no_grad", "ones", "optim", "randn",
    "register", "save", "scope", "stack", "tensor", "toposort", "where", "zeros",
]
