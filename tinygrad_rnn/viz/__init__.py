"""Draw the unrolled graph with Graphviz, so backpropagation through time can be seen.

`to_dot(root)` returns DOT text (pure and deterministic: node ids follow `toposort`, nothing depends on `id()`);
`draw(root)` wraps it in a `graphviz.Digraph` (shown inline in Jupyter, `.render(path, format="svg")`);
`render(root, path)` writes a picture; `to_html(root, path)` writes an interactive page (`html.py`).

Right by default: the picture computes the gradients it shows with its own backward over the kept graph
(`flow.py`), so it is the same before and after `loss.backward(retain_graph=True)` and never touches `.grad`;
a graph a plain `backward()` freed raises an error that says how to keep it.

Readable at every size: by default each cell at each time step is one node (collapsed; `collapse=None` draws
every op), time runs left to right with step t of every layer on one rank (layers as rows), parameters are
drawn once on the left, and past `AUTO_MAX_STEPS` steps the middle is elided. The default picture of any
model here stays within `SIZE_BUDGET_PX` (width and height at 96 dpi); no picture has more than `MAX_NODES`
nodes unless asked (`max_nodes=None`), so `dot` never runs for minutes.
"""

from __future__ import annotations

import gc
import shutil
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cache
from numbers import Real
from pathlib import Path
from typing import Any

from .. import files
from ..graph import Node, toposort, vertex
from .cells import choose_steps, plan, step_numbers
from .dot import COLOURS, MAX_WIDTH, MIN_WIDTH, Scale, statements
from .flow import FREED, GradientsUnavailableError, compute_flow, is_freed
from .layout import arrange, finish
from .merge import MAX_FAN
from .packed import label_ends, sequence_ends
from .picture import FINAL, Picture
from .units import Unit, attach, collect_units, format_number, hidden_path

__all__ = ["AUTO_MAX_STEPS", "COLOURS", "MAX_FAN", "MAX_NODES", "MAX_WIDTH", "MIN_WIDTH", "SIZE_BUDGET_PX",
           "GradientsUnavailableError", "GraphvizNotFoundError", "PictureTooLargeError", "RenderError", "draw",
           "render", "to_dot", "to_html"]

AUTO_MAX_STEPS = 6
"""By default (max_steps="auto") a layer with more steps keeps its first 3 and last 3, the middle elided."""
MAX_NODES = 1000
"""More drawn nodes than this is refused unless max_nodes says otherwise: dot's layout time grows much faster
than the node count (a 500-step expanded LSTM ran for over 9 minutes)."""
SIZE_BUDGET_PX = 3000
"""The default picture of any RNN, LSTM or GRU here (1 to 1,000 steps, stacked, bidirectional) is at most this
wide and this high at 96 dpi (tested from dot's own layout)."""

INSTALL_HINT = ("install Graphviz (Debian/Ubuntu: sudo apt-get install graphviz; macOS: brew install graphviz; "
                "conda: conda install -c conda-forge graphviz; others: https://graphviz.org/download/), "
                "or use viz.to_dot() for the DOT text")
OPTIONS = ("params", "show_grad", "grad_labels", "highlight", "collapse", "max_steps", "intermediates", "rankdir",
           "legend", "max_values", "grad_range", "title", "max_nodes")


class GraphvizNotFoundError(RuntimeError):
    """The Graphviz `dot` program is not installed, so a picture cannot be rendered (DOT text still can)."""


class RenderError(RuntimeError):
    """Graphviz `dot` ran but failed to render the picture; the message names the output and quotes dot."""


class PictureTooLargeError(ValueError):
    """The picture asked for has more nodes than `max_nodes`: dot would take minutes; the message says how to
    make it smaller."""


