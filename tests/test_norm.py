"""Dropout and batch norm: the reference against finite differences and torch, the kernels
against the reference, thread-count independence, mask statistics and input validation."""
import platform

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from cgrad import ops, reference as ref
from conftest import ATOL, DTYPES, RTOL

# N=2 (smallest training batch), odd sizes, more columns than one block (128), and sizes
# above the parallel threshold.
BN_SHAPES = [(2, 1), (2, 7), (3, 17), (17, 33), (33, 3), (5, 300), (257, 129), (1000, 257)]


def _bn_inputs(rng, shape, dtype, shift=0.0):
    C = shape[1]
    x = rng.standard_normal(shape) * 2 + shift + rng.standard_normal(C)
    gamma = rng.standard_normal(C)
    beta = rng.standard_normal(C)
    dy = rng.standard_normal(shape)
    rm = rng.standard_normal(C)
    rv = rng.uniform(0.5, 2.0, C)
    return [a.astype(dtype) for a in (x, gamma, beta, dy, rm, rv)]


# ---------------------------------------------------------------- batch norm reference

def test_reference_batchnorm_backward_matches_finite_differences(rng):
    """d/d(x, gamma, beta) of sum(dy * y) by central differences, float64, training mode."""
    x, gamma, beta, dy, _, _ = _bn_inputs(rng, (5, 4), np.float64)
    eps = 1e-6

    def loss(x_, g_, b_):
        return np.sum(dy * ref.batchnorm_forward(x_, g_, b_)[0])

    _, cache = ref.batchnorm_forward(x, gamma, beta)
    got = ref.batchnorm_backward(dy, cache)
    for k, arr in enumerate((x, gamma, beta)):
        num = np.empty_like(arr)
        for idx in np.ndindex(arr.shape):
            args_p = [x.copy(), gamma.copy(), beta.copy()]
            args_m = [x.copy(), gamma.copy(), beta.copy()]
            args_p[k][idx] += eps
            args_m[k][idx] -= eps
            num[idx] = (loss(*args_p) - loss(*args_m)) / (2 * eps)
        assert_allclose(got[k], num, rtol=1e-6, atol=1e-8, err_msg=["dx", "dgamma", "dbeta"][k])


def test_reference_batchnorm_normalises_and_tracks_unbiased_variance(rng):
    x, _, _, _, _, _ = _bn_inputs(rng, (50, 6), np.float64)
    C = x.shape[1]
    rm, rv = np.zeros(C), np.ones(C)
    y, _ = ref.batchnorm_forward(x, np.ones(C), np.zeros(C), rm, rv, momentum=0.25, eps=0.0)
    assert_allclose(y.mean(axis=0), 0, atol=1e-12)
    assert_allclose(y.var(axis=0), 1, rtol=1e-12)
    assert_allclose(rm, 0.25 * x.mean(axis=0), rtol=1e-12)
    assert_allclose(rv, 0.75 + 0.25 * x.var(axis=0, ddof=1), rtol=1e-12)


