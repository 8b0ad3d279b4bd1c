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
 * row.  Otherwise the block is transposed in chunks of PACK_CHUNK source columns, with
 * prefetch: reading the mr/nr rows side by side one element each thrashes L1 when the
 * row stride is a multiple of 4 KiB (perf: 29% of an NT GEMM with ldb = 1024 floats),
 * and float32 moves 4 x 4 blocks through SSE (scalar transposes were 38% of the W1
 * 128x10x64 GEMM), or 8 x 8 blocks through ymm registers on avx2/avx512 (the same loop
 * in reduce_impl.h).
 */
#include <string.h>
#include "cgrad.h"

#if defined(__SSE2__) || defined(_M_X64)
#include <emmintrin.h>
#define PACK_HAVE_SSE 1
#endif

#define PACK_CHUNK 64
/* Strided sources: prefetch the chunk of the row PACK_AHEAD rows ahead (a hint). */
#define PACK_AHEAD 8
#if defined(__GNUC__) || defined(__clang__)
#define PREFETCH(p) __builtin_prefetch((const void *)(p), 0, 3)
#else
#define PREFETCH(p) ((void)0)
#endif

/* dst[p * ldd + r] = src[r * lds + p] for r < rows, p < cols, PACK_CHUNK columns at a
 * time, in 4 x 4 blocks (through SSE registers, baseline on x86-64). */
#define DEFINE_TRANSPOSE(SFX, T)                                               \
static void transpose_##SFX(const T *src, long lds, long rows, long cols, T *dst,      \
                            long ldd)                                                  \
{                                                                                      \
    for (long pb = 0; pb < cols; pb += PACK_CHUNK) {                                   \
        const long pe = cols - pb < PACK_CHUNK ? cols : pb + PACK_CHUNK;               \
        long r = 0;                                                                    \
        for (; r + 4 <= rows; r += 4) {                                      \
            for (long p = pb; r + PACK_AHEAD < rows && p < pe; p += 16)                \
                for (int q = 0; q < 4; q++) PREFETCH(src + (r + PACK_AHEAD + q) * lds + p); \
            long p = pb;                                                               \
            for (; p + 4 <= pe; p += 4) transpose4_##SFX(src + r * lds + p, lds,       \
                                                      dst + p * ldd + r, ldd);         \
            for (; p < pe; p++)                                                        \
                for (int q = 0; q < 4; q++) dst[p * ldd + r + q] = src[(r + q) * lds + p]; \
        }                                                                              \
        for (; r < rows; r++)                                                          \
            for (long p = pb; p < pe; p++) dst[p * ldd + r] = src[r * lds + p];        \
    }                                                                                  \
}

/* 4 x 4 block: dst[q * ldd + r] = src[r * lds + q]. */
#ifdef PACK_HAVE_SSE
#include "transpose4.h"
#define transpose4_s cgrad_transpose4_sse

static inline void transpose4_d(const double *src, long lds, double *dst, long ldd)
{
    for (int r = 0; r < 4; r += 2)          /* four 2 x 2 blocks */
        for (int q = 0; q < 4; q += 2) {
            __m128d a = _mm_loadu_pd(src + r * lds + q), b = _mm_loadu_pd(src + (r + 1) * lds + q);
            _mm_storeu_pd(dst + q * ldd + r, _mm_unpacklo_pd(a, b));
            _mm_storeu_pd(dst + (q + 1) * ldd + r, _mm_unpackhi_pd(a, b));
        }
}
#else
#define DEFINE_TRANSPOSE4(SFX, T)                                                      \
static inline void transpose4_##SFX(const T *src, long lds, T *dst, long ldd)          \
{                                                                                      \
    for (int r = 0; r < 4; r++)                                                        \
        for (int q = 0; q < 4; q++) dst[q * ldd + r] = src[r * lds + q];               \
}
DEFINE_TRANSPOSE4(s, float)
DEFINE_TRANSPOSE4(d, double)
#endif
#define transpose4_s_generic transpose4_s
DEFINE_TRANSPOSE(s_generic, float)
DEFINE_TRANSPOSE(d, double)

