"""Learning-rate schedulers against committed PyTorch fixtures (and live torch when installed), checkpoints, errors."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import Tensor, optim
from tinygrad_rnn.optim import lr_scheduler

FIXTURES = sorted((Path(__file__).parent / "fixtures").glob("scheduler_*.npz"))
# as in tests/fixtures/make_scheduler_fixtures.py
LAMBDAS = {"warmup": lambda epoch: min(1.0, (epoch + 1) / 5), "decay": lambda epoch: 0.9**epoch}


class WarmupThenDecay:
    def __init__(self, warmup: int, decay: float) -> None:
        self.warmup, self.decay = warmup, decay

    def __call__(self, epoch: int) -> float:
        return (epoch + 1) / self.warmup if epoch < self.warmup else self.decay ** (epoch - self.warmup)


def make_lambda(spec):
    if isinstance(spec, list):
        return [LAMBDAS[name] for name in spec]
    if isinstance(spec, dict):
        ((_, arguments),) = spec.items()
        return WarmupThenDecay(**arguments)
    return LAMBDAS[spec]


def make_scheduler(optimizer, name, kwargs, last_epoch=None):
    kwargs = dict(kwargs)
    if name == "LambdaLR":
        kwargs["lr_lambda"] = make_lambda(kwargs["lr_lambda"])
    if last_epoch is not None:
        kwargs["last_epoch"] = last_epoch
    return getattr(lr_scheduler, name)(optimizer, **kwargs)


def two_group_sgd(group_lrs=(0.1, 0.03)):
    params = [Tensor(np.zeros(2), requires_grad=True) for _ in group_lrs]
    return params, optim.SGD([{"params": [param], "lr": lr} for param, lr in zip(params, group_lrs)])


def load_fixture(path):
    fixture = np.load(path, allow_pickle=False)
    spec = json.loads(str(fixture["spec"]))
    metrics = fixture["metrics"].tolist() or None
    return spec, metrics, fixture["lrs"], json.loads(str(fixture["state_dict"]))


def assert_state_equal(ours, theirs, where):
    assert set(ours) == set(theirs), where
    for key, value in theirs.items():
        if isinstance(value, float):
            assert ours[key] == pytest.approx(value, rel=1e-13), f"{where}: {key}"
        elif isinstance(value, list) and value and isinstance(value[0], float):
            np.testing.assert_allclose(ours[key], value, rtol=1e-13, err_msg=f"{where}: {key}")
        else:
            assert ours[key] == value, f"{where}: {key}"


def test_fixtures_cover_every_scheduler():
    names = {scheduler for path in FIXTURES for scheduler, _ in load_fixture(path)[0]["schedulers"]}
    assert names == {"StepLR", "ExponentialLR", "CosineAnnealingLR", "LambdaLR", "ReduceLROnPlateau"}
    assert len(FIXTURES) >= 14


@pytest.mark.parametrize("path", FIXTURES, ids=lambda path: path.stem)
def test_rates_match_pytorch_fixture(path):
    """Each epoch's rates and the final state dict equal torch's, in the same loop the fixture script ran."""
    spec, metrics, expected_lrs, expected_state = load_fixture(path)
    params, optimizer = two_group_sgd(tuple(spec["group_lrs"]))
    schedulers = [make_scheduler(optimizer, name, kwargs) for name, kwargs in spec["schedulers"]]
    lrs = [schedulers[0].get_last_lr()]
    for step in range(spec["steps"]):
        if step == spec["resume_at"]:
            name, kwargs = spec["schedulers"][0]
            schedulers[0] = make_scheduler(optimizer, name, kwargs, last_epoch=step)
        for param in params:
            param.grad = np.ones(2)
        optimizer.step()
        for scheduler in schedulers:
            scheduler.step(metrics[step]) if metrics is not None else scheduler.step()
        lrs.append(schedulers[0].get_last_lr())
        assert [group["lr"] for group in optimizer.param_groups] == schedulers[-1].get_last_lr()
    np.testing.assert_allclose(np.array(lrs), expected_lrs, rtol=1e-13, atol=0, err_msg=path.stem)
    assert_state_equal(schedulers[0].state_dict(), expected_state, path.stem)


def test_optimizer_steps_with_scheduled_lr():
    """The scheduled rate is the one the optimizer steps with."""
    param = Tensor(np.zeros(1), requires_grad=True)
    optimizer = optim.SGD([param], lr=1.0)
    scheduler = lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    moves = []
    for _ in range(5):
        before = param.data.copy()
        param.grad = np.ones(1)
        optimizer.step()
        scheduler.step()
        moves.append(float(before[0] - param.data[0]))
    assert moves == [1.0, 1.0, 0.5, 0.5, 0.25]
    assert scheduler.last_epoch == 5 and scheduler.get_last_lr() == [0.25]


def resumable_cases():
    return [("StepLR", lambda opt: lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)),
            ("ExponentialLR", lambda opt: lr_scheduler.ExponentialLR(opt, gamma=0.8)),
            ("CosineAnnealingLR", lambda opt: lr_scheduler.CosineAnnealingLR(opt, T_max=5, eta_min=0.01)),
            ("LambdaLR", lambda opt: lr_scheduler.LambdaLR(opt, [WarmupThenDecay(3, 0.7), LAMBDAS["decay"]])),
            ("ReduceLROnPlateau", lambda opt: lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=1,
                                                                               cooldown=1, min_lr=[0.001, 0.0]))]


@pytest.mark.parametrize(("name", "make"), resumable_cases(), ids=[name for name, _ in resumable_cases()])
def test_resume_matches_uninterrupted_run(tmp_path, name, make):
    """Optimizer and scheduler state through tg.save/tg.load mid-run: the rates go on as if never stopped."""
    losses = [1.0, 0.9, 0.95, 0.96, 0.97, 0.8, 0.85, 0.86, 0.87, 0.88, 0.7, 0.75]

    def run(optimizer, scheduler, params, steps):
        rates = []
        for step in steps:
            for param in params:
                param.grad = np.full(2, 0.1 * (step + 1))
            optimizer.step()
            scheduler.step(losses[step]) if name == "ReduceLROnPlateau" else scheduler.step()
            rates.append(scheduler.get_last_lr())
        return rates

    params, optimizer = two_group_sgd()
    scheduler = make(optimizer)
    uninterrupted = run(optimizer, scheduler, params, range(12))

    params, optimizer = two_group_sgd()
    scheduler = make(optimizer)
    rates = run(optimizer, scheduler, params, range(5))
    tg.save({"params": params, "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()},
            tmp_path / "checkpoint.npz")
    checkpoint = tg.load(tmp_path / "checkpoint.npz")
    params, optimizer = two_group_sgd((5.0, 5.0))  # wrong rates: they must come from the checkpoint
    for param, array in zip(params, checkpoint["params"]):
        param.data[...] = array
    scheduler = make(optimizer)
    if name == "LambdaLR":
        scheduler.lr_lambdas[0].warmup = 99  # the callable object's attributes come back too
    optimizer.load_state_dict(checkpoint["optimizer"])
    scheduler.load_state_dict(checkpoint["scheduler"])
    rates += run(optimizer, scheduler, params, range(5, 12))
    assert rates == uninterrupted
    assert any(rate != uninterrupted[0] for rate in uninterrupted), "the schedule should change the rates"


def test_state_dict_carries_initial_lr():
    _, optimizer = two_group_sgd()
    lr_scheduler.ExponentialLR(optimizer, gamma=0.5)
    groups = optimizer.state_dict()["param_groups"]
    assert [group["initial_lr"] for group in groups] == [0.1, 0.03]
    _, fresh = two_group_sgd((1.0, 1.0))
    fresh.load_state_dict(optimizer.state_dict())
    assert [group["initial_lr"] for group in fresh.param_groups] == [0.1, 0.03]
    resumed = lr_scheduler.ExponentialLR(fresh, gamma=0.5, last_epoch=0)
    assert resumed.base_lrs == [0.1, 0.03] and resumed.last_epoch == 1
    with pytest.raises(ValueError, match="SGD: invalid initial_lr value -1"):
        fresh.add_param_group({"params": [Tensor(np.zeros(1), requires_grad=True)], "initial_lr": -1})


def test_lambda_state_dict_skips_functions():
    """As PyTorch: a function or lambda cannot be saved without pickle, a callable object's attributes can."""
    _, optimizer = two_group_sgd()
    scheduler = lr_scheduler.LambdaLR(optimizer, [LAMBDAS["warmup"], WarmupThenDecay(4, 0.8)])
    state = scheduler.state_dict()
    assert state["lr_lambdas"] == [None, {"warmup": 4, "decay": 0.8}]
    state["lr_lambdas"][1]["decay"] = 0.5  # a copy: the object is untouched until loaded
    assert scheduler.lr_lambdas[1].decay == 0.8
    scheduler.load_state_dict(state)
    assert scheduler.lr_lambdas[1].decay == 0.5
    with pytest.raises(ValueError, match=r"lr_lambdas\[0\] holds dict, but lr_lambda 0 is a function"):
        scheduler.load_state_dict({**state, "lr_lambdas": [{"a": 1}, None]})


