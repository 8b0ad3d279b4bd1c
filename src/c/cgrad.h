/*
 * cgrad.h -- the C API of cgrad's compiled core, used from Cython (src/*.pxi).
 *
 * Conventions: row-major matrices, leading dimensions in elements, sizes as long.
 * Parameter gradients accumulate (+=) unless a call says otherwise; activation
 * gradients are overwritten (=).  Threads split outputs, never a sum, so every
 * result is bitwise identical for any thread count.
 */
#ifndef CGRAD_H
#define CGRAD_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- instruction-set dispatch (dispatch.c) ------------------------------------- */
enum { CGRAD_ISA_GENERIC = 0, CGRAD_ISA_AVX2 = 1, CGRAD_ISA_AVX512 = 2,
       CGRAD_ISA_NEON = 3 };

/* Best ISA this CPU *and OS* support (libgcc's __builtin_cpu_supports checks XCR0). */
int cgrad_isa_supported_best(void);
/* 1 if `isa` was compiled into this binary and is usable on this machine. */
int cgrad_isa_available(int isa);
/* The ISA the kernels use now; chosen once at import (init), CGRAD_ISA may force it. */
int cgrad_isa_selected(void);
/* Select `isa` (returns 0) or refuse (returns -1: not available). Not thread-safe:
 * call at import or between kernel calls only. */
int cgrad_isa_select(int isa);
const char *cgrad_isa_name(int isa);
/* Initialise the selection from CGRAD_ISA (generic|avx2|avx512|neon) or the best
 * available.  Returns -1 when CGRAD_ISA names an unknown or unavailable ISA (the best
 * is used). */
int cgrad_isa_init(void);

/* ---- cache sizes (cache.c) ---------------------------------------------------------
 * Bytes of L1d, L2 and this core's share of L3 (0: unknown); env_error is 1 when
 * CGRAD_CACHE was set but not of the form "L1D,L2,L3" (it is then ignored). */
typedef struct { long l1d, l2, l3; int env_error; } cgrad_caches;
enum { CGRAD_CACHE_UNKNOWN = 0, CGRAD_CACHE_FROM_ENV = 1, CGRAD_CACHE_FROM_SYSFS = 2,
       CGRAD_CACHE_FROM_SYSCONF = 3 };
/* Fill *out; returns where the sizes came from (CGRAD_CACHE_*). */
int cgrad_cache_detect(cgrad_caches *out);
/* The sizes the selected blocking was derived from (dispatch.c; detected at init). */
const cgrad_caches *cgrad_cache_sizes(int *source);

/* ---- GEMM (gemm.c, pack.c, ukernel_*.c) ------------------------------------------
 *
 *   C = alpha * op(A) @ op(B) + beta * C        op(X) = X or X.T (trans flag != 0)
 *
 * Dimension letters: op(A) is M x K, op(B) is K x N, C is M x N; row-major, lda/ldb/ldc
 * are row strides in elements.  beta == 0 means C is write-only (never read: it may hold
 * NaN).  Threads split C into tiles; every element's K-sum runs in one fixed order
 * (K is never split across threads), so results are bitwise identical for any
 * n_threads.  Tiny problems run on one thread without packing; medium ones skip packing
 * too (one thread: unpacked; several: unpacked column blocks, one per thread).
 * Blocking (BLIS names): MR x NR register tile, KC depth of a packed panel, MC rows of
 * the packed A block, NC columns of the packed B panel; one row per ISA in dispatch.c.
 * cgrad_?gemm is the plain call for C programs (a benchmark harness links it); the
 * package itself calls cgrad_?gemm_ex.
 */
void cgrad_sgemm(int transA, int transB, long M, long N, long K, float alpha,
                 const float *A, long lda, const float *B, long ldb, float beta,
                 float *C, long ldc, int n_threads);
void cgrad_dgemm(int transA, int transB, long M, long N, long K, double alpha,
                 const double *A, long lda, const double *B, long ldb, double beta,
                 double *C, long ldc, int n_threads);

/* Epilogue: called once per finished tile of C (after its whole K-sum, while it is in
 * cache), by the thread that owns the tile.  tile points at C[i0, j0]; the tile is
 * m x n with row stride ldc.  Used to fuse "+ bias, activation" into the GEMM. */
typedef void (*cgrad_sepilogue)(void *ctx, float *tile, long ldc, long i0, long j0,
                                long m, long n);
