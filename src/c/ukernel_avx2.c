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
 */
#include <immintrin.h>
#include "cgrad.h"

void cgrad_ukernel_s6x16_avx2(long kc, const float *restrict Ap, const float *restrict Bp,
                              float *restrict C, long ldc, int accumulate)
{
    __m256 acc[6][2];                           /* zero accumulators */
    for (int i = 0; i < 6; i++) acc[i][0] = acc[i][1] = _mm256_setzero_ps();

    for (long p = 0; p < kc; p++) {             /* kc rank-1 updates */
        __m256 b0 = _mm256_loadu_ps(Bp), b1 = _mm256_loadu_ps(Bp + 8);
        for (int i = 0; i < 6; i++) {
            __m256 a = _mm256_broadcast_ss(Ap + i);
            acc[i][0] = _mm256_fmadd_ps(a, b0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(a, b1, acc[i][1]);
        }
        Ap += 6;
        Bp += 16;
    }

    for (int i = 0; i < 6; i++) {               /* store, reading C only when accumulating */
        float *c = C + (long)i * ldc;
        if (accumulate) {
            acc[i][0] = _mm256_add_ps(_mm256_loadu_ps(c), acc[i][0]);
            acc[i][1] = _mm256_add_ps(_mm256_loadu_ps(c + 8), acc[i][1]);
        }
        _mm256_storeu_ps(c, acc[i][0]);
        _mm256_storeu_ps(c + 8, acc[i][1]);
    }
}

void cgrad_ukernel_d6x8_avx2(long kc, const double *restrict Ap, const double *restrict Bp,
                             double *restrict C, long ldc, int accumulate)
{
    __m256d acc[6][2];                          /* zero accumulators */
    for (int i = 0; i < 6; i++) acc[i][0] = acc[i][1] = _mm256_setzero_pd();

    for (long p = 0; p < kc; p++) {             /* kc rank-1 updates */
        __m256d b0 = _mm256_loadu_pd(Bp), b1 = _mm256_loadu_pd(Bp + 4);
        for (int i = 0; i < 6; i++) {
            __m256d a = _mm256_broadcast_sd(Ap + i);
            acc[i][0] = _mm256_fmadd_pd(a, b0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_pd(a, b1, acc[i][1]);
        }
        Ap += 6;
        Bp += 8;
    }

    for (int i = 0; i < 6; i++) {               /* store, reading C only when accumulating */
        double *c = C + (long)i * ldc;
        if (accumulate) {
            acc[i][0] = _mm256_add_pd(_mm256_loadu_pd(c), acc[i][0]);
            acc[i][1] = _mm256_add_pd(_mm256_loadu_pd(c + 4), acc[i][1]);
        }
        _mm256_storeu_pd(c, acc[i][0]);
        _mm256_storeu_pd(c + 4, acc[i][1]);
    }
}
