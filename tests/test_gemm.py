"""GEMM: every available micro-kernel ISA x transposes x edge shapes against float64
NumPy, the beta rules (0: C never read, 1: accumulate, other: scale), thread-count
independence (bitwise), the no-pack path giving the packed path's bits, and input
validation."""
from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from cgrad import _core, ops, reference as ref
from conftest import DTYPES

ISAS = _core.isa_supported()
TRANS = [(False, False), (True, False), (False, True), (True, True)]
# Sizes that are not multiples of MR/NR (4/6/12, 8/16/32), the tiny no-pack path, and
# K values crossing KC (256) once and twice.
EDGE_SHAPES = [(1, 1, 1), (3, 17, 33), (17, 3, 1), (33, 257, 17), (257, 33, 300),
               (1000, 17, 3), (13, 1000, 513), (128, 256, 784), (64, 10, 128)]
EPS = {np.float32: 2e-6, np.float64: 1e-14}


def _operands(rng, M, N, K, transA, transB, dtype):
    A = rng.standard_normal((K, M) if transA else (M, K)).astype(dtype)
    B = rng.standard_normal((N, K) if transB else (K, N)).astype(dtype)
    return A, B


def _truth(A, B, transA, transB, alpha=1.0, beta=0.0, C=None):
    A64, B64 = A.astype(np.float64), B.astype(np.float64)
    C64 = None if C is None else C.astype(np.float64)
    return ref.gemm(A64, B64, transA, transB, alpha, beta, C64)


def _tol(dtype, K, scale=1.0):
    """Rounding error of a K-term dot product of O(1) values grows like sqrt(K)."""
    return EPS[dtype] * 8 * np.sqrt(K) * scale


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("transA,transB", TRANS)
@pytest.mark.parametrize("M,N,K", EDGE_SHAPES)
def test_gemm_matches_float64_numpy(rng, isa, M, N, K, transA, transB, dtype):
    A, B = _operands(rng, M, N, K, transA, transB, dtype)
    C = np.full((M, N), np.nan, dtype)         # beta == 0: C must never be read
    out = ops.gemm(A, B, transA, transB, C=C, n_threads=2)
    assert out is C
    assert np.isfinite(C).all()
    assert_allclose(C, _truth(A, B, transA, transB), rtol=0, atol=_tol(dtype, K))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("transA,transB", TRANS)
def test_gemm_crossing_every_block(rng, isa, transA, transB, dtype):
    """K crosses KC, M crosses MC and N crosses NC (two B panels)."""
    blk = _core.gemm_blocking()[np.dtype(dtype).name]
    M, N, K = blk["mc"] + 5, blk["nc"] + blk["nr"] + 3, blk["kc"] + 7
    A, B = _operands(rng, M, N, K, transA, transB, dtype)
    C = ops.gemm(A, B, transA, transB, n_threads=2)
    assert_allclose(C, _truth(A, B, transA, transB), rtol=0, atol=_tol(dtype, K))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("M,N,K", [(3, 5, 7), (40, 50, 60), (130, 67, 300), (130, 7, 300)])
# tiny and small (no-pack), packed, narrow (packed transposed)
@pytest.mark.parametrize("alpha,beta", [(1.0, 1.0), (0.5, -2.0), (-1.5, 0.25), (0.0, 3.0)])
def test_gemm_alpha_beta(rng, isa, M, N, K, alpha, beta, dtype):
    for transA, transB in TRANS:
        A, B = _operands(rng, M, N, K, transA, transB, dtype)
        C0 = rng.standard_normal((M, N)).astype(dtype)
        C = C0.copy()
        ops.gemm(A, B, transA, transB, alpha, beta, C, n_threads=2)
        scale = abs(alpha) + abs(beta)
        assert_allclose(C, _truth(A, B, transA, transB, alpha, beta, C0), rtol=0,
                        atol=_tol(dtype, K, scale))


def test_gemm_beta_one_accumulates_twice(rng, isa):
    A, B = _operands(rng, 50, 70, 90, False, False, np.float64)
    C = np.zeros((50, 70))
    ops.gemm(A, B, beta=1.0, C=C)
    ops.gemm(A, B, beta=1.0, C=C)
    assert_allclose(C, 2 * (A @ B), rtol=1e-12, atol=1e-12)


