# regularization.pxi -- weight penalties and gradient clipping over flat buffers.
#
#   l2:   value = 0.5 lam sum(w^2),   g += lam w
#   l1:   value = lam sum|w|,         g += lam sign(w)        (sign(0) = 0: the subgradient)
#   clip_by_value:        g = min(max(g, -clip), clip)
#   global_norm:          sqrt(sum g^2)
#   clip_by_global_norm:  g *= max_norm / (norm + 1e-6) when norm > max_norm
#                         (torch.nn.utils.clip_grad_norm_)
#
# w, g: flat (n,) buffers (the model's flat params / grads).  The penalty gradient is a
# parameter gradient, so it accumulates (+=); g may alias w.  Sums run in double inside
# fixed REDUCE_CHUNK chunks added in index order (as chunked_sum): bitwise identical for
# any thread count.  Threads split chunks.


cdef struct _PenaltyArgs:
    void* g
    double* part            # per chunk: its sum of w^2 or |w|
    Py_ssize_t n
    int power
    double lam


cdef void _penalty_chunk(const void* ctx, const floating* w, Py_ssize_t c) noexcept nogil:
    """Chunk c of _penalty_grad: its penalty sum into part[c] (chunked_sum's span sum,
    so the value is the g=NULL one's), then its gradient into g."""
    cdef const _PenaltyArgs* pa = <const _PenaltyArgs*> ctx
    cdef floating* g = <floating*> pa.g
    cdef Py_ssize_t i, lo = c * REDUCE_CHUNK, hi = min(lo + REDUCE_CHUNK, pa.n)
    cdef floating v, a = <floating> pa.lam
    # the whole chunk is summed before g is written: g may alias w
    _chunk_sums(w + lo, hi - lo, REDUCE_CHUNK, pa.power, pa.part + c)
    if pa.power == 2:
        for i in range(lo, hi):
            g[i] = g[i] + a * w[i]
        return
    for i in range(lo, hi):
        v = w[i]
        if v > 0:
            g[i] = g[i] + a
        elif v < 0:
            g[i] = g[i] - a


