"""The MLP model API: flat buffers, initialisation, the fused fit against the step API
and the NumPy reference, determinism, callbacks, persistence and input validation."""
import os

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import cgrad
from cgrad import _core, callbacks, losses, optim, reference as ref


def _blobs(rng, n=60, d=5, k=3, dtype=np.float64):
    centers = rng.standard_normal((k, d)) * 3
    y = rng.integers(0, k, n)
    X = centers[y] + rng.standard_normal((n, d))
    return X.astype(dtype), y.astype(np.int64)


def _regression(rng, n=64, d=3, dtype=np.float64):
    X = rng.uniform(-1, 1, (n, d))
    y = np.sin(2 * X[:, :1]) + X[:, 1:2] ** 2
    return X.astype(dtype), y.astype(dtype)


# -- structure -----------------------------------------------------------------------
def test_parameters_are_views_into_one_flat_buffer():
    m = cgrad.MLP([4, 5, 3], seed=0)
    assert m.n_params == 4 * 5 + 5 + 5 * 3 + 3
    for p in m.parameters():
        assert np.shares_memory(p, m.flat_params)
    for g in m.gradients():
        assert np.shares_memory(g, m.flat_grads)
    m.flat_params[:] = np.arange(m.n_params)
    assert m.W[0][0, 0] == 0 and m.b[0][0] == 20 and m.W[1][0, 0] == 25


@pytest.mark.parametrize("activation,init,expected", [
    ("relu", None, "he_uniform"), ("tanh", None, "glorot_uniform"),
    ("tanh", "he_normal", "he_normal"), ("gelu", "glorot_normal", "glorot_normal")])
def test_initialisation_follows_the_activation(activation, init, expected):
    m = cgrad.MLP([300, 200, 10], activation=activation, init=init, seed=1, dtype="float64")
    assert m.init == expected
    W = m.W[0]
    fan_in, fan_out = W.shape
    var = {"he_uniform": 2 / fan_in, "he_normal": 2 / fan_in,
           "glorot_uniform": 2 / (fan_in + fan_out), "glorot_normal": 2 / (fan_in + fan_out)}
    assert abs(W.var() / var[expected] - 1) < 0.05
    if expected.endswith("uniform"):
        assert np.abs(W).max() <= np.sqrt(3 * var[expected])
    assert not m.b[0].any()


def test_same_seed_same_weights_different_seed_different():
    a, b, c = (cgrad.MLP([8, 6, 2], seed=s) for s in (3, 3, 4))
    assert_array_equal(a.flat_params, b.flat_params)
    assert not np.array_equal(a.flat_params, c.flat_params)


def test_set_weights_validates_before_changing_anything():
    m = cgrad.MLP([3, 4, 2], seed=0)
    before = m.flat_params.copy()
    w = m.get_weights()
    w[3] = np.zeros(5)
    with pytest.raises(ValueError, match=r"b_1 has shape \(5,\), expected \(2,\)"):
        m.set_weights(w)
    w = m.get_weights()
    w[0][0, 0] = np.nan
    with pytest.raises(ValueError, match="W_0 contains NaN"):
        m.set_weights(w)
    assert_array_equal(m.flat_params, before)
    w = [x + 1 for x in m.get_weights()]
    m.set_weights(w)
    assert_array_equal(m.flat_params, before + 1)


