/*
 * gemm_driver.h -- the blocked, packed, OpenMP GEMM driver, written once and included
 * by gemm.c for each dtype with T (float/double), SFX (s/d), ROW_T, UKERNEL_T, EPI_T.
 * See gemm.c for the loop structure and the threading rule.
 */
#define G_CAT_(a, b) a##b
#define G_CAT(a, b) G_CAT_(a, b)
#define G_FN(name) G_CAT(G_CAT(cgrad_, SFX), name)
#define G_OPA(i, k) (transA ? A[(k) * lda + (i)] : A[(i) * lda + (k)])

/* No-pack path for tiny problems (one thread): row i of C is built in place. */
static void G_FN(gemm_small)(int transA, int transB, long M, long N, long K, T alpha,
                             const T *A, long lda, const T *B, long ldb, T beta,
                             T *C, long ldc)
{
    for (long i = 0; i < M; i++) {
        T *c = C + i * ldc;
        if (transB) {            /* op(B)[k, j] = B[j, k]: dot products along rows */
            for (long j = 0; j < N; j++) {
                const T *b = B + j * ldb;
                T s = 0;
                for (long k = 0; k < K; k++) s += G_OPA(i, k) * b[k];
                c[j] = beta == 0 ? alpha * s : alpha * s + beta * c[j];
            }
        } else {                 /* axpy of B's rows into C's row */
            for (long j = 0; j < N; j++) c[j] = beta == 0 ? 0 : beta * c[j];
            for (long k = 0; k < K; k++) {
                const T a = alpha * G_OPA(i, k);
                const T *b = B + k * ldb;
                for (long j = 0; j < N; j++) c[j] += a * b[j];
            }
        }
    }
}

