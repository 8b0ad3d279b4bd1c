"""The optimizer race (cgrad.compare_optimizers, cgrad.toy, `cgrad optimizers`): the toy
surfaces' gradients, the exact update rules on them, the same start for every optimizer,
and the command with its pictures."""
import os
import subprocess
import sys

import numpy as np
import pytest

from cgrad import compare_optimizers as co
from cgrad import reference, toy
from cgrad._objective import FullBatchObjective

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def run(args, cwd="/"):
    return subprocess.run([sys.executable, "-m", "cgrad"] + args, capture_output=True,
                          text=True, cwd=cwd, env=dict(os.environ))


@pytest.mark.parametrize("name", sorted(toy.SURFACES))
def test_toy_gradients_match_finite_differences(name):
    s = toy.get_surface(name)
    rng = np.random.default_rng(0)
    pts = np.column_stack([rng.uniform(*s.xlim, 20), rng.uniform(*s.ylim, 20)])
    h = 1e-6
    for w0, w1 in pts:
        fd = [(s.value(w0 + h, w1) - s.value(w0 - h, w1)) / (2 * h),
              (s.value(w0, w1 + h) - s.value(w0, w1 - h)) / (2 * h)]
        np.testing.assert_allclose(s.grad(w0, w1), fd, rtol=1e-6, atol=1e-7)
    for m in s.minimizers:                      # the stated minima are stationary points
        np.testing.assert_allclose(s.grad(*m), 0, atol=1e-12)
        assert s.value(*m) == pytest.approx(s.minimum)
    grid = np.meshgrid(np.linspace(*s.xlim, 50), np.linspace(*s.ylim, 50))
    assert s.value(*grid).min() >= s.minimum - 1e-12


def test_saddle_has_its_saddle_at_the_origin():
    s = toy.saddle()
    np.testing.assert_array_equal(s.grad(0.0, 0.0), (0.0, 0.0))
    assert s.value(0.1, 0.0) < s.value(0.0, 0.0) < s.value(0.0, 0.1)


def test_linear_cost_is_the_mean_squared_error_of_its_data():
    s = toy.linear_regression(n=20, seed=0)
    rng = np.random.default_rng(0)
    x = np.linspace(0.0, 3.0, 20)
    y = 1.0 + 2.0 * x + rng.normal(0.0, 0.5, 20)
    for w in [(0.0, 0.0), (1.5, -2.0)]:
        assert s.value(*w) == pytest.approx(0.5 * np.mean((w[0] + w[1] * x - y) ** 2))
    np.testing.assert_allclose(s.minimizers[0], np.polyfit(x, y, 1)[::-1], rtol=1e-10)


REFERENCE_STEPS = {
    "sgd": lambda p, g, st, lr, t: reference.optim.sgd_step(p, g, lr=lr, t=t),
    "nesterov": lambda p, g, st, lr, t: reference.optim.sgd_step(
        p, g, st[0], lr=lr, momentum=co.MOMENTUM, nesterov=True, t=t),
    "adam": lambda p, g, st, lr, t: reference.optim.adam_step(p, g, st[0], st[1], lr=lr, t=t),
    "rmsprop": lambda p, g, st, lr, t: reference.optim.rmsprop_step(p, g, st[0], lr=lr),
    "adagrad": lambda p, g, st, lr, t: reference.optim.adagrad_step(p, g, st[0], lr=lr, t=t),
}


@pytest.mark.parametrize("name", sorted(REFERENCE_STEPS))
def test_toy_paths_follow_the_reference_update_rules(name):
    surface, (res,), _ = co.compare_on_surface("saddle", names=[name], steps=40)
    lr = co.LEARNING_RATES["saddle"][name]
    p = np.array(surface.start, dtype=np.float64)
    states = [np.zeros(2), np.zeros(2)]
    path = [p.copy()]
    for t in range(1, 41):
        REFERENCE_STEPS[name](p, np.array(surface.grad(*p)), states, lr, t)
        path.append(p.copy())
    np.testing.assert_allclose(res.path, path, rtol=1e-12, atol=1e-14)
    assert res.losses[-1] < res.losses[0]


def test_lbfgs_reaches_the_linear_minimum():
    pytest.importorskip("scipy")
    surface, (res,), notes = co.compare_on_surface("linear", names=["lbfgs"], steps=50)
    assert not notes
    np.testing.assert_allclose(res.path[-1], surface.minimizers[0], rtol=1e-5)
    assert res.passes[0] == 0 and np.all(np.diff(res.passes) >= 1)   # evaluations per iterate