/* float32: 8 x 8 blocks in ymm registers where the CPU has them (reduce_impl.h) */
static void transpose_s(const float *src, long lds, long rows, long cols, float *dst,
                        long ldd)
{
#if defined(CGRAD_HAVE_X86_DISPATCH)
    switch (cgrad_isa_selected()) {
    case CGRAD_ISA_AVX512: cgrad_stranspose_avx512(src, lds, rows, cols, dst, ldd); return;
    case CGRAD_ISA_AVX2: cgrad_stranspose_avx2(src, lds, rows, cols, dst, ldd); return;
    default: break;
    }
#endif
    transpose_s_generic(src, lds, rows, cols, dst, ldd);
}

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
                if (alpha == 1)          /* inline copy: a libc call per row costs */ \
                    for (long i = 0; i < rows; i++) dst[i] = a[i];                     \
                else                                                                   \
                    for (long i = 0; i < rows; i++) dst[i] = alpha * a[i];             \
                for (long i = rows; i < mr; i++) dst[i] = 0;                           \
            }                                                                          \
        } else {                 /* op(A)[i, k] = A[i, k]: a transpose */              \
            transpose_##SFX(A + (i0 + ip) * lda + p0, lda, rows, kc, Ap, mr);          \
            for (long p = 0; p < kc; p++) {                                            \
                if (alpha != 1)                                                        \
                    for (long i = 0; i < rows; i++) Ap[p * mr + i] *= alpha;           \
                for (long i = rows; i < mr; i++) Ap[p * mr + i] = 0;                   \
            }                                                                          \
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
                for (int j = 0; j < nr; j++) dst[j] = b[jp + j];                       \
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
        long cols = n - jp < nr ? n - jp : nr;   /* op(B)[k, j] = B[j, k]: a transpose */ \
        transpose_##SFX(B + (j0 + jp) * ldb + p0, ldb, cols, kc, Bp, nr);              \
        for (long p = 0; p < kc; p++)                                                  \
            for (long j = cols; j < nr; j++) Bp[p * nr + j] = 0;                       \
    }                                                                                  \
}

DEFINE_PACK(s, float)
DEFINE_PACK(d, double)

/* One kind and one write flag per loop (unswitched by hand: a kind test per element
 * kept the loop scalar); full panels copy nr contiguous values per k. */
#define PACK_DZ_LOOP(T, EXPR, WRITE)                                                   \
    for (long p = 0; p < kc; p++) {                                                    \
        const T *restrict g = dA + (p0 + p) * ldb + j0;                                \
        const T *restrict y = dz->y + (p0 + p) * dz->ldy + j0;                         \
        T *restrict o = dz->out + (p0 + p) * dz->ldo + j0;                             \
        for (long jp = 0; jp < n; jp += nr) {                                          \
            const long cols = n - jp < nr ? n - jp : nr;                               \
            T *restrict dst = Bp + jp * kc + p * nr;                                   \
            for (long j = 0; j < cols; j++) {                                          \
                const T gv = g[jp + j], v = y[jp + j];                                 \
                const T r = (EXPR);                                                    \
                dst[j] = r;                                                            \
                if (WRITE) o[jp + j] = r;                                              \
            }                                                                          \
            for (long j = cols; j < nr; j++) dst[j] = 0;                               \
        }                                                                              \
    }

#define PACK_DZ_KINDS(T, WRITE)                                                        \
    switch (dz->kind) {                                                                \
    case CGRAD_DZ_RELU: PACK_DZ_LOOP(T, v > 0 ? gv : (T)0, WRITE) break;               \
    case CGRAD_DZ_SIGMOID: PACK_DZ_LOOP(T, gv * v * ((T)1 - v), WRITE) break;           \
    case CGRAD_DZ_TANH: PACK_DZ_LOOP(T, gv * (((T)1 - v) * ((T)1 + v)), WRITE) break;   \
    default: PACK_DZ_LOOP(T, gv, WRITE) break;                                          \
    }

#define DEFINE_PACK_B_DZ(SFX, T)                                                       \
void cgrad_##SFX##pack_B_dz(const T *dA, long ldb, long p0, long kc, long j0, long n,  \
                            int nr, T *Bp, const cgrad_##SFX##dz *dz, int write)       \
{                                                                                      \
    if (write) {                                                                       \
        PACK_DZ_KINDS(T, 1)                                                            \
    } else {                                                                           \
        PACK_DZ_KINDS(T, 0)                                                            \
    }                                                                                  \
}

DEFINE_PACK_B_DZ(s, float)
DEFINE_PACK_B_DZ(d, double)
