/*
 * gemm.c -- C = alpha * op(A) @ op(B) + beta * C, BLIS style (cgrad.h has the contract).
 *
 * Dimension letters: op(A) M x K, op(B) K x N; blocking MR, NR, KC, MC, NC per ISA
 * (dispatch.c).  Threads: C is cut into n_threads rectangles on the MR x NR tile grid
 * (the grid shape that packs least redundantly); each thread runs the serial BLIS
 * loops on its rectangle with its own pack buffers, so there is no barrier:
 *   jc  over N in NC-column panels:       pack op(B)[pc.., jc..] into NR-panels
 *   pc  over K in KC-deep slices             (L3/L2 resident)
 *   ic  over M in MC-row blocks:          pack op(A)[ic.., pc..] into MR-panels (L2)
 *   jr  over the NR-panels                   (the B micro-panel stays in L1)
 *   ir  over the MR-panels: micro-kernel, MR x NR accumulators in registers
 * Every element of C sums its K terms in the same order (pc ascending, k ascending
 * inside the kernel) whichever thread owns it: results are bitwise identical for any
 * thread count.  Edge tiles go through a zero-padded MR x NR scratch tile; a C narrower
 * than NR/2 is computed transposed (C.T = op(B).T @ op(A).T) and copied back.  Small
 * problems skip packing (the no-pack kernel, with the same K-sums, so the same bits; for
 * at most 4 rows of C it streams whole rows of B, gemm_rows_impl.h):
 * below the parallel threshold on one thread; on a one-thread call up to 128x that;
 * on several threads, medium problems run it on column blocks of C, one per thread
 * (thresholds below, with how they were chosen).  Pack buffers belong to one thread,
 * persist between calls and are 64-byte aligned.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "cgrad.h"
#include "vmath.h"

/* M*N*K below which one thread runs.  2^20 multiply-adds are about 10 us of work at
 * one core's AVX-512 speed; a parallel region costs a few microseconds when the other
 * threads spin, far more when they sleep or their core is busy, so half of a smaller
 * problem is not worth a region (RESULTS.md: digits 64-128-64-10 at batch 32, whose
 * 262,144-FMA GEMMs ran on two threads three to twenty times slower than on one). */
#ifndef CGRAD_GEMM_PARALLEL_MNK
#define CGRAD_GEMM_PARALLEL_MNK 1048576.0
#endif

/* M*N*K at or below which the no-pack path runs on any thread count (gemm_small_*: A
 * and B read in place, register blocks of op(A) rows x 2 vectors, masked tails): packing
 * costs O(MK + KN) and edge tiles go through a scratch tile, which small products do
 * not repay.  Below it the call stays on one thread whatever n_threads says.  #ifndef so
 * a dev build can move it (-D...) to re-measure; cgrad_gemm_set_nopack_threshold moves
 * it at run time (tests compare both paths).  benchmarks/RESULTS.md, "No-pack or
 * packed", has the measurements behind it and behind each ISA's nopack_serial. */
#ifndef CGRAD_GEMM_NOPACK_MNK
#define CGRAD_GEMM_NOPACK_MNK (CGRAD_GEMM_PARALLEL_MNK - 1.0)
#endif

static double nopack_mnk = CGRAD_GEMM_NOPACK_MNK;

/* Tests: 1 runs the sparse product through its out-of-memory fallback (spmm_small). */
static int spmm_force_small = 0;
int cgrad_spmm_force_fallback(int on)
{
    const int before = spmm_force_small;
    spmm_force_small = on != 0;
    return before;
}

/* Several threads in that range split C's columns in multiples of this (two AVX-512
 * float vectors) and run the no-pack kernel on their own blocks. */
#define NOPACK_COL_ALIGN 32

/* One-thread calls stay unpacked up to the ISA's nopack_serial times the threshold
 * (dispatch.c): how far its no-pack kernel keeps up with its packed micro-kernel.  Both
 * paths give the same bits, so the thread count may choose; the bound follows
 * cgrad_gemm_set_nopack_threshold (tests force either path with 0 or a huge value). */
static inline double nopack_limit(double serial_factor, int n_threads)
{
    return n_threads <= 1 ? nopack_mnk * serial_factor : nopack_mnk;
}

