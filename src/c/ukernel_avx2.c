/*
 * ukernel_avx2.c -- GEMM micro-kernels for AVX2+FMA (per-file flags -mavx2 -mfma).
 * Tiles: float32 MR x NR = 6 x 16, float64 6 x 8: 12 ymm accumulators of 16 registers.
 *
 *   C[MR x NR] (= or +=) Ap * Bp        (BLIS: C11 := beta*C11 + A1*B1, beta in {0,1})
 *
 * Ap: k-major MR values per k; Bp: k-major NR values per k (pack.c, zero-padded).
 * C row-major with stride ldc; vectors run along NR (contiguous in C).
 * accumulate == 0 => C is never read.  Full tiles only (gemm.c handles edges).
 * Reached only through dispatch.c, after checking the CPU and OS support AVX2.
 *
 * The accumulators are twelve named variables, not an array: with 16 ymm registers
 * GCC kept an acc[6][2] array in registers but also stored 10 of its 12 vectors to
 * the stack on every k (10 stores next to 12 FMAs; the store port, not the FMA units,
 * set the pace).  Named variables leave nothing to spill: 12 accumulators, 2 B
 * vectors and 1 broadcast of A.
 */
#include <immintrin.h>
#include "cgrad.h"

/* Row i of the tile: accumulators c<i>0 (columns 0..W-1) and c<i>1 (W..2W-1). */
#define UK_RANK1_ROW(VT, i)                                                            \
    {                                                                                  \
        const VT a = V_SET1(Ap[i]);                                                    \
        c##i##0 = V_FMA(a, b0, c##i##0);                                               \
        c##i##1 = V_FMA(a, b1, c##i##1);                                               \
    }
#define UK_STORE_ROW(T, W, i)                                                          \
    {                                                                                  \
        T *c = C + (long)(i) * ldc;                                                    \
        if (accumulate) {                                                              \
            c##i##0 = V_ADD(V_LOAD(c), c##i##0);                                       \
            c##i##1 = V_ADD(V_LOAD(c + (W)), c##i##1);                                 \
        }                                                                              \
        V_STORE(c, c##i##0);                                                           \
        V_STORE(c + (W), c##i##1);                                                     \
    }

/* A 6 x 2W tile, W lanes per vector (V_SFX selects ps or pd). */
#define DEFINE_UKERNEL_6X2V(NAME, T, VT, W)                                            \
void NAME(long kc, const T *restrict Ap, const T *restrict Bp, T *restrict C, long ldc, \
          int accumulate)                                                              \
{                                                                                      \
    /* zero accumulators */                                                            \
    VT c00 = V_ZERO(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;          \
    VT c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;                  \
                                                                                       \
    for (long p = 0; p < kc; p++) {             /* kc rank-1 updates */                \
        const VT b0 = V_LOAD(Bp), b1 = V_LOAD(Bp + (W));                               \
        UK_RANK1_ROW(VT, 0) UK_RANK1_ROW(VT, 1) UK_RANK1_ROW(VT, 2)                    \
        UK_RANK1_ROW(VT, 3) UK_RANK1_ROW(VT, 4) UK_RANK1_ROW(VT, 5)                    \
        Ap += 6;                                                                       \
        Bp += 2 * (W);                                                                 \
    }                                                                                  \
                                                                                       \
    /* store, reading C only when accumulating */                                     \
    UK_STORE_ROW(T, W, 0) UK_STORE_ROW(T, W, 1) UK_STORE_ROW(T, W, 2)                  \
    UK_STORE_ROW(T, W, 3) UK_STORE_ROW(T, W, 4) UK_STORE_ROW(T, W, 5)                  \
}

#define V_SFX ps
#include "simd_avx2.h"
DEFINE_UKERNEL_6X2V(cgrad_ukernel_s6x16_avx2, float, __m256, 8)
#undef V_SFX

#define V_SFX pd
DEFINE_UKERNEL_6X2V(cgrad_ukernel_d6x8_avx2, double, __m256d, 4)
#undef V_SFX
