"""The switches ops read (mode.py): no_grad, enable_grad, scope, step_scopes, keep_values, detect_anomaly; each
thread holds its own (asyncio tasks on one thread share them, as in PyTorch)."""

import asyncio
import threading
import weakref

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn.mode import step_scopes


def leaf(values, dtype=np.float64):
    return tg.Tensor(np.asarray(values, dtype=dtype), requires_grad=True)


# ---- the switches --------------------------------------------------------------------------------------------

def test_no_grad():
    a = leaf([1.0])
    with tg.no_grad():
        out = a * 2
    assert out.is_leaf and not out.requires_grad
    with pytest.raises(tg.GraphError, match="does not require grad"):
        out.sum().backward()


def test_enable_grad():
    """enable_grad records again inside no_grad; each block restores what was before it, even after an error."""
    a = leaf([1.0])
    with tg.no_grad():
        with tg.enable_grad():
            assert tg.is_grad_enabled() and (a * 2).requires_grad
        assert not tg.is_grad_enabled() and not (a * 2).requires_grad
        with pytest.raises(RuntimeError, match="inside"), tg.enable_grad():
            raise RuntimeError("inside enable_grad")
        assert not tg.is_grad_enabled()
    assert tg.is_grad_enabled()


def test_scope_name_error():
    with pytest.raises(TypeError, match=r"scope: a scope's name is a string \(such as 't=3'\), got int"):
        tg.scope(3)


def test_scope_nests():
    a = leaf([1.0])
    with tg.scope("rnn.l0"):
        with tg.scope("t=3") as name:
            out = a.tanh()
    assert name == "rnn.l0/t=3" and out.scope == "rnn.l0/t=3" and out.op == "tanh"
    assert (a * 2).scope is None


def test_step_scopes():
    """Each step gets its scope, and the scope is restored even after an error."""
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


def test_keep_values():
    """keep_values lets the graph hold every op's output."""
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


# ---- detect_anomaly ------------------------------------------------------------------------------------------

def test_detect_anomaly():
    """The first op to make NaN/inf is named, with its scope and shapes."""
    x = leaf([1.0, 0.0])
    with tg.detect_anomaly(), tg.scope("t=1"), np.errstate(divide="ignore"):
        with pytest.raises(FloatingPointError, match=r"'log'.*forward.*t=1.*\(2,\)"):
            x.log()
    y = leaf([0.0])
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (y ** 0.5).sum()  # forward is finite (0), backward is inf
        with tg.detect_anomaly(), pytest.raises(FloatingPointError, match="'pow'.*backward"):
            out.backward()


def test_anomaly_blames_source():
    """NaN that came with the data, or from a hook, is blamed there, not on the next op."""
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


# ---- per thread and per asyncio task -------------------------------------------------------------------------

def interleave(order, *scripts):
    """Run each generator function in `scripts` in a thread of its own, one step (up to its next `yield`) at a
    time, in `order` (a string of script numbers, such as "0110"): a step starts only when the one before it has
    ended, so the interleaving is forced, never left to the scheduler. Then runs every script to its end and
    re-raises the first error a script raised (the others are closed where they are)."""
    turns = [threading.Semaphore(0) for _ in scripts]
    step_done = threading.Semaphore(0)
    finished, errors = [False] * len(scripts), []

    def run(number, script):
        steps = script()
        while not finished[number]:
            turns[number].acquire()
            try:
                if errors:
                    steps.close()
                    finished[number] = True
                else:
                    next(steps)
            except StopIteration:
                finished[number] = True
            except BaseException as error:  # noqa: B036 (handed to the main thread, which re-raises it)
                errors.append(error)
                finished[number] = True
            step_done.release()

    def turn(number):
        turns[number].release()
        step_done.acquire()

    threads = [threading.Thread(target=run, args=(number, script), daemon=True)
               for number, script in enumerate(scripts)]
    for thread in threads:
        thread.start()
    for number in map(int, order):
        if errors:
            break
        if not finished[number]:
            turn(number)
    for number in range(len(scripts)):
        while not finished[number]:
            turn(number)
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def scope_here():
    """The scope in force where this is called: the prefix a nested scope gets (public API only)."""
    with tg.scope("here") as name:
        return name[:-len("/here")] if "/" in name else None


STEPS = 24


