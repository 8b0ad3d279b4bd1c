/*
 * gemm_check_impl.h -- the per-dtype half of gemm_check.c, included once per dtype with
 * T (float/double), SFX (s/d), GEMM (cgrad_sgemm/cgrad_dgemm), SPMM (cgrad_sspmm_ex/
 * cgrad_dspmm_ex) and EPS (the unit of tests/test_gemm.py's tolerance for T).
 */
#define CK_CAT_(a, b) a##b
#define CK_CAT(a, b) CK_CAT_(a, b)
#define CK_FN(name) CK_CAT(name##_, SFX)

/* Every path of `sh` into its own copy of C: path 0 is the packed path on one thread. */
static int CK_FN(run_paths)(const struct shape *sh, const T *A, long lda, const T *B,
                            long ldb, const T *C0, long ldc, T *out[NPATHS])
{
    const double work = (double)sh->M * sh->N * sh->K;
    const size_t bytes = (size_t)sh->M * ldc * sizeof(T);
    int ran = 0;
    for (int p = 0; p < NPATHS; p++) {
        if (work > BIG_WORK && !paths[p].on_big) continue;
        memcpy(out[p], C0, bytes);
        if (sh->beta == 0)                   /* beta == 0: C must never be read */
            for (long i = 0; i < sh->M; i++)
                for (long j = 0; j < sh->N; j++) out[p][i * ldc + j] = (T)NAN;
        cgrad_gemm_set_nopack_threshold(path_threshold(paths[p].threshold, work));
        GEMM(sh->ta, sh->tb, sh->M, sh->N, sh->K, (T)sh->alpha, A, lda, B, ldb, (T)sh->beta,
             out[p], ldc, paths[p].threads);
        cgrad_gemm_set_nopack_threshold(threshold0);
        ran |= 1 << p;
    }
    return ran;
}

/* Packed path vs the float64 reference (every row, or every step-th row of a big
 * product, and the last): returns the largest |error| / tolerance, or INFINITY if an
 * output is not finite. */
static double CK_FN(worst_error)(const struct shape *sh, const T *A, long lda,
                                 const T *B, long ldb, const T *C0, const T *C, long ldc)
{
    const long M = sh->M, N = sh->N, K = sh->K;
    const double work = (double)M * N * K;
    const long step = work > REF_WORK ? (long)ceil(work / REF_WORK) : 1;
    const double tol = EPS * 8 * sqrt((double)K) * (fabs(sh->alpha) + fabs(sh->beta));
    double worst = 0;
    for (long i = 0; i < M; i = next_row(i, step, M)) {
        for (long j = 0; j < N; j++) {
            double sum = 0;
            for (long k = 0; k < K; k++)
                sum += (double)(sh->ta ? A[k * lda + i] : A[i * lda + k]) *
                       (double)(sh->tb ? B[j * ldb + k] : B[k * ldb + j]);
            double want = sh->alpha * sum;
            if (sh->beta != 0) want += sh->beta * (double)C0[i * ldc + j];
            const double got = C[i * ldc + j];
            if (!isfinite(got)) return INFINITY;
            if (fabs(got - want) / tol > worst) worst = fabs(got - want) / tol;
        }
    }
    return worst;
}

