# optim.pxi -- optimizer updates over the flat parameter buffer, in place.
#
# The update rules are torch.optim's (SGD, Adam, AdamW, RMSprop, Adagrad; maximize=False),
# written from the algorithm boxes of their documentation; the hyperparameter names are
# theirs.  Every buffer has n elements: p (parameters, INOUT), g (gradients, IN, never
# written: weight decay is added to a local copy of g[i]) and the optimizer state (INOUT),
# owned and zero-initialised by the caller.  t is the 1-based step count after incrementing
# (1 on the first step).
#
# Scalar algebra (bias corrections, decayed learning rates) is done once per call in
# double; the elementwise work is done in the buffer dtype.  Each kernel fills an argument
# struct once and runs its chunk body on fixed REDUCE_CHUNK-sized blocks of the flat buffer
# (for_chunks; one thread below PAR_MIN_WORK elements); the body takes g, which every rule
# reads, as its typed argument.  No element depends on another, so results are bitwise
# identical for any thread count.  Options that change the shape of the update (momentum on/off, first step,
# nesterov, amsgrad, centered) select a separate loop before the loop starts; the weight
# decay test in _decayed is loop-invariant and unswitched by the compiler (-O3).


cdef extern from "optim_kernels.h" nogil:
    void cgrad_adam_block_f(float* p, const float* g, float* m, float* v, float* vmax, long n,
                            float b1, float c1, float b2, float c2, float eps, float wd,
                            int has_wd, float p_scale, float step, float ibc2)
    void cgrad_sgd_block_f(float* p, const float* g, float* buf, long n, float lr,
                           float momentum, float keep, float wd, int has_wd, int first,
                           int nesterov)


cdef inline floating _sqrt(floating x) noexcept nogil:
    if floating is float:
        return sqrtf(x)
    else:
        return sqrt(x)


cdef inline floating _decayed(floating g, floating p, floating wd, bint has_wd) noexcept nogil:
    """g + wd*p (L2 weight decay on a local copy of the gradient) when has_wd, else g."""
    if has_wd:
        return g + wd * p
    return g


# ---------------------------------------------------------------------------------- SGD
cdef struct _SgdArgs:
    void* p
    void* buf                   # NULL without momentum
    Py_ssize_t n
    double lr, momentum, keep, wd
    bint has_wd, first, nesterov


cdef void _sgd_chunk(const void* ctx, const floating* g_all, Py_ssize_t c) noexcept nogil:
    """Chunk c of sgd_step; keep = 1 - dampening."""
    cdef const _SgdArgs* a = <const _SgdArgs*> ctx
    cdef Py_ssize_t lo = c * REDUCE_CHUNK, i
    cdef Py_ssize_t n = min(REDUCE_CHUNK, a.n - lo)
    cdef floating* p = <floating*> a.p + lo
    cdef const floating* g = g_all + lo
    cdef floating* buf = (<floating*> a.buf + lo) if a.buf != NULL else NULL
    cdef floating lr = <floating> a.lr, momentum = <floating> a.momentum
    cdef floating keep = <floating> a.keep, wd = <floating> a.wd
    cdef bint has_wd = a.has_wd
    cdef floating gi, b
    if floating is float:       # the same loops in C, on the widest vectors (optim_*.c)
        cgrad_sgd_block_f(p, g, buf, n, lr, momentum, keep, wd, has_wd, a.first,
                          a.nesterov)
        return
    if buf == NULL:
        for i in range(n):
            gi = _decayed(g[i], p[i], wd, has_wd)
            p[i] = p[i] - lr * gi
    elif a.first and a.nesterov:
        for i in range(n):
            gi = _decayed(g[i], p[i], wd, has_wd)
            buf[i] = gi
            p[i] = p[i] - lr * (gi + momentum * gi)
    elif a.first:
        for i in range(n):
            gi = _decayed(g[i], p[i], wd, has_wd)
            buf[i] = gi
            p[i] = p[i] - lr * gi
    elif a.nesterov:
        for i in range(n):
            gi = _decayed(g[i], p[i], wd, has_wd)
            b = momentum * buf[i] + keep * gi
            buf[i] = b
            p[i] = p[i] - lr * (gi + momentum * b)
    else:
        for i in range(n):
            gi = _decayed(g[i], p[i], wd, has_wd)
            b = momentum * buf[i] + keep * gi
            buf[i] = b
            p[i] = p[i] - lr * b


