"""Weight penalties and gradient clipping: the reference against finite differences and
NumPy, the kernels against the reference, thread-count independence, validation."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from cgrad import ops, reference as ref
from conftest import ATOL, DTYPES, RTOL, SIZES, numeric_grad

# flat, 2-D and 3-D buffers: the kernels see them all flat; 1000 * 257 crosses the
# parallel threshold and many REDUCE_CHUNKs
REG_SHAPES = [(n,) for n in SIZES] + [(3, 17), (1000, 257), (4, 5, 6)]
PENALTIES = ["l2_penalty", "l1_penalty"]


def _tols(dtype, scale=1.0):
    return dict(rtol=RTOL[dtype], atol=ATOL[dtype] * scale)


@pytest.mark.parametrize("name", PENALTIES)
def test_reference_penalty_gradient_matches_finite_differences(rng, name):
    w = rng.standard_normal((4, 6))
    w[np.abs(w) < 1e-3] = 0.5                  # l1: keep away from the kink at 0
    f = getattr(ref, name)
    lam = 0.3
    num = numeric_grad(lambda ww: f(ww, lam)[0], w)
    assert_allclose(f(w, lam)[1], num, rtol=1e-6, atol=1e-9)


def test_reference_values_by_hand():
    w = np.array([[3.0, -4.0], [0.0, 1.0]])
    assert ref.l2_penalty(w, 2.0)[0] == pytest.approx(0.5 * 2 * 26)
    assert ref.l1_penalty(w, 2.0)[0] == pytest.approx(2 * 8)
    assert_array_equal(ref.l1_penalty(w, 2.0)[1], [[2, -2], [0, 2]])
    assert ref.global_norm(w) == pytest.approx(np.sqrt(26))
    assert_array_equal(ref.clip_by_value(w, 2.0), [[2, -2], [0, 1]])
    clipped, norm = ref.clip_by_global_norm(w, 1.0)
    assert norm == pytest.approx(np.sqrt(26))
    assert_allclose(clipped, w / (np.sqrt(26) + 1e-6))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", REG_SHAPES)
@pytest.mark.parametrize("name", PENALTIES)
def test_penalty_kernel_matches_reference(rng, name, shape, dtype):
    w = rng.standard_normal(shape).astype(dtype)
    w.flat[::7] = 0                            # l1's subgradient at 0 is 0
    lam = 0.37
    v_ref, g_ref = getattr(ref, name)(w.astype(np.float64), lam)
    v, g = getattr(ops, name)(w, lam)
    assert isinstance(v, float) and g.dtype == dtype and g.shape == shape
    assert_allclose(v, v_ref, **_tols(dtype))
    assert_allclose(g, g_ref, **_tols(dtype))


@pytest.mark.parametrize("name", PENALTIES)
def test_penalty_accumulates_into_out(rng, name):
    w = rng.standard_normal((33, 17))
    g0 = rng.standard_normal(w.shape)
    g = g0.copy()
    v, res = getattr(ops, name)(w, 0.25, out=g)
    assert res is g
    assert v == getattr(ops, name)(w, 0.25)[0]
    assert_allclose(g, g0 + getattr(ref, name)(w, 0.25)[1], rtol=1e-14)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", REG_SHAPES)
def test_clipping_kernels_match_reference(rng, shape, dtype):
    g = (rng.standard_normal(shape) * 2).astype(dtype)
    g64 = g.astype(np.float64)
    assert_array_equal(ops.clip_by_value(g, 1.5), ref.clip_by_value(g, 1.5))
    norm = ops.global_norm(g)
    assert isinstance(norm, float)
    assert_allclose(norm, np.linalg.norm(g64.ravel()), rtol=1e-12)   # summed in float64
    assert_allclose(norm, ref.global_norm(g64), rtol=1e-12)
    max_norm = 0.5 * norm
    clipped, before = ops.clip_by_global_norm(g, max_norm)
    c_ref, before_ref = ref.clip_by_global_norm(g64, max_norm)
    assert clipped.dtype == dtype and before == norm
    assert_allclose(before, before_ref, rtol=1e-12)
    assert_allclose(clipped, c_ref, **_tols(dtype))
    assert np.linalg.norm(clipped.astype(np.float64).ravel()) <= max_norm * (1 + 1e-6)


def test_clip_by_global_norm_is_a_no_op_below_max_norm(rng):
    g = rng.standard_normal((17, 33))
    norm = np.linalg.norm(g.ravel())
    for max_norm in (norm, 2 * norm):
        clipped, before = ops.clip_by_global_norm(g, max_norm)
        assert_array_equal(clipped, g)
        assert_allclose(before, norm, rtol=1e-12)
    assert not np.shares_memory(clipped, g)


def test_in_place_via_out(rng):
    g = rng.standard_normal((9, 8)) * 3
    expected = ref.clip_by_value(g, 1.0)
    gg = g.copy()
    assert ops.clip_by_value(gg, 1.0, out=gg) is gg
    assert_array_equal(gg, expected)
    gg = g.copy()
    res, norm = ops.clip_by_global_norm(gg, 1.0, out=gg)
    assert res is gg and norm > 1.0
    assert_allclose(gg, ref.clip_by_global_norm(g, 1.0)[0], rtol=1e-14)
    other = np.empty_like(g)
    assert ops.clip_by_value(g, 1.0, out=other) is other
    assert_array_equal(other, expected)


def test_clip_by_value_keeps_nan_and_clips_inf():
    g = np.array([np.nan, np.inf, -np.inf, 0.5])
    assert_array_equal(ops.clip_by_value(g, 1.0), [np.nan, 1.0, -1.0, 0.5])


def test_empty_buffers():
    e = np.zeros(0, dtype=np.float32)
    assert ops.global_norm(e) == 0.0
    v, g = ops.l2_penalty(e, 1.0)
    assert v == 0.0 and g.shape == (0,)
    assert ops.clip_by_global_norm(e, 1.0)[1] == 0.0


@pytest.mark.parametrize("dtype", DTYPES)
def test_one_and_two_threads_are_bitwise_equal(rng, dtype):
    w = rng.standard_normal((1000, 257)).astype(dtype)       # above the parallel threshold
    for name in PENALTIES:
        v1, g1 = getattr(ops, name)(w, 0.1, n_threads=1)
        v2, g2 = getattr(ops, name)(w, 0.1, n_threads=2)
        assert v1 == v2
        assert_array_equal(g1, g2)
    assert ops.global_norm(w, n_threads=1) == ops.global_norm(w, n_threads=2)
    assert_array_equal(ops.clip_by_value(w, 0.5, n_threads=1),
                       ops.clip_by_value(w, 0.5, n_threads=2))
    c1, n1 = ops.clip_by_global_norm(w, 1.0, n_threads=1)
    c2, n2 = ops.clip_by_global_norm(w, 1.0, n_threads=2)
    assert n1 == n2
    assert_array_equal(c1, c2)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 20000), scale=st.sampled_from([1e-3, 1.0, 1e4]),
       lam=st.floats(0, 10), dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**31 - 1))
def test_property_random_sizes(n, scale, lam, dtype, seed):
    w = (np.random.default_rng(seed).standard_normal(n) * scale).astype(dtype)
    w64 = w.astype(np.float64)
    rtol = RTOL[dtype]
    tiny = float(np.finfo(dtype).tiny)     # below this a gradient underflows in dtype
    for name in PENALTIES:
        v, g = getattr(ops, name)(w, lam)
        v_ref, g_ref = getattr(ref, name)(w64, lam)
        assert_allclose(v, v_ref, rtol=rtol, atol=1e-300)
        assert_allclose(g, g_ref, rtol=rtol, atol=tiny)
    norm = ops.global_norm(w)
    assert_allclose(norm, np.linalg.norm(w64), rtol=1e-12)
    clipped, before = ops.clip_by_global_norm(w, 1.0)
    assert before == norm
    assert np.linalg.norm(clipped.astype(np.float64)) <= 1.0 + 1e-6
    assert_allclose(clipped, ref.clip_by_global_norm(w64, 1.0)[0], rtol=rtol, atol=tiny)


@pytest.mark.parametrize("call,exc,msg", [
    (lambda w: ops.l2_penalty(w, -1.0), ValueError, "lam must be finite and >= 0"),
    (lambda w: ops.l1_penalty(w, float("nan")), ValueError, "lam must be finite"),
    (lambda w: ops.l2_penalty(w, "0.1"), TypeError, "lam must be a real number"),
    (lambda w: ops.clip_by_value(w, 0.0), ValueError, "clip must be finite and > 0"),
    (lambda w: ops.clip_by_value(w, np.inf), ValueError, "clip must be finite"),
    (lambda w: ops.clip_by_global_norm(w, -2.0), ValueError, "max_norm must be finite and > 0"),
    (lambda w: ops.clip_by_global_norm(w, True), TypeError, "max_norm must be a real number"),
    (lambda w: ops.l2_penalty(w.astype(np.int64), 0.1), TypeError, "w must have dtype"),
    (lambda w: ops.global_norm(w[:, ::2]), ValueError, "g must be C-contiguous"),
    (lambda w: ops.global_norm(list(w)), TypeError, "g must be a numpy.ndarray"),
    (lambda w: ops.l2_penalty(w, 0.1, out=np.zeros((4, 5))), ValueError, "out has shape"),
    (lambda w: ops.l1_penalty(w, 0.1, out=np.zeros((4, 6), np.float32)), TypeError,
     "out has dtype float32, expected float64"),
    (lambda w: ops.clip_by_value(w, 1.0, out=np.zeros(24)), ValueError, "out has shape"),
    (lambda w: ops.global_norm(w, n_threads=0), ValueError, "n_threads must be >= 1"),
])
def test_bad_input_is_named(call, exc, msg):
    w = np.ones((4, 6))
    with pytest.raises(exc, match=msg):
        call(w)
    assert_array_equal(w, 1.0)                 # nothing was touched before the error


def test_global_norm_beyond_the_stack_buffer_of_chunk_sums():
    """More than 1024 chunks of 4096 takes the heap path of the chunked reduction."""
    g = np.random.default_rng(3).standard_normal(1024 * 4096 + 12345).astype(np.float32)
    expected = np.sqrt(np.sum(g.astype(np.float64) ** 2))
    assert_allclose(ops.global_norm(g, n_threads=1), expected, rtol=1e-12)
    assert ops.global_norm(g, n_threads=1) == ops.global_norm(g, n_threads=2)
