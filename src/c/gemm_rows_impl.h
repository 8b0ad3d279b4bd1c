/*
 * gemm_rows_impl.h -- the no-pack kernel for C with very few rows (M <= GR_MMAX: batch-1
 * inference, GEMV-like), written once over the vector abstraction (V_*) and included
 * per ISA and dtype by gemm_small_impl.h (AVX2, AVX-512) and gemm_driver.h (generic).
 *
 *   C[:, 0:nv] (= or +=) alpha*op(A) @ B[:, 0:nv]     B row-major K x N, C M x N, nv =
 *                                                     N rounded down to whole vectors
 *
 * Why not the block kernel: with few rows it walks all K rows of B for each block of 2
 * vectors of columns, a short read at a stride of N elements per k; for N = 1024 floats
 * that is a new 4 KB page on every k, so the weights arrive at cache latency instead of
 * streaming.  Here each k reads whole rows of B (GR_KU rows at once, contiguous), and the
 * M accumulator rows of one column strip stay in an L1 scratch.
 *
 * Bitwise contract (gemm_small_impl.h, gemm_driver.h): per kc_blk slice of K, acc = 0,
 * acc = V_FMA(a, b, acc) in increasing k with a = alpha * op(A)[i, k] (scale) or
 * op(A)[i, k]; then C = acc on the first slice unless `accumulate`, C = C + acc
 * otherwise.  The k unrolling keeps each element's chain in order, and the scratch holds
 * acc exactly, so the bits are those of the block kernel (and the packed path).
 *
 * The includer defines T, V, VL, V_ZERO(), V_SET1(x), V_LOAD(p), V_STORE(p, v),
 * V_FMA(a, b, c) (the ISA's product-sum, as in its block kernel), V_ADD(a, b) and
 * GR_NAME (the static function defined here: it returns nv, or 0 when the shape is
 * not one it takes).
 */
#define GR_CAT_(a, b) a##b
#define GR_CAT(a, b) GR_CAT_(a, b)
#define GR_FN(name) GR_CAT(GR_NAME, name)

/* Shapes this kernel takes: at most GR_MMAX rows and at least GR_MIN_VECTORS full
 * vectors of columns (a narrower C is one or two blocks of the block kernel, which then
 * reads B's rows whole already). */
#define GR_MMAX 4
#define GR_MIN_VECTORS 3
#define GR_KU 4                                      /* rows of B read per step */
#define GR_STRIP_BYTES 8192             /* the accumulators of one strip (L1-resident) */

/* op(A)[r, k] as the block kernel forms it (alpha applied when scale). */
#define GR_A(r, k) (scale ? alpha * (transA ? A[(k) * lda + (r)] : A[(r) * lda + (k)])    \
                          : (transA ? A[(k) * lda + (r)] : A[(r) * lda + (k)]))

/* acc[R][nb] (row stride ld) += op(A)[0:R, k0:k0+KU] @ B[k0:k0+KU, 0:nb], KU rows of B
 * per pass over the strip, each element's terms in increasing k. */
static inline __attribute__((always_inline)) void GR_FN(_step)(
    const int R, const int KU, int scale, int transA, long k0, T alpha, const T *A,
    long lda, const T *B, long ldb, long nb, T *acc, long ld)
{
    V a[GR_MMAX][GR_KU];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int u = 0; u < KU; u++) a[r][u] = V_SET1(GR_A(r, k0 + u));
    const T *b = B + k0 * ldb;
    for (long j = 0; j < nb; j += VL) {
        V bv[GR_KU];
#pragma GCC unroll 4
        for (int u = 0; u < KU; u++) bv[u] = V_LOAD(b + u * ldb + j);
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            V s = V_LOAD(acc + r * ld + j);
#pragma GCC unroll 4
            for (int u = 0; u < KU; u++) s = V_FMA(a[r][u], bv[u], s);
            V_STORE(acc + r * ld + j, s);
        }
    }
}

/* R rows (a constant after inlining) of C, strip by strip, slice by slice. */
static inline __attribute__((always_inline)) void GR_FN(_rows)(
    const int R, int transA, long nv, long K, long kc_blk, T alpha, const T *A, long lda,
    const T *B, long ldb, int accumulate, T *C, long ldc)
{
    _Alignas(64) T acc[GR_STRIP_BYTES / sizeof(T)];
    const long ld = (long)(GR_STRIP_BYTES / (R * sizeof(T))) / VL * VL;  /* strip width */
    const int scale = alpha != 1;
    for (long j0 = 0; j0 < nv; j0 += ld) {
        const long nb = nv - j0 < ld ? nv - j0 : ld;
        for (long pc = 0; pc < K; pc += kc_blk) {
            const long kend = K - pc < kc_blk ? K : pc + kc_blk;
            for (int r = 0; r < R; r++)
                for (long j = 0; j < nb; j += VL) V_STORE(acc + r * ld + j, V_ZERO());
            long k = pc;
            for (; k + GR_KU <= kend; k += GR_KU)
                GR_FN(_step)(R, GR_KU, scale, transA, k, alpha, A, lda, B + j0, ldb, nb, acc,
                             ld);
            for (; k < kend; k++)
                GR_FN(_step)(R, 1, scale, transA, k, alpha, A, lda, B + j0, ldb, nb, acc,
                             ld);
            const int add = accumulate || pc > 0;
            for (int r = 0; r < R; r++) {
                T *c = C + r * ldc + j0;
                for (long j = 0; j < nb; j += VL) {
                    const V s = V_LOAD(acc + r * ld + j);
                    V_STORE(c + j, add ? V_ADD(V_LOAD(c + j), s) : s);
                }
            }
        }
    }
}

/* The columns [0, nv) of C this kernel computes for this shape, nv = N rounded down to
 * whole vectors, or 0 (nothing done) when the shape is not its; the caller computes the
 * rest. */
static long GR_NAME(int transA, long M, long N, long K, long kc_blk, T alpha, const T *A,
                    long lda, const T *B, long ldb, int accumulate, T *C, long ldc)
{
    if (M > GR_MMAX || N < GR_MIN_VECTORS * VL) return 0;
    const long nv = N / VL * VL;
#define GR_ARGS transA, nv, K, kc_blk, alpha, A, lda, B, ldb, accumulate, C, ldc
    switch (M) {
    case 1: GR_FN(_rows)(1, GR_ARGS); break;
    case 2: GR_FN(_rows)(2, GR_ARGS); break;
    case 3: GR_FN(_rows)(3, GR_ARGS); break;
    default: GR_FN(_rows)(GR_MMAX, GR_ARGS); break;
    }
#undef GR_ARGS
    return nv;
}
#if GR_MMAX != 4
#error "the switch above lists 1..3 and GR_MMAX"
#endif

#undef GR_A
#undef GR_MMAX
#undef GR_MIN_VECTORS
#undef GR_STRIP_BYTES
#undef GR_KU
#undef GR_CAT_
#undef GR_CAT
#undef GR_FN