cdef void sgd_step(floating* p, const floating* g, floating* buf, Py_ssize_t n, double lr,
                   double momentum, double dampening, double weight_decay, bint nesterov,
                   long t, int n_threads) noexcept nogil:
    """torch.optim.SGD:  g' = g + wd*p;  buf = g' (t == 1) | momentum*buf + (1-dampening)*g';
    d = g' + momentum*buf (nesterov) | buf (momentum != 0) | g';  p -= lr*d.
    p: INOUT (n,); g: IN (n,); buf: INOUT (n,), used iff momentum != 0 (else may be NULL)."""
    cdef _SgdArgs a
    a.p, a.buf, a.n = p, buf if momentum != 0.0 else NULL, n
    a.lr, a.momentum, a.keep, a.wd = lr, momentum, 1.0 - dampening, weight_decay
    a.has_wd, a.first, a.nesterov = weight_decay != 0.0, t <= 1, nesterov and a.buf != NULL
    for_chunks(_sgd_chunk[floating], &a, g, (n + REDUCE_CHUNK - 1) // REDUCE_CHUNK,
               _threads_for(n, n_threads))

# ------------------------------------------------------------------------- Adam / AdamW
cdef struct _AdamArgs:
    void* p
    void* m
    void* v
    void* vmax                  # NULL without amsgrad
    Py_ssize_t n
    double b1, c1, b2, c2, eps, wd, p_scale, step_size, inv_bc2_sqrt
    bint has_wd


cdef void _adam_chunk(const void* ctx, const floating* g_all, Py_ssize_t c) noexcept nogil:
    """Chunk c of adam_step; c1 = 1 - beta1, c2 = 1 - beta2, p_scale = 1 - lr*wd (AdamW)
    or 1, step_size = lr / (1 - beta1^t), inv_bc2_sqrt = 1 / sqrt(1 - beta2^t)."""
    cdef const _AdamArgs* a = <const _AdamArgs*> ctx
    cdef Py_ssize_t lo = c * REDUCE_CHUNK, i
    cdef Py_ssize_t n = min(REDUCE_CHUNK, a.n - lo)
    cdef floating* p = <floating*> a.p + lo
    cdef const floating* g = g_all + lo
    cdef floating* m = <floating*> a.m + lo
    cdef floating* v = <floating*> a.v + lo
    cdef floating* vmax = (<floating*> a.vmax + lo) if a.vmax != NULL else NULL
    cdef floating b1 = <floating> a.b1, c1 = <floating> a.c1, b2 = <floating> a.b2
    cdef floating c2 = <floating> a.c2, eps = <floating> a.eps, wd = <floating> a.wd
    cdef floating p_scale = <floating> a.p_scale, step_size = <floating> a.step_size
    cdef floating inv_bc2_sqrt = <floating> a.inv_bc2_sqrt
    cdef bint has_wd = a.has_wd
    cdef floating gi, mi, vi, vm
    if floating is float:       # the same formula in C, on the widest vectors (optim_*.c)
        cgrad_adam_block_f(p, g, m, v, vmax, n, b1, c1, b2, c2, eps, wd, has_wd, p_scale,
                           step_size, inv_bc2_sqrt)
        return
    if vmax == NULL:
        for i in range(n):
            gi = _decayed(g[i], p[i], wd, has_wd)
            mi = b1 * m[i] + c1 * gi
            vi = b2 * v[i] + c2 * gi * gi
            m[i] = mi
            v[i] = vi
            p[i] = p_scale * p[i] - step_size * mi / (_sqrt(vi) * inv_bc2_sqrt + eps)
    else:
        for i in range(n):
            gi = _decayed(g[i], p[i], wd, has_wd)
            mi = b1 * m[i] + c1 * gi
            vi = b2 * v[i] + c2 * gi * gi
            m[i] = mi
            v[i] = vi
            vm = vmax[i]
            vm = vm if vm > vi else vi
            vmax[i] = vm
            p[i] = p_scale * p[i] - step_size * mi / (_sqrt(vm) * inv_bc2_sqrt + eps)


