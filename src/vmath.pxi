# vmath.pxi -- float32 SIMD vector math (src/c/vmath.h): exp, tanh, sigmoid, log, gelu,
# elu over spans, dispatched per ISA at each call.  The kernels call the C functions
# directly on float32 spans; vmath_apply() exposes them to the accuracy tests.

cdef extern from "vmath.h" nogil:
    void cgrad_vexpf(const float* x, float* y, long n)
    void cgrad_vtanhf(const float* x, float* y, long n)
    void cgrad_vsigmoidf(const float* x, float* y, long n)
    void cgrad_vlogf(const float* x, float* y, long n)
    void cgrad_vgelu_f(const float* z, float* y, long n)
    void cgrad_velu_f(const float* z, float* y, long n, float alpha)
    void cgrad_vrelu_grad_f(const float* y, const float* dy, float* dz, long n)
    void cgrad_vsigmoid_grad_f(const float* y, const float* dy, float* dz, long n)
    void cgrad_vtanh_grad_f(const float* y, const float* dy, float* dz, long n)

# Staging block for kernels that combine a vmath result with other arrays (elementwise
# backward passes); on the stack, so no allocation in the training loop.
cdef enum:
    VMATH_BLOCK = 256

_VMATH_FUNCS = ("exp", "tanh", "sigmoid", "log", "gelu", "elu")


def vmath_apply(str name, const float[::1] x, float[::1] out, double alpha=1.0):
    """out = f(x) with the vmath function `name` (one of _VMATH_FUNCS; alpha for elu),
    on the ISA selected now.  x, out: 1-D float32, same length; out may be x."""
    cdef long n = x.shape[0]
    if out.shape[0] != n:
        raise ValueError(f"out has length {out.shape[0]}, expected {n}")
    if name not in _VMATH_FUNCS:
        raise ValueError(f"name must be one of {_VMATH_FUNCS}, got {name!r}")
    if n == 0:
        return
    cdef int code = _VMATH_FUNCS.index(name)
    cdef float a = <float> alpha
    with nogil:
        if code == 0:
            cgrad_vexpf(&x[0], &out[0], n)
        elif code == 1:
            cgrad_vtanhf(&x[0], &out[0], n)
        elif code == 2:
            cgrad_vsigmoidf(&x[0], &out[0], n)
        elif code == 3:
            cgrad_vlogf(&x[0], &out[0], n)
        elif code == 4:
            cgrad_vgelu_f(&x[0], &out[0], n)
        else:
            cgrad_velu_f(&x[0], &out[0], n, a)
