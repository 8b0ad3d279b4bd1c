"""cgrad.plot and cgrad.landscape: every picture renders to a real, non-blank PNG; the
landscape's values are the model's loss at the plane's points and the model is left
untouched; filter normalisation and PCA directions hold numerically."""
import importlib
import sys

import numpy as np
import pytest

import cgrad
from cgrad import datasets, landscape
from cgrad.callbacks import WeightTrajectory

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.image  # noqa: E402

from cgrad import plot  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png_with_content(path):
    """A real PNG (signature, decodes) that is not blank (several colours)."""
    path = str(path)
    with open(path, "rb") as f:
        assert f.read(8) == PNG_SIGNATURE
    img = matplotlib.image.imread(path)
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100
    assert img.std() > 0.01
    colours = np.unique(img.reshape(-1, img.shape[2]), axis=0)
    assert len(colours) > 20


def save(fig, tmp_path, name):
    path = tmp_path / name
    fig.savefig(path, dpi=60)
    return path


@pytest.fixture(scope="module")
def digits_small():
    X, y = datasets.load_digits()
    return X[:400], y[:400]


@pytest.fixture(scope="module")
def trained(digits_small):
    X, y = digits_small
    model = cgrad.MLP([64, 16, 10], seed=0)
    traj = WeightTrajectory()
    hist = model.fit(X, y, epochs=6, verbose=0, validation_split=0.25, callbacks=[traj],
                     schedule=cgrad.schedules.get_schedule("exponential", 2e-3, gamma=0.7),
                     n_threads=1)
    return model, hist, traj


def snapshot(model):
    return (model.flat_params.copy(), model.flat_grads.copy(), model.flat_buffers.copy(),
            model.step_count)


def assert_untouched(model, snap):
    p, g, b, step = snap
    assert model.flat_params.tobytes() == p.tobytes()
    assert model.flat_grads.tobytes() == g.tobytes()
    assert model.flat_buffers.tobytes() == b.tobytes()
    assert model.step_count == step


def test_import_without_matplotlib_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.delitem(sys.modules, "cgrad.plot")
    with pytest.raises(ImportError, match=r"pip install 'cgrad\[plot\]'"):
        importlib.import_module("cgrad.plot")


def test_training_curves(trained, tmp_path):
    _, hist, _ = trained
    fig = plot.training_curves(hist)
    loss_ax, metric_ax, lr_ax = fig.axes
    assert [line.get_label() for line in loss_ax.lines] == ["train", "validation"]
    np.testing.assert_array_equal(loss_ax.lines[1].get_ydata(), hist["val_loss"])
    np.testing.assert_array_equal(lr_ax.lines[0].get_ydata(), hist["lr"])
    assert metric_ax.get_title() == "accuracy"
    assert_png_with_content(save(fig, tmp_path, "curves.png"))


def test_training_curves_of_a_regression_without_validation(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (200, 3))
    model = cgrad.MLP([3, 8, 1], activation="tanh", output="identity", seed=0)
    hist = model.fit(X, X.sum(axis=1), epochs=4, verbose=0)
    fig = plot.training_curves(hist)
    assert len(fig.axes) == 2 and fig.axes[0].get_title() == "loss"    # loss + lr axis
    assert_png_with_content(save(fig, tmp_path, "reg.png"))
    with pytest.raises(TypeError, match="History"):
        plot.training_curves({"loss": [1.0]})


def test_grad_norms_draws_each_layer_on_a_log_scale(trained, tmp_path):
    model, hist, _ = trained
    fig = plot.grad_norms(hist)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    norms = np.asarray(hist["grad_norm_layers"])
    assert norms.shape == (len(hist.epoch), len(model.dense_layers))
    for i in range(norms.shape[1]):
        np.testing.assert_array_equal(ax.lines[i].get_ydata(), norms[:, i])
    assert ax.lines[-1].get_label() == "global"
    assert_png_with_content(save(fig, tmp_path, "grad.png"))


def test_compare_curves_draws_each_run_and_key(trained, tmp_path):
    _, hist, _ = trained
    fig = plot.compare_curves({"model": hist, "values": [3.0, 2.0, 1.5]},
                              key=("loss", "val_loss"))
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.lines] == [
        "model (loss)", "model (val_loss)", "values"]
    np.testing.assert_array_equal(ax.lines[1].get_ydata(), hist["val_loss"])
    np.testing.assert_array_equal(ax.lines[1].get_xdata(), np.arange(1, len(hist.epoch) + 1))
    assert ax.lines[0].get_color() == ax.lines[1].get_color() != ax.lines[2].get_color()
    assert ax.lines[1].get_linestyle() == "--"
    np.testing.assert_array_equal(ax.lines[2].get_xdata(), [1, 2, 3])
    assert ax.get_yscale() == "log"
    assert_png_with_content(save(fig, tmp_path, "compare.png"))
    fig = plot.compare_curves({"model": hist}, x="seconds", log=False)
    np.testing.assert_allclose(fig.axes[0].lines[0].get_xdata(), np.cumsum(hist["seconds"]))
    assert fig.axes[0].get_yscale() == "linear"


