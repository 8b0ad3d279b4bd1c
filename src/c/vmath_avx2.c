/*
 * vmath_avx2.c -- the vmath loops compiled with -mavx2 -mfma (CMakeLists.txt).
 *
 * exp, tanh and sigmoid are explicit ymm loops, the same formulas and tricks as
 * vmath_avx512.c (NaN passes through vminps/vmaxps with the variable second), except:
 *   - 2^k is built in the exponent field (k + 127) << 23; exp scales in two halves
 *     (both exact until the last multiply) so a subnormal result is rounded once;
 *   - the partial last vector goes through an 8-float zero-padded stack copy and the
 *     same vector code, so tails and unaligned starts are bitwise identical to the
 *     bulk.  Each vector is loaded before it is stored: y == x is fine.
 * log, gelu, elu stay auto-vectorised from vmath_impl.h.
 */
#include <immintrin.h>
#include <string.h>

#include "vmath.h"
#include "vmath_impl.h"

CGRAD_VMATH_DEFINE_REST(avx2)

/* r = x - k ln2 (Cody-Waite); kf = k as a float, *ki = k as int32 lanes. */
static inline __m256 v_reduce(__m256 x, __m256 *kf, __m256i *ki)
{
    const __m256 round = _mm256_set1_ps(VM_ROUND);
    __m256 t = _mm256_fmadd_ps(x, _mm256_set1_ps(VM_LOG2E), round);
    *kf = _mm256_sub_ps(t, round);
    *ki = _mm256_sub_epi32(_mm256_castps_si256(t), _mm256_castps_si256(round));
    __m256 r = _mm256_fnmadd_ps(*kf, _mm256_set1_ps(VM_LN2_HI), x);
    return _mm256_fnmadd_ps(*kf, _mm256_set1_ps(VM_LN2_LO), r);
}

static inline __m256 v_expm1_poly(__m256 r)
{
    __m256 p = _mm256_set1_ps(VM_C7);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(VM_C6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(VM_C5));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(VM_C4));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(VM_C3));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(VM_C2));
    return _mm256_fmadd_ps(_mm256_mul_ps(r, r), p, r);
}

/* 2^k for int32 lanes -126 <= k <= 127. */
static inline __m256 v_pow2i(__m256i k)
{
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(k, _mm256_set1_epi32(127)), 23));
}

/* exp(max(x, -104)) for x <= 89 (NaN: NaN). */
static inline __m256 v_exp_le89(__m256 x)
{
    __m256 kf;
    __m256i k;
    x = _mm256_max_ps(_mm256_set1_ps(-104.0f), x);       /* NaN: x */
    __m256 r = v_reduce(x, &kf, &k);                     /* k in [-150, 128] */
    __m256 p = _mm256_add_ps(_mm256_set1_ps(1.0f), v_expm1_poly(r));
    __m256i k1 = _mm256_srai_epi32(k, 1);                /* both halves in [-75, 64] */
    __m256 s1 = v_pow2i(k1), s2 = v_pow2i(_mm256_sub_epi32(k, k1));
    return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
}

static inline __m256 v_exp(__m256 x)
{
    return v_exp_le89(_mm256_min_ps(_mm256_set1_ps(89.0f), x));
}

/* tanh(x) = sign(x) e / (e + 2), e = expm1(2 min(|x|, 9.1)). */
static inline __m256 v_tanh(__m256 x)
{
    const __m256 one = _mm256_set1_ps(1.0f), sgn = _mm256_set1_ps(-0.0f);
    __m256 kf;
    __m256i k;
    __m256 a = _mm256_min_ps(_mm256_set1_ps(9.1f), _mm256_andnot_ps(sgn, x));
    __m256 r = v_reduce(_mm256_add_ps(a, a), &kf, &k);   /* k in [0, 27] */
    __m256 q = v_expm1_poly(r);
    __m256 s = v_pow2i(k);
    __m256 e = _mm256_fmadd_ps(s, q, _mm256_sub_ps(s, one));
    __m256 t = _mm256_div_ps(e, _mm256_add_ps(e, _mm256_set1_ps(2.0f)));
    return _mm256_or_ps(t, _mm256_and_ps(x, sgn));
}

/* sigmoid(x) = (x >= 0 ? 1 : e) / (1 + e), e = exp(-|x|); the sign bit picks (for
 * x = -0, e = 1 as well). */
static inline __m256 v_sigmoid(__m256 x)
{
    const __m256 one = _mm256_set1_ps(1.0f);
    __m256 e = v_exp_le89(_mm256_or_ps(x, _mm256_set1_ps(-0.0f)));
    __m256 num = _mm256_blendv_ps(one, e, x);
    return _mm256_div_ps(num, _mm256_add_ps(one, e));
}

#define V256_LOOP(F)                                                         \
    do {                                                                     \
        long i_ = 0;                                                         \
        for (; i_ + 8 <= n; i_ += 8)                                         \
            _mm256_storeu_ps(y + i_, F(_mm256_loadu_ps(x + i_)));            \
        if (i_ < n) {                                                        \
            float b_[8] = {0};                                               \
            size_t m_ = (size_t)(n - i_) * sizeof(float);                    \
            memcpy(b_, x + i_, m_);                                          \
            _mm256_storeu_ps(b_, F(_mm256_loadu_ps(b_)));                    \
            memcpy(y + i_, b_, m_);                                          \
        }                                                                    \
    } while (0)

void cgrad_vexpf_avx2(const float *x, float *y, long n) { V256_LOOP(v_exp); }
void cgrad_vtanhf_avx2(const float *x, float *y, long n) { V256_LOOP(v_tanh); }
void cgrad_vsigmoidf_avx2(const float *x, float *y, long n) { V256_LOOP(v_sigmoid); }
