"""The layer network (cgrad.Sequential, cgrad.nn): the NumPy reference of the whole network
(cgrad.reference.layers) against finite differences and hand-worked statistics, then the
compiled network against that reference: step API in both modes, running statistics,
thread-count independence, the fused fit against a step loop, determinism, and MLP's
dropout / batch_norm options."""
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import cgrad
from cgrad import losses, nn, optim, reference as ref
from conftest import DTYPES, RTOL, numeric_grad

ALPHA_ACTS = ("leaky_relu", "elu")


def dense(n_in, n_out, activation="identity", alpha=0.0):
    return {"kind": "dense", "n_in": n_in, "n_out": n_out, "activation": activation,
            "alpha": alpha}


def act(n, activation, alpha=0.0):
    return {"kind": "activation", "n": n, "activation": activation, "alpha": alpha}


def drop(n, p):
    return {"kind": "dropout", "n": n, "p": p}


def bn(n, momentum=0.1, eps=1e-5):
    return {"kind": "batchnorm", "n": n, "momentum": momentum, "eps": eps}


def n_params(specs):
    return sum(s["n_in"] * s["n_out"] + s["n_out"] if s["kind"] == "dense" else
               2 * s["n"] if s["kind"] == "batchnorm" else 0 for s in specs)


def random_buffers(specs, rng):
    """Running mean ~ N(0, 1), running variance in [0.5, 2], per batchnorm layer."""
    parts = [np.concatenate([rng.standard_normal(s["n"]), rng.uniform(0.5, 2.0, s["n"])])
             for s in specs if s["kind"] == "batchnorm"]
    return np.concatenate(parts) if parts else np.empty(0)


# Every kind: dense with a fused activation, standalone relu/sigmoid/tanh, dropout (p > 0),
# batchnorm, alpha-taking activations.
MIXED = [dense(4, 6, "tanh"), bn(6), act(6, "relu"), drop(6, 0.3), dense(6, 5),
         act(5, "sigmoid"), dense(5, 5, "leaky_relu", 0.2), drop(5, 0.5),
         bn(5, momentum=0.3, eps=1e-3), act(5, "tanh"), dense(5, 3, "elu", 0.7)]


# =============================================================== A: the reference itself

@pytest.mark.parametrize("training", [True, False])
def test_reference_network_gradients_match_finite_differences(rng, training):
    """d/d(params, x) of sum(dout * out) by central differences, float64.  The dropout
    masks are fixed by (seed, step); the running statistics are fresh copies each time."""
    x = rng.standard_normal((8, 4))
    params = rng.standard_normal(n_params(MIXED)) * 0.8
    buffers = random_buffers(MIXED, rng)
    kw = {"training": training, "seed": 123, "step": 4}
    out, cache = ref.network_forward(MIXED, params, buffers.copy(), x, **kw)
    dout = rng.standard_normal(out.shape)
    dx, grads = ref.network_backward(MIXED, params, cache, dout)
    assert grads.shape == params.shape and dx.shape == x.shape

    def loss_params(p):
        return np.sum(dout * ref.network_forward(MIXED, p, buffers.copy(), x, **kw)[0])

    def loss_x(x_):
        return np.sum(dout * ref.network_forward(MIXED, params, buffers.copy(), x_, **kw)[0])

    assert_allclose(grads, numeric_grad(loss_params, params), rtol=1e-6, atol=1e-8)
    assert_allclose(dx, numeric_grad(loss_x, x), rtol=1e-6, atol=1e-8)


