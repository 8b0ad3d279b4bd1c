/*
 * vmath_avx512.c -- the vmath loops compiled with -mavx512f/dq/bw/vl (CMakeLists.txt).
 *
 * exp, tanh and sigmoid are explicit zmm loops (the auto-vectorised template spent
 * most of its time on compare/blend chains for clamps and NaN checks, and on a staging
 * copy): same formulas as vmath_impl.h, with
 *   - clamps as vminps/vmaxps with the variable second, so NaN passes through every
 *     step and comes out as NaN without a separate check;
 *   - 2^k and p * 2^k by vscalefps (one rounding, so gradual underflow of exp is
 *     rounded once, and overflow gives inf);
 *   - the partial last vector by a masked load/store: every element goes through the
 *     same instructions wherever it sits, so tails and unaligned starts are bitwise
 *     identical to the bulk.  Each vector is loaded before it is stored: y == x is fine.
 * log, gelu, elu stay auto-vectorised from vmath_impl.h.
 */
#include <immintrin.h>

#include "vmath.h"
#include "vmath_impl.h"

CGRAD_VMATH_DEFINE_REST(avx512)

/* r = x - k ln2 (Cody-Waite) and k as a float, k = nearest integer to x / ln2. */
static inline __m512 v_reduce(__m512 x, __m512 *kf)
{
    const __m512 round = _mm512_set1_ps(VM_ROUND);
    __m512 t = _mm512_fmadd_ps(x, _mm512_set1_ps(VM_LOG2E), round);
    *kf = _mm512_sub_ps(t, round);
    __m512 r = _mm512_fnmadd_ps(*kf, _mm512_set1_ps(VM_LN2_HI), x);
    return _mm512_fnmadd_ps(*kf, _mm512_set1_ps(VM_LN2_LO), r);
}

/* expm1(r), |r| <= ln2/2: vm_expm1_poly. */
static inline __m512 v_expm1_poly(__m512 r)
{
    __m512 p = _mm512_set1_ps(VM_C7);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(VM_C6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(VM_C5));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(VM_C4));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(VM_C3));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(VM_C2));
    return _mm512_fmadd_ps(_mm512_mul_ps(r, r), p, r);
}

/* exp(max(x, -104)) for x <= 89 (NaN: NaN). */
static inline __m512 v_exp_le89(__m512 x)
{
    __m512 kf;
    x = _mm512_max_ps(_mm512_set1_ps(-104.0f), x);       /* NaN: x */
    __m512 r = v_reduce(x, &kf);                         /* k in [-150, 128] */
    __m512 p = _mm512_add_ps(_mm512_set1_ps(1.0f), v_expm1_poly(r));
    return _mm512_scalef_ps(p, kf);                      /* p 2^k, rounded once */
}

static inline __m512 v_exp(__m512 x)
{
    return v_exp_le89(_mm512_min_ps(_mm512_set1_ps(89.0f), x));
}

/* tanh(x) = sign(x) e / (e + 2), e = expm1(2 min(|x|, 9.1)). */
static inline __m512 v_tanh(__m512 x)
{
    const __m512 one = _mm512_set1_ps(1.0f);
    __m512 kf;
    __m512 a = _mm512_min_ps(_mm512_set1_ps(9.1f), _mm512_abs_ps(x));
    __m512 r = v_reduce(_mm512_add_ps(a, a), &kf);       /* k in [0, 27] */
    __m512 q = v_expm1_poly(r);
    __m512 s = _mm512_scalef_ps(one, kf);                /* 2^k */
    __m512 e = _mm512_fmadd_ps(s, q, _mm512_sub_ps(s, one));
    __m512 t = _mm512_div_ps(e, _mm512_add_ps(e, _mm512_set1_ps(2.0f)));
    __m512 sign = _mm512_and_ps(x, _mm512_set1_ps(-0.0f));
    return _mm512_or_ps(t, sign);
}

/* sigmoid(x) = (x >= 0 ? 1 : e) / (1 + e), e = exp(-|x|). */
static inline __m512 v_sigmoid(__m512 x)
{
    const __m512 one = _mm512_set1_ps(1.0f);
    __m512 e = v_exp_le89(_mm512_or_ps(x, _mm512_set1_ps(-0.0f)));
    __mmask16 pos = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_GE_OQ);
    __m512 num = _mm512_mask_mov_ps(e, pos, one);
    return _mm512_div_ps(num, _mm512_add_ps(one, e));
}

#define V512_LOOP(F)                                                         \
    do {                                                                     \
        long i_ = 0;                                                         \
        for (; i_ + 16 <= n; i_ += 16)                                       \
            _mm512_storeu_ps(y + i_, F(_mm512_loadu_ps(x + i_)));            \
        if (i_ < n) {                                                        \
            __mmask16 m_ = (__mmask16)((1u << (n - i_)) - 1u);               \
            _mm512_mask_storeu_ps(y + i_, m_, F(_mm512_maskz_loadu_ps(m_, x + i_))); \
        }                                                                    \
    } while (0)

void cgrad_vexpf_avx512(const float *x, float *y, long n) { V512_LOOP(v_exp); }
void cgrad_vtanhf_avx512(const float *x, float *y, long n) { V512_LOOP(v_tanh); }
void cgrad_vsigmoidf_avx512(const float *x, float *y, long n) { V512_LOOP(v_sigmoid); }