@pytest.mark.parametrize("training", [True, False])
def test_reference_batchnorm_matches_torch(rng, training):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x, gamma, beta, dy, rm, rv = _bn_inputs(rng, (9, 5), np.float64)
    rm_t, rv_t = torch.tensor(rm), torch.tensor(rv)
    xt = torch.tensor(x, requires_grad=True)
    gt = torch.tensor(gamma, requires_grad=True)
    bt = torch.tensor(beta, requires_grad=True)
    yt = F.batch_norm(xt, rm_t, rv_t, gt, bt, training=training, momentum=0.3, eps=1e-3)
    yt.backward(torch.tensor(dy))
    y, cache = ref.batchnorm_forward(x, gamma, beta, rm, rv, training=training,
                                     momentum=0.3, eps=1e-3)
    assert_allclose(y, yt.detach().numpy(), rtol=1e-12, atol=1e-13)
    assert_allclose(rm, rm_t.numpy(), rtol=1e-12, atol=1e-14)
    assert_allclose(rv, rv_t.numpy(), rtol=1e-12)
    if training:
        dx, dgamma, dbeta = ref.batchnorm_backward(dy, cache)
        assert_allclose(dx, xt.grad.numpy(), rtol=1e-10, atol=1e-12)
        assert_allclose(dgamma, gt.grad.numpy(), rtol=1e-10, atol=1e-12)
        assert_allclose(dbeta, bt.grad.numpy(), rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------- batch norm kernels

def _bn_scale_atol(dtype, a):
    return ATOL[dtype] + RTOL[dtype] * float(np.abs(a).max())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", BN_SHAPES)
def test_batchnorm_train_kernel_matches_reference(rng, shape, dtype):
    x, gamma, beta, dy, rm, rv = _bn_inputs(rng, shape, dtype)
    as64 = [a.astype(np.float64) for a in (x, gamma, beta, dy, rm, rv)]
    y, cache = ops.batchnorm_forward(x, gamma, beta, rm, rv, momentum=0.2)
    y_ref, cache_ref = ref.batchnorm_forward(*as64[:3], as64[4], as64[5], momentum=0.2)
    assert y.dtype == dtype and cache.mean.dtype == dtype
    assert_allclose(y, y_ref, rtol=RTOL[dtype], atol=_bn_scale_atol(dtype, y_ref))
    assert_allclose(cache.mean, cache_ref.mean, rtol=RTOL[dtype],
                    atol=_bn_scale_atol(dtype, cache_ref.mean))
    assert_allclose(cache.invstd, cache_ref.invstd, rtol=RTOL[dtype])
    assert_allclose(rm, as64[4], rtol=RTOL[dtype], atol=_bn_scale_atol(dtype, as64[4]))
    assert_allclose(rv, as64[5], rtol=RTOL[dtype])
    dx, dgamma, dbeta = ops.batchnorm_backward(dy, cache)
    for name, got, want in zip(("dx", "dgamma", "dbeta"), (dx, dgamma, dbeta),
                               ref.batchnorm_backward(as64[3], cache_ref)):
        # dx cancels (N*dy - sum(dy) - xhat*sum(dy*xhat)): judge on the scale of the terms
        scale = np.abs(as64[3]).max() * np.abs(as64[1]).max() * cache_ref.invstd.max()
        assert_allclose(got, want, rtol=RTOL[dtype], atol=RTOL[dtype] * scale, err_msg=name)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (1, 5)] + BN_SHAPES)
def test_batchnorm_eval_kernel_matches_reference(rng, shape, dtype):
    x, gamma, beta, _, rm, rv = _bn_inputs(rng, shape, dtype)
    rm0, rv0 = rm.copy(), rv.copy()
    y, cache = ops.batchnorm_forward(x, gamma, beta, rm, rv, training=False, eps=1e-3)
    y_ref, cache_ref = ref.batchnorm_forward(*(a.astype(np.float64) for a in
                                               (x, gamma, beta, rm, rv)),
                                             training=False, eps=1e-3)
    assert_allclose(y, y_ref, rtol=RTOL[dtype], atol=_bn_scale_atol(dtype, y_ref))
    assert_array_equal(rm, rm0)                # eval never updates running statistics
    assert_array_equal(rv, rv0)
    assert not cache.training
    with pytest.raises(ValueError, match="training-mode forward"):
        ops.batchnorm_backward(x, cache)


def test_batchnorm_without_running_stats_matches_with(rng):
    x, gamma, beta, dy, rm, rv = _bn_inputs(rng, (17, 33), np.float64)
    y1, c1 = ops.batchnorm_forward(x, gamma, beta)
    y2, c2 = ops.batchnorm_forward(x, gamma, beta, rm, rv)
    assert_array_equal(y1, y2)
    assert_array_equal(c1.invstd, c2.invstd)


def test_batchnorm_large_mean_is_accurate(rng):
    """Two-pass variance: a mean 1e4 x the spread loses nothing in float64 accumulation."""
    x, gamma, beta, dy, _, _ = _bn_inputs(rng, (257, 9), np.float32, shift=1e4)
    y, cache = ops.batchnorm_forward(x, gamma, beta)
    y_ref, _ = ref.batchnorm_forward(*(a.astype(np.float64) for a in (x, gamma, beta)))
    assert_allclose(y, y_ref, rtol=1e-4, atol=1e-4 * np.abs(y_ref).max())


