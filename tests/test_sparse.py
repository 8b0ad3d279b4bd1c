"""The sparse first layer (src/sparse.pxi, src/c/sparse*.c): the batch compression
against NumPy, the compressed-row forward pass and weight gradient against the NumPy
reference and bitwise against the dense kernels (every ISA, dtype, thread count, K
slice), and the fused loop giving the same weights with and without it."""
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import cgrad
from cgrad import _core, reference as ref
from cgrad.ops.activations import ACTIVATION_CODES, DEFAULT_ALPHA
from conftest import DTYPES, RTOL

# (N, IN, OUT, density): the W1 and W3 first layers at MNIST's density, K deeper than
# every KC (two and three slices), more batch rows than KC (the weight gradient's
# slices), widths that are no multiple of any vector, a 10-wide output (the narrow
# dense path), an all-zero and a fully dense batch.
SHAPES = [(128, 784, 256, 0.19), (256, 784, 1024, 0.19), (7, 900, 100, 0.3),
          (300, 50, 1030, 0.1), (513, 33, 17, 0.2), (64, 784, 10, 0.5), (5, 20, 10, 0.0),
          (9, 40, 70, 1.0), (1, 1, 1, 1.0)]
ACTS = ["identity", "relu", "sigmoid", "tanh", "softmax", "gelu"]


