/*
 * gemm_small_impl.h -- the no-pack GEMM kernel for small problems, written once over a
 * vector abstraction and included by gemm_small_avx512.c / gemm_small_avx2.c per dtype.
 *
 *   C[M x N] (= or +=) alpha*op(A) @ B      B row-major K x N (the driver transposes
 *                                           a transposed B first, through pack_B)
 * A and B are read in place.  C is cut into blocks of up to SM_RMAX rows x 2 vectors;
 * each block keeps its accumulators in registers: for every k, broadcast alpha*op(A)[i,k]
 * and FMA it with B's row k.  Bitwise contract with the packed path (gemm_rect and the
 * micro-kernels of the same ISA): per KC-deep slice of K, acc = 0, acc = fma(a, b, acc)
 * in increasing k, a = alpha * op(A)[i, k] (as pack_A scales); then C = acc on the first
 * slice unless `accumulate`, C = C + acc otherwise.  The last vector of a row block is
 * masked when N is not a multiple of the vector length.  A C of at most 4 rows (batch-1
 * inference) goes through gemm_rows_impl.h instead, which reads B's rows whole, with the
 * same sums; its last partial vector of columns comes back here.
 *
 * The includer defines: T, V, VL (lanes), MASK_T, V_ZERO(), V_SET1(x), V_LOAD(p),
 * V_STORE(p, v), V_MLOAD(p, m), V_MSTORE(p, m, v), V_MASK(n) (first n lanes),
 * V_FMA(a, b, c) (a*b + c), V_ADD(a, b), SM_RMAX (rows per block) and SM_NAME (the
 * exported function).  SM_FULL_MASKED: 1 if a masked access is as cheap as a plain
 * one (AVX-512), so full vectors go through the masked code too (fewer variants).
 * SM_MASK_IN_MEMORY: 1 if the mask is a vector register (AVX2); see SM_MASK below.
 */
#define SM_CAT_(a, b) a##b
#define SM_CAT(a, b) SM_CAT_(a, b)
#define SM_FN(name) SM_CAT(SM_NAME, name)
#define SM_INLINE static inline __attribute__((always_inline))

#ifndef SM_MASK_IN_MEMORY
#define SM_MASK_IN_MEMORY 0
#endif

/* *m read from memory: the empty asm says the memory may have changed, so the compiler
 * loads it here instead of keeping the value in a register. */
SM_INLINE MASK_T SM_FN(_reload)(MASK_T *m)
{
    __asm__("" : "+m"(*m));
    return *m;
}

/* One block: R rows x NV vectors of C at C (op(A) rows start at A, B columns at B).
 * R, NV, masked and scale are constants after inlining.
 *
 * Registers of the 6-row AVX2 k-loop: 12 accumulators, 2 B vectors, 1 broadcast of A,
 * plus alpha when scaling and the mask when the last vector is masked: 17 with both,
 * one more than AVX2 has.  GCC 12 then kept the mask in a register (it is needed again
 * by the masked stores of C after the loop) and spilled an accumulator instead: in the
 * float64 build an FMA from the stack and a store back on every k (1 store per 12
 * FMAs, the accumulator's chain through store-to-load forwarding), 12 such stores in
 * the object.  So in the scaled variants every use of the mask reads it from memory
 * (one load per k; the float32 build already did that on its own), and no k-loop
 * stores to the stack.  AVX-512 masks live in k registers: SM_MASK_IN_MEMORY is 0. */
SM_INLINE void SM_FN(_block)(const int R, const int NV, const int masked, const int scale,
                             int transA, long K, long kc_blk, T alpha, const T *A,
                             long lda, const T *B, long ldb, int accumulate, T *C,
                             long ldc, MASK_T mask)
{
    MASK_T mask_mem = mask;
#define SM_MASK() (SM_MASK_IN_MEMORY && scale ? SM_FN(_reload)(&mask_mem) : mask)
    for (long pc = 0; pc < K; pc += kc_blk) {
        const long kend = K - pc < kc_blk ? K : pc + kc_blk;
        V acc[SM_RMAX][2];
#pragma GCC unroll 16
        for (int r = 0; r < R; r++) {
            acc[r][0] = V_ZERO();
            acc[r][1] = V_ZERO();
        }
        for (long p = pc; p < kend; p++) {
            const T *b = B + p * ldb;
            V b0, b1 = V_ZERO();
            if (NV == 1) {
                b0 = masked ? V_MLOAD(b, SM_MASK()) : V_LOAD(b);
            } else {
                b0 = V_LOAD(b);
                b1 = masked ? V_MLOAD(b + VL, SM_MASK()) : V_LOAD(b + VL);
            }
#pragma GCC unroll 16
            for (int r = 0; r < R; r++) {
                T a = transA ? A[p * lda + r] : A[r * lda + p];
                if (scale) a = alpha * a;
                const V av = V_SET1(a);
                acc[r][0] = V_FMA(av, b0, acc[r][0]);
                if (NV == 2) acc[r][1] = V_FMA(av, b1, acc[r][1]);
            }
        }
        const int add = accumulate || pc > 0;
#pragma GCC unroll 16
        for (int r = 0; r < R; r++) {
            T *c = C + r * ldc;
            if (NV == 1) {
                if (masked) {
                    V_MSTORE(c, SM_MASK(),
                             add ? V_ADD(V_MLOAD(c, SM_MASK()), acc[r][0]) : acc[r][0]);
                } else {
                    V_STORE(c, add ? V_ADD(V_LOAD(c), acc[r][0]) : acc[r][0]);
                }
            } else {
                V_STORE(c, add ? V_ADD(V_LOAD(c), acc[r][0]) : acc[r][0]);
                if (masked) {
                    V_MSTORE(c + VL, SM_MASK(),
                             add ? V_ADD(V_MLOAD(c + VL, SM_MASK()), acc[r][1]) : acc[r][1]);
                } else {
                    V_STORE(c + VL, add ? V_ADD(V_LOAD(c + VL), acc[r][1]) : acc[r][1]);
                }
            }
        }
    }
#undef SM_MASK
}

