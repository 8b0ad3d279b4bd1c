/*
 * vmath_impl.h -- the element formulas of vmath, written branch-free so that gcc -O3
 * vectorises the loops of each ISA file (vmath.c: SSE2 baseline; vmath_avx2.c,
 * vmath_avx512.c: compiled with those flags).  Everything here is static inline: each
 * ISA file gets its own copy compiled for its own instruction set.  exp, tanh and
 * sigmoid of the AVX2 / AVX-512 files are explicit intrinsic loops with the same
 * formulas and constants (VM_C*, VM_LN2_*, ...); the generic file uses these.
 *
 * exp:   x = k ln2 + r (Cody-Waite, ln2 split in a 9-bit high part, so k*LN2_HI is
 *        exact), |r| <= ln2/2, e^r = 1 + expm1(r) with the degree-7 Taylor polynomial
 *        (truncation < 2e-9 relative), scaled by 2^k in two halves so a subnormal
 *        result is rounded once.
 * expm1: 2^k expm1(r) + (2^k - 1): both terms exact or nearly so, one final rounding.
 * tanh:  t = expm1(2|x|) / (expm1(2|x|) + 2), sign copied from x: no cancellation for
 *        any |x| (tiny |x|: t ~= x exactly), saturates to 1 above 9.02.
 * log:   x = 2^k m, m in [sqrt(1/2), sqrt(2)), f = m - 1 exact, Cephes logf polynomial.
 */
#ifndef CGRAD_VMATH_IMPL_H
#define CGRAD_VMATH_IMPL_H

#include <stdint.h>
#include <string.h>

#define VM_BLOCK 256               /* elements per staging block (y may alias x) */

static inline uint32_t vm_bits(float x) { uint32_t u; memcpy(&u, &x, 4); return u; }
static inline float vm_float(uint32_t u) { float x; memcpy(&x, &u, 4); return x; }

static const float VM_LOG2E = 1.44269504088896341f;
static const float VM_LN2_HI = 0.693359375f;           /* 355/512 */
static const float VM_LN2_LO = -2.12194440e-4f;        /* ln2 - LN2_HI */
static const float VM_ROUND = 12582912.0f;             /* 1.5 * 2^23 */

/* k = nearest integer to x/ln2 (|x| < 2^21), as float and as int; r = x - k ln2. */
static inline float vm_reduce(float x, int32_t *k)
{
    float t = x * VM_LOG2E + VM_ROUND;
    float kf = t - VM_ROUND;
    *k = (int32_t)(vm_bits(t) - vm_bits(VM_ROUND));
    return (x - kf * VM_LN2_HI) - kf * VM_LN2_LO;
}

/* expm1(r) for |r| <= ln2/2 + a little: r + r^2 (1/2 + r/6 + ... + r^5/5040).  The
 * coefficients are shared with the intrinsic loops of vmath_avx2.c / vmath_avx512.c. */
#define VM_C7 1.98412698e-4f               /* 1/5040 */
#define VM_C6 1.38888889e-3f               /* 1/720 */
#define VM_C5 8.33333333e-3f               /* 1/120 */
#define VM_C4 4.16666667e-2f               /* 1/24 */
#define VM_C3 1.66666667e-1f               /* 1/6 */
#define VM_C2 0.5f
static inline float vm_expm1_poly(float r)
{
    float p = VM_C7;
    p = p * r + VM_C6;
    p = p * r + VM_C5;
    p = p * r + VM_C4;
    p = p * r + VM_C3;
    p = p * r + VM_C2;
    return r + (r * r) * p;
}

/* 2^k for -126 <= k <= 127. */
static inline float vm_pow2i(int32_t k) { return vm_float((uint32_t)(k + 127) << 23); }

static inline float vm_exp(float x)
{
    int32_t k, k1;
    float xc = x > -104.0f ? x : -104.0f;       /* NaN lands here too: fixed below */
    xc = xc < 89.0f ? xc : 89.0f;
    float r = vm_reduce(xc, &k);                /* k in [-150, 128] */
    float p = 1.0f + vm_expm1_poly(r);
    k1 = k >> 1;                                /* both halves in [-75, 64] */
    float y = (p * vm_pow2i(k1)) * vm_pow2i(k - k1);
    return x == x ? y : x + x;
}

/* expm1(x) for x <= 88 (larger x is treated as 88); NaN propagates. */
static inline float vm_expm1(float x)
{
    int32_t k;
    float xc = x > -30.0f ? x : -30.0f;         /* expm1(-30) == -1 in float */
    xc = xc < 88.0f ? xc : 88.0f;
    float r = vm_reduce(xc, &k);                /* k in [-43, 127] */
    float q = vm_expm1_poly(r);
    float s = vm_pow2i(k);
    float y = s * q + (s - 1.0f);
    return x == x ? y : x + x;
}

/* tanh as the SIMD files compute it: a = min(|x|, 9.1), u = 2a in [0, 18.2] needs no
 * expm1 clamps (k in [0, 27]); NaN is fixed at the end (the SIMD loops let it flow). */
static inline float vm_tanh(float x)
{
    int32_t k;
    float a = vm_float(vm_bits(x) & 0x7fffffffu);
    a = a < 9.1f ? a : 9.1f;                    /* tanh(9.1) rounds to 1 */
    float u = a + a;
    float r = vm_reduce(u, &k);
    float q = vm_expm1_poly(r);
    float s = vm_pow2i(k);
    float e = s * q + (s - 1.0f);               /* expm1(2a) */
    float t = e / (e + 2.0f);
    float y = vm_float(vm_bits(t) | (vm_bits(x) & 0x80000000u));
    return x == x ? y : x + x;
}

