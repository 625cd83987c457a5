"""Draw the unrolled graph with Graphviz, so backpropagation through time can be seen.

`to_dot(root)` returns DOT text (pure and deterministic: node ids follow `toposort`, nothing depends on `id()`);
`draw(root)` wraps it in a `graphviz.Digraph` (shown inline in Jupyter, `.render(path, format="svg")`).
Tensors are boxes, ops small ellipses; each `scope` becomes a cluster (`rnn.l0` holding `t=0`, `t=1`, ...);
a parameter is drawn once, outside the clusters, with an edge into every step that uses it.

Gradients, after `backward(retain_grads=True)`: an edge into an op carries the gradient that op sends back to
its input (computed by the op's own backward when the graph was kept with `retain_graph=True`, otherwise the
input's whole gradient); an edge out of an op carries the gradient of its output. Width and colour grow with
log10 of the norm, so a vanishing gradient is a fading line. `highlight="hidden"` draws the hidden-state path in
red: tensors made in step t and read in step t+1 of the same layer, and the ops between them.
"""

from __future__ import annotations

import shutil
from functools import cache
from pathlib import Path
from typing import Any

from ..graph import Node
from .dot import COLOURS, statements
from .dot import MAX_WIDTH as MAX_WIDTH  # re-exported: the edge widths and the fan limit stay viz.X
from .dot import MIN_WIDTH as MIN_WIDTH
from .units import MAX_FAN as MAX_FAN

__all__ = ["COLOURS", "GraphvizNotFoundError", "RenderError", "draw", "render", "to_dot"]

INSTALL_HINT = ("install Graphviz (Debian/Ubuntu: sudo apt-get install graphviz; macOS: brew install graphviz; "
                "conda: conda install -c conda-forge graphviz; others: https://graphviz.org/download/), "
                "or use viz.to_dot() for the DOT text")


class GraphvizNotFoundError(RuntimeError):
    """The Graphviz `dot` program is not installed, so a picture cannot be rendered (DOT text still can)."""


class RenderError(RuntimeError):
    """Graphviz `dot` ran but failed to render the picture; the message names the output and quotes dot."""


def to_dot(root: Node, **options: Any) -> str:
    """DOT text of the graph that produced `root` (a Tensor or a scalar Value); same input, same bytes.

    Options (keywords): params: name -> tensor (e.g. `dict(model.named_parameters())`) to name and colour the
    parameters (without it every leaf that requires grad is one; `Tensor.name` names too). show_grad: size edges
    by gradient norm (default: when any gradient is present). grad_labels: write the norm on each edge.
    highlight: "hidden" (default) or None. collapse: "timestep" (one node per step per layer) or None.
    max_steps: keep the first and last steps of each layer and elide the middle. intermediates: draw the
    tensors ops make as boxes (default True; False leaves only leaves, hidden states and the output).
    rankdir: "LR" (default), "TB", "RL", "BT". legend: draw the colour key (default True). max_values: print
    the values of tensors with at most this many elements (4): leaves and the root always, intermediates when
    the graph was recorded under `tg.keep_values()` (otherwise it holds only their shapes). grad_range: fixed
    (log10 low, log10 high) of the width scale, so several pictures compare. title: a caption.
    """
    return "digraph tinygrad_rnn {\n" + "".join(line + "\n" for line in statements(root, **options)) + "}\n"


def draw(root: Node, **options: Any) -> Any:
    """A `graphviz.Digraph` of the graph (options as `to_dot`; `.source == to_dot(root)`). Its `render` and
    `pipe` raise `GraphvizNotFoundError`, saying how to install Graphviz, when `dot` is missing."""
    body = [line + "\n" for line in statements(root, **options)]
    return _digraph_class()("tinygrad_rnn", body=body)


def render(root: Node, path: str | Path, format: str | None = None, **options: Any) -> str:  # noqa: A002
    """Write the picture to `path` and no other file (format from the suffix: svg, png, pdf, ...; .dot/.gv writes
    DOT text, no Graphviz needed); returns the path written.

    The DOT text is piped to `dot` rather than saved beside the picture, so a user's `<name>.gv` is never
    overwritten or deleted, and nothing is written when `dot` fails (`RenderError`) or is missing.
    """
    target = Path(path)
    fmt = (format or target.suffix.lstrip(".") or "svg").lower()
    if fmt in ("dot", "gv"):
        target.write_text(to_dot(root, **options), encoding="utf-8")
        return str(target)
    import graphviz

    source = to_dot(root, **options).encode("utf-8")
    try:  # quiet: dot's message goes into the error; bytes, not lines, so a dot that dies early is no BrokenPipe
        picture = _with_dot(lambda: graphviz.pipe("dot", fmt, source, quiet=True), graphviz)
    except graphviz.CalledProcessError as error:
        message = " ".join((error.stderr or b"").decode(errors="replace").split()) or "no message"
        raise RenderError(f"viz: Graphviz 'dot' could not render {str(target)!r} "
                          f"(exit status {error.returncode}): {message}") from None
    target.write_bytes(picture)
    return str(target)


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