cdef void adam_step(floating* p, const floating* g, floating* m, floating* v, floating* vmax,
                    Py_ssize_t n, double lr, double beta1, double beta2, double eps,
                    double weight_decay, bint decoupled, long t, int n_threads) noexcept nogil:
    """torch.optim.Adam (decoupled == 0: g' = g + wd*p) / AdamW (decoupled: p *= 1 - lr*wd):
    m = b1*m + (1-b1)*g';  v = b2*v + (1-b2)*g'^2;  vmax = max(vmax, v) (amsgrad);
    p -= lr/(1-b1^t) * m / (sqrt(v or vmax)/sqrt(1-b2^t) + eps).
    p: INOUT (n,); g: IN (n,); m, v: INOUT (n,); vmax: INOUT (n,) or NULL (no amsgrad)."""
    cdef double bc1 = 1.0 - beta1 ** <double> t
    cdef double bc2 = 1.0 - beta2 ** <double> t
    cdef _AdamArgs a
    a.p, a.m, a.v, a.vmax, a.n = p, m, v, vmax, n
    a.b1, a.c1, a.b2, a.c2, a.eps = beta1, 1.0 - beta1, beta2, 1.0 - beta2, eps
    a.wd = 0.0 if decoupled else weight_decay
    a.has_wd = a.wd != 0.0
    a.p_scale = 1.0 - lr * weight_decay if decoupled else 1.0
    a.step_size = lr / bc1
    a.inv_bc2_sqrt = 1.0 / sqrt(bc2)
    for_chunks(_adam_chunk[floating], &a, g, (n + REDUCE_CHUNK - 1) // REDUCE_CHUNK,
               _threads_for(n, n_threads))

# ------------------------------------------------------------------------------ RMSprop
cdef struct _RmspropArgs:
    void* p
    void* sq
    void* mbuf                  # NULL without momentum
    void* gavg                  # NULL unless centered
    Py_ssize_t n
    double lr, alpha, c, eps, wd, momentum
    bint has_wd


cdef void _rmsprop_chunk(const void* ctx, const floating* g_all, Py_ssize_t k) noexcept nogil:
    """Chunk k of rmsprop_step; c = 1 - alpha."""
    cdef const _RmspropArgs* a = <const _RmspropArgs*> ctx
    cdef Py_ssize_t lo = k * REDUCE_CHUNK, i
    cdef Py_ssize_t n = min(REDUCE_CHUNK, a.n - lo)
    cdef floating* p = <floating*> a.p + lo
    cdef const floating* g = g_all + lo
    cdef floating* sq = <floating*> a.sq + lo
    cdef floating* mbuf = (<floating*> a.mbuf + lo) if a.mbuf != NULL else NULL
    cdef floating* gavg = (<floating*> a.gavg + lo) if a.gavg != NULL else NULL
    cdef floating lr = <floating> a.lr, alpha = <floating> a.alpha, c = <floating> a.c
    cdef floating eps = <floating> a.eps, wd = <floating> a.wd
    cdef floating momentum = <floating> a.momentum
    cdef bint has_wd = a.has_wd
    cdef floating gi, si, ai, den, b
    if gavg == NULL and mbuf == NULL:
        for i in range(n):
            gi = _decayed(g[i], p[i], wd, has_wd)
            si = alpha * sq[i] + c * gi * gi
            sq[i] = si
            den = _sqrt(si) + eps
            p[i] = p[i] - lr * gi / den
    elif gavg == NULL:
        for i in range(n):
            gi = _decayed(g[i], p[i], wd, has_wd)
            si = alpha * sq[i] + c * gi * gi
            sq[i] = si
            den = _sqrt(si) + eps
            b = momentum * mbuf[i] + gi / den
            mbuf[i] = b
            p[i] = p[i] - lr * b
    elif mbuf == NULL:
        for i in range(n):
            gi = _decayed(g[i], p[i], wd, has_wd)
            si = alpha * sq[i] + c * gi * gi
            sq[i] = si
            ai = alpha * gavg[i] + c * gi
            gavg[i] = ai
            den = _sqrt(si - ai * ai) + eps
            p[i] = p[i] - lr * gi / den
    else:
        for i in range(n):
            gi = _decayed(g[i], p[i], wd, has_wd)
            si = alpha * sq[i] + c * gi * gi
            sq[i] = si
            ai = alpha * gavg[i] + c * gi
            gavg[i] = ai
            den = _sqrt(si - ai * ai) + eps
            b = momentum * mbuf[i] + gi / den
            mbuf[i] = b
            p[i] = p[i] - lr * b