def test_reference_dropout_step_seed_is_the_documented_hash():
    """splitmix64 written with NumPy uint64 (wrapping), and its known first outputs."""
    def sm(z):
        with np.errstate(over="ignore"):
            z = np.uint64(z) + np.uint64(0x9E3779B97F4A7C15)
            z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            return int(z ^ (z >> np.uint64(31)))

    # splitmix64 from state 0 gives 0xE220A8397B1DCDAF first: sm(0); so seed = that ^ 0
    assert ref.dropout_step_seed(0xE220A8397B1DCDAF, 0, 0) == 0xE220A8397B1DCDAF
    for seed, step, index in [(0, 0, 0), (1, 0, 3), (12345, 7, 2), (2 ** 64 - 1, 10 ** 6, 255),
                              (2 ** 63, 2 ** 56 - 1, 1)]:
        want = sm(seed ^ sm((step * 256 + index) % 2 ** 64))
        assert ref.dropout_step_seed(seed, step, index) == want
    seeds = {ref.dropout_step_seed(9, s, i) for s in range(4) for i in range(4)}
    assert len(seeds) == 16


def test_reference_dropout_mask_is_that_of_its_index_and_step(rng):
    specs = [act(6, "identity"), drop(6, 0.4)]
    x = rng.standard_normal((7, 6))
    out, _ = ref.network_forward(specs, np.empty(0), None, x, seed=11, step=5)
    keep = ref.dropout_mask((7, 6), 0.4, ref.dropout_step_seed(11, 5, 1))
    assert 0 < keep.sum() < keep.size
    assert_array_equal(out, np.where(keep, x / 0.6, 0.0))
    assert_array_equal(out, ref.dropout_forward(x, 0.4, ref.dropout_step_seed(11, 5, 1)))
    for seed, step in ((11, 4), (12, 5)):
        other, _ = ref.network_forward(specs, np.empty(0), None, x, seed=seed, step=step)
        assert not np.array_equal(other, out)


def test_reference_running_statistics_by_hand():
    """dense (W = 2I, b = 1) -> batchnorm (momentum 0.25) -> batchnorm (momentum 0.5).
    z = 2x + 1 = [[3, 5], [7, 13], [11, 21]]: mean [7, 13], unbiased var [16, 64]
    (biased 32/3, 128/3), so rm1 = 0.25 [7, 13], rv1 = 0.75 + 0.25 [16, 64].
    With eps = 0 the first batchnorm's xhat has mean 0 and biased variance 1 per column,
    so its output gamma * xhat + beta (gamma [2, 3], beta [1, -1]) has mean beta and
    unbiased variance gamma^2 * 3/2 = [6, 13.5]: rm2 = 0.5 [1, -1], rv2 = 0.5 + 0.5 [6, 13.5].
    """
    specs = [dense(2, 2), bn(2, momentum=0.25, eps=0.0), bn(2, momentum=0.5, eps=0.0)]
    params = np.array([2, 0, 0, 2, 1, 1, 2, 3, 1, -1, 1, 1, 0, 0], dtype=np.float64)
    buffers = np.array([0, 0, 1, 1, 0, 0, 1, 1], dtype=np.float64)
    x = np.array([[1.0, 2.0], [3.0, 6.0], [5.0, 10.0]])
    ref.network_forward(specs, params, buffers, x)
    assert_allclose(buffers, [1.75, 3.25, 4.75, 16.75, 0.5, -0.5, 3.5, 7.25], rtol=1e-14,
                    atol=1e-15)
    ref.network_forward(specs, params, buffers, x)        # a second step compounds
    assert_allclose(buffers[:4], [0.75 * 1.75 + 1.75, 0.75 * 3.25 + 3.25,
                                  0.75 * 4.75 + 0.25 * 16, 0.75 * 16.75 + 0.25 * 64], rtol=1e-14)
    before = buffers.copy()
    ref.network_forward(specs, params, buffers, x, training=False)
    assert_array_equal(buffers, before)


