/*
 * sparse_avx2.c -- C = S @ B for compressed sparse rows S, AVX2 + FMA (per-file flags):
 * column blocks of up to 8 ymm accumulators (64 floats / 32 doubles of a row of C).  The
 * kernel and its bitwise contract with the dense GEMM are in sparse_impl.h.
 */
#include "cgrad.h"
#include "simd_avx2.h"

#define SP_NVMAX 8

#define T float
#define V __m256
#define VL 8
#define V_SFX ps
#define SP_NAME cgrad_sspmm_rows_avx2
#include "sparse_impl.h"
#undef T
#undef V
#undef VL
#undef V_SFX
#undef SP_NAME

#define T double
#define V __m256d
#define VL 4
#define V_SFX pd
#define SP_NAME cgrad_dspmm_rows_avx2
#include "sparse_impl.h"