cdef void rmsprop_step(floating* p, const floating* g, floating* square_avg,
                       floating* momentum_buf, floating* grad_avg, Py_ssize_t n, double lr,
                       double alpha, double eps, double weight_decay, double momentum,
                       int n_threads) noexcept nogil:
    """torch.optim.RMSprop:  g' = g + wd*p;  sq = alpha*sq + (1-alpha)*g'^2;
    gavg = alpha*gavg + (1-alpha)*g' and v~ = sq - gavg^2 (centered) | v~ = sq;
    buf = momentum*buf + g'/(sqrt(v~) + eps), p -= lr*buf (momentum > 0) |
    p -= lr*g'/(sqrt(v~) + eps).
    p: INOUT (n,); g: IN (n,); square_avg: INOUT (n,); momentum_buf: INOUT (n,), used iff
    momentum > 0 (else may be NULL); grad_avg: INOUT (n,) (centered) or NULL."""
    cdef _RmspropArgs a
    a.p, a.sq, a.gavg, a.n = p, square_avg, grad_avg, n
    a.mbuf = momentum_buf if momentum > 0.0 else NULL
    a.lr, a.alpha, a.c, a.eps, a.wd = lr, alpha, 1.0 - alpha, eps, weight_decay
    a.momentum, a.has_wd = momentum, weight_decay != 0.0
    for_chunks(_rmsprop_chunk[floating], &a, g, (n + REDUCE_CHUNK - 1) // REDUCE_CHUNK,
               _threads_for(n, n_threads))

# ------------------------------------------------------------------------------ Adagrad
cdef struct _AdagradArgs:
    void* p
    void* ss
    Py_ssize_t n
    double clr, eps, wd
    bint has_wd


cdef void _adagrad_chunk(const void* ctx, const floating* g_all, Py_ssize_t c) noexcept nogil:
    """Chunk c of adagrad_step; clr = lr / (1 + (t-1)*lr_decay)."""
    cdef const _AdagradArgs* a = <const _AdagradArgs*> ctx
    cdef Py_ssize_t lo = c * REDUCE_CHUNK, i
    cdef Py_ssize_t n = min(REDUCE_CHUNK, a.n - lo)
    cdef floating* p = <floating*> a.p + lo
    cdef const floating* g = g_all + lo
    cdef floating* ss = <floating*> a.ss + lo
    cdef floating clr = <floating> a.clr, eps = <floating> a.eps, wd = <floating> a.wd
    cdef bint has_wd = a.has_wd
    cdef floating gi, si
    for i in range(n):
        gi = _decayed(g[i], p[i], wd, has_wd)
        si = ss[i] + gi * gi
        ss[i] = si
        p[i] = p[i] - clr * gi / (_sqrt(si) + eps)


cdef void adagrad_step(floating* p, const floating* g, floating* state_sum, Py_ssize_t n,
                       double lr, double lr_decay, double weight_decay, double eps, long t,
                       int n_threads) noexcept nogil:
    """torch.optim.Adagrad:  clr = lr/(1 + (t-1)*lr_decay);  g' = g + wd*p;
    state_sum += g'^2;  p -= clr*g'/(sqrt(state_sum) + eps).
    p: INOUT (n,); g: IN (n,); state_sum: INOUT (n,), filled by the caller with
    initial_accumulator_value before the first step."""
    cdef _AdagradArgs a
    a.p, a.ss, a.n = p, state_sum, n
    a.clr, a.eps, a.wd = lr / (1.0 + (t - 1) * lr_decay), eps, weight_decay
    a.has_wd = weight_decay != 0.0
    for_chunks(_adagrad_chunk[floating], &a, g, (n + REDUCE_CHUNK - 1) // REDUCE_CHUNK,
               _threads_for(n, n_threads))

# --------------------------------------------------------------- Python-visible wrappers
# 1-D C-contiguous memoryviews of one dtype; optional state buffers may be None.  These
# check lengths and presence (never crash); cgrad.ops.optim names bad arguments and checks
# hyperparameter ranges.

cdef int _check_len(str name, floating[::1] buf, Py_ssize_t n, bint required) except -1:
    if buf is None:
        if required:
            raise ValueError(f"{name} is required by these options")
        return 0
    if buf.shape[0] != n:
        raise ValueError(f"{name} has length {buf.shape[0]}, expected {n}")
    return 0


