"""Learning-rate schedules, as `torch.optim.lr_scheduler`: StepLR, ExponentialLR, CosineAnnealingLR, LambdaLR and
ReduceLROnPlateau.

A scheduler writes `group["lr"]` into each of its optimizer's parameter groups. Call `scheduler.step()` after
`optimizer.step()`, once per epoch (ReduceLROnPlateau: `scheduler.step(validation_loss)`)::

    optimizer = tg.optim.SGD(model.parameters(), lr=0.1)
    scheduler = tg.optim.lr_scheduler.StepLR(optimizer, step_size=30, gamma=0.1)
    for epoch in range(100):
        train(...)
        scheduler.step()

The rules are PyTorch's chainable forms: the new rate is computed from the current `group["lr"]`, so two
schedulers on one optimizer compose, and the sequences equal PyTorch's. `state_dict()` holds only numbers,
strings, None and lists, so `tg.save` writes it into a checkpoint; its keys are PyTorch's, less torch's two
internal flags (`_is_initial`, `_get_lr_called_within_step`), which `load_state_dict` accepts and ignores, so a
state dict moves between the two libraries.
"""

from __future__ import annotations

import math
import types
from collections.abc import Callable, Sequence
from typing import Any

from .optimizer import Optimizer

TORCH_FLAGS = ("_is_initial", "_get_lr_called_within_step")  # torch's bookkeeping, always False between calls
PER_GROUP = ("base_lrs", "_last_lr", "min_lrs")  # lists with one entry per parameter group


def _checked_optimizer(owner: str, optimizer: Any) -> Optimizer:
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"{owner}: expected an Optimizer (such as tinygrad_rnn.optim.SGD) to schedule, got "
                        f"{type(optimizer).__name__}")
    return optimizer


def _integer(minimum: int) -> Callable[[str, str, Any], int]:
    def check(owner: str, name: str, value: Any) -> int:
        if isinstance(value, bool) or not hasattr(value, "__index__") or int(value) < minimum:
            raise ValueError(f"{owner}: {name} must be an integer >= {minimum}, got {value!r}")
        return int(value)
    return check


def _number(test: Callable[[float], bool], expected: str) -> Callable[[str, str, Any], float]:
    def check(owner: str, name: str, value: Any) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
        if isinstance(value, (bool, str)) or not test(number):
            raise ValueError(f"{owner}: {name} must be {expected}, got {value!r}")
        return number
    return check


def _choice(*choices: str) -> Callable[[str, str, Any], str]:
    def check(owner: str, name: str, value: Any) -> str:
        if value not in choices:
            raise ValueError(f"{owner}: unknown {name} {value!r}; expected one of {list(choices)}")
        return value
    return check


_learning_rate = _number(lambda lr: 0 <= lr < math.inf, "a number >= 0")


def _learning_rates(owner: str, name: str, value: Any) -> list[float]:
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"{owner}: {name} must be a list of learning rates, got {type(value).__name__}")
    return [_learning_rate(owner, f"{name}[{index}]", rate) for index, rate in enumerate(value)]


_positive_integer, _count, _epoch = _integer(1), _integer(0), _integer(-1)
_positive = _number(lambda value: 0 < value < math.inf, "a number > 0")
_nonnegative = _number(lambda value: 0 <= value < math.inf, "a number >= 0")


