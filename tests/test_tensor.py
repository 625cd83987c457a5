"""The engine's contract: accumulation, the classic traps, graph lifetime, grad mode, scopes, errors."""

import weakref

import numpy as np
import pytest

import tinygrad_rnn as tg


def leaf(values, dtype=np.float64):
    return tg.Tensor(np.asarray(values, dtype=dtype), requires_grad=True)


def test_reuse_a_plus_a():
    a = leaf([3.0])
    (a + a).sum().backward()
    assert a.grad[0] == 2.0


def test_reused_intermediate_receives_all_its_gradient_first():
    a = leaf([3.0])
    b = a + a
    c = b * b  # dc/da = 2b * 2 = 24
    c.sum().backward()
    assert a.grad[0] == 24.0


def test_diamond():
    a = leaf([2.0])
    left, right = a * 3.0, a.exp()
    (left * right).sum().backward()
    np.testing.assert_allclose(a.grad, [3 * np.exp(2.0) + 6 * np.exp(2.0)])


def test_backward_twice_accumulates_on_leaves():
    a = leaf([1.0, 2.0])
    (a * a).sum().backward()
    (a * a).sum().backward()
    np.testing.assert_array_equal(a.grad, [4.0, 8.0])


def test_shared_weight_gets_the_sum_over_uses():
    weight = leaf([[0.5]])
    hidden = tg.Tensor(np.ones((1, 1)))
    for _ in range(4):
        hidden = hidden @ weight
    hidden.sum().backward()  # d(w^4)/dw = 4 w^3
    np.testing.assert_allclose(weight.grad, [[4 * 0.5**3]])


def test_a_100000_op_chain_has_no_recursion_error():
    x = leaf([1.0])
    y = x
    for _ in range(100_000):
        y = y * 1.0
    y.sum().backward()
    assert x.grad[0] == 1.0


def test_grad_kept_only_on_leaves_and_retained_nodes():
    a = leaf([1.0, 2.0])
    hidden = a * 2.0
    kept = hidden.tanh()
    kept.retain_grad()
    kept.sum().backward()
    assert a.grad is not None and kept.grad is not None and hidden.grad is None
    assert kept.grad.shape == kept.shape


def test_retain_grads_keeps_grad_on_every_node():
    a = leaf([1.0, 2.0])
    hidden = a * 2.0
    out = hidden.sum()
    out.backward(retain_grads=True)
    np.testing.assert_array_equal(hidden.grad, [1.0, 1.0])
    assert out.grad == 1.0


def test_the_graph_holds_what_backward_reads_and_not_the_outputs():
    x = leaf(np.ones((3, 4)))
    preactivation = x * 2.0  # tanh saves its output, not its input: nothing reads this array in backward
    array = weakref.ref(preactivation.data)
    hidden = preactivation.tanh()
    assert hidden.grad_fn.parents == (preactivation.grad_fn,)  # vertices, not the tensors and their data
    del preactivation
    assert array() is None  # freed: as in PyTorch, only what an op saved outlives the user's reference
    hidden.sum().backward()
    np.testing.assert_allclose(x.grad, 2.0 * (1.0 - np.tanh(2.0) ** 2))


def test_keep_values_lets_the_graph_hold_every_output():
    x = leaf(np.ones((3, 4)))
    with tg.keep_values():
        preactivation = x * 2.0
        preactivation.name = "preactivation"
        hidden = preactivation.tanh()
    array = weakref.ref(preactivation.data)
    del preactivation
    kept = hidden.grad_fn.parents[0].output
    assert array() is kept.data and kept.name == "preactivation"
    assert (x * 2.0).grad_fn.output is None  # only inside the block


def test_a_non_leaf_grad_lives_on_its_vertex():
    a = leaf([1.0, 2.0])
    hidden = a * 2.0
    hidden.retain_grad()
    (hidden * hidden).sum().backward()
    np.testing.assert_array_equal(hidden.grad, [4.0, 8.0])
    assert hidden.grad is hidden.grad_fn.grad
    hidden.grad = None
    assert hidden.grad_fn.grad is None