def test_batchnorm_parameter_gradients_accumulate(rng):
    x, gamma, beta, dy, _, _ = _bn_inputs(rng, (17, 33), np.float64)
    _, cache = ops.batchnorm_forward(x, gamma, beta)
    dx, dg, db = ops.batchnorm_backward(dy, cache)
    g0, b0 = rng.standard_normal(33), rng.standard_normal(33)
    dg2, db2 = g0.copy(), b0.copy()
    dx2, dg_ret, db_ret = ops.batchnorm_backward(dy, cache, dgamma=dg2, dbeta=db2)
    assert dg_ret is dg2 and db_ret is db2
    assert_allclose(dg2, g0 + dg, rtol=1e-14, atol=1e-14)
    assert_allclose(db2, b0 + db, rtol=1e-14, atol=1e-14)
    assert_array_equal(dx2, dx)                # dx is overwritten, not accumulated


def test_batchnorm_backward_in_place(rng):
    x, gamma, beta, dy, _, _ = _bn_inputs(rng, (33, 17), np.float64)
    _, cache = ops.batchnorm_forward(x, gamma, beta)
    dx, _, _ = ops.batchnorm_backward(dy, cache)
    dd = dy.copy()
    assert ops.batchnorm_backward(dd, cache, out=dd)[0] is dd
    assert_array_equal(dd, dx)


# x86-64 baseline has no FMA, so the compiler cannot contract a*b + c; elsewhere it may.
_EXACT = platform.machine().lower() in ("x86_64", "amd64")


def _assert_same(a, b):
    if _EXACT:
        assert_array_equal(a, b)
    else:
        assert_allclose(a, b, rtol=1e-14, atol=1e-300)


@pytest.mark.parametrize("N", [2, 7, 1000])
def test_batchnorm_sums_run_over_rows_in_order(rng, N):
    """float64 statistics equal a sequential row-order sum (np.cumsum) bit for bit:
    the kernels' blocking and row unrolling never reorder an addition."""
    x, gamma, beta, dy, _, _ = _bn_inputs(rng, (N, 150), np.float64)
    _, cache = ops.batchnorm_forward(x, gamma, beta, eps=1e-5)
    mean = np.cumsum(x, axis=0)[-1] / N
    var = np.cumsum((x - mean) * (x - mean), axis=0)[-1] / N
    _assert_same(cache.mean, mean)
    _assert_same(cache.invstd, 1.0 / np.sqrt(var + 1e-5))
    _, dgamma, dbeta = ops.batchnorm_backward(dy, cache)
    _assert_same(dbeta, np.cumsum(dy, axis=0)[-1])
    _assert_same(dgamma, np.cumsum(dy * (x - mean), axis=0)[-1] * cache.invstd)


@pytest.mark.parametrize("n_threads", [2, 3])
def test_batchnorm_thread_count_is_bitwise_irrelevant(rng, n_threads):
    x, gamma, beta, dy, rm, rv = _bn_inputs(rng, (1000, 257), np.float32)
    res = {}
    for nt in (1, n_threads):
        rm_, rv_ = rm.copy(), rv.copy()
        y, cache = ops.batchnorm_forward(x, gamma, beta, rm_, rv_, n_threads=nt)
        ye, _ = ops.batchnorm_forward(x, gamma, beta, rm, rv, training=False, n_threads=nt)
        res[nt] = (y, cache.mean, cache.invstd, rm_, rv_, ye,
                   *ops.batchnorm_backward(dy, cache, n_threads=nt))
    for a, b in zip(res[1], res[n_threads]):
        assert_array_equal(a, b)


@settings(max_examples=60, deadline=None)
@given(rows=st.integers(2, 40), cols=st.integers(1, 150),
       scale=st.sampled_from([1e-3, 1.0, 1e3]), shift=st.sampled_from([0.0, 10.0, -1e3]),
       seed=st.integers(0, 2 ** 31 - 1))
def test_property_batchnorm_random_shapes(rows, cols, scale, shift, seed):
    r = np.random.default_rng(seed)
    x = r.standard_normal((rows, cols)) * scale + shift
    gamma, beta = r.standard_normal(cols), r.standard_normal(cols)
    dy = r.standard_normal((rows, cols))
    y, cache = ops.batchnorm_forward(x, gamma, beta, eps=1e-5)
    y_ref, cache_ref = ref.batchnorm_forward(x, gamma, beta, eps=1e-5)
    assert_allclose(y, y_ref, rtol=1e-9, atol=1e-9 * np.abs(y_ref).max())
    got, want = ops.batchnorm_backward(dy, cache), ref.batchnorm_backward(dy, cache_ref)
    tol = 1e-9 * np.abs(dy).max() * np.abs(gamma).max() * cache_ref.invstd.max()
    for g, w in zip(got, want):
        assert_allclose(g, w, rtol=1e-9, atol=tol * rows)