# -- step API vs reference ------------------------------------------------------------
def _reference_forward_backward(model, x, y_labels):
    """Forward + softmax-CE + backward of the model's weights, in plain NumPy float64."""
    W = [w.astype(np.float64) for w in model.W]
    b = [v.astype(np.float64) for v in model.b]
    acts = [ref.ACTIVATIONS[model.activation]] * (len(W) - 1)
    h, cache = x.astype(np.float64), []
    for l in range(len(W)):
        z = h @ W[l] + b[l]
        a = acts[l][0](z) if l < len(W) - 1 else z
        cache.append((h, z, a))
        h = a
    p = ref.softmax_forward(h)
    n = len(y_labels)
    loss = -np.mean(np.log(p[np.arange(n), y_labels]))
    d = p.copy()
    d[np.arange(n), y_labels] -= 1
    d /= n
    grads = []
    for l in range(len(W) - 1, -1, -1):
        hin, z, a = cache[l]
        if l < len(W) - 1:
            d = acts[l][1](d, z, a)
        grads.append((hin.T @ d, d.sum(0)))
        d = d @ W[l].T
    return loss, grads[::-1]


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "gelu", "elu", "leaky_relu"])
def test_step_api_gradients_match_the_reference(rng, activation):
    X, y = _blobs(rng, n=17)
    m = cgrad.MLP([5, 7, 6, 3], activation=activation, dtype="float64", seed=2)
    out = m.forward(X)
    loss, grad = losses.SoftmaxCrossEntropy()(out, y)
    m.flat_grads[:] = 0
    m.backward(grad)
    ref_loss, ref_grads = _reference_forward_backward(m, X, y)
    assert_allclose(loss, ref_loss, rtol=1e-12)
    for l, (dW, db) in enumerate(ref_grads):
        assert_allclose(m.dW[l], dW, rtol=1e-10, atol=1e-14)
        assert_allclose(m.db[l], db, rtol=1e-10, atol=1e-14)


def test_gradients_match_finite_differences():
    """Central differences over every flat parameter of a tiny float64 MLP."""
    rng = np.random.default_rng(5)
    X, y = _blobs(rng, n=6, d=4, k=3)
    m = cgrad.MLP([4, 5, 3], activation="tanh", dtype="float64", seed=0)
    lf = losses.SoftmaxCrossEntropy()
    m.flat_grads[:] = 0
    m.backward(lf(m.forward(X), y)[1])
    analytic = m.flat_grads.copy()
    numeric = np.empty_like(analytic)
    eps = 1e-6
    for i in range(m.n_params):
        old = m.flat_params[i]
        m.flat_params[i] = old + eps
        lp = lf(m.forward(X), y)[0]
        m.flat_params[i] = old - eps
        lm = lf(m.forward(X), y)[0]
        m.flat_params[i] = old
        numeric[i] = (lp - lm) / (2 * eps)
    assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-9)


def test_backward_accumulates_parameter_gradients(rng):
    X, y = _blobs(rng, n=9)
    m = cgrad.MLP([5, 4, 3], dtype="float64", seed=0)
    lf = losses.SoftmaxCrossEntropy()
    m.flat_grads[:] = 0
    m.backward(lf(m.forward(X), y)[1])
    once = m.flat_grads.copy()
    m.backward(lf(m.forward(X), y)[1])
    assert_allclose(m.flat_grads, 2 * once, rtol=1e-14)


# -- the fused loop -------------------------------------------------------------------
def _step_loop(model, opt, X, y, loss_fn, epochs, batch):
    for _ in range(epochs):
        for s in range(0, len(X), batch):
            out = model.forward(X[s:s + batch])
            _, grad = loss_fn(out, y[s:s + batch])
            opt.zero_grad()
            model.backward(grad)
            opt.step()


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("make_opt", [
    lambda: optim.SGD(lr=0.1, momentum=0.9, nesterov=True),
    lambda: optim.Adam(lr=0.01, amsgrad=True),
    lambda: optim.AdamW(lr=0.01, weight_decay=0.1),
    lambda: optim.RMSprop(lr=0.01, momentum=0.5, centered=True),
    lambda: optim.Adagrad(lr=0.1, lr_decay=0.01),
], ids=["sgd-nesterov", "adam-amsgrad", "adamw", "rmsprop-centered", "adagrad"])
def test_fused_fit_and_step_api_give_the_same_weights(rng, dtype, make_opt):
    X, y = _blobs(rng, n=30, dtype=np.dtype(dtype))
    a = cgrad.MLP([5, 8, 3], activation="tanh", dtype=dtype, seed=7)
    b = cgrad.MLP([5, 8, 3], activation="tanh", dtype=dtype, seed=7)
    a.fit(X, y, optimizer=make_opt(), epochs=3, batch_size=7, shuffle=False, verbose=0)
    ob = make_opt().attach(b)
    _step_loop(b, ob, X, y, losses.SoftmaxCrossEntropy(), epochs=3, batch=7)
    assert a.optimizer.t == ob.t == 3 * 5
    assert_array_equal(a.flat_params, b.flat_params)


