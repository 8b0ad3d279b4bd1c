# norm.pxi -- inverted dropout and batch normalisation (BatchNorm1d over the rows).
#
#   dropout    y = x * (keep / (1 - p)),   keep[i] = u(seed, i) >= p,  p in [0, 1)
#              u(seed, i) = (splitmix64(seed * 0x9E3779B97F4A7C15 + i) >> 11) * 2^-53
#   batchnorm  mean, var (biased) per column over the N rows; invstd = 1/sqrt(var + eps)
#              y = gamma * (x - mean) * invstd + beta
#              running_mean = (1-momentum)*running_mean + momentum*mean
#              running_var  = (1-momentum)*running_var  + momentum*var*N/(N-1)   (torch)
#   backward   xhat = (x - mean) * invstd
#              dx = gamma*invstd/N * (N*dy - sum(dy) - xhat*sum(dy*xhat))
#              dgamma += sum(dy*xhat);  dbeta += sum(dy)
#
# x, y, dy, dx: (N, C) C-contiguous; gamma, beta, mean, invstd, running_*: (C,).
# The dropout mask is a pure function of (seed, flat index): no mask is stored, backward
# recomputes it, and it does not depend on the thread count or on how work is split.
# Batch norm splits the COLUMNS into blocks, one block per task; a task sweeps the rows
# accumulating a block of column sums in double (row-major friendly), so every column's
# sum runs over the rows in order, whatever the block width or thread count.
from libc.math cimport ceil

cdef extern from *:
    """
    #define CGRAD_NORM_SM64_GAMMA 0x9E3779B97F4A7C15ULL
    #define CGRAD_NORM_SM64_M1 0xBF58476D1CE4E5B9ULL
    #define CGRAD_NORM_SM64_M2 0x94D049BB133111EBULL
    """
    uint64_t CGRAD_NORM_SM64_GAMMA, CGRAD_NORM_SM64_M1, CGRAD_NORM_SM64_M2

# Columns per batch-norm block, at most (sizes the per-task stack accumulators).
cdef enum:
    BN_BLOCK = 128


cdef inline uint64_t _dropout_splitmix64(uint64_t z) noexcept nogil:
    """splitmix64's output function (Steele et al. 2014), wrapping uint64 arithmetic."""
    z = z + CGRAD_NORM_SM64_GAMMA
    z = (z ^ (z >> 30)) * CGRAD_NORM_SM64_M1
    z = (z ^ (z >> 27)) * CGRAD_NORM_SM64_M2
    return z ^ (z >> 31)


cdef void _dropout_span(const floating* x, floating* y, Py_ssize_t lo, Py_ssize_t hi,
                        uint64_t base, uint64_t thresh, floating scale) noexcept nogil:
    """y[i] = x[i] * (scale if keep[i] else 0), for lo <= i < hi (global flat indices)."""
    cdef Py_ssize_t i
    cdef uint64_t k
    for i in range(lo, hi):
        k = _dropout_splitmix64(base + <uint64_t> i) >> 11
        # keep = k >= thresh as arithmetic, not a branch (gcc emits one for `?:`, which
        # mispredicts at p ~ 0.5 and blocks vectorisation: 3-4x slower).  k, thresh <= 2^53,
        # so k - thresh wraps to a set top bit exactly when k < thresh.  Like torch, a
        # dropped inf/NaN gives NaN (x * 0) rather than hiding it.
        y[i] = x[i] * (scale * <floating> (1 - <int> ((k - thresh) >> 63)))


cdef struct _DropoutArgs:
    void* y
    Py_ssize_t n
    uint64_t base, thresh
    double scale


cdef void _dropout_chunk(const void* ctx, const floating* x, Py_ssize_t c) noexcept nogil:
    cdef const _DropoutArgs* a = <const _DropoutArgs*> ctx
    cdef Py_ssize_t lo = c * REDUCE_CHUNK
    _dropout_span(x, <floating*> a.y, lo, min(lo + REDUCE_CHUNK, a.n), a.base, a.thresh,
                  <floating> a.scale)