typedef void (*cgrad_depilogue)(void *ctx, double *tile, long ldc, long i0, long j0,
                                long m, long n);
void cgrad_sgemm_ex(int transA, int transB, long M, long N, long K, float alpha,
                    const float *A, long lda, const float *B, long ldb, float beta,
                    float *C, long ldc, int n_threads, cgrad_sepilogue epi, void *ctx);
void cgrad_dgemm_ex(int transA, int transB, long M, long N, long K, double alpha,
                    const double *A, long lda, const double *B, long ldb, double beta,
                    double *C, long ldc, int n_threads, cgrad_depilogue epi, void *ctx);

/* The weight gradient with the activation derivative applied while packing dZ:
 *
 *   dZ = dA * f'(Y)   (elementwise, K x N: f' from the activation output Y)
 *   C  = A.T @ dZ (+ C if beta == 1; beta is 0 or 1)      A: K x M row-major (X)
 *
 * dZ is never materialised before the GEMM: the packing of its panels reads dA and Y
 * and writes the packed dZ (and, once per element, dz->out, for the bias gradient and
 * dA of the layer below).  Kinds: identity, relu (Y > 0), sigmoid (Y (1 - Y)), tanh
 * ((1 - Y)(1 + Y)); products only, in the order of src/activations.pxi, so the bits are
 * those of the separate derivative pass followed by cgrad_?gemm.  Shapes the packed path
 * does not take (no-pack, narrow N) compute dz->out first, then the plain GEMM. */
enum { CGRAD_DZ_IDENTITY = 0, CGRAD_DZ_RELU = 1, CGRAD_DZ_SIGMOID = 2, CGRAD_DZ_TANH = 3 };
/* dA * f'(y), the formulas and order of src/activations.pxi (internal helper). */
#define CGRAD_DZ_APPLY(T, kind, g, v)                                                  \
    ((kind) == CGRAD_DZ_RELU ? ((v) > 0 ? (g) : (T)0)                                  \
     : (kind) == CGRAD_DZ_SIGMOID ? (g) * (v) * ((T)1 - (v))                           \
     : (kind) == CGRAD_DZ_TANH ? (g) * (((T)1 - (v)) * ((T)1 + (v))) : (g))
typedef struct { int kind; const float *y; long ldy; float *out; long ldo; } cgrad_sdz;
typedef struct { int kind; const double *y; long ldy; double *out; long ldo; } cgrad_ddz;
void cgrad_sgemm_dz(long M, long N, long K, const float *A, long lda, const float *dA,
                    long ldb, float beta, float *C, long ldc, int n_threads,
                    const cgrad_sdz *dz);
void cgrad_dgemm_dz(long M, long N, long K, const double *A, long lda, const double *dA,
                    long ldb, double beta, double *C, long ldc, int n_threads,
                    const cgrad_ddz *dz);
/* 1 if cgrad_?gemm_dz applies the derivative while packing for this shape (the packed
 * path); 0 if it would compute dZ first (no-pack and narrow shapes), where a caller
 * that can overwrite dA does better with the in-place derivative pass. */
int cgrad_sgemm_dz_packs(long M, long N, long K, int n_threads);
int cgrad_dgemm_dz_packs(long M, long N, long K, int n_threads);
/* Pack like cgrad_?pack_B (op(B) = B, not transposed) the panels of dZ = dA * f'(Y);
 * write != 0 also stores dZ into dz->out. */
void cgrad_spack_B_dz(const float *dA, long ldb, long p0, long kc, long j0, long n, int nr,
                      float *Bp, const cgrad_sdz *dz, int write);
void cgrad_dpack_B_dz(const double *dA, long ldb, long p0, long kc, long j0, long n, int nr,
                      double *Bp, const cgrad_ddz *dz, int write);

/* M*N*K at or below which C is computed without packing (gemm_small_*), on one thread.
 * Returns the previous value.  Not thread-safe: call between GEMM calls only (tests and
 * benchmarks use it to run one shape through both paths). */
double cgrad_gemm_set_nopack_threshold(double mnk);
/* M*N*K at or below which every GEMM (and sparse product) runs on one thread, whatever
 * n_threads says. */
double cgrad_gemm_serial_mnk(void);

/* Heap allocations made inside the kernels a training step calls (pack buffers grown,
 * chunk partial sums past the stack).  A step of a fit in steady state makes none; the
 * tests read the count to show it. */
