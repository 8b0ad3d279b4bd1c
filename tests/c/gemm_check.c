/*
 * gemm_check.c -- cgrad_sgemm / cgrad_dgemm checked without Python, so the kernels of a
 * platform we cannot import on (aarch64, cross-compiled and run under qemu) are tested
 * as well as the native ones.  Built by CMake with -DCGRAD_C_TESTS=ON (the kernels with
 * the package's own flags; tests/test_aarch64.py does both builds).
 *
 *   gemm_check [ISA ...]      ISA = generic | avx2 | avx512 | neon (default: every ISA
 *                             this binary and machine can run); exit 1 on any failure
 *                             or an unavailable ISA.
 *   gemm_check --selected     print the ISA chosen at start-up (CGRAD_ISA or the best).
 *
 * Per ISA and dtype, shapes: every M, N in 1..40 (K 1..40, transposes, alpha and beta
 * varied with them), medium shapes over every transpose, K crossing KC once and twice,
 * one shape crossing KC, MC and NC of the selected row, and (float32) W3's
 * 256 x 1024 x 784.
 * Each shape runs through the packed path (1 and 2 threads), the no-pack path (one
 * thread; column blocks on 2), and the default choice: the packed path on one thread
 * must match a float64 reference within tests/test_gemm.py's tolerance, and every other
 * path must give its bits exactly (the driver picks paths by size and thread count).
 * beta == 0 calls get a NaN-filled C (it must never be read); the padding past column N
 * of C must stay untouched.  The sparse product cgrad_?spmm_ex (dense layers on sparse
 * rows) must give cgrad_?gemm's bits on the same ISA.
 */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cgrad.h"

#define STR_(x) #x
#define STR(x) STR_(x)
#define PAD 12345.0        /* C's columns past N: must survive every call */
#define BIG_WORK 3e7       /* M*N*K above which only the packed and no-pack paths run
                              (qemu is slow; by default such shapes take the packed one) */
#define REF_WORK 1.6e7     /* multiply-adds of the float64 reference per shape, at most */

struct shape { long M, N, K; int ta, tb; double alpha, beta; };

/* How a path sets the no-pack threshold (cgrad_gemm_set_nopack_threshold). */
enum { ALWAYS_PACK, NEVER_PACK, MEDIUM, DEFAULT };
static const struct { const char *name; int threshold, threads, on_big; } paths[] = {
    {"packed, 1 thread", ALWAYS_PACK, 1, 1},
    {"packed, 2 threads", ALWAYS_PACK, 2, 1},
    {"no-pack, 1 thread", NEVER_PACK, 1, 1},
    {"no-pack column blocks, 2 threads", MEDIUM, 2, 0},
    {"default, 1 thread", DEFAULT, 1, 0},
    {"default, 2 threads", DEFAULT, 2, 0},
};
#define NPATHS ((int)(sizeof paths / sizeof paths[0]))

static double threshold0;   /* the build's no-pack threshold */
static double worst_seen;   /* largest error / tolerance of the current ISA and dtype */
static int failures_printed;

/* MEDIUM: work / 2 keeps 2-thread calls off the one-thread no-pack path but within
 * 128x of it, where N >= 64 splits C into no-pack column blocks. */
static double path_threshold(int kind, double work)
{
    switch (kind) {
    case ALWAYS_PACK: return 0;
    case NEVER_PACK: return INFINITY;
    case MEDIUM: return work / 2;
    default: return threshold0;
    }
}

/* Standard normal numbers from a fixed-seed 64-bit LCG (Box-Muller). */
static uint64_t rng_state = 0x9E3779B97F4A7C15u;
static double rng_uniform(void)
{
    rng_state = rng_state * 6364136223846793005u + 1442695040888963407u;
    return ((double)(rng_state >> 11) + 0.5) / 9007199254740992.0;
}
static double rng_normal(void)
{
    return sqrt(-2 * log(rng_uniform())) * cos(6.283185307179586 * rng_uniform());
}

/* Rows the reference checks: every step-th, and the last. */
static long next_row(long i, long step, long M)
{
    if (i == M - 1) return M;
    return i + step < M ? i + step : M - 1;
}

static int fail(const struct shape *sh, const char *isa, const char *dtype, const char *fmt,
                ...)
{
    if (failures_printed++ < 30) {
        va_list ap;
        printf("FAIL %s %s M=%ld N=%ld K=%ld transA=%d transB=%d alpha=%g beta=%g: ", isa,
               dtype, sh->M, sh->N, sh->K, sh->ta, sh->tb, sh->alpha, sh->beta);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        printf("\n");
    }
    return 1;
}

#define T float
#define SFX s
#define GEMM cgrad_sgemm
#define SPMM cgrad_sspmm_ex
#define EPS 2e-6
#include "gemm_check_impl.h"
#undef T
#undef SFX
#undef GEMM
#undef SPMM
#undef EPS

#define T double
#define SFX d
#define GEMM cgrad_dgemm
#define SPMM cgrad_dspmm_ex
#define EPS 1e-14
#include "gemm_check_impl.h"
#undef T
#undef SFX
#undef GEMM
#undef SPMM
#undef EPS

static const double ALPHA_BETA[4][2] = {{1, 0}, {1, 1}, {0.7, 0}, {-1.5, 0.25}};
/* cgrad_?spmm_ex shapes M x N x K (batch x outputs x inputs): K slices, a partial
 * vector, tiny, narrow, wide. */
