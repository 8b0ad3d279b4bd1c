/*
 * vmath.c -- generic (baseline SSE2) vmath loops and the per-call ISA dispatch.
 * Formulas and accuracy: vmath_impl.h and vmath.h.
 */
#include "cgrad.h"
#include "vmath.h"
#include "vmath_impl.h"

CGRAD_VMATH_DEFINE_EXP(generic)
CGRAD_VMATH_DEFINE_REST(generic)

#if defined(CGRAD_HAVE_X86_DISPATCH)
#define VM_DISPATCH(NAME, ARGS)                                              \
    switch (cgrad_isa_selected()) {                                          \
    case CGRAD_ISA_AVX512: NAME##_avx512 ARGS; return;                       \
    case CGRAD_ISA_AVX2: NAME##_avx2 ARGS; return;                           \
    default: NAME##_generic ARGS; return;                                    \
    }
#else
#define VM_DISPATCH(NAME, ARGS) NAME##_generic ARGS;
#endif

void cgrad_vexpf(const float *x, float *y, long n) { VM_DISPATCH(cgrad_vexpf, (x, y, n)) }
void cgrad_vtanhf(const float *x, float *y, long n) { VM_DISPATCH(cgrad_vtanhf, (x, y, n)) }
void cgrad_vsigmoidf(const float *x, float *y, long n)
{
    VM_DISPATCH(cgrad_vsigmoidf, (x, y, n))
}
void cgrad_vlogf(const float *x, float *y, long n) { VM_DISPATCH(cgrad_vlogf, (x, y, n)) }
void cgrad_vgelu_f(const float *z, float *y, long n) { VM_DISPATCH(cgrad_vgelu_f, (z, y, n)) }
void cgrad_velu_f(const float *z, float *y, long n, float alpha)
{
    VM_DISPATCH(cgrad_velu_f, (z, y, n, alpha))
}
void cgrad_vrelu_grad_f(const float *y, const float *dy, float *dz, long n)
{
    VM_DISPATCH(cgrad_vrelu_grad_f, (y, dy, dz, n))
}
void cgrad_vsigmoid_grad_f(const float *y, const float *dy, float *dz, long n)
{
    VM_DISPATCH(cgrad_vsigmoid_grad_f, (y, dy, dz, n))
}
void cgrad_vtanh_grad_f(const float *y, const float *dy, float *dz, long n)
{
    VM_DISPATCH(cgrad_vtanh_grad_f, (y, dy, dz, n))
}
