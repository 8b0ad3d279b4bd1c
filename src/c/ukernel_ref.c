/*
 * ukernel_ref.c -- portable C micro-kernels (the BLIS reference shape), always built.
 * Tile: MR x NR = 4 x 8 for float32 and float64.  Same signature and contract as the
 * SIMD kernels (cgrad.h): C[4 x 8] (= or +=) Ap * Bp; accumulate == 0 never reads C.
 * The constant trip counts let the compiler keep the tile in registers and vectorise
 * at the baseline ISA (SSE2 on x86-64).
 */
#include "cgrad.h"

#define REF_MR 4
#define REF_NR 8

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
