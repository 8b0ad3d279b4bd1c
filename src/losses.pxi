# losses.pxi -- losses with mean reduction: the value and dL/dout in one pass.
#
#   L = mean over elements (mse, mae, bce_logits, hinge_binary) or over rows
#       (softmax_ce, hinge_multi) of the per-element / per-row loss;  dout = dL/dout.
#
# out, target, dout: (N, OUT) C-contiguous;  labels: (N,) int64 in [0, OUT).
# dout is overwritten (an activation gradient) and may NOT alias out or target: softmax
# cross-entropy parks exp(z - max) in dout before it reads the row's target again.
# Reduction: the losses in double, summed in a fixed order inside fixed chunks of whole
# rows (REDUCE_CHUNK elements' worth, at least one row; elementwise losses use four
# interleaved accumulators per chunk), the chunk sums then added in index order --
# bitwise identical for any thread count.  Threads split row chunks; the gradient of a
# row depends on that row only.

cdef enum:
    LOSS_MSE = 0
    LOSS_MAE = 1
    LOSS_BCE_LOGITS = 2
    LOSS_SOFTMAX_CE = 3
    LOSS_HINGE_MULTI = 4
    LOSS_HINGE_BINARY = 5
    N_LOSSES = 6

# The codes by name: the one table of loss names and numbers (cgrad.ops.losses, whose
# functions carry these names, and cgrad.losses read it from here).
LOSS_CODES = {"mse": LOSS_MSE, "mae": LOSS_MAE, "bce_with_logits": LOSS_BCE_LOGITS,
              "softmax_cross_entropy": LOSS_SOFTMAX_CE, "hinge_multiclass": LOSS_HINGE_MULTI,
              "hinge_binary": LOSS_HINGE_BINARY}
assert sorted(LOSS_CODES.values()) == list(range(N_LOSSES))


cdef inline double _bce_term(floating o, double td, floating e, double log1p_e,
                             floating* d, double gscale) noexcept nogil:
    """BCE-with-logits loss of one element from e = exp(-|o|) and log1p(e);
    *d = gscale * (sigmoid(o) - t) unless d is NULL."""
    cdef double sig
    if d != NULL:
        # sigmoid(z) - t from e, in double, without cancelling: for z >= 0 it is
        # (1 - t) - e / (1 + e), for z < 0 e / (1 + e) - t
        sig = e / (1.0 + <double> e)
        d[0] = <floating> ((((1.0 - td) - sig) if o >= 0 else (sig - td)) * gscale)
    return (o if o > 0 else 0.0) - o * td + log1p_e


cdef inline float _log1p_f(float e, float log_1pe) noexcept nogil:
    """log1p(e) for 0 <= e <= 1 given log_1pe = logf(1 + e), 4x faster than glibc's
    log1pf: logf(1 + e) loses at most 2^-24 absolute in 1 + e, i.e. < 4e-6 relative
    for e >= 2^-6; below, the series to e^5 is exact to 1e-10 relative."""
    if e >= <float> 0.015625:
        return log_1pe
    return e * (1 - e * (<float> 0.5 - e * (<float> (1.0 / 3) - e * (<float> 0.25
                                                                    - e * <float> 0.2))))


cdef double _bce_sum_f(const float* o, const float* t, float* d, Py_ssize_t n,
                       double gscale) noexcept nogil:
    """_elementwise_sum for float32 BCE with exp and log by vmath (VMATH_BLOCK
    blocks): the same terms into the same four accumulators in the same order."""
    cdef float e[VMATH_BLOCK]
    cdef float lg[VMATH_BLOCK]
    cdef double acc[4]
    cdef double v
    cdef Py_ssize_t n4 = n - n % 4, i0 = 0, i, j, m
    acc[0] = acc[1] = acc[2] = acc[3] = 0.0
    while i0 < n:
        m = min(<Py_ssize_t> VMATH_BLOCK, n - i0)
        for j in range(m):
            e[j] = -fabsf(o[i0 + j])
        cgrad_vexpf(e, e, m)
        for j in range(m):
            lg[j] = 1 + e[j]
        cgrad_vlogf(lg, lg, m)
        for j in range(m):
            i = i0 + j
            v = _bce_term(o[i], <double> t[i], e[j], _log1p_f(e[j], lg[j]),
                          (d + i) if d != NULL else NULL, gscale)
            acc[(i & 3) if i < n4 else 0] += v
        i0 += m
    return (acc[0] + acc[1]) + (acc[2] + acc[3])


