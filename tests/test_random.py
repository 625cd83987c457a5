"""Seeds: nn.manual_seed and randn(generator=) take numpy's seeds and refuse anything else in their own words."""

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import nn


@pytest.mark.parametrize("seed, error, message", [
    (-1, ValueError, "manual_seed: a seed must be a whole number >= 0, got -1"),
    (-(10**100), ValueError, r"got -10+\.\.\. \(102 characters\)"),
    (1.5, TypeError, "manual_seed: expected a seed \\(a whole number >= 0\\), got 1.5 of type float"),
    ("3", TypeError, "got '3' of type str"),
    (None, TypeError, "got None of type NoneType"),
    (True, TypeError, "got True of type bool"),
    (np.random.default_rng(0), TypeError, "of type Generator"),
])
def test_manual_seed_refuses_non_seeds(seed, error, message):
    with pytest.raises(error, match=message):
        nn.manual_seed(seed)


@pytest.mark.parametrize("generator, error", [(-1, ValueError), (-(2**64), ValueError), (1.5, TypeError),
                                              ("0", TypeError), (True, TypeError), ([1, 2], TypeError)])
def test_randn_refuses_bad_generators(generator, error):
    """randn refuses a generator that is neither a numpy Generator nor a seed."""
    with pytest.raises(error, match=r"randn: generator must be a numpy Generator, a seed \(a whole number >= 0\) "
                                    r"or None, got "):
        tg.randn(2, generator=generator)


def test_seeds_are_numpys():
    """Seeds are numpy's: any whole number from zero, numpy integers too."""
    for seed in (0, 2**100, np.int64(7), np.uint8(3)):
        expected = np.random.default_rng(int(seed)).standard_normal(3).astype(np.float32)
        np.testing.assert_array_equal(tg.randn(3, generator=seed).data, expected)
        np.testing.assert_array_equal(nn.manual_seed(seed).standard_normal(3).astype(np.float32), expected)
    generator = np.random.default_rng(5)
    np.testing.assert_array_equal(tg.randn(2, generator=generator).data,
                                  np.random.default_rng(5).standard_normal(2).astype(np.float32))
    assert tg.randn(2, generator=None).shape == (2,)
