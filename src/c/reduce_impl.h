/*
 * reduce_impl.h -- the fixed-order reductions behind chunked_sum (src/common.pxi) and
 * the bias gradient (src/dense.pxi), and the float32 transpose of pack.c, as SIMD loops
 * written once per vector width and included by reduce_avx512.c (8 doubles: one zmm)
 * and reduce_avx2.c (8 doubles: two ymm).  reduce.c has the baseline C loops and the
 * per-call dispatch.  The including file defines the vector layer (R_* macros below).
 *
 * Bitwise contract (every ISA gives the same bits as the baseline loops):
 *   span sum  a_j = 0; a_j += f(x[i]) for i = j, j+8, j+16, ... (i < n - n % 8), in
 *             double; then a_0 += f(x[i]) over the last n % 8 elements in order; result
 *             ((a0+a1)+(a2+a3))+((a4+a5)+(a6+a7)).  f = x (power 1), |x| (0), x*x (2,
 *             a multiply then a separate add: the files compile with fp-contract=off,
 *             so no FMA is formed).  Lane j of the 8-double accumulator vector is a_j.
 *   columns   acc_j = 0; acc_j += dz[i, j] for rows i in order, in double; then
 *             db[j] = (T) acc_j or (T) (db[j] + acc_j).  Lanes are columns.
 *   transpose an exact copy.
 * Chunks: the chunk sums of chunked_sum are independent, so sum_chunks runs R_GROUP of
 * them side by side (independent add chains: one chunk alone waits on the add latency
 * of its single accumulator vector every 8 elements).
 */
#include "transpose4.h"
#include <math.h>
#include <stddef.h>
#include "cgrad.h"

#define R_GROUP 4
#define R_CAT3_(a, b, c, d) a##b##c##_##d
#define R_CAT3(a, b, c, d) R_CAT3_(a, b, c, d)
/* R_FN(s, sum_chunks) -> cgrad_ssum_chunks_<R_ISA> */
#define R_FN(SFX, NAME) R_CAT3(cgrad_, SFX, NAME, R_ISA)