cdef inline double _elem_term(int loss, floating o, floating t, floating* d,
                              double gscale) noexcept nogil:
    """One element's loss, in double; *d = gscale * dloss/do unless d is NULL."""
    cdef double v, td = t
    cdef floating e
    if loss == LOSS_MSE:
        v = <double> o - td
        if d != NULL:
            d[0] = <floating> (2.0 * v * gscale)
        return v * v
    if loss == LOSS_MAE:
        v = <double> o - td
        if d != NULL:
            d[0] = <floating> (gscale if v > 0 else (-gscale if v < 0 else 0.0))
        return fabs(v)
    if loss == LOSS_BCE_LOGITS:
        # max(z, 0) - z t + log1p(exp(-|z|)): no overflow for any z
        if floating is float:
            e = expf(-fabsf(o))
            v = _log1p_f(e, logf(1 + e))
        else:
            e = exp(-fabs(o))
            v = log1p(e)
        return _bce_term(o, td, e, v, d, gscale)
    # LOSS_HINGE_BINARY
    v = 1.0 - td * <double> o
    if d != NULL:
        d[0] = <floating> (-td * gscale) if v > 0 else 0
    return v if v > 0 else 0.0


cdef inline double _elementwise_sum(int loss, const floating* o, const floating* t,
                                    floating* d, Py_ssize_t n, double gscale) noexcept nogil:
    """Sum of n element losses: four interleaved double accumulators (element i goes to
    i % 4), so the adds do not wait on each other; a fixed order for a given n."""
    cdef Py_ssize_t i = 0
    cdef double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
    if d == NULL:
        while i + 4 <= n:
            s0 += _elem_term(loss, o[i], t[i], <floating*> NULL, gscale)
            s1 += _elem_term(loss, o[i + 1], t[i + 1], <floating*> NULL, gscale)
            s2 += _elem_term(loss, o[i + 2], t[i + 2], <floating*> NULL, gscale)
            s3 += _elem_term(loss, o[i + 3], t[i + 3], <floating*> NULL, gscale)
            i += 4
        while i < n:
            s0 += _elem_term(loss, o[i], t[i], <floating*> NULL, gscale)
            i += 1
    else:
        while i + 4 <= n:
            s0 += _elem_term(loss, o[i], t[i], d + i, gscale)
            s1 += _elem_term(loss, o[i + 1], t[i + 1], d + i + 1, gscale)
            s2 += _elem_term(loss, o[i + 2], t[i + 2], d + i + 2, gscale)
            s3 += _elem_term(loss, o[i + 3], t[i + 3], d + i + 3, gscale)
            i += 4
        while i < n:
            s0 += _elem_term(loss, o[i], t[i], d + i, gscale)
            i += 1
    return (s0 + s1) + (s2 + s3)


cdef double _elementwise_rows(int loss, const floating* o, const floating* t,
                              floating* d, Py_ssize_t n, double gscale) noexcept nogil:
    """Sum over n elements of the elementwise loss (fixed order, in double);
    d[i] = gscale * dloss/do[i] if d is not NULL.  One call per loss code so the
    compiler specialises the inlined loop for it."""
    if loss == LOSS_MSE:
        return _elementwise_sum(LOSS_MSE, o, t, d, n, gscale)
    if loss == LOSS_MAE:
        return _elementwise_sum(LOSS_MAE, o, t, d, n, gscale)
    if loss == LOSS_BCE_LOGITS:
        if floating is float:
            return _bce_sum_f(o, t, d, n, gscale)
        return _elementwise_sum(LOSS_BCE_LOGITS, o, t, d, n, gscale)
    return _elementwise_sum(LOSS_HINGE_BINARY, o, t, d, n, gscale)


