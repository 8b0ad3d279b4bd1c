/*
 * ukernel_avx512.c -- GEMM micro-kernels for AVX-512F (per-file -mavx512f ... flags).
 * Tiles: float32 MR x NR = 12 x 32, float64 12 x 16: 24 zmm accumulators, 2 for the
 * B row, broadcasts of A folded into the FMAs ({1toN} memory operands).
 *
 *   C[MR x NR] (= or +=) Ap * Bp        (BLIS: C11 := beta*C11 + A1*B1, beta in {0,1})
 *
 * Ap: k-major MR values per k; Bp: k-major NR values per k (pack.c, zero-padded).
 * C row-major with stride ldc; vectors run along NR (contiguous in C).
 * accumulate == 0 => C is never read.  Full tiles only (gemm.c handles edges).
 * Reached only through dispatch.c, after checking the CPU and OS support AVX-512.
 */
#include <immintrin.h>
#include "cgrad.h"

void cgrad_ukernel_s12x32_avx512(long kc, const float *restrict Ap,
                                 const float *restrict Bp, float *restrict C, long ldc,
                                 int accumulate)
{
    __m512 acc[12][2];                          /* zero accumulators */
    for (int i = 0; i < 12; i++) acc[i][0] = acc[i][1] = _mm512_setzero_ps();

    for (long p = 0; p < kc; p++) {             /* kc rank-1 updates */
        __m512 b0 = _mm512_loadu_ps(Bp), b1 = _mm512_loadu_ps(Bp + 16);
        for (int i = 0; i < 12; i++) {
            __m512 a = _mm512_set1_ps(Ap[i]);
            acc[i][0] = _mm512_fmadd_ps(a, b0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(a, b1, acc[i][1]);
        }
        Ap += 12;
        Bp += 32;
    }

    for (int i = 0; i < 12; i++) {              /* store, reading C only when accumulating */
        float *c = C + (long)i * ldc;
        if (accumulate) {
            acc[i][0] = _mm512_add_ps(_mm512_loadu_ps(c), acc[i][0]);
            acc[i][1] = _mm512_add_ps(_mm512_loadu_ps(c + 16), acc[i][1]);
        }
        _mm512_storeu_ps(c, acc[i][0]);
        _mm512_storeu_ps(c + 16, acc[i][1]);
    }
}

void cgrad_ukernel_d12x16_avx512(long kc, const double *restrict Ap,
                                 const double *restrict Bp, double *restrict C, long ldc,
                                 int accumulate)
{
    __m512d acc[12][2];                         /* zero accumulators */
    for (int i = 0; i < 12; i++) acc[i][0] = acc[i][1] = _mm512_setzero_pd();

    for (long p = 0; p < kc; p++) {             /* kc rank-1 updates */
        __m512d b0 = _mm512_loadu_pd(Bp), b1 = _mm512_loadu_pd(Bp + 8);
        for (int i = 0; i < 12; i++) {
            __m512d a = _mm512_set1_pd(Ap[i]);
            acc[i][0] = _mm512_fmadd_pd(a, b0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_pd(a, b1, acc[i][1]);
        }
        Ap += 12;
        Bp += 16;
    }

    for (int i = 0; i < 12; i++) {              /* store, reading C only when accumulating */
        double *c = C + (long)i * ldc;
        if (accumulate) {
            acc[i][0] = _mm512_add_pd(_mm512_loadu_pd(c), acc[i][0]);
            acc[i][1] = _mm512_add_pd(_mm512_loadu_pd(c + 8), acc[i][1]);
        }
        _mm512_storeu_pd(c, acc[i][0]);
        _mm512_storeu_pd(c + 8, acc[i][1]);
    }
}
