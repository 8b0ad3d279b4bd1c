/*
 * gemm_small_avx2.c -- the no-pack GEMM for small problems, AVX2 + FMA (per-file flags).
 * Blocks of 6 rows x 2 ymm (16 floats / 8 doubles): 12 accumulators of 16 registers;
 * a partial last vector goes through vmaskmov (full vectors never do: it is slow on
 * some cores).  The kernel text and its bitwise contract with ukernel_avx2.c are in
 * gemm_small_impl.h.  Reached only through gemm_driver.h when dispatch.c selected avx2.
 */
#include <immintrin.h>
#include "cgrad.h"

#define SM_RMAX 6
#define SM_FULL_MASKED 0
#define V_FMA(a, b, c) V_CAT(_mm256_fmadd_, V_SFX)(a, b, c)
#define V_ADD(a, b) V_CAT(_mm256_add_, V_SFX)(a, b)
#define V_ZERO() V_CAT(_mm256_setzero_, V_SFX)()
#define V_SET1(x) V_CAT(_mm256_set1_, V_SFX)(x)
#define V_LOAD(p) V_CAT(_mm256_loadu_, V_SFX)(p)
#define V_STORE(p, v) V_CAT(_mm256_storeu_, V_SFX)(p, v)
#define V_MLOAD(p, m) V_CAT(_mm256_maskload_, V_SFX)(p, m)
#define V_MSTORE(p, m, v) V_CAT(_mm256_maskstore_, V_SFX)(p, m, v)
#define V_CAT_(a, b) a##b
#define V_CAT(a, b) V_CAT_(a, b)
/* Lane l is on when l < n (the sign bit of each 32/64-bit lane selects). */
#define V_MASK(n) V_CAT(lane_mask_, V_SFX)(n)
static inline __m256i lane_mask_ps(long n)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
static inline __m256i lane_mask_pd(long n)
{
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3));
}

#define MASK_T __m256i
#define T float
#define V __m256
#define VL 8
#define V_SFX ps
#define SM_NAME cgrad_sgemm_small_avx2
#include "gemm_small_impl.h"
#undef T
#undef V
#undef VL
#undef V_SFX
#undef SM_NAME

#define T double
#define V __m256d
#define VL 4
#define V_SFX pd
#define SM_NAME cgrad_dgemm_small_avx2
#include "gemm_small_impl.h"