static inline float vm_sigmoid(float x)
{
    float e = vm_exp(vm_float(vm_bits(x) | 0x80000000u));       /* exp(-|x|) */
    return (x >= 0.0f ? 1.0f : e) / (1.0f + e);                  /* NaN: e is NaN */
}

static inline float vm_log(float x)
{
    int sub = x < 1.17549435e-38f;                               /* subnormal (or <= 0) */
    float xs = sub ? x * 8388608.0f : x;                         /* * 2^23 */
    uint32_t ix = vm_bits(xs) - 0x3f3504f3u;                     /* - bits(sqrt(1/2)) */
    int32_t k = ((int32_t)ix >> 23) - (sub ? 23 : 0);
    float f = vm_float((ix & 0x007fffffu) + 0x3f3504f3u) - 1.0f;
    float kf = (float)k;
    float z = f * f;
    float p = 7.0376836292e-2f;
    p = p * f - 1.1514610310e-1f;
    p = p * f + 1.1676998740e-1f;
    p = p * f - 1.2420140846e-1f;
    p = p * f + 1.4249322787e-1f;
    p = p * f - 1.6668057665e-1f;
    p = p * f + 2.0000714765e-1f;
    p = p * f - 2.4999993993e-1f;
    p = p * f + 3.3333331174e-1f;
    float y = f * z * p;
    y = y + kf * VM_LN2_LO;
    y = y - 0.5f * z;
    y = (f + y) + kf * VM_LN2_HI;
    y = x == __builtin_inff() ? x : y;
    y = x == 0.0f ? -__builtin_inff() : y;
    return x >= 0.0f ? y : __builtin_nanf("");                  /* x < 0 or NaN */
}

static inline float vm_gelu(float v)
{
    float u = 0.7978845608028654f * (v + 0.044715f * v * v * v);
    return v * vm_sigmoid(2.0f * u);
}

static inline float vm_elu(float v, float alpha)
{
    float e = alpha * vm_expm1(v < 0.0f ? v : 0.0f);
    e = v == v ? e : v;
    return v > 0.0f ? v : e;
}

/* The loops: results go through a local block so the vectoriser needs no alias check
 * (y == x is allowed). */
#define VM_LOOP(F, EXPR)                                                     \
    do {                                                                     \
        float buf_[VM_BLOCK];                                                \
        for (long i0_ = 0; i0_ < n; i0_ += VM_BLOCK) {                       \
            long m_ = n - i0_ < VM_BLOCK ? n - i0_ : VM_BLOCK;               \
            const float *xb_ = x + i0_;                                      \
            for (long j_ = 0; j_ < m_; j_++) {                               \
                float F = xb_[j_];                                           \
                buf_[j_] = (EXPR);                                           \
            }                                                                \
            memcpy(y + i0_, buf_, (size_t)m_ * sizeof(float));               \
        }                                                                    \
    } while (0)

/* exp, tanh, sigmoid: the generic file only (the AVX2 / AVX-512 files have explicit
 * intrinsic loops for these three, the hot ones in training). */
#define CGRAD_VMATH_DEFINE_EXP(S)                                                  \
    void cgrad_vexpf_##S(const float *x, float *y, long n) { VM_LOOP(v, vm_exp(v)); } \
    void cgrad_vtanhf_##S(const float *x, float *y, long n) { VM_LOOP(v, vm_tanh(v)); } \
    void cgrad_vsigmoidf_##S(const float *x, float *y, long n)                      \
    { VM_LOOP(v, vm_sigmoid(v)); }

/* Activation derivatives from the output y: dz = dy * f'(y).  Products only (no
 * multiply-add to contract), so every ISA gives the bits of the baseline loop of
 * src/activations.pxi.  dz may be dy (the training loop overwrites dA with dZ): the
 * in-place loop has one pointer, so the vectoriser needs no overlap check. */
#define VM_GRAD_LOOP(EXPR)                                                   \
    do {                                                                     \
        if (dz == dy) {                                                      \
            float *restrict d_ = dz;                                         \
            const float *restrict y_ = y;                                    \
            for (long i = 0; i < n; i++) { float v = y_[i], g = d_[i]; d_[i] = (EXPR); } \
        } else {                                                             \
            float *restrict d_ = dz;                                         \
            const float *restrict y_ = y, *restrict g_ = dy;                 \
            for (long i = 0; i < n; i++) { float v = y_[i], g = g_[i]; d_[i] = (EXPR); } \
        }                                                                    \
    } while (0)

/* log, gelu, elu and the derivatives: every ISA file, auto-vectorised. */
#define CGRAD_VMATH_DEFINE_REST(S)                                                 \
    void cgrad_vlogf_##S(const float *x, float *y, long n) { VM_LOOP(v, vm_log(v)); } \
    void cgrad_vgelu_f_##S(const float *x, float *y, long n) { VM_LOOP(v, vm_gelu(v)); } \
    void cgrad_velu_f_##S(const float *x, float *y, long n, float alpha)            \
    { VM_LOOP(v, vm_elu(v, alpha)); }                                              \
    void cgrad_vrelu_grad_f_##S(const float *y, const float *dy, float *dz, long n) \
    { VM_GRAD_LOOP(v > 0.0f ? g : 0.0f); }                                         \
    void cgrad_vsigmoid_grad_f_##S(const float *y, const float *dy, float *dz, long n) \
    { VM_GRAD_LOOP(g * v * (1.0f - v)); }                                          \
    void cgrad_vtanh_grad_f_##S(const float *y, const float *dy, float *dz, long n) \
    { VM_GRAD_LOOP(g * ((1.0f - v) * (1.0f + v))); }

#endif /* CGRAD_VMATH_IMPL_H */
