/*
 * reduce.c -- baseline (SSE2) builds of the fixed-order reductions and their per-call
 * ISA dispatch (contract in cgrad.h; SIMD versions: reduce_impl.h).  These loops are the
 * reference order: the SIMD files must give their bits.  fp-contract=off as in the SIMD
 * files, so a -march=native dev build (CGRAD_NATIVE) cannot fuse v*v + a either.
 */
#pragma GCC optimize("fp-contract=off")
#include <math.h>
#include "cgrad.h"

/* 8 interleaved accumulators: independent add chains, a fixed order. */
#define DEFINE_SPAN(SFX, T)                                                              \
static double SFX##span_sum(const T *x, long n, int power)                              \
{                                                                                        \
    double a[8] = {0, 0, 0, 0, 0, 0, 0, 0};                                              \
    const long n8 = n - n % 8;                                                           \
    long i = 0;                                                                          \
    if (power == 2) {                                                                    \
        for (; i < n8; i += 8)                                                           \
            for (int j = 0; j < 8; j++) {                                                \
                const double v = x[i + j];                                               \
                a[j] += v * v;                                                           \
            }                                                                            \
        for (; i < n; i++) {                                                             \
            const double v = x[i];                                                       \
            a[0] += v * v;                                                               \
        }                                                                                \
    } else if (power == 0) {                                                             \
        for (; i < n8; i += 8)                                                           \
            for (int j = 0; j < 8; j++) a[j] += fabs((double)x[i + j]);                  \
        for (; i < n; i++) a[0] += fabs((double)x[i]);                                   \
    } else {                                                                             \
        for (; i < n8; i += 8)                                                           \
            for (int j = 0; j < 8; j++) a[j] += (double)x[i + j];                        \
        for (; i < n; i++) a[0] += (double)x[i];                                         \
    }                                                                                    \
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));            \
}                                                                                        \
                                                                                         \
void cgrad_##SFX##sum_chunks_generic(const T *x, long n, long chunk, int power,         \
                                     double *out)                                        \
{                                                                                        \
    for (long c = 0; c * chunk < n; c++)                                                 \
        out[c] = SFX##span_sum(x + c * chunk,                                            \
                               n - c * chunk < chunk ? n - c * chunk : chunk, power);    \
}                                                                                        \
                                                                                         \
void cgrad_##SFX##column_sums_generic(const T *dz, long ldz, long N, long ncols, T *db,  \
                                      int accumulate)                                   \
{                                                                                        \
    double acc[64];                                                                      \
    for (long j0 = 0; j0 < ncols; j0 += 64) {                                            \
        const long w = ncols - j0 < 64 ? ncols - j0 : 64;                                \
        for (long j = 0; j < w; j++) acc[j] = 0.0;                                       \
        for (long i = 0; i < N; i++) {                                                   \
            const T *row = dz + i * ldz + j0;                                            \
            for (long j = 0; j < w; j++) acc[j] += row[j];                               \
        }                                                                                \
        for (long j = 0; j < w; j++)                                                     \
            db[j0 + j] = accumulate ? (T)(db[j0 + j] + acc[j]) : (T)acc[j];              \
    }                                                                                    \
}

DEFINE_SPAN(s, float)
DEFINE_SPAN(d, double)

#if defined(CGRAD_HAVE_X86_DISPATCH)
#define R_DISPATCH(NAME, ARGS)                                                           \
    switch (cgrad_isa_selected()) {                                                      \
    case CGRAD_ISA_AVX512: NAME##_avx512 ARGS; return;                                   \
    case CGRAD_ISA_AVX2: NAME##_avx2 ARGS; return;                                       \
    default: NAME##_generic ARGS; return;                                                \
    }
#else
#define R_DISPATCH(NAME, ARGS) NAME##_generic ARGS;
#endif

void cgrad_ssum_chunks(const float *x, long n, long chunk, int power, double *out)
{
    R_DISPATCH(cgrad_ssum_chunks, (x, n, chunk, power, out))
}
void cgrad_dsum_chunks(const double *x, long n, long chunk, int power, double *out)
{
    R_DISPATCH(cgrad_dsum_chunks, (x, n, chunk, power, out))
}
void cgrad_scolumn_sums(const float *dz, long ldz, long N, long ncols, float *db,
                        int accumulate)
{
    R_DISPATCH(cgrad_scolumn_sums, (dz, ldz, N, ncols, db, accumulate))
}
void cgrad_dcolumn_sums(const double *dz, long ldz, long N, long ncols, double *db,
                        int accumulate)
{
    R_DISPATCH(cgrad_dcolumn_sums, (dz, ldz, N, ncols, db, accumulate))
}