cdef void dropout_forward(const floating* x, floating* y, Py_ssize_t n, double p,
                          uint64_t seed, int n_threads) noexcept nogil:
    """y = x * keep / (1 - p).  x: IN (n,); y: OUT (n,), may alias x.  p in [0, 1)."""
    cdef _DropoutArgs a
    if p <= 0.0:                        # every u >= 0: keep all, scale 1
        if y != x:
            memcpy(y, x, n * sizeof(floating))
        return
    # u = k * 2^-53 >= p  <=>  k >= ceil(p * 2^53): exact (p * 2^53 < 2^53 is exact), and
    # an integer compare avoids a uint64 -> double conversion per element.
    a.thresh = <uint64_t> ceil(p * 9007199254740992.0)
    a.base = seed * CGRAD_NORM_SM64_GAMMA
    a.y, a.n, a.scale = y, n, 1.0 / (1.0 - p)
    for_chunks(_dropout_chunk[floating], &a, x, (n + REDUCE_CHUNK - 1) // REDUCE_CHUNK,
               _threads_for(n, n_threads))


cdef void dropout_backward(const floating* dy, floating* dx, Py_ssize_t n, double p,
                           uint64_t seed, int n_threads) noexcept nogil:
    """dx = dy * keep / (1 - p), the forward's mask.  dy: IN (n,); dx: OUT (n,), may alias dy."""
    dropout_forward(dy, dx, n, p, seed, n_threads)


cdef inline Py_ssize_t _bn_block_width(Py_ssize_t C, int nt) noexcept nogil:
    """Columns per block: C shared evenly by nt threads, a multiple of 16, <= BN_BLOCK.
    Only speed depends on it: each column's sums run over the rows in order regardless."""
    cdef Py_ssize_t w = (C + nt - 1) // nt
    w = (w + 15) // 16 * 16
    return w if w < BN_BLOCK else BN_BLOCK


# The batch-norm kernels' arguments for their column-block bodies; each kernel fills the
# fields its body reads.
cdef struct _BnArgs:
    const void* x           # the backward passes' x (the forward's x is the typed input)
    const void* gamma
    const void* beta
    void* out               # y (forward) or dx (backward)
    void* mean              # the batch statistics: OUT (train forward), IN (backward)
    void* invstd
    void* running_mean
    void* running_var
    void* dgamma
    void* dbeta
    Py_ssize_t N, C, w      # w: columns per block
    double momentum, eps