def to_dot(root: Node, **options: Any) -> str:
    """DOT text of the graph that produced `root` (a Tensor or a scalar Value); same input, same bytes.

    Options (keywords): params: name -> tensor (e.g. `dict(model.named_parameters())`) to name and colour the
    parameters (without it every leaf that requires grad is one; `Tensor.name` names too). show_grad: size edges
    by the gradient they carry (default True; the picture runs its own backward, see the module's docstring;
    False draws the structure alone, also of a freed graph). grad_labels: write the norm on each edge.
    highlight: "hidden" (default) or None. collapse: "timestep" (default: one node per cell per step) or None
    (every op). max_steps: keep the first and last steps of each layer and elide the middle ("auto", the
    default: AUTO_MAX_STEPS; None keeps all). intermediates: draw the tensors ops make as boxes (default False:
    ops, leaves, hidden states and the output). rankdir: "LR" (default), "TB", "RL", "BT". legend: draw the key
    (default True). max_values: print the values of tensors with at most this many elements (4): leaves and the
    root always, intermediates when the graph was recorded under `tg.keep_values()`. grad_range: fixed (log10
    low, log10 high) of the width scale, so several pictures compare. title: a caption. max_nodes: refuse
    pictures with more nodes (MAX_NODES; None: no limit).
    """
    return _dot_text(_statements("to_dot", root, options))


def draw(root: Node, **options: Any) -> Any:
    """A `graphviz.Digraph` of the graph (options as `to_dot`; `.source == to_dot(root)`). Its `render` and
    `pipe` raise `GraphvizNotFoundError`, saying how to install Graphviz, when `dot` is missing."""
    body = [line + "\n" for line in _statements("draw", root, options)]
    return _digraph_class()("tinygrad_rnn", body=body)


def render(root: Node, path: str | Path, format: str | None = None, **options: Any) -> str:  # noqa: A002
    """Write the picture to `path` and no other file (format from the suffix: svg, png, pdf, ...; .dot/.gv writes
    DOT text, no Graphviz needed); returns the path written.

    The DOT text is piped to `dot` rather than saved beside the picture, so a user's `<name>.gv` is never
    overwritten or deleted, and nothing is written when `dot` fails (`RenderError`) or is missing; the file
    appears whole or not at all (written beside, then renamed).
    """
    target = Path(path)
    fmt = (format or target.suffix.lstrip(".") or "svg").lower()
    text = _dot_text(_statements("render", root, options))
    if fmt in ("dot", "gv"):
        write_atomically(target, text.encode("utf-8"), "render")
        return str(target)
    write_atomically(target, run_dot(text, fmt, target), "render")
    return str(target)


def to_html(root: Node, path: str | Path, *, snapshots: Any = None, expand_steps: Any = "auto",
            step_labels: Sequence[str] | None = None, **options: Any) -> str:
    """Write one self-contained interactive page (SVG from Graphviz, inline CSS and JavaScript, no network) to
    `path`; returns the path. Options as `to_dot`; `snapshots`: several recorded backward passes over training
    (e.g. `analysis.FlowRecorder(...).snapshots`), which a second slider moves through; `expand_steps`: the
    steps whose cell the page can show op by op ('auto': every step up to `viz.cells.MAX_EXPANDED_STEPS`, past
    that the drawn ones and every k-th; `range(a, b)`: those and the drawn ones; None: none); `step_labels`: one
    string per time step (e.g. the characters a char-RNN reads), shown on the time axis, the strip and the slider.
    See `viz.html`."""
    from .html import page

    _check_options("to_html", options)
    target = Path(path)
    text = page(root, target, snapshots, options, expand_steps, step_labels)
    write_atomically(target, text.encode("utf-8"), "to_html")
    return str(target)


# ---- the pieces ------------------------------------------------------------------------------------------------

class Prepared:
    """Everything one picture needs: the units, the picture, its scale and its settings."""

    def __init__(self, units: list[Unit], picture: Picture, scale: Scale | None, settings: dict[str, Any],
                 hidden: set[int], cells: Any = None) -> None:
        self.units, self.picture, self.scale, self.settings, self.hidden = units, picture, scale, settings, hidden
        self.cells = cells  # the page's expanded steps (cells.Cells), when asked for


