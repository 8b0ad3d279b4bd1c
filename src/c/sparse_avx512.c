/*
 * sparse_avx512.c -- C = S @ B for compressed sparse rows S, AVX-512 (per-file flags):
 * column blocks of up to 8 zmm accumulators (128 floats / 64 doubles of a row of C).  The
 * kernel and its bitwise contract with the dense GEMM are in sparse_impl.h; the driver
 * (threads, slices, epilogue) is cgrad_?spmm_ex in gemm_driver.h.
 */
#include "cgrad.h"
#include "simd_avx512.h"

#define SP_NVMAX 8

#define T float
#define V __m512
#define VL 16
#define MASK_T __mmask16
#define V_SFX ps
#define SP_NAME cgrad_sspmm_rows_avx512
#include "sparse_impl.h"
#undef T
#undef V
#undef VL
#undef MASK_T
#undef V_SFX
#undef SP_NAME

#define T double
#define V __m512d
#define VL 8
#define MASK_T __mmask8
#define V_SFX pd
#define SP_NAME cgrad_dspmm_rows_avx512
#include "sparse_impl.h"
#undef T
#undef V
#undef VL
#undef MASK_T
#undef V_SFX
#undef SP_NAME

/* csr_gather's pieces (sparse.c has the contract) with compress: 16 (8) columns per
 * step, their non-zeros and column numbers packed to the front of a register and stored
 * through a mask of as many lanes, so nothing past the last kept entry is written (the
 * rows piece is always exact).  The register form of vcompress and a masked store: the
 * store form of vcompress is microcoded on Zen 4.  X of the other dtype (TX) is loaded
 * and converted to T first (LOADZ), so the zero test sees the converted value. */

/* 16 doubles rounded to floats (vcvtpd2ps: the MXCSR rounding, nearest even). */
static inline __m512 ds_loadz(__mmask16 in, const double *x)
{
    const __m256 lo = _mm512_cvtpd_ps(_mm512_maskz_loadu_pd((__mmask8)in, x));
    const __m256 hi = _mm512_cvtpd_ps(_mm512_maskz_loadu_pd((__mmask8)(in >> 8), x + 8));
    return _mm512_insertf32x8(_mm512_castps256_ps512(lo), hi, 1);
}
/* 8 floats widened to doubles (exact). */
static inline __m512d sd_loadz(__mmask8 in, const float *x)
{
    return _mm512_cvtps_pd(_mm256_maskz_loadu_ps(in, x));
}

#define DEFINE_GATHER(SFX, TX, T, VL, MASK_T, V_T, ZERO, LOADZ, CMP_MASK, COMPRESS,      \
                      STORE, I_T, I_IOTA, I_ADD, I_SET1, I_COMPRESS, I_STORE)          \
static inline MASK_T SFX##lanes(long left)                                             \
{                                                                                       \
    return left >= VL ? (MASK_T)((1u << VL) - 1u) : (MASK_T)((1u << left) - 1u);       \
}                                                                                       \
long cgrad_##SFX##csr_rows_avx512(const TX *X, long ldx, const int64_t *order, long r0,  \
                                  long r1, long cols, long n, long cap, int32_t *ptr,   \
                                  int32_t *idx, T *val)                                 \
{                                                                                       \
    const I_T iota = I_IOTA;                                                            \
    for (long r = r0; r < r1; r++) {                                                    \
        const TX *x = X + (order != NULL ? order[r] : r) * ldx;                         \
        for (long k = 0; k < cols; k += VL) {                                           \
            const MASK_T in = SFX##lanes(cols - k);                                     \
            const V_T v = LOADZ(in, x + k);                                             \
            const MASK_T nz = CMP_MASK(in, v, ZERO, _CMP_NEQ_UQ);                       \
            const int kept = __builtin_popcount((unsigned)nz);                          \
            const MASK_T out = SFX##lanes(kept);                                        \
            STORE(val + n, out, COMPRESS(nz, v));                                       \
            I_STORE((void *)(idx + n), out, I_COMPRESS(nz, I_ADD(iota, I_SET1((int)k)))); \
            n += kept;                                                                  \
        }                                                                               \
        ptr[r + 1] = (int32_t)n;                                                        \
        if (n > cap) return -1;                                                         \
    }                                                                                   \
    return n;                                                                           \
}                                                                                       \
long cgrad_##SFX##csr_count_avx512(const TX *x, long cols)                             \
{                                                                                       \
    long c = 0;                                                                         \
    for (long k = 0; k < cols; k += VL) {                                               \
        const MASK_T in = SFX##lanes(cols - k);                                         \
        c += __builtin_popcount((unsigned)CMP_MASK(in, LOADZ(in, x + k), ZERO,          \
                                                   _CMP_NEQ_UQ));                       \
    }                                                                                   \
    return c;                                                                           \
}
#define GATHER_FLOAT(SFX, TX, LOADZ)                                                    \
    DEFINE_GATHER(SFX, TX, float, 16, __mmask16, __m512, _mm512_setzero_ps(), LOADZ,    \
                  _mm512_mask_cmp_ps_mask, _mm512_maskz_compress_ps,                    \
                  _mm512_mask_storeu_ps, __m512i,                                       \
                  _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), \
                  _mm512_add_epi32, _mm512_set1_epi32, _mm512_maskz_compress_epi32,     \
                  _mm512_mask_storeu_epi32)
#define GATHER_DOUBLE(SFX, TX, LOADZ)                                                   \
    DEFINE_GATHER(SFX, TX, double, 8, __mmask8, __m512d, _mm512_setzero_pd(), LOADZ,    \
                  _mm512_mask_cmp_pd_mask, _mm512_maskz_compress_pd,                    \
                  _mm512_mask_storeu_pd, __m256i, _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), \
                  _mm256_add_epi32, _mm256_set1_epi32, _mm256_maskz_compress_epi32,     \
                  _mm256_mask_storeu_epi32)
GATHER_FLOAT(s, float, _mm512_maskz_loadu_ps)
GATHER_FLOAT(ds, double, ds_loadz)
GATHER_DOUBLE(d, double, _mm512_maskz_loadu_pd)
GATHER_DOUBLE(sd, float, sd_loadz)
