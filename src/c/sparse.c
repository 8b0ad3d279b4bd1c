/*
 * sparse.c -- the sparse path's helpers: the portable C = S @ B kernel
 * (sparse_impl.h with one-lane "vectors", the plain loops' bits: acc + a * b, no FMA on
 * x86; GCC fuses it on aarch64, as it does the plain loops),
 * the compression of a batch's rows (csr_gather) and its transpose (csr_transpose).
 * The driver (threads, K slices, epilogue) is cgrad_?spmm_ex in gemm_driver.h.
 */
#include <stdint.h>
#include <string.h>
#include "cgrad.h"

#define SP_NVMAX 8
#define VL 1
#define MASK_T int
#define V_SET1(x) (x)
#define V_LOAD(p) (*(p))
#define V_STORE(p, v) (*(p) = (v))
#define V_MLOAD(p, m) (*(p))
#define V_MSTORE(p, m, v) (*(p) = (v))
#define V_MASK(n) ((int)(n))
#define V_FMA(a, b, c) ((c) + (a) * (b))   /* the generic kernels' acc += a * b */
#define V_ADD(a, b) ((a) + (b))
#define V_ZERO() ((T)0)

#define T float
#define V float
#define SP_NAME cgrad_sspmm_rows_generic
#include "sparse_impl.h"
#undef T
#undef V
#undef SP_NAME

#define T double
#define V double
#define SP_NAME cgrad_dspmm_rows_generic
#include "sparse_impl.h"
#undef T
#undef V
#undef SP_NAME

/* csr_gather's pieces, per ISA (the AVX-512 ones in sparse_avx512.c), reading X of type
 * TX and keeping values of type T: a float64 X for a float32 network is rounded value by
 * value as a float32 copy of X would be (round to nearest even), and a value that rounds
 * to zero is dropped, so the compressed rows are those of X.astype(float32) (a float32
 * X for a float64 network is widened, exactly):
 *   rows:  compress rows [r0, r1) from position n (ptr[r0] == n), setting ptr[r0+1..r1];
 *          returns the new count, or -1 as soon as it exceeds cap.  `exact`: write
 *          nothing past the last kept entry (threads fill neighbouring rows); else up to
 *          a vector's worth past it may be written (the workspace has that slack).
 *   count: the non-zeros of one row.
 * The generic rows piece is branch-free unless exact: every element is written at the
 * cursor, which moves only past non-zeros (a data-dependent branch mispredicts on about
 * every fifth MNIST pixel).  AVX2 has no compress instruction and uses it too. */
