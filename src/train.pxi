# train.pxi -- the fused training loop: whole chunks of mini-batches in one nogil call.
#
# One step, batch B (rows of the last batch may be fewer), over the model's layer table:
#   gather    xb = X[order[start:start+B]]            (targets/labels likewise), or, when
#             the input is mostly zeros (sparse.pxi), the rows' non-zeros compressed
#   forward   net_forward: every layer in order, training mode (layers.pxi)
#   loss      L, dOut = loss(out, y)       (softmax+CE / sigmoid+BCE fused on the logits)
#   backward  net_backward: every layer in reverse; parameter gradients overwritten
#   regularise dW += l2 W + l1 sign(W)     (Dense weights only: not biases, not gamma/beta)
#   norms     each parameterised layer's gradient norm, then clipping by value and by the
#             global L2 norm (both norms are recorded before clipping)
#   update    one optimizer kernel over the flat parameter buffer (optim.pxi's record)
# Everything runs without the GIL; nothing is allocated inside a step.

cdef enum:
    N_STATS = 5          # loss_sum (row-weighted), rows, correct, grad_norm_sum, steps
    N_PHASES = 6         # gather, forward, loss, backward, regularise+clip+norm, update

PHASE_NAMES = ("gather", "forward", "loss", "backward", "clip_norm", "update")


cdef struct TrainState:
    Net* net
    const void* X                    # (n, IN) samples
    Py_ssize_t n_samples
    const void* Yf                   # float targets (n, OUT) or NULL
    const int64_t* Yi                # int64 labels (n,) or NULL
    const int64_t* order             # sample order of this epoch (n,)
    Py_ssize_t batch
    void* xb                         # (batch, IN) gathered rows
    void* yb                         # (batch, OUT) their targets
    int64_t* lb                      # (batch,) their labels
    int loss
    OptRecord opt
    double clip_norm, clip_value, l1, l2
    int n_threads
    bint timing                      # accumulate wall seconds per phase into phase_s
    double phase_s[N_PHASES]
    int n_norms                      # parameterised layers
    double layer_sq[MAX_LAYERS]      # scratch: this step's squared gradient norm per layer
    double layer_norm_s[MAX_LAYERS]  # sum over steps of each layer's gradient norm


cdef struct _GatherArgs:
    const int64_t* order
    void* dst
    Py_ssize_t cols


cdef void _gather_row(const void* ctx, const floating* src, Py_ssize_t i) noexcept nogil:
    cdef const _GatherArgs* a = <const _GatherArgs*> ctx
    memcpy(<floating*> a.dst + i * a.cols, src + a.order[i] * a.cols, a.cols * sizeof(floating))


cdef inline void _gather_rows(const floating* src, const int64_t* order, floating* dst,
                              Py_ssize_t rows, Py_ssize_t cols, int n_threads) noexcept nogil:
    cdef Py_ssize_t i, j
    cdef const floating* s
    cdef _GatherArgs a
    if cols <= 16:                    # narrow rows (W2: 2 inputs): a libc call per row costs more
        for i in range(rows):
            s = src + order[i] * cols
            for j in range(cols):
                dst[i * cols + j] = s[j]
        return
    a.order, a.dst, a.cols = order, dst, cols
    for_chunks(_gather_row[floating], &a, src, rows, _threads_for(rows * cols, n_threads))


cdef inline void _prefetch_rows(const char* src, const int64_t* order, Py_ssize_t rows,
                                Py_ssize_t row_bytes) noexcept nogil:
    """Prefetch hints for every cache line of rows order[0..rows) of src (a hint: no
    fault, no effect on results).  Issued for the next batch before the current one's
    forward pass, so the shuffled rows are in cache when it is gathered: W2's gather
    went 3.4 -> 0.3 ms per epoch; W1's (a 400 KB copy per step, bandwidth-bound) did
    not change."""
    cdef Py_ssize_t i, off
    cdef const char* r
    for i in range(rows):
        r = src + order[i] * row_bytes
        for off in range(0, row_bytes, 64):
            cgrad_prefetch(r + off)


cdef Py_ssize_t _count_correct(const floating* out, const int64_t* labels,
                               const floating* target, Py_ssize_t rows,
                               Py_ssize_t cols) noexcept nogil:
    """Rows whose argmax (or sign, for one output) matches the label/target."""
    cdef Py_ssize_t i, j, best, truth, correct = 0
    for i in range(rows):
        if cols == 1:
            if target != NULL:
                correct += (out[i] > 0) == (target[i] > 0.5)
            continue
        best = 0
        for j in range(1, cols):
            if out[i * cols + j] > out[i * cols + best]:
                best = j
        if labels != NULL:
            truth = labels[i]
        else:
            truth = 0
            for j in range(1, cols):
                if target[i * cols + j] > target[i * cols + truth]:
                    truth = j
        correct += best == truth
    return correct