void cgrad_count_alloc(void);
long cgrad_alloc_count(void);

/* No-pack kernels for small problems (gemm_small_avx512.c, gemm_small_avx2.c; the
 * portable one is in gemm_driver.h):  C (= or +=) alpha * op(A) @ B, with B row-major
 * K x N (not transposed: the driver transposes a transposed B first).  Per kc_blk-deep
 * slice of K each element sums acc = fma(alpha*op(A)[i,k], B[k,j], acc) from 0 in
 * increasing k, then C = acc (first slice, accumulate == 0) or C = C + acc: bitwise the
 * packed path of the same ISA with KC = kc_blk (beta pre-applied by the caller). */
void cgrad_sgemm_small_avx512(int transA, long M, long N, long K, long kc_blk, float alpha,
                              const float *A, long lda, const float *B, long ldb,
                              int accumulate, float *C, long ldc);
void cgrad_dgemm_small_avx512(int transA, long M, long N, long K, long kc_blk,
                              double alpha, const double *A, long lda, const double *B,
                              long ldb, int accumulate, double *C, long ldc);
void cgrad_sgemm_small_avx2(int transA, long M, long N, long K, long kc_blk, float alpha,
                            const float *A, long lda, const float *B, long ldb,
                            int accumulate, float *C, long ldc);
void cgrad_dgemm_small_avx2(int transA, long M, long N, long K, long kc_blk, double alpha,
                            const double *A, long lda, const double *B, long ldb,
                            int accumulate, double *C, long ldc);

/* Micro-kernel contract (BLIS): C[MR x NR] (= or +=) Ap * Bp over kc rank-1 updates.
 * Ap: MR-row micro-panel packed k-major (MR values per k); Bp: NR-column micro-panel
 * packed k-major (NR values per k); both zero-padded at edges by pack.c.  C row-major
 * with row stride ldc.  accumulate == 0: C is never read.  Full tiles only. */
typedef void (*cgrad_sukernel)(long kc, const float *Ap, const float *Bp, float *C,
                               long ldc, int accumulate);
typedef void (*cgrad_dukernel)(long kc, const double *Ap, const double *Bp, double *C,
                               long ldc, int accumulate);

/* One row of the dispatch table per ISA and dtype (dispatch.c). */
#define CGRAD_MR_MAX 16
#define CGRAD_NR_MAX 32
typedef struct {
    const char *name; int mr, nr; long kc, mc, nc; double nopack_serial; cgrad_sukernel ukernel;
} cgrad_sgemm_row;
typedef struct {
    const char *name; int mr, nr; long kc, mc, nc; double nopack_serial; cgrad_dukernel ukernel;
} cgrad_dgemm_row;
/* The rows of the selected ISA (never NULL). */
const cgrad_sgemm_row *cgrad_sgemm_selected(void);
const cgrad_dgemm_row *cgrad_dgemm_selected(void);

/* Packing (pack.c): rows [i0, i0+m) of op(A) for depth [p0, p0+kc) into ceil(m/mr)
 * MR-panels, scaled by alpha; columns [j0, j0+n) of op(B) into ceil(n/nr) NR-panels.
 * Edges are zero-padded to full panels. */
void cgrad_spack_A(int transA, const float *A, long lda, long i0, long m, long p0,
                   long kc, int mr, float alpha, float *Ap);
void cgrad_spack_B(int transB, const float *B, long ldb, long p0, long kc, long j0,
                   long n, int nr, float *Bp);
void cgrad_dpack_A(int transA, const double *A, long lda, long i0, long m, long p0,
                   long kc, int mr, double alpha, double *Ap);
void cgrad_dpack_B(int transB, const double *B, long ldb, long p0, long kc, long j0,
                   long n, int nr, double *Bp);

/* Micro-kernels (ukernel_ref.c always; the AVX ones only on x86-64 builds, the NEON ones
 * only on AArch64 builds). */
void cgrad_ukernel_s4x8_ref(long kc, const float *Ap, const float *Bp, float *C, long ldc,
                            int accumulate);
void cgrad_ukernel_d4x8_ref(long kc, const double *Ap, const double *Bp, double *C,
                            long ldc, int accumulate);
void cgrad_ukernel_s6x16_avx2(long kc, const float *Ap, const float *Bp, float *C,
                              long ldc, int accumulate);
