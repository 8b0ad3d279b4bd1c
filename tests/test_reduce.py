"""Fixed-order reductions (src/c/reduce*.c) and the float32 transpose of packing, on
every ISA this machine runs: bitwise equal to a plain re-implementation of the order
(8 interleaved double accumulators per chunk; column sums row by row in double), since
training results must not depend on the ISA."""
import numpy as np
import pytest
from numpy.testing import assert_array_equal

from cgrad import _core

from conftest import ALL_ISAS as ISAS
REDUCE_CHUNK = 4096
SIZES = [1, 7, 8, 9, 15, 4095, 4096, 4097, 8193, 12289, 20000, 100003]


def span_sum_ref(x, power):
    """a_j += f(x[i]) for i = j, j+8, ... in float64 (f(v) = v*v as a separate multiply),
    the last n % 8 terms into a_0 in order, then ((a0+a1)+(a2+a3))+((a4+a5)+(a6+a7))."""
    v = np.asarray(x, dtype=np.float64)
    t = v * v if power == 2 else np.abs(v) if power == 0 else v
    n8 = len(t) - len(t) % 8
    acc = np.zeros(8)
    for block in t[:n8].reshape(-1, 8):       # one rounded add per accumulator per block
        acc = acc + block
    a = [float(c) for c in acc]
    for term in t[n8:]:
        a[0] = a[0] + float(term)
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]))


def chunked_sum_ref(x, power, chunk=REDUCE_CHUNK):
    total = 0.0
    for lo in range(0, len(x), chunk):
        total = total + span_sum_ref(x[lo:lo + chunk], power)
    return total


def spread(rng, n, dtype):
    """Values over six decades with both signs, so a changed order changes the bits."""
    return (rng.standard_normal(n) * 10.0 ** rng.integers(-3, 4, n)).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("power", [0, 1, 2])
@pytest.mark.parametrize("chunk", [1, 5, 8, 24, 4096])
def test_chunk_sums_order(isa, dtype, power, chunk, rng):
    # n = 137 covers every group size (4 full chunks side by side, then 1-3 with a
    # partial last one) for the small chunks; 4353 is W2's flat gradient.
    for n in (1, 7, 9, 137, 4353):
        x = spread(rng, n, dtype)
        got = _core.chunk_sums(x, chunk, power)
        want = [span_sum_ref(x[lo:lo + chunk], power) for lo in range(0, n, chunk)]
        assert got == want, (n, chunk)