def test_second_backward_through_freed_graph_is_a_clear_error():
    a = leaf([1.0])
    out = (a * a).sum()
    out.backward()
    with pytest.raises(tg.GraphError, match="freed.*retain_graph=True"):
        out.backward()


def test_retain_graph_allows_a_second_backward():
    a = leaf([3.0])
    out = (a * a).sum()
    out.backward(retain_graph=True)
    out.backward()
    assert a.grad[0] == 12.0


def test_backward_on_non_scalar_without_grad_is_a_clear_error():
    a = leaf([1.0, 2.0])
    with pytest.raises(tg.GraphError, match=r"shape \(2,\).*grad="):
        (a * 2).backward()
    (a * 2).backward(np.array([1.0, 0.5]))
    np.testing.assert_array_equal(a.grad, [2.0, 1.0])


def test_leaf_grads_are_independent_arrays():
    a, b = leaf([1.0]), leaf([2.0])
    (a + b).sum().backward()
    a.grad *= 10  # an optimiser scaling one grad in place must not touch another
    assert b.grad[0] == 1.0


def test_no_grad_builds_no_graph():
    a = leaf([1.0])
    with tg.no_grad():
        out = a * 2
    assert out.is_leaf and not out.requires_grad
    with pytest.raises(tg.GraphError, match="does not require grad"):
        out.sum().backward()


def test_inputs_without_grad_get_no_gradient():
    a = leaf([1.0])
    constant = tg.Tensor(np.array([5.0]))
    (a * constant).sum().backward()
    assert constant.grad is None and a.grad[0] == 5.0


def test_detach_stops_the_gradient():
    a = leaf([2.0])
    (a * a.detach()).sum().backward()
    assert a.grad[0] == 2.0


def test_scopes_nest_and_tag_nodes():
    a = leaf([1.0])
    with tg.scope("rnn.l0"):
        with tg.scope("t=3") as name:
            out = a.tanh()
    assert name == "rnn.l0/t=3" and out.scope == "rnn.l0/t=3" and out.op == "tanh"
    assert (a * 2).scope is None


def test_step_scopes_name_each_step_and_restore_the_scope_even_after_an_error():
    from tinygrad_rnn.mode import step_scopes

    a = leaf([1.0])
    outputs = []
    with tg.scope("net"), step_scopes("rnn.l0", [2, 1]) as steps:
        for _ in steps:
            outputs.append(a.tanh())
    assert [out.scope for out in outputs] == ["net/rnn.l0/t=2", "net/rnn.l0/t=1"]
    with pytest.raises(ZeroDivisionError), step_scopes("rnn.l0", range(3)) as steps:
        for step in steps:
            1 / (1 - step)
    assert (a * 2).scope is None  # the error did not leave the step's scope behind


def test_hooks_see_and_may_replace_the_gradient():
    a = leaf([1.0, 2.0])
    hidden = a * 3.0
    seen = []
    hidden.register_hook(lambda grad: seen.append(grad.copy()))
    hidden.register_hook(lambda grad: grad * 0.5)
    hidden.sum().backward()
    np.testing.assert_array_equal(seen[0], [1.0, 1.0])
    np.testing.assert_array_equal(a.grad, [1.5, 1.5])


def test_retain_grad_on_a_value_without_grad_says_so():
    with pytest.raises(tg.GraphError, match="retain_grad: this value does not require grad"):
        tg.tensor([1.0]).retain_grad()


def test_a_removed_hook_is_not_called_and_removing_twice_is_harmless():
    a = leaf([1.0])
    calls = []
    remove = a.register_hook(calls.append)
    remove()
    remove()  # as PyTorch's handle.remove(): nothing left to remove
    (a * 2).sum().backward()
    assert calls == [] and a.grad[0] == 2.0


