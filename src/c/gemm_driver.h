/*
 * gemm_driver.h -- the blocked, packed, OpenMP GEMM driver, written once and included
 * by gemm.c for each dtype with T (float/double), SFX (s/d), ROW_T, UKERNEL_T, EPI_T.
 * See gemm.c for the loop structure and the threading rule.
 */
#define G_CAT_(a, b) a##b
#define G_CAT(a, b) G_CAT_(a, b)
#define G_FN(name) G_CAT(G_CAT(cgrad_, SFX), name)
#define G_OPA(i, k) (transA ? A[(k) * lda + (i)] : A[(i) * lda + (k)])

/* Portable no-pack kernel (the generic ISA, and the out-of-memory fallback), written
 * like the reference micro-kernel so the two agree bitwise: per kc_blk-deep slice of K,
 * acc = 0, acc += (alpha * op(A)[i,k]) * op(B)[k,j] in increasing k, then C = acc on the
 * first slice unless `accumulate`, C = C + acc otherwise (beta pre-applied by the
 * caller).  Row i of C is built GS_W columns at a time. */
#define GS_W 32
#if defined(__GNUC__) || defined(__clang__)
static void G_FN(gemm_small_vec)(int transA, long M, long N, long K, long kc_blk, T alpha,
                                 const T *A, long lda, const T *B, long ldb,
                                 int accumulate, T *C, long ldc);
#endif
static void G_FN(gemm_small)(int transA, int transB, long M, long N, long K, long kc_blk,
                             T alpha, const T *A, long lda, const T *B, long ldb,
                             int accumulate, T *C, long ldc)
{
#if defined(__GNUC__) || defined(__clang__)
    if (!transB) {
        G_FN(gemm_small_vec)(transA, M, N, K, kc_blk, alpha, A, lda, B, ldb, accumulate, C,
                             ldc);
        return;
    }
#endif
    for (long i = 0; i < M; i++) {
        for (long j0 = 0; j0 < N; j0 += GS_W) {
            const long n = N - j0 < GS_W ? N - j0 : GS_W;
            T *c = C + i * ldc + j0;
            for (long pc = 0; pc < K; pc += kc_blk) {
                const long kend = K - pc < kc_blk ? K : pc + kc_blk;
                T acc[GS_W];
                for (long j = 0; j < n; j++) acc[j] = 0;
                for (long k = pc; k < kend; k++) {
                    const T a = alpha * G_OPA(i, k);
                    if (transB)          /* op(B)[k, j] = B[j, k] */
                        for (long j = 0; j < n; j++) acc[j] += a * B[(j0 + j) * ldb + k];
                    else
                        for (long j = 0; j < n; j++) acc[j] += a * B[k * ldb + j0 + j];
                }
                const int add = accumulate || pc > 0;
                for (long j = 0; j < n; j++) c[j] = add ? c[j] + acc[j] : acc[j];
            }
        }
    }
}
#undef GS_W

#if defined(__GNUC__) || defined(__clang__)
/* gemm_small for a row-major B (every no-pack call: gemm_nopack copies a transposed B
 * first) in 16-byte vector types (GCC/clang vector extensions; SSE2 on baseline
 * x86-64, NEON on arm64), as ukernel_ref.c: blocks of up to GS_R rows x 2 vectors of
 * C kept in registers, one splat of alpha * op(A)[i,k] per row and whole-vector
 * multiplies and adds per k.  The plain loop above, with its row of 32 accumulators
 * in memory and a run-time column count, ran scalar: 3 GFLOP/s on W3's 1024->10
 * layer.  Each lane does what the plain loop does for its element: the product
 * (alpha * op(A)[i,k]) * B[k,j] rounded, then added to acc, in increasing k per
 * kc_blk slice, then C = acc or C + acc: the same bits.  Columns go in blocks of
 * 2 vectors, then 1, then a last partial vector of `tail` lanes, read and written
 * lane by lane so nothing past row k's last column is touched. */
#define GS_R 4
#define GS_VL ((int)(16 / sizeof(T)))
typedef T G_CAT(gs_vec_, SFX) __attribute__((vector_size(16)));
#define GS_V G_CAT(gs_vec_, SFX)

