/*
 * gemm_small_avx2.c -- the no-pack GEMM for small problems, AVX2 + FMA (per-file flags).
 * Blocks of 6 rows x 2 ymm (16 floats / 8 doubles): 12 accumulators of 16 registers;
 * a partial last vector goes through vmaskmov (full vectors never do: it is slow on
 * some cores).  The kernel text and its bitwise contract with ukernel_avx2.c are in
 * gemm_small_impl.h.  Reached only through gemm_driver.h when dispatch.c selected avx2.
 */
#include "cgrad.h"
#include "simd_avx2.h"

#define SM_RMAX 6
#define SM_FULL_MASKED 0
#define SM_MASK_IN_MEMORY 1

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