# ---------------------------------------------------------------- dropout

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1,), (1, 1), (3, 17), (17, 33), (257, 129), (1000, 257),
                                   (4, 5, 6)])
@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_dropout_kernel_matches_reference_exactly(rng, shape, dtype, p):
    x = rng.standard_normal(shape).astype(dtype)
    y = ops.dropout_forward(x, p, 1234)
    assert y.dtype == dtype and y.shape == shape
    assert_array_equal(y, ref.dropout_forward(x, p, 1234))
    assert_array_equal(ops.dropout_mask(shape, p, 1234), ref.dropout_mask(shape, p, 1234))
    assert_array_equal(y != 0, ref.dropout_mask(shape, p, 1234))


def test_dropout_mask_matches_a_scalar_splitmix64():
    """The documented hash, written out with Python ints (mod 2^64)."""
    M = 2 ** 64 - 1

    def u(seed, i):
        z = (seed * 0x9E3779B97F4A7C15 + i + 0x9E3779B97F4A7C15) & M
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
        z ^= z >> 31
        return (z >> 11) * 2.0 ** -53

    for seed in (0, 1, 2 ** 64 - 1):
        want = np.array([u(seed, i) >= 0.5 for i in range(200)])
        assert_array_equal(ops.dropout_mask(200, 0.5, seed), want)
        assert_array_equal(ref.dropout_mask(200, 0.5, seed), want)


@pytest.mark.parametrize("p", [0.05, 0.3, 0.5, 0.8])
def test_dropout_keep_fraction_is_binomial(p):
    n = 1_000_000
    keep = ops.dropout_mask(n, p, 99)
    sigma = np.sqrt(p * (1 - p) / n)
    assert abs(keep.mean() - (1 - p)) < 5 * sigma
    # neighbours independent: P(keep_i and keep_i+1) = (1-p)^2
    both = (keep[:-1] & keep[1:]).mean()
    assert abs(both - (1 - p) ** 2) < 5 * np.sqrt((1 - p) ** 2 * (1 - (1 - p) ** 2) / n)


def test_dropout_unbiased_in_expectation(rng):
    """E[y] = x: the mean of y over many elements of a constant x is x."""
    n, p = 1_000_000, 0.4
    x = np.full(n, 1.5)
    y = ops.dropout_forward(x, p, 7)
    sigma = 1.5 * np.sqrt(p / (1 - p) / n)    # sd of y's mean: x*sqrt(p/(1-p))/sqrt(n)
    assert abs(y.mean() - 1.5) < 5 * sigma
    assert set(np.unique(y)) == {0.0, 1.5 / (1 - p)}


def test_dropout_seed_determines_mask():
    a = ops.dropout_mask((300, 200), 0.5, 42)
    assert_array_equal(a, ops.dropout_mask((300, 200), 0.5, 42))
    for other in (43, 2 ** 40 + 42):
        b = ops.dropout_mask((300, 200), 0.5, other)
        agree = (a == b).mean()            # independent masks agree on half the elements
        assert abs(agree - 0.5) < 5 * np.sqrt(0.25 / a.size)


def test_dropout_mask_depends_only_on_flat_index():
    """Reshaping the input does not change which flat elements survive."""
    m = ops.dropout_mask((60, 70), 0.3, 5)
    assert_array_equal(m.reshape(-1), ops.dropout_mask(4200, 0.3, 5))
    assert_array_equal(m.reshape(70, 60), ops.dropout_mask((70, 60), 0.3, 5))


@pytest.mark.parametrize("n_threads", [2, 3])
def test_dropout_thread_count_is_bitwise_irrelevant(rng, n_threads):
    x = rng.standard_normal((1000, 257)).astype(np.float32)
    assert_array_equal(ops.dropout_forward(x, 0.3, 11, n_threads=1),
                       ops.dropout_forward(x, 0.3, 11, n_threads=n_threads))
    assert_array_equal(ops.dropout_backward(x, 0.3, 11, n_threads=1),
                       ops.dropout_backward(x, 0.3, 11, n_threads=n_threads))


