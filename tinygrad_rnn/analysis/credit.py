"""Credit through time: which time steps a weight's gradient comes from, and what truncated BPTT throws away.

A weight used at every step gets dL/dW = sum over steps s of what its use at step s sends back (for a tanh RNN,
dL/dW_hh = sum_s delta_s^T h_{s-1}, delta_s = dL/da_s the gradient at step s's pre-activation). `credit` keeps
those terms apart (the ledger); `credit_matrix` does it for each per-step loss L_t, so entry [t, s] is the
credit loss t gives to the use at step s, at lag t - s; `truncation` compares the gradient BPTT(k) would keep
(lags 0 .. k-1) with the full one. All read the unrolled graph (see `decompose.py`), for any model made of
registry ops whose steps are recorded in step scopes. A lag is |t - s|: in a causal model s <= t, and a
reverse direction's uses at s > t count as the same distance in time.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .decompose import split_by_step
from .steps import graph_of, named_parameters, norm, step_labels

__all__ = ["CreditMatrix", "Ledger", "Truncation", "credit", "credit_matrix", "truncation"]


class Ledger:
    """Each time step's part of each parameter's gradient, from one backward (`credit`).

    `steps`: the step labels of the graph's scopes, sorted (T,). For a parameter `name`:
    `contribution(name)` (T, *shape), `norms(name)` (T,), `outside(name)` (the part from uses outside every
    step scope, such as a readout after the loop; zeros if none) and `total(name)`, their sum: the gradient.
    Memory: T x the parameter's size with arrays; without, T floats and the total (one parameter's size), and
    the outside part for a parameter that has one.
    """

    def __init__(self, steps: Sequence[int], params: Mapping[str, Any], arrays: bool) -> None:
        self.steps = np.asarray(steps, dtype=np.int64)
        self.names = tuple(params)
        self.arrays = arrays
        self._row = {step: row for row, step in enumerate(self.steps.tolist())}
        self._norms = {name: np.zeros(len(self.steps)) for name in params}
        self._totals = {name: np.zeros_like(param.data) for name, param in params.items()}
        self._shapes = {name: (param.data.shape, param.data.dtype) for name, param in params.items()}
        self._outside: dict[str, np.ndarray] = {}  # only for parameters used outside every step
        self._parts = {name: np.zeros((len(self.steps), *param.data.shape), dtype=param.data.dtype)
                       for name, param in params.items()} if arrays else {}

    def add(self, name: str, step: int | None, part: np.ndarray) -> None:
        """Record step `step`'s part of parameter `name`'s gradient (None: a use outside every step)."""
        self._totals[name] += part
        if step is None:
            if name in self._outside:
                self._outside[name] += part
            else:
                self._outside[name] = np.array(part, dtype=self._shapes[name][1])
            return
        row = self._row[step]
        self._norms[name][row] = norm(part)
        if self.arrays:
            self._parts[name][row] = part

    def _known(self, name: str) -> str:
        if name not in self._norms:
            raise KeyError(f"ledger: no parameter named {name!r}; it holds {', '.join(self.names)}")
        return name

    def contribution(self, name: str) -> np.ndarray:
        """(T, *shape): row i is the part of dL/d`name` sent by its uses at step `steps[i]`."""
        if not self.arrays:
            raise ValueError("ledger: made with arrays=False, it holds the norms only; call credit(..., arrays=True) "
                             "for the arrays")
        return self._parts[self._known(name)]

    def norms(self, name: str) -> np.ndarray:
        """(T,): the 2-norm of each step's part."""
        return self._norms[self._known(name)]

    def outside(self, name: str) -> np.ndarray:
        """The part of the gradient from uses outside every step scope (zeros if there are none)."""
        shape, dtype = self._shapes[self._known(name)]
        return self._outside[name] if name in self._outside else np.zeros(shape, dtype=dtype)

    def total(self, name: str) -> np.ndarray:
        """The sum of every part: d loss / d `name`, as the engine's backward gives it."""
        return self._totals[self._known(name)]

    def share(self, name: str) -> np.ndarray:
        """(T,): each step's norm over the sum of the norms (how the credit is spread over time)."""
        norms = self.norms(name)
        total = norms.sum()
        return norms / total if total > 0 else norms.copy()

    def __repr__(self) -> str:
        return f"Ledger(steps {len(self.steps)}, parameters {list(self.names)}, arrays={self.arrays})"


def credit(loss: Any, params: Any, *, arrays: bool = True, retain_graph: bool = False) -> Ledger:
    """The credit ledger of `loss`: each time step's part of the gradient of each parameter in `params` (a name ->
    Tensor dict, or a Module). Runs one backward (the graph is freed unless `retain_graph`); every `.grad` is
    left as it was. `arrays=False` keeps the norms only (T floats per parameter instead of T x its size)."""
    order, params = _prepare(loss, params, "credit")
    ledger = Ledger(step_labels(order), params, arrays)
    split_by_step(loss, order, params, ledger.add, retain_graph=retain_graph)
    return ledger