cdef inline void _bn_run(
        void (*body)(const void*, const floating*, Py_ssize_t) noexcept nogil,
        _BnArgs* a, const floating* x, Py_ssize_t N, Py_ssize_t C, int n_threads) noexcept nogil:
    """body(a, x, b) on every column block b of an (N, C) batch, blocks sized for the
    threads that run them."""
    cdef int nt = _threads_for(N * C, n_threads)
    a.N, a.C, a.w = N, C, _bn_block_width(C, nt)
    for_chunks(body, a, x, (C + a.w - 1) // a.w, nt)


# The column sums below read BN_ROWS = 4 rows per sweep of the accumulators (a quarter of
# the accumulator loads/stores); the additions stay in row order, ((s + r0) + r1) + ...,
# so every sum equals the plain one-row-at-a-time loop's, bit for bit.

cdef void _bn_col_sums(const floating* x, const double* m, double* s, Py_ssize_t N,
                       Py_ssize_t C, Py_ssize_t j0, Py_ssize_t w) noexcept nogil:
    """s[j] = sum_i x[i, j0+j] (m NULL), else sum_i (x[i, j0+j] - m[j])^2; rows in order."""
    cdef Py_ssize_t i = 0, j
    cdef const floating* r0
    cdef const floating* r1
    cdef const floating* r2
    cdef const floating* r3
    cdef double d0, d1, d2, d3
    for j in range(w):
        s[j] = 0.0
    while i + 4 <= N:
        r0 = x + i * C + j0
        r1 = r0 + C
        r2 = r1 + C
        r3 = r2 + C
        if m == NULL:
            for j in range(w):
                s[j] = (((s[j] + r0[j]) + r1[j]) + r2[j]) + r3[j]
        else:
            for j in range(w):
                d0 = r0[j] - m[j]
                d1 = r1[j] - m[j]
                d2 = r2[j] - m[j]
                d3 = r3[j] - m[j]
                s[j] = (((s[j] + d0 * d0) + d1 * d1) + d2 * d2) + d3 * d3
        i += 4
    while i < N:
        r0 = x + i * C + j0
        if m == NULL:
            for j in range(w):
                s[j] = s[j] + r0[j]
        else:
            for j in range(w):
                d0 = r0[j] - m[j]
                s[j] = s[j] + d0 * d0
        i += 1


cdef void _bn_grad_sums(const floating* dy, const floating* x, const double* m,
                        double* sdy, double* sdyx, Py_ssize_t N, Py_ssize_t C,
                        Py_ssize_t j0, Py_ssize_t w) noexcept nogil:
    """sdy[j] = sum_i dy[i, j0+j], sdyx[j] = sum_i dy[i, j0+j] * (x[i, j0+j] - m[j])."""
    cdef Py_ssize_t i = 0, j, o
    cdef double g0, g1, g2, g3
    for j in range(w):
        sdy[j] = 0.0
        sdyx[j] = 0.0
    while i + 4 <= N:
        o = i * C + j0
        for j in range(w):
            g0 = dy[o + j]
            g1 = dy[o + C + j]
            g2 = dy[o + 2 * C + j]
            g3 = dy[o + 3 * C + j]
            sdy[j] = (((sdy[j] + g0) + g1) + g2) + g3
            sdyx[j] = ((((sdyx[j] + g0 * (x[o + j] - m[j])) + g1 * (x[o + C + j] - m[j]))
                        + g2 * (x[o + 2 * C + j] - m[j])) + g3 * (x[o + 3 * C + j] - m[j]))
        i += 4
    while i < N:
        o = i * C + j0
        for j in range(w):
            g0 = dy[o + j]
            sdy[j] = sdy[j] + g0
            sdyx[j] = sdyx[j] + g0 * (x[o + j] - m[j])
        i += 1


cdef void _bn_normalize_block(const floating* x, floating* y, const double* m,
                              const double* a, const floating* beta, Py_ssize_t N,
                              Py_ssize_t C, Py_ssize_t j0, Py_ssize_t w) noexcept nogil:
    """y[:, j0:j0+w] = (x - m) * a + beta, computed in double."""
    cdef Py_ssize_t i, j
    cdef const floating* xr
    cdef floating* yr
    for i in range(N):
        xr = x + i * C + j0
        yr = y + i * C + j0
        for j in range(w):
            yr[j] = <floating> ((xr[j] - m[j]) * a[j] + beta[j0 + j])


cdef void _bn_train_block(const floating* x, const floating* gamma, const floating* beta,
                          floating* y, floating* mean, floating* invstd,
                          floating* running_mean, floating* running_var,
                          Py_ssize_t N, Py_ssize_t C, Py_ssize_t j0, Py_ssize_t w,
                          double momentum, double eps) noexcept nogil:
    """Training-mode batch norm of columns j0 .. j0+w-1 (w <= BN_BLOCK)."""
    cdef double s[BN_BLOCK]
    cdef double m[BN_BLOCK]
    cdef double a[BN_BLOCK]
    cdef double var, istd
    cdef Py_ssize_t j
    _bn_col_sums(x, NULL, s, N, C, j0, w)       # sum x
    for j in range(w):
        m[j] = s[j] / N
    _bn_col_sums(x, m, s, N, C, j0, w)          # sum (x - mean)^2: two-pass, no cancellation
    for j in range(w):
        var = s[j] / N
        istd = 1.0 / sqrt(var + eps)
        mean[j0 + j] = <floating> m[j]
        invstd[j0 + j] = <floating> istd
        a[j] = gamma[j0 + j] * istd
        if running_mean != NULL:
            running_mean[j0 + j] = <floating> ((1.0 - momentum) * running_mean[j0 + j]
                                               + momentum * m[j])
            running_var[j0 + j] = <floating> ((1.0 - momentum) * running_var[j0 + j]
                                              + momentum * (s[j] / (N - 1)))
    _bn_normalize_block(x, y, m, a, beta, N, C, j0, w)


cdef void _bn_train_chunk(const void* ctx, const floating* x, Py_ssize_t b) noexcept nogil:
    cdef const _BnArgs* a = <const _BnArgs*> ctx
    cdef Py_ssize_t j0 = b * a.w
    _bn_train_block(x, <const floating*> a.gamma, <const floating*> a.beta, <floating*> a.out,
                    <floating*> a.mean, <floating*> a.invstd, <floating*> a.running_mean,
                    <floating*> a.running_var, a.N, a.C, j0, min(a.w, a.C - j0), a.momentum,
                    a.eps)


cdef void batchnorm_forward_train(const floating* x, const floating* gamma,
                                  const floating* beta, floating* y, floating* mean,
                                  floating* invstd, floating* running_mean,
                                  floating* running_var, Py_ssize_t N, Py_ssize_t C,
                                  double momentum, double eps, int n_threads) noexcept nogil:
    """y = gamma * (x - mean) * invstd + beta with batch statistics.
    x: IN (N, C), N >= 2; gamma, beta: IN (C,); y: OUT (N, C), may alias x;
    mean, invstd: OUT (C,), saved for backward;
    running_mean, running_var: INOUT (C,), both NULL to skip the update."""
    cdef _BnArgs a
    a.gamma, a.beta, a.out, a.mean, a.invstd = gamma, beta, y, mean, invstd
    a.running_mean, a.running_var, a.momentum, a.eps = running_mean, running_var, momentum, eps
    _bn_run(_bn_train_chunk[floating], &a, x, N, C, n_threads)


cdef void _bn_eval_block(const floating* x, const floating* gamma, const floating* beta,
                         floating* y, const floating* running_mean,
                         const floating* running_var, Py_ssize_t N, Py_ssize_t C,
                         Py_ssize_t j0, Py_ssize_t w, double eps) noexcept nogil:
    cdef double m[BN_BLOCK]
    cdef double a[BN_BLOCK]
    cdef Py_ssize_t j
    for j in range(w):
        m[j] = running_mean[j0 + j]
        a[j] = gamma[j0 + j] / sqrt(<double> running_var[j0 + j] + eps)
    _bn_normalize_block(x, y, m, a, beta, N, C, j0, w)


cdef void _bn_eval_chunk(const void* ctx, const floating* x, Py_ssize_t b) noexcept nogil:
    cdef const _BnArgs* a = <const _BnArgs*> ctx
    cdef Py_ssize_t j0 = b * a.w
    _bn_eval_block(x, <const floating*> a.gamma, <const floating*> a.beta, <floating*> a.out,
                   <const floating*> a.running_mean, <const floating*> a.running_var, a.N, a.C,
                   j0, min(a.w, a.C - j0), a.eps)


cdef void batchnorm_forward_eval(const floating* x, const floating* gamma,
                                 const floating* beta, floating* y,
                                 const floating* running_mean, const floating* running_var,
                                 Py_ssize_t N, Py_ssize_t C, double eps,
                                 int n_threads) noexcept nogil:
    """y = gamma * (x - running_mean) / sqrt(running_var + eps) + beta.
    x: IN (N, C); gamma, beta, running_mean, running_var: IN (C,); y: OUT (N, C), may alias x."""
    cdef _BnArgs a
    a.gamma, a.beta, a.out, a.eps = gamma, beta, y, eps
    a.running_mean, a.running_var = <void*> running_mean, <void*> running_var
    _bn_run(_bn_eval_chunk[floating], &a, x, N, C, n_threads)


cdef void _bn_backward_block(const floating* dy, const floating* x, const floating* gamma,
                             const floating* mean, const floating* invstd, floating* dx,
                             floating* dgamma, floating* dbeta, Py_ssize_t N, Py_ssize_t C,
                             Py_ssize_t j0, Py_ssize_t w) noexcept nogil:
    """Training-mode batch-norm backward of columns j0 .. j0+w-1 (w <= BN_BLOCK)."""
    cdef double sdy[BN_BLOCK]
    cdef double sdyx[BN_BLOCK]
    cdef double m[BN_BLOCK]
    cdef double istd[BN_BLOCK]
    cdef double k[BN_BLOCK]
    cdef double xhat
    cdef Py_ssize_t i, j
    cdef const floating* xr
    cdef const floating* gr
    cdef floating* dxr
    for j in range(w):
        m[j] = mean[j0 + j]
        istd[j] = invstd[j0 + j]
    _bn_grad_sums(dy, x, m, sdy, sdyx, N, C, j0, w)   # sum dy, sum dy * (x - mean)
    for j in range(w):
        sdyx[j] = sdyx[j] * istd[j]             # sum dy * xhat
        dgamma[j0 + j] = <floating> (dgamma[j0 + j] + sdyx[j])
        dbeta[j0 + j] = <floating> (dbeta[j0 + j] + sdy[j])
        k[j] = gamma[j0 + j] * istd[j] / N
    for i in range(N):                          # dx; reads dy[i, j] before writing dx[i, j]
        xr = x + i * C + j0
        gr = dy + i * C + j0
        dxr = dx + i * C + j0
        for j in range(w):
            xhat = (xr[j] - m[j]) * istd[j]
            dxr[j] = <floating> (k[j] * (N * <double> gr[j] - sdy[j] - xhat * sdyx[j]))


cdef void _bn_backward_chunk(const void* ctx, const floating* dy, Py_ssize_t b) noexcept nogil:
    cdef const _BnArgs* a = <const _BnArgs*> ctx
    cdef Py_ssize_t j0 = b * a.w
    _bn_backward_block(dy, <const floating*> a.x, <const floating*> a.gamma,
                       <const floating*> a.mean, <const floating*> a.invstd, <floating*> a.out,
                       <floating*> a.dgamma, <floating*> a.dbeta, a.N, a.C, j0,
                       min(a.w, a.C - j0))


cdef void batchnorm_backward(const floating* dy, const floating* x, const floating* gamma,
                             const floating* mean, const floating* invstd, floating* dx,
                             floating* dgamma, floating* dbeta, Py_ssize_t N, Py_ssize_t C,
                             int n_threads) noexcept nogil:
    """Training-mode backward: dx = gamma*invstd/N * (N*dy - sum(dy) - xhat*sum(dy*xhat)),
    dgamma += sum(dy*xhat), dbeta += sum(dy).
    dy, x: IN (N, C); gamma, mean, invstd: IN (C,) (mean, invstd from the forward);
    dx: OUT (N, C), may alias dy; dgamma, dbeta: INOUT (C,), accumulated."""
    cdef _BnArgs a
    a.x, a.gamma, a.mean, a.invstd = x, gamma, <void*> mean, <void*> invstd
    a.out, a.dgamma, a.dbeta = dx, dgamma, dbeta
    _bn_run(_bn_backward_chunk[floating], &a, dy, N, C, n_threads)


cdef void _bn_backward_eval_block(const floating* dy, const floating* x,
                                  const floating* gamma, const floating* running_mean,
                                  const floating* running_var, floating* dx,
                                  floating* dgamma, floating* dbeta, Py_ssize_t N,
                                  Py_ssize_t C, Py_ssize_t j0, Py_ssize_t w,
                                  double eps) noexcept nogil:
    """Eval-mode batch-norm backward of columns j0 .. j0+w-1 (w <= BN_BLOCK)."""
    cdef double sdy[BN_BLOCK]
    cdef double sdyx[BN_BLOCK]
    cdef double m[BN_BLOCK]
    cdef double a[BN_BLOCK]
    cdef double istd
    cdef Py_ssize_t i, j
    cdef const floating* gr
    cdef floating* dxr
    for j in range(w):
        m[j] = running_mean[j0 + j]
    _bn_grad_sums(dy, x, m, sdy, sdyx, N, C, j0, w)   # sum dy, sum dy * (x - mean)
    for j in range(w):
        istd = 1.0 / sqrt(<double> running_var[j0 + j] + eps)
        dgamma[j0 + j] = <floating> (dgamma[j0 + j] + sdyx[j] * istd)
        dbeta[j0 + j] = <floating> (dbeta[j0 + j] + sdy[j])
        a[j] = gamma[j0 + j] * istd
    for i in range(N):
        gr = dy + i * C + j0
        dxr = dx + i * C + j0
        for j in range(w):
            dxr[j] = <floating> (gr[j] * a[j])


cdef void _bn_backward_eval_chunk(const void* ctx, const floating* dy,
                                  Py_ssize_t b) noexcept nogil:
    cdef const _BnArgs* a = <const _BnArgs*> ctx
    cdef Py_ssize_t j0 = b * a.w
    _bn_backward_eval_block(dy, <const floating*> a.x, <const floating*> a.gamma,
                            <const floating*> a.running_mean, <const floating*> a.running_var,
                            <floating*> a.out, <floating*> a.dgamma, <floating*> a.dbeta, a.N,
                            a.C, j0, min(a.w, a.C - j0), a.eps)


cdef void batchnorm_backward_eval(const floating* dy, const floating* x,
                                  const floating* gamma, const floating* running_mean,
                                  const floating* running_var, floating* dx,
                                  floating* dgamma, floating* dbeta, Py_ssize_t N,
                                  Py_ssize_t C, double eps, int n_threads) noexcept nogil:
    """Backward of the eval-mode forward (a fixed affine map per column):
    dx = dy * gamma / sqrt(running_var + eps), dgamma += sum(dy * xhat), dbeta += sum(dy).
    dy, x: IN (N, C); gamma, running_mean, running_var: IN (C,); dx: OUT (N, C), may
    alias dy; dgamma, dbeta: INOUT (C,), accumulated."""
    cdef _BnArgs a
    a.x, a.gamma, a.eps = x, gamma, eps
    a.running_mean, a.running_var = <void*> running_mean, <void*> running_var
    a.out, a.dgamma, a.dbeta = dx, dgamma, dbeta
    _bn_run(_bn_backward_eval_chunk[floating], &a, dy, N, C, n_threads)


# ---- Python-visible wrappers: shape checks, then the kernel without the GIL -------------

cdef int _norm_check_len(str name, Py_ssize_t n, Py_ssize_t n0) except -1:
    if n != n0:
        raise ValueError(f"{name} has length {n}, expected {n0}")
    return 0


cdef int _norm_check_p(double p) except -1:
    if not (0.0 <= p < 1.0):
        raise ValueError(f"p must be in [0, 1), got {p}")
    return 0


def dropout_forward_kernel(const floating[::1] x, floating[::1] y, double p, uint64_t seed,
                           int n_threads=1):
    """y = x * keep(seed) / (1 - p).  x: IN (n,) flat; y: OUT (n,), may be x itself."""
    _norm_check_p(p)
    _norm_check_len("y", y.shape[0], x.shape[0])
    if x.shape[0] == 0:
        return
    with nogil:
        dropout_forward(&x[0], &y[0], x.shape[0], p, seed, n_threads)


def dropout_backward_kernel(const floating[::1] dy, floating[::1] dx, double p,
                            uint64_t seed, int n_threads=1):
    """dx = dy * keep(seed) / (1 - p).  dy: IN (n,) flat; dx: OUT (n,), may be dy itself."""
    _norm_check_p(p)
    _norm_check_len("dx", dx.shape[0], dy.shape[0])
    if dy.shape[0] == 0:
        return
    with nogil:
        dropout_backward(&dy[0], &dx[0], dy.shape[0], p, seed, n_threads)


def batchnorm_forward_train_kernel(const floating[:, ::1] x, const floating[::1] gamma,
                                   const floating[::1] beta, floating[:, ::1] y,
                                   floating[::1] mean, floating[::1] invstd,
                                   floating[::1] running_mean, floating[::1] running_var,
                                   double momentum, double eps, int n_threads=1):
    """Training-mode batch norm.  x: IN (N, C), N >= 2; gamma, beta: IN (C,);
    y: OUT (N, C); mean, invstd: OUT (C,); running_mean, running_var: INOUT (C,) or
    both None (no update)."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1]
    cdef floating* rm = NULL
    cdef floating* rv = NULL
    if N < 2:
        raise ValueError("batch norm in training mode needs more than 1 row")
    _check_same_shape("y", y.shape[0], y.shape[1], N, C)
    for name, n in (("gamma", gamma.shape[0]), ("beta", beta.shape[0]),
                    ("mean", mean.shape[0]), ("invstd", invstd.shape[0])):
        _norm_check_len(name, n, C)
    if (running_mean is None) != (running_var is None):
        raise ValueError("running_mean and running_var must both be given or both be None")
    if running_mean is not None:
        _norm_check_len("running_mean", running_mean.shape[0], C)
        _norm_check_len("running_var", running_var.shape[0], C)
        if C > 0:
            rm = &running_mean[0]
            rv = &running_var[0]
    if C == 0:
        return
    with nogil:
        batchnorm_forward_train(&x[0, 0], &gamma[0], &beta[0], &y[0, 0], &mean[0],
                                &invstd[0], rm, rv, N, C, momentum, eps, n_threads)


def batchnorm_forward_eval_kernel(const floating[:, ::1] x, const floating[::1] gamma,
                                  const floating[::1] beta, floating[:, ::1] y,
                                  const floating[::1] running_mean,
                                  const floating[::1] running_var, double eps,
                                  int n_threads=1):
    """Inference-mode batch norm with running statistics.  x: IN (N, C);
    gamma, beta, running_mean, running_var: IN (C,); y: OUT (N, C)."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1]
    _check_same_shape("y", y.shape[0], y.shape[1], N, C)
    for name, n in (("gamma", gamma.shape[0]), ("beta", beta.shape[0]),
                    ("running_mean", running_mean.shape[0]),
                    ("running_var", running_var.shape[0])):
        _norm_check_len(name, n, C)
    if N == 0 or C == 0:
        return
    with nogil:
        batchnorm_forward_eval(&x[0, 0], &gamma[0], &beta[0], &y[0, 0], &running_mean[0],
                               &running_var[0], N, C, eps, n_threads)


def batchnorm_backward_kernel(const floating[:, ::1] dy, const floating[:, ::1] x,
                              const floating[::1] gamma, const floating[::1] mean,
                              const floating[::1] invstd, floating[:, ::1] dx,
                              floating[::1] dgamma, floating[::1] dbeta, int n_threads=1):
    """Training-mode batch-norm backward.  dy, x: IN (N, C); gamma, mean, invstd: IN (C,);
    dx: OUT (N, C), may be dy itself; dgamma, dbeta: INOUT (C,), accumulated (+=)."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1]
    _check_same_shape("dy", dy.shape[0], dy.shape[1], N, C)
    _check_same_shape("dx", dx.shape[0], dx.shape[1], N, C)
    for name, n in (("gamma", gamma.shape[0]), ("mean", mean.shape[0]),
                    ("invstd", invstd.shape[0]), ("dgamma", dgamma.shape[0]),
                    ("dbeta", dbeta.shape[0])):
        _norm_check_len(name, n, C)
    if N == 0 or C == 0:
        return
    with nogil:
        batchnorm_backward(&dy[0, 0], &x[0, 0], &gamma[0], &mean[0], &invstd[0], &dx[0, 0],
                           &dgamma[0], &dbeta[0], N, C, n_threads)