/* One shape: random operands with padded strides; returns the number of failures. */
static int CK_FN(check)(const struct shape *sh, const char *isa)
{
    const long M = sh->M, N = sh->N, K = sh->K;
    const long lda = (sh->ta ? M : K) + 1, ldb = (sh->tb ? K : N) + 2, ldc = N + 3;
    T *A = malloc(sizeof(T) * (size_t)(sh->ta ? K : M) * lda);
    T *B = malloc(sizeof(T) * (size_t)(sh->tb ? N : K) * ldb);
    T *C0 = malloc(sizeof(T) * (size_t)M * ldc);
    T *out[NPATHS];
    for (int p = 0; p < NPATHS; p++) out[p] = malloc(sizeof(T) * (size_t)M * ldc);
    for (long e = 0; e < (sh->ta ? K : M) * lda; e++) A[e] = (T)rng_normal();
    for (long e = 0; e < (sh->tb ? N : K) * ldb; e++) B[e] = (T)rng_normal();
    for (long e = 0; e < M * ldc; e++) C0[e] = e % ldc < N ? (T)rng_normal() : (T)PAD;

    const int ran = CK_FN(run_paths)(sh, A, lda, B, ldb, C0, ldc, out);
    int fails = 0;
    const double worst = CK_FN(worst_error)(sh, A, lda, B, ldb, C0, out[0], ldc);
    if (!(worst <= 1))
        fails += fail(sh, isa, STR(T), "packed path vs float64: error %.3g x tolerance",
                      worst);
    for (int p = 0; p < NPATHS; p++) {
        if (!(ran >> p & 1)) continue;
        for (long e = 0; e < M * ldc; e++)
            if (e % ldc >= N && out[p][e] != (T)PAD) {
                fails += fail(sh, isa, STR(T), "%s wrote past column N", paths[p].name);
                break;
            }
        if (p > 0 && memcmp(out[p], out[0], sizeof(T) * (size_t)M * ldc) != 0)
            fails += fail(sh, isa, STR(T), "%s: bits differ from packed, 1 thread",
                          paths[p].name);
    }
    if (worst > worst_seen) worst_seen = worst;
    free(A);
    free(B);
    free(C0);
    for (int p = 0; p < NPATHS; p++) free(out[p]);
    return fails;
}

/* C = S @ B through SPMM (1 and 2 threads, and its forced out-of-memory loop) must be
 * GEMM's bits on the dense S (cgrad.h: the exceptions, a non-finite B entry facing a
 * zero of S and the sign of a zero sum, cannot occur with finite B and random terms).
 * S: M x K with 20% of its entries non-zero, in compressed rows. */
static int CK_FN(check_spmm)(long M, long N, long K, const char *isa)
{
    const struct shape sh = {M, N, K, 0, 0, 1, 0};
    T *S = calloc((size_t)M * K, sizeof(T)), *val = malloc(sizeof(T) * (size_t)M * K);
    T *B = malloc(sizeof(T) * (size_t)K * N), *want = malloc(sizeof(T) * (size_t)M * N);
    T *got = malloc(sizeof(T) * (size_t)M * N);
    int32_t *ptr = malloc(sizeof(int32_t) * (size_t)(M + 1));
    int32_t *key = malloc(sizeof(int32_t) * (size_t)M * K);
    int32_t e = 0;
    int fails = 0;
    for (long i = 0; i < M; i++) {
        ptr[i] = e;
        for (long k = 0; k < K; k++)
            if (rng_uniform() < 0.2) {
                S[i * K + k] = val[e] = (T)rng_normal();
                key[e++] = (int32_t)k;
            }
    }
    ptr[M] = e;
    for (long n = 0; n < K * N; n++) B[n] = (T)rng_normal();
    GEMM(0, 0, M, N, K, 1, S, K, B, N, 0, want, N, 1);
    for (int run = 0; run < 3; run++) {          /* 1 thread, 2 threads, fallback loop */
        cgrad_spmm_force_fallback(run == 2);
        SPMM(M, N, K, ptr, key, val, B, N, got, N, run == 0 ? 1 : 2, NULL, NULL);
        cgrad_spmm_force_fallback(0);
        if (memcmp(got, want, sizeof(T) * (size_t)M * N) != 0)
            fails += fail(&sh, isa, STR(T), "spmm (%s) bits differ from the dense GEMM",
                          run == 0 ? "1 thread" : run == 1 ? "2 threads" : "fallback loop");
    }
    free(S);
    free(val);
    free(B);
    free(want);
    free(got);
    free(ptr);
    free(key);
    return fails;
}

#undef CK_CAT_
#undef CK_CAT
#undef CK_FN