@pytest.mark.parametrize("rows", [1, 5])
def test_reference_eval_uses_running_statistics_and_no_dropout(rng, rows):
    specs = [dense(3, 4, "relu"), bn(4, eps=1e-3), drop(4, 0.5), dense(4, 2)]
    params = rng.standard_normal(n_params(specs))
    buffers = random_buffers(specs, rng)
    x = rng.standard_normal((rows, 3))
    W1, b1 = params[:12].reshape(3, 4), params[12:16]
    gamma, beta = params[16:20], params[20:24]
    W2, b2 = params[24:32].reshape(4, 2), params[32:34]
    rm, rv = buffers[:4], buffers[4:]
    h = np.maximum(x @ W1 + b1, 0)
    want = (gamma * (h - rm) / np.sqrt(rv + 1e-3) + beta) @ W2 + b2
    before = buffers.copy()
    for seed, step in ((0, 0), (7, 3)):
        out, _ = ref.network_forward(specs, params, buffers, x, training=False, seed=seed,
                                     step=step)
        assert_allclose(out, want, rtol=1e-13, atol=1e-14)
    assert_array_equal(buffers, before)
    if rows > 1:
        out_train, _ = ref.network_forward(specs, params, buffers.copy(), x, seed=7, step=3)
        assert not np.allclose(out_train, want)


def test_reference_uses_the_alpha_of_the_spec():
    x = np.array([[-2.0, 3.0]])
    specs = [act(2, "leaky_relu", 0.2), dense(2, 2, "elu", 0.5)]
    params = np.array([1.0, 0, 0, 1, 0, -5])       # W = I, b = [0, -5]
    out, cache = ref.network_forward(specs, params, None, x)
    assert_allclose(out, [[0.5 * np.expm1(-0.4), 0.5 * np.expm1(-2.0)]], rtol=1e-15)
    dx, _ = ref.network_backward(specs, params, cache, np.ones((1, 2)))
    assert_allclose(dx, [[0.2 * 0.5 * np.exp(-0.4), 0.5 * np.exp(-2.0)]], rtol=1e-15)


def test_reference_rejects_a_flat_array_of_the_wrong_length(rng):
    x = rng.standard_normal((3, 4))
    with pytest.raises(ValueError, match="the specs need"):
        ref.network_forward(MIXED, np.zeros(n_params(MIXED) - 1), random_buffers(MIXED, rng), x)
    with pytest.raises(ValueError, match="the specs need"):
        ref.network_forward(MIXED, np.zeros(n_params(MIXED)), np.zeros(3), x)


# =============================================================== B: compiled vs reference
def assert_close(got, want, dtype, what):
    """RTOL against the float64 reference, atol on the scale of the compared array (batch
    norm's dx cancels: N*dy - sum(dy) - xhat*sum(dy*xhat))."""
    rtol = RTOL[np.dtype(dtype).type]
    assert_allclose(got, want, rtol=rtol, atol=rtol * max(1.0, float(np.abs(want).max())),
                    err_msg=what)


def layers_mixed():
    nn = cgrad.nn
    return [nn.Dense(17, "tanh"), nn.BatchNorm1d(), nn.Activation("relu"), nn.Dropout(0.3),
            nn.Dense(9), nn.Activation("sigmoid"), nn.BatchNorm1d(momentum=0.2, eps=1e-3),
            nn.Dense(6, "leaky_relu", alpha=0.1), nn.Dropout(0.5), nn.Dense(4)]


def specs_mixed():
    return [dense(13, 17, "tanh"), bn(17), act(17, "relu"), drop(17, 0.3), dense(17, 9),
            act(9, "sigmoid"), bn(9, 0.2, 1e-3), dense(9, 6, "leaky_relu", 0.1), drop(6, 0.5),
            dense(6, 4)]


def make_mixed(dtype, seed=0, output="softmax", rng=None):
    """The mixed network; with ``rng``, its parameters moved off their initial values (so
    gamma and beta are not 1 and 0)."""
    m = cgrad.Sequential(13, layers_mixed(), output=output, dtype=np.dtype(dtype).name,
                         seed=seed)
    if rng is not None:
        m.flat_params[...] = m.flat_params + 0.3 * rng.standard_normal(m.flat_params.size)
    return m


def without_unused_alpha(specs):
    """Specs with the alpha of activations that take none dropped (its value is free)."""
    return [{k: v for k, v in s.items() if k != "alpha" or s["activation"] in ALPHA_ACTS}
            for s in specs]


