# activations.pxi -- activation forward/backward pairs.
#
#   forward   y  = act(z)                      elementwise, or row-wise for softmax
#   backward  dz = dy * act'(z)                (softmax: dz = y * (dy - sum(dy * y, row)))
#
# z, y, dy, dz: (N, OUT) C-contiguous.  dz may alias dy (each element is read before it
# is written; softmax reads the whole row first).  y is the cached forward output, so
# derivatives are taken from y where that is exact (sigmoid, tanh, relu, softmax).
# Elementwise kernels split the flat array into fixed REDUCE_CHUNK blocks across threads;
# softmax splits rows.  No kernel sums across threads.  float32 exp/tanh/sigmoid go
# through the SIMD vector math of vmath.pxi (src/c/vmath.h); float64 keeps libm.

cdef enum:
    ACT_IDENTITY = 0
    ACT_RELU = 1
    ACT_LEAKY_RELU = 2
    ACT_SIGMOID = 3
    ACT_TANH = 4
    ACT_SOFTMAX = 5
    ACT_ELU = 6
    ACT_GELU = 7
    N_ACTIVATIONS = 8

# The codes by name: the one table of activation names and numbers (cgrad.ops.activations,
# cgrad.nn and cgrad.model read it from here).
ACTIVATION_CODES = {"identity": ACT_IDENTITY, "relu": ACT_RELU, "leaky_relu": ACT_LEAKY_RELU,
                    "sigmoid": ACT_SIGMOID, "tanh": ACT_TANH, "softmax": ACT_SOFTMAX,
                    "elu": ACT_ELU, "gelu": ACT_GELU}
assert sorted(ACTIVATION_CODES.values()) == list(range(N_ACTIVATIONS))

cdef double GELU_C = 0.7978845608028654      # sqrt(2 / pi)
cdef double GELU_A = 0.044715


cdef inline double _sigmoid(double z) noexcept nogil:
    """1 / (1 + exp(-z)), without overflow for either sign of z (float64: float32 goes
    through vmath)."""
    cdef double e
    if z >= 0:
        return 1.0 / (1.0 + exp(-z))
    e = exp(z)
    return e / (1.0 + e)


cdef void _elu_backward_f(float a, const float* z, const float* dy, float* dz,
                          Py_ssize_t n) noexcept nogil:
    """float32 ELU backward, exp(z) by vmath in VMATH_BLOCK blocks (dz may be dy)."""
    cdef float e[VMATH_BLOCK]
    cdef Py_ssize_t i0 = 0, j, m
    while i0 < n:
        m = min(<Py_ssize_t> VMATH_BLOCK, n - i0)
        for j in range(m):          # exp(min(z, 0)); NaN stays NaN
            e[j] = 0 if z[i0 + j] > 0 else z[i0 + j]
        cgrad_vexpf(e, e, m)
        for j in range(m):
            dz[i0 + j] = dy[i0 + j] if z[i0 + j] > 0 else dy[i0 + j] * a * e[j]
        i0 += m


cdef void _gelu_backward_f(const float* z, const float* dy, float* dz,
                           Py_ssize_t n) noexcept nogil:
    """float32 GELU backward, sigmoid(2u) by vmath in VMATH_BLOCK blocks."""
    cdef float s[VMATH_BLOCK]
    cdef float v, t, u
    cdef Py_ssize_t i0 = 0, j, m
    while i0 < n:
        m = min(<Py_ssize_t> VMATH_BLOCK, n - i0)
        for j in range(m):
            v = z[i0 + j]
            u = <float> GELU_C * (v + <float> GELU_A * v * v * v)
            s[j] = 2 * u
        cgrad_vsigmoidf(s, s, m)
        for j in range(m):
            v = z[i0 + j]
            t = s[j]
            dz[i0 + j] = dy[i0 + j] * (t + 2 * v * t * (1 - t) * <float> GELU_C
                                       * (1 + 3 * <float> GELU_A * v * v))
        i0 += m


cdef void _act_forward_span(int act, double alpha, const floating* z, floating* y,
                            Py_ssize_t n) noexcept nogil:
    """y[i] = act(z[i]) for i < n (elementwise activations only)."""
    cdef Py_ssize_t i
    cdef floating a = <floating> alpha, v, u
    if act == ACT_IDENTITY:
        if y != z:
            memcpy(y, z, n * sizeof(floating))
    elif act == ACT_RELU:
        for i in range(n):
            y[i] = z[i] if z[i] > 0 else 0
    elif act == ACT_LEAKY_RELU:
        for i in range(n):
            y[i] = z[i] if z[i] > 0 else a * z[i]
    elif act == ACT_SIGMOID:
        if floating is float:
            cgrad_vsigmoidf(z, y, n)
        else:
            for i in range(n):
                y[i] = _sigmoid(z[i])
    elif act == ACT_TANH:
        if floating is float:
            cgrad_vtanhf(z, y, n)
        else:
            for i in range(n):
                y[i] = tanh(z[i])
    elif act == ACT_ELU:
        if floating is float:
            cgrad_velu_f(z, y, n, a)
        else:
            for i in range(n):      # expm1: exp(z) - 1 cancels for small |z|
                v = z[i]
                y[i] = v if v > 0 else a * expm1(v)
    elif act == ACT_GELU:
        # 0.5 z (1 + tanh u) == z sigmoid(2u): no cancellation for z << 0
        if floating is float:
            cgrad_vgelu_f(z, y, n)
            return
        for i in range(n):
            v = z[i]
            u = <floating> GELU_C * (v + <floating> GELU_A * v * v * v)
            y[i] = v * _sigmoid(2 * u)