void G_FN(gemm_ex)(int transA, int transB, long M, long N, long K, T alpha,
                   const T *A, long lda, const T *B, long ldb, T beta,
                   T *C, long ldc, int n_threads, EPI_T epi, void *ctx)
{
    if (M <= 0 || N <= 0) return;
    const double work = (double)M * (double)N * (double)K;
    if (K <= 0 || alpha == 0 || work <= CGRAD_GEMM_NOPACK_MNK) {
        if (K <= 0 || alpha == 0) {
            for (long i = 0; i < M; i++)
                for (long j = 0; j < N; j++)
                    C[i * ldc + j] = beta == 0 ? 0 : beta * C[i * ldc + j];
        } else {
            G_FN(gemm_small)(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        }
        if (epi) epi(ctx, C, ldc, 0, 0, M, N);
        return;
    }

    const ROW_T *row = G_CAT(G_CAT(cgrad_, SFX), gemm_selected)();
    const int mr = row->mr, nr = row->nr;
    const UKERNEL_T ukernel = row->ukernel;
    const long kc_blk = K < row->kc ? K : row->kc;
    const long nc_blk = N < row->nc ? round_up(N, nr) : row->nc;   /* row->nc: multiple of nr */
    const long m_panels = (M + mr - 1) / mr;

    void *a_raw, *b_raw;
    T *Abuf = aligned_alloc64((size_t)m_panels * mr * kc_blk * sizeof(T), &a_raw);
    T *Bbuf = aligned_alloc64((size_t)nc_blk * kc_blk * sizeof(T), &b_raw);
    if (Abuf == NULL || Bbuf == NULL) {      /* out of memory: slow but correct */
        free(a_raw);
        free(b_raw);
        G_FN(gemm_small)(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        if (epi) epi(ctx, C, ldc, 0, 0, M, N);
        return;
    }

    /* Work items are (MC-row block, NR-column panel) tiles of the current B panel.
     * With several threads, shrink MC (in steps of MR) until there are enough items to
     * balance; row blocking never changes any element's K order, so neither does it. */
    int nt = (n_threads < 1 || work < CGRAD_GEMM_PARALLEL_MNK) ? 1 : n_threads;
    long mc = row->mc < round_up(M, mr) ? row->mc : round_up(M, mr);
    const long n_panels_max = nc_blk / nr;
    while (nt > 1 && mc > mr && ((M + mc - 1) / mc) * n_panels_max < 8L * nt)
        mc = round_up(mc / 2, mr);
    const long m_blocks = (M + mc - 1) / mc;
    if (nt > m_blocks * n_panels_max) nt = (int)(m_blocks * n_panels_max);

    #pragma omp parallel num_threads(nt) if (nt > 1)
    {
        _Alignas(64) T tile[CGRAD_MR_MAX * CGRAD_NR_MAX];   /* edge tiles land here */

        if (beta != 0 && beta != 1) {        /* the micro-kernel only knows = and += */
            #pragma omp for schedule(static)
            for (long i = 0; i < M; i++)
                for (long j = 0; j < N; j++) C[i * ldc + j] *= beta;
        }
        for (long jc = 0; jc < N; jc += nc_blk) {
            const long nc = N - jc < nc_blk ? N - jc : nc_blk;
            const long n_panels = (nc + nr - 1) / nr;
            for (long pc = 0; pc < K; pc += kc_blk) {
                const long kc = K - pc < kc_blk ? K - pc : kc_blk;
                const int accumulate = pc > 0 || beta != 0;
                const int last = pc + kc >= K;

                #pragma omp for schedule(static) nowait
                for (long ip = 0; ip < m_panels; ip++) {
                    const long i0 = ip * mr;
                    G_FN(pack_A)(transA, A, lda, i0, M - i0 < mr ? M - i0 : mr, pc, kc, mr,
                                 alpha, Abuf + i0 * kc);
                }
                #pragma omp for schedule(static)
                for (long jq = 0; jq < n_panels; jq++) {
                    const long j0 = jq * nr;
                    G_FN(pack_B)(transB, B, ldb, pc, kc, jc + j0, nc - j0 < nr ? nc - j0 : nr,
                                 nr, Bbuf + j0 * kc);
                }
                /* (implicit barrier: both panels are packed) */
                #pragma omp for schedule(static)
                for (long t = 0; t < m_blocks * n_panels; t++) {
                    const long ib = t / n_panels, jq = t % n_panels;
                    const long j = jc + jq * nr, n = nc - jq * nr < nr ? nc - jq * nr : nr;
                    const T *bp = Bbuf + jq * nr * kc;
                    const long i_end = (ib + 1) * mc < M ? (ib + 1) * mc : M;
                    for (long i = ib * mc; i < i_end; i += mr) {    /* B micro-panel stays in L1 */
                        const long m = M - i < mr ? M - i : mr;
                        const T *ap = Abuf + i * kc;
                        T *c = C + i * ldc + j;
                        if (m == mr && n == nr) {
                            ukernel(kc, ap, bp, c, ldc, accumulate);
                        } else {
                            ukernel(kc, ap, bp, tile, nr, 0);
                            for (long ii = 0; ii < m; ii++)
                                for (long jj = 0; jj < n; jj++)
                                    c[ii * ldc + jj] = accumulate
                                        ? c[ii * ldc + jj] + tile[ii * nr + jj]
                                        : tile[ii * nr + jj];
                        }
                        if (last && epi) epi(ctx, c, ldc, i, j, m, n);
                    }
                }
                /* (implicit barrier: the panels may be overwritten) */
            }
        }
    }
    free(a_raw);
    free(b_raw);
}

void G_FN(gemm)(int transA, int transB, long M, long N, long K, T alpha,
                const T *A, long lda, const T *B, long ldb, T beta,
                T *C, long ldc, int n_threads)
{
    G_FN(gemm_ex)(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, n_threads,
                  (EPI_T)0, (void *)0);
}

#undef G_CAT_
#undef G_CAT
#undef G_FN
#undef G_OPA
