"""Pictures of the credit analyses (matplotlib, imported only here): each function returns a Figure, and with
`path` also writes it (atomically: a temporary file renamed in place). Norms that span decades get log scales.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..files import write_atomically
from .connectivity import horizon, lag_profile

__all__ = ["plot_connectivity", "plot_credit_matrix", "plot_flow_over_training", "plot_flow_snapshot",
           "plot_gate_paths", "plot_ledger", "plot_truncation", "save_figure"]


def plot_ledger(ledger: Any, names: Sequence[str] | None = None, *, title: str | None = None,
                path: Any = None) -> Any:
    """Each parameter's ||part of dL/dW from step s|| against s (log scale)."""
    names = list(ledger.names if names is None else names)
    figure, axes = _figure(1)
    drawn: list[tuple[list[str], np.ndarray]] = []
    for name in names:
        norms = ledger.norms(name)
        same = next((group for group in drawn if np.array_equal(group[1], norms)), None)
        if same is not None:
            same[0].append(name)  # (an RNN's two biases get the same credit: one line, both names)
        elif np.any(norms > 0):
            drawn.append(([name], norms))
    for group, norms in drawn:
        axes.plot(ledger.steps, _positive(norms), marker=".", label=" = ".join(group))
    outside = [name for name in names if np.any(ledger.outside(name) != 0)]
    axes.set_yscale("log")
    axes.set_xlabel("time step s of the use")
    axes.set_ylabel("||part of dL/dW from step s||")
    axes.set_title(title or "Credit ledger: where each weight's gradient comes from")
    if outside:
        axes.text(0.01, 0.01, "used outside every step (not drawn): " + ", ".join(outside), fontsize=7,
                  transform=axes.transAxes, color="#555555")
    axes.legend(fontsize=7, loc="best")
    return save_figure(figure, path)


def plot_credit_matrix(matrix: Any, name: str, *, title: str | None = None, path: Any = None) -> Any:
    """Left: entry [t, s], the credit loss t gives the use of `name` at step s (log colour). Right: the share of
    credit at each lag t - s."""
    entries = np.asarray(matrix[name], dtype=np.float64)
    if entries.ndim > 2:
        entries = np.sqrt((entries.reshape(entries.shape[:2] + (-1,)) ** 2).sum(axis=-1))
    figure, (left, right) = _figure(2, width=11)
    _heatmap(figure, left, entries, extent=_extent(matrix.steps, matrix.loss_steps), label="norm of the part")
    left.set_xlabel("step s of the use")
    left.set_ylabel("step t the loss is read at")
    left.set_title(f"credit of {name}")
    shares = matrix.lag_share(name)
    lags = np.arange(len(shares))
    right.bar(lags, _positive(shares), color="C0")
    right.set_yscale("log")
    right.set_xlabel("lag |t - s| (steps)")
    right.set_ylabel("share of the credit")
    right.set_title("credit by lag")
    figure.suptitle(title or "Credit by lag: which steps each loss gives its gradient to")
    return save_figure(figure, path)


def plot_truncation(reports: Sequence[Mapping[str, Any]], names: Sequence[str] | None = None, *,
                    title: str | None = None, path: Any = None) -> Any:
    """For each k of `truncations(...)`: the cosine and norm ratio of the BPTT(k) gradient to the full one, and the
    share of the credit at lags >= k, per parameter."""
    names = list(reports[0] if names is None else names)
    ks = [next(iter(report.values())).k for report in reports]
    figure, (left, right) = _figure(2, width=11)
    for index, name in enumerate(names):
        colour = f"C{index % 10}"
        left.plot(ks, [report[name].cosine for report in reports], marker="o", color=colour, label=f"{name} cosine")
        left.plot(ks, [report[name].norm_ratio for report in reports], marker="x", linestyle="--", color=colour,
                  label=f"{name} norm ratio")
        right.plot(ks, _positive(np.array([report[name].share_beyond for report in reports])), marker="o",
                   color=colour, label=name)
    left.set_xlabel("truncation length k (steps)")
    left.set_ylabel("BPTT(k) gradient vs full: cosine, norm ratio")
    left.set_ylim(min(-0.05, left.get_ylim()[0]), max(1.05, left.get_ylim()[1]))
    left.axhline(1.0, color="#999999", linewidth=0.8)
    left.legend(fontsize=7)
    right.set_yscale("log")
    right.set_xlabel("truncation length k (steps)")
    right.set_ylabel("share of credit at lags >= k")
    right.legend(fontsize=7)
    figure.suptitle(title or "Truncation meter: what BPTT(k) keeps of the gradient")
    return save_figure(figure, path)