def test_fused_fit_regression_matches_step_api(rng):
    X, y = _regression(rng)
    a = cgrad.MLP([3, 16, 1], activation="tanh", output="identity", dtype="float64", seed=1)
    b = cgrad.MLP([3, 16, 1], activation="tanh", output="identity", dtype="float64", seed=1)
    a.fit(X, y, loss="mse", optimizer="sgd", lr=0.05, epochs=2, batch_size=10, shuffle=False,
          verbose=0)
    ob = optim.SGD(b, lr=0.05)
    _step_loop(b, ob, X, y, losses.MSE(), epochs=2, batch=10)
    assert_array_equal(a.flat_params, b.flat_params)


def test_fit_matches_a_plain_numpy_training_loop(rng):
    """Ten full-batch SGD steps: the loss trajectory and final weights against NumPy."""
    X, y = _blobs(rng, n=40)
    m = cgrad.MLP([5, 6, 3], activation="relu", dtype="float64", seed=3)
    mirror = cgrad.MLP([5, 6, 3], activation="relu", dtype="float64", seed=3)
    hist = m.fit(X, y, optimizer="sgd", lr=0.5, epochs=10, batch_size=None, shuffle=False,
                 verbose=0)
    expected = []
    for _ in range(10):
        loss, grads = _reference_forward_backward(mirror, X, y)
        expected.append(loss)
        for l, (dW, db) in enumerate(grads):
            mirror.W[l] -= 0.5 * dW
            mirror.b[l] -= 0.5 * db
    assert_allclose(hist.history["loss"], expected, rtol=1e-10)
    assert_allclose(m.flat_params, mirror.flat_params, rtol=1e-10, atol=1e-12)


def test_batch_size_none_is_full_batch_and_one_is_stochastic(rng):
    X, y = _blobs(rng, n=12)
    m = cgrad.MLP([5, 4, 3], seed=0)
    m.fit(X, y, batch_size=None, epochs=3, verbose=0)
    assert m.optimizer.t == 3
    m.fit(X, y, batch_size=1, epochs=2, verbose=0)
    assert m.optimizer.t == 2 * 12
    m.fit(X, y, batch_size=5, epochs=1, verbose=0)
    assert m.optimizer.t == 3


def test_history_records_every_epoch(rng):
    X, y = _blobs(rng, n=50)
    m = cgrad.MLP([5, 8, 3], seed=0)
    h = m.fit(X, y, epochs=4, batch_size=8, validation_split=0.2, verbose=0, clip_norm=5.0)
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds", "grad_norm"):
        assert len(h.history[key]) == 4, key
    assert h.history["loss"][-1] < h.history["loss"][0]
    assert all(g > 0 for g in h.history["grad_norm"])
    assert h.epoch == [0, 1, 2, 3]


def test_same_seed_bitwise_and_thread_count_independent(rng):
    X, y = _blobs(rng, n=3000, d=40, k=5, dtype=np.float32)
    runs = []
    for threads in (1, 2, 2):
        m = cgrad.MLP([40, 300, 200, 5], seed=11)
        m.fit(X, y, epochs=2, batch_size=256, seed=4, verbose=0, n_threads=threads)
        runs.append(m.flat_params.copy())
    assert_array_equal(runs[1], runs[2])
    assert_array_equal(runs[0], runs[1])