def assert_same_bits(a, b, err_msg=""):
    """Bitwise equal, except that a zero may differ in sign (the sparse path skips a
    product that the dense one adds: -0 + +0 is +0; see src/c/sparse_impl.h)."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    u = np.uint32 if a.dtype == np.float32 else np.uint64
    differ = a.view(u) != b.view(u)
    bad = differ & ~((a == 0) & (b == 0))
    assert not bad.any(), (f"{err_msg}: {np.count_nonzero(bad)} elements differ, "
                           f"e.g. {a[bad][:3]} vs {b[bad][:3]}")


def _sparse_x(rng, N, IN, density, dtype):
    x = rng.standard_normal((N, IN)) * (rng.random((N, IN)) < density)
    return x.astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_csr_gather_matches_numpy(rng, isa, dtype):
    X = _sparse_x(rng, 50, 37, 0.3, dtype)
    X[3] = 0.0                            # an empty row
    X[4, 5] = -0.0                        # a negative zero is a zero
    order = rng.permutation(50)[:20]
    ptr, idx, val = _core.csr_gather(X, order, check_bounds=True)
    assert ptr.dtype == np.int32 and idx.dtype == np.int32 and val.dtype == dtype
    assert ptr[0] == 0 and ptr.shape == (21,)
    for r, row in enumerate(order):
        cols = np.flatnonzero(X[row])
        assert_array_equal(idx[ptr[r]:ptr[r + 1]], cols)
        assert_array_equal(val[ptr[r]:ptr[r + 1]], X[row, cols])
    assert ptr[-1] == np.count_nonzero(X[order])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_threads", [1, 2])
def test_csr_gather_large_batches_on_threads(rng, isa, dtype, n_threads):
    """Above the parallel threshold (rows counted, then filled from known starts, each
    thread its own rows): the same arrays as NumPy, nothing written past the room, and a
    batch over the cap refused."""
    X = _sparse_x(rng, 300, 401, 0.2, dtype)
    X[7] = 0.0
    X[8] = 1.0                             # a full row next to an empty one
    X[9, :4] = [-0.0, np.nan, np.finfo(dtype).tiny / 4, -np.inf]   # -0 is a zero; the rest
    # are kept (a denormal too: no DAZ here), and the count and the fill agree on them
    order = rng.permutation(300)[:257]
    ptr, idx, val = _core.csr_gather(X, order, check_bounds=True, n_threads=n_threads)
    rows, cols = np.nonzero(X[order])
    assert_array_equal(ptr, np.concatenate([[0], np.cumsum(np.count_nonzero(X[order], 1))]))
    assert_array_equal(idx, cols)
    assert_array_equal(val, X[order][rows, cols])      # NaN == NaN here
    ptr1, idx1, val1 = _core.csr_gather(X, order)      # one thread: the same arrays
    assert_array_equal(ptr, ptr1)
    assert_array_equal(idx, idx1)
    assert_array_equal(val.view(np.uint8), val1.view(np.uint8))
    n = np.count_nonzero(X[order])
    assert _core.csr_gather(X, order, max_density=(n - 1) / (257 * 401),
                            n_threads=n_threads) is None


@pytest.mark.parametrize("dtype", DTYPES)
def test_csr_gather_gives_up_above_the_density_cap(rng, isa, dtype):
    X = _sparse_x(rng, 40, 64, 0.5, dtype)
    n = np.count_nonzero(X)
    assert _core.csr_gather(X, max_density=(n - 1) / X.size, check_bounds=True) is None
    assert _core.csr_gather(X, max_density=(n + 0.5) / X.size, check_bounds=True) is not None
    assert _core.csr_gather(np.zeros((40, 64), dtype), max_density=0.0) is not None
    one = np.zeros((1, 64), dtype)
    one[0, 7] = 1.0                       # one row, 1/64 dense: kept at a cap of 1/64
    assert _core.csr_gather(one, max_density=1 / 64) is not None


@pytest.mark.parametrize("N,IN,OUT,density", SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_sparse_forward_is_the_dense_kernel_bitwise(rng, isa, N, IN, OUT, density, dtype):
    x = _sparse_x(rng, N, IN, density, dtype)
    W = (rng.standard_normal((IN, OUT)) / np.sqrt(IN)).astype(dtype)
    b = rng.standard_normal(OUT).astype(dtype)
    for act in ACTS:
        code, alpha = ACTIVATION_CODES[act], DEFAULT_ALPHA.get(act, 0.0)
        z_ref, y_ref = ref.linear_act_forward(x.astype(np.float64), W.astype(np.float64),
                                              b.astype(np.float64), act)
        for nt in (1, 2):
            z, y = np.full((N, OUT), np.nan, dtype), np.full((N, OUT), np.nan, dtype)
            zd, yd = np.full_like(z, np.nan), np.full_like(y, np.nan)
            nnz = _core.sparse_linear_act_forward(code, alpha, x, W, b, z, y, nt)
            assert nnz == np.count_nonzero(x)
            _core.linear_act_forward(code, alpha, x, W, b, zd, yd, nt)
            assert_same_bits(z, zd, err_msg=f"{act} z, {nt} threads")
            assert_same_bits(y, yd, err_msg=f"{act} y, {nt} threads")
            tol = dict(rtol=RTOL[dtype], atol=RTOL[dtype] * np.sqrt(IN))
            assert_allclose(z, z_ref, **tol)
            assert_allclose(y, y_ref, **tol)


@pytest.mark.parametrize("N,IN,OUT,density", SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_sparse_weight_grad_is_the_dense_kernel_bitwise(rng, isa, N, IN, OUT, density,
                                                        dtype):
    x = _sparse_x(rng, N, IN, density, dtype)
    x[:, 0] = 0.0                          # a feature no row of the batch has
    dz = rng.standard_normal((N, OUT)).astype(dtype)
    W = np.zeros((IN, OUT), dtype)
    _, dW_ref, db_ref = ref.linear_backward(dz.astype(np.float64), x.astype(np.float64),
                                            W.astype(np.float64))
    for nt in (1, 2, 3):
        dW, db = np.full((IN, OUT), np.nan, dtype), np.full(OUT, np.nan, dtype)
        dWd, dbd = np.empty_like(dW), np.empty_like(db)
        _core.sparse_linear_weight_grad(x, dz, dW, db, nt)
        _core.linear_backward(dz, x, W, dWd, dbd, None, False, nt)
        assert_same_bits(dW, dWd, err_msg=f"{nt} threads")
        assert_same_bits(db, dbd)
        assert not dW[0].any()
        tol = dict(rtol=RTOL[dtype], atol=RTOL[dtype] * np.sqrt(N))
        assert_allclose(dW, dW_ref, **tol)
        assert_allclose(db, db_ref, **tol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sparse_fallback_loop_is_the_dense_kernel_bitwise(rng, isa, dtype):
    """The out-of-memory fallback (forced): the plain loop with fma() on SIMD ISAs."""
    N, IN, OUT = 300, 800, 70                 # K slices both ways, a partial vector
    x = _sparse_x(rng, N, IN, 0.2, dtype)
    W = (rng.standard_normal((IN, OUT)) / np.sqrt(IN)).astype(dtype)
    b, dz = rng.standard_normal(OUT).astype(dtype), rng.standard_normal((N, OUT)).astype(dtype)
    z, y = np.full((N, OUT), np.nan, dtype), np.full((N, OUT), np.nan, dtype)
    zd, yd = np.empty_like(z), np.empty_like(y)
    dW, dWd = np.empty((IN, OUT), dtype), np.empty((IN, OUT), dtype)
    db, dbd = np.empty(OUT, dtype), np.empty(OUT, dtype)
    before = _core.spmm_force_fallback(True)
    try:
        _core.sparse_linear_act_forward(ACTIVATION_CODES["relu"], 0.0, x, W, b, z, y, 2)
        _core.sparse_linear_weight_grad(x, dz, dW, db, 2)
    finally:
        _core.spmm_force_fallback(before)
    _core.linear_act_forward(ACTIVATION_CODES["relu"], 0.0, x, W, b, zd, yd, 2)
    _core.linear_backward(dz, x, W, dWd, dbd, None, False, 2)
    assert_same_bits(z, zd, "z")
    assert_same_bits(y, yd, "y")
    assert_same_bits(dW, dWd, "dW")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fit_sparse_hidden_layers_on_every_isa(rng, isa, dtype):
    """ReLU-fed hidden layers on compressed activations (True forces them), hidden widths
    deeper than every KC and a batch deeper than float64's KC, 2 threads, each ISA."""
    X = _sparse_x(rng, 600, 100, 0.15, np.dtype(dtype).type)
    y = (X[:, :50].sum(1) > X[:, 50:].sum(1)).astype(np.int64)
    res = {}
    for mode in (True, False):
        m = cgrad.MLP([100, 400, 300, 2], activation="relu", dtype=dtype, seed=5)
        h = m.fit(X, y, optimizer="adam", lr=1e-3, epochs=2, batch_size=300, verbose=0,
                  n_threads=2, seed=2, profile=True, sparse=mode)
        res[mode] = (m.get_weights(), h["sparse_hidden_steps"])
    assert res[True][1] == [4, 4] and res[False][1] == [0, 0]
    for a, b in zip(res[True][0], res[False][0]):
        assert_same_bits(a, b)