def test_toposort_orders_inputs_before_outputs():
    a = leaf([1.0])
    b = a * 2
    c = b + a
    order = tg.toposort(c)  # the graph's vertices: leaves, and the contexts that stand for op outputs
    assert order == [a, b.grad_fn, c.grad_fn]


def test_dtypes_default_float32_and_float64_is_kept():
    assert tg.tensor([1.0, 2.0]).dtype == np.float32
    assert tg.zeros(2, 3).dtype == np.float32 and tg.ones(2).shape == (2,)
    assert tg.Tensor(np.zeros(3)).dtype == np.float64
    x = tg.tensor([1.0], dtype=np.float64, requires_grad=True)
    y = (x * 2 + 1).tanh()
    assert y.dtype == np.float64
    y.sum().backward()
    assert x.grad.dtype == np.float64
    small = tg.tensor([1.0, 2.0], requires_grad=True)
    assert (small * 0.5 + 1).dtype == np.float32  # Python numbers do not upcast


def test_leaf_grad_is_cast_to_the_leaf_dtype():
    weight = tg.tensor([1.0, 2.0], requires_grad=True)
    (weight * tg.Tensor(np.array([1.0, 1.0]))).sum().backward()  # float64 partner
    assert weight.grad.dtype == np.float32


def test_factories_are_reproducible_and_arange_is_integer():
    assert np.array_equal(tg.randn(3, 2, generator=7).data, tg.randn(3, 2, generator=7).data)
    rng = np.random.default_rng(1)
    assert tg.randn(2, generator=rng).shape == (2,)
    assert tg.arange(5).dtype.kind == "i" and tg.arange(0.0, 1.0, 0.25).shape == (4,)
    assert tg.arange(0.0, 1.0, 0.25).dtype == np.float32 and tg.arange(3, step=0.5).dtype == np.float32


def test_reductions_take_a_list_of_axes():
    x = tg.tensor(np.arange(24.0).reshape(2, 3, 4))
    for reduce in ("sum", "mean", "max"):
        np.testing.assert_array_equal(getattr(x, reduce)(axis=[0, 2]).data, getattr(x.data, reduce)(axis=(0, 2)))


def test_numpy_integers_work_as_sizes():
    assert tg.zeros(np.int64(3)).shape == (3,) and tg.ones((np.int32(2), 3)).shape == (2, 3)
    x = tg.randn(2, 3)
    assert x.reshape(np.prod((2, 3))).shape == (6,) and x.reshape(np.int64(3), 2).shape == (3, 2)
    assert [p.shape for p in tg.randn(6).split(np.int64(4))] == [(4,), (2,)]
    assert [p.shape for p in tg.randn(6).chunk(np.int64(2))] == [(3,), (3,)]


def test_split_refuses_negative_sizes_and_keeps_an_empty_piece():
    with pytest.raises(ValueError, match=r"split: expected sizes of at least 0 that add up to the length 3 of "
                                         r"axis 0, got \[4, -1\]"):
        tg.arange(3.0).split([4, -1])
    assert [p.shape for p in tg.zeros(0, 2).split(1)] == [(0, 2)]  # as torch.split: one empty piece


def test_tensors_are_numbers_to_numpy_and_to_tensor():
    x = tg.tensor([1.0, 2.0])
    assert np.array(x).dtype == np.float32 and np.allclose(x, [1.0, 2.0])
    assert np.array(x, dtype=np.float64).dtype == np.float64
    joined = tg.tensor([tg.tensor(1.0), tg.tensor(2.0)])
    assert joined.dtype == np.float32 and joined.shape == (2,)
    for bad in (None, "abc", [[1.0], [1.0, 2.0]], {"a": 1}):
        with pytest.raises(TypeError, match=r"tensor: expected numbers"):
            tg.tensor(bad)