def _check_options(caller: str, options: Mapping[str, Any]) -> None:
    unknown = [name for name in options if name not in OPTIONS]
    if unknown:
        raise TypeError(f"viz.{caller}() got an unexpected keyword argument {unknown[0]!r}; its options are "
                        f"{', '.join(OPTIONS)}")


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while a picture is made, as it was before afterwards: a long graph
    makes hundreds of thousands of objects (units, groups, gradients), and each collection would scan them all
    again (a third of the time at T=1000). Nothing made here is a cycle that needs it."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def prepare(caller: str, root: Node, options: Mapping[str, Any], expand_steps: Any = None) -> Prepared:
    """Check the options, compute the gradients and lay out the picture (and, for the page, measure the steps
    `expand_steps` picks: see `cells.choose_steps`)."""
    with collector_paused():
        return _prepare(caller, root, options, expand_steps)


def _prepare(caller: str, root: Node, options: Mapping[str, Any], expand_steps: Any = None) -> Prepared:
    _check_options(caller, options)
    settings = _settings(caller, root, dict(options))
    order = toposort(vertex(root), all_inputs=True)
    params = settings["params"]
    if params:
        present = {id(node) for node in order}
        missing = [name for name, tensor in params.items() if id(vertex(tensor)) not in present]
        if missing:
            raise ValueError(f"viz.{caller}: params names {len(missing)} tensor(s) that are not in this graph: "
                             f"{', '.join(repr(name) for name in missing[:6])}{' ...' if len(missing) > 6 else ''}; "
                             "pass only the parameters the graph uses (e.g. those of the model that made it)")
    if settings["show_grad"] and is_freed(order):
        raise GradientsUnavailableError(f"viz.{caller}: {FREED}")
    units, folded = collect_units(root, params, settings["max_values"], order)
    hidden, on_path, initial = hidden_path(units)
    picture, routes = arrange(units, folded, hidden, on_path, initial, settings["collapse"] == "timestep",
                              settings["max_steps"], settings["intermediates"])
    _label_plumbing(picture, units)
    ends = sequence_ends(units, hidden, picture.state_names, picture.layers)
    cells = None
    measured = _measured(units, picture, hidden) if settings["show_grad"] else set()
    if expand_steps is not None and settings["show_grad"]:
        drawn = {}
        for group in picture.groups:
            if group.step is not None and group.step[1] is not None and group.kind not in ("join", "hidden-away"):
                drawn.setdefault(group.step[0], set()).add(group.step[1])
        chosen, stride = choose_steps(picture.layers, drawn, expand_steps, f"viz.{caller}")
        cells = plan(units, picture, hidden, on_path, chosen)
        cells.stride = stride
        for node_id, extra in cells.routes.items():
            routes.setdefault(node_id, []).extend(extra)
        measured |= cells.measure
    flow = None
    if settings["show_grad"]:
        flow = compute_flow(root, order, f"viz.{caller}", routes, measured)
        attach(units, flow)
    finish(picture, units, hidden, settings["collapse"] == "timestep")
    label_ends(picture, units, ends)
    drawn = sum(group.kind != "hidden-away" for group in picture.groups)
    limit = settings["max_nodes"]
    if limit is not None and drawn > limit:
        raise PictureTooLargeError(
            f"viz.{caller}: this picture would have {drawn:,} nodes, more than max_nodes={limit:,} (Graphviz "
            f"would take minutes to lay it out); collapse='timestep' (one node per cell per step) and "
            f"max_steps=K (keep the first and last steps) make it smaller, or pass max_nodes=None to draw it anyway")
    scale = None
    if settings["show_grad"]:
        norms = [edge.norm for edge in picture.edges] + [group.norm for group in picture.groups]
        scale = Scale(norms, settings["grad_range"])
    prepared = Prepared(units, picture, scale, settings, hidden, cells)
    if cells is not None and flow is not None:
        cells.numbers = step_numbers(cells, flow.norm)
    return prepared


def _statements(caller: str, root: Node, options: Mapping[str, Any], ids: bool = False) -> list[str]:
    prepared = prepare(caller, root, options)
    return dot_statements(prepared, ids)


def dot_statements(prepared: Prepared, ids: bool = False) -> list[str]:
    settings = prepared.settings
    return statements(prepared.picture, scale=prepared.scale, highlight=settings["highlight"] == "hidden",
                      grad_labels=settings["grad_labels"], rankdir=settings["rankdir"], legend=settings["legend"],
                      title=settings["title"], cluster_labels=_cluster_labels(prepared), ids=ids)