static inline double r_combine(const double a[8])
{
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

/* f(v) of one scalar (the tails), as the baseline loop computes it. */
static inline double r_term1(double v, int power)
{
    return power == 2 ? v * v : power == 0 ? fabs(v) : v;
}

/* The span sums of g spans side by side: span k starts at x + k * stride and has
 * len[k] elements.  Blocks of 8 run jointly up to the shortest span's, then each span
 * finishes its own blocks, its tail and the combine.  g and power are compile-time
 * constants after inlining (the callers switch on them), so acc[] lives in registers. */
#define R_DEFINE_SUM(SFX, T)                                                             \
static inline void R_FN(SFX, sum_group)(const T *x, long stride, int g,             \
                                           const long *len, int power, double *out)     \
{                                                                                        \
    R_VEC acc[R_GROUP];                                                                  \
    long joint = len[0] - len[0] % 8;                                                    \
    for (int k = 0; k < g; k++) {                                                        \
        acc[k] = R_ZERO();                                                               \
        if (len[k] - len[k] % 8 < joint) joint = len[k] - len[k] % 8;                    \
    }                                                                                    \
    for (long i = 0; i < joint; i += 8)                                                  \
        for (int k = 0; k < g; k++)                                                      \
            acc[k] = R_ADD(acc[k], R_TERM_##SFX(x + k * stride + i, power));             \
    for (int k = 0; k < g; k++) {                                                        \
        const T *xk = x + k * stride;                                                    \
        const long n8 = len[k] - len[k] % 8;                                             \
        double a[8];                                                                     \
        R_VEC s = acc[k];                                                                \
        for (long i = joint; i < n8; i += 8) s = R_ADD(s, R_TERM_##SFX(xk + i, power));  \
        R_STORE(a, s);                                                                   \
        for (long i = n8; i < len[k]; i++) a[0] += r_term1((double)xk[i], power);         \
        out[k] = r_combine(a);                                                           \
    }                                                                                    \
}                                                                                        \
                                                                                         \
static inline void R_FN(SFX, sum_chunks_p)(const T *x, long n, long chunk, int power, \
                                              double *out)                              \
{                                                                                        \
    long len[R_GROUP];                                                                   \
    for (long c0 = 0; c0 * chunk < n; c0 += R_GROUP) {                                   \
        int g = 0;                                                                       \
        for (; g < R_GROUP && (c0 + g) * chunk < n; g++)                                 \
            len[g] = n - (c0 + g) * chunk < chunk ? n - (c0 + g) * chunk : chunk;        \
        const T *xc = x + c0 * chunk;                                                    \
        switch (g) {                                                                     \
        case 4: R_FN(SFX, sum_group)(xc, chunk, 4, len, power, out + c0); break;      \
        case 3: R_FN(SFX, sum_group)(xc, chunk, 3, len, power, out + c0); break;      \
        case 2: R_FN(SFX, sum_group)(xc, chunk, 2, len, power, out + c0); break;      \
        default: R_FN(SFX, sum_group)(xc, chunk, 1, len, power, out + c0); break;     \
        }                                                                                \
    }                                                                                    \
}                                                                                        \
                                                                                         \
void R_FN(SFX, sum_chunks)(const T *x, long n, long chunk, int power, double *out)   \
{                                                                                        \
    if (power == 2) R_FN(SFX, sum_chunks_p)(x, n, chunk, 2, out);                     \
    else if (power == 0) R_FN(SFX, sum_chunks_p)(x, n, chunk, 0, out);                \
    else R_FN(SFX, sum_chunks_p)(x, n, chunk, 1, out);                                \
}

/* db[j] (+)= sum_i dz[i * ldz + j] for j < ncols: blocks of 64 columns in 8 accumulator
 * vectors; the last < 64 columns 16 at a time (masked loads past the edge). */
#define R_DEFINE_COLSUM(SFX, T)                                                          \
static inline void R_FN(SFX, colsum_store)(const double *a, long w, T *db,              \
                                           int accumulate)                              \
{                                                                                        \
    if (accumulate)                                                                      \
        for (long j = 0; j < w; j++) db[j] = (T)(db[j] + a[j]);                          \
    else                                                                                 \
        for (long j = 0; j < w; j++) db[j] = (T)a[j];                                    \
}                                                                                        \
                                                                                         \
void R_FN(SFX, column_sums)(const T *dz, long ldz, long N, long ncols, T *db,            \
                            int accumulate)                                             \
{                                                                                        \
    double a[64];                                                                        \
    long j0 = 0;                                                                         \
    for (; j0 + 64 <= ncols; j0 += 64) {                                                 \
        R_VEC acc[8];                                                                    \
        for (int v = 0; v < 8; v++) acc[v] = R_ZERO();                                   \
        for (long i = 0; i < N; i++) {                                                   \
            const T *row = dz + i * ldz + j0;                                            \
            for (int v = 0; v < 8; v++) acc[v] = R_ADD(acc[v], R_LOAD_##SFX(row + 8 * v)); \
        }                                                                                \
        for (int v = 0; v < 8; v++) R_STORE(a + 8 * v, acc[v]);                          \
        R_FN(SFX, colsum_store)(a, 64, db + j0, accumulate);                             \
    }                                                                                    \
    for (; j0 < ncols; j0 += 16) {                                                       \
        const long w = ncols - j0 < 16 ? ncols - j0 : 16;                                \
        const long w0 = w < 8 ? w : 8, w1 = w - w0;                                      \
        R_VEC acc0 = R_ZERO(), acc1 = R_ZERO();                                          \
        for (long i = 0; i < N; i++) {                                                   \
            const T *row = dz + i * ldz + j0;                                            \
            acc0 = R_ADD(acc0, R_LOADN_##SFX(row, w0));                                  \
            if (w1 > 0) acc1 = R_ADD(acc1, R_LOADN_##SFX(row + 8, w1));                  \
        }                                                                                \
        R_STORE(a, acc0);                                                                \
        R_STORE(a + 8, acc1);                                                            \
        R_FN(SFX, colsum_store)(a, w, db + j0, accumulate);                              \
    }                                                                                    \
}

/* Float32 transpose, dst[p * ldd + r] = src[r * lds + p] for r < rows, p < cols:
 * pack.c's loop (PACK_CHUNK source columns at a time, the rows PACK_AHEAD ahead
 * prefetched when the source exceeds L1: strided rows 4 KiB apart thrash it; on a
 * smaller one the prefetches are pure overhead) with 8 x 8 blocks through ymm
 * registers, then 4 x 4 (xmm) and single elements at the edges. */
#define R_PACK_CHUNK 64
#define R_PACK_AHEAD 8
#define R_PREFETCH_MIN 8192
#define R_PREFETCH(p) __builtin_prefetch((const void *)(p), 0, 3)

/* 8 x 8 block: dst[q * ldd + r] = src[r * lds + q] (unpack, shuffle, then swap 128-bit
 * halves; 24 shuffles: faster here than inserting row halves from memory to keep every
 * shuffle in-lane, 0.21 vs 0.26 us per 64 x 64 transpose). */
static inline void r_transpose8(const float *src, long lds, float *dst, long ldd)
{
    __m256 r0 = _mm256_loadu_ps(src), r1 = _mm256_loadu_ps(src + lds);
    __m256 r2 = _mm256_loadu_ps(src + 2 * lds), r3 = _mm256_loadu_ps(src + 3 * lds);
    __m256 r4 = _mm256_loadu_ps(src + 4 * lds), r5 = _mm256_loadu_ps(src + 5 * lds);
    __m256 r6 = _mm256_loadu_ps(src + 6 * lds), r7 = _mm256_loadu_ps(src + 7 * lds);
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
    __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
    __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    _mm256_storeu_ps(dst, _mm256_permute2f128_ps(s0, s4, 0x20));
    _mm256_storeu_ps(dst + ldd, _mm256_permute2f128_ps(s1, s5, 0x20));
    _mm256_storeu_ps(dst + 2 * ldd, _mm256_permute2f128_ps(s2, s6, 0x20));
    _mm256_storeu_ps(dst + 3 * ldd, _mm256_permute2f128_ps(s3, s7, 0x20));
    _mm256_storeu_ps(dst + 4 * ldd, _mm256_permute2f128_ps(s0, s4, 0x31));
    _mm256_storeu_ps(dst + 5 * ldd, _mm256_permute2f128_ps(s1, s5, 0x31));
    _mm256_storeu_ps(dst + 6 * ldd, _mm256_permute2f128_ps(s2, s6, 0x31));
    _mm256_storeu_ps(dst + 7 * ldd, _mm256_permute2f128_ps(s3, s7, 0x31));
}


/* Rows [r, r + B) of the column chunk [pb, pe): B x B blocks, then columns one by one. */
#define R_TRANSPOSE_ROWS(B, BLOCK)                                                       \
    for (; r + B <= rows; r += B) {                                                      \
        for (long p = pb; far && r + R_PACK_AHEAD < rows && p < pe; p += 16)             \
            for (int q = 0; q < B; q++) R_PREFETCH(src + (r + R_PACK_AHEAD + q) * lds + p); \
        long p = pb;                                                                     \
        for (; p + B <= pe; p += B) BLOCK(src + r * lds + p, lds, dst + p * ldd + r, ldd); \
        for (; p < pe; p++)                                                              \
            for (int q = 0; q < B; q++) dst[p * ldd + r + q] = src[(r + q) * lds + p];   \
    }

void R_FN(s, transpose)(const float *src, long lds, long rows, long cols, float *dst,
                        long ldd)
{
    const int far = rows * lds > R_PREFETCH_MIN;   /* source bigger than L1: prefetch */
    for (long pb = 0; pb < cols; pb += R_PACK_CHUNK) {
        const long pe = cols - pb < R_PACK_CHUNK ? cols : pb + R_PACK_CHUNK;
        long r = 0;
        R_TRANSPOSE_ROWS(8, r_transpose8)
        R_TRANSPOSE_ROWS(4, cgrad_transpose4_sse)
        for (; r < rows; r++)
            for (long p = pb; p < pe; p++) dst[p * ldd + r] = src[r * lds + p];
    }
}