def test_sparse_kernels_check_shapes(rng):
    x = _sparse_x(rng, 4, 6, 0.5, np.float32)
    W, b = np.zeros((6, 3), np.float32), np.zeros(3, np.float32)
    z = np.empty((4, 3), np.float32)
    with pytest.raises(ValueError, match="W has shape"):
        _core.sparse_linear_act_forward(0, 0.0, x, W[:5], b, z, z.copy())
    with pytest.raises(ValueError, match="dW has shape"):
        _core.sparse_linear_weight_grad(x, z, np.empty((5, 3), np.float32),
                                        np.empty(3, np.float32))


def _sparse_task(rng, n=600, IN=100, density=0.15, dtype=np.float32):
    X = _sparse_x(rng, n, IN, density, dtype)
    y = (X[:, :10].sum(1) > 0).astype(np.int64) + 2 * (X[:, 10:20].sum(1) > 0)
    return X, y


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("act", ["tanh", "relu"])
def test_fit_with_sparse_gives_the_dense_weights(rng, optimizer, n_threads, dtype, act):
    """Same data, seed and shuffles: compressed inputs change nothing (relu: the hidden
    layers run on compressed activations too)."""
    X, y = _sparse_task(rng, dtype=np.dtype(dtype).type)
    runs = {}
    for mode in (False, True):
        m = cgrad.MLP([100, 32, 16, 4], activation=act, dtype=dtype, seed=3)
        h = m.fit(X, y, optimizer=optimizer, lr=0.05 if optimizer == "sgd" else 1e-2,
                  epochs=3, batch_size=50, verbose=0, seed=7, n_threads=n_threads,
                  profile=True, l2=1e-4, clip_norm=5.0, sparse=mode)
        runs[mode] = (m.get_weights(), h)
    (w0, h0), (w1, h1) = runs[False], runs[True]
    assert h0["sparse_steps"] == [0, 0, 0] and h0["sparse_hidden_steps"] == [0, 0, 0]
    assert h1["sparse_steps"] == [12, 12, 12]          # 600 rows / 50
    assert h1["sparse_hidden_steps"] == ([24, 24, 24] if act == "relu" else [0, 0, 0])
    for a, b in zip(w0, w1):
        assert_same_bits(a, b)
    assert h0["loss"] == h1["loss"]


def test_fit_sparse_auto_turns_on_for_sparse_data_only(rng):
    X, y = _sparse_task(rng)
    m = cgrad.MLP([100, 16, 4], seed=0)
    h = m.fit(X, y, epochs=1, batch_size=100, verbose=0, profile=True)
    assert h["sparse_steps"] == [6]
    Xd = rng.standard_normal(X.shape).astype(np.float32)
    h = m.fit(Xd, y, epochs=1, batch_size=100, verbose=0, profile=True)
    assert h["sparse_steps"] == [0]
    small = cgrad.MLP([2, 8, 1], output="identity", seed=0)   # too few inputs to bother
    Xs = np.zeros((64, 2), np.float32)
    h = small.fit(Xs, np.zeros(64, np.float32), loss="mse", epochs=1, batch_size=8,
                  verbose=0, profile=True)
    assert h["sparse_steps"] == [0]