static inline __attribute__((always_inline)) void G_FN(gs_block)(
    const int R, const int NV, const int tail, int transA, long K, long kc_blk, T alpha,
    const T *A, long lda, const T *B, long ldb, int accumulate, T *C, long ldc)
{
    /* R, NV and tail are constants after inlining; tail == GS_VL: all lanes. */
    const int part = tail < GS_VL;
    for (long pc = 0; pc < K; pc += kc_blk) {
        const long kend = K - pc < kc_blk ? K : pc + kc_blk;
        GS_V acc[GS_R][2];
#pragma GCC unroll 8
        for (int r = 0; r < R; r++)
#pragma GCC unroll 2
            for (int v = 0; v < NV; v++) acc[r][v] = (GS_V){0};
        for (long p = pc; p < kend; p++) {
            const T *b = B + p * ldb;
            GS_V bv[2];
#pragma GCC unroll 2
            for (int v = 0; v < NV; v++) {
                if (part && v == NV - 1) {
                    bv[v] = (GS_V){0};
#pragma GCC unroll 8
                    for (int l = 0; l < tail; l++) bv[v][l] = b[v * GS_VL + l];
                } else {
                    memcpy(&bv[v], b + v * GS_VL, sizeof(GS_V));
                }
            }
#pragma GCC unroll 8
            for (int r = 0; r < R; r++) {
                const T a = alpha * (transA ? A[p * lda + r] : A[r * lda + p]);
#pragma GCC unroll 2
                for (int v = 0; v < NV; v++) acc[r][v] += a * bv[v];   /* a splat */
            }
        }
        const int add = accumulate || pc > 0;
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            T *c = C + r * ldc;
#pragma GCC unroll 2
            for (int v = 0; v < NV; v++) {
                if (part && v == NV - 1) {
#pragma GCC unroll 8
                    for (int l = 0; l < tail; l++)
                        c[v * GS_VL + l] = add ? c[v * GS_VL + l] + acc[r][v][l]
                                               : acc[r][v][l];
                } else {
                    GS_V out = acc[r][v];
                    if (add) {
                        GS_V old;
                        memcpy(&old, c + v * GS_VL, sizeof(GS_V));
                        out = old + out;
                    }
                    memcpy(c + v * GS_VL, &out, sizeof(GS_V));
                }
            }
        }
    }
}

/* The block for R = 1..GS_R rows, with NV vectors and a last vector of TAIL lanes. */
#define GS_DEFINE_ROWS(SUFFIX, NV, TAIL)                                               \
static __attribute__((unused)) void G_FN(SUFFIX)(int R, int transA, long K, long kc_blk, \
        T alpha, const T *A, long lda, const T *B, long ldb, int accumulate, T *C,     \
        long ldc)                                                                      \
{                                                                                      \
    const int tail = (TAIL) < GS_VL ? (TAIL) : GS_VL;                                  \
    switch (R) {                                                                       \
    case 1: G_FN(gs_block)(1, NV, tail, GS_ARGS); break;                                \
    case 2: G_FN(gs_block)(2, NV, tail, GS_ARGS); break;                                \
    case 3: G_FN(gs_block)(3, NV, tail, GS_ARGS); break;                                \
    default: G_FN(gs_block)(GS_R, NV, tail, GS_ARGS); break;                            \
    }                                                                                  \
}
#define GS_ARGS transA, K, kc_blk, alpha, A, lda, B, ldb, accumulate, C, ldc
GS_DEFINE_ROWS(gs_rows_v2, 2, 16)
GS_DEFINE_ROWS(gs_rows_v1, 1, 16)
GS_DEFINE_ROWS(gs_rows_t1, 1, 1)
GS_DEFINE_ROWS(gs_rows_t2, 1, 2)
GS_DEFINE_ROWS(gs_rows_t3, 1, 3)
#undef GS_ARGS
#undef GS_DEFINE_ROWS
#if GS_R != 4
#error "the switch in GS_DEFINE_ROWS lists 1..3 and GS_R"
#endif

/* The few-rows kernel (gemm_rows_impl.h) over the same vectors and the same product and
 * sum as gs_block: acc + (a * b), rounded twice. */