def test_get_last_lr_is_a_copy():
    _, optimizer = two_group_sgd()
    scheduler = lr_scheduler.StepLR(optimizer, step_size=1)
    scheduler.get_last_lr()[0] = 123.0
    assert scheduler.get_last_lr() == [0.1, 0.03]


def test_plateau_metrics():
    """ReduceLROnPlateau accepts a one-element Tensor and counts NaN as a bad epoch."""
    _, optimizer = two_group_sgd()
    scheduler = lr_scheduler.ReduceLROnPlateau(optimizer, patience=0, factor=0.5)
    scheduler.step(Tensor(np.array(1.0)))
    scheduler.step(float("nan"))
    assert scheduler.best == 1.0 and scheduler.get_last_lr() == [0.05, 0.015]
    with pytest.raises(TypeError, match="ReduceLROnPlateau.step: metrics should be one number.*Tensor"):
        scheduler.step(Tensor(np.ones(3)))
    with pytest.raises(TypeError, match="metrics should be one number.*str"):
        scheduler.step("low")


def optimizer_for_errors():
    return two_group_sgd()[1]


# (make the scheduler from an optimizer, error type, message)
BAD_ARGUMENTS = [
    (lambda opt: lr_scheduler.StepLR(opt, step_size=-1), ValueError,
     "StepLR: step_size must be an integer >= 1, got -1"),
    (lambda opt: lr_scheduler.StepLR(opt, step_size=0), ValueError,
     "StepLR: step_size must be an integer >= 1, got 0"),
    (lambda opt: lr_scheduler.StepLR(opt, step_size=2.5), ValueError,
     "StepLR: step_size must be an integer"),
    (lambda opt: lr_scheduler.StepLR(opt, 3, gamma=0), ValueError,
     "StepLR: gamma must be a number > 0, got 0"),
    (lambda opt: lr_scheduler.ExponentialLR(opt, gamma=-0.5), ValueError,
     "ExponentialLR: gamma must be a number > 0, got -0.5"),
    (lambda opt: lr_scheduler.ExponentialLR(opt, gamma="0.9"), ValueError,
     "ExponentialLR: gamma must be a number"),
    (lambda opt: lr_scheduler.CosineAnnealingLR(opt, T_max=0), ValueError,
     "CosineAnnealingLR: T_max must be an integer >= 1"),
    (lambda opt: lr_scheduler.CosineAnnealingLR(opt, 5, eta_min=-0.1), ValueError,
     "CosineAnnealingLR: eta_min must be a number >= 0"),
    (lambda opt: lr_scheduler.StepLR(opt, 3, last_epoch=-2), ValueError,
     "StepLR: last_epoch must be an integer >= -1"),
    (lambda opt: lr_scheduler.StepLR(opt, 3, last_epoch=4), ValueError,
     "StepLR: last_epoch=4 resumes a schedule, which needs 'initial_lr'"),
    (lambda opt: lr_scheduler.ReduceLROnPlateau(opt, mode="minimum"), ValueError,
     r"ReduceLROnPlateau: unknown mode 'minimum'; expected one of \['min', 'max'\]"),
    (lambda opt: lr_scheduler.ReduceLROnPlateau(opt, threshold_mode="relative"), ValueError,
     "ReduceLROnPlateau: unknown threshold_mode 'relative'"),
    (lambda opt: lr_scheduler.ReduceLROnPlateau(opt, factor=1.0), ValueError,
     r"ReduceLROnPlateau: factor must be a number in \(0, 1\), got 1.0"),
    (lambda opt: lr_scheduler.ReduceLROnPlateau(opt, factor=0), ValueError,
     "ReduceLROnPlateau: factor must be a number in"),
    (lambda opt: lr_scheduler.ReduceLROnPlateau(opt, patience=-1), ValueError,
     "ReduceLROnPlateau: patience must be an integer >= 0, got -1"),
    (lambda opt: lr_scheduler.ReduceLROnPlateau(opt, cooldown=1.5), ValueError,
     "ReduceLROnPlateau: cooldown must be an integer"),
    (lambda opt: lr_scheduler.ReduceLROnPlateau(opt, min_lr=[0.1]), ValueError,
     "ReduceLROnPlateau: expected 2 min_lrs .*got 1"),
    (lambda opt: lr_scheduler.ReduceLROnPlateau(opt, min_lr=-1.0), ValueError,
     "ReduceLROnPlateau: default_min_lr must be a number >= 0"),
    (lambda opt: lr_scheduler.LambdaLR(opt, [LAMBDAS["decay"]]), ValueError,
     "LambdaLR: expected 2 lr_lambdas .*got 1"),
    (lambda opt: lr_scheduler.LambdaLR(opt, 0.5), TypeError,
     "LambdaLR: lr_lambda 0 should be a function of the epoch, got float"),
    (lambda opt: lr_scheduler.LambdaLR(opt, lambda epoch: -1.0), ValueError,
     "LambdaLR: lr_lambda 0 returned -1.0 at epoch 0"),
    (lambda opt: lr_scheduler.LambdaLR(opt, lambda epoch: None), ValueError,
     "LambdaLR: lr_lambda 0 returned None"),
]