cdef void _act_backward_span(int act, double alpha, const floating* z, const floating* y,
                             const floating* dy, floating* dz, Py_ssize_t n) noexcept nogil:
    """dz[i] = dy[i] * act'(z[i]) for i < n (elementwise activations only)."""
    cdef Py_ssize_t i
    cdef floating a = <floating> alpha, v, t, u
    if act == ACT_IDENTITY:
        if dz != dy:
            memcpy(dz, dy, n * sizeof(floating))
    elif floating is float and act == ACT_RELU:     # per-ISA loops (vmath), same bits
        cgrad_vrelu_grad_f(y, dy, dz, n)
    elif floating is float and act == ACT_SIGMOID:
        cgrad_vsigmoid_grad_f(y, dy, dz, n)
    elif floating is float and act == ACT_TANH:
        cgrad_vtanh_grad_f(y, dy, dz, n)
    elif act == ACT_RELU:           # float64 here (float32 relu/sigmoid/tanh: above)
        for i in range(n):          # unconditional loads: the loop vectorises to a blend
            v = dy[i]
            dz[i] = v if y[i] > 0 else 0
    elif act == ACT_LEAKY_RELU:
        for i in range(n):
            v = dy[i]
            dz[i] = v if z[i] > 0 else a * v
    elif act == ACT_SIGMOID:
        for i in range(n):
            v = y[i]
            dz[i] = dy[i] * v * (<floating> 1 - v)
    elif act == ACT_TANH:
        # (1 - y)(1 + y), not 1 - y*y: exact 1 - y near saturation, in the input's precision
        for i in range(n):
            v = y[i]
            dz[i] = dy[i] * ((<floating> 1 - v) * (<floating> 1 + v))
    elif act == ACT_ELU:
        if floating is float:
            _elu_backward_f(a, z, dy, dz, n)
            return
        for i in range(n):      # a*exp(z), not y + a: that cancels for z << 0
            if z[i] > 0:
                dz[i] = dy[i]
            else:
                dz[i] = dy[i] * a * exp(z[i])
    elif act == ACT_GELU:
        # d/dz z s(2u) = s + 2 z s (1 - s) u',  s = sigmoid(2u), u' = C (1 + 3 A z^2)
        if floating is float:
            _gelu_backward_f(z, dy, dz, n)
            return
        for i in range(n):
            v = z[i]
            u = <floating> GELU_C * (v + <floating> GELU_A * v * v * v)
            t = _sigmoid(2 * u)
            dz[i] = dy[i] * (t + 2 * v * t * (1 - t) * <floating> GELU_C
                             * (1 + 3 * <floating> GELU_A * v * v))


cdef void _softmax_forward_row(const floating* z, floating* y, Py_ssize_t n) noexcept nogil:
    """y = exp(z - max z) / sum(exp(z - max z)) over one row."""
    cdef Py_ssize_t j
    cdef floating m = z[0]
    cdef double s = 0.0
    cdef floating inv
    for j in range(1, n):
        if z[j] > m:
            m = z[j]
    if floating is float:
        for j in range(n):          # y may be z: each z[j] is read before y[j] is written
            y[j] = z[j] - m
        cgrad_vexpf(y, y, n)
        for j in range(n):
            s += y[j]
    else:
        for j in range(n):
            y[j] = exp(z[j] - m)
            s += y[j]
    inv = <floating> (1.0 / s)
    for j in range(n):
        y[j] = y[j] * inv


