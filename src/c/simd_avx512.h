/*
 * simd_avx512.h -- the vector abstraction (V_*) over AVX-512 for kernels written once
 * (gemm_small_impl.h, sparse_impl.h).  The includer defines V_SFX (ps or pd) and MASK_T
 * before using the macros; compile with the AVX-512 flags (files named *_avx512.c).
 */
#ifndef CGRAD_SIMD_AVX512_H
#define CGRAD_SIMD_AVX512_H
#include <immintrin.h>

#define V_CAT_(a, b) a##b
#define V_CAT(a, b) V_CAT_(a, b)
#define V_FMA(a, b, c) V_CAT(_mm512_fmadd_, V_SFX)(a, b, c)
#define V_ADD(a, b) V_CAT(_mm512_add_, V_SFX)(a, b)
#define V_ZERO() V_CAT(_mm512_setzero_, V_SFX)()
#define V_SET1(x) V_CAT(_mm512_set1_, V_SFX)(x)
#define V_LOAD(p) V_CAT(_mm512_loadu_, V_SFX)(p)
#define V_STORE(p, v) V_CAT(_mm512_storeu_, V_SFX)(p, v)
#define V_MLOAD(p, m) V_CAT(_mm512_maskz_loadu_, V_SFX)(m, p)
#define V_MSTORE(p, m, v) V_CAT(_mm512_mask_storeu_, V_SFX)(p, m, v)
/* Lane l is on when l < n (n <= lanes). */
#define V_MASK(n) ((MASK_T)((1u << (n)) - 1u))
#endif