#define DEFINE_CSR_PIECES(SFX, TX, T)                                                  \
static long SFX##csr_rows_generic(const TX *X, long ldx, const int64_t *order, long r0, \
                                  long r1, long cols, long n, long cap, int32_t *ptr,  \
                                  int32_t *idx, T *val, int exact)                     \
{                                                                                      \
    for (long r = r0; r < r1; r++) {                                                   \
        const TX *x = X + (order != NULL ? order[r] : r) * ldx;                        \
        if (exact) {                                                                   \
            for (long k = 0; k < cols; k++) {                                          \
                const T v = (T)x[k];                                                   \
                if (v != 0) {                                                          \
                    idx[n] = (int32_t)k;                                               \
                    val[n++] = v;                                                      \
                }                                                                      \
            }                                                                          \
        } else {                                                                       \
            for (long k = 0; k < cols; k++) {                                          \
                const T v = (T)x[k];                                                   \
                idx[n] = (int32_t)k;                                                   \
                val[n] = v;                                                            \
                n += v != 0;                                                           \
            }                                                                          \
        }                                                                              \
        ptr[r + 1] = (int32_t)n;                                                       \
        if (n > cap) return -1;                                                        \
    }                                                                                  \
    return n;                                                                          \
}                                                                                      \
static long SFX##csr_count_generic(const TX *x, long cols)                             \
{                                                                                      \
    long c = 0;                                                                        \
    for (long k = 0; k < cols; k++) c += (T)x[k] != 0;                                 \
    return c;                                                                          \
}                                                                                      \
static long SFX##csr_rows(const TX *X, long ldx, const int64_t *order, long r0, long r1, \
                          long cols, long n, long cap, int32_t *ptr, int32_t *idx,      \
                          T *val, int exact)                                            \
{                                                                                      \
    CSR_SIMD(return cgrad_##SFX##csr_rows_avx512(X, ldx, order, r0, r1, cols, n, cap,  \
                                                 ptr, idx, val));                       \
    return SFX##csr_rows_generic(X, ldx, order, r0, r1, cols, n, cap, ptr, idx, val,   \
                                 exact);                                               \
}                                                                                      \
static long SFX##csr_count(const TX *x, long cols)                                     \
{                                                                                      \
    CSR_SIMD(return cgrad_##SFX##csr_count_avx512(x, cols));                           \
    return SFX##csr_count_generic(x, cols);                                            \
}                                                                                      \
long cgrad_##SFX##csr_gather(const TX *X, long ldx, const int64_t *order, long rows,     \
                             long cols, long cap, int32_t *ptr, int32_t *idx, T *val,  \
                             int n_threads)                                            \
{                                                                                      \
    ptr[0] = 0;                                                                        \
    int nt = (double)rows * cols < CSR_GATHER_PARALLEL_MIN || n_threads < 1            \
        ? 1 : n_threads;                                                               \
    if (nt > rows) nt = (int)rows;                                                     \
    if (nt > CSR_MAX_THREADS) nt = CSR_MAX_THREADS;                                    \
    if (nt <= 1)                                                                       \
        return SFX##csr_rows(X, ldx, order, 0, rows, cols, 0, cap, ptr, idx, val, 0);  \
    /* counts first (so a batch over the cap is refused before any copy), then every   \
     * thread compresses its rows, exactly, from their start as counted (copied first:  \
     * the fill rewrites ptr).  A thread whose fill disagrees with the counts (it      \
     * cannot, unless the threads' FP modes differ) stops after at most one row past    \
     * its share, and the batch is redone on one thread. */                             \
    _Pragma("omp parallel for num_threads(nt) schedule(static)")                       \
    for (long r = 0; r < rows; r++)                                                    \
        ptr[r + 1] = (int32_t)SFX##csr_count(X + (order != NULL ? order[r] : r) * ldx, \
                                             cols);                                     \
    for (long r = 0; r < rows; r++) ptr[r + 1] += ptr[r];                              \
    if (ptr[rows] > cap) return -1;                                                    \
    long start[CSR_MAX_THREADS + 1];                                                   \
    for (int t = 0; t <= nt; t++) start[t] = ptr[rows * t / nt];                       \
    int agree = 1;                                                                     \
    _Pragma("omp parallel for num_threads(nt) schedule(static) reduction(&&: agree)")  \
    for (int t = 0; t < nt; t++)                                                       \
        agree = SFX##csr_rows(X, ldx, order, rows * t / nt, rows * (t + 1) / nt, cols, \
                              start[t], start[t + 1], ptr, idx, val, 1) == start[t + 1]; \
    if (!agree)                                                                        \
        return SFX##csr_rows(X, ldx, order, 0, rows, cols, 0, cap, ptr, idx, val, 0);  \
    return start[nt];                                                                  \
}

/* Batch entries (rows x cols) below which the compression runs on one thread: its two
 * parallel passes (counts, then copies) cost two parallel regions and a second read. */
#define CSR_GATHER_PARALLEL_MIN 65536.0
/* Threads the gather and the transpose use at most (their split points live on the stack). */
#define CSR_MAX_THREADS 64

#if defined(CGRAD_HAVE_X86_DISPATCH)
#define CSR_SIMD(call) if (cgrad_isa_selected() == CGRAD_ISA_AVX512) call
#else
#define CSR_SIMD(call) (void)0
#endif
DEFINE_CSR_PIECES(s, float, float)
DEFINE_CSR_PIECES(d, double, double)
DEFINE_CSR_PIECES(ds, double, float)
DEFINE_CSR_PIECES(sd, float, double)
#undef CSR_SIMD

