"""How gradients are summed (gradients.py): the Accumulator, IndexedGrad and ProductGrad."""

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import gradients
from tinygrad_rnn.gradients import Accumulator, IndexedGrad, ProductGrad


def leaf(values, dtype=np.float64):
    return tg.Tensor(np.asarray(values, dtype=dtype), requires_grad=True)


# ---- the Accumulator -----------------------------------------------------------------------------------------

def test_shared_grad_untouched():
    """A gradient array an op hands to two inputs is never modified in place."""
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    total = a + b  # add hands the same gradient array to both inputs
    seen = []
    total.register_hook(lambda grad: seen.append(grad))
    ((total * 1.0) + total + total).sum().backward()  # total's gradient accumulates three times
    np.testing.assert_array_equal(a.grad, [3.0, 3.0])
    np.testing.assert_array_equal(b.grad, [3.0, 3.0])
    np.testing.assert_array_equal(seen[0], [3.0, 3.0])


# ---- IndexedGrad: a slice's gradient, scattered into one buffer ----------------------------------------------

@pytest.mark.parametrize("index, values, expected", [
    (np.array([0, 2, 2]), [1.0, 2.0, 3.0], [1.0, 0.0, 5.0, 0.0]),
    (np.array([True, False, True, False]), [1.0, 2.0], [1.0, 0.0, 2.0, 0.0]),
    (slice(1, 4, 2), [1.0, 2.0], [0.0, 1.0, 0.0, 2.0]),
    (3, 7.0, [0.0, 0.0, 0.0, 7.0]),
], ids=["repeated integers", "boolean mask", "slice", "int"])
def test_indexed_evaluate(index, values, expected):
    """Zero except at the index; an integer index that repeats an element sums there, never overwrites."""
    np.testing.assert_array_equal(IndexedGrad(index, np.array(values)).evaluate((4,)), expected)


@pytest.mark.parametrize("index, values, expected", [
    ((Ellipsis, slice(1, 3)), [[1.0, 2.0], [3.0, 4.0]], [[0, 2, 4, 0], [0, 6, 8, 0]]),
    ((1, slice(None)), [1.0, 2.0, 3.0, 4.0], [[0, 0, 0, 0], [2, 4, 6, 8]]),
    ((0, 3), 5.0, [[0, 0, 0, 10], [0, 0, 0, 0]]),
    ((np.array([1, 1]), 0), [1.0, 2.0], [[0, 0, 0, 0], [6, 0, 0, 0]]),
], ids=["gate columns", "a row", "one element", "repeated rows"])
def test_indexed_tuple_scatters_twice(index, values, expected):
    """A tuple index adds through the buffer's view when it is one (a step's gate columns), and where it is not
    (one element, an integer array) still adds; scattered twice, the values add up."""
    buffer = np.zeros((2, 4))
    gradient = IndexedGrad(index, np.array(values))
    gradient.scatter_into(buffer)
    gradient.scatter_into(buffer)
    np.testing.assert_array_equal(buffer, expected)


def test_accumulator_owns_its_buffer():
    """The sum is a buffer of the Accumulator's own: the arrays ops returned are never written."""
    first, second, third = np.ones(3), np.full(3, 2.0), np.full(3, 4.0)
    total = Accumulator(first, second, (3,))
    total.add(third, (3,))
    total.add(IndexedGrad(np.array([0, 0]), np.array([10.0, 20.0])), (3,))
    np.testing.assert_array_equal(total.evaluate((3,)), [37.0, 7.0, 7.0])
    for array, value in ((first, 1.0), (second, 2.0), (third, 4.0)):
        np.testing.assert_array_equal(array, value)
    lazy_first = Accumulator(IndexedGrad(1, np.array(5.0)), second, (3,))
    np.testing.assert_array_equal(lazy_first.evaluate((3,)), [2.0, 7.0, 2.0])
    np.testing.assert_array_equal(second, 2.0)

def test_dense_and_indexed():
    """Dense and indexed gradients mix on one node."""
    x = leaf(np.arange(4.0))
    y = x * 2.0
    z = y[0:2].sum() * 3.0 + (y * 1.0).sum() + y[[1, 3, 3]].sum() * 5.0 + y[2] * 7.0
    z.backward()
    np.testing.assert_array_equal(x.grad, 2.0 * np.array([3 + 1, 3 + 1 + 5, 1 + 7, 1 + 10]))


def test_slices_scatter():
    """Slicing a sequence per step scatters into one buffer (against a hand-written BPTT)."""
    sequence = leaf(np.random.default_rng(0).standard_normal((50, 2, 3)))
    hidden = tg.Tensor(np.zeros((2, 3)))
    for step in range(50):
        hidden = (hidden * 0.5 + sequence[step]).tanh()
    hidden.sum().backward()
    expected = np.zeros((50, 2, 3))  # hand-written BPTT of the same recurrence
    hiddens = [np.zeros((2, 3))]
    for step in range(50):
        hiddens.append(np.tanh(hiddens[-1] * 0.5 + sequence.data[step]))
    grad = np.ones((2, 3))
    for step in reversed(range(50)):
        grad = grad * (1 - hiddens[step + 1] ** 2)
        expected[step] = grad
        grad = grad * 0.5
    np.testing.assert_allclose(sequence.grad, expected, rtol=1e-12)


def test_indexed_shape_error():
    """An indexed gradient whose values do not fit the slice is refused, naming the op."""

    @tg.register("bad_indexed_test")
    class BadIndexed(tg.Function):
        @staticmethod
        def forward(ctx, x):
            return x[0]

        @staticmethod
        def backward(ctx, grad):
            return IndexedGrad(0, np.ones(5))  # the slice x[0] has shape (3,)

    x = tg.Tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(tg.GraphError, match=r"op 'bad_indexed_test'.*\(5,\).*\(3,\)"):
        BadIndexed.apply(x).sum().backward()