def plot_connectivity(M: Any, fraction: float = 0.01, *, title: str | None = None, path: Any = None) -> Any:
    """Left: ||dy_t/dx_s|| (log colour). Right: its mean at each lag, with the horizon at `fraction`."""
    matrix = np.asarray(M, dtype=np.float64)
    figure, (left, right) = _figure(2, width=11)
    steps = np.arange(matrix.shape[0])
    _heatmap(figure, left, matrix, extent=_extent(steps, steps), label="||dy_t / dx_s||_F")
    left.set_xlabel("input step s")
    left.set_ylabel("output step t")
    left.set_title("connectivity")
    profile = lag_profile(matrix)
    right.plot(np.arange(len(profile)), _positive(profile), marker=".", color="C0", label="mean over t")
    right.set_yscale("log")
    right.set_xlabel("lag t - s (steps)")
    right.set_ylabel("mean ||dy_t / dx_{t-lag}||_F")
    if profile[0] > 0:
        reach = horizon(matrix, fraction)
        right.axvline(reach, color="C3", linestyle="--", label=f"horizon {reach} (>= {fraction:g} of lag 0)")
        right.axhline(fraction * profile[0], color="C3", linewidth=0.8, alpha=0.5)
    right.legend(fontsize=8)
    right.set_title("how far back the output depends on the input")
    figure.suptitle(title or "Connectivity map")
    return save_figure(figure, path)


def plot_gate_paths(paths: Any, *, title: str | None = None, path: Any = None) -> Any:
    """Top: the norm of each part of the state's gradient per step (log). Middle: gate means. Bottom: the
    fraction of saturated units per gate."""
    figure, (top, middle, bottom) = _figure(3, width=8, height=9, vertical=True)
    state = "c_t" if paths.kind == "lstm" else "h_t"
    for name in paths.parts:
        top.plot(paths.steps, _positive(paths.norms(name)), marker=".", label=f"{name} ({paths.share(name):.0%})")
    top.plot(paths.steps, _positive(paths.norms("total")), color="black", linewidth=1, label="total (engine)")
    top.set_yscale("log")
    top.set_xlabel("time step t")
    top.set_ylabel(f"||part of dL/d{state}||")
    top.legend(fontsize=8)
    top.set_title(f"{paths.layer}: how dL/d{state} is made")
    for name, means in paths.gate_means.items():
        middle.plot(paths.steps, means, label=name)
    middle.set_xlabel("time step t")
    middle.set_ylabel("mean gate activation")
    middle.legend(fontsize=8, ncol=4)
    for name, fraction in paths.saturation.items():
        bottom.plot(paths.steps, fraction, label=name)
    bottom.set_ylim(-0.02, 1.02)
    bottom.set_ylabel("saturated units (|activation'| < 0.01)")
    bottom.set_xlabel("time step t")
    bottom.legend(fontsize=8, ncol=4)
    figure.suptitle(title or ("LSTM gate paths: the constant error carousel" if paths.kind == "lstm"
                              else "GRU gate paths: the direct (interpolation) path"))
    return save_figure(figure, path)


def plot_flow_snapshot(snapshot: Any, *, title: str | None = None, path: Any = None) -> Any:
    """One recorded step: ||dL/dh_t|| (and ||dL/dc_t||) for each layer and direction (rows) and step (columns)."""
    rows = [(f"{layer} h", norms) for layer, norms in snapshot.hidden.items()]
    rows += [(f"{layer} c", norms) for layer, norms in snapshot.cell.items()]
    rows.sort(key=lambda row: row[0])
    grid = np.array([norms for _, norms in rows])
    figure, axes = _figure(1, width=10, height=1.2 + 0.45 * len(rows))
    _heatmap(figure, axes, grid, extent=(-0.5, grid.shape[1] - 0.5, len(rows) - 0.5, -0.5), label="||dL/dstate_t||")
    axes.set_yticks(range(len(rows)), [label for label, _ in rows], fontsize=8)
    axes.set_xlabel("time step t")
    axes.set_ylabel("layer (direction), state")
    axes.set_title(title or f"Gradient flow at training step {snapshot.step} (loss {snapshot.loss:.4g}, "
                            f"grad norm {snapshot.grad_norm:.3g})")
    return save_figure(figure, path)