@pytest.mark.parametrize(("make", "error", "message"), BAD_ARGUMENTS, ids=[case[2][:40] for case in BAD_ARGUMENTS])
def test_bad_arguments_name_scheduler_and_value(make, error, message):
    with pytest.raises(error, match=message):
        make(optimizer_for_errors())


@pytest.mark.parametrize("make", [lambda opt: lr_scheduler.StepLR(opt, 3), lambda opt: lr_scheduler.LambdaLR(opt, abs),
                                  lambda opt: lr_scheduler.ReduceLROnPlateau(opt)],
                         ids=["StepLR", "LambdaLR", "ReduceLROnPlateau"])
@pytest.mark.parametrize("not_an_optimizer", [[], "sgd", None])
def test_non_optimizer_is_refused(make, not_an_optimizer):
    with pytest.raises(TypeError, match=r"(StepLR|LambdaLR|ReduceLROnPlateau): expected an Optimizer .* got "
                                        f"{type(not_an_optimizer).__name__}"):
        make(not_an_optimizer)


def test_load_state_dict_checks_first():
    """load_state_dict checks everything before it changes anything."""
    _, optimizer = two_group_sgd()
    scheduler = lr_scheduler.StepLR(optimizer, step_size=3, gamma=0.5)
    good = scheduler.state_dict()
    scheduler.step()
    before = scheduler.state_dict()
    with pytest.raises(ValueError, match=r"StepLR.load_state_dict: .*missing \['gamma'\], unexpected \['T_max'\]"):
        scheduler.load_state_dict({**{k: v for k, v in good.items() if k != "gamma"}, "T_max": 3})
    with pytest.raises(ValueError, match="StepLR.load_state_dict: step_size must be an integer >= 1, got -3"):
        scheduler.load_state_dict({**good, "step_size": -3, "last_epoch": 7})
    with pytest.raises(ValueError, match="base_lrs has 1 entries, but the optimizer has 2 parameter groups"):
        scheduler.load_state_dict({**good, "base_lrs": [0.1], "last_epoch": 7})
    with pytest.raises(ValueError, match=r"base_lrs\[1\] must be a number >= 0, got 'fast'"):
        scheduler.load_state_dict({**good, "base_lrs": [0.1, "fast"]})
    with pytest.raises(ValueError, match="expected a dict from state_dict"):
        scheduler.load_state_dict([("step_size", 3)])
    plateau = lr_scheduler.ReduceLROnPlateau(optimizer)
    with pytest.raises(ValueError, match="mode_worse -inf does not fit mode 'min'"):
        plateau.load_state_dict({**plateau.state_dict(), "mode_worse": -math.inf})
    assert scheduler.state_dict() == before
    scheduler.load_state_dict(good)
    assert scheduler.state_dict() == good


