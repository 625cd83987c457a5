"""What a picture is made of: drawn nodes (`Group`: units grouped into one node), drawn edges (`Edge`, with the
gradients they carry) and the `Picture` that holds them, made by `layout.arrange` and read by `dot`."""

from __future__ import annotations

from typing import Any

JOIN_SCOPE = "\x00join:"
"""The scope of an invisible cluster holding the junction points into one layer (no user scope starts so)."""
FINAL = "final states h_n (each sequence's at its last step)"
"""The heading of a packed batch's final states, gathered after a layer's steps."""
class Group:
    """A drawn node: its kind, label, cluster scope, step (layer, t) (t None for an elided run) and the units in it."""

    __slots__ = ("kind", "label", "scope", "step", "members", "hidden", "norm", "cell_norm", "count", "signed",
                 "ends", "final_norm")

    def __init__(self, kind: str, label: str, scope: str | None, step: tuple[str, Any] | None) -> None:
        self.kind, self.label, self.scope, self.step = kind, label, scope, step
        self.members: list[int] = []
        self.hidden = False
        self.norm: float | None = None
        self.cell_norm: float | None = None
        self.signed: float | None = None
        self.count = 0
        self.ends: str | None = None  # a packed batch: the sequences whose last step this is (viz.packed)
        self.final_norm: float | None = None  # and the norm of the gradient reaching their h_n


class Edge:
    """A drawn edge: tail and head groups, the gradients it carries (tensor unit -> array), whether it is on
    the hidden-state path, and how it is laid out."""

    __slots__ = ("tail", "head", "flows", "highlighted", "norm", "fan", "constraint", "into_cluster", "backward")

    def __init__(self, tail: int, head: int) -> None:
        self.tail, self.head = tail, head
        self.flows: dict[int, Any] = {}
        self.highlighted = False
        self.norm: float | None = None
        self.fan = 0
        self.constraint = True
        self.into_cluster: str | None = None
        self.backward = False  # laid out head -> tail (a reverse direction's chain), drawn pointing at the head


class Picture:
    """Groups, edges, sets of groups on the same rank, and each layer's name and step order."""

    def __init__(self) -> None:
        self.groups: list[Group] = []
        self.edges: list[Edge] = []
        self.ranks: list[list[int]] = []
        self.layers: dict[str, list[int]] = {}
        self.group_of: list[int | None] = []
        self.state_names: dict[tuple[str, int | None], str] = {}
        self.rows: list[int] = []  # each row's first drawn node, from the bottom row (layer 0) up
        self.ends: dict[str, tuple[str, float | None]] = {}  # a step's scope -> where sequences end (viz.packed)
