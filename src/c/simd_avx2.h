/*
 * simd_avx2.h -- the vector abstraction (V_*) over AVX2 + FMA for kernels written once
 * (gemm_small_impl.h, sparse_impl.h).  The includer defines V_SFX (ps or pd); masks are
 * __m256i (MASK_T) and go through vmaskmov, which is slow on some cores, so kernels use
 * it only for a partial last vector.  Compile with the AVX2 flags (files *_avx2.c).
 */
#ifndef CGRAD_SIMD_AVX2_H
#define CGRAD_SIMD_AVX2_H
#include <immintrin.h>

#define V_CAT_(a, b) a##b
#define V_CAT(a, b) V_CAT_(a, b)
#define V_FMA(a, b, c) V_CAT(_mm256_fmadd_, V_SFX)(a, b, c)
#define V_ADD(a, b) V_CAT(_mm256_add_, V_SFX)(a, b)
#define V_ZERO() V_CAT(_mm256_setzero_, V_SFX)()
#define V_SET1(x) V_CAT(_mm256_set1_, V_SFX)(x)
#define V_LOAD(p) V_CAT(_mm256_loadu_, V_SFX)(p)
#define V_STORE(p, v) V_CAT(_mm256_storeu_, V_SFX)(p, v)
#define V_MLOAD(p, m) V_CAT(_mm256_maskload_, V_SFX)(p, m)
#define V_MSTORE(p, m, v) V_CAT(_mm256_maskstore_, V_SFX)(p, m, v)
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
#endif
