"""The engine's two errors: a misuse of the graph, and bad input to an op."""


class GraphError(RuntimeError):
    """A misuse of the graph (backward through a freed graph, on a non-scalar without grad, ...) or a gradient
    from an op's backward that does not fit its input."""


class OpError(ValueError):
    """Bad input to an op: names the op, the input shapes and what it expected."""