def test_clipping_and_regularisation_change_training(rng):
    X, y = _blobs(rng, n=40)
    base = cgrad.MLP([5, 8, 3], seed=0)
    base.fit(X, y, epochs=2, verbose=0, shuffle=False)
    for kw in ({"l2": 0.1}, {"l1": 0.01}, {"clip_value": 1e-3}, {"clip_norm": 1e-3}):
        m = cgrad.MLP([5, 8, 3], seed=0)
        m.fit(X, y, epochs=2, verbose=0, shuffle=False, **kw)
        assert not np.array_equal(m.flat_params, base.flat_params), kw
    m = cgrad.MLP([5, 8, 3], seed=0)
    h = m.fit(X, y, optimizer="sgd", lr=1.0, epochs=1, batch_size=None, verbose=0,
              clip_norm=1e-3, shuffle=False)
    step = np.linalg.norm(m.flat_params - cgrad.MLP([5, 8, 3], seed=0).flat_params)
    assert step <= 1e-3 * (1 + 1e-5)                # one SGD step of a clipped gradient
    assert h.history["grad_norm"][0] > 1e-3        # the norm is recorded before clipping


def test_learning_rate_schedule_is_applied(rng):
    from cgrad import schedules

    X, y = _blobs(rng, n=20)
    m = cgrad.MLP([5, 4, 3], seed=0)
    h = m.fit(X, y, optimizer="sgd", lr=0.1, epochs=4, verbose=0,
              schedule=schedules.StepDecay(0.1, step_size=2, gamma=0.5))
    assert_allclose(h.history["lr"], [0.1, 0.1, 0.05, 0.05])


# -- callbacks ------------------------------------------------------------------------
def test_early_stopping_stops_and_restores_the_best_weights(rng):
    X, y = _blobs(rng, n=60)
    m = cgrad.MLP([5, 8, 3], seed=0)
    seen = {}

    def remember(epoch, logs):
        seen[epoch] = m.flat_params.copy()

    es = callbacks.EarlyStopping(monitor="val_loss", patience=1, restore_best_weights=True)
    # a huge learning rate makes the validation loss get worse quickly
    h = m.fit(X, y, optimizer="sgd", lr=5.0, epochs=50, validation_split=0.3, verbose=0,
              callbacks=[es, remember])
    assert len(h.epoch) < 50 and es.stopped_epoch is not None
    best = int(np.argmin(h.history["val_loss"]))
    assert es.best_epoch == best
    assert_array_equal(m.flat_params, seen[best])


def test_model_checkpoint_and_user_callbacks(tmp_path, rng):
    X, y = _blobs(rng, n=40)
    m = cgrad.MLP([5, 8, 3], seed=0)
    calls = []
    ck = callbacks.ModelCheckpoint(tmp_path / "ck-{epoch:02d}.npz", monitor="loss")
    lam = callbacks.LambdaCallback(on_epoch_begin=lambda e, logs: calls.append(("begin", e)),
                                   on_chunk_end=lambda e, d, n, logs: calls.append(("chunk", e)))
    m.fit(X, y, epochs=3, verbose=0, callbacks=[ck, lam], chunks_per_epoch=2)
    assert sorted(os.listdir(tmp_path)) == ["ck-01.npz", "ck-02.npz", "ck-03.npz"]
    assert calls.count(("chunk", 0)) == 2 and ("begin", 2) in calls
    restored = cgrad.load(tmp_path / "ck-03.npz")
    assert_array_equal(restored.flat_params, m.flat_params)


def test_progress_output_without_a_terminal(rng, capsys):
    X, y = _blobs(rng, n=30)
    cgrad.MLP([5, 4, 3], seed=0).fit(X, y, epochs=2, verbose=1)
    err = capsys.readouterr().err
    assert "epoch 1/2" in err and "epoch 2/2" in err and "loss" in err
    assert "\r" not in err                        # no live bar when not a terminal
    cgrad.MLP([5, 4, 3], seed=0).fit(X, y, epochs=2, verbose=0)
    assert capsys.readouterr().err == ""