cdef void _gather_batch(TrainState* s, const floating* X, Py_ssize_t start,
                       Py_ssize_t rows) noexcept nogil:
    """The batch's rows (compressed when the sparse path takes them, else into xb), their
    targets and labels, in this epoch's order; prefetch hints for the next batch's rows."""
    cdef Net* n = s.net
    cdef const floating* Yf = <const floating*> s.Yf
    cdef Py_ssize_t i, nxt
    cdef int nt = s.n_threads
    if not net_compress_input(n, X, n.n_in, s.order + start, rows, nt):
        _gather_rows(X, s.order + start, <floating*> s.xb, rows, n.n_in, nt)
    if Yf != NULL:
        _gather_rows(Yf, s.order + start, <floating*> s.yb, rows, n.n_out, nt)
    if s.Yi != NULL:
        for i in range(rows):
            s.lb[i] = s.Yi[s.order[start + i]]
    if start + rows < s.n_samples:   # the next batch's rows, fetched while this one runs
        nxt = min(s.batch, s.n_samples - start - rows)
        _prefetch_rows(<const char*> X, s.order + start + rows, nxt, n.n_in * sizeof(floating))
        if Yf != NULL:
            _prefetch_rows(<const char*> Yf, s.order + start + rows, nxt,
                           n.n_out * sizeof(floating))


cdef double _regularise_clip(TrainState* s, floating* params, floating* grads) noexcept nogil:
    """L1/L2 penalties on the Dense weights (not biases, not gamma/beta), the per-layer
    gradient norms (recorded before clipping), clipping; returns the global norm before
    clipping."""
    cdef Net* n = s.net
    cdef Layer* L
    cdef int l
    cdef int nt = s.n_threads
    cdef Py_ssize_t nw
    if s.l2 > 0 or s.l1 > 0:
        for l in range(n.n_layers):
            L = &n.layers[l]
            if L.kind != LAYER_DENSE:
                continue
            nw = L.n_in * L.n_out
            if s.l2 > 0:
                l2_penalty_grad(params + L.p_off, grads + L.p_off, nw, s.l2, nt)
            if s.l1 > 0:
                l1_penalty_grad(params + L.p_off, grads + L.p_off, nw, s.l1, nt)
    net_grad_sq_norms(n, <const floating*> grads, s.layer_sq, nt)
    for l in range(s.n_norms):
        s.layer_norm_s[l] += sqrt(s.layer_sq[l])
    if s.clip_value > 0:
        clip_by_value(grads, n.n_params, s.clip_value, nt)
    if s.clip_norm > 0:
        return clip_by_global_norm(grads, n.n_params, s.clip_norm, nt)
    return global_norm(grads, n.n_params, nt)


cdef void _run_batches(TrainState* s, floating* params, Py_ssize_t first_batch,
                       Py_ssize_t n_batches, double* stats) noexcept nogil:
    cdef Net* n = s.net
    cdef floating* grads = <floating*> n.grads
    cdef floating* dout = <floating*> n.d0
    cdef const floating* out
    cdef Py_ssize_t bi, start, rows
    cdef int nt = s.n_threads
    cdef double loss, t0 = 0.0
    for bi in range(first_batch, first_batch + n_batches):
        start = bi * s.batch
        rows = min(s.batch, s.n_samples - start)
        if rows <= 0:
            break
        if s.timing:
            t0 = _phase_mark(s, -1, 0.0)
        _gather_batch(s, <const floating*> s.X, start, rows)
        if s.timing:
            t0 = _phase_mark(s, 0, t0)
        out = net_forward(n, <const floating*> s.xb, rows, nt)
        if s.timing:
            t0 = _phase_mark(s, 1, t0)
        loss = loss_forward_backward(s.loss, out, <floating*> s.yb if s.Yf != NULL else NULL,
                                     s.lb if s.Yi != NULL else NULL, dout, rows, n.n_out, nt)
        stats[0] += loss * rows
        stats[1] += rows
        stats[2] += _count_correct(out, s.lb if s.Yi != NULL else NULL,
                                   <floating*> s.yb if s.Yf != NULL else NULL, rows, n.n_out)
        if s.timing:
            t0 = _phase_mark(s, 2, t0)
        net_backward(n, dout, rows, False, False, nt)   # gradients overwritten: no zeroing
        if s.timing:
            t0 = _phase_mark(s, 3, t0)
        stats[3] += _regularise_clip(s, params, grads)
        stats[4] += 1
        s.opt.t += 1
        if s.timing:
            t0 = _phase_mark(s, 4, t0)
        opt_record_step(&s.opt, params, grads, n.n_params, nt)
        if s.timing:
            _phase_mark(s, 5, t0)