/* Entries below which the transpose runs on one thread (a parallel region costs a few
 * microseconds; W3's hidden layer has about 100k entries per batch, MNIST's 25k-50k). */
#define CSR_TRANSPOSE_PARALLEL_MIN 16384

/* The first column of thread t's share: where the column starts (cptr[k + 1], counts
 * shifted one up before the scatter) reach t/nt of the entries. */
static long column_split(const int32_t *cptr, long cols, long nnz, int t, int nt)
{
    if (t <= 0) return 0;
    if (t >= nt) return cols;
    const long target = nnz * t / nt;
    long lo = 0, hi = cols;
    while (lo < hi) {
        const long mid = lo + (hi - lo) / 2;
        if (cptr[mid + 1] < target) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* Counting sort by column; rows are visited in order, so each column's rows increase.
 * cptr has cols + 2 entries: counts land two places up, the scatter's cursors one
 * place up, and after it cptr[k] is where column k starts.  Several threads split the
 * columns (balanced by entries); each walks every row but only its own columns' run of
 * it (columns increase within a row), so every list is written by one thread, in row
 * order: the same result for any thread count. */
#define DEFINE_CSR_TRANSPOSE(NAME, T)                                                  \
void NAME(long rows, long cols, const int32_t *ptr, const int32_t *idx, const T *val,  \
          int32_t *cptr, int32_t *crow, T *cval, int n_threads)                        \
{                                                                                      \
    memset(cptr, 0, (size_t)(cols + 2) * sizeof(int32_t));                             \
    const long nnz = ptr[rows] - ptr[0];                                               \
    for (long e = 0; e < nnz; e++) cptr[idx[ptr[0] + e] + 2]++;                        \
    for (long k = 2; k < cols + 2; k++) cptr[k] += cptr[k - 1];                        \
    int nt = nnz < CSR_TRANSPOSE_PARALLEL_MIN || n_threads < 1 ? 1 : n_threads;        \
    if (nt > cols) nt = (int)cols;                                                     \
    if (nt > CSR_MAX_THREADS) nt = CSR_MAX_THREADS;                                    \
    if (nt <= 1) {                                                                     \
        for (long r = 0; r < rows; r++)                                                \
            for (long e = ptr[r]; e < ptr[r + 1]; e++) {                               \
                const int32_t pos = cptr[idx[e] + 1]++;                                \
                crow[pos] = (int32_t)r;                                                \
                cval[pos] = val[e];                                                    \
            }                                                                          \
        return;                                                                        \
    }                                                                                  \
    long bounds[CSR_MAX_THREADS + 1];    /* before any cursor moves */                 \
    for (int t = 0; t <= nt; t++) bounds[t] = column_split(cptr, cols, nnz, t, nt);   \
    _Pragma("omp parallel for num_threads(nt) schedule(static)")                       \
    for (int t = 0; t < nt; t++) {                                                     \
        const long c0 = bounds[t], c1 = bounds[t + 1];                                 \
        for (long r = 0; r < rows; r++) {                                              \
            long lo = ptr[r], hi = ptr[r + 1];   /* the row's first column >= c0 */   \
            while (lo < hi) {                                                          \
                const long mid = lo + (hi - lo) / 2;                                   \
                if (idx[mid] < c0) lo = mid + 1;                                       \
                else hi = mid;                                                         \
            }                                                                          \
            long e = lo;                                                               \
            for (; e < ptr[r + 1] && idx[e] < c1; e++) {                               \
                const int32_t pos = cptr[idx[e] + 1]++;                                \
                crow[pos] = (int32_t)r;                                                \
                cval[pos] = val[e];                                                    \
            }                                                                          \
        }                                                                              \
    }                                                                                  \
}

DEFINE_CSR_TRANSPOSE(cgrad_scsr_transpose, float)
DEFINE_CSR_TRANSPOSE(cgrad_dcsr_transpose, double)
