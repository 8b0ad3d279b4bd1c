/*
 * sparse_impl.h -- C = S @ B for a sparse S given as compressed rows, written once over
 * the vector abstraction (V_*) and included per ISA and dtype (sparse.c: portable, one
 * "lane"; sparse_avx2.c; sparse_avx512.c).  The fused training loop uses it for a Dense
 * layer whose input rows are mostly zeros (the first layer on MNIST's pixels, about 81%
 * zeros; a layer fed by a ReLU):
 *   forward         Z = X @ W        S = the batch's rows,            B = W
 *   weight gradient dW = X.T @ dZ    S = the batch's columns (CSC),   B = dZ
 *
 *   C[m, :] = sum over e in [ptr[m], ptr[m+1]) of val[e] * B[key[e], :]
 *
 * This is the dense GEMM C = A @ B, with A[m, key[e]] = val[e] and zero elsewhere, with
 * the zero terms skipped, and it keeps that GEMM's bits (gemm_small_impl.h's contract):
 * per kc_blk-deep slice of K, acc = 0, acc = fma(a, b, acc) over the slice's terms in
 * increasing key, then C = acc after the first slice and C = C + acc after later ones
 * (also for a slice without terms, as the dense loop does).  A skipped term is
 * fma(0, b, acc) = acc exactly, so only the non-zero terms and their order matter; keys
 * must increase within a row.  One difference remains, outside training's domain: a
 * non-finite b facing a skipped zero (NaN in the dense product, nothing here).
 *
 * Blocking.  A term costs one broadcast, NV loads of B's row and NV FMAs: streamed from
 * L2 that runs at about 45% of the FMA peak (measured: 47 GFLOP/s on W1's first layer
 * with B in L2, 86 with B in L1).  So B is cut into column blocks of NV vectors and key
 * blocks of about CGRAD_SPMM_L1_BYTES, each packed into a contiguous panel Bp (also avoiding
 * the 4 KB-stride cache-set conflicts of wide B rows) and swept by every row of C while
 * it sits in L1; a row's accumulators go to a scratch row between key blocks of one
 * slice (stored and reloaded exactly, so the fma chain is unchanged), and cur[] keeps
 * each row's position in its terms.
 *
 * The includer defines T, V, VL (lanes), MASK_T, the V_* operations (simd_*.h), SP_NVMAX
 * (accumulator vectors per column block: 8) and SP_NAME (the exported function).
 */
#include <stdint.h>

#define SP_CAT_(a, b) a##b
#define SP_CAT(a, b) SP_CAT_(a, b)
#define SP_FN(name) SP_CAT(SP_NAME, name)
#define SP_INLINE static inline __attribute__((always_inline))

/* Rows [m0, m1) of C, one column block (NV vectors of the packed panel Bp, of which
 * the first w columns are C's), keys [kb0, kb1).  start: the block opens a K slice
 * (acc = 0, else the scratch row); end: it closes one (C = acc, or C + acc when add;
 * else acc goes back to the scratch row). */
SP_INLINE void SP_FN(_kblock)(const int NV, long m0, long m1, long kb0, long kb1,
                              int start, int end, int add, const int32_t *ptr,
                              const int32_t *key, const T *val, const T *Bp, T *scratch,
                              int32_t *cur, T *C, long ldc, long w)
{
    for (long m = m0; m < m1; m++) {
        T *sc = scratch + (m - m0) * (NV * VL);
        long e = cur[m - m0];
        const long stop = ptr[m + 1];
        V acc[SP_NVMAX];
#pragma GCC unroll 8
        for (int v = 0; v < NV; v++) acc[v] = start ? V_ZERO() : V_LOAD(sc + v * VL);
        for (; e < stop && key[e] < kb1; e++) {
            const V a = V_SET1(val[e]);
            const T *b = Bp + (key[e] - kb0) * (NV * VL);
#pragma GCC unroll 8
            for (int v = 0; v < NV; v++) acc[v] = V_FMA(a, V_LOAD(b + v * VL), acc[v]);
        }
        cur[m - m0] = (int32_t)e;
        if (!end) {
#pragma GCC unroll 8
            for (int v = 0; v < NV; v++) V_STORE(sc + v * VL, acc[v]);
            continue;
        }
        T *c = C + m * ldc;
#pragma GCC unroll 8
        for (int v = 0; v < NV; v++) {
            if ((long)(v + 1) * VL <= w) {
                V_STORE(c + v * VL, add ? V_ADD(V_LOAD(c + v * VL), acc[v]) : acc[v]);
            } else if ((long)v * VL < w) {               /* C's last, partial vector */
                const MASK_T mask = V_MASK(w - (long)v * VL);
                V_MSTORE(c + v * VL, mask,
                         add ? V_ADD(V_MLOAD(c + v * VL, mask), acc[v]) : acc[v]);
            }
        }
    }
}

