"""The compiled Trainer refuses inconsistent arguments instead of reading out of bounds
(it is internal, but Python can reach it)."""
import numpy as np
import pytest

from cgrad import _core


def _trainer(**over):
    sizes = over.pop("sizes", [3, 4, 2])
    n = sum(i * o + o for i, o in zip(sizes[:-1], sizes[1:]))
    dtype = over.pop("dtype", np.float32)
    args = dict(params=np.zeros(n, dtype), grads=np.zeros(n, dtype), sizes=sizes,
                acts=[1, 0], alpha=0.0, loss=3, fused=True,
                X=np.zeros((10, 3), dtype), Yf=None, Yi=np.zeros(10, np.int64), batch=4,
                opt={"kind": "adam", "lr": 1e-3, "states": (np.zeros(n, dtype), np.zeros(n, dtype), None)},
                reg={}, ftz=True)
    args.update(over)
    return _core.Trainer(args.pop("params"), args.pop("grads"), args.pop("sizes"),
                         args.pop("acts"), args.pop("alpha"), args.pop("loss"),
                         args.pop("fused"), args.pop("X"), args.pop("Yf"), args.pop("Yi"),
                         args.pop("batch"), args.pop("opt"), args.pop("reg"), args.pop("ftz"))


def test_a_valid_trainer_runs_and_checks_its_batch_range():
    t = _trainer()
    stats = t.run(0, 3, 1)
    assert stats[1] == 10 and stats[4] == 3          # rows seen, steps taken
    with pytest.raises(ValueError, match="must be >= 0"):
        t.run(-1, 1, 1)
    with pytest.raises(ValueError, match="past the last batch"):
        t.run(3, 1, 1)
    assert t.run(3, 0, 1)[4] == 0                    # nothing to do is fine


@pytest.mark.parametrize("over,exc,msg", [
    ({"Yi": np.full(10, 7, np.int64)}, ValueError, r"labels must be in \[0, 2\)"),
    ({"Yi": np.full(10, -1, np.int64)}, ValueError, "labels must be in"),
    ({"acts": [99, 0]}, ValueError, "unknown activation code"),
    ({"acts": [1]}, ValueError, "one activation code per layer"),
    ({"loss": 42}, ValueError, "unknown loss code"),
    ({"opt": {"kind": "adam", "lr": 1e-3}}, ValueError, "needs state 0"),
    ({"opt": {"kind": "sgd", "lr": 0.1, "momentum": 0.9}}, ValueError, "needs state 0"),
    ({"batch": 0}, ValueError, "batch must be >= 1"),
])
def test_inconsistent_arguments_are_refused(over, exc, msg):
    with pytest.raises(exc, match=msg):
        _trainer(**over)


def test_non_float_parameters_are_refused():
    with pytest.raises(TypeError, match="float32 or float64"):
        _trainer(params=np.zeros(26, np.int16), grads=np.zeros(26, np.int16))
