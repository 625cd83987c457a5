"""tinygrad-rnn: a small autograd framework for seeing how recurrent networks learn.

`import tinygrad_rnn` loads only the engine; `tinygrad_rnn.nn`, `.optim`, `.analysis`, `.viz` and `save`/`load`
are imported on first use, so the import stays fast and never pulls in graphviz or matplotlib.
"""

from importlib import import_module
from typing import Any

from .errors import GraphError, OpError
from .function import OPS, Function, get_op, register
from .gradcheck import GradcheckError, gradcheck
from .graph import toposort
from .mode import detect_anomaly, enable_grad, is_anomaly_enabled, is_grad_enabled, keep_values, no_grad, scope
from .tensor import Tensor, addmm, arange, cat, ones, randn, stack, tensor, where, zeros
from .versions import mark_modified

__version__ = "0.1.0"

_SUBMODULES = ("analysis", "nn", "optim", "viz")
_FROM_SERIALIZATION = ("load", "save")

__all__ = [
    "OPS", "Function", "GradcheckError", "GraphError", "OpError", "Tensor", "addmm", "arange", "cat",
    "detect_anomaly", "enable_grad", "get_op", "gradcheck", "is_anomaly_enabled", "is_grad_enabled", "keep_values",
    "load", "mark_modified", "nn", "no_grad", "ones", "optim", "randn", "register", "save", "scope", "stack",
    "tensor", "toposort", "where", "zeros",
]


def __getattr__(name: str) -> Any:
    """Import a submodule (or save/load) the first time it is asked for."""
    if name in _SUBMODULES:
        return import_module(f".{name}", __name__)
    if name in _FROM_SERIALIZATION:
        return getattr(import_module(".serialization", __name__), name)
    raise AttributeError(f"module 'tinygrad_rnn' has no attribute {name!r}")