def test_group_added_later_is_named():
    """A parameter group added after the scheduler was made is named in the error."""
    _, optimizer = two_group_sgd()
    scheduler = lr_scheduler.StepLR(optimizer, step_size=3)
    optimizer.add_param_group({"params": [Tensor(np.zeros(1), requires_grad=True)]})
    with pytest.raises(ValueError, match="StepLR.step: the optimizer has 3 parameter groups but the scheduler was "
                                         "made for 2"):
        scheduler.step()


def test_rates_and_state_match_live_pytorch():
    """Random arguments through both libraries; each one's state dict loads into the other and goes on alike."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    for trial in range(20):
        name = ["StepLR", "ExponentialLR", "CosineAnnealingLR", "LambdaLR", "ReduceLROnPlateau"][trial % 5]
        kwargs = {"StepLR": {"step_size": int(rng.integers(1, 6)), "gamma": float(rng.uniform(0.1, 0.9))},
                  "ExponentialLR": {"gamma": float(rng.uniform(0.5, 1.0))},
                  "CosineAnnealingLR": {"T_max": int(rng.integers(1, 12)), "eta_min": float(rng.uniform(0, 0.01))},
                  "LambdaLR": {"lr_lambda": {"WarmupThenDecay": {"warmup": int(rng.integers(1, 6)),
                                                                 "decay": float(rng.uniform(0.5, 1))}}},
                  "ReduceLROnPlateau": {"mode": str(rng.choice(["min", "max"])), "factor": float(rng.uniform(0.1, 0.9)),
                                        "patience": int(rng.integers(0, 3)), "cooldown": int(rng.integers(0, 3)),
                                        "threshold_mode": str(rng.choice(["rel", "abs"])), "threshold": 0.01}}[name]
        metrics = rng.standard_normal(40).cumsum().tolist()
        torch_params = [torch.zeros(1, requires_grad=True) for _ in range(2)]
        torch_optimizer = torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(torch_params, (0.1, 0.03))])
        theirs_kwargs = dict(kwargs)
        if name == "LambdaLR":
            theirs_kwargs["lr_lambda"] = make_lambda(kwargs["lr_lambda"])
        theirs = getattr(torch.optim.lr_scheduler, name)(torch_optimizer, **theirs_kwargs)
        _, optimizer = two_group_sgd()
        ours = make_scheduler(optimizer, name, kwargs)
        for step in range(40):
            torch_optimizer.step()
            optimizer.step()
            for scheduler in (theirs, ours):
                scheduler.step(metrics[step]) if name == "ReduceLROnPlateau" else scheduler.step()
            np.testing.assert_allclose(ours.get_last_lr(), theirs.get_last_lr(), rtol=1e-13, err_msg=f"{name} {kwargs}")
            if step == 20:  # swap states: each goes on from the other's
                torch_state, our_state = theirs.state_dict(), ours.state_dict()
                ours.load_state_dict(torch_state)
                theirs.load_state_dict(our_state)
                assert_state_equal(ours.state_dict(), {k: v for k, v in torch_state.items()
                                                       if k not in lr_scheduler.TORCH_FLAGS}, name)
