"""Shared test set-up: every test finds the op registry as the package made it, and leaves it so."""

import os

import pytest

from tinygrad_rnn import OPS

BUILT_IN_OPS = dict(OPS)
"""The registry as importing the package fills it (conftest is imported before any test module)."""


def pytest_collection_finish(session: pytest.Session) -> None:
    """An op registered when a test module is imported would stay in OPS for every later test: refuse it."""
    stray = sorted(set(OPS) - set(BUILT_IN_OPS))
    if stray:
        raise pytest.UsageError(f"a test module registers op(s) {', '.join(stray)} when it is imported; register "
                                "them inside a test or a fixture, which removes them again")


@pytest.fixture(autouse=True)
def _restore_the_op_registry():
    """An op a test registers (or replaces) leaves the registry when the test ends, pass or fail. Ops a
    module-scoped fixture registered are there before this runs, so they stay for that module's tests."""
    before = dict(OPS)
    yield
    if OPS != before:
        OPS.clear()
        OPS.update(before)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Under CI (the CI environment variable set, as .ci/run does) a skip is a failure: CI installs every tool
    and PyTorch, so a test that skips there says that its set-up is broken, not that the test passed."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped under CI, where nothing may skip: {reason}"
