/*
 * sparse_impl.h -- C = S @ B for a sparse S given as compressed rows, written once over
 * the vector abstraction (V_*) and included per ISA and dtype (sparse.c: portable, one
 * "lane"; sparse_avx2.c; sparse_avx512.c).  The fused training loop uses it for the
 * first layer when the input rows are mostly zeros (MNIST pixels: about 81%):
 *   forward         Z = X @ W        S = the batch's rows,            B = W
 *   weight gradient dW = X.T @ dZ    S = the batch's columns (CSC),   B = dZ
 *
 *   C[m, :] = sum over e in [ptr[m], ptr[m+1]) of val[e] * B[key[e], :]    (m0 <= m < m1)
 *
 * This is the dense GEMM C = A @ B, with A[m, key[e]] = val[e] and zero elsewhere, with
 * the zero terms skipped, and it keeps that GEMM's bits (gemm_small_impl.h's contract):
 * per kc_blk-deep slice of K, acc = 0, acc = fma(a, b, acc) over the slice's terms in
 * increasing key, then C = acc on the first slice and C = C + acc on later ones.  A
 * skipped term is fma(0, b, acc) = acc exactly, and a slice with no terms adds 0, so
 * only the non-zero terms and their order matter; keys must increase within a row.
 * Two differences remain, both outside training's domain: a non-finite b times a
 * skipped zero (NaN in the dense product, nothing here), and the sign of a zero sum.
 *
 * The includer defines T, V, VL (lanes), MASK_T, the V_* operations (simd_*.h), SP_NVMAX
 * (accumulator vectors per block, a power of two) and SP_NAME (the exported function).
 */
#include <stdint.h>

#define SP_CAT_(a, b) a##b
#define SP_CAT(a, b) SP_CAT_(a, b)
#define SP_FN(name) SP_CAT(SP_NAME, name)
#define SP_INLINE static inline __attribute__((always_inline))

/* Rows [m0, m1) of C, columns [0, NV * VL) (the last vector masked when `masked`):
 * NV accumulator vectors stay in registers while the row's terms stream B's rows. */
SP_INLINE void SP_FN(_block)(const int NV, const int masked, long m0, long m1,
                             long kc_blk, const int32_t *ptr, const int32_t *key,
                             const T *val, const T *B, long ldb, T *C, long ldc,
                             MASK_T mask)
{
    for (long m = m0; m < m1; m++) {
        T *c = C + m * ldc;
        long e = ptr[m];
        const long end = ptr[m + 1];
        int first = 1;
        while (e < end) {                        /* one kc_blk-deep slice of K per pass */
            const long stop = ((long)key[e] / kc_blk + 1) * kc_blk;
            V acc[SP_NVMAX];
#pragma GCC unroll 32
            for (int v = 0; v < NV; v++) acc[v] = V_ZERO();
            for (; e < end && key[e] < stop; e++) {
                const V a = V_SET1(val[e]);
                const T *b = B + (long)key[e] * ldb;
#pragma GCC unroll 32
                for (int v = 0; v < NV; v++)
                    acc[v] = V_FMA(a, (masked && v == NV - 1) ? V_MLOAD(b + v * VL, mask)
                                                              : V_LOAD(b + v * VL), acc[v]);
            }
#pragma GCC unroll 32
            for (int v = 0; v < NV; v++) {
                if (masked && v == NV - 1)
                    V_MSTORE(c + v * VL, mask,
                             first ? acc[v] : V_ADD(V_MLOAD(c + v * VL, mask), acc[v]));
                else
                    V_STORE(c + v * VL, first ? acc[v] : V_ADD(V_LOAD(c + v * VL), acc[v]));
            }
            first = 0;
        }
        if (first)                               /* no terms: the dense sum of zeros */
#pragma GCC unroll 32
            for (int v = 0; v < NV; v++) {
                if (masked && v == NV - 1)
                    V_MSTORE(c + v * VL, mask, V_ZERO());
                else
                    V_STORE(c + v * VL, V_ZERO());
            }
    }
}

/* One function per block width (NV full vectors), and the masked single vector. */
#define SP_ARGS m0, m1, kc_blk, ptr, key, val, B, ldb, C, ldc, mask
#define SP_DEFINE(SUFFIX, NV, MASKED)                                                   \
static void SP_FN(SUFFIX)(long m0, long m1, long kc_blk, const int32_t *ptr,          \
                          const int32_t *key, const T *val, const T *B, long ldb, T *C, \
                          long ldc, MASK_T mask)                                        \
{                                                                                       \
    SP_FN(_block)(NV, MASKED, SP_ARGS);                                                 \
}
SP_DEFINE(_w1m, 1, 1)
SP_DEFINE(_w1, 1, 0)
#if SP_NVMAX >= 2
SP_DEFINE(_w2, 2, 0)
#endif
#if SP_NVMAX >= 4
SP_DEFINE(_w4, 4, 0)
#endif
#if SP_NVMAX >= 8
SP_DEFINE(_w8, 8, 0)
#endif
#if SP_NVMAX >= 16
SP_DEFINE(_w16, 16, 0)
#endif
#if SP_NVMAX > 16
#error "SP_NVMAX must be 1, 2, 4, 8 or 16"
#endif

/* Rows [m0, m1) of C (N columns): blocks of SP_NVMAX vectors, then the remainder in
 * power-of-two blocks, then a masked last vector.  Each block walks the rows' terms
 * again (they are in L1); B's rows are read once per block. */
void SP_NAME(long m0, long m1, long N, long kc_blk, const int32_t *ptr, const int32_t *key,
             const T *val, const T *B, long ldb, T *C, long ldc)
{
    const MASK_T full = V_MASK(VL < 2 ? 1 : VL - 1);   /* unused by unmasked blocks */
    long j = 0;
    for (int nv = SP_NVMAX; nv >= 1; nv /= 2) {
        while (N - j >= (long)nv * VL) {
            const T *b = B + j;
            T *c = C + j;
            switch (nv) {
#if SP_NVMAX >= 16
            case 16: SP_FN(_w16)(m0, m1, kc_blk, ptr, key, val, b, ldb, c, ldc, full); break;
#endif
#if SP_NVMAX >= 8
            case 8: SP_FN(_w8)(m0, m1, kc_blk, ptr, key, val, b, ldb, c, ldc, full); break;
#endif
#if SP_NVMAX >= 4
            case 4: SP_FN(_w4)(m0, m1, kc_blk, ptr, key, val, b, ldb, c, ldc, full); break;
#endif
#if SP_NVMAX >= 2
            case 2: SP_FN(_w2)(m0, m1, kc_blk, ptr, key, val, b, ldb, c, ldc, full); break;
#endif
            default: SP_FN(_w1)(m0, m1, kc_blk, ptr, key, val, b, ldb, c, ldc, full); break;
            }
            j += (long)nv * VL;
            if (nv < SP_NVMAX) break;            /* each smaller width at most once */
        }
    }
    if (j < N)
        SP_FN(_w1m)(m0, m1, kc_blk, ptr, key, val, B + j, ldb, C + j, ldc, V_MASK(N - j));
}

#undef SP_ARGS
#undef SP_DEFINE
#undef SP_CAT_
#undef SP_CAT
#undef SP_FN
#undef SP_INLINE