# -- inference ------------------------------------------------------------------------
def test_predict_predict_proba_evaluate(rng):
    X, y = _blobs(rng, n=200)
    m = cgrad.MLP([5, 16, 3], seed=0)
    m.fit(X, y, epochs=30, verbose=0)
    p = m.predict_proba(X)
    assert p.shape == (200, 3)
    assert_allclose(p.sum(1), 1, rtol=1e-5)
    assert_array_equal(m.predict(X), p.argmax(1))
    ev = m.evaluate(X, y)
    assert ev["accuracy"] == pytest.approx(np.mean(m.predict(X) == y))
    assert ev["accuracy"] > 0.9
    assert m.score(X, y) == ev["accuracy"]


def test_regression_and_binary_outputs(rng):
    X, y = _regression(rng, n=200)
    r = cgrad.MLP([3, 32, 1], activation="tanh", output="identity", seed=0)
    r.fit(X, y, epochs=60, verbose=0, optimizer="adam", lr=0.01)
    ev = r.evaluate(X, y)
    assert set(ev) == {"loss", "mse", "mae", "r2"} and ev["r2"] > 0.8
    assert r.predict(X).shape == (200,)
    Xb, yb = _blobs(rng, n=200, k=2)
    c = cgrad.MLP([5, 8, 1], output="sigmoid", seed=0)
    c.fit(Xb, yb, epochs=20, verbose=0)
    assert c.evaluate(Xb, yb)["accuracy"] > 0.9
    assert set(np.unique(c.predict(Xb))) <= {0, 1}


# -- persistence ----------------------------------------------------------------------
def test_save_load_round_trip_with_optimizer_state(tmp_path, rng):
    X, y = _blobs(rng, n=40)
    m = cgrad.MLP([5, 8, 3], activation="leaky_relu", alpha=0.2, seed=0)
    m.fit(X, y, epochs=2, verbose=0, optimizer=optim.Adam(lr=0.01))
    path = m.save(tmp_path / "model", optimizer=m.optimizer)
    assert path.endswith(".npz") and os.listdir(tmp_path) == ["model.npz"]
    m2, opt2 = cgrad.load(path, with_optimizer=True)
    assert m2.config() == m.config()
    assert_array_equal(m2.flat_params, m.flat_params)
    assert opt2.t == m.optimizer.t
    for a, b in zip(opt2.states, m.optimizer.states):
        assert (a is None and b is None) or np.array_equal(a, b)
    # resuming from the checkpoint continues exactly like the original
    m.fit(X, y, epochs=1, verbose=0, optimizer=m.optimizer, shuffle=False)
    m2.fit(X, y, epochs=1, verbose=0, optimizer=opt2, shuffle=False)
    assert_array_equal(m2.flat_params, m.flat_params)


def test_save_is_atomic_and_keeps_the_old_file_on_failure(tmp_path, monkeypatch):
    m = cgrad.MLP([3, 4, 2], seed=0)
    path = m.save(tmp_path / "m.npz")
    old = open(path, "rb").read()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", boom)
    m.flat_params[:] += 1
    with pytest.raises(OSError, match="disk full"):
        m.save(path)
    assert open(path, "rb").read() == old
    assert os.listdir(tmp_path) == ["m.npz"]