def test_fit_sparse_auto_takes_wide_relu_layers(rng):
    """'auto' compresses the ReLU output feeding a layer of >= 2^18 weights (600x500),
    not a narrower one (500x3), nor anything after tanh; the weights stay the dense
    ones."""
    X = rng.standard_normal((300, 50)).astype(np.float32)        # dense input: layer 0 off
    y = (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 0)
    res = {}
    for act in ("relu", "tanh"):
        for mode in ("auto", False):
            m = cgrad.MLP([50, 600, 500, 3], activation=act, seed=2)
            m.b[0][...] = -1.0                 # about 16% of the ReLUs active: every batch
            h = m.fit(X, y, epochs=2, batch_size=100, verbose=0, profile=True, seed=4,
                      n_threads=2, sparse=mode)
            res[act, mode] = (m.get_weights(), h["sparse_steps"], h["sparse_hidden_steps"])
    assert res["relu", "auto"][1:] == ([0, 0], [3, 3])
    assert res["relu", False][1:] == ([0, 0], [0, 0])
    assert res["tanh", "auto"][1:] == ([0, 0], [0, 0])
    for a, b in zip(res["relu", "auto"][0], res["relu", False][0]):
        assert_same_bits(a, b)


def test_fit_sparse_auto_runs_dense_batches_dense(rng):
    """'auto' on (the sample is sparse) but some batches are denser than the cap: those
    run dense, the rest sparse, and the weights are still those of an all-dense fit."""
    X, y = _sparse_task(rng, n=400, density=0.02)
    X[350:] = _sparse_x(rng, 50, 100, 0.6, np.float32)      # the last batch: 60% non-zero
    res = {}
    for mode in ("auto", False):
        m = cgrad.MLP([100, 16, 4], seed=1)
        h = m.fit(X, y, epochs=1, batch_size=50, shuffle=False, verbose=0, profile=True,
                  sparse=mode)
        res[mode] = (m.get_weights(), h["sparse_steps"][0])
    assert res["auto"][1] == 7 and res[False][1] == 0
    for a, b in zip(res["auto"][0], res[False][0]):
        assert_same_bits(a, b)


@pytest.mark.parametrize("bad", ["yes", 1, 0, None, "True"])
def test_fit_rejects_a_bad_sparse_value_before_touching_the_model(rng, bad):
    X, y = _sparse_task(rng, n=50)
    m = cgrad.MLP([100, 4], seed=0)
    m.fit(X, y, epochs=1, verbose=0)
    before, opt, hist = m.get_weights(), m.optimizer, m.history
    with pytest.raises(ValueError, match="sparse must be"):
        m.fit(X, y, epochs=1, verbose=0, sparse=bad)
    for a, b in zip(before, m.get_weights()):
        assert_array_equal(a, b)
    assert m.optimizer is opt and m.history is hist


def test_fit_takes_numpy_bools_for_sparse(rng):
    X, y = _sparse_task(rng, n=100)
    m = cgrad.MLP([100, 4], seed=0)
    assert m.fit(X, y, epochs=1, batch_size=50, verbose=0, profile=True,
                 sparse=np.True_)["sparse_steps"] == [2]
    assert m.fit(X, y, epochs=1, batch_size=50, verbose=0, profile=True,
                 sparse=np.False_)["sparse_steps"] == [0]