def test_compare_curves_rejects_bad_input(trained):
    _, hist, _ = trained
    with pytest.raises(ValueError, match="has no 'val_accuracy_top5'"):
        plot.compare_curves({"m": hist}, key="val_accuracy_top5")
    with pytest.raises(ValueError, match="needs a History"):
        plot.compare_curves({"seq": [1.0, 0.5]}, x="seconds")
    with pytest.raises(ValueError, match="x must be"):
        plot.compare_curves({"m": hist}, x="step")
    with pytest.raises(ValueError, match="non-empty sequence"):
        plot.compare_curves({"seq": []})
    with pytest.raises(ValueError, match="at least one curve"):
        plot.compare_curves({})


def _bench_row(workload, optimizer, impl, times, status="ok"):
    return dict(workload=workload, optimizer=optimizer, impl=impl, threads=1, status=status,
                median=float(np.median(times)), min=min(times), max=max(times))


def test_benchmark_results_one_panel_per_workload_and_optimizer(tmp_path):
    rows = [_bench_row("W1", "adam", "cgrad", [1.0, 1.2, 1.1]),
            _bench_row("W1", "adam", "torch", [2.0, 2.5, 3.0]),
            _bench_row("W2", "sgd", "cgrad", [0.1, 0.1, 0.2]),
            _bench_row("W2", "sgd", "numpy", [0.4]),
            dict(workload="W2", optimizer="sgd", impl="jax-scan", threads=1,
                 status="skipped", reason="jax is not installed")]
    fig = plot.benchmark_results(rows)
    assert [ax.get_title() for ax in fig.axes] == ["W1 adam", "W2 sgd"]
    w1, w2 = fig.axes
    assert [t.get_text() for t in w2.get_xticklabels()] == ["cgrad t1", "numpy t1"]
    np.testing.assert_allclose([b.get_height() for b in w1.patches], [1.1, 2.5])
    assert w1.get_yscale() == "log"
    assert_png_with_content(save(fig, tmp_path, "bench.png"))
    with pytest.raises(ValueError, match="no successful"):
        plot.benchmark_results(rows[-1:])


def test_decision_regions(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(240, 2))
    y = (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 0.5)
    model = cgrad.MLP([2, 16, 3], seed=0)
    model.fit(X, y, epochs=40, verbose=0, n_threads=1)
    fig = plot.decision_regions(model, X, y, resolution=80)
    assert_png_with_content(save(fig, tmp_path, "regions.png"))
    with pytest.raises(ValueError, match="2 inputs"):
        plot.decision_regions(cgrad.MLP([3, 4, 2]), np.zeros((5, 3)), np.zeros(5, int))
    with pytest.raises(ValueError, match="classifier"):
        plot.decision_regions(cgrad.MLP([2, 4, 1], output="identity"), X, y)


def test_landscape_values_are_the_loss_and_the_model_is_untouched(trained, digits_small):
    model, _, _ = trained
    X, y = digits_small
    before = snapshot(model)
    land = landscape.loss_landscape(model, X, y, resolution=5, seed=3, n_threads=1)
    assert_untouched(model, before)
    ev = model.evaluate(X, y)["loss"]
    assert land.center_loss == pytest.approx(ev, rel=1e-6)
    assert land.alphas[2] == 0 and land.betas[2] == 0
    assert land.losses[2, 2] == pytest.approx(ev, rel=1e-6)
    # an off-centre point: losses[j, i] is the loss at center + alphas[i] d1 + betas[j] d2
    j, i = 0, 3
    other = cgrad.MLP(model.layer_sizes, seed=1)
    other.flat_params[...] = land.center + land.alphas[i] * land.d1 + land.betas[j] * land.d2
    assert land.losses[j, i] == pytest.approx(other.evaluate(X, y)["loss"], rel=1e-5)
    assert land.losses[j, i] != pytest.approx(land.center_loss, rel=1e-3)


def test_landscape_leaves_dropout_and_batchnorm_models_untouched(digits_small):
    X, y = digits_small
    model = cgrad.MLP([64, 16, 10], dropout=0.3, batch_norm=True, seed=0)
    model.fit(X, y, epochs=2, verbose=0, n_threads=1)
    before = snapshot(model)
    land = landscape.loss_landscape(model, X, y, resolution=3, n_threads=1)
    assert_untouched(model, before)
    assert np.isfinite(land.losses).all()
    again = landscape.loss_landscape(model, X, y, resolution=3, n_threads=1)
    np.testing.assert_array_equal(land.losses, again.losses)    # no random dropout masks


