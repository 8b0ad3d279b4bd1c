/*
 * gemm.c -- C = alpha * op(A) @ op(B) + beta * C, BLIS style (cgrad.h has the contract).
 *
 * Dimension letters: op(A) M x K, op(B) K x N; blocking MR, NR, KC, MC, NC per ISA
 * (dispatch.c).  Loops, outermost first:
 *   jc  over N in NC-column panels of B
 *   pc  over K in KC-deep slices: pack op(B)[pc.., jc..] into NR-panels and op(A)[:, pc..]
 *       into MR-panels (threads share the packing, then meet at a barrier)
 *   t   over (MC-row block, NR-column panel) tiles of C   <- OpenMP splits these
 *   ir  over the MR-row micro-panels of the block: micro-kernel (MR x NR in registers)
 * Every element of C sums its K terms in the same order (pc ascending, k ascending
 * inside the kernel) whichever thread owns it: results are bitwise identical for any
 * thread count.  Edge tiles go through a zero-padded MR x NR scratch tile.  Tiny
 * problems skip packing; small ones stay on one thread (thresholds below, measured
 * with benchmarks/bench_gemm.py).  Pack buffers are per call, 64-byte aligned.
 */
#include <stdint.h>
#include <stdlib.h>
#include "cgrad.h"

/* M*N*K at or below which the unpacked loop wins (packing costs O(MK + KN)). */
#define CGRAD_GEMM_NOPACK_MNK 4096.0
/* M*N*K below which one thread wins (an OpenMP region costs a few microseconds). */
#define CGRAD_GEMM_PARALLEL_MNK 262144.0

static inline long round_up(long x, long m) { return (x + m - 1) / m * m; }

/* malloc'ed block aligned to 64 bytes; *raw receives the pointer to free(). */
static void *aligned_alloc64(size_t bytes, void **raw)
{
    *raw = malloc(bytes + 64);
    if (*raw == NULL) return NULL;
    return (void *)(((uintptr_t)*raw + 63) & ~(uintptr_t)63);
}

#define T float
#define SFX s
#define ROW_T cgrad_sgemm_row
#define UKERNEL_T cgrad_sukernel
#define EPI_T cgrad_sepilogue
#include "gemm_driver.h"
#undef T
#undef SFX
#undef ROW_T
#undef UKERNEL_T
#undef EPI_T

#define T double
#define SFX d
#define ROW_T cgrad_dgemm_row
#define UKERNEL_T cgrad_dukernel
#define EPI_T cgrad_depilogue
#include "gemm_driver.h"
