"""Learning-rate schedules: hand-computed values, PyTorch's schedulers on the same
settings (when importable), ReduceOnPlateau's state machine, and argument checks."""
import math

import numpy as np
import pytest

from cgrad.schedules import (Constant, Cosine, ExponentialDecay, ReduceOnPlateau, Schedule,
                             StepDecay, get_schedule)


def test_hand_computed_values():
    assert [Constant(0.3)(e) for e in (0, 5, 100)] == [0.3, 0.3, 0.3]
    s = StepDecay(1.0, step_size=3, gamma=0.5)
    assert [s(e) for e in range(8)] == [1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25]
    e = ExponentialDecay(0.1, gamma=0.9)
    assert e(0) == 0.1 and e(2) == pytest.approx(0.081, rel=1e-15)
    c = Cosine(1.0, t_max=4, eta_min=0.2)
    expected = [1.0, 0.2 + 0.8 * (1 + math.sqrt(0.5)) / 2, 0.6,
                0.2 + 0.8 * (1 - math.sqrt(0.5)) / 2, 0.2]
    assert [c(k) for k in range(5)] == pytest.approx(expected, rel=1e-15)
    assert c(6) == pytest.approx(0.6, rel=1e-15)            # past t_max: back up


@pytest.mark.parametrize("sched", [Constant(0.1), StepDecay(0.1, 2), ExponentialDecay(0.1, 0.5),
                                   Cosine(0.1, 5)])
def test_step_advances_and_matches_call(sched):
    assert sched.lr == sched(0) == sched.initial_lr
    for epoch in range(1, 8):
        assert sched.step() == sched(epoch) == sched.lr
    assert sched.epoch == 7


def _torch_lrs(make, n, metrics=None, lr=0.1):
    torch = pytest.importorskip("torch")
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    sched = make(torch.optim.lr_scheduler, opt)
    out = [opt.param_groups[0]["lr"]]
    for k in range(n):
        opt.step()
        if metrics is None:
            sched.step()
        else:
            sched.step(metrics[k])
        out.append(opt.param_groups[0]["lr"])
    return out


@pytest.mark.parametrize("ours,theirs", [
    (lambda: StepDecay(0.1, 3, gamma=0.3), lambda m, o: m.StepLR(o, 3, gamma=0.3)),
    (lambda: ExponentialDecay(0.1, 0.93), lambda m, o: m.ExponentialLR(o, 0.93)),
    (lambda: Cosine(0.1, 7, eta_min=0.01), lambda m, o: m.CosineAnnealingLR(o, 7, eta_min=0.01)),
    (lambda: Cosine(0.1, 10), lambda m, o: m.CosineAnnealingLR(o, 10)),
])
def test_closed_forms_match_torch(ours, theirs):
    n = 30
    expected = _torch_lrs(theirs, n)
    s = ours()
    assert [s(k) for k in range(n + 1)] == pytest.approx(expected, rel=1e-9, abs=1e-12)


PLATEAU_METRICS = [1.0, 0.9, 0.9, 0.9, 0.8999, 0.9, 0.5, 0.5, 0.5, 0.5, 0.5, 0.49999,
                   0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, float("nan"), 0.6, 0.6, 0.6]


@pytest.mark.parametrize("kw", [
    dict(factor=0.5, patience=2),
    dict(factor=0.5, patience=1, cooldown=2),
    dict(factor=0.1, patience=0, min_lr=0.002),
    dict(factor=0.5, patience=1, threshold=0.2),
    dict(factor=0.5, patience=1, threshold=0.05, threshold_mode="abs"),
    dict(factor=0.5, patience=1, mode="max"),
])
def test_plateau_matches_torch(kw):
    metrics = PLATEAU_METRICS
    if kw.get("mode") == "max":
        metrics = [-m for m in metrics]
    expected = _torch_lrs(lambda m, o: m.ReduceLROnPlateau(o, **kw), len(metrics), metrics)
    s = ReduceOnPlateau(0.1, **kw)
    got = [s.lr] + [s.step(m) for m in metrics]
    assert got == pytest.approx(expected, rel=1e-12)
    assert min(got) < 0.1, "the sequence must trigger at least one reduction"