cdef double _penalty_grad(int power, const floating* w, floating* g, Py_ssize_t n,
                          double lam, int n_threads) noexcept nogil:
    """sum(w^2) (power 2) or sum|w| (power 0) in chunk order; g += lam * d/dw of the
    penalty's per-element term (w, or sign(w)) in the same pass.  NaN on failed malloc."""
    cdef double stack_part[STACK_CHUNKS]
    cdef _PenaltyArgs a
    if g == NULL:
        return chunked_sum(w, n, power, n_threads)
    if n <= 0:
        return 0.0
    a.g, a.n, a.power, a.lam = g, n, power, lam
    return sum_over_chunks(_penalty_chunk[floating], &a, &a.part, stack_part, w,
                           (n + REDUCE_CHUNK - 1) // REDUCE_CHUNK, _threads_for(n, n_threads))


cdef double l2_penalty_grad(const floating* w,   # IN    (n,) parameters
                            floating* g,         # INOUT (n,) gradient, or NULL
                            Py_ssize_t n, double lam, int n_threads) noexcept nogil:
    """Returns 0.5 * lam * sum(w^2); g += lam * w unless g is NULL."""
    return 0.5 * lam * _penalty_grad(2, w, g, n, lam, n_threads)


cdef double l1_penalty_grad(const floating* w,   # IN    (n,) parameters
                            floating* g,         # INOUT (n,) gradient, or NULL
                            Py_ssize_t n, double lam, int n_threads) noexcept nogil:
    """Returns lam * sum|w|; g += lam * sign(w) (sign(0) = 0) unless g is NULL."""
    return lam * _penalty_grad(0, w, g, n, lam, n_threads)


cdef struct _ClipArgs:
    Py_ssize_t n
    double c
    bint clip


cdef void _clip_chunk(const void* ctx, const floating* g_in, Py_ssize_t k) noexcept nogil:
    """Chunk k of _scale_or_clip (g_in is the buffer it rewrites)."""
    cdef const _ClipArgs* ca = <const _ClipArgs*> ctx
    cdef floating* g = <floating*> g_in
    cdef floating a = <floating> ca.c
    cdef Py_ssize_t i, hi = min((k + 1) * REDUCE_CHUNK, ca.n)
    if ca.clip:
        for i in range(k * REDUCE_CHUNK, hi):
            if g[i] > a:            # NaN fails both tests and stays NaN (as np.clip)
                g[i] = a
            elif g[i] < -a:
                g[i] = -a
    else:
        for i in range(k * REDUCE_CHUNK, hi):
            g[i] = g[i] * a


cdef void _scale_or_clip(floating* g, Py_ssize_t n, double c, bint clip,
                         int n_threads) noexcept nogil:
    """g = min(max(g, -c), c) if clip else g *= c, split into REDUCE_CHUNK blocks."""
    cdef _ClipArgs a
    a.n, a.c, a.clip = n, c, clip
    for_chunks(_clip_chunk[floating], &a, g, (n + REDUCE_CHUNK - 1) // REDUCE_CHUNK,
               _threads_for(n, n_threads))


cdef void clip_by_value(floating* g,             # INOUT (n,)
                        Py_ssize_t n, double clip, int n_threads) noexcept nogil:
    """g = min(max(g, -clip), clip)"""
    _scale_or_clip(g, n, clip, True, n_threads)


cdef double global_norm(const floating* g,       # IN (n,)
                        Py_ssize_t n, int n_threads) noexcept nogil:
    """sqrt(sum(g^2)) in double, fixed chunk order."""
    if n <= 0:
        return 0.0
    return sqrt(chunked_sum(g, n, 2, n_threads))


cdef double clip_by_global_norm(floating* g,     # INOUT (n,)
                                Py_ssize_t n, double max_norm,
                                int n_threads) noexcept nogil:
    """Returns the norm before clipping; g *= max_norm / (norm + 1e-6) if norm > max_norm.
    A NaN norm leaves g unchanged; an infinite one scales g by 0."""
    cdef double norm = global_norm(g, n, n_threads)
    if norm > max_norm:
        _scale_or_clip(g, n, max_norm / (norm + 1e-6), False, n_threads)
    return norm


# ---- Python-visible wrappers (flat 1-D buffers; cgrad.ops flattens any shape) ------

def l2_penalty_value_grad(const floating[::1] w,     # IN    (n,)
                          floating[::1] g,           # INOUT (n,) or None: value only
                          double lam, int n_threads=1):
    """0.5 * lam * sum(w^2); g += lam * w when g is given."""
    return _penalty_wrapper(2, w, g, lam, n_threads)


def l1_penalty_value_grad(const floating[::1] w,     # IN    (n,)
                          floating[::1] g,           # INOUT (n,) or None: value only
                          double lam, int n_threads=1):
    """lam * sum|w|; g += lam * sign(w) when g is given."""
    return _penalty_wrapper(0, w, g, lam, n_threads)


cdef double _penalty_wrapper(int power, const floating[::1] w, floating[::1] g,
                             double lam, int n_threads) except? -1:
    cdef Py_ssize_t n = w.shape[0]
    cdef floating* gp = NULL
    cdef double v
    if not lam >= 0:
        raise ValueError(f"lam must be >= 0, got {lam}")
    if g is not None:
        if g.shape[0] != n:
            raise ValueError(f"g has {g.shape[0]} elements, expected {n}")
        if n:
            gp = &g[0]
    if n == 0:
        return 0.0
    with nogil:
        if power == 2:
            v = l2_penalty_grad(&w[0], gp, n, lam, n_threads)
        else:
            v = l1_penalty_grad(&w[0], gp, n, lam, n_threads)
    return v


def clip_by_value_inplace(floating[::1] g, double clip, int n_threads=1):
    """g = min(max(g, -clip), clip), in place."""
    if not clip > 0:
        raise ValueError(f"clip must be > 0, got {clip}")
    if g.shape[0]:
        with nogil:
            clip_by_value(&g[0], g.shape[0], clip, n_threads)


def global_norm_of(const floating[::1] g, int n_threads=1):
    """sqrt(sum(g^2)) as a float."""
    cdef double v = 0.0
    if g.shape[0]:
        with nogil:
            v = global_norm(&g[0], g.shape[0], n_threads)
    return v


def clip_by_global_norm_inplace(floating[::1] g, double max_norm, int n_threads=1):
    """Scale g in place to norm <= max_norm; returns the norm before clipping."""
    cdef double v = 0.0
    if not max_norm > 0:
        raise ValueError(f"max_norm must be > 0, got {max_norm}")
    if g.shape[0]:
        with nogil:
            v = clip_by_global_norm(&g[0], g.shape[0], max_norm, n_threads)
    return v
