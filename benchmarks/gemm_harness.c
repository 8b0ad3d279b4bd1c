/*
 * gemm_harness.c -- float32 GEMM pieces timed apart on one thread: the micro-kernel on
 * packed panels (L1-resident, and swept over an L2-sized A block as the driver does),
 * packing of A and B, and the whole cgrad_sgemm.  Tells which part of the packed path
 * falls short of the FMA peak (benchmarks/peak.py).
 *
 * Build against the kernels of a dev build (pip install -e . -Cbuild-dir=build/dev):
 *   gcc -O2 -fopenmp benchmarks/gemm_harness.c -Isrc/c \
 *       build/dev/CMakeFiles/cgrad_kernels.dir/src/c/*.o -lm -o /tmp/gemm_harness
 * Run:  /tmp/gemm_harness ISA [M N K TA TB] [reps]     ISA = generic|avx2|avx512|neon
 * Default shape: the 2048 cube.  Every figure is the median of `reps` samples; the
 * samples of the different parts are interleaved so load swings hit them alike.
 */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cgrad.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static float *randf(size_t n)
{
    float *p = aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64);
    for (size_t i = 0; i < n; i++) p[i] = (float)rand() / RAND_MAX - 0.5f;
    return p;
}

enum { P_UK_L1, P_UK_L2, P_PACK_A, P_PACK_B, P_GEMM, NPARTS };
static const char *part_name[NPARTS] = {
    "ukernel, panels in L1", "ukernel, MCxKC A block x KCxNC B", "pack A (all of op(A))",
    "pack B (all of op(B))", "cgrad_sgemm"};

int main(int argc, char **argv)
{
    const char *isa_name = argc > 1 ? argv[1] : "avx2";
    long M = 2048, N = 2048, K = 2048;
    int ta = 0, tb = 0, reps = 9;
    if (argc > 5) {
        M = atol(argv[2]); N = atol(argv[3]); K = atol(argv[4]);
        ta = atoi(argv[5]); tb = argc > 6 ? atoi(argv[6]) : 0;
    }
    if (argc > 7) reps = atoi(argv[7]);
    int isa = -1;
    for (int i = CGRAD_ISA_GENERIC; i <= CGRAD_ISA_NEON; i++)
        if (strcmp(isa_name, cgrad_isa_name(i)) == 0) isa = i;
    if (isa < 0 || cgrad_isa_select(isa) != 0) {
        fprintf(stderr, "ISA %s not available\n", isa_name);
        return 1;
    }
    const cgrad_sgemm_row *row = cgrad_sgemm_selected();
    const int mr = row->mr, nr = row->nr;
    const long kc = row->kc, mc = row->mc, nc = row->nc;
    printf("isa %s  MRxNR %dx%d  KC %ld MC %ld NC %ld  shape %ldx%ldx%ld %c%c\n", row->name,
           mr, nr, kc, mc, nc, M, N, K, ta ? 'T' : 'N', tb ? 'T' : 'N');

    float *A = randf((size_t)M * K), *B = randf((size_t)K * N), *C = randf((size_t)M * N);
    const long lda = ta ? M : K, ldb = tb ? K : N;
    /* micro-kernel operands: one MR panel and one NR panel (L1), and an MC x KC A block
     * with a KC x NC B panel (the driver's working set); an mr x nr C tile per call */
    const long ncb = nc < N ? nc : (N + nr - 1) / nr * nr;
    float *Ap = randf((size_t)mc * kc), *Bp = randf((size_t)kc * ncb);
    float *Ct = randf((size_t)M * N);
    float *Apk = randf((size_t)(M + mr) * K), *Bpk = randf((size_t)K * (N + nr));

    double t[NPARTS][64];
    double flops[NPARTS];
    const long l1_calls = 20000;
    flops[P_UK_L1] = 2.0 * mr * nr * kc * l1_calls;
    flops[P_UK_L2] = 2.0 * mc * ncb * kc;
    flops[P_GEMM] = 2.0 * M * N * K;
    flops[P_PACK_A] = (double)M * K * sizeof(float);     /* bytes, for GB/s */
    flops[P_PACK_B] = (double)K * N * sizeof(float);
    if (reps > 64) reps = 64;
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        for (long c = 0; c < l1_calls; c++) row->ukernel(kc, Ap, Bp, Ct, nr, c > 0);
        t[P_UK_L1][r] = now() - t0;

        t0 = now();
        for (long jr = 0; jr < ncb; jr += nr)
            for (long ir = 0; ir + mr <= mc; ir += mr)
                row->ukernel(kc, Ap + ir * kc, Bp + jr * kc, Ct + (ir % 64) * ncb + jr, ncb, 1);
        t[P_UK_L2][r] = now() - t0;

        t0 = now();     /* A in MC x KC blocks, B in KC x NC panels: the driver's calls */
        for (long p = 0; p < K; p += kc) {
            const long k = K - p < kc ? K - p : kc;
            for (long i = 0; i < M; i += mc)
                cgrad_spack_A(ta, A, lda, i, M - i < mc ? M - i : mc, p, k, mr, 1.0f,
                              Apk + (size_t)i * K + p * mr);
        }
        t[P_PACK_A][r] = now() - t0;

        t0 = now();
        for (long p = 0; p < K; p += kc) {
            const long k = K - p < kc ? K - p : kc;
            for (long j = 0; j < N; j += nc)
                cgrad_spack_B(tb, B, ldb, p, k, j, N - j < nc ? N - j : nc, nr,
                              Bpk + (size_t)j * K + p * nr);
        }
        t[P_PACK_B][r] = now() - t0;

        t0 = now();
        cgrad_sgemm(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, N, 1);
        t[P_GEMM][r] = now() - t0;
    }
    double gemm_s = median(t[P_GEMM], reps);
    for (int p = 0; p < NPARTS; p++) {
        const double s = median(t[p], reps);
        if (p == P_PACK_A || p == P_PACK_B)
            printf("  %-34s %8.3f ms %7.1f GB/s  (%4.1f%% of the GEMM)\n", part_name[p],
                   s * 1e3, flops[p] / s / 1e9, 100 * s / gemm_s);
        else
            printf("  %-34s %8.3f ms %7.1f GFLOP/s\n", part_name[p], s * 1e3,
                   flops[p] / s / 1e9);
    }
    free(A); free(B); free(C); free(Ap); free(Bp); free(Ct); free(Apk); free(Bpk);
    return 0;
}