static inline GS_V G_FN(gs_load)(const T *p)
{
    GS_V v;
    memcpy(&v, p, sizeof(GS_V));
    return v;
}
static inline void G_FN(gs_store)(T *p, GS_V v) { memcpy(p, &v, sizeof(GS_V)); }
static inline GS_V G_FN(gs_set1)(T x)
{
    GS_V v;
    for (int l = 0; l < GS_VL; l++) v[l] = x;
    return v;
}
#define V GS_V
#define VL GS_VL
#define V_ZERO() ((GS_V){0})
#define V_SET1(x) G_FN(gs_set1)(x)
#define V_LOAD(p) G_FN(gs_load)(p)
#define V_STORE(p, v) G_FN(gs_store)(p, v)
#define V_FMA(a, b, c) ((c) + (a) * (b))
#define V_ADD(a, b) ((a) + (b))
#define GR_NAME G_FN(gs_few_rows)
#include "gemm_rows_impl.h"
#undef GR_NAME
#undef V
#undef VL
#undef V_ZERO
#undef V_SET1
#undef V_LOAD
#undef V_STORE
#undef V_FMA
#undef V_ADD

static void G_FN(gemm_small_vec)(int transA, long M, long N, long K, long kc_blk, T alpha,
                                 const T *A, long lda, const T *B, long ldb,
                                 int accumulate, T *C, long ldc)
{
    /* Few rows: B's rows streamed whole (gemm_rows_impl.h); the rest in blocks below. */
    const long done = G_FN(gs_few_rows)(transA, M, N, K, kc_blk, alpha, A, lda, B, ldb,
                                        accumulate, C, ldc);
    B += done, C += done, N -= done;
    for (long j = 0; j < N;) {
        const long left = N - j;
        void (*fn)(int, int, long, long, T, const T *, long, const T *, long, int, T *,
                   long);
        long w;
        if (left >= 2 * GS_VL) {
            fn = G_FN(gs_rows_v2);
            w = 2 * GS_VL;
        } else if (left >= GS_VL) {
            fn = G_FN(gs_rows_v1);
            w = GS_VL;
        } else {                  /* 1 .. GS_VL - 1 (at most 3: 16-byte vectors) */
            fn = left == 1 ? G_FN(gs_rows_t1) : left == 2 ? G_FN(gs_rows_t2)
                                                          : G_FN(gs_rows_t3);
            w = left;
        }
        for (long i = 0; i < M; i += GS_R) {
            const int rows = M - i < GS_R ? (int)(M - i) : GS_R;
            fn(rows, transA, K, kc_blk, alpha, transA ? A + i : A + i * lda, lda, B + j,
               ldb, accumulate, C + i * ldc + j, ldc);
        }
        j += w;
    }
}
#undef GS_R
#undef GS_VL
#undef GS_V
#endif

/* C *= beta unless beta is 0 (C write-only) or 1: kernels only know = and +=. */
static void G_FN(scale_C)(long M, long N, T beta, T *C, long ldc)
{
    if (beta != 0 && beta != 1)
        for (long i = 0; i < M; i++)
            for (long j = 0; j < N; j++) C[i * ldc + j] *= beta;
}

/* The no-pack path, one thread: A read in place; a transposed B is first copied to a
 * K x N row-major scratch (pack_B with one N-wide panel) so every kernel streams rows
 * of B.  The kernel is the selected ISA's, with that ISA's KC: bitwise the packed
 * result.  Returns -1 (nothing done) when the scratch cannot be allocated. */
static int G_FN(gemm_nopack)(int transA, int transB, long M, long N, long K, T alpha,
                             const T *A, long lda, const T *B, long ldb, T beta,
                             T *C, long ldc)
{
    const long kc = kc_split(K, G_CAT(G_CAT(cgrad_, SFX), gemm_selected)()->kc);
    if (transB) {
        T *Bt = pack_buffer(1, (size_t)K * N * sizeof(T));
        if (Bt == NULL) return -1;
        G_FN(pack_B)(1, B, ldb, 0, K, 0, N, (int)N, Bt);
        B = Bt;
        ldb = N;
    }
    G_FN(scale_C)(M, N, beta, C, ldc);
    switch (cgrad_isa_selected()) {
#if defined(CGRAD_HAVE_X86_DISPATCH)
    case CGRAD_ISA_AVX512:
        G_FN(gemm_small_avx512)(transA, M, N, K, kc, alpha, A, lda, B, ldb, beta != 0, C,
                                ldc);
        break;
    case CGRAD_ISA_AVX2:
        G_FN(gemm_small_avx2)(transA, M, N, K, kc, alpha, A, lda, B, ldb, beta != 0, C, ldc);
        break;
#endif
    default:
        G_FN(gemm_small)(transA, 0, M, N, K, kc, alpha, A, lda, B, ldb, beta != 0, C, ldc);
    }
    return 0;
}