def _dot_text(lines: list[str]) -> str:
    return "digraph tinygrad_rnn {\n" + "".join(line + "\n" for line in lines) + "}\n"


def _settings(caller: str, root: Any, options: dict[str, Any]) -> dict[str, Any]:
    """The options with their defaults, each checked (an error names the option and what it accepts)."""
    where = f"viz.{caller}"
    if not isinstance(root, Node):
        raise TypeError(f"{where}: expected a Tensor or Value (the root of a graph), got {type(root).__name__}")
    settings = {"params": None, "show_grad": True, "grad_labels": False, "highlight": "hidden",
                "collapse": "timestep", "max_steps": "auto", "intermediates": False, "rankdir": "LR",
                "legend": True, "max_values": 4, "grad_range": None, "title": None, "max_nodes": MAX_NODES}
    settings.update(options)
    if settings["show_grad"] is None:
        settings["show_grad"] = True
    for flag in ("show_grad", "grad_labels", "intermediates", "legend"):
        if not isinstance(settings[flag], bool):
            raise TypeError(f"{where}: {flag} must be True or False, got {settings[flag]!r}")
    if settings["highlight"] not in (None, "hidden"):
        raise ValueError(f"{where}: highlight must be 'hidden' or None, got {settings['highlight']!r}")
    if settings["collapse"] not in (None, "timestep"):
        raise ValueError(f"{where}: collapse must be 'timestep' or None, got {settings['collapse']!r}")
    steps = settings["max_steps"]
    if steps == "auto":
        settings["max_steps"] = AUTO_MAX_STEPS
    elif steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 2):
        raise ValueError(f"{where}: max_steps must be an int >= 2 (the first and last steps are kept), 'auto' or "
                         f"None, got {steps!r}")
    if settings["rankdir"] not in ("LR", "TB", "RL", "BT"):
        raise ValueError(f"{where}: rankdir must be one of LR, TB, RL, BT, got {settings['rankdir']!r}")
    params = settings["params"]
    if params is not None:
        if not isinstance(params, Mapping):
            raise TypeError(f"{where}: params must map names to tensors (e.g. dict(model.named_parameters())), got "
                            f"{type(params).__name__}")
        for name, tensor in params.items():
            if not isinstance(name, str) or not isinstance(tensor, Node):
                raise TypeError(f"{where}: params must map names (str) to tensors, got {name!r}: "
                                f"{type(tensor).__name__}")
    values = settings["max_values"]
    if isinstance(values, bool) or not isinstance(values, int) or values < 0:
        raise ValueError(f"{where}: max_values must be an int >= 0, got {values!r}")
    grad_range = settings["grad_range"]
    if grad_range is not None and not (isinstance(grad_range, (tuple, list)) and len(grad_range) == 2
                                       and all(isinstance(bound, Real) for bound in grad_range)
                                       and grad_range[0] <= grad_range[1]):
        raise ValueError(f"{where}: grad_range must be (log10 low, log10 high) with low <= high, got {grad_range!r}")
    if settings["title"] is not None and not isinstance(settings["title"], str):
        raise TypeError(f"{where}: title must be a string, got {type(settings['title']).__name__}")
    limit = settings["max_nodes"]
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"{where}: max_nodes must be a positive int or None, got {limit!r}")
    return settings


def _measured(units: list[Unit], picture: Picture, hidden: set[int]) -> set[int]:
    """The vertices whose gradient norms the picture and the page show: the hidden states (every step's) and
    each drawn node's tensors."""
    measured = {id(units[index].node) for index in hidden}
    for group in picture.groups:
        if group.kind not in ("step", "elided", "pre", "post"):
            measured.update(id(units[index].node) for index in group.members if units[index].kind != "op")
    return measured


