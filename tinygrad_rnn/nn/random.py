"""The random generator behind parameter initialisation and dropout; `manual_seed` makes runs repeatable."""

from __future__ import annotations

import numpy as np

from ..factories import check_seed

_generator = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed the generator that layers draw their initial weights and dropout masks from (seed: an int >= 0)."""
    global _generator
    _generator = np.random.default_rng(check_seed(seed, "manual_seed"))
    return _generator


def default_generator() -> np.random.Generator:
    """The generator in use (reseeded by `manual_seed`)."""
    return _generator