class LRScheduler:
    """The shared part of the epoch-indexed schedules: `step()`, `get_last_lr()`, `last_epoch`, state dicts.

    Making one records each group's starting rate as `group["initial_lr"]` and the scheduler's `base_lrs`, then
    takes the first step (to epoch 0). `last_epoch` other than -1 resumes a schedule and needs the optimizer's
    `initial_lr`s, which its state dict holds.
    """

    # each state-dict entry and its check; a subclass's own arguments come first
    _checks: dict[str, Callable[[str, str, Any], Any]] = {"base_lrs": _learning_rates, "last_epoch": _epoch,
                                                          "_step_count": _count, "_last_lr": _learning_rates}

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        name = type(self).__name__
        self.optimizer = _checked_optimizer(name, optimizer)
        last_epoch = _epoch(name, "last_epoch", last_epoch)
        for number, group in enumerate(optimizer.param_groups):
            if last_epoch == -1:
                group.setdefault("initial_lr", group["lr"])
            elif "initial_lr" not in group:
                raise ValueError(f"{name}: last_epoch={last_epoch} resumes a schedule, which needs 'initial_lr' in "
                                 f"every parameter group, but group {number} has none; load the optimizer's state "
                                 f"dict first, or start a new schedule with last_epoch=-1")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self) -> list[float]:
        """Each group's rate at `last_epoch`, from its current `group["lr"]` (called by `step`)."""
        raise NotImplementedError

    def step(self) -> None:
        """Move to the next epoch and write each group's learning rate."""
        self._check_groups("step")
        self._step_count += 1
        self.last_epoch += 1
        for group, rate in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = rate
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        """The learning rates the last `step()` wrote, one per parameter group."""
        return list(self._last_lr)

    def _set_arguments(self, **arguments: Any) -> None:
        """Check a subclass's own arguments and keep them as attributes (as the state dict names them)."""
        for key, value in arguments.items():
            setattr(self, key, self._checks[key](type(self).__name__, key, value))

    def _check_groups(self, caller: str) -> None:
        if len(self.optimizer.param_groups) != len(self.base_lrs):
            raise ValueError(f"{type(self).__name__}.{caller}: the optimizer has {len(self.optimizer.param_groups)} "
                             f"parameter groups but the scheduler was made for {len(self.base_lrs)}; make the "
                             f"scheduler after adding groups")

    def state_dict(self) -> dict[str, Any]:
        """Everything the schedule needs to resume (PyTorch's entries): arguments, `base_lrs`, `last_epoch`."""
        return {key: list(value) if isinstance(value, list) else value
                for key, value in ((key, getattr(self, key)) for key in self._checks)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a state from `state_dict()` (ours or PyTorch's), checking every entry before changing any."""
        for key, value in self._checked_state(state_dict).items():
            setattr(self, key, value)

    def _checked_state(self, state_dict: Any) -> dict[str, Any]:
        name = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, dict):
            raise ValueError(f"{name}: expected a dict from state_dict(), got {type(state_dict).__name__}")
        missing = sorted(set(self._checks) - set(state_dict))
        unexpected = sorted(set(state_dict) - set(self._checks) - set(TORCH_FLAGS))
        if missing or unexpected:
            raise ValueError(f"{name}: the state dict does not fit a {type(self).__name__}; missing {missing}, "
                             f"unexpected {unexpected}")
        checked = {key: check(name, key, state_dict[key]) for key, check in self._checks.items()}
        groups = len(self.optimizer.param_groups)
        for key in PER_GROUP:
            if key in checked and len(checked[key]) != groups:
                raise ValueError(f"{name}: {key} has {len(checked[key])} entries, but the optimizer has {groups} "
                                 f"parameter groups")
        return checked


class StepLR(LRScheduler):
    """Multiply each group's rate by `gamma` every `step_size` epochs: lr = base_lr * gamma^(epoch // step_size)."""

    _checks = {"step_size": _positive_integer, "gamma": _positive, **LRScheduler._checks}

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1) -> None:
        self._set_arguments(step_size=step_size, gamma=gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        groups = self.optimizer.param_groups
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return [group["lr"] for group in groups]
        return [group["lr"] * self.gamma for group in groups]


class ExponentialLR(LRScheduler):
    """Multiply each group's rate by `gamma` every epoch: lr = base_lr * gamma^epoch."""

    _checks = {"gamma": _positive, **LRScheduler._checks}

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        self._set_arguments(gamma=gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        groups = self.optimizer.param_groups
        if self._is_initial:  # resuming: the loaded rate is already this epoch's
            return [group["lr"] for group in groups]
        return [group["lr"] * self.gamma for group in groups]


class CosineAnnealingLR(LRScheduler):
    """Half a cosine from base_lr down to eta_min over T_max epochs (then back up, periodically):

    lr = eta_min + (base_lr - eta_min) (1 + cos(pi epoch / T_max)) / 2, computed step by step as PyTorch does:
    lr_{t} = eta_min + (lr_{t-1} - eta_min) (1 + cos(pi t / T_max)) / (1 + cos(pi (t - 1) / T_max)).
    """

    _checks = {"T_max": _positive_integer, "eta_min": _nonnegative, **LRScheduler._checks}

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0,  # noqa: N803 (PyTorch's name)
                 last_epoch: int = -1) -> None:
        self._set_arguments(T_max=T_max, eta_min=eta_min)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        groups, epoch, period, low = self.optimizer.param_groups, self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return [group["lr"] for group in groups]
        if self._step_count == 1 and epoch > 0:  # the first step of a resumed schedule: the closed form
            return [low + (base - low) * (1 + math.cos(epoch * math.pi / period)) / 2 for base in self.base_lrs]
        if (epoch - 1 - period) % (2 * period) == 0:  # leaving the trough, where the ratio below is 0 / 0
            return [group["lr"] + (base - low) * (1 - math.cos(math.pi / period)) / 2
                    for base, group in zip(self.base_lrs, groups)]
        return [(1 + math.cos(math.pi * epoch / period)) / (1 + math.cos(math.pi * (epoch - 1) / period))
                * (group["lr"] - low) + low for group in groups]


class LambdaLR(LRScheduler):
    """lr = base_lr * lr_lambda(epoch): one function for every group, or a list with one per group.

    The state dict cannot hold a function: as in PyTorch, it holds None for a function or lambda and the
    attributes (`__dict__`) of a callable object, which `load_state_dict` puts back into the object.
    """

    _checks = {**LRScheduler._checks, "lr_lambdas": lambda owner, name, value: value}  # checked against the lambdas

    def __init__(self, optimizer: Optimizer, lr_lambda: Callable[[int], float] | Sequence[Callable[[int], float]],
                 last_epoch: int = -1) -> None:
        groups = len(_checked_optimizer("LambdaLR", optimizer).param_groups)
        lambdas = list(lr_lambda) if isinstance(lr_lambda, (list, tuple)) else [lr_lambda] * groups
        if len(lambdas) != groups:
            raise ValueError(f"LambdaLR: expected {groups} lr_lambdas (one per parameter group), got {len(lambdas)}")
        for index, function in enumerate(lambdas):
            if not callable(function):
                raise TypeError(f"LambdaLR: lr_lambda {index} should be a function of the epoch, got "
                                f"{type(function).__name__}")
        self.lr_lambdas = lambdas
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        rates = []
        for index, (function, base) in enumerate(zip(self.lr_lambdas, self.base_lrs)):
            returned = function(self.last_epoch)
            try:
                factor = float(returned)
            except (TypeError, ValueError):
                factor = math.nan
            if not 0 <= factor < math.inf:
                raise ValueError(f"LambdaLR: lr_lambda {index} returned {returned!r} at epoch {self.last_epoch}; "
                                 f"expected a finite factor >= 0")
            rates.append(base * factor)
        return rates

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["lr_lambdas"] = [None if isinstance(function, types.FunctionType) else dict(function.__dict__)
                               for function in self.lr_lambdas]
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        checked = self._checked_state(state_dict)
        saved = checked.pop("lr_lambdas")
        name = "LambdaLR.load_state_dict"
        if not isinstance(saved, (list, tuple)) or len(saved) != len(self.lr_lambdas):
            raise ValueError(f"{name}: lr_lambdas should be a list of {len(self.lr_lambdas)} entries (None or a "
                             f"dict), got {saved!r}")
        for index, (entry, function) in enumerate(zip(saved, self.lr_lambdas)):
            if entry is not None and (not isinstance(entry, dict) or isinstance(function, types.FunctionType)):
                raise ValueError(f"{name}: lr_lambdas[{index}] holds {type(entry).__name__}, but lr_lambda {index} "
                                 f"is a {type(function).__name__}; expected None for a function, a dict of "
                                 f"attributes for a callable object")
        for key, value in checked.items():
            setattr(self, key, value)
        for entry, function in zip(saved, self.lr_lambdas):
            if entry is not None:
                function.__dict__.update(entry)


class ReduceLROnPlateau(LRScheduler):
    """Multiply each group's rate by `factor` when a metric has not improved for more than `patience` epochs.

    Improving means, for `mode="min"`, falling below best * (1 - threshold) (`threshold_mode="rel"`) or below
    best - threshold (`"abs"`); for `"max"`, rising above best * (1 + threshold) or best + threshold. After a
    reduction, `cooldown` epochs pass before bad epochs count again. No rate falls below `min_lr` (one number,
    or a list with one per group), and a reduction smaller than `eps` is skipped.
    """

    _checks = {"factor": _number(lambda value: 0 < value < 1, "a number in (0, 1)"),
              "default_min_lr": lambda owner, name, value: None if value is None else _nonnegative(owner, name, value),
              "min_lrs": _learning_rates, "patience": _count, "cooldown": _count, "eps": _nonnegative,
              "last_epoch": _count, "_last_lr": _learning_rates,
              "mode_worse": _number(math.isinf, "inf or -inf"), "mode": _choice("min", "max"),
              "threshold": _nonnegative, "threshold_mode": _choice("rel", "abs"),
              "best": _number(lambda value: True, "a number"), "cooldown_counter": _count, "num_bad_epochs": _count}

    def __init__(self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0,
                 min_lr: float | Sequence[float] = 0.0, eps: float = 1e-8) -> None:
        name = "ReduceLROnPlateau"
        self.optimizer = _checked_optimizer(name, optimizer)
        groups = len(optimizer.param_groups)
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != groups:
                raise ValueError(f"{name}: expected {groups} min_lrs (one per parameter group), got {len(min_lr)}")
            self._set_arguments(default_min_lr=None, min_lrs=min_lr)
        else:
            self._set_arguments(default_min_lr=min_lr, min_lrs=[min_lr] * groups)
        self._set_arguments(mode=mode, factor=factor, patience=patience, threshold=threshold,
                            threshold_mode=threshold_mode, cooldown=cooldown, eps=eps)
        self.mode_worse = math.inf if mode == "min" else -math.inf
        self.best, self.cooldown_counter, self.num_bad_epochs = self.mode_worse, 0, 0
        self.last_epoch = 0
        self._last_lr = [group["lr"] for group in optimizer.param_groups]

    def step(self, metrics: Any) -> None:  # type: ignore[override]  (PyTorch's signature)
        """Count an epoch whose monitored value (a validation loss, say) is `metrics`; reduce the rates if due."""
        try:
            current = float(metrics)
        except (TypeError, ValueError) as error:
            raise TypeError(f"ReduceLROnPlateau.step: metrics should be one number (the value to monitor), got "
                            f"{type(metrics).__name__} ({error})") from None
        self.last_epoch += 1
        if self._is_better(current):
            self.best, self.num_bad_epochs = current, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs in the cooldown do not count
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    @property
    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def _is_better(self, current: float) -> bool:
        best, threshold = self.best, self.threshold
        if self.mode == "min":
            return current < (best * (1.0 - threshold) if self.threshold_mode == "rel" else best - threshold)
        return current > (best * (threshold + 1.0) if self.threshold_mode == "rel" else best + threshold)

    def _reduce_lr(self) -> None:
        groups = self.optimizer.param_groups
        if len(groups) != len(self.min_lrs):
            if self.default_min_lr is None:
                raise ValueError(f"ReduceLROnPlateau.step: the optimizer has {len(groups)} parameter groups but "
                                 f"min_lr lists {len(self.min_lrs)}; set scheduler.min_lrs to one per group")
            self.min_lrs = [self.default_min_lr] * len(groups)
        for group, min_lr in zip(groups, self.min_lrs):
            old_lr = float(group["lr"])
            new_lr = max(old_lr * self.factor, min_lr)
            if old_lr - new_lr > self.eps:
                group["lr"] = new_lr

    def _checked_state(self, state_dict: Any) -> dict[str, Any]:
        checked = super()._checked_state(state_dict)
        if checked["mode_worse"] != (math.inf if checked["mode"] == "min" else -math.inf):
            raise ValueError(f"ReduceLROnPlateau.load_state_dict: mode_worse {checked['mode_worse']} does not fit "
                             f"mode {checked['mode']!r}")
        return checked


__all__ = ["CosineAnnealingLR", "ExponentialLR", "LRScheduler", "LambdaLR", "ReduceLROnPlateau", "StepLR"]