def test_plateau_hand_worked_state():
    s = ReduceOnPlateau(1.0, factor=0.5, patience=2, cooldown=1, min_lr=0.3)
    assert s.step(np.float64(1.0)) == 1.0 and s.best == 1.0      # improvement
    assert s.step(1.0) == 1.0 and s.num_bad_epochs == 1
    assert s.step(1.0) == 1.0 and s.num_bad_epochs == 2
    assert s.step(1.0) == 0.5 and s.num_bad_epochs == 0          # 3 > patience
    assert s.cooldown_counter == 1
    assert s.step(1.0) == 0.5 and s.num_bad_epochs == 0          # cooldown epoch
    for _ in range(2):
        assert s.step(1.0) == 0.5
    assert s.step(1.0) == 0.3                                    # floored at min_lr
    for _ in range(10):
        s.step(1.0)
    assert s.lr == 0.3 and s(50) == 0.3
    s.reset()
    assert s.lr == 1.0 and s.best == math.inf and s.epoch == 0


def test_plateau_needs_a_metric():
    s = ReduceOnPlateau(0.1)
    with pytest.raises(ValueError, match="monitored metric"):
        s.step()
    with pytest.raises(TypeError, match="metric must be a number"):
        s.step("low")


def test_get_schedule():
    assert isinstance(get_schedule("constant", 0.1), Constant)
    assert isinstance(get_schedule(None, 0.1), Constant)
    s = get_schedule("Step", 0.1, step_size=2, gamma=0.5)
    assert isinstance(s, StepDecay) and s(2) == 0.05
    assert get_schedule("exponential", 0.1, gamma=0.5)(1) == 0.05
    assert get_schedule("cosine", 0.1, t_max=2)(2) == 0.0
    p = get_schedule("plateau", 0.1, patience=0)
    assert isinstance(p, ReduceOnPlateau) and p.patience == 0
    obj = Cosine(0.2, 3)
    assert get_schedule(obj, 0.1) is obj
    with pytest.raises(ValueError, match="unknown schedule 'linear'"):
        get_schedule("linear", 0.1)
    with pytest.raises(ValueError, match="keyword arguments"):
        get_schedule(obj, 0.1, gamma=0.5)
    with pytest.raises(TypeError, match="schedule 'step'"):
        get_schedule("step", 0.1)                                 # step_size missing
    with pytest.raises(TypeError, match="schedule 'cosine'"):
        get_schedule("cosine", 0.1, t_max=3, gamma=2)
    with pytest.raises(TypeError, match="name or a Schedule"):
        get_schedule(3, 0.1)


@pytest.mark.parametrize("make,exc,match", [
    (lambda: Constant(0.0), ValueError, "lr must be > 0"),
    (lambda: Constant(float("nan")), ValueError, "lr must be"),
    (lambda: Constant("0.1"), TypeError, "lr must be a number"),
    (lambda: StepDecay(0.1, 0), ValueError, "step_size must be >= 1"),
    (lambda: StepDecay(0.1, 2.0), TypeError, "step_size must be an int"),
    (lambda: StepDecay(0.1, 2, gamma=-1), ValueError, "gamma"),
    (lambda: ExponentialDecay(0.1, 0), ValueError, "gamma"),
    (lambda: Cosine(0.1, 0), ValueError, "t_max"),
    (lambda: Cosine(0.1, 5, eta_min=0.2), ValueError, "eta_min"),
    (lambda: ReduceOnPlateau(0.1, factor=1.0), ValueError, "factor must be < 1"),
    (lambda: ReduceOnPlateau(0.1, patience=-1), ValueError, "patience"),
    (lambda: ReduceOnPlateau(0.1, mode="up"), ValueError, "mode"),
    (lambda: ReduceOnPlateau(0.1, threshold_mode="x"), ValueError, "threshold_mode"),
    (lambda: ReduceOnPlateau(0.1, cooldown=True), TypeError, "cooldown"),
    (lambda: ReduceOnPlateau(0.1, min_lr=-1), ValueError, "min_lr"),
    (lambda: Cosine(0.1, 5)(-1), ValueError, "epoch must be >= 0"),
    (lambda: StepDecay(0.1, 5)(1.5), TypeError, "epoch must be an int"),
])
def test_bad_arguments(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_all_are_schedules_with_repr():
    for s in (Constant(0.1), StepDecay(0.1, 2), ExponentialDecay(0.1, 0.5), Cosine(0.1, 3),
              ReduceOnPlateau(0.1)):
        assert isinstance(s, Schedule)
        assert type(s).__name__ in repr(s) and "initial_lr=0.1" in repr(s)
