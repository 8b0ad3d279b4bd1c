/*
 * ukernel_neon.c -- GEMM micro-kernels for AArch64 Advanced SIMD (NEON), built only on
 * aarch64 (CMakeLists.txt; NEON is part of the AArch64 base ISA, so no run-time check).
 * Tiles: float32 MR x NR = 8 x 12, float64 8 x 6: 8 rows x 3 vectors of 128 bits.
 *
 *   C[MR x NR] (= or +=) Ap * Bp        (BLIS: C11 := beta*C11 + A1*B1, beta in {0,1})
 *
 * Ap: k-major MR values per k; Bp: k-major NR values per k (pack.c, zero-padded).
 * C row-major with stride ldc; vectors run along NR (contiguous in C).
 * accumulate == 0 => C is never read.  Full tiles only (gemm.c handles edges).
 *
 * Registers (32 q registers): 24 accumulators, 3 vectors of B's row k and A's 8 values
 * of column k, which FMLA (by element) reads lane by lane without a broadcast: 2
 * registers in float32 (29 in all), 4 in float64 (31).  float32's 8 x 12 is BLIS's
 * armv8a sgemm tile.  For float64 BLIS uses 6 x 8 (6 rows x 4 vectors, 24 + 4 + 3
 * registers); 8 x 6 costs the same registers and loads per k (7 vector loads, 24
 * FMLAs) and keeps MR = 8 for both dtypes, so one macro writes both kernels and a batch
 * that is a multiple of 8 (32, 64, 128 rows) fills every row panel.  The accumulators
 * are named variables, not an array, as in ukernel_avx2.c.
 *
 * Bits: every element sums acc = fma(A[i], B[j], acc) (one rounding) from 0 in
 * increasing k, then C = acc or C = old C + acc.  That is what the portable no-pack
 * path (gemm_small in gemm_driver.h, used by the neon ISA too) computes on AArch64:
 * CMake compiles with -std=gnu11, whose default -ffp-contract=fast makes GCC fuse its
 * acc += a * b into FMLA/FMADD.  tests/test_aarch64.py checks the two paths agree
 * bitwise (cross-compiled, under qemu).
 */
#if !defined(__aarch64__)
#error "ukernel_neon.c is for AArch64 only (CMakeLists.txt builds it there)"
#endif
#include <arm_neon.h>
#include "cgrad.h"

#define NEON_MR 8
#define NEON_NV 3        /* vectors per row of the tile */

/* Row i of the tile: accumulators c<i>0..c<i>2 += B's row k * A[i] (lane i % W of
 * the A register i / W). */
#define UK_RANK1_ROW(i)                                                                \
    {                                                                                  \
        c##i##0 = V_FMA_LANE(c##i##0, b0, a[(i) / VW], (i) % VW);                      \
        c##i##1 = V_FMA_LANE(c##i##1, b1, a[(i) / VW], (i) % VW);                      \
        c##i##2 = V_FMA_LANE(c##i##2, b2, a[(i) / VW], (i) % VW);                      \
    }
#define UK_STORE_ROW(T, i)                                                             \
    {                                                                                  \
        T *c = C + (long)(i) * ldc;                                                    \
        if (accumulate) {                                                              \
            c##i##0 = V_ADD(V_LOAD(c), c##i##0);                                       \
            c##i##1 = V_ADD(V_LOAD(c + VW), c##i##1);                                  \
            c##i##2 = V_ADD(V_LOAD(c + 2 * VW), c##i##2);                              \
        }                                                                              \
        V_STORE(c, c##i##0);                                                           \
        V_STORE(c + VW, c##i##1);                                                      \
        V_STORE(c + 2 * VW, c##i##2);                                                  \
    }

/* An 8 x 3VW tile; VW lanes per vector, V_* the intrinsics of the dtype. */
#define DEFINE_UKERNEL_8X3V(NAME, T, VT)                                               \
void NAME(long kc, const T *restrict Ap, const T *restrict Bp, T *restrict C, long ldc, \
          int accumulate)                                                              \
{                                                                                      \
    /* zero accumulators */                                                            \
    VT c00 = V_ZERO(), c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00;          \
    VT c20 = c00, c21 = c00, c22 = c00, c30 = c00, c31 = c00, c32 = c00;                  \
    VT c40 = c00, c41 = c00, c42 = c00, c50 = c00, c51 = c00, c52 = c00;                  \
    VT c60 = c00, c61 = c00, c62 = c00, c70 = c00, c71 = c00, c72 = c00;                  \
                                                                                       \
    for (long p = 0; p < kc; p++) {             /* kc rank-1 updates */                \
        const VT b0 = V_LOAD(Bp), b1 = V_LOAD(Bp + VW), b2 = V_LOAD(Bp + 2 * VW);      \
        VT a[NEON_MR / VW];                                                            \
        _Pragma("GCC unroll 4") for (int v = 0; v < NEON_MR / VW; v++)                 \
            a[v] = V_LOAD(Ap + v * VW);                                                \
        UK_RANK1_ROW(0) UK_RANK1_ROW(1) UK_RANK1_ROW(2) UK_RANK1_ROW(3)                \
        UK_RANK1_ROW(4) UK_RANK1_ROW(5) UK_RANK1_ROW(6) UK_RANK1_ROW(7)                \
        Ap += NEON_MR;                                                                 \
        Bp += NEON_NV * VW;                                                            \
    }                                                                                  \
                                                                                       \
    /* store, reading C only when accumulating */                                     \
    UK_STORE_ROW(T, 0) UK_STORE_ROW(T, 1) UK_STORE_ROW(T, 2) UK_STORE_ROW(T, 3)        \
    UK_STORE_ROW(T, 4) UK_STORE_ROW(T, 5) UK_STORE_ROW(T, 6) UK_STORE_ROW(T, 7)        \
}

#define VW 4
#define V_ZERO() vdupq_n_f32(0.0f)
#define V_LOAD(p) vld1q_f32(p)
#define V_STORE(p, v) vst1q_f32(p, v)
#define V_ADD(a, b) vaddq_f32(a, b)
#define V_FMA_LANE(acc, b, a, lane) vfmaq_laneq_f32(acc, b, a, lane)
DEFINE_UKERNEL_8X3V(cgrad_ukernel_s8x12_neon, float, float32x4_t)
#undef VW
#undef V_ZERO
#undef V_LOAD
#undef V_STORE
#undef V_ADD
#undef V_FMA_LANE

#define VW 2
#define V_ZERO() vdupq_n_f64(0.0)
#define V_LOAD(p) vld1q_f64(p)
#define V_STORE(p, v) vst1q_f64(p, v)
#define V_ADD(a, b) vaddq_f64(a, b)
#define V_FMA_LANE(acc, b, a, lane) vfmaq_laneq_f64(acc, b, a, lane)
DEFINE_UKERNEL_8X3V(cgrad_ukernel_d8x6_neon, double, float64x2_t)