def test_truth_value_of_a_tensor_as_in_pytorch():
    assert not tg.tensor([0.0]) and tg.tensor(2.0) and float(tg.tensor([[2.5]])) == 2.5
    with pytest.raises(ValueError, match=r"bool: the truth value of a tensor of shape \(2,\) \(2 elements\) "
                                         r"is ambiguous"):
        bool(tg.tensor([0.0, 0.0]))


def test_numpy_item_transpose_and_indexing():
    x = tg.Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    assert x.T.shape == (3, 2) and x[1].shape == (3,) and x[:, 1:].shape == (2, 2)
    assert x[1, 2].item() == 5.0 and x.numpy() is x.data
    assert x.transpose(0, 1).shape == (3, 2) and x.permute(1, 0).shape == (3, 2)
    out = (2.0 - x) / 2 + 1 / (x + 1) - (-x) ** 2
    assert out.shape == (2, 3)


# ---- errors ----------------------------------------------------------------------------------------------------

def test_matmul_shape_mismatch_names_the_op_and_both_shapes():
    with pytest.raises(tg.OpError, match=r"'matmul'.*\(3, 4\) and \(5, 2\).*inner dimensions"):
        tg.randn(3, 4) @ tg.randn(5, 2)


def test_broadcast_mismatch_names_the_op_and_both_shapes():
    with pytest.raises(tg.OpError, match=r"'add'.*\(3, 4\) and \(5,\).*broadcast"):
        tg.randn(3, 4) + tg.randn(5)


def test_requires_grad_on_integer_tensor_is_an_error():
    with pytest.raises(TypeError, match="floating-point"):
        tg.Tensor(np.arange(3), requires_grad=True)


def test_unknown_op_name_lists_the_known_ones():
    with pytest.raises(KeyError, match="unknown op 'softmaxx'.*softmax"):
        tg.get_op("softmaxx")


def test_user_op_returning_wrong_number_of_gradients_is_named():
    @tg.register("bad_count")
    class BadCount(tg.Function):
        @staticmethod
        def forward(ctx, x, y):
            return x + y

        @staticmethod
        def backward(ctx, grad):
            return (grad,)

    out = BadCount.apply(leaf([1.0]), leaf([2.0]))
    with pytest.raises(tg.GraphError, match="'bad_count'.*1 gradient.*2 input"):
        out.sum().backward()


def test_user_op_whose_backward_fails_or_returns_no_array_is_named():
    @tg.register("bad_matmul_test")
    class BadMatMul(tg.Function):
        @staticmethod
        def forward(ctx, x, w):
            ctx.save_for_backward(x, w)
            return x @ w

        @staticmethod
        def backward(ctx, grad):
            x, w = ctx.saved_tensors
            return grad @ w, x.T @ grad  # the first should be grad @ w.T

    out = BadMatMul.apply(leaf(np.ones((2, 3))), leaf(np.ones((3, 4))))
    with pytest.raises(tg.GraphError, match=r"op 'bad_matmul_test': its backward failed for input shapes \(2, 3\) "
                                            r"and \(3, 4\) and an output gradient of shape \(2, 4\) \(ValueError: "):
        out.sum().backward()

    @tg.register("float_grad_test")
    class FloatGrad(tg.Function):
        @staticmethod
        def forward(ctx, x):
            return 2.0 * x

        @staticmethod
        def backward(ctx, grad):
            return 2.0 * float(grad)  # a Python float has no shape: the engine wants an array (np.float64)

    from tinygrad_rnn.scalar import Value

    with pytest.raises(tg.GraphError, match=r"op 'float_grad_test': backward returned a float for input 0; "
                                            r"expected an array \(np.float64 for a Value\) or None"):
        FloatGrad.apply(Value(1.5)).backward()