cdef inline floating* _ptr(floating[::1] a) noexcept:
    if a is None or a.shape[0] == 0:
        return NULL
    return &a[0]


def optim_sgd_step(floating[::1] p, const floating[::1] g, floating[::1] buf, double lr,
              double momentum, double dampening, double weight_decay, bint nesterov, long t,
              int n_threads=1):
    """In place torch.optim.SGD step; p, buf: INOUT (n,); g: IN (n,); buf may be None
    when momentum == 0."""
    cdef Py_ssize_t n = p.shape[0]
    if g.shape[0] != n:
        raise ValueError(f"g has length {g.shape[0]}, expected {n}")
    _check_len("buf", buf, n, momentum != 0.0)
    if n == 0:
        return
    cdef floating* bp = _ptr(buf) if momentum != 0.0 else NULL
    with nogil:
        sgd_step(&p[0], &g[0], bp, n, lr, momentum, dampening, weight_decay, nesterov, t,
                 n_threads)


def optim_adam_step(floating[::1] p, const floating[::1] g, floating[::1] m, floating[::1] v,
               floating[::1] vmax, double lr, double beta1, double beta2, double eps,
               double weight_decay, bint decoupled, long t, int n_threads=1):
    """In place torch.optim.Adam / AdamW (decoupled) step; p, m, v, vmax: INOUT (n,);
    g: IN (n,); vmax None means amsgrad=False."""
    cdef Py_ssize_t n = p.shape[0]
    if g.shape[0] != n:
        raise ValueError(f"g has length {g.shape[0]}, expected {n}")
    _check_len("m", m, n, True)
    _check_len("v", v, n, True)
    _check_len("vmax", vmax, n, False)
    if n == 0:
        return
    cdef floating* vp = _ptr(vmax)
    with nogil:
        adam_step(&p[0], &g[0], &m[0], &v[0], vp, n, lr, beta1, beta2, eps, weight_decay,
                  decoupled, t, n_threads)


def optim_rmsprop_step(floating[::1] p, const floating[::1] g, floating[::1] square_avg,
                  floating[::1] momentum_buf, floating[::1] grad_avg, double lr,
                  double alpha, double eps, double weight_decay, double momentum,
                  int n_threads=1):
    """In place torch.optim.RMSprop step; p, square_avg, momentum_buf, grad_avg: INOUT
    (n,); g: IN (n,); momentum_buf may be None when momentum == 0; grad_avg None means
    centered=False."""
    cdef Py_ssize_t n = p.shape[0]
    if g.shape[0] != n:
        raise ValueError(f"g has length {g.shape[0]}, expected {n}")
    _check_len("square_avg", square_avg, n, True)
    _check_len("momentum_buf", momentum_buf, n, momentum > 0.0)
    _check_len("grad_avg", grad_avg, n, False)
    if n == 0:
        return
    cdef floating* mp = _ptr(momentum_buf) if momentum > 0.0 else NULL
    cdef floating* ap = _ptr(grad_avg)
    with nogil:
        rmsprop_step(&p[0], &g[0], &square_avg[0], mp, ap, n, lr, alpha, eps, weight_decay,
                     momentum, n_threads)


def optim_adagrad_step(floating[::1] p, const floating[::1] g, floating[::1] state_sum,
                  double lr, double lr_decay, double weight_decay, double eps, long t,
                  int n_threads=1):
    """In place torch.optim.Adagrad step; p, state_sum: INOUT (n,); g: IN (n,)."""
    cdef Py_ssize_t n = p.shape[0]
    if g.shape[0] != n:
        raise ValueError(f"g has length {g.shape[0]}, expected {n}")
    _check_len("state_sum", state_sum, n, True)
    if n == 0:
        return
    with nogil:
        adagrad_step(&p[0], &g[0], &state_sum[0], n, lr, lr_decay, weight_decay, eps, t,
                     n_threads)


# ------------------------------------------------------------------ the fused loop's record
cdef enum:
    OPT_SGD = 0
    OPT_ADAM = 1
    OPT_RMSPROP = 2
    OPT_ADAGRAD = 3

OPTIMIZER_CODES = {"sgd": OPT_SGD, "adam": OPT_ADAM, "rmsprop": OPT_RMSPROP,
                   "adagrad": OPT_ADAGRAD}