cdef double _softmax_ce_row(const floating* z, const floating* t, int64_t label,
                            floating* d, Py_ssize_t n, double gscale) noexcept nogil:
    """logsumexp(z) - z[label], or sum_j t_j (logsumexp(z) - z_j) when t != NULL.
    d = gscale * (softmax(z) * sum(t) - t)  (sum(t) = 1 for labels / one-hot)."""
    cdef Py_ssize_t j
    cdef floating m = z[0], e
    cdef double s = 0.0, log_s, val = 0.0, tsum = 1.0
    cdef floating scale
    cdef float eb[VMATH_BLOCK]
    cdef Py_ssize_t j0, nb
    for j in range(1, n):
        if z[j] > m:
            m = z[j]
    if floating is float:       # exp by vmath, block by block; the same sum order
        j0 = 0
        while j0 < n:
            nb = min(<Py_ssize_t> VMATH_BLOCK, n - j0)
            for j in range(nb):
                eb[j] = z[j0 + j] - m
            cgrad_vexpf(eb, eb, nb)
            for j in range(nb):
                s += eb[j]
                if d != NULL:
                    d[j0 + j] = eb[j]
            j0 += nb
    else:
        for j in range(n):
            e = exp(z[j] - m)
            s += e
            if d != NULL:
                d[j] = e
    log_s = log(s)
    if t == NULL:
        val = log_s - (<double> z[label] - <double> m)
    else:
        tsum = 0.0
        for j in range(n):
            val += <double> t[j] * (log_s - (<double> z[j] - <double> m))
            tsum += t[j]
    if d != NULL:
        scale = <floating> (tsum * gscale / s)
        if t == NULL:
            for j in range(n):
                d[j] = d[j] * scale
            d[label] -= <floating> gscale
        else:
            for j in range(n):
                d[j] = d[j] * scale - <floating> (t[j] * gscale)
    return val


cdef double _hinge_multi_row(const floating* z, int64_t y, floating* d, Py_ssize_t n,
                             double gscale) noexcept nogil:
    """max(0, 1 + max_{j != y} z_j - z_y); subgradient +gscale at the first argmax j,
    -gscale at y when the margin is violated.  One column: no rival class, loss 0."""
    cdef Py_ssize_t j, jmax = -1
    cdef double margin = 0.0
    for j in range(n):
        if j != y and (jmax < 0 or z[j] > z[jmax]):
            jmax = j
    if jmax >= 0:
        margin = 1.0 + <double> z[jmax] - <double> z[y]
    if d != NULL:
        memset(d, 0, n * sizeof(floating))
        if margin > 0:
            d[jmax] = <floating> gscale
            d[y] = <floating> (-gscale)
    return margin if margin > 0 else 0.0


cdef double _loss_rows(int loss, const floating* out, const floating* target,
                       const int64_t* labels, floating* dout, Py_ssize_t rows,
                       Py_ssize_t cols, double gscale) noexcept nogil:
    """Sum of the losses of `rows` consecutive rows (sequential, in double)."""
    cdef Py_ssize_t i
    cdef double s = 0.0
    if loss == LOSS_SOFTMAX_CE:
        for i in range(rows):
            s += _softmax_ce_row(out + i * cols,
                                 (target + i * cols) if target != NULL else NULL,
                                 labels[i] if target == NULL else 0,
                                 (dout + i * cols) if dout != NULL else NULL, cols, gscale)
    elif loss == LOSS_HINGE_MULTI:
        for i in range(rows):
            s += _hinge_multi_row(out + i * cols, labels[i],
                                  (dout + i * cols) if dout != NULL else NULL, cols, gscale)
    else:       # elementwise: the rows are one contiguous span
        s = _elementwise_rows(loss, out, target, dout, rows * cols, gscale)
    return s


cdef struct _LossArgs:
    int loss
    const void* target
    const int64_t* labels
    void* dout
    double* part            # per chunk: the sum of its rows' losses
    Py_ssize_t rows, cols, per
    double gscale


cdef void _loss_chunk(const void* ctx, const floating* out, Py_ssize_t c) noexcept nogil:
    """Rows [c * per, (c + 1) * per) of loss_forward_backward."""
    cdef const _LossArgs* a = <const _LossArgs*> ctx
    cdef Py_ssize_t lo = c * a.per, cols = a.cols
    a.part[c] = _loss_rows(a.loss, out + lo * cols,
                           (<const floating*> a.target + lo * cols) if a.target != NULL else NULL,
                           (a.labels + lo) if a.labels != NULL else NULL,
                           (<floating*> a.dout + lo * cols) if a.dout != NULL else NULL,
                           min(lo + a.per, a.rows) - lo, cols, a.gscale)