def test_user_op_returning_wrong_gradient_shape_is_named():
    @tg.register("bad_shape")
    class BadShape(tg.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            return grad[:1]

    out = BadShape.apply(leaf([1.0, 2.0, 3.0]))
    with pytest.raises(tg.GraphError, match=r"'bad_shape'.*shape \(1,\).*shape \(3,\)"):
        out.sum().backward()


def test_registering_a_name_twice_is_an_error():
    with pytest.raises(ValueError, match="already registered"):
        tg.register("add")(type("Again", (tg.Function,), {}))
    with pytest.raises(ValueError, match=r"register\('my_mul'\): Mul is already registered as 'mul'"):
        tg.register("my_mul")(tg.get_op("mul"))
    assert tg.get_op("mul").name == "mul" and "my_mul" not in tg.OPS
    with pytest.raises(TypeError, match=r"register: an op's name must be a non-empty string, got 3"):
        tg.register(3)


def test_detect_anomaly_names_op_scope_and_shapes():
    x = leaf([1.0, 0.0])
    with tg.detect_anomaly(), tg.scope("t=1"), np.errstate(divide="ignore"):
        with pytest.raises(FloatingPointError, match=r"'log'.*forward.*t=1.*\(2,\)"):
            x.log()
    y = leaf([0.0])
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (y ** 0.5).sum()  # forward is finite (0), backward is inf
        with tg.detect_anomaly(), pytest.raises(FloatingPointError, match="'pow'.*backward"):
            out.backward()



def test_detect_anomaly_blames_the_data_or_the_hook_that_brought_nan_not_the_next_op():
    x = tg.tensor([1.0, np.nan])
    with tg.detect_anomaly(), pytest.raises(FloatingPointError, match=r"op 'reshape' received NaN/inf in its input "
                                                                      r"0 .*: they came in with the data"):
        x.reshape(2, 1)
    a = leaf([1.0])
    hidden = a * 2.0
    hidden.register_hook(lambda grad: grad * np.nan)
    with tg.detect_anomaly(), pytest.raises(FloatingPointError, match=r"hook .*<lambda>.* returned NaN/inf for a "
                                                                      r"node of shape \(1,\)"):
        (hidden * 3.0).sum().backward()


def test_dense_and_indexed_gradients_mix_on_one_node():
    x = leaf(np.arange(4.0))
    y = x * 2.0
    z = y[0:2].sum() * 3.0 + (y * 1.0).sum() + y[[1, 3, 3]].sum() * 5.0 + y[2] * 7.0
    z.backward()
    np.testing.assert_array_equal(x.grad, 2.0 * np.array([3 + 1, 3 + 1 + 5, 1 + 7, 1 + 10]))


def test_slicing_per_step_scatters_into_one_buffer():
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


def test_shared_gradient_arrays_are_never_modified_in_place():
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    total = a + b  # add hands the same gradient array to both inputs
    seen = []
    total.register_hook(lambda grad: seen.append(grad))
    ((total * 1.0) + total + total).sum().backward()  # total's gradient accumulates three times
    np.testing.assert_array_equal(a.grad, [3.0, 3.0])
    np.testing.assert_array_equal(b.grad, [3.0, 3.0])
    np.testing.assert_array_equal(seen[0], [3.0, 3.0])


# ---- found in review: each of these failed before its fix ---------------------------------------------------

def test_a_backward_that_fails_half_way_leaves_nothing_for_the_next():
    x, w = leaf([1.0, 2.0]), leaf([0.0, 1.0])
    with pytest.raises(FloatingPointError), np.errstate(divide="ignore"), tg.detect_anomaly():
        ((w ** 0.5).sum() + (x * 2.0).sum()).backward()
    x.grad = None
    (x * 1.0).sum().backward()
    np.testing.assert_array_equal(x.grad, [1.0, 1.0])


def test_relu_and_pow_zero_do_not_turn_an_infinite_upstream_gradient_into_nan():
    x = leaf([-1.0, 4.0])
    with np.errstate(divide="ignore"):
        (x.relu() ** 0.5).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.25])
    y = leaf([0.0, 2.0])
    (y ** 0).sum().backward()
    np.testing.assert_array_equal(y.grad, [0.0, 0.0])