double cgrad_gemm_set_nopack_threshold(double mnk)
{
    const double before = nopack_mnk;
    nopack_mnk = mnk;
    return before;
}

double cgrad_gemm_serial_mnk(void)
{
    const double grid = CGRAD_GEMM_PARALLEL_MNK - 1.0;   /* gemm_grid's own threshold */
    return nopack_mnk < grid ? nopack_mnk : grid;
}

static inline long round_up(long x, long m) { return (x + m - 1) / m * m; }

/* Depth of the K slices: K cut into ceil(K/KC) slices of (nearly) equal depth, not
 * KC, KC, ..., remainder: W3's K = 784 with KC 384 gave a 16-deep last slice, a
 * micro-kernel call that loads and stores its C tile for 16 rank-1 updates.  Both the
 * packed and the no-pack path slice K with this, so they keep giving the same bits. */
static inline long kc_split(long K, long KC)
{
    const long slices = (K + KC - 1) / KC;
    return (K + slices - 1) / slices;
}

/* Per-thread pack buffers, kept between calls and grown on demand: a training step makes
 * dozens of GEMM calls, and a malloc/free pair per call (large blocks: mmap/munmap and
 * page faults) showed up in profiles.  Three slots: A and B panels, and the transposed
 * scratch C of the narrow-output path.  Each thread's blocks
 * live as long as the thread, like OpenBLAS's buffers; the calls on one thread never
 * overlap, so a slot is never used twice at once. */
static _Thread_local void *tl_raw[3];
static _Thread_local size_t tl_cap[3];

static long alloc_count;

void cgrad_count_alloc(void)
{
#pragma omp atomic
    alloc_count++;
}

long cgrad_alloc_count(void)
{
    long n;
#pragma omp atomic read
    n = alloc_count;
    return n;
}

static void *pack_buffer(int slot, size_t bytes)
{
    if (bytes > tl_cap[slot]) {
        cgrad_count_alloc();
        free(tl_raw[slot]);
        tl_raw[slot] = malloc(bytes + 64);
        tl_cap[slot] = tl_raw[slot] != NULL ? bytes : 0;
        if (tl_raw[slot] == NULL) return NULL;
    }
    return (void *)(((uintptr_t)tl_raw[slot] + 63) & ~(uintptr_t)63);
}


/* dZ rows for the paths that compute dZ before the GEMM (gemm_dz on no-pack and
 * narrow shapes): float32 through the per-ISA vmath loops, float64 plain loops; the
 * formulas of CGRAD_DZ_APPLY, so the bits of the packed path. */
static void dz_rows_s(int kind, const float *g, const float *y, float *o, long n)
{
    switch (kind) {
    case CGRAD_DZ_RELU: cgrad_vrelu_grad_f(y, g, o, n); return;
    case CGRAD_DZ_SIGMOID: cgrad_vsigmoid_grad_f(y, g, o, n); return;
    case CGRAD_DZ_TANH: cgrad_vtanh_grad_f(y, g, o, n); return;
    default: if (o != g) memcpy(o, g, (size_t)n * sizeof(float));
    }
}

static void dz_rows_d(int kind, const double *g, const double *y, double *o, long n)
{
    for (long i = 0; i < n; i++) o[i] = CGRAD_DZ_APPLY(double, kind, g[i], y[i]);
}

#define T float
#define SFX s
#define G_FMA fmaf
#define ROW_T cgrad_sgemm_row
#define UKERNEL_T cgrad_sukernel
#define EPI_T cgrad_sepilogue
#define DZ_T cgrad_sdz
#define DZ_ROWS dz_rows_s
#include "gemm_driver.h"
#undef T
#undef SFX
#undef ROW_T
#undef UKERNEL_T
#undef EPI_T
#undef DZ_T
#undef DZ_ROWS
#undef G_FMA

#define T double
#define SFX d
#define G_FMA fma
#define ROW_T cgrad_dgemm_row
#define UKERNEL_T cgrad_dukernel
#define EPI_T cgrad_depilogue
#define DZ_T cgrad_ddz
#define DZ_ROWS dz_rows_d
#include "gemm_driver.h"