# ---- ProductGrad: a shared weight's products, summed as one GEMM ---------------------------------------------

def test_products_sum_exactly():
    """The weight's per-use gradients x_t^T g_t wait as factors and are summed in GEMMs over all their rows
    (in chunks, however many there are): the total must equal the plain sum, in float64 to rounding."""
    rng = np.random.default_rng(7)
    weight = tg.Tensor(rng.standard_normal((5, 3)), requires_grad=True)
    inputs = [rng.standard_normal((40, 5)) for _ in range(300)]  # enough rows for several chunks
    bias = tg.Tensor(np.zeros(3))
    total = sum(tg.addmm(bias, tg.Tensor(x), weight).tanh().sum() for x in inputs)
    total.backward()
    expected = sum(x.T @ (1 - np.tanh(x @ weight.data) ** 2) for x in inputs)
    np.testing.assert_allclose(weight.grad, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.slow  # pins the thresholds themselves; test_products_wait_rule checks the rule fast
@pytest.mark.parametrize("width, uses, sums_expected", [(300, 160, [75, 75, 10]), (600, 120, [55, 55, 10])])
def test_products_wait(monkeypatch, width, uses, sums_expected):
    """Every GEMM of waiting products writes a fresh (k, m) output that is then added into the sum, so a wide
    weight waits for factors of 4x the output's bytes (300 x 300 float64: 75 uses of 8 rows), but never more
    than 4 MB (600 x 600 would want 11.5 MB: 55 uses), so that backward's memory stays bounded; the sum is exact."""
    sums = []
    original = Accumulator._sum_products
    monkeypatch.setattr(Accumulator, "_sum_products", lambda self: sums.append(len(self.products)) or original(self))
    rng = np.random.default_rng(8)
    weight = tg.Tensor(rng.standard_normal((width, width)) / np.sqrt(width), requires_grad=True)
    inputs = [rng.standard_normal((8, width)) for _ in range(uses)]
    bias = tg.Tensor(np.zeros(width))
    sum(tg.addmm(bias, tg.Tensor(x), weight).tanh().sum() for x in inputs).backward()
    expected = sum(x.T @ (1 - np.tanh(x @ weight.data) ** 2) for x in inputs)
    np.testing.assert_allclose(weight.grad, expected, rtol=1e-12, atol=1e-12)
    assert sums == sums_expected


def test_product_evaluate():
    """left^T @ right, summed with other products as one GEMM over all their rows."""
    rng = np.random.default_rng(3)
    lefts, rights = rng.standard_normal((3, 4, 2)), rng.standard_normal((3, 4, 5))
    np.testing.assert_allclose(ProductGrad(lefts[0], rights[0]).evaluate((2, 5)), lefts[0].T @ rights[0])
    total = Accumulator(ProductGrad(lefts[0], rights[0]), np.ones((2, 5)), (2, 5))
    total.add(ProductGrad(lefts[1], rights[1]), (2, 5))
    total.add(ProductGrad(lefts[2], rights[2]), (2, 5))
    expected = 1.0 + sum(left.T @ right for left, right in zip(lefts, rights))
    np.testing.assert_allclose(total.evaluate((2, 5)), expected, rtol=1e-12)


@pytest.mark.parametrize("width, sums_expected", [(8, [16, 16, 13]), (20, [20, 20, 5]), (40, [13, 13, 13, 6])],
                         ids=["rows", "output multiple", "cap"])
def test_products_wait_rule(monkeypatch, width, sums_expected):
    """test_products_wait's rule at a small scale: with thresholds of 4 KB of rows, 4x the output's bytes and a
    16 KB cap, 45 uses of 2 rows (32 * width bytes of factors each) are summed in chunks of
    width 8: 4096 / 256 = 16 uses (the rows decide); width 20: 4 * 3200 / 640 = 20 (the output);
    width 40: 4 * 12800 would be 51200 bytes, capped at 16384: ceil(16384 / 1280) = 13 uses."""
    monkeypatch.setattr(gradients, "PRODUCT_ROWS_BYTES", 1 << 12)
    monkeypatch.setattr(gradients, "PRODUCT_OUTPUT_MULTIPLE", 4)
    monkeypatch.setattr(gradients, "PRODUCT_WAIT_MAX_BYTES", 1 << 14)
    sums = []
    original = Accumulator._sum_products
    monkeypatch.setattr(Accumulator, "_sum_products", lambda self: sums.append(len(self.products)) or original(self))
    rng = np.random.default_rng(9)
    weight = tg.Tensor(rng.standard_normal((width, width)) / np.sqrt(width), requires_grad=True)
    inputs = [rng.standard_normal((2, width)) for _ in range(45)]
    bias = tg.Tensor(np.zeros(width))
    sum(tg.addmm(bias, tg.Tensor(x), weight).tanh().sum() for x in inputs).backward()
    expected = sum(x.T @ (1 - np.tanh(x @ weight.data) ** 2) for x in inputs)
    np.testing.assert_allclose(weight.grad, expected, rtol=1e-12, atol=1e-12)
    assert sums == sums_expected


def test_product_shape_error():
    """A product gradient of the wrong shape is refused, naming the op."""

    @tg.register("bad_product_test")
    class BadProduct(tg.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * 1.0

        @staticmethod
        def backward(ctx, grad):
            return ProductGrad(np.ones((2, 4)), np.ones((2, 4)))  # (4, 4) for a (3, 3) input

    x = tg.Tensor(np.ones((3, 3)), requires_grad=True)
    with pytest.raises(tg.GraphError, match=r"op 'bad_product_test'.*\(4, 4\).*\(3, 3\)"):
        BadProduct.apply(x).sum().backward()