def test_float32_stays_float32_with_numpy_constants():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    assert (x + np.zeros(2)).dtype == np.float32 and (np.ones(2) * x).dtype == np.float32
    assert (x ** np.float64(2)).dtype == np.float32
    assert tg.where([True, False], 1.0, 2.0).dtype == np.float32
    assert tg.where([True, False], x, np.float64(3.0)).dtype == np.float32
    assert (tg.arange(3) + 2.5).data.tolist() == [2.5, 3.5, 4.5]  # an integer tensor is not truncated
    seen = []
    out = (x * np.float64(3.0)).max()
    out.register_hook(lambda grad: seen.append(grad.dtype))
    x.register_hook(lambda grad: seen.append(grad.dtype))
    out.backward()
    assert seen == [np.float32, np.float32]


def test_a_hook_returning_the_wrong_shape_is_named():
    x = leaf([1.0, 2.0, 3.0])

    def summing_hook(grad):
        return grad.sum()

    x.register_hook(summing_hook)
    with pytest.raises(tg.GraphError, match=r"summing_hook.*shape \(\).*shape \(3,\)"):
        (x * 2.0).sum().backward()


def test_an_index_array_changed_after_the_forward_does_not_move_the_gradient():
    x = leaf([1.0, 2.0, 3.0, 4.0])
    index = np.array([1, 2])
    out = x[index].sum()
    index[:] = 0
    out.backward()
    np.testing.assert_array_equal(x.grad, [0.0, 1.0, 1.0, 0.0])


def test_gradcheck_takes_non_contiguous_inputs_and_runs_under_no_grad():
    matrix = np.arange(6.0).reshape(2, 3).T / 10
    assert tg.gradcheck(lambda x: x.tanh(), [matrix])
    with tg.no_grad():
        assert tg.gradcheck(lambda x: x * x, [np.array([1.0, 2.0])])


@pytest.mark.parametrize("scalar", [np.array(0.3), 0.3, np.float32(0.3), tg.tensor(0.3)],
                         ids=["0-d array", "float", "numpy float32", "0-d tensor"])
def test_gradcheck_keeps_a_scalar_input_a_scalar(scalar):
    shapes = []
    assert tg.gradcheck(lambda x: (shapes.append(x.shape), (x * x).tanh())[1], [scalar])
    assert set(shapes) == {()}


def test_bad_inputs_get_clear_errors():
    x = tg.randn(2, 3)
    with pytest.raises(TypeError, match="cat: expected a Tensor at position 1, got ndarray"):
        tg.cat([x, np.ones((2, 3))])
    with pytest.raises(ValueError, match="stack: expected a non-empty"):
        tg.stack([])
    with pytest.raises(TypeError, match="op 'add': inputs must be Tensors"):
        tg.get_op("add").apply(x, np.ones(3))
    with pytest.raises(ValueError, match=r"transpose: axis 5 is out of range for a tensor of shape \(2, 3\)"):
        x.transpose(0, 5)
    with pytest.raises(ValueError, match="split: axis 2 is out of range"):
        x.split(1, axis=2)
    with pytest.raises(ValueError, match="chunk: chunks must be a positive integer"):
        x.chunk(0)
    with pytest.raises(TypeError, match="len.. of a 0-d tensor"):
        len(x.sum())
    from tinygrad_rnn.scalar import Value

    with pytest.raises(TypeError, match="other operand, got Value"):
        x + Value(1.0)
    with pytest.raises(TypeError, match=r"Value holds one real number, got ndarray of shape \(3,\)"):
        Value(np.ones(3))
    for not_a_number in (None, "3.5"):  # numpy's float64 would take both (as nan and 3.5)
        with pytest.raises(TypeError, match="Value holds one real number, got"):
            Value(2.0) + not_a_number
    with pytest.raises(TypeError, match="where: condition must be a boolean"):
        tg.where(None, x, x)


