/*
 * vmath.h -- float32 vector math (exp, tanh, sigmoid, log, gelu, elu) for cgrad.
 *
 * y[i] = f(x[i]) for i < n; y may alias x (exactly, not a shifted overlap).
 * Each public function dispatches on cgrad_isa_selected() at every call (a switch),
 * so CGRAD_ISA / _core.set_isa() choose the generic (SSE2 auto-vectorised), AVX2+FMA
 * or AVX-512 loop.  No branches per element: special cases are blended in.  exp, tanh
 * and sigmoid have explicit intrinsic loops in vmath_avx2.c / vmath_avx512.c; the rest
 * is auto-vectorised from vmath_impl.h.
 *
 * Accuracy (float32, measured by tests/test_vmath.py against float64 NumPy): relative
 * error <= 3e-7 wherever the result is a normal float; exp overflows to inf for
 * x > 88.72 and underflows to 0 below -103.9; tanh is exactly +-1 for |x| > 9.02 and
 * keeps relative accuracy for tiny |x|; sigmoid keeps relative accuracy for large
 * negative x down to the underflow of exp; log(0) = -inf, log(x < 0) = NaN,
 * log(inf) = inf.  NaN in gives NaN out.  Results may differ between ISAs in the
 * last bit (FMA contraction), never between thread counts.
 */
#ifndef CGRAD_VMATH_H
#define CGRAD_VMATH_H

#ifdef __cplusplus
extern "C" {
#endif

void cgrad_vexpf(const float *x, float *y, long n);
void cgrad_vtanhf(const float *x, float *y, long n);
/* 1 / (1 + exp(-x)), without overflow for either sign. */
void cgrad_vsigmoidf(const float *x, float *y, long n);
/* Natural log; x > 0 (see above for 0, negatives, inf). */
void cgrad_vlogf(const float *x, float *y, long n);
/* gelu(z) = z * sigmoid(2u), u = sqrt(2/pi) (z + 0.044715 z^3) (src/activations.pxi). */
void cgrad_vgelu_f(const float *z, float *y, long n);
/* elu(z) = z > 0 ? z : alpha * expm1(z), with expm1 accurate near 0. */
void cgrad_velu_f(const float *z, float *y, long n, float alpha);

/* Activation derivatives from the output y (src/activations.pxi's formulas):
 * dz = dy * (y > 0) (relu), dy * y (1 - y) (sigmoid), dy * (1 - y)(1 + y) (tanh).
 * dz may be dy; bitwise the same on every ISA (products only). */
void cgrad_vrelu_grad_f(const float *y, const float *dy, float *dz, long n);
void cgrad_vsigmoid_grad_f(const float *y, const float *dy, float *dz, long n);
void cgrad_vtanh_grad_f(const float *y, const float *dy, float *dz, long n);

/* Per-ISA loops behind the dispatch (the SIMD ones exist only in x86-64 builds). */
#define CGRAD_VMATH_DECLARE(S)                                               \
    void cgrad_vexpf_##S(const float *x, float *y, long n);                  \
    void cgrad_vtanhf_##S(const float *x, float *y, long n);                 \
    void cgrad_vsigmoidf_##S(const float *x, float *y, long n);              \
    void cgrad_vlogf_##S(const float *x, float *y, long n);                  \
    void cgrad_vgelu_f_##S(const float *z, float *y, long n);                \
    void cgrad_velu_f_##S(const float *z, float *y, long n, float alpha);     \
    void cgrad_vrelu_grad_f_##S(const float *y, const float *dy, float *dz, long n); \
    void cgrad_vsigmoid_grad_f_##S(const float *y, const float *dy, float *dz, long n); \
    void cgrad_vtanh_grad_f_##S(const float *y, const float *dy, float *dz, long n);
CGRAD_VMATH_DECLARE(generic)
CGRAD_VMATH_DECLARE(avx2)
CGRAD_VMATH_DECLARE(avx512)

#ifdef __cplusplus
}
#endif
#endif /* CGRAD_VMATH_H */