@pytest.mark.parametrize("batch", [1, 2, 3, 7])
def test_fit_sparse_auto_with_tiny_batches(rng, batch):
    """The density cap is checked after a row, so even one-row batches run sparse."""
    X, y = _sparse_task(rng, n=21, density=0.1)
    res = {}
    for mode in ("auto", False):
        m = cgrad.MLP([100, 8, 4], seed=0)
        h = m.fit(X, y, epochs=2, batch_size=batch, verbose=0, profile=True, seed=1,
                  sparse=mode)
        res[mode] = (m.get_weights(), h["sparse_steps"])
    steps = -(-21 // batch)
    assert res["auto"][1] == [steps, steps] and res[False][1] == [0, 0]
    for a, b in zip(res["auto"][0], res[False][0]):
        assert_same_bits(a, b)


def test_fit_sparse_with_k_slices_on_every_isa(rng, isa):
    """IN and the batch both deeper than every KC (several K slices in the forward pass
    and in the weight gradient), relu (the packed dZ path at 2 threads), 2 threads."""
    X = _sparse_x(rng, 900, 800, 0.2, np.float32)
    y = (X[:, :400].sum(1) > X[:, 400:].sum(1)).astype(np.int64)
    res = {}
    for mode in (True, False):
        m = cgrad.MLP([800, 64, 2], activation="relu", seed=0)
        h = m.fit(X, y, optimizer="sgd", lr=0.05, epochs=2, batch_size=450, verbose=0,
                  n_threads=2, seed=1, profile=True, sparse=mode)
        res[mode] = (m.get_weights(), h["sparse_steps"], h["loss"])
    assert res[True][1] == [2, 2] and res[False][1] == [0, 0]
    assert res[True][2] == res[False][2]
    for a, b in zip(res[True][0], res[False][0]):
        assert_same_bits(a, b)


def test_fit_sparse_on_mnist_matches_dense(mnist_dir):
    """The real case: 19% non-zero pixels, W1's first layer, two threads."""
    from cgrad.datasets import load_mnist
    (X, y), _ = load_mnist(mnist_dir)
    X, y = X[:2048], y[:2048]
    w = {}
    for mode in ("auto", False):
        m = cgrad.MLP([784, 256, 128, 64, 10], seed=0)
        h = m.fit(X, y, epochs=1, batch_size=128, verbose=0, n_threads=2, seed=1,
                  profile=True, sparse=mode)
        w[mode] = (m.get_weights(), h["sparse_steps"][0])
    assert w["auto"][1] == 16 and w[False][1] == 0
    for a, b in zip(w["auto"][0], w[False][0]):
        assert_same_bits(a, b)


@pytest.mark.parametrize("dtype", DTYPES)
def test_predict_runs_sparse_input_compressed_with_the_dense_bits(rng, isa, dtype):
    """predict compresses the first layer's input from PREDICT_SPARSE_MIN_ROWS rows, block
    by block (a block denser than the cap runs dense), with the dense path's values on
    every ISA and thread count; fewer rows stay dense."""
    m = cgrad.MLP([100, 64, 32, 10], seed=0, dtype=dtype)
    X = _sparse_x(rng, 300, 100, 0.2, dtype)
    X[128:192] = rng.standard_normal((64, 100))         # one dense block of 64 rows
    dense = {}
    before = _core.PREDICT_SPARSE_MIN_ROWS
    try:
        _core.PREDICT_SPARSE_MIN_ROWS = 10 ** 9
        for nt in (1, 2):
            out = np.empty((300, 10), dtype)
            dense[nt] = m._net.predict(X, out, 64, nt)
    finally:
        _core.PREDICT_SPARSE_MIN_ROWS = before
    assert_array_equal(dense[1], dense[2])
    for nt in (1, 2):
        blocks = m._net.predict_sparse_blocks
        out = np.empty((300, 10), dtype)
        assert_same_bits(m._net.predict(X, out, 64, nt), dense[1], f"nt={nt}")
        assert m._net.predict_sparse_blocks - blocks == 4   # 5 blocks, one of them dense
    small = X[:_core.PREDICT_SPARSE_MIN_ROWS - 1]
    blocks = m._net.predict_sparse_blocks
    assert_array_equal(m.decision_function(small), dense[1][:small.shape[0]])
    assert m._net.predict_sparse_blocks == blocks


def test_predict_between_sparse_fits_leaves_them_unchanged(rng):
    """predict swaps in its own compressed-row workspace for layer 0 and runs the hidden
    layers dense (fit's workspaces are sized for fit's batch, smaller than predict's
    block): fit's sparse settings and step counts come back, and training continues
    exactly as without the predict in between."""
    X = _sparse_x(rng, 200, 60, 0.2, np.float32)
    y = rng.integers(0, 4, 200)
    runs = []
    for predict_between in (False, True):
        m = cgrad.MLP([60, 48, 40, 4], seed=0)
        m.fit(X, y, epochs=1, batch_size=16, sparse=True, verbose=0)
        steps = m._net.sparse_steps
        if predict_between:
            m.predict(X)
            assert m._net.predict_sparse_blocks == 1
            assert m._net.sparse_steps == steps
        m.fit(X, y, epochs=1, batch_size=16, sparse=True, verbose=0)
        runs.append(m.flat_params.copy())
    assert_array_equal(runs[0], runs[1])