def _label_plumbing(picture: Picture, units: list[Unit]) -> None:
    """Labels of the collapsed nodes before and after a layer's steps: what they compute."""
    for group in picture.groups:
        if group.kind not in ("pre", "post"):
            continue
        ops = []
        for index in group.members:
            op = units[index].op if units[index].kind == "op" else None
            if op is not None and op not in ops:
                ops.append(op)
        if group.kind == "pre":
            heading = "input projection, all steps" if {"matmul", "addmm"} & set(ops) else "before the steps"
        elif group.label == FINAL:
            heading = FINAL
        else:
            heading = "outputs of all steps" if ops and ops[0] in ("stack", "concatenate") else "after the steps"
        group.label = heading + "\n" + ", ".join(ops)


def _cluster_labels(prepared: Prepared) -> dict[str, str]:
    """A layer's cluster is named after its scope (`gru.l0`); when the parameters it reads are named after a
    model attribute (`encoder.weight_hh_l0`), it says both: `encoder.l0 (scope gru.l0)`."""
    params = prepared.settings["params"] or {}
    units, picture = prepared.units, prepared.picture
    labels = {scope: f"{scope.rsplit('/', 1)[-1]}\n{text}" + ("" if final is None or prepared.scale is None else
                                                             f"\n||dL/dh_n|| {format_number(final)}")
              for scope, (text, final) in picture.ends.items()}  # expanded: a step's cluster says who ends there
    for layer in picture.layers:
        if not layer or "." not in layer:
            continue
        suffix = layer.split(".", 1)[1]  # l0, l0_reverse
        kind_of_layer = layer.split(".", 1)[0]
        for unit in units:
            name = unit.name if unit.kind == "parameter" else None
            if name is None or name not in params:
                continue
            for base in ("weight_hh_", "weight_ih_"):
                if name.endswith(base + suffix):
                    prefix = name[: -len(base + suffix)]
                    attribute = prefix.rstrip(".")
                    if attribute and attribute != kind_of_layer:
                        labels[layer] = f"{prefix}{suffix} (scope {layer})"
                    break
            if layer in labels:
                break
    return labels


def write_atomically(target: Path, data: bytes, who: str) -> None:
    """Write `data` to `target` whole or not at all (see files.py); `who` names the public function in errors."""
    files.write_atomically(target, lambda temporary: Path(temporary).write_bytes(data), who)


def run_dot(text: str, fmt: str, target: Path | str) -> bytes:
    """Lay out and render DOT text with Graphviz's `dot`; errors name the output and quote dot."""
    import graphviz

    source = text.encode("utf-8")
    try:  # quiet: dot's message goes into the error; bytes, not lines, so a dot that dies early is no BrokenPipe
        return _with_dot(lambda: graphviz.pipe("dot", fmt, source, quiet=True), graphviz)
    except graphviz.CalledProcessError as error:
        message = " ".join((error.stderr or b"").decode(errors="replace").split()) or "no message"
        raise RenderError(f"viz: Graphviz 'dot' could not render {str(target)!r} "
                          f"(exit status {error.returncode}): {message}") from None


@cache
def _digraph_class() -> type:
    """graphviz.Digraph whose render/pipe say how to install Graphviz when `dot` is missing (imported lazily)."""
    import graphviz

    class Digraph(graphviz.Digraph):
        """The graph as graphviz sees it; `.source` is `to_dot`'s text."""

        def render(self, *args: Any, **kwargs: Any) -> str:
            return _with_dot(lambda: super(Digraph, self).render(*args, **kwargs), graphviz)

        def pipe(self, *args: Any, **kwargs: Any) -> Any:
            return _with_dot(lambda: super(Digraph, self).pipe(*args, **kwargs), graphviz)

    return Digraph


def _with_dot(call: Any, graphviz: Any) -> Any:
    """Run a graphviz call, turning 'dot not found' into an error that says how to install it."""
    if shutil.which("dot") is None:
        raise GraphvizNotFoundError(f"viz: the Graphviz program 'dot' was not found on PATH; {INSTALL_HINT}")
    try:
        return call()
    except graphviz.ExecutableNotFound as error:
        raise GraphvizNotFoundError(f"viz: could not run Graphviz 'dot' ({error}); {INSTALL_HINT}") from None