cdef double loss_forward_backward(int loss,
                                  const floating* out,      # IN  (N, OUT) output / logits
                                  const floating* target,   # IN  (N, OUT) or NULL
                                  const int64_t* labels,    # IN  (N,) or NULL
                                  floating* dout,           # OUT (N, OUT) or NULL
                                  Py_ssize_t rows, Py_ssize_t cols,
                                  int n_threads) noexcept nogil:
    """Mean loss; dout = dL/dout unless NULL.  dout must not alias out or target.
    mse/mae/bce_logits/hinge_binary need target; hinge_multi needs labels; softmax_ce
    uses target if not NULL, else labels.  Labels are trusted to be in [0, cols).
    Returns NaN for an unknown code, a missing input or a failed allocation."""
    cdef double divisor, total
    cdef double stack_part[STACK_CHUNKS]
    cdef _LossArgs a
    if loss < 0 or loss >= N_LOSSES or rows <= 0 or cols <= 0:
        return NAN
    if loss == LOSS_HINGE_MULTI or (loss == LOSS_SOFTMAX_CE and target == NULL):
        if labels == NULL:
            return NAN
    elif target == NULL:
        return NAN
    # row-wise losses average over rows, elementwise ones over all elements
    if loss == LOSS_SOFTMAX_CE or loss == LOSS_HINGE_MULTI:
        divisor = <double> rows
    else:
        divisor = <double> rows * <double> cols
    a.loss, a.target, a.labels, a.dout = loss, target, labels, dout
    a.rows, a.cols, a.per, a.gscale = rows, cols, max(REDUCE_CHUNK // cols, 1), 1.0 / divisor
    total = sum_over_chunks(_loss_chunk[floating], &a, &a.part, stack_part, out,
                            (rows + a.per - 1) // a.per, _threads_for(rows * cols, n_threads))
    return total / divisor


def loss_value_grad(int loss,
                    const floating[:, ::1] out,         # IN  (N, OUT)
                    const floating[:, ::1] target,      # IN  (N, OUT) or None
                    const int64_t[::1] labels,          # IN  (N,) or None
                    floating[:, ::1] dout,              # OUT (N, OUT) or None: value only
                    int n_threads=1):
    """Mean loss (a float); dout = dL/dout when given.  See loss_forward_backward."""
    cdef Py_ssize_t r = out.shape[0], c = out.shape[1], i
    cdef const floating* t = NULL
    cdef const int64_t* y = NULL
    cdef floating* d = NULL
    cdef int64_t bad = 0
    cdef double val
    if loss < 0 or loss >= N_LOSSES:
        raise ValueError(f"unknown loss code {loss}")
    if r == 0 or c == 0:
        raise ValueError(f"out is empty (shape ({r}, {c}))")
    if target is not None:
        _check_same_shape("target", target.shape[0], target.shape[1], r, c)
        t = &target[0, 0]
    if labels is not None:
        if labels.shape[0] != r:
            raise ValueError(f"labels has {labels.shape[0]} entries, expected {r}")
        y = &labels[0]
    if loss == LOSS_HINGE_MULTI or (loss == LOSS_SOFTMAX_CE and t == NULL):
        if y == NULL:
            raise ValueError("this loss needs labels" if loss == LOSS_HINGE_MULTI
                             else "softmax cross-entropy needs target or labels")
        if t != NULL:
            raise ValueError("multi-class hinge takes labels, not target")
        with nogil:
            for i in range(r):
                if y[i] < 0 or y[i] >= c:
                    bad = 1
        if bad:
            raise ValueError(f"labels must lie in [0, {c})")
    elif t == NULL:
        raise ValueError("this loss needs target")
    if dout is not None:
        _check_same_shape("dout", dout.shape[0], dout.shape[1], r, c)
        d = &dout[0, 0]
        if <const floating*> d == &out[0, 0] or <const floating*> d == t:
            raise ValueError("dout must not alias out or target")
    with nogil:
        val = loss_forward_backward(loss, &out[0, 0], t, y, d, r, c, n_threads)
    return val