def check_forward(m, x, what):
    """One forward of ``m`` in its current mode against the reference; returns what
    check_backward needs."""
    dtype = m.flat_params.dtype
    specs = m.specs()
    params = m.flat_params.astype(np.float64)
    buffers = m.flat_buffers.astype(np.float64)
    buffers_before = m.flat_buffers.copy()
    step = m.step_count
    want, cache = ref.network_forward(specs, params, buffers, x.astype(np.float64),
                                      training=m.training, seed=m.dropout_seed, step=step)
    out = m.forward(x)
    assert out.dtype == dtype and out.shape == want.shape
    assert_close(out, want, dtype, f"{what}: forward")
    assert m.step_count == step + (1 if m.training else 0)
    if m.training:
        assert_close(m.flat_buffers, buffers, dtype, f"{what}: running statistics")
    else:
        assert_array_equal(m.flat_buffers, buffers_before)
    return specs, params, cache, want.shape


def check_backward(m, forward, rng, what):
    """The backward of that forward against the reference; parameter gradients add to
    what flat_grads held."""
    specs, params, cache, shape = forward
    dtype = m.flat_params.dtype
    dout = rng.standard_normal(shape).astype(dtype)
    g0 = rng.standard_normal(m.flat_grads.size).astype(dtype)
    m.flat_grads[...] = g0
    dx = m.backward(dout)
    dx_want, grads_want = ref.network_backward(specs, params, cache, dout.astype(np.float64))
    assert_close(dx, dx_want, dtype, f"{what}: dx")
    assert_close(m.flat_grads - g0, grads_want, dtype, f"{what}: grads (accumulated)")


def check_step(m, x, rng, what):
    check_backward(m, check_forward(m, x, what), rng, what)