void cgrad_ukernel_d6x8_avx2(long kc, const double *Ap, const double *Bp, double *C,
                             long ldc, int accumulate);
void cgrad_ukernel_s12x32_avx512(long kc, const float *Ap, const float *Bp, float *C,
                                 long ldc, int accumulate);
void cgrad_ukernel_d12x16_avx512(long kc, const double *Ap, const double *Bp, double *C,
                                 long ldc, int accumulate);
void cgrad_ukernel_s8x12_neon(long kc, const float *Ap, const float *Bp, float *C,
                              long ldc, int accumulate);
void cgrad_ukernel_d8x6_neon(long kc, const double *Ap, const double *Bp, double *C,
                             long ldc, int accumulate);

/* ---- Dense layers on compressed input rows (sparse*.c; driver in gemm_driver.h) --
 *
 *   C = S @ B      S: M x K sparse, compressed rows: row m's terms are e in
 *                  [ptr[m], ptr[m+1]), column key[e] (increasing within a row), value
 *                  val[e]; B: K x N row-major; C: M x N, overwritten (beta = 0).
 *
 * The dense GEMM C = A @ B (A holding S's values, zeros elsewhere) with the zero terms
 * skipped: per kc_split(K, KC)-deep slice of K the same fma chain in the same order, so
 * the same bits as cgrad_?gemm on the same ISA (sparse_impl.h: the two exceptions are a
 * non-finite B entry facing a zero of A, and the sign of a zero sum).  Threads split
 * rows (balanced by terms), never a sum.  epi (or NULL) runs on each finished block of
 * whole rows, as cgrad_?gemm_ex's does on a tile. */
void cgrad_sspmm_ex(long M, long N, long K, const int32_t *ptr, const int32_t *key,
                    const float *val, const float *B, long ldb, float *C, long ldc,
                    int n_threads, cgrad_sepilogue epi, void *ctx);
void cgrad_dspmm_ex(long M, long N, long K, const int32_t *ptr, const int32_t *key,
                    const double *val, const double *B, long ldb, double *C, long ldc,
                    int n_threads, cgrad_depilogue epi, void *ctx);
/* Tests: on != 0 runs cgrad_?spmm_ex through its out-of-memory fallback (the plain
 * loop, same bits); returns the previous setting.  Call between kernel calls only. */
int cgrad_spmm_force_fallback(int on);
/* Rows [m0, m1) of C = S @ B with K slices of kc_blk, on the calling thread, per ISA
 * (sparse_impl.h).  Work buffers: Bp CGRAD_SPMM_BP_BYTES, scratch (m1 - m0) x 8 vectors
 * (CGRAD_SPMM_SCRATCH_ROW bytes per row), cur (m1 - m0) int32. */
#ifndef CGRAD_SPMM_L1_BYTES
#define CGRAD_SPMM_L1_BYTES 24576
#endif
#define CGRAD_SPMM_BP_BYTES (CGRAD_SPMM_L1_BYTES + 512)
#define CGRAD_SPMM_SCRATCH_ROW 512
#define CGRAD_SPMM_DECLARE(ISA)                                                          \
    void cgrad_sspmm_rows_##ISA(long m0, long m1, long N, long K, long kc_blk,           \
                                const int32_t *ptr, const int32_t *key, const float *val, \
                                const float *B, long ldb, float *C, long ldc, float *Bp,  \
                                float *scratch, int32_t *cur);                           \
    void cgrad_dspmm_rows_##ISA(long m0, long m1, long N, long K, long kc_blk,           \
                                const int32_t *ptr, const int32_t *key,                  \
                                const double *val, const double *B, long ldb, double *C, \
                                long ldc, double *Bp, double *scratch, int32_t *cur);
CGRAD_SPMM_DECLARE(generic)
CGRAD_SPMM_DECLARE(avx2)
CGRAD_SPMM_DECLARE(avx512)
/* Compressed rows of rows order[0..rows) of X (order NULL: rows 0..rows-1), cols wide,
 * row stride ldx: the non-zero entries in increasing column.  Returns their number, or
 * -1 as soon as more than cap are kept (the caller then runs dense).  idx and val need
 * cap + cols + CGRAD_CSR_SLACK entries: a row is compressed before the count is checked,
 * and the SIMD version stores whole vectors.  Threads (large batches): every row is
 * counted first, then each thread compresses its rows from their known start; the
 * result does not depend on the thread count.  ds (sd): float64 (float32) X, float32
 * (float64) values, each converted as NumPy's astype does (the FP mode's rounding:
 * nearest even), zero tested after the conversion. */