def test_a_user_op_may_read_needs_input_grad_in_forward_under_no_grad():
    @tg.register("reads_needs")
    class ReadsNeeds(tg.Function):
        @staticmethod
        def forward(ctx, x, y):
            needs_x, needs_y = ctx.needs_input_grad
            return x + y

        @staticmethod
        def backward(ctx, grad):
            return grad, grad

    with tg.no_grad():
        out = ReadsNeeds.apply(leaf([1.0]), leaf([2.0]))
    assert out.item() == 3.0


def test_a_bug_inside_a_user_forward_keeps_its_own_error():
    @tg.register("buggy")
    class Buggy(tg.Function):
        @staticmethod
        def forward(ctx, x):
            return undefined_name * x  # noqa: F821

        @staticmethod
        def backward(ctx, grad):
            return grad

    with pytest.raises(NameError):
        Buggy.apply(leaf([1.0]))


def test_a_weight_shared_by_many_addmms_sums_its_product_gradients_exactly():
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


@pytest.mark.parametrize("width, uses, sums_expected", [(300, 160, [75, 75, 10]), (600, 120, [55, 55, 10])])
def test_product_gradients_of_a_wide_weight_wait_for_rows_beside_the_output_up_to_4_mb(monkeypatch, width, uses,
                                                                                        sums_expected):
    """Every GEMM of waiting products writes a fresh (k, m) output that is then added into the sum, so a wide
    weight waits for factors of 4x the output's bytes (300 x 300 float64: 75 uses of 8 rows), but never more
    than 4 MB (600 x 600 would want 11.5 MB: 55 uses), so that backward's memory stays bounded; the sum is exact."""
    from tinygrad_rnn.gradients import Accumulator

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


def test_a_product_gradient_of_the_wrong_shape_is_refused_naming_the_op():
    from tinygrad_rnn.gradients import ProductGrad

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


def test_an_indexed_gradient_whose_values_do_not_fit_the_slice_is_refused_naming_the_op():
    from tinygrad_rnn.gradients import IndexedGrad

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


def test_pytorch_words_dim_and_keepdim_mean_what_axis_and_keepdims_mean():
    x = tg.Tensor(np.random.default_rng(0).standard_normal((2, 3, 4)))
    for name in ("sum", "mean"):
        np.testing.assert_array_equal(getattr(x, name)(dim=1, keepdim=True).data,
                                      getattr(x, name)(axis=1, keepdims=True).data)
        np.testing.assert_array_equal(getattr(x, name)(dim=[0, 2]).data, getattr(x.data, name)(axis=(0, 2)))
    for name in ("softmax", "log_softmax"):
        np.testing.assert_array_equal(getattr(x, name)(dim=0).data, getattr(x, name)(axis=0).data)
        np.testing.assert_array_equal(getattr(x, name)().data, getattr(x, name)(axis=-1).data)
    for ours, theirs in zip(x.split(2, dim=2), np.split(x.data, 2, axis=2)):
        np.testing.assert_array_equal(ours.data, theirs)
    for ours, theirs in zip(x.chunk(3, dim=-2), np.split(x.data, 3, axis=1)):
        np.testing.assert_array_equal(ours.data, theirs)
    np.testing.assert_array_equal(tg.cat([x, 2 * x], dim=1).data, np.concatenate([x.data, 2 * x.data], axis=1))
    np.testing.assert_array_equal(tg.stack([x, 2 * x], dim=-1).data, np.stack([x.data, 2 * x.data], axis=-1))
    assert tg.cat([x, x]).shape == (4, 3, 4) and tg.stack([x, x]).shape == (2, 2, 3, 4)