def plot_flow_over_training(snapshots: Sequence[Any], layer: str | None = None, *, title: str | None = None,
                            path: Any = None) -> Any:
    """Top: ||dL/dh_t|| of one layer (default: the first) for each recorded training step (rows) and time step.
    Bottom: the loss and the gradient norm before and after clipping."""
    if not snapshots:
        raise ValueError("plot_flow_over_training: no snapshots to draw")
    layer = next(iter(snapshots[0].hidden)) if layer is None else layer
    missing = [snapshot.step for snapshot in snapshots if layer not in snapshot.hidden]
    if missing:
        raise KeyError(f"plot_flow_over_training: layer {layer!r} is missing from the snapshots of steps {missing}; "
                       f"they hold {', '.join(snapshots[0].hidden)}")
    lengths = {len(snapshot.hidden[layer]) for snapshot in snapshots}
    width = max(lengths)
    grid = np.full((len(snapshots), width), np.nan)
    for row, snapshot in enumerate(snapshots):
        grid[row, :len(snapshot.hidden[layer])] = snapshot.hidden[layer]
    training = [snapshot.step for snapshot in snapshots]
    figure, (top, bottom) = _figure(2, width=10, height=8, vertical=True)
    _heatmap(figure, top, grid, extent=(-0.5, width - 0.5, len(snapshots) - 0.5, -0.5), label="||dL/dh_t||")
    ticks = np.unique(np.linspace(0, len(snapshots) - 1, min(len(snapshots), 8)).astype(int))
    top.set_yticks(ticks, [str(training[tick]) for tick in ticks])
    top.set_xlabel("time step t")
    top.set_ylabel("training step")
    top.set_title(f"{layer}: ||dL/dh_t|| over training")
    bottom.plot(training, [snapshot.loss for snapshot in snapshots], marker=".", label="loss")
    bottom.plot(training, [snapshot.grad_norm for snapshot in snapshots], marker=".", label="grad norm")
    clipped = [(snapshot.step, snapshot.clipped_norm) for snapshot in snapshots if snapshot.clipped_norm is not None]
    if clipped:
        bottom.plot(*zip(*clipped), marker=".", linestyle="--", label="grad norm after clipping")
    bottom.set_yscale("log")
    bottom.set_xlabel("training step")
    bottom.set_ylabel("loss, gradient norm")
    bottom.legend(fontsize=8)
    figure.suptitle(title or "Gradient flow over training")
    return save_figure(figure, path)


# ---- shared -----------------------------------------------------------------------------------------------

def _figure(panels: int, width: float = 8, height: float = 4.8, vertical: bool = False) -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    if panels == 1:
        return figure, figure.add_subplot()
    axes = figure.subplots(panels, 1) if vertical else figure.subplots(1, panels)
    return figure, tuple(axes)


def _heatmap(figure: Any, axes: Any, grid: np.ndarray, extent: tuple[float, ...], label: str) -> None:
    """`grid` in a log colour scale; zeros (and NaN) are left white."""
    from matplotlib.colors import LogNorm

    positive = np.where(grid > 0, grid, np.nan)
    finite = positive[np.isfinite(positive)]
    norm = LogNorm(vmin=finite.min(), vmax=finite.max()) if finite.size and finite.max() > finite.min() else None
    image = axes.imshow(positive, aspect="auto", interpolation="nearest", norm=norm, cmap="viridis", extent=extent)
    figure.colorbar(image, ax=axes, label=label + (" (log scale)" if norm is not None else ""))


def _extent(columns: Any, rows: Any) -> tuple[float, float, float, float]:
    columns, rows = np.asarray(columns), np.asarray(rows)
    return (columns.min() - 0.5, columns.max() + 0.5, rows.max() + 0.5, rows.min() - 0.5)


def _positive(values: np.ndarray) -> np.ndarray:
    """Values for a log axis: zeros become NaN (a gap), never a fake tiny number."""
    values = np.asarray(values, dtype=np.float64)
    return np.where(values > 0, values, np.nan)


def save_figure(figure: Any, path: Any) -> Any:
    """Write `figure` to `path` whole or not at all (files.py) if a path is given; return it."""
    if path is not None:
        path = Path(path)
        write_atomically(path, lambda temporary: figure.savefig(temporary, dpi=120, format=path.suffix.lstrip(".")
                                                                or "png"), "plot")
    return figure