@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_backward_uses_the_forward_mask(rng, dtype):
    x = rng.standard_normal((33, 17)).astype(dtype)
    dy = rng.standard_normal((33, 17)).astype(dtype)
    y = ops.dropout_forward(x, 0.25, 3)
    dx = ops.dropout_backward(dy, 0.25, 3)
    assert_array_equal(dx != 0, y != 0)
    assert_array_equal(dx, ref.dropout_backward(dy, 0.25, 3))
    # the gradient of sum(dy * y) w.r.t. x is exactly dy * keep / (1 - p)
    assert_array_equal(dx, np.where(y != 0, dy * dtype(1 / 0.75), 0))
    dd = dy.copy()
    assert ops.dropout_backward(dd, 0.25, 3, out=dd) is dd
    assert_array_equal(dd, dx)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_p_zero_is_identity(rng, dtype):
    x = rng.standard_normal((17, 33)).astype(dtype)
    assert_array_equal(ops.dropout_forward(x, 0.0, 5), x)
    assert_array_equal(ops.dropout_backward(x, 0, 5), x)
    assert_array_equal(ref.dropout_forward(x, 0.0, 5), x)
    xx = x.copy()
    assert ops.dropout_forward(xx, 0.5, 5, out=xx) is xx
    assert_array_equal(xx, ops.dropout_forward(x, 0.5, 5))


@settings(max_examples=60, deadline=None)
@given(shape=st.lists(st.integers(0, 30), min_size=0, max_size=3).map(tuple),
       p=st.floats(0, 1, exclude_max=True), seed=st.integers(0, 2 ** 64 - 1),
       dtype=st.sampled_from(DTYPES))
def test_property_dropout_random_shapes(shape, p, seed, dtype):
    x = np.random.default_rng(seed % 2 ** 32).standard_normal(shape).astype(dtype)
    y = ops.dropout_forward(x, p, seed)
    assert_array_equal(y, ref.dropout_forward(x, p, seed))
    assert_array_equal(ops.dropout_backward(x, p, seed), y)


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("p,exc", [(1.0, ValueError), (-0.1, ValueError),
                                   (float("nan"), ValueError), ("0.5", TypeError),
                                   (True, TypeError)])
def test_dropout_bad_p_is_named(p, exc):
    with pytest.raises(exc, match="p must be"):
        ops.dropout_forward(np.ones(4), p, 0)


@pytest.mark.parametrize("call,exc,msg", [
    (lambda: ops.dropout_forward(np.ones(4), 0.5, -1), ValueError, "seed must be in"),
    (lambda: ops.dropout_forward(np.ones(4), 0.5, 2 ** 64), ValueError, "seed must be in"),
    (lambda: ops.dropout_forward(np.ones(4), 0.5, 1.5), TypeError, "seed must be an int"),
    (lambda: ops.dropout_forward([1.0], 0.5, 1), TypeError, "x must be a numpy.ndarray"),
    (lambda: ops.dropout_forward(np.ones(4, np.int32), 0.5, 1), TypeError, "x must have dtype"),
    (lambda: ops.dropout_forward(np.ones((4, 6))[:, ::2], 0.5, 1), ValueError,
     "x must be C-contiguous"),
    (lambda: ops.dropout_forward(np.ones(4), 0.5, 1, out=np.empty(5)), ValueError,
     "out has shape"),
    (lambda: ops.dropout_backward(np.ones(4), 0.5, 1, out=np.empty(4, np.float32)), TypeError,
     "out has dtype float32, expected float64"),
    (lambda: ops.dropout_mask((2, -1), 0.5, 1), ValueError, "shape must be"),
])
def test_dropout_bad_input_is_named(call, exc, msg):
    with pytest.raises(exc, match=msg):
        call()


def _bn_args(**kw):
    args = dict(x=np.ones((4, 3)), gamma=np.ones(3), beta=np.zeros(3))
    args.update(kw)
    return args


