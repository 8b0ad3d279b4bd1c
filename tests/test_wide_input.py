"""fit on data of the other float dtype than the network's (float64 X, float32 network;
and float32 X, float64 network): the fused loop converts each batch's rows as it gathers
them (src/train.pxi, src/sparse.pxi, src/c/sparse*.c) instead of converting all of X
first.  The results are those of fitting on X.astype(model dtype), bitwise, on every
ISA, thread count and sparse mode; X is checked (finite, within float32's range) before
any work, never copied and never written."""
import tracemalloc

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import cgrad
from cgrad import _core, nn
from cgrad._validation import FLOAT32_OVERFLOW

# float64 values whose float32 rounding is not their truncation (the nearest float32 is
# away from zero), ties that round to even (up and down), values that become float32
# denormals, and values below half the smallest float32 denormal, which become zeros
# (signed): the compressed rows drop them as they drop the copy's zeros.
F32_ULP1 = 2.0 ** -23
SPECIAL = np.array([1 + 0.75 * F32_ULP1, 1 + 0.5 * F32_ULP1, 1 + 1.5 * F32_ULP1,
                    -(1 + 0.75 * F32_ULP1), 0.1, -1 / 3, 3e-39, -7e-40, 1e-46, -1e-50,
                    np.nextafter(2.0 ** -150, 1.0), 2.0 ** -150, 1e30 * 1e-30])