def test_gemm_empty_k_scales_c(isa):
    A, B = np.empty((4, 0)), np.empty((0, 3))
    assert_array_equal(ops.gemm(A, B, C=np.full((4, 3), np.nan)), np.zeros((4, 3)))
    C = np.ones((4, 3))
    ops.gemm(A, B, beta=2.0, C=C)
    assert_array_equal(C, 2 * np.ones((4, 3)))
    assert ops.gemm(np.empty((0, 5)), np.ones((5, 2))).shape == (0, 2)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("transA,transB", TRANS)
@pytest.mark.parametrize("M,N,K", [(257, 300, 513), (1000, 33, 100), (128, 784, 256)])
def test_gemm_one_and_two_threads_are_bitwise_equal(rng, isa, M, N, K, transA, transB, dtype):
    A, B = _operands(rng, M, N, K, transA, transB, dtype)
    C0 = rng.standard_normal((M, N)).astype(dtype)
    c1, c2 = C0.copy(), C0.copy()
    ops.gemm(A, B, transA, transB, 1.0, 1.0, c1, n_threads=1)
    ops.gemm(A, B, transA, transB, 1.0, 1.0, c2, n_threads=2)
    assert_array_equal(c1, c2)
    assert not np.array_equal(c1, C0)


@contextmanager
def nopack_threshold(mnk):
    """Run the block with GEMM's no-pack threshold at mnk (0: always pack)."""
    before = _core.gemm_set_nopack_threshold(mnk)
    try:
        yield
    finally:
        assert _core.gemm_set_nopack_threshold(before) == mnk