/* The out-of-memory fallback of gemm_dz: C (= or +=) A.T @ dZ with dZ computed on the
 * fly from dA and y (the gemm_small loop order); dZ goes to dz->out when `write`. */
static void G_FN(gemm_small_dz)(long M, long N, long K, long kc_blk, const T *A, long lda,
                                const T *dA, long ldb, int accumulate, T *C, long ldc,
                                const DZ_T *dz, int write)
{
    for (long i = 0; i < M; i++)
        for (long j = 0; j < N; j++) {
            T c = accumulate ? C[i * ldc + j] : 0;
            for (long pc = 0; pc < K; pc += kc_blk) {
                const long kend = K - pc < kc_blk ? K : pc + kc_blk;
                T acc = 0;
                for (long k = pc; k < kend; k++) {
                    const T v = CGRAD_DZ_APPLY(T, dz->kind, dA[k * ldb + j],
                                               dz->y[k * dz->ldy + j]);
                    if (write && i == 0) dz->out[k * dz->ldo + j] = v;
                    acc += A[k * lda + i] * v;
                }
                c = (pc > 0 || accumulate) ? c + acc : acc;
            }
            C[i * ldc + j] = c;
        }
}

/* Rows [i0, i1) x columns [j0, j1) of C on the calling thread: the BLIS loops
 * jc (NC) > pc (KC, pack B) > ic (MC, pack A) > jr (NR) > ir (MR, micro-kernel). */
static void G_FN(gemm_rect)(const ROW_T *row, int transA, int transB, long i0, long i1,
                            long j0, long j1, long K, T alpha, const T *A, long lda,
                            const T *B, long ldb, T beta, T *C, long ldc, EPI_T epi,
                            void *ctx, const DZ_T *dz, int dz_write)
{
    const int mr = row->mr, nr = row->nr;
    const UKERNEL_T ukernel = row->ukernel;
    const long M = i1 - i0, N = j1 - j0;
    const long kc_blk = kc_split(K, row->kc);
    /* M cut into blocks of (nearly) equal size, each a multiple of mr and at most MC */
    const long m_blocks = (M + row->mc - 1) / row->mc;
    const long mc_blk = round_up((M + m_blocks - 1) / m_blocks, mr);
    const long nc_blk = N < row->nc ? round_up(N, nr) : row->nc;   /* multiple of nr */
    const T *Ar = transA ? A + i0 : A + i0 * lda;     /* op(A) rows from i0 */
    const T *Br = transB ? B + j0 * ldb : B + j0;     /* op(B) columns from j0 */
    T *Cr = C + i0 * ldc + j0;
    _Alignas(64) T tile[CGRAD_MR_MAX * CGRAD_NR_MAX];  /* edge tiles land here */

    T *Abuf = pack_buffer(0, (size_t)mc_blk * kc_blk * sizeof(T));
    T *Bbuf = pack_buffer(1, (size_t)nc_blk * kc_blk * sizeof(T));
    G_FN(scale_C)(M, N, beta, Cr, ldc);      /* the micro-kernel only knows = and += */
    DZ_T dzr;                                /* dZ's columns from j0 (B = dA, as Br) */
    if (dz != NULL) {
        dzr = *dz;
        dzr.y += j0;
        dzr.out += j0;
    }
    if (Abuf == NULL || Bbuf == NULL) {      /* out of memory: slow but correct */
        if (dz != NULL)
            G_FN(gemm_small_dz)(M, N, K, kc_blk, Ar, lda, Br, ldb, beta != 0, Cr, ldc, &dzr,
                                dz_write);
        else
            G_FN(gemm_small)(transA, transB, M, N, K, kc_blk, alpha, Ar, lda, Br, ldb,
                             beta != 0, Cr, ldc);
        if (epi) epi(ctx, Cr, ldc, i0, j0, M, N);
        return;
    }

    for (long jc = 0; jc < N; jc += nc_blk) {
        const long nc = N - jc < nc_blk ? N - jc : nc_blk;
        for (long pc = 0; pc < K; pc += kc_blk) {
            const long kc = K - pc < kc_blk ? K - pc : kc_blk;
            const int accumulate = pc > 0 || beta != 0;
            const int last = pc + kc >= K;
            if (dz != NULL)
                G_FN(pack_B_dz)(Br, ldb, pc, kc, jc, nc, nr, Bbuf, &dzr, dz_write);
            else
                G_FN(pack_B)(transB, Br, ldb, pc, kc, jc, nc, nr, Bbuf);
            for (long ic = 0; ic < M; ic += mc_blk) {
                const long mc = M - ic < mc_blk ? M - ic : mc_blk;
                G_FN(pack_A)(transA, Ar, lda, ic, mc, pc, kc, mr, alpha, Abuf);
                for (long jr = 0; jr < nc; jr += nr) {
                    const long n = nc - jr < nr ? nc - jr : nr;
                    const T *bp = Bbuf + jr * kc;
                    for (long ir = 0; ir < mc; ir += mr) {   /* B micro-panel stays in L1 */
                        const long m = mc - ir < mr ? mc - ir : mr;
                        T *c = Cr + (ic + ir) * ldc + jc + jr;
                        if (m == mr && n == nr) {
                            ukernel(kc, Abuf + ir * kc, bp, c, ldc, accumulate);
                        } else {
                            ukernel(kc, Abuf + ir * kc, bp, tile, nr, 0);
                            for (long ii = 0; ii < m; ii++)
                                for (long jj = 0; jj < n; jj++)
                                    c[ii * ldc + jj] = accumulate
                                        ? c[ii * ldc + jj] + tile[ii * nr + jj]
                                        : tile[ii * nr + jj];
                        }
                        if (last && epi)
                            epi(ctx, c, ldc, i0 + ic + ir, j0 + jc + jr, m, n);
                    }
                }
            }
        }
    }
}

