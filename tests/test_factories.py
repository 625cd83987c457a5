"""factories: new tensors (zeros, ones, randn and their _like forms) and what bad sizes get."""

import numpy as np
import pytest

import tinygrad_rnn as tg


@pytest.mark.parametrize("make", [tg.zeros, tg.ones, tg.randn])
def test_sizes_one_by_one_or_as_a_sequence(make):
    assert make(2, 3).shape == make((2, 3)).shape == make([2, np.int64(3)]).shape == (2, 3)
    assert make().shape == () and make(0, 4).shape == (0, 4)


@pytest.mark.parametrize("make,name", [(tg.zeros, "zeros"), (tg.ones, "ones"), (tg.randn, "randn")])
@pytest.mark.parametrize("sizes,error", [((-2,), ValueError), ((2.5,), TypeError), ((2, "3"), TypeError),
                                         (([2, -1],), ValueError)])
def test_bad_sizes_are_named(make, name, sizes, error):
    with pytest.raises(error, match=rf"{name}: sizes must be whole numbers >= 0, got "):
        make(*sizes)


@pytest.mark.parametrize("like", [tg.zeros_like, tg.ones_like, tg.randn_like])
def test_like_needs_a_tensor(like):
    assert like(tg.zeros(2, 3, dtype=np.float64)).dtype == np.float64
    with pytest.raises(TypeError, match=rf"{like.__name__}: expected a Tensor, got list"):
        like([1.0, 2.0])