/* Instantiate the block for R = 1..SM_RMAX rows with the other flags fixed. */
#define SM_ARGS transA, K, kc_blk, alpha, A, lda, B, ldb, accumulate, C, ldc, mask
#define SM_DEFINE_ROWS(SUFFIX, NV, MASKED, SCALE)                                       \
static void SM_FN(SUFFIX)(int R, int transA, long K, long kc_blk, T alpha, const T *A,  \
                          long lda, const T *B, long ldb, int accumulate, T *C,        \
                          long ldc, MASK_T mask)                                       \
{                                                                                      \
    switch (R) {                                                                       \
    case 1: SM_FN(_block)(1, NV, MASKED, SCALE, SM_ARGS); break;                        \
    case 2: SM_FN(_block)(2, NV, MASKED, SCALE, SM_ARGS); break;                        \
    case 3: SM_FN(_block)(3, NV, MASKED, SCALE, SM_ARGS); break;                        \
    case 4: SM_FN(_block)(4, NV, MASKED, SCALE, SM_ARGS); break;                        \
    case 5: SM_FN(_block)(5, NV, MASKED, SCALE, SM_ARGS); break;                        \
    case 6: SM_FN(_block)(6 < SM_RMAX ? 6 : SM_RMAX, NV, MASKED, SCALE, SM_ARGS); break; \
    case 7: SM_FN(_block)(7 < SM_RMAX ? 7 : SM_RMAX, NV, MASKED, SCALE, SM_ARGS); break; \
    default: SM_FN(_block)(SM_RMAX, NV, MASKED, SCALE, SM_ARGS); break;                \
    }                                                                                  \
}
#if SM_RMAX > 8 || SM_RMAX < 6
#error "SM_RMAX must be 6 to 8 (the switch above lists the remainders)"
#endif

SM_DEFINE_ROWS(_v1m, 1, 1, 0)
SM_DEFINE_ROWS(_v2m, 2, 1, 0)
SM_DEFINE_ROWS(_v1ms, 1, 1, 1)
SM_DEFINE_ROWS(_v2ms, 2, 1, 1)
#if !SM_FULL_MASKED
SM_DEFINE_ROWS(_v1, 1, 0, 0)
SM_DEFINE_ROWS(_v2, 2, 0, 0)
SM_DEFINE_ROWS(_v1s, 1, 0, 1)
SM_DEFINE_ROWS(_v2s, 2, 0, 1)
#endif

#define GR_NAME SM_FN(_few_rows)
#include "gemm_rows_impl.h"
#undef GR_NAME

typedef void (*SM_CAT(SM_NAME, _rows_fn))(int, int, long, long, T, const T *, long,
                                          const T *, long, int, T *, long, MASK_T);

void SM_NAME(int transA, long M, long N, long K, long kc_blk, T alpha, const T *A,
             long lda, const T *B, long ldb, int accumulate, T *C, long ldc)
{
    const int scale = alpha != 1;
    /* Few rows: B's rows streamed whole (gemm_rows_impl.h); the rest in blocks below. */
    const long done = SM_FN(_few_rows)(transA, M, N, K, kc_blk, alpha, A, lda, B, ldb,
                                       accumulate, C, ldc);
    B += done, C += done, N -= done;
    for (long j = 0; j < N; j += 2 * VL) {
        const long n = N - j < 2 * VL ? N - j : 2 * VL;
        const int nv = n > VL ? 2 : 1;
        const long tail = n - (nv - 1) * VL;           /* columns in the last vector */
        const int masked = SM_FULL_MASKED || tail < VL;
        const MASK_T mask = V_MASK(tail);
        SM_CAT(SM_NAME, _rows_fn) fn;
        if (masked)
            fn = nv == 1 ? (scale ? SM_FN(_v1ms) : SM_FN(_v1m))
                         : (scale ? SM_FN(_v2ms) : SM_FN(_v2m));
#if !SM_FULL_MASKED
        else
            fn = nv == 1 ? (scale ? SM_FN(_v1s) : SM_FN(_v1))
                         : (scale ? SM_FN(_v2s) : SM_FN(_v2));
#endif
        for (long i = 0; i < M; i += SM_RMAX) {
            const int rows = M - i < SM_RMAX ? (int)(M - i) : SM_RMAX;
            fn(rows, transA, K, kc_blk, alpha, transA ? A + i : A + i * lda, lda, B + j,
               ldb, accumulate, C + i * ldc + j, ldc, mask);
        }
    }
}

#undef SM_ARGS
#undef SM_DEFINE_ROWS
#undef SM_CAT_
#undef SM_CAT
#undef SM_FN
#undef SM_INLINE