static void G_FN(gemm_grid)(const ROW_T *row, int transA, int transB, long M, long N,
                            long K, T alpha, const T *A, long lda, const T *B, long ldb,
                            T beta, T *C, long ldc, int n_threads, EPI_T epi, void *ctx,
                            const DZ_T *dz);

void G_FN(gemm_ex)(int transA, int transB, long M, long N, long K, T alpha,
                   const T *A, long lda, const T *B, long ldb, T beta,
                   T *C, long ldc, int n_threads, EPI_T epi, void *ctx)
{
    if (M <= 0 || N <= 0) return;
    const double work = (double)M * (double)N * (double)K;
    if (K <= 0 || alpha == 0) {
        for (long i = 0; i < M; i++)
            for (long j = 0; j < N; j++)
                C[i * ldc + j] = beta == 0 ? 0 : beta * C[i * ldc + j];
        if (epi) epi(ctx, C, ldc, 0, 0, M, N);
        return;
    }
    const ROW_T *row = G_CAT(G_CAT(cgrad_, SFX), gemm_selected)();
    const int mr = row->mr, nr = row->nr;

    /* Narrow C (e.g. the 10 logits, or the one output of a regression): an NR-wide tile
     * (or a SIMD vector of the no-pack path) would be mostly padding, so compute
     * C.T = op(B).T @ op(A).T (M and N swap roles) into a scratch and transpose back.
     * Tested before the no-pack choice so both paths take the same form (their bits
     * agree); the inner problem has the same M*N*K, so it takes the same path.  An
     * N = 1 output through the no-pack path used 1 of 16 lanes: 0.8 us for a 64x1x32
     * weight gradient, now 0.1 us. */
    if (2 * N < nr && M >= 2 * N) {
        T *Ct = pack_buffer(2, (size_t)N * M * sizeof(T));   /* the inner call uses 0, 1 */
        if (Ct != NULL) {
            if (beta != 0)
                for (long i = 0; i < M; i++)
                    for (long j = 0; j < N; j++) Ct[j * M + i] = C[i * ldc + j];
            G_FN(gemm_ex)(!transB, !transA, N, M, K, alpha, B, ldb, A, lda, beta, Ct, M,
                          n_threads, (EPI_T)0, (void *)0);
            for (long i = 0; i < M; i++)
                for (long j = 0; j < N; j++) C[i * ldc + j] = Ct[j * M + i];
            if (epi) epi(ctx, C, ldc, 0, 0, M, N);
            return;
        }
    }

    /* Small: no packing, one thread.  Gives the packed path's bits, so which path a
     * shape takes never shows (nor does the thread count that chose it). */
    if (work <= nopack_limit(row->nopack_serial, n_threads) &&
        G_FN(gemm_nopack)(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc) == 0) {
        if (epi) epi(ctx, C, ldc, 0, 0, M, N);
        return;
    }
    /* Medium, several threads: the no-pack kernel on column blocks of C, one per thread
     * (each transposes only its own columns of a transposed B); every element keeps its
     * K-sum, so the bits are those of one thread.  Each thread runs the epilogue on its
     * block. */
    if (n_threads >= 2 && work <= nopack_limit(row->nopack_serial, 1) &&
        N >= 2 * NOPACK_COL_ALIGN) {
        int nt = n_threads;
        const long blocks = N / NOPACK_COL_ALIGN;
        if (nt > blocks) nt = (int)blocks;
        #pragma omp parallel for num_threads(nt) schedule(static)
        for (int t = 0; t < nt; t++) {
            const long j0 = blocks * t / nt * NOPACK_COL_ALIGN;
            const long j1 = t == nt - 1 ? N : blocks * (t + 1) / nt * NOPACK_COL_ALIGN;
            const T *Bj = transB ? B + j0 * ldb : B + j0;
            if (G_FN(gemm_nopack)(transA, transB, M, j1 - j0, K, alpha, A, lda, Bj, ldb,
                                  beta, C + j0, ldc) != 0) {     /* scratch: out of memory */
                G_FN(scale_C)(M, j1 - j0, beta, C + j0, ldc);
                G_FN(gemm_small)(transA, transB, M, j1 - j0, K, kc_split(K, row->kc),
                                 alpha, A, lda, Bj, ldb, beta != 0, C + j0, ldc);
            }
            if (epi) epi(ctx, C + j0, ldc, 0, j0, M, j1 - j0);
        }
        return;
    }

    G_FN(gemm_grid)(row, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc,
                    n_threads, epi, ctx, (const DZ_T *)0);
}

