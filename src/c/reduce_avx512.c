/*
 * reduce_avx512.c -- span sums, column sums and the float32 transpose with AVX-512
 * (per-file flags, CMakeLists.txt): one zmm holds the 8 double accumulators (lane j is
 * a_j); the float32 loads widen 8 floats with vcvtps2pd.  Loop text and the bitwise
 * contract: reduce_impl.h.  fp-contract=off (before the includes, so the intrinsics'
 * bodies carry it too): a*a + s must stay a multiply and an add, never one FMA, to give
 * the baseline build's bits.
 */
#pragma GCC optimize("fp-contract=off")
#include <immintrin.h>

#define R_ISA avx512
#define R_VEC __m512d
#define R_ZERO() _mm512_setzero_pd()
#define R_ADD(a, b) _mm512_add_pd(a, b)
#define R_STORE(p, v) _mm512_storeu_pd(p, v)
#define R_LOAD_s(p) _mm512_cvtps_pd(_mm256_loadu_ps(p))
#define R_LOAD_d(p) _mm512_loadu_pd(p)
/* the first n (0..8) elements, zeros after: nothing past them is read */
#define R_LOADN_s(p, n) _mm512_cvtps_pd(_mm256_maskz_loadu_ps((__mmask8)((1u << (n)) - 1u), p))
#define R_LOADN_d(p, n) _mm512_maskz_loadu_pd((__mmask8)((1u << (n)) - 1u), p)

static inline __m512d r_term(__m512d v, int power)
{
    if (power == 2) return _mm512_mul_pd(v, v);
    if (power == 0) return _mm512_andnot_pd(_mm512_set1_pd(-0.0), v);
    return v;
}
#define R_TERM_s(p, power) r_term(R_LOAD_s(p), power)
#define R_TERM_d(p, power) r_term(R_LOAD_d(p), power)

#include "reduce_impl.h"

R_DEFINE_SUM(s, float)
R_DEFINE_SUM(d, double)
R_DEFINE_COLSUM(s, float)
R_DEFINE_COLSUM(d, double)