#define CGRAD_CSR_SLACK 16
#define CGRAD_CSR_DECLARE(SFX, TX, T)                                                    \
    long cgrad_##SFX##csr_gather(const TX *X, long ldx, const int64_t *order, long rows, \
                                 long cols, long cap, int32_t *ptr, int32_t *idx, T *val, \
                                 int n_threads);                                         \
    /* its AVX-512 pieces (sparse.c describes them) */                                   \
    long cgrad_##SFX##csr_rows_avx512(const TX *X, long ldx, const int64_t *order,       \
                                      long r0, long r1, long cols, long n, long cap,     \
                                      int32_t *ptr, int32_t *idx, T *val);               \
    long cgrad_##SFX##csr_count_avx512(const TX *x, long cols);
CGRAD_CSR_DECLARE(s, float, float)
CGRAD_CSR_DECLARE(d, double, double)
CGRAD_CSR_DECLARE(ds, double, float)
CGRAD_CSR_DECLARE(sd, float, double)
/* The compressed columns of a rows x cols CSR: column k's rows (increasing) and values
 * are [cptr[k], cptr[k+1]) of crow / cval.  cptr has cols + 2 entries (scratch). */
void cgrad_scsr_transpose(long rows, long cols, const int32_t *ptr, const int32_t *idx,
                          const float *val, int32_t *cptr, int32_t *crow, float *cval,
                          int n_threads);
void cgrad_dcsr_transpose(long rows, long cols, const int32_t *ptr, const int32_t *idx,
                          const double *val, int32_t *cptr, int32_t *crow, double *cval,
                          int n_threads);

/* ---- fixed-order reductions (reduce.c; SIMD: reduce_avx2.c, reduce_avx512.c) --------
 * Every ISA gives the baseline loop's bits (the order is in reduce_impl.h).
 *
 * sum_chunks: out[c] = sum of f(x[i]) over chunk c = [c*chunk, min((c+1)*chunk, n)), in
 * double, f = x (power 1), |x| (power 0) or x*x (power 2, a multiply then an add); each
 * chunk in 8 interleaved accumulators a_j (element i -> a_{i%8}, the last n%8 of the
 * chunk to a_0), combined ((a0+a1)+(a2+a3))+((a4+a5)+(a6+a7)).  ceil(n/chunk) outputs.
 * column_sums: db[j] (+)= (T) sum_i dz[i*ldz + j] for j < ncols, rows in order, in double,
 * rounded once (accumulate: db[j] = (T)(db[j] + sum)). */
void cgrad_ssum_chunks(const float *x, long n, long chunk, int power, double *out);
void cgrad_dsum_chunks(const double *x, long n, long chunk, int power, double *out);
void cgrad_scolumn_sums(const float *dz, long ldz, long N, long ncols, float *db,
                        int accumulate);
void cgrad_dcolumn_sums(const double *dz, long ldz, long N, long ncols, double *db,
                        int accumulate);
#define CGRAD_REDUCE_DECLARE(ISA)                                                        \
    void cgrad_ssum_chunks_##ISA(const float *x, long n, long chunk, int power,          \
                                 double *out);                                           \
    void cgrad_dsum_chunks_##ISA(const double *x, long n, long chunk, int power,         \
                                 double *out);                                           \
    void cgrad_scolumn_sums_##ISA(const float *dz, long ldz, long N, long ncols,         \
                                  float *db, int accumulate);                            \
    void cgrad_dcolumn_sums_##ISA(const double *dz, long ldz, long N, long ncols,        \
                                  double *db, int accumulate);
CGRAD_REDUCE_DECLARE(generic)
CGRAD_REDUCE_DECLARE(avx2)
CGRAD_REDUCE_DECLARE(avx512)
/* Float32 transpose for pack.c, dst[p*ldd + r] = src[r*lds + p] (r < rows, p < cols),
 * 8 x 8 blocks in ymm registers (reduce_impl.h). */
void cgrad_stranspose_avx2(const float *src, long lds, long rows, long cols, float *dst,
                           long ldd);
void cgrad_stranspose_avx512(const float *src, long lds, long rows, long cols, float *dst,
                             long ldd);

#ifdef __cplusplus
}
#endif
#endif /* CGRAD_H */