def test_load_rejects_bad_files(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a readable cgrad .npz"):
        cgrad.load(bad)
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(ValueError, match="is not a cgrad model"):
        cgrad.load(tmp_path / "other.npz")
    m = cgrad.MLP([3, 4, 2], seed=0)
    p = m.save(tmp_path / "m.npz")
    with np.load(p) as d:
        np.savez(tmp_path / "short.npz", config=d["config"], params=d["params"][:-1])
    with pytest.raises(ValueError, match="parameters stored"):
        cgrad.load(tmp_path / "short.npz")


# -- validation -----------------------------------------------------------------------
@pytest.mark.parametrize("kwargs,exc,msg", [
    ({"X": np.full((10, 5), np.nan)}, ValueError, "X contains NaN"),
    ({"X": np.ones((10, 4))}, ValueError, "X has 4 features, the model expects 5"),
    ({"y": np.arange(10) % 4}, ValueError, r"expected 0 <= label < 3"),
    ({"y": np.zeros(9, np.int64)}, ValueError, "y has"),
    ({"loss": "mse"}, ValueError, "does not take logits"),
    ({"loss": "nope"}, ValueError, "unknown loss"),
    ({"optimizer": "lbfgs"}, ValueError, "unknown optimizer"),
    ({"batch_size": 0}, ValueError, "batch_size must be >= 1"),
    ({"validation_split": 1.5}, ValueError, "validation_split"),
    ({"clip_norm": -1.0}, ValueError, "clip_norm"),
    ({"lr": -0.1}, ValueError, "lr must be"),
])
def test_bad_fit_input_is_rejected_before_any_work(kwargs, exc, msg):
    rng = np.random.default_rng(0)
    args = {"X": rng.standard_normal((10, 5)), "y": np.arange(10) % 3}
    args.update(kwargs)
    X, y = args.pop("X"), args.pop("y")
    m = cgrad.MLP([5, 4, 3], seed=0)
    before = m.flat_params.copy()
    with pytest.raises(exc, match=msg):
        m.fit(X, y, verbose=0, **args)
    assert_array_equal(m.flat_params, before)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_all_finite_finds_one_bad_value_anywhere(dtype, bad, n_threads):
    """The compiled check behind fit/predict's "X contains NaN or inf": every position
    class (first, chunk edges at 2**16, last) and both dtypes; extremes stay finite."""
    from cgrad import _core
    n = 3 * 65536 + 5
    x = np.random.default_rng(1).standard_normal(n).astype(dtype)
    x[7] = np.finfo(dtype).max
    x[8] = -np.finfo(dtype).max
    x[9] = np.finfo(dtype).tiny / 4              # subnormal
    assert _core.all_finite(x, n_threads)
    assert _core.all_finite(x[:0], n_threads)
    for pos in (0, 65535, 65536, 2 * 65536 + 1, n - 1):
        y = x.copy()
        y[pos] = bad
        assert not _core.all_finite(y, n_threads), pos
        assert _core.all_finite(y[pos + 1:], n_threads) if pos + 1 < n else True


def test_fit_rejects_one_inf_deep_in_a_large_X():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((70000, 4)).astype(np.float32)
    X[69999, 3] = np.inf
    m = cgrad.MLP([4, 3, 2], dtype="float32", seed=0)
    before = m.flat_params.copy()
    with pytest.raises(ValueError, match="X contains NaN or inf"):
        m.fit(X, np.zeros(70000, np.int64), verbose=0)
    with pytest.raises(ValueError, match="X contains NaN or inf"):
        m.predict(X)
    assert_array_equal(m.flat_params, before)


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="at least 2 entries"):
        cgrad.MLP([5])
    with pytest.raises(ValueError, match="unknown activation"):
        cgrad.MLP([5, 3], activation="swish")
    with pytest.raises(ValueError, match="hidden one"):
        cgrad.MLP([5, 4, 3], activation="softmax")
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        cgrad.MLP([5, 3], dtype="int32")
    with pytest.raises(ValueError, match="unknown init"):
        cgrad.MLP([5, 3], init="zeros")


def test_fit_flushes_denormals_and_restores_the_fp_mode(rng):
    from cgrad import _core

    if not _core.ftz_daz_bits():
        pytest.skip("FTZ/DAZ is x86-only")
    before = _core.fp_mode()
    X, y = _blobs(rng, n=40, dtype=np.float32)
    m = cgrad.MLP([5, 8, 3], seed=0, dtype="float32")
    m.fit(X, y, epochs=1, verbose=0)
    assert _core.fp_mode() == before, "fit must restore the caller's MXCSR"
    # the last step's gradients stay in flat_grads: with ftz the denormal inputs are read
    # as zero, so the first layer's weight gradient is exactly zero; without, it is not
    tiny = np.full((8, 5), 1e-39, np.float32)           # denormal in float32
    yy = np.zeros(8, np.int64)
    for ftz in (True, False):
        m = cgrad.MLP([5, 4, 3], activation="tanh", seed=0, dtype="float32")
        m.fit(tiny, yy, optimizer="sgd", lr=0.1, epochs=1, batch_size=None, verbose=0, ftz=ftz)
        assert (not m.dW[0].any()) == ftz, ftz
        assert m.db[0].any()


