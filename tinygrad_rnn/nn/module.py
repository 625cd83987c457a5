"""Module and Parameter: a tree of layers whose trainable tensors are found, named, saved and loaded.

As in PyTorch, assigning a `Parameter` or a `Module` to an attribute registers it, so `named_parameters()`
yields dotted names (`encoder.weight_ih_l0`) in the order they were assigned.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from numbers import Integral
from typing import Any, NamedTuple

import numpy as np

from ..tensor import DEFAULT_DTYPE, Tensor


class Parameter(Tensor):
    """A tensor a Module trains: a leaf that requires grad (floating point only)."""

    __slots__ = ()

    def __init__(self, data: Any, requires_grad: bool = True, dtype: Any = None) -> None:
        super().__init__(data, requires_grad=False, dtype=dtype)
        if self.data.dtype.kind != "f":
            raise TypeError(f"Parameter: expected floating-point data, got dtype {self.data.dtype}")
        self.requires_grad = requires_grad

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class IncompatibleKeys(NamedTuple):
    """What `load_state_dict(strict=False)` skipped: keys the module wanted but did not get, and extra keys."""

    missing_keys: list[str]
    unexpected_keys: list[str]


def resolve_dtype(dtype: Any) -> np.dtype:
    """A floating numpy dtype for parameters (float32 when None)."""
    resolved = DEFAULT_DTYPE if dtype is None else np.dtype(dtype)
    if resolved.kind != "f":
        raise TypeError(f"dtype: parameters must be floating point (e.g. np.float32, np.float64), got {resolved}")
    return resolved


def check_size(layer: str, name: str, size: Any, minimum: int = 0) -> int:
    """`size` (a layer's constructor argument, e.g. in_features) as an int, or an error naming the layer."""
    if isinstance(size, bool) or not isinstance(size, Integral) or size < minimum:
        wanted = "a positive integer" if minimum == 1 else f"an integer of at least {minimum}"
        raise ValueError(f"{layer}: {name} must be {wanted}, got {size!r}")
    return int(size)


class Module:
    """Base class of every layer: holds Parameters and sub-Modules, and calls `forward` when called."""

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "training", True)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Compute the layer's output (subclasses define it)."""
        raise NotImplementedError(f"{type(self).__name__}: forward is not defined")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # ---- registration --------------------------------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}: call super().__init__() before assigning attributes")
        parameters, modules = self._parameters, self._modules
        if isinstance(value, Parameter):
            self.__dict__.pop(name, None)
            modules.pop(name, None)
            parameters[name] = value
        elif isinstance(value, Module):
            self.__dict__.pop(name, None)
            parameters.pop(name, None)
            modules[name] = value
        elif name in parameters:
            if value is not None:
                raise TypeError(f"{type(self).__name__}: cannot assign {type(value).__name__} to parameter "
                                f"'{name}' (expected a Parameter or None)")
            parameters[name] = None
        elif name in modules:
            if value is not None:
                raise TypeError(f"{type(self).__name__}: cannot assign {type(value).__name__} to sub-module "
                                f"'{name}' (expected a Module or None)")
            modules[name] = None
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        # only called when normal lookup fails: parameters and sub-modules live in their own dicts
        namespace = self.__dict__
        if "_parameters" in namespace and name in namespace["_parameters"]:
            return namespace["_parameters"][name]
        if "_modules" in namespace and name in namespace["_modules"]:
            return namespace["_modules"][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        if name in self._parameters:
            del self._parameters[name]
        elif name in self._modules:
            del self._modules[name]
        else:
            object.__delattr__(self, name)

    def register_parameter(self, name: str, parameter: Parameter | None) -> None:
        """Add a parameter (or None, a declared but absent one such as `bias=False`) under `name`."""
        if parameter is not None and not isinstance(parameter, Parameter):
            raise TypeError(f"register_parameter('{name}'): expected a Parameter or None, got "
                            f"{type(parameter).__name__}")
        self.__dict__.pop(name, None)
        self._parameters[name] = parameter

    def add_module(self, name: str, module: Module | None) -> None:
        """Add a sub-module under `name`."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module('{name}'): expected a Module or None, got {type(module).__name__}")
        self.__dict__.pop(name, None)
        self._modules[name] = module

    # ---- traversal -----------------------------------------------------------------------------------------
    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, parameter) pairs in registration order, each parameter once even when shared (under
        every name it has with `remove_duplicate=False`, as `state_dict` lists it)."""
        seen: set[int] = set()
        modules = self.named_modules(prefix, remove_duplicate) if recurse else iter([(prefix, self)])
        for module_prefix, module in modules:
            for name, parameter in module._parameters.items():
                if parameter is None or (remove_duplicate and id(parameter) in seen):
                    continue
                seen.add(id(parameter))
                yield (f"{module_prefix}.{name}" if module_prefix else name), parameter

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """Every parameter (each once), in registration order."""
        for _, parameter in self.named_parameters(recurse=recurse):
            yield parameter

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """(name, module) for each direct sub-module."""
        for name, module in self._modules.items():
            if module is not None:
                yield name, module

    def children(self) -> Iterator[Module]:
        """Each direct sub-module."""
        for _, module in self.named_children():
            yield module

    def named_modules(self, prefix: str = "", remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        """(dotted name, module) for this module and every descendant, parents first, each once (or under every
        name it has with `remove_duplicate=False`)."""
        seen: set[int] = set()
        stack: list[tuple[str, Module]] = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if remove_duplicate and id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            children = [(f"{name}.{child_name}" if name else child_name, child)
                        for child_name, child in module.named_children()]
            stack.extend(reversed(children))

    def modules(self) -> Iterator[Module]:
        """This module and every descendant."""
        for _, module in self.named_modules():
            yield module

    # ---- modes, gradients, dtype ---------------------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Set training mode (Dropout active) on this module and its descendants."""
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self) -> Module:
        """Set evaluation mode (Dropout off); same as `train(False)`."""
        return self.train(False)

    def zero_grad(self) -> None:
        """Forget every parameter's gradient (set to None, as PyTorch does by default)."""
        for parameter in self.parameters():
            parameter.grad = None

    def to(self, dtype: Any) -> Module:
        """Convert every parameter (and its gradient) to a floating `dtype`, in place; returns self."""
        dtype = resolve_dtype(dtype)
        for parameter in self.parameters():
            parameter.data = parameter.data.astype(dtype, copy=False)
            if parameter.grad is not None:
                parameter.grad = parameter.grad.astype(dtype, copy=False)
        return self

    def double(self) -> Module:
        """Convert every parameter to float64."""
        return self.to(np.float64)

    def float(self) -> Module:
        """Convert every parameter to float32."""
        return self.to(np.float32)

    # ---- state ---------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """{dotted name: copy of the parameter's array}, in registration order; a shared (tied) parameter appears
        under each of its names, as in PyTorch, so the keys match a PyTorch model's."""
        return {name: parameter.data.copy() for name, parameter in self.named_parameters(remove_duplicate=False)}

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Copy arrays (or Tensors) from `state_dict` into the parameters, cast to each parameter's dtype.

        Shape mismatches always raise; with `strict`, missing or unexpected keys raise too, all listed in one
        error. Nothing is changed unless everything checks out. Returns the missing and unexpected keys.
        """
        own = dict(self.named_parameters(remove_duplicate=False))
        missing = [name for name in own if name not in state_dict]
        unexpected = [name for name in state_dict if name not in own]
        problems: list[str] = []
        if strict and missing:
            problems.append(f"missing key(s): {', '.join(repr(name) for name in missing)}")
        if strict and unexpected:
            problems.append(f"unexpected key(s): {', '.join(repr(name) for name in unexpected)}")
        values: dict[str, np.ndarray] = {}
        for name, parameter in own.items():
            if name not in state_dict:
                continue
            value = state_dict[name]
            array = np.asarray(value.data if isinstance(value, Tensor) else value)
            if array.dtype.kind not in "fiub":
                problems.append(f"'{name}': expected numbers, got an array of dtype {array.dtype}")
            elif array.shape != parameter.shape:
                problems.append(f"size mismatch for '{name}': the checkpoint has shape {array.shape}, "
                                f"this module's parameter has shape {parameter.shape}")
            else:
                values[name] = array
        if problems:
            details = "".join(f"\n    {problem}" for problem in problems)
            raise RuntimeError(f"load_state_dict: error(s) loading state_dict into {type(self).__name__}:{details}")
        for name, array in values.items():
            parameter = own[name]
            parameter.data = np.array(array, dtype=parameter.data.dtype)
        return IncompatibleKeys(missing, unexpected)

    # ---- printing ------------------------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The constructor arguments shown inside the parentheses of `repr` (subclasses define it)."""
        return ""

    def __repr__(self) -> str:
        lines = []
        for name, module in self._modules.items():
            child = repr(module).replace("\n", "\n  ")
            lines.append(f"  ({name}): {child}")
        extra = self.extra_repr()
        if not lines:
            return f"{type(self).__name__}({extra})"
        head = f"{type(self).__name__}({extra}" if extra else f"{type(self).__name__}("
        return head + "\n" + "\n".join(lines) + "\n)"