# The W2 training step (2-64-64-1, batch 32) and edges: N under a vector, K crossing
# every ISA's KC (256/384) once and twice, a single element.
SMALL_SHAPES = [(32, 64, 64), (64, 64, 32), (32, 64, 2), (2, 64, 32), (32, 1, 64),
                (64, 1, 32), (32, 64, 1), (13, 45, 513), (9, 17, 800), (1, 1, 1), (17, 33, 7)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("transA,transB", TRANS)
@pytest.mark.parametrize("M,N,K", SMALL_SHAPES)
@pytest.mark.parametrize("beta", [0.0, 1.0, 0.5])
def test_nopack_path_is_bitwise_the_packed_path(rng, isa, M, N, K, transA, transB, beta,
                                                dtype):
    """Same ISA, alpha == 1: both paths sum every K-term in the same order with the same
    FMAs, so which path a shape takes never shows in the result."""
    A, B = _operands(rng, M, N, K, transA, transB, dtype)
    C0 = rng.standard_normal((M, N)).astype(dtype)
    packed, small = C0.copy(), C0.copy()
    with nopack_threshold(0.0):
        ops.gemm(A, B, transA, transB, 1.0, beta, packed, n_threads=2)
    with nopack_threshold(float(M * N * K)):
        ops.gemm(A, B, transA, transB, 1.0, beta, small, n_threads=2)
    assert_array_equal(small, packed)
    assert_allclose(small, _truth(A, B, transA, transB, 1.0, beta, C0), rtol=0,
                    atol=_tol(dtype, K, 1 + beta))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("transA,transB", TRANS)
@pytest.mark.parametrize("alpha", [0.5, -1.5])
@pytest.mark.parametrize("M,N,K", [(13, 29, 300), (7, 13, 5), (9, 3, 40)])
def test_nopack_path_is_bitwise_the_packed_path_scaled(rng, isa, M, N, K, transA, transB,
                                                       alpha, dtype):
    """alpha != 1 too: both paths scale op(A)[i,k] by alpha before the product (pack_A
    does it once, the no-pack kernels per k).  N = 29 puts a masked second vector in a
    block on every ISA and dtype (the scaled, masked variants whose mask avx2 reads from
    memory), 3 and 13 the partial last vectors of the generic kernel; K = 300 crosses
    KC."""
    A, B = _operands(rng, M, N, K, transA, transB, dtype)
    C0 = rng.standard_normal((M, N)).astype(dtype)
    for beta in (0.0, 1.0):
        packed, small = C0.copy(), C0.copy()
        with nopack_threshold(0.0):
            ops.gemm(A, B, transA, transB, alpha, beta, packed, n_threads=1)
        with nopack_threshold(float(M * N * K)):
            ops.gemm(A, B, transA, transB, alpha, beta, small, n_threads=1)
        assert_array_equal(small, packed)
        assert_allclose(small, _truth(A, B, transA, transB, alpha, beta, C0), rtol=0,
                        atol=_tol(dtype, K, abs(alpha) + beta))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("transA,transB", TRANS)
@pytest.mark.parametrize("M,N,K", [(64, 64, 64), (64, 820, 5), (4, 7, 10000)])
def test_default_threshold_straddle_is_invisible(rng, isa, M, N, K, transA, transB, dtype):
    """With the default threshold (just below the parallel one) the full product takes
    the packed path and its first M-1 rows the no-pack path; the shared rows must agree
    bitwise, for 1 and 2 threads, and match NumPy."""
    A, B = _operands(rng, M, N, K, transA, transB, dtype)
    A_top = np.ascontiguousarray(A[:, :-1] if transA else A[:-1])
    full1 = ops.gemm(A, B, transA, transB, n_threads=1)
    full2 = ops.gemm(A, B, transA, transB, n_threads=2)
    top = ops.gemm(A_top, B, transA, transB, n_threads=2)
    assert_array_equal(full1, full2)
    assert_array_equal(top, full1[:-1])
    assert_allclose(full1, _truth(A, B, transA, transB), rtol=0, atol=_tol(dtype, K))


def test_nopack_threshold_setter_round_trips():
    before = _core.gemm_set_nopack_threshold(123.0)
    try:
        assert 1024 <= before < 2 ** 20           # serial path stays under the parallel one
        assert _core.gemm_set_nopack_threshold(456.0) == 123.0
    finally:
        _core.gemm_set_nopack_threshold(before)


def test_blocking_table_is_consistent(isa):
    """The driver's scratch tile holds CGRAD_MR_MAX x CGRAD_NR_MAX (16 x 32), and MC/NC
    are whole numbers of micro-panels."""
    for dtype, blk in _core.gemm_blocking().items():
        assert blk["isa"] == isa
        assert 1 <= blk["mr"] <= 16 and 1 <= blk["nr"] <= 32, (dtype, blk)
        assert blk["mc"] % blk["mr"] == 0 and blk["nc"] % blk["nr"] == 0, (dtype, blk)
        assert blk["kc"] >= 1


def test_isa_kernels_agree_within_rounding(rng):
    """Each ISA really runs (different kernels round differently, but all are right)."""
    A, B = _operands(rng, 100, 90, 400, False, False, np.float32)
    before, results = _core.isa_selected(), {}
    try:
        for name in ISAS:
            _core.set_isa(name)
            assert _core.gemm_blocking()["float32"]["isa"] == name
            results[name] = ops.gemm(A, B)
    finally:
        _core.set_isa(before)
    for C in results.values():
        assert_allclose(C, _truth(A, B, False, False), rtol=0, atol=_tol(np.float32, 400))


@settings(max_examples=40, deadline=None)
@given(M=st.integers(1, 70), N=st.integers(1, 70), K=st.integers(1, 300),
       transA=st.booleans(), transB=st.booleans(), dtype=st.sampled_from(DTYPES),
       isa=st.sampled_from(ISAS), seed=st.integers(0, 2**31 - 1))
def test_property_random_shapes(M, N, K, transA, transB, dtype, isa, seed):
    r = np.random.default_rng(seed)
    A, B = _operands(r, M, N, K, transA, transB, dtype)
    before = _core.isa_selected()
    try:
        _core.set_isa(isa)
        C = ops.gemm(A, B, transA, transB, n_threads=2)
    finally:
        _core.set_isa(before)
    assert_allclose(C, _truth(A, B, transA, transB), rtol=0, atol=_tol(dtype, K))


def test_gemm_bad_input_is_named():
    A, B = np.ones((4, 5)), np.ones((6, 3))
    with pytest.raises(ValueError, match="B has shape \\(6, 3\\), expected op\\(B\\) to have 5"):
        ops.gemm(A, B)
    with pytest.raises(TypeError, match="B has dtype float32, expected float64"):
        ops.gemm(A, np.ones((5, 3), np.float32))
    with pytest.raises(ValueError, match="C has shape \\(4, 4\\), expected \\(4, 3\\)"):
        ops.gemm(A, np.ones((5, 3)), C=np.ones((4, 4)))
    with pytest.raises(ValueError, match="A must be C-contiguous"):
        ops.gemm(np.ones((5, 4)).T, np.ones((5, 3)))
    with pytest.raises(ValueError, match="A must be 2-D"):
        ops.gemm(np.ones(5), np.ones((5, 3)))
    with pytest.raises(ValueError, match="op\\(B\\) has 5 rows, expected 4"):
        _core.gemm(False, False, 1.0, np.ones((3, 4)), np.ones((5, 2)), 0.0, np.ones((3, 2)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("transA,transB", TRANS)
@pytest.mark.parametrize("M,N,K", [(128, 256, 784), (784, 256, 128), (128, 784, 256),
                                   (128, 64, 128), (300, 70, 129), (97, 95, 1000)])
@pytest.mark.parametrize("beta", [0.0, 1.0, 0.5])
def test_medium_shapes_same_bits_on_every_path_and_thread_count(rng, isa, M, N, K, transA,
                                                                 transB, beta, dtype):
    """Medium shapes (the W1 layers) run unpacked on one thread and, on several, as
    unpacked column blocks one per thread: both must give the packed path's bits (and
    each other's), with any beta, on every ISA; the column split takes N = 70 and 95
    (not multiples of the block width) and N = 64 (two blocks)."""
    A, B = _operands(rng, M, N, K, transA, transB, dtype)
    C0 = rng.standard_normal((M, N)).astype(dtype)
    out = {}
    for name, mnk, nt in [("packed", 0.0, 2), ("packed1", 0.0, 1), ("nopack1", None, 1),
                          ("nopack2", None, 2)]:
        c = C0.copy()
        if mnk is None:
            ops.gemm(A, B, transA, transB, 1.0, beta, c, n_threads=nt)
        else:
            with nopack_threshold(mnk):
                ops.gemm(A, B, transA, transB, 1.0, beta, c, n_threads=nt)
        out[name] = c
    for name in ("packed1", "nopack1", "nopack2"):
        assert_array_equal(out[name], out["packed"], err_msg=name)
    assert_allclose(out["packed"], _truth(A, B, transA, transB, 1.0, beta, C0), rtol=0,
                    atol=_tol(dtype, K, 1 + beta))


# The few-rows kernel (gemm_rows_impl.h: M <= 4 and at least 3 vectors of columns, so
# N >= 48 on every ISA and dtype): M = 1..4 and M = 5 (the block kernel) beside it; N not
# a multiple of any vector (its last columns go through the block kernel), N = 1100
# crossing a strip of accumulators for 2..4 rows, K = 1 and K crossing KC (256/384).
FEW_ROWS_SHAPES = [(M, N, K) for M in (1, 2, 3, 4, 5)
                   for N, K in [(48, 1), (67, 5), (130, 300), (1100, 17), (1024, 800)]]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("transA,transB", TRANS)
@pytest.mark.parametrize("M,N,K", FEW_ROWS_SHAPES)
def test_few_rows_kernel_is_bitwise_the_packed_path(rng, isa, M, N, K, transA, transB,
                                                    dtype):
    """Batch-1 inference shapes: the few-rows kernel streams whole rows of B, and must
    still sum every element's K terms in the packed path's order (same bits, with alpha
    scaling and beta 0 / 1 / 0.5), match float64 NumPy, and give the same bits on 1 and
    2 threads (the 2-thread call splits C's columns when M*N*K is large enough)."""
    A, B = _operands(rng, M, N, K, transA, transB, dtype)
    C0 = rng.standard_normal((M, N)).astype(dtype)
    for alpha, beta in [(1.0, 0.0), (1.0, 1.0), (-1.5, 0.5)]:
        packed = C0.copy()
        with nopack_threshold(0.0):
            ops.gemm(A, B, transA, transB, alpha, beta, packed, n_threads=1)
        for nt in (1, 2):
            small = C0.copy()
            ops.gemm(A, B, transA, transB, alpha, beta, small, n_threads=nt)
            assert_array_equal(small, packed, err_msg=f"alpha={alpha} beta={beta} nt={nt}")
        assert_allclose(packed, _truth(A, B, transA, transB, alpha, beta, C0), rtol=0,
                        atol=_tol(dtype, K, abs(alpha) + abs(beta)))