/* Split C into nt rectangles on the MR x NR tile grid; each thread runs the serial
 * blocked algorithm on its own rectangle with its own pack buffers (no barriers).
 * dz (gemm_dz): the threads of the grid's first row write dZ for their columns, so
 * every element of dz->out is written once. */
static void G_FN(gemm_grid)(const ROW_T *row, int transA, int transB, long M, long N,
                            long K, T alpha, const T *A, long lda, const T *B, long ldb,
                            T beta, T *C, long ldc, int n_threads, EPI_T epi, void *ctx,
                            const DZ_T *dz)
{
    const int mr = row->mr, nr = row->nr;
    const double work = (double)M * (double)N * (double)K;
    int nt = (n_threads < 1 || work < CGRAD_GEMM_PARALLEL_MNK) ? 1 : n_threads;
    const long m_panels = (M + mr - 1) / mr, n_panels = (N + nr - 1) / nr;
    if (nt > m_panels * n_panels) nt = (int)(m_panels * n_panels);
    long grid_rows = 1;
    double best = -1;
    for (long gr = 1; gr <= nt; gr++) {      /* the grid with the least redundant packing */
        if (nt % gr || gr > m_panels || nt / gr > n_panels) continue;
        const long gc = nt / gr;
        const double tiles = (double)((m_panels + gr - 1) / gr) * ((n_panels + gc - 1) / gc);
        const double cost = tiles * mr * nr * K + (double)gr * K * N + (double)gc * M * K;
        if (best < 0 || cost < best) { best = cost; grid_rows = gr; }
    }
    if (best < 0) nt = 1;                    /* e.g. a prime nt larger than both panel counts */
    const long grid_cols = nt / grid_rows;

    if (nt == 1) {       /* no parallel region at all: even an if(0) one costs a futex call */
        G_FN(gemm_rect)(row, transA, transB, 0, M, 0, N, K, alpha, A, lda, B, ldb, beta, C,
                        ldc, epi, ctx, dz, 1);
        return;
    }
    #pragma omp parallel for num_threads(nt) schedule(static)
    for (int t = 0; t < nt; t++) {
        const long r = t / grid_cols, c = t % grid_cols;
        const long i0 = m_panels * r / grid_rows * mr, j0 = n_panels * c / grid_cols * nr;
        long i1 = m_panels * (r + 1) / grid_rows * mr, j1 = n_panels * (c + 1) / grid_cols * nr;
        if (i1 > M) i1 = M;
        if (j1 > N) j1 = N;
        if (i1 > i0 && j1 > j0)
            G_FN(gemm_rect)(row, transA, transB, i0, i1, j0, j1, K, alpha, A, lda, B, ldb,
                            beta, C, ldc, epi, ctx, dz, r == 0);
    }
}