cdef void _softmax_backward_row(const floating* y, const floating* dy, floating* dz,
                                Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t j
    cdef double s = 0.0
    for j in range(n):
        s += dy[j] * y[j]
    for j in range(n):
        dz[j] = y[j] * (dy[j] - <floating> s)


# act_forward/act_backward's arguments for their chunk bodies: a chunk is a row
# (softmax) or REDUCE_CHUNK elements of the flat arrays (elementwise activations).
cdef struct _ActArgs:
    int act
    double alpha
    const void* z       # backward only (the forward's z is the typed input)
    const void* y       # backward only
    void* out           # y (forward) or dz (backward)
    Py_ssize_t n, cols


cdef void _act_forward_chunk(const void* ctx, const floating* z, Py_ssize_t c) noexcept nogil:
    cdef const _ActArgs* a = <const _ActArgs*> ctx
    cdef Py_ssize_t lo = c * REDUCE_CHUNK
    _act_forward_span(a.act, a.alpha, z + lo, <floating*> a.out + lo,
                      min(REDUCE_CHUNK, a.n - lo))


cdef void _softmax_forward_chunk(const void* ctx, const floating* z, Py_ssize_t i) noexcept nogil:
    cdef const _ActArgs* a = <const _ActArgs*> ctx
    _softmax_forward_row(z + i * a.cols, <floating*> a.out + i * a.cols, a.cols)


cdef void act_forward(int act, double alpha, const floating* z, floating* y,
                      Py_ssize_t rows, Py_ssize_t cols, int n_threads) noexcept nogil:
    """y = act(z); z, y: (rows, cols), y may alias z."""
    cdef _ActArgs a
    cdef int nt = _threads_for(rows * cols, n_threads)
    a.act, a.alpha, a.out, a.n, a.cols = act, alpha, y, rows * cols, cols
    if act == ACT_SOFTMAX:
        for_chunks(_softmax_forward_chunk[floating], &a, z, rows, nt)
    elif act != ACT_IDENTITY or y != z:
        for_chunks(_act_forward_chunk[floating], &a, z,
                   (a.n + REDUCE_CHUNK - 1) // REDUCE_CHUNK, nt)


cdef void _act_backward_chunk(const void* ctx, const floating* dy, Py_ssize_t c) noexcept nogil:
    cdef const _ActArgs* a = <const _ActArgs*> ctx
    cdef Py_ssize_t lo = c * REDUCE_CHUNK
    _act_backward_span(a.act, a.alpha, <const floating*> a.z + lo, <const floating*> a.y + lo,
                       dy + lo, <floating*> a.out + lo, min(REDUCE_CHUNK, a.n - lo))


cdef void _softmax_backward_chunk(const void* ctx, const floating* dy,
                                  Py_ssize_t i) noexcept nogil:
    cdef const _ActArgs* a = <const _ActArgs*> ctx
    cdef Py_ssize_t o = i * a.cols
    _softmax_backward_row(<const floating*> a.y + o, dy + o, <floating*> a.out + o, a.cols)


cdef void act_backward(int act, double alpha, const floating* z, const floating* y,
                       const floating* dy, floating* dz,
                       Py_ssize_t rows, Py_ssize_t cols, int n_threads) noexcept nogil:
    """dz = dy * act'(z); all (rows, cols); dz may alias dy."""
    cdef _ActArgs a
    cdef int nt = _threads_for(rows * cols, n_threads)
    a.act, a.alpha, a.z, a.y, a.out, a.n, a.cols = act, alpha, z, y, dz, rows * cols, cols
    if act == ACT_SOFTMAX:
        for_chunks(_softmax_backward_chunk[floating], &a, dy, rows, nt)
    elif act != ACT_IDENTITY or dz != dy:
        for_chunks(_act_backward_chunk[floating], &a, dy,
                   (a.n + REDUCE_CHUNK - 1) // REDUCE_CHUNK, nt)


cdef int _check_act(int act) except -1:
    if act < 0 or act >= N_ACTIVATIONS:
        raise ValueError(f"unknown activation code {act}")
    return 0


cdef int _check_same_shape(str name, Py_ssize_t r, Py_ssize_t c,
                           Py_ssize_t r0, Py_ssize_t c0) except -1:
    if r != r0 or c != c0:
        raise ValueError(f"{name} has shape ({r}, {c}), expected ({r0}, {c0})")
    return 0


def activation_forward(int act, double alpha, const floating[:, ::1] z, floating[:, ::1] y,
                       int n_threads=1):
    """y = act(z).  z: IN (N, OUT); y: OUT (N, OUT), may be z itself."""
    _check_act(act)
    _check_same_shape("y", y.shape[0], y.shape[1], z.shape[0], z.shape[1])
    if z.shape[0] == 0 or z.shape[1] == 0:
        return
    with nogil:
        act_forward(act, alpha, &z[0, 0], &y[0, 0], z.shape[0], z.shape[1], n_threads)


def activation_backward(int act, double alpha, const floating[:, ::1] z,
                        const floating[:, ::1] y, const floating[:, ::1] dy,
                        floating[:, ::1] dz, int n_threads=1):
    """dz = dy * act'(z).  z, y (forward in/out), dy: IN (N, OUT); dz: OUT (N, OUT)."""
    _check_act(act)
    cdef Py_ssize_t r = z.shape[0], c = z.shape[1]
    _check_same_shape("y", y.shape[0], y.shape[1], r, c)
    _check_same_shape("dy", dy.shape[0], dy.shape[1], r, c)
    _check_same_shape("dz", dz.shape[0], dz.shape[1], r, c)
    if r == 0 or c == 0:
        return
    with nogil:
        act_backward(act, alpha, &z[0, 0], &y[0, 0], &dy[0, 0], &dz[0, 0], r, c, n_threads)