def _data(rng, n=1000, n_in=300, density=0.25):
    """float64 inputs, mostly zeros, every value with bits below float32's precision,
    the SPECIAL values scattered in; 4 classes."""
    X = rng.standard_normal((n, n_in)) * (rng.random((n, n_in)) < density)
    mask = rng.random((n, n_in)) < 0.02
    X[mask] = rng.choice(SPECIAL, size=np.count_nonzero(mask))
    pos = rng.integers(0, n * n_in, size=4 * SPECIAL.size)
    X.reshape(-1)[pos] = np.tile(SPECIAL, 4)
    y = (X[:, :n_in // 4].sum(1) > 0) + 2 * (X[:, n_in // 4:n_in // 2].sum(1) > 0)
    return X, y.astype(np.int64)


def test_special_values_round_as_astype_not_as_truncation():
    """The data above can tell rounding from truncation and keeps its denormals and
    underflows (so the twin tests below can fail)."""
    x32 = SPECIAL.astype(np.float32)
    trunc = np.array([np.float32(v) if abs(np.float32(v)) <= abs(v)
                      else np.nextafter(np.float32(v), np.float32(0)) for v in SPECIAL])
    assert (x32 != trunc).sum() >= 3
    assert ((x32 != 0) & (np.abs(x32) < np.finfo(np.float32).tiny)).sum() >= 2
    assert ((x32 == 0) & (SPECIAL != 0)).sum() >= 2


def _fit(model_dtype, X, y, *, sparse, n_threads, ftz=True, layers=None, epochs=2):
    if layers is None:
        m = cgrad.MLP([X.shape[1], 48, 16, 4], activation="relu", dtype=model_dtype, seed=5)
    else:
        m = cgrad.Sequential(X.shape[1], layers(), dtype=model_dtype, seed=5)
    h = m.fit(X, y, epochs=epochs, batch_size=256, lr=1e-2, verbose=0, seed=11,
              n_threads=n_threads, sparse=sparse, ftz=ftz, profile=True, l2=1e-4)
    return m, h


def _assert_twins(m0, h0, m1, h1):
    for a, b in zip(m0.get_weights(), m1.get_weights()):
        assert a.dtype == b.dtype
        assert_array_equal(a.view(np.uint8), b.view(np.uint8))
    for key in h0.history:
        if not key.startswith("time_") and key != "seconds":
            assert h0[key] == h1[key], key


@pytest.mark.parametrize("sparse", ["auto", True, False])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_fit_on_float64_is_fit_on_its_float32_copy(rng, isa, sparse, n_threads):
    """Batches of 256 x 300 entries: the compression and the dense gather both run on
    threads when given two; 'auto' takes the sparse path (25% non-zero)."""
    X, y = _data(rng)
    m0, h0 = _fit("float32", X.astype(np.float32), y, sparse=sparse, n_threads=n_threads)
    m1, h1 = _fit("float32", X, y, sparse=sparse, n_threads=n_threads)
    _assert_twins(m0, h0, m1, h1)
    assert (sum(h1["sparse_steps"]) > 0) == (sparse is not False)


def test_sparse_auto_decides_on_the_rounded_values(rng):
    """'auto' samples X's density in the network's dtype: values that float32 rounds to
    zero (here 20% of the entries, which would put the float64 density at 50%, over the
    40% bar) count as the copy's zeros, so both fits take the sparse path."""
    X = rng.standard_normal((400, 50)) * (rng.random((400, 50)) < 0.3)
    X[(X == 0) & (rng.random((400, 50)) < 0.3)] = 1e-50
    assert np.count_nonzero(X) > 0.4 * X.size > np.count_nonzero(X.astype(np.float32))
    y = (X[:, 0] > 0).astype(np.int64) + 2 * (X[:, 1] > 0)
    m0, h0 = _fit("float32", X.astype(np.float32), y, sparse="auto", n_threads=1)
    m1, h1 = _fit("float32", X, y, sparse="auto", n_threads=1)
    assert sum(h1["sparse_steps"]) > 0
    _assert_twins(m0, h0, m1, h1)


@pytest.mark.parametrize("ftz", [True, False])
@pytest.mark.parametrize("sparse", [True, False])
def test_fit_on_float64_with_denormals_and_other_first_layers(rng, ftz, sparse):
    """Without flush-to-zero the rows keep the copy's denormals; with it, a value rounding
    to a denormal may become a zero, which denormals-are-zero makes of the copy's
    denormal in every layer: BatchNorm1d, Dropout or an Activation first, and narrow
    rows (the per-value gather loop)."""
    X, y = _data(rng, n=300, n_in=40)
    X[:, :4] = rng.choice(SPECIAL[6:], size=(300, 4))
    stacks = [lambda: [nn.BatchNorm1d(), nn.Dense(16, activation="tanh"), nn.Dense(4)],
              lambda: [nn.Dropout(0.2), nn.Dense(16, activation="relu"), nn.Dense(4)],
              lambda: [nn.Activation("tanh"), nn.Dense(16), nn.Dense(4)]]
    for layers in stacks:
        m0, h0 = _fit("float32", X.astype(np.float32), y, sparse=sparse, n_threads=1,
                      ftz=ftz, layers=layers)
        m1, h1 = _fit("float32", X, y, sparse=sparse, n_threads=1, ftz=ftz, layers=layers)
        _assert_twins(m0, h0, m1, h1)
    Xn = np.ascontiguousarray(X[:, :12])
    m0, h0 = _fit("float32", Xn.astype(np.float32), y, sparse=sparse, n_threads=1, ftz=ftz,
                  layers=lambda: [nn.Dense(8, activation="relu"), nn.Dense(4)])
    m1, h1 = _fit("float32", Xn, y, sparse=sparse, n_threads=1, ftz=ftz,
                  layers=lambda: [nn.Dense(8, activation="relu"), nn.Dense(4)])
    _assert_twins(m0, h0, m1, h1)


def test_fit_on_float64_with_validation_is_fit_on_the_copy(rng):
    """validation_split's rows (converted once) and validation_data give the copy's
    val_* history too."""
    X, y = _data(rng, n=600, n_in=50)
    Xv, yv = _data(rng, n=100, n_in=50)
    for kw in ({"validation_split": 0.25}, {"validation_data": (Xv, yv)}):
        runs = []
        for data in (X.astype(np.float32), X):
            m = cgrad.MLP([50, 16, 4], seed=2)
            runs.append((m, m.fit(data, y, epochs=2, batch_size=64, verbose=0, seed=3, **kw)))
        assert "val_loss" in runs[0][1].history
        _assert_twins(*runs[0], *runs[1])


@pytest.mark.parametrize("sparse", ["auto", False])
def test_fit_float64_network_on_float32_is_fit_on_its_float64_copy(rng, isa, sparse):
    X, y = _data(rng, n=600)
    X32 = X.astype(np.float32)
    m0, h0 = _fit("float64", X32.astype(np.float64), y, sparse=sparse, n_threads=2)
    m1, h1 = _fit("float64", X32, y, sparse=sparse, n_threads=2)
    _assert_twins(m0, h0, m1, h1)


@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_csr_gather_converts_as_astype(rng, isa, n_threads, dtype):
    """The compression of the other dtype's rows: the rows, columns and values of the
    converted copy's compression (a batch large enough for the threaded passes)."""
    X, _ = _data(rng, n=400, n_in=300)
    src = X if dtype == np.float32 else X.astype(np.float32)
    order = rng.permutation(400)[:300]
    got = _core.csr_gather(src, order, dtype=dtype, check_bounds=True, n_threads=n_threads)
    want = _core.csr_gather(src.astype(dtype), order, n_threads=n_threads)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype
        assert_array_equal(g.view(np.uint8), w.view(np.uint8))
    capped = _core.csr_gather(src, order, max_density=0.1, dtype=dtype, n_threads=n_threads)
    assert capped is None


def test_float32_overflow_bound_is_numpys():
    """The largest float64 accepted for a float32 network is the largest that astype
    keeps finite; all_finite's bound rejects the rest, NaN and inf."""
    below = np.nextafter(FLOAT32_OVERFLOW, 0.0)
    with np.errstate(over="ignore"):
        assert np.isfinite(np.float32(below)) and np.isinf(np.float32(FLOAT32_OVERFLOW))
    for v, ok in [(below, True), (-below, True), (FLOAT32_OVERFLOW, False),
                  (-FLOAT32_OVERFLOW, False), (1e39, False), (np.inf, False),
                  (np.nan, False), (0.0, True)]:
        x = np.zeros(200_003)
        x[-7] = v
        for nt in (1, 2):
            assert _core.all_finite(x, nt, FLOAT32_OVERFLOW) is ok, (v, nt)
    assert not _core.all_finite(np.array([1e39, np.nan]), 1)
    assert _core.all_finite(np.array([1e39, -1e300]), 1)


@pytest.mark.parametrize("bad, match", [(1e39, "beyond float32's range"),
                                        (-4e38, "beyond float32's range"),
                                        (np.nan, "NaN or inf"), (np.inf, "NaN or inf")])
def test_fit_rejects_float64_that_float32_cannot_hold(rng, bad, match):
    X, y = _data(rng, n=100, n_in=20)
    X[37, 5] = bad
    m = cgrad.MLP([20, 8, 4], seed=0)
    before = m.flat_params.copy()
    with pytest.raises(ValueError, match=f"^X .*{match}"):
        m.fit(X, y, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=f"^X .*{match}"):   # a strided X: converted first
        m.fit(np.asfortranarray(X), y, epochs=1, verbose=0)
    assert_array_equal(m.flat_params, before)
    assert getattr(m, "history", None) is None
    if bad == 1e39:                                   # a float64 network holds it
        cgrad.MLP([20, 8, 4], dtype="float64", seed=0).decision_function(X)


def _traced_peak(f):
    tracemalloc.start()
    try:
        f()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_fit_on_float64_makes_no_copy_of_X(rng):
    """Peak traced memory (NumPy's allocations included) of a fit on a read-only float64
    X stays far below the float32 copy's X.nbytes / 2; X is left as it was.  The same
    fit on a strided X (converted first) shows that the measurement sees a copy."""
    X = rng.standard_normal((20000, 256))
    X[X < 0.5] = 0.0
    y = (X[:, 0] > 0).astype(np.int64)
    X.flags.writeable = False
    keep = X.copy()
    m = cgrad.MLP([256, 32, 2], seed=0)
    m.fit(X[:512], y[:512], epochs=1, verbose=0)          # first-call costs out of the way
    peak = _traced_peak(lambda: m.fit(X, y, epochs=1, batch_size=128, verbose=0,
                                      n_threads=1))
    assert peak < X.nbytes / 8, peak
    assert_array_equal(X, keep)
    strided = np.asfortranarray(X)
    copied = _traced_peak(lambda: m.fit(strided, y, epochs=1, batch_size=128, verbose=0,
                                        n_threads=1))
    assert copied > X.nbytes / 2, copied


# UserWarning: scikit-learn's ConvergenceWarning, named without importing scikit-learn
# (absent from the README's test environment, where this test skips)
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_sklearn_fit_on_float64_is_fit_on_float32_without_a_copy(rng):
    """The fused path (no copy), the host-loss path (row weights: the step API converts
    each batch), the full-batch solver and partial_fit: the float32 copy's weights."""
    pytest.importorskip("sklearn")
    from cgrad.sklearn import MLPClassifier
    X, y = _data(rng, n=16000, n_in=300)
    X.flags.writeable = False
    keep = X.copy()
    kw = dict(hidden_layer_sizes=(32,), max_iter=3, random_state=0, n_threads=1, tol=0.0)
    a = MLPClassifier(**kw).fit(X.astype(np.float32), y)
    b = MLPClassifier(**kw)
    peak = _traced_peak(lambda: b.fit(X, y))
    assert peak < X.nbytes / 4, peak       # the sparse 'auto' sample: 1000 rows of X
    assert_array_equal(X, keep)
    for wa, wb in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        assert_array_equal(wa, wb)
    assert a.loss_curve_ == b.loss_curve_
    sw = rng.random(X.shape[0])                  # the host-loss path (the step API)
    a = MLPClassifier(**kw).fit(X.astype(np.float32), y, sample_weight=sw)
    b = MLPClassifier(**kw).fit(X, y, sample_weight=sw)
    for wa, wb in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        assert_array_equal(wa, wb)
    for est_kw, method in [({"solver": "lbfgs"}, "fit"), ({}, "partial_fit")]:
        a, b = MLPClassifier(**kw, **est_kw), MLPClassifier(**kw, **est_kw)
        fit_kw = {"classes": np.arange(4)} if method == "partial_fit" else {}
        getattr(a, method)(X.astype(np.float32), y, **fit_kw)
        getattr(b, method)(X, y, **fit_kw)
        for wa, wb in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
            assert_array_equal(wa, wb)
    Xbad = X.copy()
    Xbad[3, 3] = 1e39
    with pytest.raises(ValueError, match="beyond float32's range"):
        MLPClassifier(**kw).fit(Xbad, y)