@pytest.mark.parametrize("kw,exc,msg", [
    (dict(x=np.ones((1, 3))), ValueError, "needs more than 1 row"),
    (dict(x=np.ones(3)), ValueError, "x must be 2-D"),
    (dict(gamma=np.ones(4)), ValueError, r"gamma has shape \(4,\), expected \(3,\)"),
    (dict(beta=np.ones((3, 1))), ValueError, "beta must be 1-D"),
    (dict(gamma=np.ones(3, np.float32)), TypeError, "gamma has dtype float32, expected float64"),
    (dict(running_mean=np.zeros(3)), ValueError, "must both be given"),
    (dict(running_mean=np.zeros(3), running_var=np.ones(2)), ValueError,
     "running_var has shape"),
    (dict(running_mean=np.zeros(3, np.float32), running_var=np.ones(3)), TypeError,
     "running_mean has dtype"),
    (dict(training=False), ValueError, "required when training=False"),
    (dict(momentum=1.5), ValueError, "momentum must be in"),
    (dict(eps=0.0), ValueError, "eps must be a positive"),
    (dict(eps=None), TypeError, "eps must be a real number"),
    (dict(out=np.empty((3, 4))), ValueError, "out has shape"),
])
def test_batchnorm_bad_input_is_named(kw, exc, msg):
    args = _bn_args(**kw)
    with pytest.raises(exc, match=msg):
        ops.batchnorm_forward(args.pop("x"), args.pop("gamma"), args.pop("beta"), **args)


def test_batchnorm_out_may_not_overwrite_the_cached_input():
    x = np.random.default_rng(0).standard_normal((4, 3))
    with pytest.raises(ValueError, match="out must not overlap x"):
        ops.batchnorm_forward(x, np.ones(3), np.zeros(3), out=x)


def test_batchnorm_read_only_running_stats_rejected_in_training():
    rm, rv = np.zeros(3), np.ones(3)
    rm.flags.writeable = False
    with pytest.raises(ValueError, match="running_mean must be writable"):
        ops.batchnorm_forward(np.ones((4, 3)), np.ones(3), np.zeros(3), rm, rv)
    ops.batchnorm_forward(np.ones((4, 3)), np.ones(3), np.zeros(3), rm, rv, training=False)


def test_batchnorm_backward_bad_input_is_named(rng):
    x, gamma, beta, dy, _, _ = _bn_inputs(rng, (4, 3), np.float64)
    _, cache = ops.batchnorm_forward(x, gamma, beta)
    with pytest.raises(TypeError, match="cache must be the BatchNormCache"):
        ops.batchnorm_backward(dy, (x, gamma))
    with pytest.raises(ValueError, match=r"dy has shape \(3, 4\), expected \(4, 3\)"):
        ops.batchnorm_backward(np.ones((3, 4)), cache)
    with pytest.raises(TypeError, match="cache.x has dtype float64, expected float32"):
        ops.batchnorm_backward(dy.astype(np.float32), cache)
    with pytest.raises(ValueError, match="dgamma has shape"):
        ops.batchnorm_backward(dy, cache, dgamma=np.zeros(4))
    with pytest.raises(ValueError, match="out has shape"):
        ops.batchnorm_backward(dy, cache, out=np.empty((4, 4)))


def test_kernel_entry_points_check_shapes_without_crashing():
    from cgrad import _core

    x = np.ones((4, 3))
    v = np.ones(3)
    with pytest.raises(ValueError, match="more than 1 row"):
        _core.batchnorm_forward_train_kernel(np.ones((1, 3)), v, v, np.empty((1, 3)),
                                             np.empty(3), np.empty(3), None, None, 0.1, 1e-5)
    with pytest.raises(ValueError, match="gamma has length 2"):
        _core.batchnorm_forward_eval_kernel(x, np.ones(2), v, np.empty_like(x), v, v, 1e-5)
    with pytest.raises(ValueError, match="dbeta has length 4"):
        _core.batchnorm_backward_kernel(x, x, v, v, v, np.empty_like(x), np.zeros(3),
                                        np.zeros(4))
    with pytest.raises(ValueError, match="p must be in"):
        _core.dropout_forward_kernel(np.ones(3), np.empty(3), 1.0, 0)
    with pytest.raises(ValueError, match="y has length 2"):
        _core.dropout_forward_kernel(np.ones(3), np.empty(2), 0.5, 0)