#define SP_KARGS m0, m1, kb0, kb1, start, end, add, ptr, key, val, Bp, scratch, cur, C, ldc, w
#define SP_DEFINE(NV)                                                                   \
static void SP_FN(_k##NV)(long m0, long m1, long kb0, long kb1, int start, int end,    \
                          int add, const int32_t *ptr, const int32_t *key, const T *val, \
                          const T *Bp, T *scratch, int32_t *cur, T *C, long ldc, long w) \
{                                                                                       \
    SP_FN(_kblock)(NV, SP_KARGS);                                                       \
}
SP_DEFINE(1)
SP_DEFINE(2)
SP_DEFINE(4)
#if SP_NVMAX == 8
SP_DEFINE(8)
#elif SP_NVMAX != 4
#error "SP_NVMAX must be 4 or 8 (the column blocks are 1, 2, 4 or 8 vectors)"
#endif

_Static_assert(SP_NVMAX * VL * sizeof(T) <= CGRAD_SPMM_SCRATCH_ROW,
               "a scratch row holds SP_NVMAX vectors");
_Static_assert(SP_NVMAX * VL * sizeof(T) <= CGRAD_SPMM_BP_BYTES - CGRAD_SPMM_L1_BYTES,
               "Bp holds one packed row past CGRAD_SPMM_L1_BYTES");

/* Rows [m0, m1) of C (M x N, keys < K in kc_blk slices) on the calling thread.  Work
 * buffers: Bp (CGRAD_SPMM_L1_BYTES + one row of 8 vectors), scratch ((m1 - m0) x 8 vectors),
 * cur (m1 - m0 entries), all from the caller. */
void SP_NAME(long m0, long m1, long N, long K, long kc_blk, const int32_t *ptr,
             const int32_t *key, const T *val, const T *B, long ldb, T *C, long ldc,
             T *Bp, T *scratch, int32_t *cur)
{
    int nv = SP_NVMAX;                  /* the narrowest power-of-two block covering N */
    while (nv > 1 && (long)(nv / 2) * VL >= N) nv /= 2;
    const long cb = (long)nv * VL;
    long kb = CGRAD_SPMM_L1_BYTES / (cb * (long)sizeof(T));
    if (kb < 1) kb = 1;
    for (long j0 = 0; j0 < N; j0 += cb) {
        const long w = N - j0 < cb ? N - j0 : cb;
        for (long m = m0; m < m1; m++) cur[m - m0] = ptr[m];
        for (long kb0 = 0; kb0 < K;) {
            const long slice = kb0 / kc_blk;
            const long slice_end = (slice + 1) * kc_blk < K ? (slice + 1) * kc_blk : K;
            const long kb1 = kb0 + kb < slice_end ? kb0 + kb : slice_end;
            const int start = kb0 == slice * kc_blk, end = kb1 == slice_end;
            for (long k = kb0; k < kb1; k++) {          /* pack B[kb0:kb1, j0:j0+w] */
                const T *src = B + k * ldb + j0;
                T *dst = Bp + (k - kb0) * cb;
                long j = 0;
                for (; j < w; j++) dst[j] = src[j];
                for (; j < cb; j++) dst[j] = 0;         /* padding: never reaches C */
            }
            switch (nv) {
#if SP_NVMAX == 8
            case 8: SP_FN(_k8)(m0, m1, kb0, kb1, start, end, slice > 0, ptr, key, val, Bp,
                               scratch, cur, C + j0, ldc, w); break;
#endif
            case 4: SP_FN(_k4)(m0, m1, kb0, kb1, start, end, slice > 0, ptr, key, val, Bp,
                               scratch, cur, C + j0, ldc, w); break;
            case 2: SP_FN(_k2)(m0, m1, kb0, kb1, start, end, slice > 0, ptr, key, val, Bp,
                               scratch, cur, C + j0, ldc, w); break;
            default: SP_FN(_k1)(m0, m1, kb0, kb1, start, end, slice > 0, ptr, key, val, Bp,
                                scratch, cur, C + j0, ldc, w); break;
            }
            kb0 = kb1;
        }
    }
}

#undef SP_KARGS
#undef SP_DEFINE
#undef SP_CAT_
#undef SP_CAT
#undef SP_FN
#undef SP_INLINE