def test_divergence_keeps_the_last_finite_weights(rng):
    X, y = _blobs(rng, n=40)
    m = cgrad.MLP([5, 8, 3], seed=0)
    m.fit(X, y, epochs=1, verbose=0)
    before = m.flat_params.copy()
    with pytest.raises(FloatingPointError, match="NaN or inf in .* at epoch 1.*restored from the start of the epoch"):
        m.fit(X * 1e30, y, optimizer="sgd", lr=1e30, epochs=3, verbose=0)
    assert_array_equal(m.flat_params, before)


def test_load_accepts_the_name_save_was_given(tmp_path):
    m = cgrad.MLP([3, 4, 2], seed=0)
    m.save(tmp_path / "model")
    assert_array_equal(cgrad.load(tmp_path / "model").flat_params, m.flat_params)


def test_optimizer_state_loads_all_or_nothing():
    m = cgrad.MLP([3, 4, 2], seed=0)
    opt = optim.Adam(m)
    opt.states[0][:] = 1
    good = opt.state_dict()
    bad = dict(good, states=[np.full(m.n_params, 5.0), np.zeros(3), None])
    with pytest.raises(ValueError, match="optimizer state has shape"):
        opt.load_state_dict(bad)
    assert (opt.states[0] == 1).all()               # nothing was overwritten
    with pytest.raises(ValueError, match="invalid step count"):
        opt.load_state_dict(dict(good, t=-1))


def test_learning_rate_with_an_optimizer_instance_is_validated(rng):
    X, y = _blobs(rng, n=20)
    m = cgrad.MLP([5, 4, 3], seed=0)
    with pytest.raises(ValueError, match="lr must be"):
        m.fit(X, y, optimizer=optim.SGD(), lr=float("nan"), verbose=0)


def test_multi_label_sigmoid_outputs_report_no_argmax_accuracy(rng):
    X = rng.standard_normal((30, 4))
    Y = (rng.random((30, 3)) > 0.5).astype(float)
    m = cgrad.MLP([4, 6, 3], output="sigmoid", seed=0)
    h = m.fit(X, Y, epochs=2, verbose=0)
    assert "accuracy" not in h.history and "accuracy" not in m.evaluate(X, Y)


def test_fit_profile_reports_phase_seconds_without_changing_results():
    rng = np.random.default_rng(3)
    X, y = _blobs(rng, n=200, dtype=np.float32)
    runs = []
    for profile in (False, True):
        m = cgrad.MLP([5, 8, 3], dtype="float32", seed=1)
        h = m.fit(X, y, epochs=3, batch_size=16, verbose=0, profile=profile)
        runs.append((m.flat_params.copy(), h))
    assert_array_equal(runs[0][0], runs[1][0])          # timing never changes the math
    assert not any(k.startswith("time_") for k in runs[0][1].history)
    h = runs[1][1]
    phases = ["gather", "forward", "loss", "backward", "clip_norm", "update"]
    assert [k for k in h.history if k.startswith("time_")] == [f"time_{p}" for p in phases]
    for e in range(3):
        parts = [h[f"time_{p}"][e] for p in phases]
        assert all(p >= 0 for p in parts)
        assert parts[1] > 0 and parts[3] > 0 and parts[5] > 0
        assert sum(parts) <= h["seconds"][e] * 1.05 + 1e-4   # per-epoch, not cumulative