int G_FN(gemm_dz_packs)(long M, long N, long K, int n_threads)
{
    const ROW_T *row = G_CAT(G_CAT(cgrad_, SFX), gemm_selected)();
    return M > 0 && N > 0 && K > 0 &&
           (double)M * (double)N * (double)K > nopack_limit(row->nopack_serial, n_threads) &&
           !(2 * N < row->nr && M >= 2 * N);
}

void G_FN(gemm_dz)(long M, long N, long K, const T *A, long lda, const T *dA, long ldb,
                   T beta, T *C, long ldc, int n_threads, const DZ_T *dz)
{
    if (M <= 0 || N <= 0 || K <= 0) {
        G_FN(gemm_ex)(1, 0, M, N, K, 1, A, lda, dA, ldb, beta, C, ldc, n_threads, (EPI_T)0,
                      (void *)0);
        return;
    }
    const ROW_T *row = G_CAT(G_CAT(cgrad_, SFX), gemm_selected)();
    if (!G_FN(gemm_dz_packs)(M, N, K, n_threads)) {
        /* not the packed path (no-pack or narrow): dZ first, then the plain GEMM */
        if (ldb == N && dz->ldy == N && dz->ldo == N)
            DZ_ROWS(dz->kind, dA, dz->y, dz->out, K * N);
        else
            for (long k = 0; k < K; k++)
                DZ_ROWS(dz->kind, dA + k * ldb, dz->y + k * dz->ldy, dz->out + k * dz->ldo, N);
        G_FN(gemm_ex)(1, 0, M, N, K, 1, A, lda, dz->out, dz->ldo, beta, C, ldc, n_threads,
                      (EPI_T)0, (void *)0);
        return;
    }
    G_FN(gemm_grid)(row, 1, 0, M, N, K, 1, A, lda, dA, ldb, beta, C, ldc, n_threads,
                    (EPI_T)0, (void *)0, dz);
}

void G_FN(gemm)(int transA, int transB, long M, long N, long K, T alpha,
                const T *A, long lda, const T *B, long ldb, T beta,
                T *C, long ldc, int n_threads)
{
    G_FN(gemm_ex)(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, n_threads,
                  (EPI_T)0, (void *)0);
}

/* ---- C = S @ B for compressed sparse rows S (cgrad.h; kernel: sparse_impl.h) ---- */

