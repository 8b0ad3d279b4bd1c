/*
 * ukernel_ref.c -- portable C micro-kernels (the BLIS reference shape), always built.
 * Tile: MR x NR = 4 x 8 for float32 and float64.  Same signature and contract as the
 * SIMD kernels (cgrad.h): C[4 x 8] (= or +=) Ap * Bp; accumulate == 0 never reads C.
 * Every element sums acc += Ap[i] * Bp[j] (product rounded, then the sum) from 0 in
 * increasing k, as gemm_small (gemm_driver.h) does: the same bits.  On aarch64 GCC's
 * default -ffp-contract=fast (gnu11) fuses both into FMLA, so there both are fused.
 *
 * With GCC or clang the tile is written in 16-byte vector types (vector extensions,
 * whatever the target: SSE2 on baseline x86-64, NEON on arm64): each k is then one
 * splat of A[i] per row and whole-vector multiplies and adds.  GCC vectorised the
 * plain loops below (other compilers) with extra shuffles (reversed B vectors) and
 * more stack traffic.  float64's tile is 16 vectors, all of SSE2's registers, so a
 * few of its accumulators still pass through the stack.
 */
#include <string.h>
#include "cgrad.h"

#define REF_MR 4
#define REF_NR 8

#if defined(__GNUC__) || defined(__clang__)
typedef float ref_vs __attribute__((vector_size(16)));
typedef double ref_vd __attribute__((vector_size(16)));

/* NAME: T scalars, VT vectors of W lanes; NV = REF_NR / W vectors per row. */
#define DEFINE_REF_UKERNEL(NAME, T, VT, W)                                             \
void NAME(long kc, const T *restrict Ap, const T *restrict Bp, T *restrict C, long ldc, \
          int accumulate)                                                              \
{                                                                                      \
    enum { NV = REF_NR / (W) };                                                        \
    VT acc[REF_MR][NV];                            /* zero accumulators */             \
    _Pragma("GCC unroll 16") for (int i = 0; i < REF_MR; i++)                          \
        _Pragma("GCC unroll 16") for (int v = 0; v < NV; v++) acc[i][v] = (VT){0};     \
    for (long p = 0; p < kc; p++) {                /* kc rank-1 updates */             \
        VT b[NV];                                                                      \
        _Pragma("GCC unroll 16") for (int v = 0; v < NV; v++)                          \
            memcpy(&b[v], Bp + v * (W), sizeof(VT));                                   \
        _Pragma("GCC unroll 16") for (int i = 0; i < REF_MR; i++) {                    \
            VT a;                                                                      \
            _Pragma("GCC unroll 16") for (int l = 0; l < (W); l++) a[l] = Ap[i];       \
            _Pragma("GCC unroll 16") for (int v = 0; v < NV; v++)                      \
                acc[i][v] += a * b[v];                                                 \
        }                                                                              \
        Ap += REF_MR;                                                                  \
        Bp += REF_NR;                                                                  \
    }                                                                                  \
    _Pragma("GCC unroll 16") for (int i = 0; i < REF_MR; i++) { /* store; read C */    \
        T *c = C + (long)i * ldc;                                  /* only to add */   \
        _Pragma("GCC unroll 16") for (int v = 0; v < NV; v++) {                        \
            VT r = acc[i][v];                                                          \
            if (accumulate) {                                                          \
                VT old;                                                                \
                memcpy(&old, c + v * (W), sizeof(VT));                                 \
                r = old + r;                                                           \
            }                                                                          \
            memcpy(c + v * (W), &r, sizeof(VT));                                       \
        }                                                                              \
    }                                                                                  \
}

DEFINE_REF_UKERNEL(cgrad_ukernel_s4x8_ref, float, ref_vs, 4)
DEFINE_REF_UKERNEL(cgrad_ukernel_d4x8_ref, double, ref_vd, 2)

#else
#define DEFINE_REF_UKERNEL(NAME, T)                                                    \
void NAME(long kc, const T *restrict Ap, const T *restrict Bp, T *restrict C, long ldc, \
          int accumulate)                                                              \
{                                                                                      \
    T acc[REF_MR][REF_NR] = {{0}};                 /* zero accumulators */             \
    for (long p = 0; p < kc; p++) {                /* kc rank-1 updates */             \
        for (int i = 0; i < REF_MR; i++)                                               \
            for (int j = 0; j < REF_NR; j++)                                           \
                acc[i][j] += Ap[i] * Bp[j];                                            \
        Ap += REF_MR;                                                                  \
        Bp += REF_NR;                                                                  \
    }                                                                                  \
    for (int i = 0; i < REF_MR; i++) {             /* store; read C only to add */     \
        T *c = C + (long)i * ldc;                                                      \
        for (int j = 0; j < REF_NR; j++)                                               \
            c[j] = accumulate ? c[j] + acc[i][j] : acc[i][j];                          \
    }                                                                                  \
}

DEFINE_REF_UKERNEL(cgrad_ukernel_s4x8_ref, float)
DEFINE_REF_UKERNEL(cgrad_ukernel_d4x8_ref, double)
#endif
