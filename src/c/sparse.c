/*
 * sparse.c -- the sparse first layer's helpers: the portable C = S @ B kernel
 * (sparse_impl.h with one-lane "vectors", the plain loops' bits: acc + a * b, no FMA),
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

/* Branch-free: every element is written at the cursor, which moves only past non-zeros
 * (a data-dependent branch mispredicts on about every fifth MNIST pixel).  AVX-512 has
 * its own (vcompress, sparse_avx512.c); AVX2 has no compress and uses this one. */
#define DEFINE_CSR_GATHER(NAME, T)                                                     \
static long NAME(const T *X, long ldx, const int64_t *order, long rows, long cols,     \
                 long cap, int32_t *ptr, int32_t *idx, T *val)                         \
{                                                                                      \
    long n = 0;                                                                        \
    ptr[0] = 0;                                                                        \
    for (long r = 0; r < rows; r++) {                                                  \
        const T *x = X + (order != NULL ? order[r] : r) * ldx;                         \
        for (long k = 0; k < cols; k++) {                                              \
            const T v = x[k];                                                          \
            idx[n] = (int32_t)k;                                                       \
            val[n] = v;                                                                \
            n += v != 0;                                                               \
        }                                                                              \
        ptr[r + 1] = (int32_t)n;                                                       \
        if (n > cap) return -1;                                                        \
    }                                                                                  \
    return n;                                                                          \
}
DEFINE_CSR_GATHER(scsr_gather_generic, float)
DEFINE_CSR_GATHER(dcsr_gather_generic, double)

long cgrad_scsr_gather(const float *X, long ldx, const int64_t *order, long rows,
                       long cols, long cap, int32_t *ptr, int32_t *idx, float *val)
{
#if defined(CGRAD_HAVE_X86_DISPATCH)
    if (cgrad_isa_selected() == CGRAD_ISA_AVX512)
        return cgrad_scsr_gather_avx512(X, ldx, order, rows, cols, cap, ptr, idx, val);
#endif
    return scsr_gather_generic(X, ldx, order, rows, cols, cap, ptr, idx, val);
}

long cgrad_dcsr_gather(const double *X, long ldx, const int64_t *order, long rows,
                       long cols, long cap, int32_t *ptr, int32_t *idx, double *val)
{
#if defined(CGRAD_HAVE_X86_DISPATCH)
    if (cgrad_isa_selected() == CGRAD_ISA_AVX512)
        return cgrad_dcsr_gather_avx512(X, ldx, order, rows, cols, cap, ptr, idx, val);
#endif
    return dcsr_gather_generic(X, ldx, order, rows, cols, cap, ptr, idx, val);
}

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
    if (nt <= 1) {                                                                     \
        for (long r = 0; r < rows; r++)                                                \
            for (long e = ptr[r]; e < ptr[r + 1]; e++) {                               \
                const int32_t pos = cptr[idx[e] + 1]++;                                \
                crow[pos] = (int32_t)r;                                                \
                cval[pos] = val[e];                                                    \
            }                                                                          \
        return;                                                                        \
    }                                                                                  \
    long bounds[nt + 1];                 /* before any cursor moves */                 \
    for (int t = 0; t <= nt; t++) bounds[t] = column_split(cptr, cols, nnz, t, nt);   \
    _Pragma("omp parallel for num_threads(nt) schedule(static)")                       \
    for (int t = 0; t < nt; t++) {                                                     \
        const long c0 = bounds[t], c1 = bounds[t + 1];                                 \
        for (long r = 0; r < rows; r++) {                                              \
            long e = ptr[r];                                                           \
            while (e < ptr[r + 1] && idx[e] < c0) e++;                                 \
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
