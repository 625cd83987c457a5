"""Shared test set-up."""

import pytest

from tinygrad_rnn import OPS


@pytest.fixture(autouse=True)
def _forget_ops_a_test_registers():
    """An op a test registers (to check what bad ops get) leaves the registry when the test ends, pass or fail."""
    before = set(OPS)
    yield
    for name in set(OPS) - before:
        del OPS[name]