class CreditMatrix(Mapping):
    """name -> (L, T) array: entry [i, j] = ||part of dL_i/d name sent by its uses at step steps[j]|| for the loss
    L_i read at step `loss_steps[i]` ((L, T, *shape) arrays of the parts themselves with arrays=True)."""

    def __init__(self, loss_steps: Sequence[int], steps: Sequence[int], entries: dict[str, np.ndarray],
                 arrays: bool) -> None:
        self.loss_steps = np.asarray(loss_steps, dtype=np.int64)
        self.steps = np.asarray(steps, dtype=np.int64)
        self.arrays = arrays
        self._entries = entries

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._entries:
            raise KeyError(f"credit matrix: no parameter named {name!r}; it holds {', '.join(self._entries)}")
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def lags(self) -> np.ndarray:
        """(L, T): the lag |t - s| of each entry (how many steps lie between the loss and the use)."""
        return np.abs(self.loss_steps[:, None] - self.steps[None, :])

    def lag_share(self, name: str) -> np.ndarray:
        """The share of `name`'s credit (the sum of the entries' norms) at each lag 0, 1, ... up to the largest
        lag (T - 1 when the losses are read at the graph's steps)."""
        entries = self[name]
        norms = entries if not self.arrays else np.sqrt(
            (entries.reshape(entries.shape[:2] + (-1,)).astype(np.float64) ** 2).sum(axis=-1))
        by_lag = np.bincount(self.lags().ravel(), weights=norms.ravel(), minlength=len(self.steps))
        total = by_lag.sum()
        return by_lag / total if total > 0 else by_lag


def credit_matrix(losses: Any, params: Any, *, arrays: bool = False, retain_graph: bool = False) -> CreditMatrix:
    """Credit by lag: for each per-step loss (losses[t] is the loss read at step t; None where there is none; or a
    {step: loss} dict), the norm of each step's part of each parameter's gradient. One backward per loss."""
    losses, params, orders, steps = _prepare_losses(losses, params, "credit_matrix")
    entries = {name: np.zeros((len(losses), len(steps), *(param.data.shape if arrays else ())),
                              dtype=param.data.dtype if arrays else np.float64) for name, param in params.items()}
    column = {step: j for j, step in enumerate(steps)}
    for i, ((_, loss), order) in enumerate(zip(losses, orders)):
        def sink(name: str, step: int | None, part: np.ndarray, i: int = i) -> None:
            if step is not None:
                entries[name][i, column[step]] = part if arrays else norm(part)
        reached = _reached(params, order)
        if reached:
            split_by_step(loss, order, reached, sink, retain_graph=True)
    _release(orders, retain_graph)
    return CreditMatrix([step for step, _ in losses], steps, entries, arrays)


@dataclass(frozen=True, eq=False)
class Truncation:
    """BPTT(k) against full BPTT for one parameter: the gradient that keeps lags 0 .. k-1 only (`truncated`) and
    the full one (`full`), their cosine and norm ratio |truncated| / |full|, and the share of the credit (the sum
    of the parts' norms) at lags >= k."""

    k: int
    cosine: float
    norm_ratio: float
    share_beyond: float
    truncated: np.ndarray
    full: np.ndarray


def truncation(losses: Any, params: Any, k: int, *, retain_graph: bool = False) -> dict[str, Truncation]:
    """What truncating BPTT to k steps does to each parameter's gradient: the loss read at step t sends its
    gradient through the uses at steps t, t-1, ..., t-k+1 only (lags 0 .. k-1; uses outside every step scope,
    such as a readout, are kept). losses as for `credit_matrix`. One backward per loss."""
    return truncations(losses, params, [k], retain_graph=retain_graph)[0]


def truncations(losses: Any, params: Any, ks: Sequence[int], *,
                retain_graph: bool = False) -> list[dict[str, Truncation]]:
    """`truncation` for each k in `ks`, from one backward per loss for all of them."""
    losses, params, orders, steps = _prepare_losses(losses, params, "truncation")
    if isinstance(ks, (int, np.integer)) or not isinstance(ks, Sequence) or not ks:
        raise TypeError(f"truncations: expected a non-empty sequence of k, got {ks!r}")
    ks = [_check_k(k, len(steps)) for k in ks]
    full = {name: np.zeros(param.data.shape) for name, param in params.items()}
    kept = [{name: np.zeros(param.data.shape) for name, param in params.items()} for _ in ks]
    longest = max(max(step for step, _ in losses), max(steps)) + 1
    by_lag = {name: np.zeros(longest) for name in params}
    for (loss_step, loss), order in zip(losses, orders):
        def sink(name: str, step: int | None, part: np.ndarray, loss_step: int = loss_step) -> None:
            full[name] += part
            lag = None if step is None else abs(loss_step - step)
            if lag is not None:
                by_lag[name][lag] += norm(part)
            for k, sums in zip(ks, kept):
                if lag is None or lag < k:
                    sums[name] += part
        reached = _reached(params, order)
        if reached:
            split_by_step(loss, order, reached, sink, retain_graph=True)
    _release(orders, retain_graph)
    return [{name: _compare(k, sums[name], full[name], by_lag[name]) for name in params} for k, sums in zip(ks, kept)]