# The hyperparameters each kernel reads, by the names of Optimizer.fused_spec().
OPT_FIELDS = {OPT_SGD: ("momentum", "dampening", "weight_decay", "nesterov"),
              OPT_ADAM: ("beta1", "beta2", "eps", "weight_decay", "decoupled"),
              OPT_RMSPROP: ("alpha", "eps", "weight_decay", "momentum"),
              OPT_ADAGRAD: ("lr_decay", "weight_decay", "eps")}


# One optimizer's fused update: its kind, hyperparameters, step count and state.
cdef struct OptRecord:
    int kind
    double lr, momentum, dampening, weight_decay, beta1, beta2, eps, alpha, lr_decay
    bint nesterov, decoupled
    long t
    void* s0
    void* s1
    void* s2


cdef object opt_record_fill(OptRecord* r, dict spec, Py_ssize_t n, dtype):
    """Fill r from an Optimizer's fused_spec() (kind, lr, t, states and the kind's
    OPT_FIELDS); returns the state arrays (the caller keeps them alive).  The state a
    kernel dereferences must be there: checked against what it reads."""
    memset(r, 0, sizeof(OptRecord))
    if spec.get("kind") not in OPTIMIZER_CODES:
        raise ValueError(f"unknown optimizer kind {spec.get('kind')!r}")
    r.kind = OPTIMIZER_CODES[spec["kind"]]
    r.lr = spec["lr"]
    r.t = spec.get("t", 0)
    for name in OPT_FIELDS[r.kind]:
        if name not in spec:
            raise ValueError(f"optimizer {spec['kind']!r} needs {name!r} in its spec")
    r.momentum = spec.get("momentum", 0.0)
    r.dampening = spec.get("dampening", 0.0)
    r.weight_decay = spec.get("weight_decay", 0.0)
    r.nesterov = spec.get("nesterov", False)
    r.decoupled = spec.get("decoupled", False)
    r.beta1 = spec.get("beta1", 0.0)
    r.beta2 = spec.get("beta2", 0.0)
    r.eps = spec.get("eps", 0.0)
    r.alpha = spec.get("alpha", 0.0)
    r.lr_decay = spec.get("lr_decay", 0.0)
    states = tuple(spec.get("states", (None, None, None)))
    if len(states) != 3:
        raise ValueError("optimizer states must be a 3-tuple (None where unused)")
    reads = {OPT_SGD: (r.momentum != 0, False, False), OPT_ADAM: (True, True, False),
             OPT_RMSPROP: (True, r.momentum > 0, False), OPT_ADAGRAD: (True, False, False)}
    for i, st in enumerate(states):
        if reads[r.kind][i] and st is None:
            raise ValueError(f"optimizer {spec['kind']!r} with these options needs state {i}")
        if st is not None and (st.dtype != dtype or st.shape != (n,)
                               or not st.flags.c_contiguous):
            raise ValueError(f"optimizer state {i} must be a flat buffer like the parameters")
    r.s0 = _array_ptr(states[0], dtype) if states[0] is not None else NULL
    r.s1 = _array_ptr(states[1], dtype) if states[1] is not None else NULL
    r.s2 = _array_ptr(states[2], dtype) if states[2] is not None else NULL
    return [st for st in states if st is not None]


cdef void opt_record_step(OptRecord* r, floating* p, const floating* g, Py_ssize_t n,
                          int nt) noexcept nogil:
    """One update of p (n,) from g by r's kernel; r.t is the step count after this step."""
    if r.kind == OPT_SGD:
        sgd_step(p, g, <floating*> r.s0, n, r.lr, r.momentum, r.dampening, r.weight_decay,
                 r.nesterov, r.t, nt)
    elif r.kind == OPT_ADAM:
        adam_step(p, g, <floating*> r.s0, <floating*> r.s1, <floating*> r.s2, n, r.lr,
                  r.beta1, r.beta2, r.eps, r.weight_decay, r.decoupled, r.t, nt)
    elif r.kind == OPT_RMSPROP:
        rmsprop_step(p, g, <floating*> r.s0, <floating*> r.s1, <floating*> r.s2, n, r.lr,
                     r.alpha, r.eps, r.weight_decay, r.momentum, nt)
    else:
        adagrad_step(p, g, <floating*> r.s0, n, r.lr, r.lr_decay, r.weight_decay, r.eps,
                     r.t, nt)