@pytest.mark.parametrize("shape", [0, 1, 7, (3, 5), (0, 4), (2, 3, 4)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_aligned_empty_is_64_byte_aligned_contiguous_and_writable(shape, dtype):
    from cgrad import _core
    for _ in range(5):                      # several allocations: not aligned by luck
        a = _core.aligned_empty(shape, dtype)
        assert a.ctypes.data % 64 == 0 or a.size == 0     # empty: no data to align
        assert a.shape == (shape if isinstance(shape, tuple) else (shape,))
        assert a.dtype == dtype and a.flags.c_contiguous and a.flags.writeable
        a[...] = 3
        assert np.all(a == 3)
    f = _core.aligned_full(shape, dtype, 2)
    assert (f.ctypes.data % 64 == 0 or f.size == 0) and np.all(f == 2)
    with pytest.raises(ValueError, match="power of two"):
        _core.aligned_empty(shape, dtype, align=48)


def test_model_buffers_and_optimizer_states_are_aligned():
    m = cgrad.MLP([5, 16, 3], dtype="float32", seed=0)
    assert m.flat_params.ctypes.data % 64 == 0 and m.flat_grads.ctypes.data % 64 == 0
    opt = optim.Adam(m)
    assert all(s.ctypes.data % 64 == 0 for s in opt.states if s is not None)
    assert all(s.ctypes.data % 64 == 0
               for s in optim.Adagrad(cgrad.MLP([5, 3], seed=0)).states if s is not None)


def test_one_row_predicts_the_bits_of_its_row_in_a_batch(rng, isa):
    """Inference at batch 1..4 takes the few-rows GEMM kernel, larger batches the block
    kernel or the packed path, and 2 threads split the columns: every row must come out
    with the same bits whichever batch it was in, on every ISA and thread count."""
    m = cgrad.MLP([200, 300, 130, 10], seed=0)
    X = rng.random((300, 200)).astype(np.float32)
    X[X < 0.5] = 0
    full = m.decision_function(X, n_threads=1)
    h, params = X.astype(np.float64), m.parameters()
    for i in range(0, len(params), 2):            # float64 NumPy: ReLU between layers
        h = h @ params[i].astype(np.float64) + params[i + 1]
        h = np.maximum(h, 0) if i + 2 < len(params) else h
    assert_allclose(full, h, rtol=1e-4, atol=1e-5)
    for nt in (1, 2):
        assert_array_equal(m.decision_function(X, n_threads=nt), full)
        for i, rows in [(0, 1), (7, 1), (20, 3), (50, 4), (100, 5)]:
            assert_array_equal(m.decision_function(X[i:i + rows], n_threads=nt),
                               full[i:i + rows], err_msg=f"rows {i}:{i + rows} nt={nt}")


def test_predict_allocates_only_its_output(rng):
    """Once a model has predicted on a batch of some size, predicting again allocates
    nothing in the kernels and, traced by tracemalloc (NumPy's data allocations
    included), little beyond the output: no workspace or per-layer buffers.  The first
    call, which sizes the workspace, shows that the measurement sees them."""
    import tracemalloc
    m = cgrad.MLP([784, 512, 256, 10], seed=0)
    X = rng.random((2000, 784)).astype(np.float32)

    def traced_peak():
        tracemalloc.start()
        try:
            z = m.decision_function(X, n_threads=2)
            return tracemalloc.get_traced_memory()[1] - z.nbytes
        finally:
            tracemalloc.stop()

    assert traced_peak() > 1 << 20               # the workspace: 1024 x 512 floats and more
    for batch in (1, 32, 2000):
        m.decision_function(X[:batch], n_threads=2)
        before = _core.alloc_count()
        X_b = X[:batch]
        tracemalloc.start()
        try:
            z = m.decision_function(X_b, n_threads=2)
            extra = tracemalloc.get_traced_memory()[1] - z.nbytes
        finally:
            tracemalloc.stop()
        assert _core.alloc_count() == before, batch
        assert extra < 16384, (batch, extra)
