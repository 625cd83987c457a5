"""tinygrad-rnn: a small autograd framework for seeing how recurrent networks learn.

`import tinygrad_rnn` loads only the engine, and asks malloc to keep freed memory for the next training step
(`allocator`); `tinygrad_rnn.nn`, `.optim`, `.analysis`, `.viz`, `save`/`load` and `manual_seed` are imported on
first use, so the import stays fast and never pulls in graphviz or matplotlib.
"""

from importlib import import_module
from typing import Any

from . import allocator  # noqa: F401  (on import: malloc keeps freed memory for the next step; see its docstring)
from .errors import GraphError, OpError
from .factories import addmm, arange, cat, ones, ones_like, randn, randn_like, stack, tensor, where, zeros, zeros_like
from .forward_mode import forward_mode, jvp
from .function import OPS, Function, get_op, register
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from .graph import toposort
from .higher_order import grad
from .mode import detect_anomaly, enable_grad, is_anomaly_enabled, is_grad_enabled, keep_values, no_grad, scope
from .tensor import Size, Tensor
from .versions import mark_modified

__version__ = "0.1.0"

_SUBMODULES = ("analysis", "nn", "optim", "viz")
_FROM_SERIALIZATION = ("load", "save")
_FROM_NN_RANDOM = ("manual_seed",)  # the generator lives with the layers it initialises

__all__ = [
    "OPS", "Function", "GradcheckError", "GraphError", "OpError", "Size", "Tensor", "addmm", "arange", "cat",
    "detect_anomaly", "enable_grad", "forward_mode", "get_op", "grad", "gradcheck", "gradgradcheck",
    "is_anomaly_enabled", "is_grad_enabled", "jvp", "keep_values", "load", "manual_seed", "mark_modified", "nn",
    "no_grad", "ones", "ones_like", "optim", "randn", "randn_like", "register", "save", "scope", "stack", "tensor",
    "toposort", "where", "zeros", "zeros_like",
]


def __getattr__(name: str) -> Any:
    """Import a submodule (or save/load) the first time it is asked for."""
    if name in _SUBMODULES:
        return import_module(f".{name}", __name__)
    if name in _FROM_SERIALIZATION:
        return getattr(import_module(".serialization", __name__), name)
    if name in _FROM_NN_RANDOM:
        return getattr(import_module(".nn.random", __name__), name)
    raise AttributeError(f"module 'tinygrad_rnn' has no attribute {name!r}")