def test_filter_normalised_direction():
    model = cgrad.MLP([5, 7, 3], batch_norm=True, seed=0)
    model.layers[1].gamma[...] = np.linspace(0.5, 2, 7)
    d = landscape.filter_normalized_direction(model, np.random.default_rng(0))
    off = 0
    for layer in model.layers:
        k = layer.n_params()
        part = d[off:off + k]
        if isinstance(layer, cgrad.nn.Dense):
            W = layer.W.astype(np.float64)
            dW = part[:W.size].reshape(W.shape)
            np.testing.assert_allclose(np.linalg.norm(dW, axis=0), np.linalg.norm(W, axis=0),
                                       rtol=1e-12)
            assert not np.allclose(dW / W, (dW / W)[0, 0])      # random, not W rescaled
            assert not part[W.size:].any()                       # the bias direction is 0
        else:
            assert not part.any()                                # gamma, beta: 0
        off += k
    assert off == model.n_params


def test_pca_directions_recover_a_planar_trajectory():
    rng = np.random.default_rng(0)
    center = rng.normal(size=50)
    u, v = np.linalg.qr(rng.normal(size=(50, 2)))[0].T
    coef = rng.normal(size=(12, 2)) * [3.0, 1.0]
    traj = center + coef[:, :1] * u + coef[:, 1:] * v
    d1, d2, (e1, e2) = landscape.pca_directions([traj], center)
    np.testing.assert_allclose([d1 @ d1, d2 @ d2, d1 @ d2], [1, 1, 0], atol=1e-12)
    assert e1 > e2 > 0 and e1 + e2 == pytest.approx(1.0)
    coords = landscape._project(traj, center, d1, d2)
    np.testing.assert_allclose(center + coords @ np.stack([d1, d2]), traj, atol=1e-10)


def test_pca_landscape_with_the_path(trained, digits_small, tmp_path):
    model, _, traj = trained
    X, y = digits_small
    assert traj.epochs == list(range(7)) and len(traj) == 7
    land = landscape.loss_landscape(model, X, y, directions="pca", trajectory=traj,
                                    resolution=9, n_threads=1)
    path = land.paths["path"]
    assert path.shape == (7, 2)
    np.testing.assert_allclose(path[-1], 0, atol=1e-6)          # the path ends at the centre
    assert (land.alphas.min() <= path[:, 0].min() and path[:, 0].max() <= land.alphas.max())
    fig = plot.loss_landscape(land)
    assert_png_with_content(save(fig, tmp_path, "landscape.png"))
    fig = plot.loss_landscape(model, X, y, trajectory={"a": traj, "b": traj.weights[::2]},
                              resolution=5, n_threads=1)
    assert_png_with_content(save(fig, tmp_path, "landscape_filter.png"))


def test_landscape_rejects_bad_arguments(trained, digits_small):
    model, _, traj = trained
    X, y = digits_small
    with pytest.raises(ValueError, match="needs a trajectory"):
        landscape.loss_landscape(model, X, y, directions="pca")
    with pytest.raises(ValueError, match="directions must be"):
        landscape.loss_landscape(model, X, y, directions="random")
    with pytest.raises(ValueError, match="parameters per snapshot"):
        landscape.loss_landscape(model, X, y, trajectory=np.zeros((3, 5)))
    with pytest.raises(ValueError, match="at least 3"):
        landscape.loss_landscape(model, X, y, directions="pca", trajectory=traj.weights[:2])
    with pytest.raises(ValueError, match="resolution"):
        landscape.loss_landscape(model, X, y, resolution=1)


def test_weight_trajectory_every_and_a_restore_at_the_end(digits_small):
    X, y = digits_small
    model = cgrad.MLP([64, 8, 10], seed=0)
    init = model.flat_params.copy()
    traj = WeightTrajectory(every=2)
    model.fit(X, y, epochs=5, verbose=0, callbacks=[traj], n_threads=1)
    assert traj.epochs == [0, 2, 4, 5]
    np.testing.assert_array_equal(traj.weights[0], init)
    np.testing.assert_array_equal(traj.weights[-1], model.flat_params)
    after_epoch = []                     # a callback that restores weights when fit ends
    restore = cgrad.callbacks.LambdaCallback(
        on_epoch_end=lambda e, logs: after_epoch.append(model.flat_params.copy()),
        on_train_end=lambda logs: model.flat_params.__setitem__(Ellipsis, after_epoch[0]))
    traj = WeightTrajectory()
    model.fit(X, y, epochs=3, verbose=0, callbacks=[restore, traj], n_threads=1)
    assert traj.epochs == [0, 1, 2, 3, 3]
    np.testing.assert_array_equal(traj.weights[-1], after_epoch[0])
    np.testing.assert_array_equal(traj.weights[1], after_epoch[0])
    with pytest.raises(ValueError, match="every"):
        WeightTrajectory(every=0)
