/*
 * transpose4.h -- the 4 x 4 float32 block transpose through SSE registers, shared by
 * pack.c (baseline build) and reduce_impl.h (included by the AVX2 / AVX-512 files for
 * their edge rows).  static inline: each includer compiles its own copy with its flags.
 * Needs SSE (baseline on x86-64); the includers only use it there.
 */
#ifndef CGRAD_TRANSPOSE4_H
#define CGRAD_TRANSPOSE4_H
#include <xmmintrin.h>

/* dst[q * ldd + r] = src[r * lds + q] for r, q < 4. */
static inline void cgrad_transpose4_sse(const float *src, long lds, float *dst, long ldd)
{
    __m128 r0 = _mm_loadu_ps(src), r1 = _mm_loadu_ps(src + lds);
    __m128 r2 = _mm_loadu_ps(src + 2 * lds), r3 = _mm_loadu_ps(src + 3 * lds);
    _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
    _mm_storeu_ps(dst, r0);
    _mm_storeu_ps(dst + ldd, r1);
    _mm_storeu_ps(dst + 2 * ldd, r2);
    _mm_storeu_ps(dst + 3 * ldd, r3);
}
#endif