def test_surface_runs_start_where_asked():
    start = (-0.4, 1.0)
    surface, results, _ = co.compare_on_surface("saddle", names=["sgd", "adam"], steps=200,
                                                start=start)
    for r in results:
        np.testing.assert_array_equal(r.path[0], start)
        assert r.path[-1][0] < 0            # started left of the ridge: the left minimum
    assert surface.start != start
    results[0].tag = "start -0.4, 1"
    assert results[0].label == "SGD (start -0.4, 1)" and results[1].label == "Adam"
    assert "SGD (start -0.4, 1)" in co.format_table(results, target=-0.2, unit="steps")
    with pytest.raises(ValueError, match="two finite numbers"):
        co.compare_on_surface("saddle", names=["sgd"], start=(0.0, np.nan))
    with pytest.raises(ValueError, match="two finite numbers"):
        co.compare_on_surface("saddle", names=["sgd"], start=(1.0, 2.0, 3.0))


def test_lbfgs_is_skipped_with_a_note_without_scipy(monkeypatch):
    monkeypatch.setitem(sys.modules, "scipy.optimize", None)
    _, results, notes = co.compare_on_surface("linear", names=["sgd", "lbfgs"], steps=5)
    assert [r.name for r in results] == ["sgd"] and "L-BFGS skipped" in notes[0]


def test_digits_race_starts_every_optimizer_from_the_same_weights():
    names = ["sgd", "adam"] + (["lbfgs"] if _has_scipy() else [])
    results, _, best, (X, y) = co.compare_on_digits(names=names, epochs=3, n_threads=1)
    for r in results[1:]:
        np.testing.assert_array_equal(r.path[0], results[0].path[0])
    for r in results:
        assert r.losses[-1] < r.losses[0] and 0.5 < r.accuracy <= 1
        assert len(r.passes) == len(r.losses) == len(r.path)
    assert min(r.losses[-1] for r in results) == pytest.approx(
        FullBatchObjective(best, X, y)(best.flat_params))
    table = co.format_table(results, target=1.0)
    for r in results:
        assert r.label in table
    assert "epochs to 1" in table
    with pytest.raises(ValueError, match="unknown optimizers"):
        co.compare_on_digits(names=["sgd", "newton"])


def _has_scipy():
    try:
        import scipy.optimize  # noqa: F401
    except ImportError:
        return False
    return True


def test_passes_to_target():
    r = co.RunResult("sgd", [0, 1, 2, 3], [2.0, 1.0, 0.5, 0.7], np.zeros((4, 2)), 0.0)
    assert r.passes_to(0.9) == 2 and r.passes_to(0.5) == 2 and r.passes_to(0.1) is None


def test_optimizers_command_with_plots(tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib.image
    out = run(["optimizers", "--epochs", "4", "--threads", "1", "--plot", str(tmp_path)])
    assert out.returncode == 0, out.stderr
    for label in co.LABELS.values():
        if label != "L-BFGS" or _has_scipy():
            assert label in out.stdout
    for name in ("optimizers_loss.png", "optimizers_landscape.png"):
        path = tmp_path / name
        assert path.read_bytes()[:8] == PNG_SIGNATURE
        assert matplotlib.image.imread(str(path)).std() > 0.01
    out = run(["optimizers", "--toy", "saddle", "--steps", "30", "--plot", str(tmp_path)])
    assert out.returncode == 0, out.stderr
    assert "saddle" in out.stdout and "steps to" in out.stdout
    assert (tmp_path / "optimizers_saddle.png").read_bytes()[:8] == PNG_SIGNATURE


def test_optimizers_command_errors(tmp_path):
    out = run(["optimizers", "--optimizers", "sgd,newton"])
    assert out.returncode == 2 and "expected some of" in out.stderr
    out = run(["optimizers", "--toy", "linear", "--plot", str(tmp_path / "x.png")])
    assert out.returncode == 2 and "expected a folder" in out.stderr
    out = run(["optimizers", "--toy", "linear", "--steps", "0"])
    assert out.returncode == 2 and "--steps" in out.stderr


def test_optimizers_plot_without_matplotlib_says_so(tmp_path):
    fake = tmp_path / "fake" / "matplotlib"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('no matplotlib here')\n")
    e = dict(os.environ, PYTHONPATH=str(tmp_path / "fake"))
    out = subprocess.run([sys.executable, "-m", "cgrad", "optimizers", "--plot", str(tmp_path)],
                         capture_output=True, text=True, cwd="/", env=e)
    assert out.returncode == 2
    assert "pip install 'cgrad[plot]'" in out.stderr and "SGD" not in out.stdout