def _compare(k: int, truncated: np.ndarray, full: np.ndarray, by_lag: np.ndarray) -> Truncation:
    truncated_norm, full_norm = np.linalg.norm(truncated.ravel()), np.linalg.norm(full.ravel())
    both = truncated_norm * full_norm
    credit_total = by_lag.sum()
    return Truncation(k=k, cosine=float(truncated.ravel() @ full.ravel() / both) if both > 0 else float("nan"),
                      norm_ratio=float(truncated_norm / full_norm) if full_norm > 0 else float("nan"),
                      share_beyond=float(by_lag[k:].sum() / credit_total) if credit_total > 0 else 0.0,
                      truncated=truncated, full=full)


# ---- checks shared by the three ----------------------------------------------------------------------------

def _prepare(loss: Any, params: Any, caller: str) -> tuple[list[Any], dict[str, Any]]:
    """The loss's graph and the checked parameters, each of which the loss must depend on."""
    order = graph_of(loss, caller)
    params = named_parameters(params, caller)
    _check_steps(order, caller)
    reached = {id(node) for node in order}
    missing = [name for name, param in params.items() if id(param) not in reached]
    if missing:
        raise ValueError(f"{caller}: the loss does not depend on {_names(missing)} (no path from the loss reaches "
                         f"{'it' if len(missing) == 1 else 'them'}); pass only the parameters the loss uses")
    return order, params


def _prepare_losses(losses: Any, params: Any,
                    caller: str) -> tuple[list[tuple[int, Any]], dict[str, Any], list[list[Any]], list[int]]:
    """(step, loss) pairs, the parameters, each loss's graph and the steps of all of them, checked."""
    if isinstance(losses, Mapping):
        pairs = list(losses.items())
    elif isinstance(losses, Sequence) and not isinstance(losses, (str, bytes)):
        pairs = list(enumerate(losses))
    else:
        raise TypeError(f"{caller}: expected losses as a sequence of per-step losses (losses[t] read at step t, "
                        f"None where there is none) or a {{step: loss}} dict, got {type(losses).__name__}")
    pairs = [(step, loss) for step, loss in pairs if loss is not None]
    if not pairs:
        raise ValueError(f"{caller}: no losses given (every entry is None)")
    for step, _ in pairs:
        if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 0:
            raise TypeError(f"{caller}: a loss's step must be an integer of at least 0, got {step!r}")
    params = named_parameters(params, caller)
    orders = [graph_of(loss, f"{caller}: losses[{step}]") for step, loss in pairs]
    for order, (step, _) in zip(orders, pairs):
        _check_steps(order, f"{caller}: losses[{step}]")
    reached = {id(node) for order in orders for node in order}
    missing = [name for name, param in params.items() if id(param) not in reached]
    if missing:
        raise ValueError(f"{caller}: none of the losses depends on {_names(missing)}; pass only the parameters the "
                         "losses use")
    steps = sorted({step for order in orders for step in step_labels(order)})
    return [(int(step), loss) for step, loss in pairs], params, orders, steps


def _check_steps(order: list[Any], caller: str) -> None:
    if not step_labels(order):
        raise ValueError(f"{caller}: the graph has no time-step scopes (no op was recorded in a scope 't=<t>'), so "
                         "there are no steps to give credit to; run the recurrence in nn's recurrent layers or "
                         "wrap each step in `with tg.scope(f't={t}'):`")


def _check_k(k: Any, steps: int) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"truncation: k must be an integer number of steps, got {k!r}")
    if not 1 <= k <= steps:
        raise ValueError(f"truncation: k = {k} is out of range; expected 1 <= k <= T = {steps} (the graph's steps)")
    return int(k)


def _reached(params: dict[str, Any], order: list[Any]) -> dict[str, Any]:
    """The parameters that this loss's graph reaches."""
    reached = {id(node) for node in order}
    return {name: param for name, param in params.items() if id(param) in reached}


def _release(orders: list[list[Any]], retain_graph: bool) -> None:
    """Free the graph behind the losses (as a backward does) unless the caller keeps it."""
    if not retain_graph:
        for order in orders:
            for node in order:
                if node.is_context:
                    node.saved_tensors = None


def _names(names: list[str]) -> str:
    return ("parameter " if len(names) == 1 else "parameters ") + ", ".join(repr(name) for name in names)