static const long SPMM_SHAPES[][3] = {{300, 70, 800}, {64, 33, 100}, {7, 3, 5},
                                      {1000, 10, 64}, {40, 1000, 513}};
#define N_SPMM ((int)(sizeof SPMM_SHAPES / sizeof SPMM_SHAPES[0]))

/* The shapes for a dispatch row's blocking (w3: add W3's float32 layer); returns their
 * number (out: room for 2000). */
static int make_shapes(struct shape *out, long kc, long mc, long nc, int nr, int w3)
{
    int n = 0;
    for (long M = 1; M <= 40; M++)               /* edges: every M, N; K 1..40 with them */
        for (long N = 1; N <= 40; N++) {
            const int t = (int)((3 * M + N) % 4), ab = (int)((M + 2 * N) % 4);
            out[n++] = (struct shape){M, N, 1 + (7 * M + 3 * N) % 40, t & 1, t >> 1,
                                      ALPHA_BETA[ab][0], ALPHA_BETA[ab][1]};
        }
    const long medium[][3] = {{67, 150, 513}, {257, 33, 300}, {100, 200, 256},
                              {130, 7, 300},  {1000, 17, 3},  {64, 10, 128},
                              {13, 1000, 513}, {40, 50, kc + 1}, {29, 70, 2 * kc + 1}};
    for (size_t s = 0; s < sizeof medium / sizeof medium[0]; s++)
        for (int t = 0; t < 4; t++)
            out[n++] = (struct shape){medium[s][0], medium[s][1], medium[s][2], t & 1, t >> 1,
                                      ALPHA_BETA[(s + t) % 4][0], ALPHA_BETA[(s + t) % 4][1]};
    out[n++] = (struct shape){mc + 5, nc + nr + 3, kc + 7, 1, 0, 1, 1};   /* every block */
    if (w3) out[n++] = (struct shape){256, 1024, 784, 0, 0, 1, 0};
    return n;
}

/* All shapes of both dtypes on `isa`; returns the number of failures. */
static int check_isa(int isa, struct shape *shapes)
{
    const char *name = cgrad_isa_name(isa);
    int fails = 0;
    cgrad_isa_select(isa);
    for (int dt = 0; dt < 2; dt++) {
        const cgrad_sgemm_row *s = cgrad_sgemm_selected();
        const cgrad_dgemm_row *d = cgrad_dgemm_selected();
        const int n = dt == 0 ? make_shapes(shapes, s->kc, s->mc, s->nc, s->nr, 1)
                              : make_shapes(shapes, d->kc, d->mc, d->nc, d->nr, 0);
        int f = 0;
        worst_seen = 0;
        for (int i = 0; i < n; i++)
            f += dt == 0 ? check_s(&shapes[i], name) : check_d(&shapes[i], name);
        printf("%s %s: row %s %dx%d, %d shapes, worst error %.3f x tolerance, %d failures\n",
               name, dt == 0 ? "float32" : "float64", dt == 0 ? s->name : d->name,
               dt == 0 ? s->mr : d->mr, dt == 0 ? s->nr : d->nr, n, worst_seen, f);
        fails += f;
        f = 0;
        for (int i = 0; i < N_SPMM; i++)
            f += dt == 0 ? check_spmm_s(SPMM_SHAPES[i][0], SPMM_SHAPES[i][1],
                                        SPMM_SHAPES[i][2], name)
                         : check_spmm_d(SPMM_SHAPES[i][0], SPMM_SHAPES[i][1],
                                        SPMM_SHAPES[i][2], name);
        printf("%s %s: sparse S @ B, %d shapes, %d failures\n", name,
               dt == 0 ? "float32" : "float64", N_SPMM, f);
        fails += f;
    }
    return fails;
}

int main(int argc, char **argv)
{
    static struct shape shapes[2000];
    int isas[8], n_isas = 0, fails = 0;
    const int env_error = cgrad_isa_init();
    if (argc == 2 && strcmp(argv[1], "--selected") == 0) {
        printf("%s%s\n", cgrad_isa_name(cgrad_isa_selected()),
               env_error ? " (CGRAD_ISA unknown or unavailable)" : "");
        return env_error != 0;
    }
    threshold0 = cgrad_gemm_set_nopack_threshold(0);
    cgrad_gemm_set_nopack_threshold(threshold0);
    for (int a = 1; a < argc; a++) {
        int found = -1;
        for (int isa = CGRAD_ISA_GENERIC; isa <= CGRAD_ISA_NEON; isa++)
            if (strcmp(argv[a], cgrad_isa_name(isa)) == 0) found = isa;
        if (found < 0 || !cgrad_isa_available(found) || n_isas == 8) {
            printf("FAIL ISA %s is not available in this build on this machine\n", argv[a]);
            return 1;
        }
        isas[n_isas++] = found;
    }
    if (n_isas == 0)
        for (int isa = CGRAD_ISA_GENERIC; isa <= CGRAD_ISA_NEON; isa++)
            if (cgrad_isa_available(isa)) isas[n_isas++] = isa;
    for (int i = 0; i < n_isas; i++) fails += check_isa(isas[i], shapes);
    printf("%s: %d failures\n", fails ? "FAILED" : "OK", fails);
    return fails != 0;
}