cdef inline double _phase_mark(TrainState* s, int phase, double since) noexcept nogil:
    """Now; adds now - since to phase `phase` (none when phase < 0)."""
    cdef double now = cgrad_now()
    if phase >= 0:
        s.phase_s[phase] += now - since
    return now


cdef void _set_fpmode_all(unsigned int* modes, bint set_ftz, int n_threads) noexcept nogil:
    """Per OpenMP thread: save MXCSR into modes[tid] and set FTZ/DAZ (set_ftz), or restore
    modes[tid] (not set_ftz).  modes holds 2*n_threads slots: the second half flags the
    saved ones, so a thread that runs several iterations (OpenMP granted fewer threads)
    saves its original mode once.  Indexed by thread id, not by iteration."""
    cdef int i, tid
    for i in prange(n_threads, schedule="static", chunksize=1, num_threads=n_threads):
        tid = omp_get_thread_num()
        if set_ftz:
            if not modes[n_threads + tid]:
                modes[tid] = cgrad_get_fpmode()
                modes[n_threads + tid] = 1
            cgrad_set_fpmode(modes[tid] | CGRAD_FTZ_DAZ_BITS)
        elif modes[n_threads + tid]:
            cgrad_set_fpmode(modes[tid])


cdef class Trainer:
    """Workspace and state of one fit: built once, then `run` executes chunks of batches
    of (X, targets) through `network`'s layer table.  All arrays are kept referenced here;
    the struct holds their raw pointers.

    network: the model's Network; X: (n, IN) C-contiguous, the model dtype; Yf: (n, OUT)
    float targets or None; Yi: (n,) int64 labels or None; batch: rows per step; loss: a
    loss code; opt: Optimizer.fused_spec(); reg: {clip_norm, clip_value, l1, l2} (None or
    0: off); ftz: flush denormals in the loop; sparse: fit's sparse mode."""
    cdef TrainState s
    cdef object _keep
    cdef Network network
    cdef object dtype
    cdef bint is_f32
    cdef public bint ftz

    def __init__(self, Network network, X, *, Yf=None, Yi=None, Py_ssize_t batch, int loss,
                 dict opt, dict reg, bint ftz=True, sparse="auto"):
        import numpy as np
        cdef Net* n = network.net()
        dtype = network.dtype
        if batch < 1:
            raise ValueError(f"batch must be >= 1, got {batch}")
        sparse = sparse_mode(sparse)
        if not 0 <= loss < N_LOSSES:
            raise ValueError(f"unknown loss code {loss}")
        self.network = network
        self.dtype = dtype
        self.is_f32 = dtype == np.float32
        self.ftz = ftz
        memset(&self.s, 0, sizeof(TrainState))
        self.s.net = n
        keep = [X]
        if X.dtype != dtype or X.ndim != 2 or X.shape[1] != n.n_in or not X.flags.c_contiguous:
            raise ValueError("X must be C-contiguous (n, IN) of the model dtype")
        self.s.X = _array_ptr(X, dtype)
        self.s.n_samples = X.shape[0]
        if Yf is not None:
            if Yf.dtype != dtype or Yf.shape != (X.shape[0], n.n_out) or not Yf.flags.c_contiguous:
                raise ValueError("float targets must be C-contiguous (n, OUT) of the model dtype")
            self.s.Yf = _array_ptr(Yf, dtype)
            keep.append(Yf)
        if Yi is not None:
            if Yi.dtype != np.int64 or Yi.shape != (X.shape[0],) or not Yi.flags.c_contiguous:
                raise ValueError("labels must be C-contiguous int64 (n,)")
            if Yi.size and (Yi.min() < 0 or Yi.max() >= n.n_out):
                raise ValueError(f"labels must be in [0, {n.n_out}), got [{Yi.min()}, {Yi.max()}]")
            self.s.Yi = <const int64_t*> _array_ptr(Yi, Yi.dtype)
            keep.append(Yi)
        if Yf is None and Yi is None:
            raise ValueError("need float targets (Yf) or labels (Yi)")
        self.s.loss = loss
        order = np.arange(X.shape[0], dtype=np.int64)
        keep.append(order)
        self.s.order = <const int64_t*> _array_ptr(order, order.dtype)
        self.s.batch = batch
        # the batch rows; the dense batch xb is never used when every batch is compressed
        ws = [aligned_empty((1 if sparse is True else batch, n.n_in), dtype),
              aligned_empty((batch, n.n_out), dtype), aligned_empty(batch, np.int64)]
        self.s.xb, self.s.yb = _array_ptr(ws[0], dtype), _array_ptr(ws[1], dtype)
        self.s.lb = <int64_t*> _array_ptr(ws[2], ws[2].dtype)
        keep.extend(ws)
        keep.extend(opt_record_fill(&self.s.opt, opt, n.n_params, dtype))
        self.s.clip_norm = reg.get("clip_norm") or 0.0
        self.s.clip_value = reg.get("clip_value") or 0.0
        self.s.l1 = reg.get("l1") or 0.0
        self.s.l2 = reg.get("l2") or 0.0
        self.s.n_norms = len(network.param_layers)
        network.ensure_capacity(batch)
        network.set_sparse(sparse, X, batch)
        self._keep = keep

    def set_order(self, order):
        """Use `order` (int64 permutation of the samples) from now on."""
        import numpy as np
        if order.dtype != np.int64 or order.shape != (self.s.n_samples,) or not order.flags.c_contiguous:
            raise ValueError("order must be a C-contiguous int64 array of one index per sample")
        if order.size and (order.min() < 0 or order.max() >= self.s.n_samples):
            raise ValueError("order holds out-of-range sample indices")
        self._keep.append(order)
        self.s.order = <const int64_t*> _array_ptr(order, order.dtype)

    @property
    def t(self):
        return self.s.opt.t

    @property
    def timing(self):
        """When True, run() adds the wall seconds of each step phase to phase_seconds
        (two clock reads per phase and step: off by default, for profiling)."""
        return bool(self.s.timing)

    @timing.setter
    def timing(self, bint value):
        self.s.timing = value

    @property
    def phase_seconds(self):
        """{phase: seconds} accumulated while timing was on (PHASE_NAMES order)."""
        return {PHASE_NAMES[i]: self.s.phase_s[i] for i in range(N_PHASES)}

    @property
    def lr(self):
        return self.s.opt.lr

    @lr.setter
    def lr(self, double value):
        self.s.opt.lr = value

    def run(self, Py_ssize_t first_batch, Py_ssize_t n_batches, int n_threads):
        """Run batches [first_batch, first_batch + n_batches) of this epoch in training
        mode, GIL released.  Returns ((loss_sum, rows, correct, grad_norm_sum, steps),
        [per parameterised layer: sum over the steps of its gradient norm])."""
        cdef double stats[N_STATS]
        cdef unsigned int* modes = NULL
        cdef int i
        cdef Net* n = self.s.net
        cdef bint ftz = self.ftz and CGRAD_FTZ_DAZ_BITS != 0
        if first_batch < 0 or n_batches < 0:
            raise ValueError(f"first_batch and n_batches must be >= 0, got {first_batch}, {n_batches}")
        if n_batches and first_batch >= (self.s.n_samples + self.s.batch - 1) // self.s.batch:
            raise ValueError(f"first_batch {first_batch} is past the last batch of the epoch")
        for i in range(N_STATS):
            stats[i] = 0.0
        for i in range(self.s.n_norms):
            self.s.layer_norm_s[i] = 0.0
        self.s.n_threads = max(1, n_threads)
        self.network.ensure_capacity(self.s.batch)     # validation may have grown it: no-op
        self.network.invalidate()
        n.training = True
        n.sparse = True
        if ftz:
            modes = <unsigned int*> calloc(2 * self.s.n_threads, sizeof(unsigned int))
            if modes == NULL:
                raise MemoryError()
        with nogil:
            if ftz:
                _set_fpmode_all(modes, True, self.s.n_threads)
            if self.is_f32:
                _run_batches(&self.s, <float*> n.params, first_batch, n_batches, stats)
            else:
                _run_batches(&self.s, <double*> n.params, first_batch, n_batches, stats)
            if ftz:
                _set_fpmode_all(modes, False, self.s.n_threads)
        free(modes)
        n.sparse = False
        return (tuple(stats[i] for i in range(N_STATS)),
                [self.s.layer_norm_s[i] for i in range(self.s.n_norms)])