def test_chunk_sums_empty_and_bad_input():
    assert _core.chunk_sums(np.zeros(0, np.float32), 8, 2) == []
    with pytest.raises(ValueError, match="chunk"):
        _core.chunk_sums(np.zeros(3), 0, 2)
    with pytest.raises(ValueError, match="power"):
        _core.chunk_sums(np.zeros(3), 8, 3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", SIZES)
def test_chunked_sums_match_order(isa, dtype, n, rng):
    """l2 with lam 2 and l1 with lam 1 return exactly the chunked sum of x^2 and |x|,
    with or without a gradient to accumulate into (the training loop's case); the
    global norm is its square root; 1 and 2 threads give the same bits."""
    x = spread(rng, n, dtype)
    sq, ab = chunked_sum_ref(x, 2), chunked_sum_ref(x, 0)
    for nt in (1, 2):
        assert _core.l2_penalty_value_grad(x, None, 2.0, nt) == sq
        assert _core.l1_penalty_value_grad(x, None, 1.0, nt) == ab
        assert _core.global_norm_of(x, nt) == np.sqrt(sq)
        g = np.zeros_like(x)
        assert _core.l2_penalty_value_grad(x, g, 2.0, nt) == sq
        np.testing.assert_array_equal(g, x * dtype(2.0))
        g = np.zeros_like(x)
        assert _core.l1_penalty_value_grad(x, g, 1.0, nt) == ab
        np.testing.assert_array_equal(g, np.sign(x))


def test_sum_not_fused(isa):
    """a += v*v rounds v*v first, then the add (no FMA).  Lane 0 gets 2^-54 twice
    (a_0 = 2^-53 exactly), then v = 1 + 2^-27: v*v = 1 + 2^-26 + 2^-54 rounds to
    1 + 2^-26, and 2^-53 + that is a tie that rounds to even, 1 + 2^-26; a fused
    multiply-add keeps the 2^-54 and rounds up to 1 + 2^-26 + 2^-52."""
    small, v = 2.0 ** -27, 1.0 + 2.0 ** -27
    want = (small * small + small * small) + v * v          # Python: never fused
    assert want == 1.0 + 2.0 ** -26 and want != 1.0 + 2.0 ** -26 + 2.0 ** -52
    for n in (17, 24):                 # element 16: the tail of 17, a vector lane of 24
        x = np.zeros(n)
        x[0], x[8], x[16] = small, small, v
        assert _core.chunk_sums(x, 32, 2) == [want]


def column_sums_ref(dz, db0, accumulate):
    acc = np.zeros(dz.shape[1])
    for row in dz.astype(np.float64):                 # rows in order, in double
        acc = acc + row
    return (db0.astype(np.float64) + acc).astype(dz.dtype) if accumulate else acc.astype(dz.dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("N, OUT", [(1, 1), (32, 1), (3, 7), (32, 64), (5, 9), (17, 63),
                                    (33, 65), (9, 130), (128, 256), (2, 300)])
@pytest.mark.parametrize("accumulate", [False, True])
def test_column_sums_order(isa, dtype, N, OUT, accumulate, rng):
    dz = spread(rng, N * OUT, dtype).reshape(N, OUT)
    x = rng.standard_normal((N, 2)).astype(dtype)
    W = np.zeros((2, OUT), dtype)
    db0 = rng.standard_normal(OUT).astype(dtype)
    db = db0.copy()
    dW = np.zeros((2, OUT), dtype)
    _core.linear_backward(dz, x, W, dW, db, None, accumulate, 1)
    assert_array_equal(db, column_sums_ref(dz, db0, accumulate))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_column_sums_threads(isa, dtype, rng):
    dz = spread(rng, 300 * 200, dtype).reshape(300, 200)       # several column blocks
    x = rng.standard_normal((300, 3)).astype(dtype)
    W = np.zeros((3, 200), dtype)
    out = []
    for nt in (1, 2):
        db, dW = np.zeros(200, dtype), np.zeros((3, 200), dtype)
        _core.linear_backward(dz, x, W, dW, db, None, False, nt)
        out.append(db)
    assert_array_equal(out[0], out[1])
    assert_array_equal(out[0], column_sums_ref(dz, np.zeros(200, dtype), False))


@pytest.mark.parametrize("nopack", [False, True])
@pytest.mark.parametrize("M, K", [(1, 1), (3, 5), (8, 8), (13, 29), (64, 64), (33, 100),
                                  (12, 1030), (70, 1100)])
def test_transposes_are_exact_copies(isa, nopack, M, K, rng):
    """A @ B.T with A = I copies B.T, and A @ I with A not transposed copies A: both run
    the float32 transposes of packing (and the no-pack path's B.T copy)."""
    prev = _core.gemm_set_nopack_threshold(1e18 if nopack else 0.0)
    try:
        B = rng.standard_normal((M, K)).astype(np.float32)
        C = np.full((K, M), np.nan, np.float32)
        _core.gemm(0, 1, 1.0, np.eye(K, dtype=np.float32), B, 0.0, C, 1)
        assert_array_equal(C, B.T)
        C2 = np.full((M, K), np.nan, np.float32)
        _core.gemm(0, 0, 1.0, B, np.eye(K, dtype=np.float32), 0.0, C2, 1)
        assert_array_equal(C2, B)
    finally:
        _core.gemm_set_nopack_threshold(prev)
