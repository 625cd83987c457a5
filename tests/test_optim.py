"""Optimisers against committed PyTorch fixtures (and live torch when installed); gradient clipping by hand."""

import json
from pathlib import Path

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import Tensor, optim
from tinygrad_rnn.nn.utils import clip_grad_norm_, clip_grad_value_

FIXTURES = sorted((Path(__file__).parent / "fixtures").glob("optim_*.npz"))
OPTIMIZERS = {"SGD": optim.SGD, "Adam": optim.Adam, "Adagrad": optim.Adagrad}
# one configuration per optimiser that touches every state it keeps
STATEFUL = [(optim.SGD, {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
            (optim.Adam, {"lr": 0.05, "amsgrad": True, "weight_decay": 0.01}),
            (optim.Adagrad, {"lr": 0.1, "lr_decay": 0.01, "initial_accumulator_value": 0.1})]


def make_optimizer(kwargs: dict, params: list[Tensor]) -> optim.Optimizer:
    kwargs = dict(kwargs)
    return OPTIMIZERS[kwargs.pop("optimizer")](params, **kwargs)


def random_params(rng: np.random.Generator, dtype=np.float64) -> list[Tensor]:
    return [Tensor(rng.standard_normal(shape), dtype=dtype, requires_grad=True) for shape in ((3, 4), (4,), (2,))]


def set_random_grads(params: list[Tensor], rng: np.random.Generator) -> None:
    for param in params:
        param.grad = rng.standard_normal(param.shape).astype(param.dtype)


def test_package_shows_only_public_names():
    """As torch.optim: the optimisers, the base class and the schedules, importable both ways; no helpers."""
    from tinygrad_rnn.optim.lr_scheduler import StepLR

    assert tg.optim.lr_scheduler.StepLR is StepLR
    assert tg.optim.__all__ == ["SGD", "Adagrad", "Adam", "Optimizer", "lr_scheduler"]
    public = {name for name in dir(tg.optim) if not name.startswith("_")}
    assert public == {"SGD", "Adagrad", "Adam", "Optimizer", "lr_scheduler", "optimizer", "sgd", "adam", "adagrad"}


def test_fixtures_cover_every_optimiser():
    names = {path.stem for path in FIXTURES}
    assert {"optim_sgd_plain", "optim_sgd_momentum", "optim_sgd_nesterov", "optim_sgd_weight_decay", "optim_adam",
            "optim_adam_weight_decay", "optim_adagrad"} <= names


@pytest.mark.parametrize("path", FIXTURES, ids=lambda path: path.stem)
def test_updates_match_pytorch_fixture(path):
    """Parameters after each step (and the final state) equal torch.optim's, including skipped None grads."""
    fixture = np.load(path, allow_pickle=False)
    kwargs = json.loads(str(fixture["kwargs"]))
    count = fixture["grad_present"].shape[1]
    params = [Tensor(fixture[f"param{i}_initial"], requires_grad=True) for i in range(count)]
    optimizer = make_optimizer(kwargs, params)
    assert not fixture["grad_present"].all(), "the fixture should exercise parameters without a grad"
    for step, present in enumerate(fixture["grad_present"]):
        optimizer.zero_grad()
        for i, param in enumerate(params):
            if present[i]:
                param.grad = fixture[f"grad{i}"][step].copy()
        optimizer.step()
        for i, param in enumerate(params):
            np.testing.assert_allclose(param.data, fixture[f"param{i}_after"][step], rtol=0, atol=1e-10,
                                       err_msg=f"{path.stem}: parameter {i} after step {step + 1}")
            assert param.dtype == np.float64
    state = optimizer.state_dict()["state"]
    torch_state = {name for name in fixture.files if name.startswith("state")}
    ours = {f"state{i}_{key}" for i, entry in state.items() for key in entry}
    assert ours == torch_state
    for i, entry in state.items():
        for key, value in entry.items():
            np.testing.assert_allclose(value, fixture[f"state{i}_{key}"], rtol=0, atol=1e-10)


def test_updates_match_live_pytorch_float32():
    """Same gradients through torch.optim and ours, float32 parameters, several steps."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    cases = [("SGD", {"lr": 0.1, "momentum": 0.8, "dampening": 0.2, "weight_decay": 0.01}),
             ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
             ("Adam", {"lr": 0.01, "betas": (0.85, 0.995), "weight_decay": 0.02}),
             ("Adagrad", {"lr": 0.05, "lr_decay": 0.1, "eps": 1e-6})]
    for name, kwargs in cases:
        ours = random_params(rng, np.float32)
        theirs = [torch.tensor(param.data.copy(), requires_grad=True) for param in ours]
        ours_optimizer = OPTIMIZERS[name](ours, **kwargs)
        torch_optimizer = getattr(torch.optim, name)(theirs, foreach=False, **kwargs)
        for _ in range(5):
            for param, torch_param in zip(ours, theirs):
                grad = rng.standard_normal(param.shape).astype(np.float32)
                param.grad, torch_param.grad = grad, torch.tensor(grad)
            ours_optimizer.step()
            torch_optimizer.step()
            for param, torch_param in zip(ours, theirs):
                assert param.dtype == np.float32
                np.testing.assert_allclose(param.data, torch_param.detach().numpy(), rtol=1e-5, atol=1e-6,
                                           err_msg=f"{name} {kwargs}")


@pytest.mark.parametrize(("optimizer_class", "kwargs"), STATEFUL + [(optim.Adam, {"lr": 0.1}),
                                                                    (optim.SGD, {"lr": 0.1, "weight_decay": 0.1})])
def test_float32_parameters_stay_float32(optimizer_class, kwargs):
    rng = np.random.default_rng(0)
    params = random_params(rng, np.float32)
    arrays = [param.data for param in params]
    optimizer = optimizer_class(params, **{key: np.float64(value) if isinstance(value, float) else value
                                           for key, value in kwargs.items()})
    for _ in range(3):
        for param in params:
            param.grad = rng.standard_normal(param.shape)  # even a float64 grad must not upcast the param
        optimizer.step()
    for param, array in zip(params, arrays):
        assert param.data is array, "updates must be in place on the engine's array"
        assert param.dtype == np.float32
    for entry in optimizer.state.values():
        for value in entry.values():
            if isinstance(value, np.ndarray):
                assert value.dtype == np.float32


def test_sgd_momentum_starts_at_the_gradient():
    """PyTorch's rule: the buffer starts as the gradient (not (1 - dampening) * gradient)."""
    param = Tensor(np.array([1.0, -2.0]), requires_grad=True)
    optimizer = optim.SGD([param], lr=0.5, momentum=0.9, dampening=0.5)
    param.grad = np.array([0.2, 0.4])
    optimizer.step()
    np.testing.assert_allclose(param.data, [1.0 - 0.5 * 0.2, -2.0 - 0.5 * 0.4])
    param.grad = np.array([1.0, 1.0])
    optimizer.step()
    buffer = 0.9 * np.array([0.2, 0.4]) + 0.5 * 1.0
    np.testing.assert_allclose(param.data, np.array([0.9, -2.2]) - 0.5 * buffer)


def test_adam_first_step_is_about_lr():
    """With bias correction, Adam's first step is lr * g / (|g| + eps'), whatever the gradient's scale."""
    param = Tensor(np.zeros(3), requires_grad=True)
    optimizer = optim.Adam([param], lr=0.01)
    param.grad = np.array([1e-3, -5.0, 300.0])
    optimizer.step()
    np.testing.assert_allclose(param.data, [-0.01, 0.01, -0.01], rtol=1e-4)


def test_params_without_grad_are_skipped():
    """Parameters whose grad is None are skipped and get no state."""
    first, second = Tensor(np.ones(2), requires_grad=True), Tensor(np.ones(3), requires_grad=True)
    optimizer = optim.Adam([first, second], lr=0.1)
    first.grad = np.array([1.0, -1.0])
    optimizer.step()
    np.testing.assert_array_equal(second.data, np.ones(3))
    assert set(optimizer.state_dict()["state"]) == {0}
    assert optimizer.state_dict()["state"][0]["step"] == 1


def test_zero_grad_sets_none_or_zeros():
    params = random_params(np.random.default_rng(1))
    optimizer = optim.SGD(params, lr=0.1)
    set_random_grads(params, np.random.default_rng(2))
    optimizer.zero_grad(set_to_none=False)
    for param in params:
        np.testing.assert_array_equal(param.grad, np.zeros(param.shape))
    optimizer.zero_grad()
    assert all(param.grad is None for param in params)


def test_training_with_a_closure():
    """step(closure) returns the closure's loss; Adam drives a quadratic built from ops to its minimum."""
    target = np.array([0.5, -1.5, 2.0])
    weight = Tensor(np.zeros(3), requires_grad=True)
    optimizer = optim.Adam([weight], lr=0.1)

    def closure():
        optimizer.zero_grad()
        loss = ((weight - Tensor(target)) ** 2).sum()
        loss.backward()
        return loss

    first_loss = optimizer.step(closure).item()
    for _ in range(300):
        last_loss = optimizer.step(closure).item()
    assert first_loss == pytest.approx(float(np.sum(target**2)))
    assert last_loss < 1e-4
    np.testing.assert_allclose(weight.data, target, atol=1e-2)


def test_groups_and_a_changed_lr():
    """Two groups with their own lr behave as two optimisers; writing group['lr'] takes effect."""
    rng = np.random.default_rng(3)
    params = random_params(rng)
    copies = [Tensor(param.data.copy(), requires_grad=True) for param in params]
    grouped = optim.SGD([{"params": params[:2]}, {"params": params[2:], "lr": 0.01}], lr=0.1, momentum=0.9)
    separate = [optim.SGD(copies[:2], lr=0.1, momentum=0.9), optim.SGD(copies[2:], lr=0.01, momentum=0.9)]
    for step in range(4):
        if step == 2:
            grouped.param_groups[0]["lr"] = 0.05
            separate[0].param_groups[0]["lr"] = 0.05
        grads = [rng.standard_normal(param.shape) for param in params]
        for param, copy, grad in zip(params, copies, grads):
            param.grad, copy.grad = grad, grad.copy()
        grouped.step()
        for optimizer in separate:
            optimizer.step()
    for param, copy in zip(params, copies):
        np.testing.assert_array_equal(param.data, copy.data)
    assert grouped.state_dict()["param_groups"][1]["params"] == [2]


def test_state_dict_is_a_snapshot():
    param = Tensor(np.ones(2), requires_grad=True)
    optimizer = optim.SGD([param], lr=0.1, momentum=0.9)
    param.grad = np.ones(2)
    optimizer.step()
    snapshot = optimizer.state_dict()
    optimizer.step()
    np.testing.assert_array_equal(snapshot["state"][0]["momentum_buffer"], np.ones(2))


@pytest.mark.parametrize(("optimizer_class", "kwargs"), STATEFUL, ids=["SGD", "Adam", "Adagrad"])
def test_resume_matches_uninterrupted_run(tmp_path, optimizer_class, kwargs):
    """Save params + optimiser state mid-run, reload into fresh objects, continue: identical to never stopping."""
    shapes = ((3, 4), (4,), (2,))
    rng = np.random.default_rng(10)
    grads = [[rng.standard_normal(shape) for shape in shapes] for _ in range(8)]

    def feed(params, step):
        for param, grad in zip(params, grads[step]):
            param.grad = grad.copy()

    uninterrupted = random_params(np.random.default_rng(9))
    start = [param.data.copy() for param in uninterrupted]
    reference = optimizer_class(uninterrupted, **kwargs)
    for step in range(8):
        feed(uninterrupted, step)
        reference.step()

    first_half = [Tensor(array.copy(), requires_grad=True) for array in start]
    optimizer = optimizer_class(first_half, **kwargs)
    for step in range(4):
        feed(first_half, step)
        optimizer.step()
    tg.save({"params": first_half, "optimizer": optimizer.state_dict(), "step": 4}, tmp_path / "checkpoint.npz")

    checkpoint = tg.load(tmp_path / "checkpoint.npz")
    resumed = [Tensor(np.zeros(shape), requires_grad=True) for shape in shapes]
    for param, array in zip(resumed, checkpoint["params"]):
        param.data[...] = array
    fresh = optimizer_class(resumed, lr=123.0)  # hyperparameters come back from the checkpoint too
    fresh.load_state_dict(checkpoint["optimizer"])
    assert fresh.param_groups[0]["lr"] == kwargs["lr"]
    for step in range(checkpoint["step"], 8):
        feed(resumed, step)
        fresh.step()
    for param, expected in zip(resumed, uninterrupted):
        np.testing.assert_array_equal(param.data, expected.data)


def test_load_state_dict_copies():
    """load_state_dict copies into the parameter's dtype and keeps no alias of the given arrays."""
    param = Tensor(np.ones(2, dtype=np.float32), requires_grad=True)
    optimizer = optim.Adagrad([param], lr=0.1)
    state = {"state": {0: {"step": 3, "sum": np.array([1.0, 2.0])}},
             "param_groups": [{"lr": 0.2, "lr_decay": 0.0, "weight_decay": 0.0, "initial_accumulator_value": 0.0,
                               "eps": 1e-10, "params": [0]}]}
    optimizer.load_state_dict(state)
    assert optimizer.state[0]["sum"].dtype == np.float32
    param.grad = np.ones(2, dtype=np.float32)
    optimizer.step()
    np.testing.assert_array_equal(state["state"][0]["sum"], [1.0, 2.0])
    assert optimizer.state[0]["step"] == 4


def test_load_state_dict_errors_change_nothing():
    param = Tensor(np.ones(2), requires_grad=True)
    optimizer = optim.SGD([param], lr=0.1, momentum=0.9)
    good = optimizer.state_dict()
    two_params = optim.SGD([Tensor(np.ones(2), requires_grad=True), Tensor(np.ones(1), requires_grad=True)], lr=1.0)
    with pytest.raises(ValueError, match="1 parameters in the state dict but 2"):
        two_params.load_state_dict(good)
    wrong_shape = {"state": {0: {"momentum_buffer": np.ones(3)}}, "param_groups": good["param_groups"]}
    with pytest.raises(ValueError, match=r"'momentum_buffer' of parameter 0 has shape \(3,\).*\(2,\)"):
        optimizer.load_state_dict(wrong_shape)
    unknown = {"state": {}, "param_groups": [{**good["param_groups"][0], "lr": 5.0, "betas": (0.9, 0.99)}]}
    with pytest.raises(ValueError, match=r"unexpected \['betas'\]"):
        optimizer.load_state_dict(unknown)
    with pytest.raises(ValueError, match="2 parameter groups"):
        optimizer.load_state_dict({"state": {}, "param_groups": good["param_groups"] * 2})
    with pytest.raises(ValueError, match="unexpected state"):
        optimizer.load_state_dict({"state": {0: {"exp_avg": np.ones(2)}}, "param_groups": good["param_groups"]})
    with pytest.raises(ValueError, match="parameter group 0 should be a dict with a 'params' list"):
        optimizer.load_state_dict({"state": {}, "param_groups": [{"lr": 0.1}]})
    with pytest.raises(ValueError, match="the state of parameter 0 should be a dict"):
        optimizer.load_state_dict({"state": {0: np.ones(2)}, "param_groups": good["param_groups"]})
    with pytest.raises(ValueError, match="expected a dict with keys"):
        optimizer.load_state_dict({"param_groups": []})
    assert optimizer.param_groups[0]["lr"] == 0.1 and optimizer.state == {0: {}}


@pytest.mark.parametrize("optimizer_class", [optim.SGD, optim.Adam, optim.Adagrad])
def test_empty_parameter_list_is_refused(optimizer_class):
    with pytest.raises(ValueError, match=f"{optimizer_class.__name__}: optimizer got an empty parameter list"):
        optimizer_class([])
    with pytest.raises(ValueError, match="optimizer got an empty parameter list"):
        optimizer_class(param for param in ())


def test_bad_params_and_hyperparams_refused():
    leaf = Tensor(np.ones(2), requires_grad=True)
    with pytest.raises(TypeError, match="single Tensor"):
        optim.SGD(leaf, lr=0.1)
    with pytest.raises(TypeError, match="parameter 1 is a ndarray"):
        optim.SGD([leaf, np.ones(2)], lr=0.1)
    with pytest.raises(ValueError, match="non-leaf.*'mul'"):
        optim.SGD([leaf * 2.0], lr=0.1)
    with pytest.raises(ValueError, match="more than once"):
        optim.Adam([leaf, leaf])
    with pytest.raises(ValueError, match="SGD: invalid lr value -0.1"):
        optim.SGD([leaf], lr=-0.1)
    with pytest.raises(ValueError, match="Nesterov momentum requires"):
        optim.SGD([leaf], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="Adam: invalid betas"):
        optim.Adam([leaf], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="Adagrad: invalid lr_decay"):
        optim.Adagrad([leaf], lr_decay=-1.0)
    with pytest.raises(ValueError, match=r"unknown hyperparameters \['momentum'\]"):
        optim.Adam([{"params": [leaf], "momentum": 0.9}])
    optimizer = optim.SGD([leaf], lr=0.1)
    leaf.grad = np.ones(3)
    with pytest.raises(ValueError, match=r"SGD.step: parameter 0 .* shape \(2,\) but its grad has shape \(3,\)"):
        optimizer.step()


def test_bad_grad_shape_changes_nothing():
    """A bad grad shape is found before any parameter changes."""
    first, second = Tensor(np.zeros(2), requires_grad=True), Tensor(np.zeros(3), requires_grad=True)
    first.grad, second.grad = np.ones(2), np.ones(4)
    optimizer = optim.Adam([first, second], check_finite=False)
    with pytest.raises(ValueError, match=r"Adam.step: parameter 1 .* shape \(3,\) but its grad has shape \(4,\)"):
        optimizer.step()
    np.testing.assert_array_equal(first.data, [0.0, 0.0])
    assert optimizer.state == {0: {}, 1: {}}


def test_named_parameters_round_trip(tmp_path):
    """Named parameters are kept, saved and loaded as PyTorch does."""
    first, second = Tensor(np.ones(2), requires_grad=True), Tensor(np.ones(3), requires_grad=True)
    optimizer = optim.SGD([{"params": [("encoder.weight", first)]}, {"params": [("head.bias", second)], "lr": 0.5}],
                          lr=0.1)
    groups = optimizer.state_dict()["param_groups"]
    assert [group["param_names"] for group in groups] == [["encoder.weight"], ["head.bias"]]
    assert [group["params"] for group in groups] == [[0], [1]]
    tg.save(optimizer.state_dict(), tmp_path / "optimizer.npz")
    fresh = optim.SGD([{"params": [first]}, {"params": [second]}], lr=1.0)
    fresh.load_state_dict(tg.load(tmp_path / "optimizer.npz"))
    assert fresh.param_groups[1]["param_names"] == ["head.bias"] and fresh.param_groups[1]["lr"] == 0.5
    with pytest.raises(TypeError, match="SGD: give every parameter with a name.*or none"):
        optim.SGD([("weight", first), second])
    with pytest.raises(TypeError, match="give every parameter with a name"):
        optimizer.add_param_group({"params": [Tensor(np.ones(1), requires_grad=True)]})
    with pytest.raises(ValueError, match="param_names of parameter group 0 should be a list of 1 strings"):
        fresh.load_state_dict({"state": {}, "param_groups": [{**groups[0], "param_names": ["a", "b"]}, groups[1]]})


def test_named_state_dict_matches_pytorch():
    torch = pytest.importorskip("torch")
    ours = optim.Adam([("w", Tensor(np.ones(2), requires_grad=True))], lr=0.1)
    theirs = torch.optim.Adam([("w", torch.ones(2, requires_grad=True))], lr=0.1)
    our_group, their_group = ours.state_dict()["param_groups"][0], theirs.state_dict()["param_groups"][0]
    assert our_group["param_names"] == their_group["param_names"] and our_group["params"] == their_group["params"]


def test_repr_lists_hyperparameters():
    optimizer = optim.Adam([Tensor(np.ones(1), requires_grad=True)], lr=0.5)
    text = repr(optimizer)
    assert text.startswith("Adam (\nParameter Group 0\n") and "    lr: 0.5" in text and "betas: (0.9, 0.999)" in text


# ---- gradient clipping -----------------------------------------------------------------------------------------
def grads_of(params):
    return [None if param.grad is None else param.grad.copy() for param in params]


def test_clip_grad_norm_scales():
    rng = np.random.default_rng(4)
    params = random_params(rng)
    set_random_grads(params, rng)
    params[2].grad = None
    before = grads_of(params)
    expected_total = np.sqrt(sum(np.sum(grad**2) for grad in before if grad is not None))
    total = clip_grad_norm_(params, max_norm=0.5)
    assert total == pytest.approx(expected_total, rel=1e-12)
    scale = 0.5 / (expected_total + 1e-6)
    assert scale < 1
    for param, grad in zip(params[:2], before):
        np.testing.assert_allclose(param.grad, grad * scale, rtol=1e-12)
    assert params[2].grad is None
    after = np.sqrt(sum(np.sum(param.grad**2) for param in params[:2]))
    assert after == pytest.approx(0.5, rel=1e-5)


def test_clip_grad_norm_keeps_small_grads():
    param = Tensor(np.zeros(2), requires_grad=True)
    param.grad = np.array([0.3, 0.4])
    assert clip_grad_norm_(param, max_norm=1.0) == pytest.approx(0.5)
    np.testing.assert_array_equal(param.grad, [0.3, 0.4])


@pytest.mark.parametrize("norm_type", [1.0, 3.0, float("inf")])
def test_clip_grad_norm_other_norms(norm_type):
    rng = np.random.default_rng(5)
    params = random_params(rng, np.float32)
    set_random_grads(params, rng)
    flat = np.concatenate([param.grad.astype(np.float64).ravel() for param in params])
    expected = np.max(np.abs(flat)) if np.isinf(norm_type) else np.sum(np.abs(flat) ** norm_type) ** (1 / norm_type)
    before = grads_of(params)
    total = clip_grad_norm_(params, max_norm=0.1, norm_type=norm_type)
    assert total == pytest.approx(expected, rel=1e-6)
    for param, grad in zip(params, before):
        assert param.grad.dtype == np.float32
        np.testing.assert_allclose(param.grad, grad * (0.1 / (expected + 1e-6)), rtol=1e-6)


def test_clip_grad_norm_edge_cases():
    param = Tensor(np.zeros(2), requires_grad=True)
    assert clip_grad_norm_([param], 1.0) == 0.0
    param.grad = np.array([np.inf, 1.0])
    with pytest.raises(RuntimeError, match="clip_grad_norm_: the total norm .* is inf"):
        clip_grad_norm_([param], 1.0, error_if_nonfinite=True)
    with pytest.raises(ValueError, match="norm_type must be > 0"):
        clip_grad_norm_([param], 1.0, norm_type=-2)
    with pytest.raises(TypeError, match="clip_grad_norm_: expected Tensors, but parameter 0 is a list"):
        clip_grad_norm_([[param]], 1.0)


def test_clip_grad_value_clamps():
    rng = np.random.default_rng(6)
    params = random_params(rng, np.float32)
    set_random_grads(params, rng)
    params[1].grad = None
    before = grads_of(params)
    assert clip_grad_value_(params, 0.5) is None
    for param, grad in zip(params, before):
        if grad is None:
            assert param.grad is None
        else:
            assert param.grad.dtype == np.float32
            np.testing.assert_array_equal(param.grad, np.minimum(np.maximum(grad, -0.5), 0.5))
            assert np.any(np.abs(grad) > 0.5)
    with pytest.raises(ValueError, match="clip_value must be >= 0"):
        clip_grad_value_(params, -1.0)


def test_clipping_matches_live_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(8)
    params = random_params(rng)
    set_random_grads(params, rng)
    theirs = [torch.tensor(param.data, requires_grad=True) for param in params]
    for param, torch_param in zip(params, theirs):
        torch_param.grad = torch.tensor(param.grad)
    total = clip_grad_norm_(params, 0.7)
    torch_total = torch.nn.utils.clip_grad_norm_(theirs, 0.7)
    assert total == pytest.approx(torch_total.item(), rel=1e-12)
    for param, torch_param in zip(params, theirs):
        np.testing.assert_allclose(param.grad, torch_param.grad.numpy(), rtol=1e-12)


# ---- a graph recorded before an in-place update ---------------------------------------------------------------

def _model_and_loss(rng: np.random.Generator) -> tuple[Tensor, Tensor, Tensor]:
    weight = Tensor(rng.standard_normal((3, 2)), requires_grad=True)
    inputs = Tensor(rng.standard_normal((4, 3)))
    return weight, inputs, ((inputs @ weight.T.T).tanh() ** 2).sum()


def test_stale_graph_after_step_refused():
    """Backward through a graph from before a step raises instead of mixing old and new weights."""
    weight, _, loss = _model_and_loss(np.random.default_rng(0))
    loss.backward(retain_graph=True)
    optim.SGD([weight], lr=0.1).step()
    with pytest.raises(tg.GraphError, match=r"op 'permute'.*changed in place after the op used it.*step\(\)"):
        loss.backward()


def test_renderer_refuses_stale_edges():
    weight, _, loss = _model_and_loss(np.random.default_rng(1))
    loss.backward(retain_graph=True, retain_grads=True)
    optim.Adam([weight], lr=0.1).step()
    with pytest.raises(tg.GraphError, match="changed in place"):
        tg.viz.to_dot(loss)


def test_graph_after_step_is_fresh():
    """A graph built after the step is unaffected and matches a fresh computation."""
    rng = np.random.default_rng(2)
    weight, inputs, loss = _model_and_loss(rng)
    optimizer = optim.SGD([weight], lr=0.1)
    for _ in range(3):  # the usual loop: forward, backward, step; each graph is new
        weight.grad = None
        loss = ((inputs @ weight.T.T).tanh() ** 2).sum()
        loss.backward()
        optimizer.step()
    weight.grad = None
    ((inputs @ weight.T.T).tanh() ** 2).sum().backward()
    x, w = inputs.data, weight.data
    expected = x.T @ (2 * np.tanh(x @ w) * (1 - np.tanh(x @ w) ** 2))
    np.testing.assert_allclose(weight.grad, expected, rtol=1e-12)


def test_update_before_graph_not_flagged():
    """An update before any op of the graph is not flagged."""
    rng = np.random.default_rng(3)
    weight = Tensor(rng.standard_normal((3, 2)), requires_grad=True)
    unrelated = (Tensor(rng.standard_normal(2), requires_grad=True) * 2).sum()  # an older graph
    weight.grad = np.ones((3, 2))
    optim.SGD([weight], lr=0.1).step()
    (weight * 3).sum().backward()  # recorded after the step: fine
    np.testing.assert_array_equal(weight.grad, 4 * np.ones((3, 2)))  # 1 (left by the step) + 3
    unrelated.backward()  # its ops never used weight


def test_hand_update_can_mark_modified():
    """A hand-written update can mark its parameter with tg.mark_modified."""
    weight, _, loss = _model_and_loss(np.random.default_rng(4))
    loss.backward(retain_graph=True)
    weight.data -= 0.1 * weight.grad  # raw numpy: the engine cannot see it ...
    tg.mark_modified(weight)  # ... unless told
    with pytest.raises(tg.GraphError, match="changed in place"):
        loss.backward()


@pytest.mark.parametrize("share", [lambda weight: weight.detach(), lambda weight: weight[1].detach()],
                         ids=["detach", "detached view"])
def test_sharing_tensor_is_stale_too(share):
    """As PyTorch's version counter: detach() and views share the array, so the step changes what they saw."""
    rng = np.random.default_rng(5)
    weight = Tensor(rng.standard_normal((3, 2)), requires_grad=True)
    other = Tensor(rng.standard_normal(2), requires_grad=True)
    loss = (share(weight) * other * other).sum()
    weight.grad = np.ones((3, 2))
    optim.SGD([weight], lr=0.1).step()
    with pytest.raises(tg.GraphError, match=r"input 0 .* of op 'mul'.*changed in place after the op used it"):
        loss.backward()
    (share(weight) * other).sum().backward()  # a graph recorded after the step is fine
