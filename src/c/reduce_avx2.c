/*
 * reduce_avx2.c -- span sums, column sums and the float32 transpose with AVX2 (per-file
 * flags, CMakeLists.txt): two ymm hold the 8 double accumulators (lo: a0..a3, hi:
 * a4..a7).  Loop text and the bitwise contract: reduce_impl.h.  fp-contract=off (before
 * the includes, so the intrinsics' bodies carry it too): a*a + s must stay a multiply
 * and an add, never one FMA, to give the baseline build's bits.
 */
#pragma GCC optimize("fp-contract=off")
#include <immintrin.h>

typedef struct { __m256d lo, hi; } r_vec;

static inline r_vec r_make(__m256d lo, __m256d hi)
{
    r_vec v = {lo, hi};
    return v;
}
static inline r_vec r_add(r_vec a, r_vec b)
{
    return r_make(_mm256_add_pd(a.lo, b.lo), _mm256_add_pd(a.hi, b.hi));
}
static inline r_vec r_load_s(const float *p)
{
    return r_make(_mm256_cvtps_pd(_mm_loadu_ps(p)), _mm256_cvtps_pd(_mm_loadu_ps(p + 4)));
}
static inline r_vec r_load_d(const double *p)
{
    return r_make(_mm256_loadu_pd(p), _mm256_loadu_pd(p + 4));
}
/* lane masks for the first n (0..8) elements: nothing past them is read */
static inline __m256i r_mask(long n)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
static inline r_vec r_loadn_s(const float *p, long n)
{
    __m256 x = _mm256_maskload_ps(p, r_mask(n));
    return r_make(_mm256_cvtps_pd(_mm256_castps256_ps128(x)),
                  _mm256_cvtps_pd(_mm256_extractf128_ps(x, 1)));
}
static inline r_vec r_loadn_d(const double *p, long n)
{
    /* 64-bit lane masks: element k is live if k < n */
    const __m256i k_lo = _mm256_setr_epi64x(0, 1, 2, 3), k_hi = _mm256_setr_epi64x(4, 5, 6, 7);
    const __m256i nn = _mm256_set1_epi64x(n);
    return r_make(_mm256_maskload_pd(p, _mm256_cmpgt_epi64(nn, k_lo)),
                  _mm256_maskload_pd(p + 4, _mm256_cmpgt_epi64(nn, k_hi)));
}
static inline r_vec r_term(r_vec v, int power)
{
    if (power == 2) return r_make(_mm256_mul_pd(v.lo, v.lo), _mm256_mul_pd(v.hi, v.hi));
    if (power == 0) {
        const __m256d sign = _mm256_set1_pd(-0.0);
        return r_make(_mm256_andnot_pd(sign, v.lo), _mm256_andnot_pd(sign, v.hi));
    }
    return v;
}
static inline void r_store(double *p, r_vec v)
{
    _mm256_storeu_pd(p, v.lo);
    _mm256_storeu_pd(p + 4, v.hi);
}

#define R_ISA avx2
#define R_VEC r_vec
#define R_ZERO() r_make(_mm256_setzero_pd(), _mm256_setzero_pd())
#define R_ADD(a, b) r_add(a, b)
#define R_STORE(p, v) r_store(p, v)
#define R_LOAD_s(p) r_load_s(p)
#define R_LOAD_d(p) r_load_d(p)
#define R_LOADN_s(p, n) r_loadn_s(p, n)
#define R_LOADN_d(p, n) r_loadn_d(p, n)
#define R_TERM_s(p, power) r_term(r_load_s(p), power)
#define R_TERM_d(p, power) r_term(r_load_d(p), power)

#include "reduce_impl.h"

R_DEFINE_SUM(s, float)
R_DEFINE_SUM(d, double)
R_DEFINE_COLSUM(s, float)
R_DEFINE_COLSUM(d, double)