def test_training_beside_inference():
    """A training thread and an inference thread (no_grad, its own scope) step side by side, each turn forced to
    fall inside the other thread's block: every training step recorded its graph, in its own scopes, with the
    right gradient, and the inference thread never recorded one."""
    rng = np.random.default_rng(0)
    weight = leaf(rng.standard_normal((3, 3)))
    inputs = rng.standard_normal((STEPS, 2, 3))
    projection = rng.standard_normal((2, 3))
    trained, inferred = [], []

    def training():
        with tg.scope("train"), step_scopes("rnn", range(STEPS)) as steps:
            for step in steps:
                weight.grad = None
                loss = ((tg.Tensor(inputs[step]) @ weight).tanh() * tg.Tensor(projection)).sum()
                assert tg.is_grad_enabled() and loss.requires_grad and loss.grad_fn is not None
                yield  # the graph is recorded; the inference thread runs inside its no_grad block
                scopes = [vertex.scope for vertex in tg.toposort(loss) if vertex is not weight]
                assert scopes == [f"train/rnn/t={step}"] * 4, scopes  # matmul, tanh, mul, sum
                loss.backward()
                hidden = np.tanh(inputs[step] @ weight.data)
                np.testing.assert_allclose(weight.grad, inputs[step].T @ (projection * (1 - hidden**2)),
                                           rtol=1e-12)
                trained.append(step)
                yield

    def inference():
        for step in range(STEPS):
            with tg.no_grad(), tg.scope("eval"):
                assert not tg.is_grad_enabled() and scope_here() == "eval"
                yield  # the training thread records its step meanwhile
                output = (tg.Tensor(inputs[step]) @ weight).tanh()
                assert output.is_leaf and not output.requires_grad and not tg.is_grad_enabled()
                assert scope_here() == "eval"
                inferred.append(step)
                yield
            assert tg.is_grad_enabled() and scope_here() is None

    patterns = ["0101", "1010", "0110", "1001"]  # who enters first, and who leaves first
    interleave("".join(patterns[step % 4] for step in range(STEPS)), training, inference)
    assert trained == list(range(STEPS)) and inferred == list(range(STEPS))
    assert tg.is_grad_enabled() and scope_here() is None


@pytest.mark.parametrize("order", ["0101", "0110"], ids=["first in, first out", "first in, last out"])
def test_overlapping_no_grad(order):
    """Two threads' no_grad blocks overlap (either one leaving first): neither leaves grad mode off."""
    seen = {0: [], 1: []}

    def thread(number):
        def script():
            with tg.no_grad():
                seen[number].append(tg.is_grad_enabled())
                yield
                seen[number].append(tg.is_grad_enabled())
                yield
            seen[number].append(tg.is_grad_enabled())
            seen[number].append((leaf([1.0]) * 2).requires_grad)
        return script

    interleave(order, thread(0), thread(1))
    assert seen == {0: [False, False, True, True], 1: [False, False, True, True]}
    assert tg.is_grad_enabled()


@pytest.mark.parametrize("order", ["0101", "0110"], ids=["first in, first out", "first in, last out"])
def test_overlapping_scopes(order):
    """scope("C") in one thread and scope("D") in another overlap: each thread's nodes get its own scope."""
    seen = {"C": [], "D": []}
    a = leaf([1.0])

    def thread(name):
        def script():
            with tg.scope(name):
                seen[name].append((a * 2).scope)
                yield
                seen[name].append((a * 2).scope)
                yield
            seen[name].append((a * 2).scope)
        return script

    interleave(order, thread("C"), thread("D"))
    assert seen == {"C": ["C", "C", None], "D": ["D", "D", None]}
    assert scope_here() is None


def test_interleave_order():
    """The helper above really runs the steps in the order given (else the tests above would prove nothing)."""
    events = []

    def thread(number):
        def script():
            for step in range(3):
                events.append((number, step))
                yield
        return script

    interleave("011010", thread(0), thread(1))
    assert events == [(0, 0), (1, 0), (1, 1), (0, 1), (1, 2), (0, 2)]
    with pytest.raises(ZeroDivisionError):
        interleave("01", lambda: (yield 1 / 0), thread(1))


def test_new_thread_defaults():
    """As in PyTorch: a new thread records with grad enabled, outside any scope, with no anomaly detection and
    without keep_values, whatever the thread that started it had switched."""
    seen = {}

    def child():
        a = leaf([1.0])
        seen["grad"] = tg.is_grad_enabled()
        seen["scope"] = scope_here()
        out = a * 2
        seen["recorded"] = out.requires_grad and out.scope is None
        seen["kept"] = (out * 1.0).grad_fn.parents[0].output is not None
        with np.errstate(divide="ignore"):
            seen["inf"] = bool(np.isinf((leaf([0.0]).log()).data[0]))  # no FloatingPointError: no anomaly mode

    with tg.no_grad(), tg.scope("parent"), tg.keep_values(), tg.detect_anomaly():
        thread = threading.Thread(target=child)
        thread.start()
        thread.join()
        assert not tg.is_grad_enabled() and scope_here() == "parent"
    assert seen == {"grad": True, "scope": None, "recorded": True, "kept": False, "inf": True}


def test_asyncio_tasks_share_the_thread():
    """The switches are per thread, as PyTorch's grad mode: asyncio tasks on one thread share them (a scope one
    task is inside is seen by another while it lasts), and nested blocks put everything back."""
    seen = {}

    async def main():
        a = leaf([1.0])
        inside_no_grad, inside_scope, no_grad_done = asyncio.Event(), asyncio.Event(), asyncio.Event()

        async def inference():
            with tg.no_grad():
                inside_no_grad.set()
                await inside_scope.wait()  # the training task is inside its scope now
                seen["inference"] = (tg.is_grad_enabled(), (a * 2).requires_grad, scope_here())
            no_grad_done.set()

        async def training():
            await inside_no_grad.wait()
            seen["training, during no_grad"] = tg.is_grad_enabled()
            with tg.scope("D"):
                inside_scope.set()
                await no_grad_done.wait()
                out = a * 2
                seen["training"] = (tg.is_grad_enabled(), out.requires_grad, out.scope)

        await asyncio.gather(inference(), training())
        seen["loop"] = (tg.is_grad_enabled(), scope_here())

    asyncio.run(main())
    assert seen == {"inference": (False, False, "D"), "training, during no_grad": False,
                    "training": (True, True, "D"), "loop": (True, None)}
