/*
 * pack.c -- copy blocks of op(A) and op(B) into the micro-kernels' panel layout.
 *
 *   pack_A: rows [i0, i0+m) x depth [p0, p0+kc) of op(A) -> ceil(m/mr) panels, each
 *           k-major: for every k the mr values op(A)[i..i+mr-1, k], times alpha.
 *   pack_B: depth [p0, p0+kc) x columns [j0, j0+n) of op(B) -> ceil(n/nr) panels, each
 *           k-major: for every k the nr values op(B)[k, j..j+nr-1].
 * Rows/columns past the edge are zero, so the micro-kernel only ever sees full tiles.
 * The transposes live here (A row-major: op(A)[i, k] = A[i*lda + k], or A[k*lda + i]
 * when transposed).  When a panel row is contiguous in the source it is copied row by
 * row.  Otherwise the block is transposed in chunks of PACK_CHUNK source elements (one
 * cache line of each source row at a time): reading the mr/nr rows side by side one
 * element each thrashes L1 when the row stride is a multiple of 4 KiB (perf: 29% of an
 * NT GEMM with ldb = 1024 floats).
 */
#include "cgrad.h"

#define PACK_CHUNK 64
/* Strided sources: prefetch the chunk of the row PACK_AHEAD rows ahead (a hint). */
#define PACK_AHEAD 8
#if defined(__GNUC__) || defined(__clang__)
#define PREFETCH(p) __builtin_prefetch((const void *)(p), 0, 3)
#else
#define PREFETCH(p) ((void)0)
#endif

#define DEFINE_PACK(SFX, T)                                                            \
void cgrad_##SFX##pack_A(int transA, const T *A, long lda, long i0, long m, long p0,   \
                         long kc, int mr, T alpha, T *Ap)                              \
{                                                                                      \
    for (long ip = 0; ip < m; ip += mr, Ap += (long)mr * kc) {                         \
        long rows = m - ip < mr ? m - ip : mr;                                         \
        if (transA) {            /* op(A)[i, k] = A[k, i]: a panel row is contiguous */ \
            for (long p = 0; p < kc; p++) {                                            \
                const T *a = A + (p0 + p) * lda + i0 + ip;                             \
                T *dst = Ap + p * mr;                                                  \
                for (long i = 0; i < rows; i++) dst[i] = alpha * a[i];                 \
                for (long i = rows; i < mr; i++) dst[i] = 0;                           \
            }                                                                          \
        } else {                 /* op(A)[i, k] = A[i, k]: transpose in chunks */      \
            const T *a = A + (i0 + ip) * lda + p0;                                     \
            for (long pb = 0; pb < kc; pb += PACK_CHUNK) {                             \
                const long pe = kc - pb < PACK_CHUNK ? kc : pb + PACK_CHUNK;           \
                for (long i = 0; i < rows; i++) {                                      \
                    for (long p = pb; i + PACK_AHEAD < rows && p < pe; p += 16)        \
                        PREFETCH(a + (i + PACK_AHEAD) * lda + p);                      \
                    for (long p = pb; p < pe; p++) Ap[p * mr + i] = alpha * a[i * lda + p]; \
                }                                                                      \
            }                                                                          \
            for (long p = 0; p < kc; p++)                                              \
                for (long i = rows; i < mr; i++) Ap[p * mr + i] = 0;                   \
        }                                                                              \
    }                                                                                  \
}                                                                                      \
                                                                                       \
void cgrad_##SFX##pack_B(int transB, const T *B, long ldb, long p0, long kc, long j0,  \
                         long n, int nr, T *Bp)                                        \
{                                                                                      \
    const long full = n / nr * nr;               /* columns in full panels */          \
    if (!transB) {               /* op(B)[k, j] = B[k, j]: stream each source row */   \
        for (long p = 0; p < kc; p++) {                                                \
            const T *b = B + (p0 + p) * ldb + j0;                                      \
            for (long jp = 0; jp < full; jp += nr) {                                   \
                T *dst = Bp + jp * kc + p * nr;                                        \
                for (long j = 0; j < nr; j++) dst[j] = b[jp + j];                      \
            }                                                                          \
            if (full < n) {                                                            \
                T *dst = Bp + full * kc + p * nr;                                      \
                for (long j = 0; j < n - full; j++) dst[j] = b[full + j];              \
                for (long j = n - full; j < nr; j++) dst[j] = 0;                       \
            }                                                                          \
        }                                                                              \
        return;                                                                        \
    }                                                                                  \
    for (long jp = 0; jp < n; jp += nr, Bp += (long)nr * kc) {                         \
        long cols = n - jp < nr ? n - jp : nr;   /* op(B)[k, j] = B[j, k]: transpose */ \
        const T *b = B + (j0 + jp) * ldb + p0;   /* in chunks */                       \
        for (long pb = 0; pb < kc; pb += PACK_CHUNK) {                                 \
            const long pe = kc - pb < PACK_CHUNK ? kc : pb + PACK_CHUNK;               \
            for (long j = 0; j < cols; j++) {                                          \
                for (long p = pb; j + PACK_AHEAD < cols && p < pe; p += 16)            \
                    PREFETCH(b + (j + PACK_AHEAD) * ldb + p);                          \
                for (long p = pb; p < pe; p++) Bp[p * nr + j] = b[j * ldb + p];        \
            }                                                                          \
        }                                                                              \
        for (long p = 0; p < kc; p++)                                                  \
            for (long j = cols; j < nr; j++) Bp[p * nr + j] = 0;                       \
    }                                                                                  \
}

DEFINE_PACK(s, float)
DEFINE_PACK(d, double)