def test_max_with_dim_picks_the_first_of_ties_and_sends_it_the_whole_gradient_as_torch_does():
    """torch.max(dim) reports one index per row and its backward goes to that element alone (amax would share
    it among ties); numpy's `axis` keeps sharing, as before."""
    data = np.array([[1.0, 5.0, 5.0], [7.0, 0.0, 7.0]])
    x = leaf(data)
    values, indices = x.max(dim=-1, keepdim=True)
    np.testing.assert_array_equal(values.data, [[5.0], [7.0]])
    np.testing.assert_array_equal(indices.data, [[1], [0]])
    (values * tg.Tensor(np.array([[2.0], [3.0]]))).sum().backward()
    np.testing.assert_array_equal(x.grad, [[0, 2, 0], [3, 0, 0]])
    shared = leaf(data)
    shared.max(axis=1).sum().backward()
    np.testing.assert_array_equal(shared.grad, [[0, 0.5, 0.5], [0.5, 0, 0.5]])


def test_max_with_dim_answers_values_and_indices_as_torch_max():
    data = np.array([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]])
    x = leaf(data)
    values, indices = x.max(dim=1)
    np.testing.assert_array_equal(values.data, [5.0, 7.0])
    np.testing.assert_array_equal(indices.data, [1, 0])
    assert not indices.requires_grad and indices.data.dtype.kind == "i"
    values.sum().backward()  # the values carry the gradient, to the largest element of each row
    np.testing.assert_array_equal(x.grad, [[0, 1, 0], [1, 0, 0]])
    kept = x.max(dim=0, keepdim=True)
    assert kept.values.shape == (1, 3) and kept.indices.shape == (1, 3)
    np.testing.assert_array_equal(x.max(axis=1).data, [5.0, 7.0])  # numpy's word: the values alone


def test_giving_both_the_numpy_and_the_pytorch_word_is_refused():
    x = tg.Tensor(np.ones((2, 3)))
    with pytest.raises(TypeError, match=r"sum: got both axis=0 and dim=1"):
        x.sum(axis=0, dim=1)
    with pytest.raises(TypeError, match=r"mean: got both keepdims=True and keepdim=False"):
        x.mean(keepdims=True, keepdim=False)
    with pytest.raises(TypeError, match=r"cat: got both axis=0 and dim=0"):
        tg.cat([x, x], 0, dim=0)
    with pytest.raises(TypeError, match=r"max: dim must be one integer"):
        x.max(dim=(0, 1))
    with pytest.raises(ValueError, match=r"max: axis 2 is out of range for a tensor of shape \(2, 3\)"):
        x.max(dim=2)


@pytest.mark.parametrize("requires_grad", [True, False])
@pytest.mark.parametrize("returned", [[1.0, 2.0], None, 3.0])
def test_a_user_forward_that_returns_no_array_is_refused_naming_the_op(requires_grad, returned):
    name = f"returns_{type(returned).__name__}_{requires_grad}"

    @tg.register(name)
    class ReturnsNoArray(tg.Function):
        @staticmethod
        def forward(ctx, x):
            return returned

        @staticmethod
        def backward(ctx, grad):
            return grad

    x = tg.Tensor(np.array([1.0, 2.0]), requires_grad=requires_grad)
    with pytest.raises(tg.OpError, match=rf"op '{name}': forward returned a {type(returned).__name__}; expected a "
                                         "numpy array"):
        ReturnsNoArray.apply(x)


@pytest.mark.parametrize("requires_grad", [True, False])
@pytest.mark.parametrize("kind, make", [("scalar", lambda x: x.sum()), ("0_d", lambda x: np.asarray(x.sum())),
                                        ("array", lambda x: np.float32(2.0) * x)])
def test_a_user_forward_may_return_numpy_scalars_and_0_d_arrays(requires_grad, kind, make):
    name = f"returns_numpy_{kind}_{requires_grad}"

    @tg.register(name)
    class ReturnsNumpy(tg.Function):
        @staticmethod
        def forward(ctx, x):
            return make(x)

        @staticmethod
        def backward(ctx, grad):
            return np.ones((2,)) * grad

    out = ReturnsNumpy.apply(tg.Tensor(np.array([1.0, 2.0]), requires_grad=requires_grad))
    assert out.requires_grad == requires_grad and np.shape(out.data) in ((), (2,))