def test_sequential_structure_and_specs():
    nn = cgrad.nn
    m = make_mixed("float64", output="elu")
    want = specs_mixed() + [act(4, "elu", 1.0)]
    assert without_unused_alpha(m.specs()) == without_unused_alpha(want)
    assert len(m.layers) == len(want)
    assert isinstance(m.layers[-1], nn.Activation) and isinstance(m.layers[1], nn.BatchNorm1d)
    assert m.flat_params.size == m.flat_grads.size == n_params(want)
    assert_array_equal(m.flat_buffers, [0] * 17 + [1] * 17 + [0] * 9 + [1] * 9)
    assert m.training is True and m.step_count == 0
    for output in ("softmax", "sigmoid", "identity"):
        m = make_mixed("float32", output=output)
        assert without_unused_alpha(m.specs()) == without_unused_alpha(specs_mixed())
        assert m.flat_params.dtype == np.float32
    assert m.eval() is m and m.training is False
    assert m.train() is m and m.training is True
    d = cgrad.Sequential(3, [nn.Dense(2, "leaky_relu")], output="identity").specs()
    assert d == [dense(3, 2, "leaky_relu", 0.01)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rows", [2, 7, 33, 130])
def test_step_api_training_mode_matches_reference(rng, dtype, rows):
    m = make_mixed(dtype, seed=1, rng=rng)
    x = rng.standard_normal((rows, 13)).astype(dtype)
    for step in range(3):                     # new dropout masks, compounding statistics
        check_step(m, x, rng, f"step {step}")
    assert m.step_count == 3


def run_in_eval_mode(dtype, rng, layers=None):
    """A network whose running statistics moved off 0 and 1 (two training forwards),
    switched to eval mode."""
    if layers is None:
        m = make_mixed(dtype, seed=2, output="tanh", rng=rng)
    else:
        m = cgrad.Sequential(13, layers, dtype=np.dtype(dtype).name, seed=2)
    for _ in range(2):
        m.forward(rng.standard_normal((33, 13)).astype(dtype) * 2 + 1)
    assert m.step_count == 2
    return m.eval()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rows", [1, 7, 33, 130])
def test_step_api_eval_mode_forward_matches_reference(rng, dtype, rows):
    m = run_in_eval_mode(dtype, rng)
    x = rng.standard_normal((rows, 13)).astype(dtype)
    check_forward(m, x, "eval")
    first = m.forward(x)
    assert_array_equal(m.forward(x), first)    # no dropout, no statistics update: repeatable
    assert m.step_count == 2
    m.train()
    check_step(m, rng.standard_normal((33, 13)).astype(dtype), rng, "train again")
    assert m.step_count == 3


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rows", [1, 33])
@pytest.mark.parametrize("with_batchnorm", [False, True])
def test_step_api_eval_mode_backward_matches_reference(rng, dtype, rows, with_batchnorm):
    """Eval mode: dropout's backward is the identity, batch norm's the fixed affine map
    gamma * invstd (running statistics), as torch's autograd gives in eval mode."""
    nn = cgrad.nn
    layers = None if with_batchnorm else [nn.Dense(17, "tanh"), nn.Dropout(0.3),
                                          nn.Activation("relu"), nn.Dense(4)]
    m = run_in_eval_mode(dtype, rng, layers)
    x = rng.standard_normal((rows, 13)).astype(dtype)
    check_backward(m, check_forward(m, x, "eval"), rng, "eval")


def wide_net(seed=0):
    nn = cgrad.nn
    return cgrad.Sequential(40, [nn.Dense(257, "relu"), nn.BatchNorm1d(), nn.Dropout(0.2),
                                 nn.Dense(130), nn.BatchNorm1d(), nn.Activation("tanh"),
                                 nn.Dropout(0.1), nn.Dense(5)], seed=seed)


def _blobs(rng, n, d, k, dtype):
    centers = rng.standard_normal((k, d)) * 3
    y = rng.integers(0, k, n)
    return (centers[y] + rng.standard_normal((n, d))).astype(dtype), y.astype(np.int64)


def test_thread_count_is_bitwise_irrelevant(rng):
    X, y = _blobs(rng, 300, 40, 5, np.float32)
    dout = rng.standard_normal((300, 5)).astype(np.float32)
    before = cgrad.get_num_threads()
    runs = {}
    try:
        for nt in (1, 2):
            cgrad.set_num_threads(nt)
            m = wide_net()
            out = m.forward(X)
            m.flat_grads[...] = 0
            dx = m.backward(dout)
            res = [out, dx, m.flat_grads.copy(), m.flat_buffers.copy()]
            res.append(m.eval().forward(X))
            m.train().fit(X, y, optimizer=optim.Adam(lr=1e-2), epochs=1, batch_size=64,
                          shuffle=True, seed=1, verbose=0, n_threads=nt)
            runs[nt] = res + [m.flat_params.copy(), m.flat_buffers.copy()]
    finally:
        cgrad.set_num_threads(before)
    for k, (a, b) in enumerate(zip(runs[1], runs[2])):
        assert_array_equal(a, b, err_msg=f"result {k}")


def _step_loop(model, opt, X, y, loss_fn, epochs, batch):
    for _ in range(epochs):
        for s in range(0, len(X), batch):
            out = model.forward(X[s:s + batch])
            _, grad = loss_fn(out, y[s:s + batch])
            opt.zero_grad()
            model.backward(grad)
            opt.step()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("batch_size", [None, 10])
@pytest.mark.parametrize("make_opt", [lambda: optim.SGD(lr=0.1, momentum=0.9),
                                      lambda: optim.Adam(lr=1e-2)], ids=["sgd", "adam"])
def test_fused_fit_and_step_api_give_the_same_bytes(rng, dtype, batch_size, make_opt):
    X, y = _blobs(rng, 33, 13, 4, np.dtype(dtype))
    a, b = make_mixed(dtype, seed=7), make_mixed(dtype, seed=7)
    a.fit(X, y, optimizer=make_opt(), epochs=3, batch_size=batch_size, shuffle=False,
          verbose=0)
    ob = make_opt().attach(b)
    batch = 33 if batch_size is None else batch_size
    _step_loop(b, ob, X, y, losses.SoftmaxCrossEntropy(), epochs=3, batch=batch)
    n_steps = 3 * -(-33 // batch)
    assert a.optimizer.t == ob.t == a.step_count == b.step_count == n_steps
    assert not np.array_equal(a.flat_params, make_mixed(dtype, seed=7).flat_params)
    assert_array_equal(a.flat_params, b.flat_params)
    assert_array_equal(a.flat_buffers, b.flat_buffers)


def test_same_seed_same_bytes_different_seed_different(rng):
    X, y = _blobs(rng, 50, 13, 4, np.float32)
    runs = []
    for seed in (3, 3, 4):
        m = make_mixed("float32", seed=seed)
        m.fit(X, y, epochs=2, batch_size=16, verbose=0)
        runs.append((m.dropout_seed, m.flat_params.tobytes(), m.flat_buffers.tobytes()))
    assert runs[0] == runs[1]
    assert runs[0][1] != runs[2][1] and runs[0][2] != runs[2][2]


def test_predict_evaluate_and_validation_run_in_eval_mode(rng):
    nn = cgrad.nn
    X = rng.uniform(-1, 1, (40, 3))
    y = np.stack([np.sin(2 * X[:, 0]), X[:, 1] * X[:, 2]], axis=1)
    m = cgrad.Sequential(3, [nn.Dense(16, "tanh"), nn.BatchNorm1d(), nn.Dropout(0.3),
                             nn.Dense(2)], output="identity", dtype="float64", seed=0)
    h = m.fit(X, y, loss="mse", optimizer="sgd", lr=0.05, epochs=1, batch_size=8,
              shuffle=False, validation_data=(X[:11], y[:11]), verbose=0)
    assert m.step_count == 5                  # 5 batches; validation adds no training step
    specs, params = m.specs(), m.flat_params.copy()
    buffers, step = m.flat_buffers.copy(), m.step_count
    want, _ = ref.network_forward(specs, params, buffers.copy(), X, training=False)
    assert_allclose(m.predict(X), want, rtol=1e-10, atol=1e-12)
    val_want = np.mean((want[:11] - y[:11]) ** 2)
    assert_allclose(h.history["val_loss"][0], val_want, rtol=1e-10)
    assert_allclose(m.evaluate(X, y)["mse"], np.mean((want - y) ** 2), rtol=1e-10)
    assert m.step_count == step
    assert_array_equal(m.flat_buffers, buffers)
    assert_array_equal(m.flat_params, params)


@pytest.mark.parametrize("batch_norm", [False, True])
def test_mlp_dropout_and_batch_norm_build_the_equivalent_sequential(rng, batch_norm):
    nn = cgrad.nn
    X, y = _blobs(rng, 30, 13, 4, np.float64)
    kw = {"init": "glorot_uniform", "dtype": "float64", "seed": 3}
    a = cgrad.MLP([13, 17, 9, 4], activation="tanh", dropout=0.25, batch_norm=batch_norm, **kw)
    layers = []
    for n in (17, 9):
        layers += ([nn.Dense(n), nn.BatchNorm1d(), nn.Activation("tanh")] if batch_norm
                   else [nn.Dense(n, "tanh")]) + [nn.Dropout(0.25)]
    b = cgrad.Sequential(13, layers + [nn.Dense(4)], **kw)
    assert a.specs() == b.specs()
    want = []
    for n_in, n in ((13, 17), (17, 9)):
        want += ([dense(n_in, n), bn(n), act(n, "tanh")] if batch_norm
                 else [dense(n_in, n, "tanh")]) + [drop(n, 0.25)]
    want.append(dense(9, 4))
    assert without_unused_alpha(a.specs()) == without_unused_alpha(want)
    assert_array_equal(a.flat_params, b.flat_params)
    for m in (a, b):
        m.fit(X, y, optimizer=optim.Adam(lr=1e-2), epochs=3, batch_size=10, shuffle=False,
              verbose=0)
    assert_array_equal(a.flat_params, b.flat_params)
    assert_array_equal(a.flat_buffers, b.flat_buffers)
    if not batch_norm:
        assert a.flat_buffers.size == 0


# -- persistence: format 2 stores the layer table, running statistics and dropout step --
DATA = Path(__file__).parent / "data"


def test_a_format_1_file_of_the_hard_wired_mlp_still_loads():
    """tests/data/mlp_format1.npz was written by save() before the layer table (format 1,
    an MLP with its Adam state); it loads, predicts the logits it predicted then, and
    resumes training with its optimizer."""
    m, opt = cgrad.load(DATA / "mlp_format1.npz", with_optimizer=True)
    assert isinstance(m, cgrad.MLP) and m.layer_sizes == [4, 8, 3] and opt.t == 15
    r = np.random.default_rng(0)
    X, y = r.standard_normal((40, 4)).astype(np.float32), r.integers(0, 3, 40)
    # written on the avx512 path: other ISAs round differently in the last bits
    assert_allclose(m.decision_function(X), np.load(DATA / "mlp_format1_logits.npy"),
                    rtol=1e-5, atol=1e-6)
    m.fit(X, y, optimizer=opt, epochs=1, batch_size=8, verbose=0)
    assert opt.t == 20


@pytest.mark.parametrize("make", [
    lambda: cgrad.MLP([6, 9, 7, 3], batch_norm=True, dropout=0.3, seed=4),
    lambda: cgrad.Sequential(6, [nn.BatchNorm1d(momentum=0.2), nn.Dense(9, "tanh"),
                                 nn.Dropout(0.25), nn.Dense(5), nn.Activation("elu", 0.5),
                                 nn.Dense(2)], output="sigmoid", dtype="float64", seed=2),
])
def test_save_load_round_trip_resumes_bitwise(tmp_path, make):
    """A saved model (format 2) reloads with its layers, weights, running statistics,
    dropout seed and step; training on from the file gives the bytes of training on in
    memory."""
    r = np.random.default_rng(3)
    X = r.standard_normal((30, 6))
    a = make()
    y = r.integers(0, 3, 30) if a.output == "softmax" else (r.random((30, 2)) > 0.5) * 1.0
    opt = cgrad.optim.Adam(lr=1e-2)
    a.fit(X, y, optimizer=opt, epochs=2, batch_size=10, verbose=0, shuffle=False)
    path = a.save(tmp_path / "m.npz", optimizer=opt)
    b, opt_b = cgrad.load(path, with_optimizer=True)
    assert type(b) is type(a) and b.specs() == a.specs() and b.config() == a.config()
    assert b.step_count == a.step_count == 6 and b.dropout_seed == a.dropout_seed
    np.testing.assert_array_equal(b.flat_buffers, a.flat_buffers)
    for m, o in ((a, opt), (b, opt_b)):
        m.fit(X, y, optimizer=o, epochs=2, batch_size=10, verbose=0, shuffle=False)
    np.testing.assert_array_equal(b.flat_params, a.flat_params)
    np.testing.assert_array_equal(b.flat_buffers, a.flat_buffers)
    assert str(b) == str(a)


def test_load_refuses_bad_running_statistics(tmp_path):
    m = cgrad.MLP([3, 4, 2], batch_norm=True, seed=0)
    path = m.save(tmp_path / "m.npz")
    with np.load(path) as d:
        np.savez(tmp_path / "short.npz", config=d["config"], params=d["params"],
                 buffers=d["buffers"][:-1])
        np.savez(tmp_path / "nan.npz", config=d["config"], params=d["params"],
                 buffers=np.full_like(d["buffers"], np.nan))
        np.savez(tmp_path / "none.npz", config=d["config"], params=d["params"])
    for name, msg in (("short", "7 running statistics stored, the architecture needs 8"),
                      ("nan", "running statistics contain NaN"),
                      ("none", "lacks its running statistics")):
        with pytest.raises(ValueError, match=msg):
            cgrad.load(tmp_path / f"{name}.npz")


def test_summary_lists_layers_shapes_and_parameter_counts():
    m = cgrad.MLP([5, 8, 2], batch_norm=True, dropout=0.1)
    text = m.summary()
    for part in ("Dense(8)", "BatchNorm1d(momentum=0.1, eps=1e-05)", "Activation('relu')",
                 "Dropout(p=0.1)", "Dense(2)", "(None, 8)", "48", "16", "18",
                 "total parameters: 82"):
        assert part in text, part
    assert str(m) == text and "batch_norm=True" in repr(m)


@pytest.mark.parametrize("build,exc,msg", [
    (lambda: nn.Dropout(1.0), ValueError, r"p must be in \[0.0, 1.0\)"),
    (lambda: nn.Dropout("x"), TypeError, "p must be a number"),
    (lambda: nn.Dense(0), ValueError, "n_out"),
    (lambda: nn.Dense(3, "softmax"), ValueError, "softmax belongs to the output"),
    (lambda: nn.Activation("swish"), ValueError, "unknown activation 'swish'"),
    (lambda: nn.BatchNorm1d(momentum=1.5), ValueError, "momentum must be in"),
    (lambda: nn.BatchNorm1d(eps=0), ValueError, "eps must be > 0"),
    (lambda: cgrad.Sequential(3, []), ValueError, "at least one layer"),
    (lambda: cgrad.Sequential(3, [nn.Dense(2), "relu"]), TypeError, r"layers\[1\] must be"),
    (lambda: cgrad.Sequential(0, [nn.Dense(2)]), ValueError, "n_inputs"),
    (lambda: cgrad.Sequential(3, [nn.Dense(2)], output="nope"), ValueError, "unknown output"),
    (lambda: cgrad.MLP([3, 2], dropout=-0.1), ValueError, r"dropout must be in \[0, 1\)"),
])
def test_bad_layers_and_models_are_refused_with_a_clear_error(build, exc, msg):
    with pytest.raises(exc, match=msg):
        build()


def test_a_layer_object_serves_one_position():
    d = nn.Dense(4)
    with pytest.raises(ValueError, match="appears twice"):
        cgrad.Sequential(4, [d, d])


def test_batch_norm_refuses_a_one_row_training_batch_before_any_work():
    r = np.random.default_rng(0)
    X, y = r.standard_normal((33, 3)), r.integers(0, 2, 33)
    m = cgrad.MLP([3, 4, 2], batch_norm=True, seed=0)
    before = m.flat_params.copy()
    with pytest.raises(ValueError, match="leave a batch of 1 row"):
        m.fit(X, y, batch_size=16, verbose=0)
    assert_array_equal(m.flat_params, before)
    with pytest.raises(ValueError, match="needs at least 2 rows"):
        m.forward(X[:1])
    assert m.eval() is m and not m.training
    assert m.forward(X[:1]).shape == (1, 2) and m.train() is m and m.training


def test_isolated_calls_stay_on_one_thread_below_the_bound(rng):
    """predict/evaluate wake the OpenMP team for every parallel region: a block of few
    multiply-adds runs on one thread; a large one keeps the threads it was given, and
    both give the same bits (test above)."""
    small = cgrad.MLP([64, 128, 64, 10], seed=0)._net        # 17,024 multiply-adds a row
    assert small.call_threads(270, 2) == 1                   # cgrad train's validation
    assert small.call_threads(1024, 2) == 2                  # 17.4M: above the bound
    assert small.call_threads(1024, 1) == 1
    w3 = cgrad.MLP([784, 1024, 1024, 10], seed=0)._net
    assert w3.call_threads(8, 2) == 1 and w3.call_threads(32, 2) == 2
    X = rng.standard_normal((300, 64)).astype(np.float32)
    m = cgrad.MLP([64, 128, 64, 10], seed=0)
    assert_array_equal(m.decision_function(X, n_threads=1), m.decision_function(X, n_threads=2))
