/*
 * gemm_small_avx512.c -- the no-pack GEMM for small problems, AVX-512 (per-file flags).
 * Blocks of 8 rows x 2 zmm (32 floats / 16 doubles): 16 accumulators; the last vector
 * of a row is masked when N is not a multiple of 16 (8).  The kernel text and its
 * bitwise contract with ukernel_avx512.c are in gemm_small_impl.h.
 * Reached only through gemm_driver.h when dispatch.c selected avx512.
 */
#include "cgrad.h"
#include "simd_avx512.h"

#define SM_RMAX 8
#define SM_FULL_MASKED 1

#define T float
#define V __m512
#define VL 16
#define MASK_T __mmask16
#define V_SFX ps
#define SM_NAME cgrad_sgemm_small_avx512
#include "gemm_small_impl.h"
#undef T
#undef V
#undef VL
#undef MASK_T
#undef V_SFX
#undef SM_NAME

#define T double
#define V __m512d
#define VL 8
#define MASK_T __mmask8
#define V_SFX pd
#define SM_NAME cgrad_dgemm_small_avx512
#include "gemm_small_impl.h"