/* The first row of thread t's share when rows cost their terms plus one (the stores). */
static long G_FN(spmm_split)(const int32_t *ptr, long M, int t, int nt)
{
    if (t <= 0) return 0;
    if (t >= nt) return M;
    const double target = ((double)(ptr[M] - ptr[0]) + (double)M) * t / nt;
    long lo = 0, hi = M;                     /* the first m whose prefix cost reaches it */
    while (lo < hi) {
        const long mid = lo + (hi - lo) / 2;
        if ((double)(ptr[mid] - ptr[0]) + (double)mid < target) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* The out-of-memory fallback of spmm (no work buffers): element by element, the
 * kernel's slices and order; fma() is the fused multiply-add of the SIMD kernels (one
 * rounding), the generic ISA's kernels round the product and the sum separately. */
static void G_FN(spmm_small)(long m0, long m1, long N, long K, long kc_blk,
                             const int32_t *ptr, const int32_t *key, const T *val,
                             const T *B, long ldb, T *C, long ldc)
{
    const int fused = cgrad_isa_selected() != CGRAD_ISA_GENERIC;
    for (long m = m0; m < m1; m++)
        for (long j = 0; j < N; j++) {
            T c = 0;
            long e = ptr[m];
            for (long pc = 0; pc < K; pc += kc_blk) {
                T acc = 0;
                for (; e < ptr[m + 1] && key[e] < pc + kc_blk; e++) {
                    const T b = B[(long)key[e] * ldb + j];
                    acc = fused ? G_FMA(val[e], b, acc) : acc + val[e] * b;
                }
                c = pc > 0 ? c + acc : acc;
            }
            C[m * ldc + j] = c;
        }
}

/* Rows [m0, m1) on the calling thread (the kernel sweeps them all per packed block of
 * B), then their epilogue.  Work buffers are this thread's pack buffers (the slots
 * gemm_rect uses; a thread never runs both at once). */
static void G_FN(spmm_part)(long m0, long m1, long N, long K, long kc_blk,
                            const int32_t *ptr, const int32_t *key, const T *val,
                            const T *B, long ldb, T *C, long ldc, EPI_T epi, void *ctx)
{
    if (m1 <= m0) return;
    T *Bp = pack_buffer(0, CGRAD_SPMM_BP_BYTES);
    T *scratch = pack_buffer(1, (size_t)(m1 - m0) * CGRAD_SPMM_SCRATCH_ROW);
    int32_t *cur = pack_buffer(2, (size_t)(m1 - m0) * sizeof(int32_t));
    if (Bp == NULL || scratch == NULL || cur == NULL || spmm_force_small)
        G_FN(spmm_small)(m0, m1, N, K, kc_blk, ptr, key, val, B, ldb, C, ldc);
    else switch (cgrad_isa_selected()) {
#if defined(CGRAD_HAVE_X86_DISPATCH)
    case CGRAD_ISA_AVX512:
        G_FN(spmm_rows_avx512)(m0, m1, N, K, kc_blk, ptr, key, val, B, ldb, C, ldc, Bp,
                               scratch, cur);
        break;
    case CGRAD_ISA_AVX2:
        G_FN(spmm_rows_avx2)(m0, m1, N, K, kc_blk, ptr, key, val, B, ldb, C, ldc, Bp,
                             scratch, cur);
        break;
#endif
    default:
        G_FN(spmm_rows_generic)(m0, m1, N, K, kc_blk, ptr, key, val, B, ldb, C, ldc, Bp,
                                scratch, cur);
    }
    if (epi) epi(ctx, C + m0 * ldc, ldc, m0, 0, m1 - m0, N);
}

void G_FN(spmm_ex)(long M, long N, long K, const int32_t *ptr, const int32_t *key,
                   const T *val, const T *B, long ldb, T *C, long ldc, int n_threads,
                   EPI_T epi, void *ctx)
{
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {                            /* an empty sum: C = 0, as gemm_ex */
        for (long i = 0; i < M; i++)
            for (long j = 0; j < N; j++) C[i * ldc + j] = 0;
        if (epi) epi(ctx, C, ldc, 0, 0, M, N);
        return;
    }
    const ROW_T *row = G_CAT(G_CAT(cgrad_, SFX), gemm_selected)();
    const long kc_blk = kc_split(K, row->kc);             /* the dense GEMM's slices */
    const double work = ((double)(ptr[M] - ptr[0]) + (double)M) * (double)N;
    int nt = (n_threads < 1 || work < CGRAD_GEMM_PARALLEL_MNK) ? 1 : n_threads;
    if (nt > M) nt = (int)M;
    if (nt == 1) {                           /* no parallel region for serial work */
        G_FN(spmm_part)(0, M, N, K, kc_blk, ptr, key, val, B, ldb, C, ldc, epi, ctx);
        return;
    }
    #pragma omp parallel for num_threads(nt) schedule(static)
    for (int t = 0; t < nt; t++)
        G_FN(spmm_part)(G_FN(spmm_split)(ptr, M, t, nt), G_FN(spmm_split)(ptr, M, t + 1, nt),
                        N, K, kc_blk, ptr, key, val, B, ldb, C, ldc, epi, ctx);
}

#undef G_CAT_
#undef G_CAT
#undef G_FN
#undef G_OPA
