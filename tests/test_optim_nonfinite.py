"""Non-finite gradients: clip_grad_norm_'s error_if_nonfinite (and PyTorch's scaling without it), and the
optimizers' check_finite / detect_anomaly refusal of a step that would write NaN or inf."""

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import Tensor, optim
from tinygrad_rnn.nn.utils import clip_grad_norm_

STATEFUL = [(optim.SGD, {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
            (optim.Adam, {"lr": 0.05, "amsgrad": True, "weight_decay": 0.01}),
            (optim.Adagrad, {"lr": 0.1, "lr_decay": 0.01, "initial_accumulator_value": 0.1})]
IDS = ["SGD", "Adam", "Adagrad"]


def params_with_grads(*grads, dtype=np.float64):
    params = []
    for grad in grads:
        param = Tensor(np.zeros(len(grad)), dtype=dtype, requires_grad=True)
        param.grad = np.array(grad, dtype=dtype)
        params.append(param)
    return params


def snapshot(params, optimizer):
    state = {index: {key: np.array(value) if isinstance(value, np.ndarray) else value for key, value in entry.items()}
             for index, entry in optimizer.state.items()}
    return [param.data.copy() for param in params], state


def assert_same(snapshot_a, snapshot_b):
    (data_a, state_a), (data_b, state_b) = snapshot_a, snapshot_b
    for a, b in zip(data_a, data_b):
        np.testing.assert_array_equal(a, b)
    assert state_a.keys() == state_b.keys()
    for index in state_a:
        assert state_a[index].keys() == state_b[index].keys()
        for key in state_a[index]:
            np.testing.assert_array_equal(state_a[index][key], state_b[index][key])


# ---- clip_grad_norm_ ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("norm_type", [2.0, 1.0, float("inf")])
@pytest.mark.parametrize(("bad", "total"), [(np.nan, "nan"), (np.inf, "inf")])
def test_clip_error_names_parameters(norm_type, bad, total):
    """error_if_nonfinite names the parameters and changes nothing."""
    params = params_with_grads([1.0, 2.0], [bad, 0.5, bad], [3.0])
    before = [param.grad.copy() for param in params]
    counts = "2 NaN" if np.isnan(bad) else "2 inf"
    with pytest.raises(RuntimeError, match=rf"clip_grad_norm_: the total norm of order {norm_type} of the gradients "
                                           rf"is {total}, so they cannot be clipped; parameter 1 \(shape \(3,\)\) has "
                                           rf"{counts}\. Nothing was changed"):
        clip_grad_norm_(params, 1.0, norm_type=norm_type, error_if_nonfinite=True)
    for param, grad in zip(params, before):
        np.testing.assert_array_equal(param.grad, grad)


def test_clip_error_when_norm_overflows():
    """error_if_nonfinite also fires when only the norm overflows."""
    params = params_with_grads([1e200, 1e200])
    with pytest.raises(RuntimeError, match="is inf.*every gradient is finite, but the norm overflows float64"):
        clip_grad_norm_(params, 1.0, error_if_nonfinite=True)


@pytest.mark.parametrize("norm_type", [2.0, float("inf")])
def test_clip_without_flag_as_pytorch(norm_type):
    """An inf total scales by 0 (inf entries become NaN, finite ones 0); a NaN total makes every entry NaN."""
    params = params_with_grads([np.inf, 1.0], [3.0, 4.0])
    assert clip_grad_norm_(params, 1.0, norm_type=norm_type) == np.inf
    np.testing.assert_array_equal(params[0].grad, [np.nan, 0.0])
    np.testing.assert_array_equal(params[1].grad, [0.0, 0.0])
    params = params_with_grads([np.nan, 1.0], [3.0, 4.0])  # a NaN anywhere, with a larger finite value elsewhere
    assert np.isnan(clip_grad_norm_(params, 100.0, norm_type=norm_type))
    for param in params:
        assert np.isnan(param.grad).all()


def test_clip_nonfinite_matches_live_pytorch():
    torch = pytest.importorskip("torch")
    for grads in ([[np.inf, 1.0], [3.0, 4.0]], [[1.0, np.nan], [30.0, 4.0]], [[-np.inf, np.nan], [1.0]]):
        for norm_type in (2.0, 1.0, float("inf")):
            ours = params_with_grads(*grads)
            theirs = [torch.zeros(len(grad), dtype=torch.float64, requires_grad=True) for grad in grads]
            for param, grad in zip(theirs, grads):
                param.grad = torch.tensor(grad, dtype=torch.float64)
            total = clip_grad_norm_(ours, 1.0, norm_type=norm_type)
            torch_total = torch.nn.utils.clip_grad_norm_(theirs, 1.0, norm_type=norm_type)
            np.testing.assert_array_equal(total, torch_total.item())
            for param, torch_param in zip(ours, theirs):
                np.testing.assert_array_equal(param.grad, torch_param.grad.numpy(), err_msg=f"{grads} {norm_type}")


def test_clip_refuses_negative_max_norm():
    with pytest.raises(ValueError, match="clip_grad_norm_: max_norm must be a number >= 0, got -1.0"):
        clip_grad_norm_(params_with_grads([1.0]), -1.0)


# ---- the optimizers' check ---------------------------------------------------------------------------------------

def test_adam_refuses_a_nan_gradient():
    """Two steps, then a NaN in the second parameter's grad: neither parameter, nor any state, moves; after a
    good step the run equals one that never saw the bad gradients."""
    rng = np.random.default_rng(0)
    grads = [[rng.standard_normal(3), rng.standard_normal(4)] for _ in range(3)]
    params = [Tensor(rng.standard_normal(3), requires_grad=True), Tensor(rng.standard_normal(4), requires_grad=True)]
    reference = [Tensor(param.data.copy(), requires_grad=True) for param in params]
    optimizer, reference_optimizer = optim.Adam(params, lr=0.1), optim.Adam(reference, lr=0.1)
    for step in range(2):
        for pair in ((params, optimizer), (reference, reference_optimizer)):
            for param, grad in zip(pair[0], grads[step]):
                param.grad = grad.copy()
            pair[1].step()
    before = snapshot(params, optimizer)
    params[0].grad, params[1].grad = rng.standard_normal(3), np.array([0.1, np.nan, 0.2, 0.3])
    with pytest.raises(FloatingPointError, match=r"Adam.step: refused to write NaN/inf into the parameter and its "
                                                 r"state 'exp_avg' and its state 'exp_avg_sq' of parameter 1 \(group "
                                                 r"0, shape \(4,\)\): its gradient holds 1 NaN; no parameter or state "
                                                 r"was changed.*check_finite=False"):
        optimizer.step()
    assert_same(snapshot(params, optimizer), before)  # parameter 0 was updated, then put back
    assert optimizer.state[0]["step"] == 2
    for pair in ((params, optimizer), (reference, reference_optimizer)):
        for param, grad in zip(pair[0], grads[2]):
            param.grad = grad.copy()
        pair[1].step()
    assert_same(snapshot(params, optimizer), snapshot(reference, reference_optimizer))


def test_refused_first_step_has_no_state():
    params = params_with_grads([1.0, np.inf])
    optimizer = optim.Adam(params)
    with pytest.raises(FloatingPointError, match="its gradient holds 1 inf"):
        optimizer.step()
    assert optimizer.state == {0: {}} and optimizer.state_dict()["state"] == {}
    np.testing.assert_array_equal(params[0].data, [0.0, 0.0])


@pytest.mark.parametrize(("optimizer_class", "kwargs"), STATEFUL, ids=IDS)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_optimizers_refuse_nonfinite_grads(optimizer_class, kwargs, bad):
    params = params_with_grads([0.5, -0.5], [1.0, 2.0])
    optimizer = optimizer_class(params, **kwargs)
    optimizer.step()
    before = snapshot(params, optimizer)
    params[0].grad = np.array([bad, 1.0])
    with pytest.raises(FloatingPointError, match=rf"{optimizer_class.__name__}.step: refused .* of parameter 0 "
                                                 rf"\(group 0, shape \(2,\)\): its gradient holds 1 (NaN|inf)"):
        optimizer.step()
    assert_same(snapshot(params, optimizer), before)


def test_overflow_is_refused():
    """An update that overflows from finite gradients is refused too."""
    param = Tensor(np.array([-3e38], dtype=np.float32), requires_grad=True)
    param.grad = np.array([3e38], dtype=np.float32)
    with pytest.raises(FloatingPointError, match=r"into the parameter .*the update overflowed float32 \(the "
                                                 r"gradient's largest magnitude is 3e\+38\)"):
        optim.SGD([param], lr=1.0).step()
    np.testing.assert_array_equal(param.data, np.array([-3e38], dtype=np.float32))
    param.grad = np.array([1e22], dtype=np.float32)  # finite, but its square overflows: the state would be inf
    with pytest.raises(FloatingPointError, match="into its state 'exp_avg_sq' of parameter 0"):
        optim.Adam([param]).step()


def test_nan_parameter_is_named():
    """A parameter that already holds NaN is named as the cause."""
    param = Tensor(np.array([np.nan, 1.0]), requires_grad=True)
    param.name = "weight_hh"
    param.grad = np.ones(2)
    with pytest.raises(FloatingPointError, match="parameter 0 'weight_hh' .*the parameter already held 1 NaN before"):
        optim.SGD([param], lr=0.1).step()


def test_without_check_nan_is_written():
    """Without the check NaN is written, as in PyTorch, unless detect_anomaly is on."""
    params = params_with_grads([np.nan, 1.0])
    optimizer = optim.Adam(params, lr=0.1, check_finite=False)
    with tg.detect_anomaly(), pytest.raises(FloatingPointError, match="Adam.step: refused"):
        optimizer.step()
    np.testing.assert_array_equal(params[0].data, [0.0, 0.0])
    optimizer.step()
    assert np.isnan(params[0].data[0]) and params[0].data[1] == pytest.approx(-0.1)


def test_refused_step_keeps_graph_usable():
    """Nothing was written, so the graph's saved values still hold: backward through it again works."""
    weight = Tensor(np.ones((2, 2)), requires_grad=True)
    loss = (weight * weight).sum()
    loss.backward(retain_graph=True)
    weight.grad = np.full((2, 2), np.nan)
    with pytest.raises(FloatingPointError):
        optim.SGD([weight], lr=0.1).step()
    weight.grad = None
    loss.backward()
    np.testing.assert_array_equal(weight.grad, 2 * np.ones((2, 2)))


def test_check_finite_not_in_state_dict():
    params = params_with_grads([1.0])
    optimizer = optim.SGD(params, lr=0.1, check_finite=False)
    assert optimizer.check_finite is False and "check_finite" not in optimizer.state_dict()["param_groups"][0]
    assert optim.Adagrad(params).check_finite is True


def test_refusal_names_named_parameters():
    """Parameters given by named_parameters() are named in the refusal."""
    from tinygrad_rnn import nn

    nn.manual_seed(0)
    model = nn.RNN(3, 4)
    optimizer = optim.Adam(model.named_parameters(), lr=0.1)
    assert optimizer.param_groups[0]["param_names"] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
    for param in model.parameters():
        param.grad = np.zeros(param.shape)
    model.weight_hh_l0.grad[1, 2] = np.inf
    with pytest.raises(FloatingPointError, match=r"of parameter 1 'weight_hh_l0' \(group 0, shape \(4, 4\)\): its "
                                                 r"gradient holds 1 inf"):
        optimizer.step()
