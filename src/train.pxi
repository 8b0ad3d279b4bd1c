# train.pxi -- the fused training loop: whole chunks of mini-batches in one nogil call.
#
# One step, batch B (rows of the last batch may be fewer), over the model's layer table:
#   gather    xb = X[order[start:start+B]]            (targets/labels likewise), or, when
#             the input is mostly zeros (sparse.pxi), the rows' non-zeros compressed;
#             X may have the other float dtype (float64 X, float32 network): each value is
#             converted here as X.astype would convert it, so no converted copy of X is made
#   forward   net_forward: every layer in order, training mode (layers.pxi)
#   loss      L, dOut = loss(out, y)       (softmax+CE / sigmoid+BCE fused on the logits)
#   backward  net_backward: every layer in reverse; parameter gradients overwritten
#   regularise dW += l2 W + l1 sign(W)     (Dense weights only: not biases, not gamma/beta)
#   norms     each parameterised layer's gradient norm, then clipping by value and by the
#             global L2 norm (both norms are recorded before clipping)
#   update    one optimizer kernel over the flat parameter buffer (optim.pxi's record)
# Everything runs without the GIL; nothing is allocated inside a step.

cdef enum:
    NONFINITE_RAISE = 0  # on_nonfinite policies: stop before the update (fit raises)
    NONFINITE_STOP = 1   # ... (fit ends training there)
    NONFINITE_SKIP = 2   # skip the update, count the step, go on
    STOP_NONE = 0        # why a run() returned early
    STOP_INTERRUPT = 1
    STOP_NONFINITE = 2
    NORM_STRIDE = 16     # steps between two samples of the per-layer gradient norms
    N_STATS = 5          # loss_sum (row-weighted), rows, correct, grad_norm_sum, steps
    N_PHASES = 6         # gather, forward, loss, backward, regularise+clip+norm, update

PHASE_NAMES = ("gather", "forward", "loss", "backward", "clip_norm", "update")
NONFINITE_POLICIES = {"raise": NONFINITE_RAISE, "stop": NONFINITE_STOP,
                      "skip_batch": NONFINITE_SKIP}


cdef inline bint _finite(double v) noexcept nogil:
    return not (isnan(v) or isinf(v))


cdef struct TrainState:
    Net* net
    const void* X                    # (n, IN) samples
    bint x_f32                       # X is float32 (else float64), whatever the network's
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
    double layer_norm_s[MAX_LAYERS]  # sum over the sampled steps of each layer's norm
    Py_ssize_t norm_steps            # steps sampled
    int policy                       # NONFINITE_*
    bint grads_ok                    # no NaN/inf gradient seen before clipping by value
    Py_ssize_t skipped               # steps with a NaN/inf loss or gradient
    int stop_reason                  # STOP_*
    Py_ssize_t stop_batch            # the batch a run() stopped at
    bint stop_loss_finite
    bint params_finite               # the weights at the stop (an update can overflow)
    double penalty_rows              # sum over the steps of run() of rows * L1/L2 penalty


cdef struct _GatherArgs:
    const int64_t* order
    void* dst
    Py_ssize_t cols
    bint convert                     # dst has the other dtype than the source rows


cdef inline void _convert_row(floating* dst, const xfloat* src, Py_ssize_t n) noexcept nogil:
    """dst = src converted as NumPy's astype converts (float64 -> float32: the FP mode's
    rounding, nearest even; under the fused loop's flush-to-zero a value rounding to a
    float32 denormal gives a zero of its sign, which denormals-are-zero makes of the
    copy's denormal in every kernel, so the results are the copy's)."""
    cdef Py_ssize_t j
    for j in range(n):
        dst[j] = <floating> src[j]


cdef void _gather_row(const void* ctx, const xfloat* src, Py_ssize_t i) noexcept nogil:
    cdef const _GatherArgs* a = <const _GatherArgs*> ctx
    cdef const xfloat* s = src + a.order[i] * a.cols
    if not a.convert:
        memcpy(<xfloat*> a.dst + i * a.cols, s, a.cols * sizeof(xfloat))
    elif xfloat is double:
        _convert_row(<float*> a.dst + i * a.cols, s, a.cols)
    else:
        _convert_row(<double*> a.dst + i * a.cols, s, a.cols)


cdef inline void _gather_rows(const xfloat* src, const int64_t* order, floating* dst,
                              Py_ssize_t rows, Py_ssize_t cols, int n_threads) noexcept nogil:
    """dst = src[order[:rows]] in dst's dtype."""
    cdef Py_ssize_t i
    cdef _GatherArgs a
    if cols <= 16:                    # narrow rows (W2: 2 inputs): a libc call per row costs more
        for i in range(rows):
            _convert_row(dst + i * cols, src + order[i] * cols, cols)
        return
    a.order, a.dst, a.cols = order, dst, cols
    a.convert = sizeof(xfloat) != sizeof(floating)
    for_chunks(_gather_row[xfloat], &a, src, rows, _threads_for(rows * cols, n_threads))


cdef inline void _prefetch_rows(const char* src, const int64_t* order, Py_ssize_t rows,
                                Py_ssize_t row_bytes) noexcept nogil:
    """Prefetch hints for every cache line of rows order[0..rows) of src (a hint: no
    fault, no effect on results).  Issued for the next batch before the current one's
    forward pass: a shuffled batch's rows are scattered, so the hardware prefetchers
    cannot fetch them ahead of the gather, and the forward pass hides the misses."""
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


cdef void _gather_inputs(TrainState* s, const xfloat* X, floating* xb, Py_ssize_t start,
                         Py_ssize_t rows) noexcept nogil:
    """The batch's rows of X, compressed when the sparse path takes them, else into xb,
    in the network's dtype; prefetch hints for the next batch's rows."""
    cdef Net* n = s.net
    cdef const int64_t* order = s.order + start
    if not net_compress_input(n, <floating*> n.layers[0].sp.val, X, n.n_in, order, rows,
                              s.n_threads):
        _gather_rows(X, order, xb, rows, n.n_in, s.n_threads)
    if start + rows < s.n_samples:   # the next batch's rows, fetched while this one runs
        _prefetch_rows(<const char*> X, order + rows, min(s.batch, s.n_samples - start - rows),
                       n.n_in * sizeof(xfloat))


cdef void _gather_batch(TrainState* s, floating* xb, Py_ssize_t start,
                        Py_ssize_t rows) noexcept nogil:
    """The batch's inputs (_gather_inputs, into xb unless compressed), their targets and
    labels, in this epoch's order; prefetch hints for the next batch's targets."""
    cdef const floating* Yf = <const floating*> s.Yf
    cdef Py_ssize_t i
    if s.x_f32:
        _gather_inputs(s, <const float*> s.X, xb, start, rows)
    else:
        _gather_inputs(s, <const double*> s.X, xb, start, rows)
    if Yf != NULL:
        _gather_rows(Yf, s.order + start, <floating*> s.yb, rows, s.net.n_out, s.n_threads)
    if s.Yi != NULL:
        for i in range(rows):
            s.lb[i] = s.Yi[s.order[start + i]]
    if Yf != NULL and start + rows < s.n_samples:
        _prefetch_rows(<const char*> Yf, s.order + start + rows,
                       min(s.batch, s.n_samples - start - rows), s.net.n_out * sizeof(floating))


cdef double _penalties(TrainState* s, floating* params, floating* grads) noexcept nogil:
    """L1/L2 penalties on the Dense weights (not biases, not gamma/beta): their gradients
    added to grads; returns their value."""
    cdef Net* n = s.net
    cdef Layer* L
    cdef int l
    cdef double value = 0.0
    cdef Py_ssize_t nw
    if s.l2 <= 0 and s.l1 <= 0:
        return 0.0
    for l in range(n.n_layers):
        L = &n.layers[l]
        if L.kind != LAYER_DENSE:
            continue
        nw = L.n_in * L.n_out
        if s.l2 > 0:
            value += l2_penalty_grad(params + L.p_off, grads + L.p_off, nw, s.l2, s.n_threads)
        if s.l1 > 0:
            value += l1_penalty_grad(params + L.p_off, grads + L.p_off, nw, s.l1, s.n_threads)
    return value


cdef double _regularise_clip(TrainState* s, floating* params, floating* grads,
                             bint sample, Py_ssize_t rows) noexcept nogil:
    """The penalties (their value times the batch's rows summed into penalty_rows), the
    per-layer gradient norms (before clipping; when `sample`), clipping; returns the
    global norm before clipping."""
    cdef Net* n = s.net
    cdef int l
    cdef int nt = s.n_threads
    s.penalty_rows += rows * _penalties(s, params, grads)
    s.grads_ok = True
    if sample or s.clip_value > 0:       # clipping by value would hide an inf: look first
        net_grad_sq_norms(n, <const floating*> grads, s.layer_sq, nt)
        for l in range(s.n_norms):
            if sample:
                s.layer_norm_s[l] += sqrt(s.layer_sq[l])
            s.grads_ok = s.grads_ok and _finite(s.layer_sq[l])
        s.norm_steps += sample
    if s.clip_value > 0:
        clip_by_value(grads, n.n_params, s.clip_value, nt)
    if s.clip_norm > 0:
        return clip_by_global_norm(grads, n.n_params, s.clip_norm, nt)
    return global_norm(grads, n.n_params, nt)


cdef double _batch_loss(TrainState* s, Py_ssize_t rows, const floating* out) noexcept nogil:
    """The gathered batch's mean loss from the network's output, and d loss / d output
    into the network's n.d0."""
    cdef Net* n = s.net
    return loss_forward_backward(s.loss, out, <floating*> s.yb if s.Yf != NULL else NULL,
                                 s.lb if s.Yi != NULL else NULL, <floating*> n.d0, rows,
                                 n.n_out, s.n_threads)


cdef void _count(TrainState* s, Py_ssize_t rows, const floating* out, double loss,
                 double norm, double* stats) noexcept nogil:
    """A finished step into stats: loss (row-weighted), rows, correct, norm, steps."""
    stats[0] += loss * rows
    stats[1] += rows
    stats[2] += _count_correct(out, s.lb if s.Yi != NULL else NULL,
                               <floating*> s.yb if s.Yf != NULL else NULL, rows, s.net.n_out)
    stats[3] += norm
    stats[4] += 1


cdef void _stop_nonfinite(TrainState* s, floating* params, floating* grads, Py_ssize_t bi,
                          double loss) noexcept nogil:
    """Record where a NaN/inf appeared: the batch, the loss, each layer's gradient (before
    clipping by value; clipping by norm keeps NaN/inf non-finite) and the weights."""
    s.stop_reason = STOP_NONFINITE
    s.stop_batch = bi
    s.stop_loss_finite = _finite(loss)
    if s.clip_value <= 0:
        net_grad_sq_norms(s.net, <const floating*> grads, s.layer_sq, s.n_threads)
    s.params_finite = all_finite_ptr(<const floating*> params, s.net.n_params, s.n_threads)


cdef double _objective(TrainState* s, floating* params, double* stats) noexcept nogil:
    """The mean loss of all samples as one batch plus the penalties, and its gradient in
    the flat gradient buffer (training mode; no clipping, no update): the objective of
    the full-batch second-order solvers."""
    cdef Net* n = s.net
    cdef const floating* out
    cdef double loss
    _gather_batch(s, <floating*> s.xb, 0, s.n_samples)
    out = net_forward(n, <const floating*> s.xb, s.n_samples, s.n_threads)
    loss = _batch_loss(s, s.n_samples, out)
    _count(s, s.n_samples, out, loss, 0.0, stats)
    net_backward(n, <floating*> n.d0, s.n_samples, False, False, s.n_threads)
    return loss + _penalties(s, params, <floating*> n.grads)


cdef void _run_batches(TrainState* s, floating* params, Py_ssize_t first_batch,
                       Py_ssize_t n_batches, double* stats) noexcept nogil:
    """Steps over batches [first_batch, first_batch + n_batches) of the epoch's order;
    returns early (s.stop_reason) on Ctrl-C between steps, or on a NaN/inf loss or
    gradient (unless the policy skips the step): never with a half-done update."""
    cdef Net* n = s.net
    cdef floating* grads = <floating*> n.grads
    cdef const floating* out
    cdef Py_ssize_t bi, start, rows
    cdef int nt = s.n_threads
    cdef double loss, norm, t0 = 0.0
    for bi in range(first_batch, first_batch + n_batches):
        start = bi * s.batch
        rows = min(s.batch, s.n_samples - start)
        if rows <= 0:
            break
        if cgrad_sigint_pending():
            s.stop_reason = STOP_INTERRUPT
            s.stop_batch = bi
            break
        if s.timing:
            t0 = _phase_mark(s, -1, 0.0)
        _gather_batch(s, <floating*> s.xb, start, rows)
        if s.timing:
            t0 = _phase_mark(s, 0, t0)
        out = net_forward(n, <const floating*> s.xb, rows, nt)
        if s.timing:
            t0 = _phase_mark(s, 1, t0)
        loss = _batch_loss(s, rows, out)
        if s.timing:
            t0 = _phase_mark(s, 2, t0)
        net_backward(n, <floating*> n.d0, rows, False, False, nt)   # overwrites: no zeroing
        if s.timing:
            t0 = _phase_mark(s, 3, t0)
        # the per-layer norms are one more pass over the gradients: every step when
        # profiling, else every NORM_STRIDE-th step of a chunk (its first included)
        norm = _regularise_clip(s, params, grads,
                                s.timing or (bi - first_batch) % NORM_STRIDE == 0, rows)
        if not (_finite(loss) and _finite(norm) and s.grads_ok):
            s.skipped += 1
            if s.policy == NONFINITE_SKIP:
                continue
            _stop_nonfinite(s, params, grads, bi, loss)
            break
        _count(s, rows, out, loss, norm, stats)
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

    network: the model's Network; X: (n, IN) C-contiguous float32 or float64, read only
    (the other dtype than the model's is converted batch by batch as X.astype would: the
    caller checks that a float64 X fits float32, finite values only); Yf: (n, OUT)
    float targets or None; Yi: (n,) int64 labels or None; batch: rows per step; loss: a
    loss code; opt: Optimizer.fused_spec(); reg: {clip_norm, clip_value, l1, l2} (None or
    0: off); ftz: flush denormals in the loop; sparse: fit's sparse mode; on_nonfinite:
    what a step with a NaN/inf loss or gradient does ("raise"/"stop": run() returns
    before its update; "skip_batch": no update, counted, go on)."""
    cdef TrainState s
    cdef object _keep
    cdef Network network
    cdef int generation              # the network's sparse configuration this Trainer set
    cdef object dtype
    cdef bint is_f32
    cdef public bint ftz

    def __init__(self, Network network, X, *, Yf=None, Yi=None, Py_ssize_t batch, int loss,
                 dict opt, dict reg, bint ftz=True, sparse="auto", on_nonfinite="raise"):
        import numpy as np
        cdef Net* n = network.net()
        dtype = network.dtype
        if batch < 1:
            raise ValueError(f"batch must be >= 1, got {batch}")
        sparse = sparse_mode(sparse)
        if on_nonfinite not in NONFINITE_POLICIES:
            raise ValueError(f"on_nonfinite must be one of {sorted(NONFINITE_POLICIES)}, "
                             f"got {on_nonfinite!r}")
        if not 0 <= loss < N_LOSSES:
            raise ValueError(f"unknown loss code {loss}")
        self.network = network
        self.dtype = dtype
        self.is_f32 = dtype == np.float32
        self.ftz = ftz
        memset(&self.s, 0, sizeof(TrainState))
        self.s.net = n
        self.s.policy = NONFINITE_POLICIES[on_nonfinite]
        keep = [X]
        if (X.dtype not in (np.float32, np.float64) or X.ndim != 2 or X.shape[1] != n.n_in
                or not X.flags.c_contiguous):
            raise ValueError("X must be C-contiguous (n, IN) float32 or float64")
        self.s.X = _array_ptr(X, X.dtype, writable=False)
        self.s.x_f32 = X.dtype == np.float32
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
        network.ensure_capacity(batch)
        network.set_sparse(sparse, X, batch)
        self.generation = network.generation
        # the batch rows; the dense batch xb is never used when every batch is compressed
        ws = [aligned_empty((1 if network.input_always_compressed else batch, n.n_in), dtype),
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
    def penalty_sum(self):
        """Over the steps of the last run(): the sum of each batch's rows times its L1/L2
        penalty, taken at the weights the step started from (so (loss_sum + penalty_sum)
        / rows is the epoch's mean of the per-batch objectives)."""
        return self.s.penalty_rows

    @property
    def l1(self):
        """The L1 strength on the Dense weights from the next step on (settable: a
        per-batch penalty such as scikit-learn's alpha / rows-in-batch)."""
        return self.s.l1

    @l1.setter
    def l1(self, double value):
        if not value >= 0:
            raise ValueError(f"l1 must be >= 0, got {value}")
        self.s.l1 = value

    @property
    def l2(self):
        """The L2 strength on the Dense weights from the next step on (settable)."""
        return self.s.l2

    @l2.setter
    def l2(self, double value):
        if not value >= 0:
            raise ValueError(f"l2 must be >= 0, got {value}")
        self.s.l2 = value

    @property
    def lr(self):
        return self.s.opt.lr

    @lr.setter
    def lr(self, double value):
        self.s.opt.lr = value

    cdef int _enter(self, int n_threads, Py_ssize_t rows) except -1:
        """Before a compiled call over batches of `rows` rows: thread count (one when
        nothing that large would use two), workspace, training mode, sparse on."""
        if self.generation != self.network.generation:
            raise RuntimeError("a later Trainer reconfigured this network; build a new "
                               "Trainer")
        self.s.n_threads = net_step_threads(self.s.net, rows, max(1, n_threads))
        self.network.ensure_capacity(self.s.batch)     # validation may have grown it: no-op
        self.network.invalidate()
        self.s.net.training = True
        self.s.net.sparse = True
        return 0

    def run(self, Py_ssize_t first_batch, Py_ssize_t n_batches, int n_threads):
        """Run batches [first_batch, first_batch + n_batches) of this epoch in training
        mode, GIL released.  Returns a dict: stats (loss_sum, rows, correct,
        grad_norm_sum, steps) of the finished steps, layer_norms (per parameterised
        layer: the sum over the sampled steps of its gradient norm), sampled, skipped
        (steps with a NaN/inf), stop (None, "interrupt": Ctrl-C between steps, or
        "nonfinite"), and for "nonfinite": batch, loss_finite, bad_layers (model layer
        indices with a NaN/inf gradient), params_finite."""
        cdef double stats[N_STATS]
        cdef int i
        if first_batch < 0 or n_batches < 0:
            raise ValueError(f"first_batch and n_batches must be >= 0, got {first_batch}, {n_batches}")
        if n_batches and first_batch >= (self.s.n_samples + self.s.batch - 1) // self.s.batch:
            raise ValueError(f"first_batch {first_batch} is past the last batch of the epoch")
        for i in range(N_STATS):
            stats[i] = 0.0
        for i in range(self.s.n_norms):
            self.s.layer_norm_s[i] = 0.0
        self.s.norm_steps = self.s.skipped = 0
        self.s.stop_reason = STOP_NONE
        self.s.penalty_rows = 0.0
        self._enter(n_threads, self.s.batch)
        with Interruptible(False):
            self._compiled(first_batch, n_batches, stats)
        res = {"stats": tuple(stats[i] for i in range(N_STATS)),
               "layer_norms": [self.s.layer_norm_s[i] for i in range(self.s.n_norms)],
               "sampled": self.s.norm_steps, "skipped": self.s.skipped,
               "stop": {STOP_NONE: None, STOP_INTERRUPT: "interrupt",
                        STOP_NONFINITE: "nonfinite"}[self.s.stop_reason],
               "batch": self.s.stop_batch}
        if self.s.stop_reason == STOP_NONFINITE:
            res.update(loss_finite=bool(self.s.stop_loss_finite),
                       params_finite=bool(self.s.params_finite),
                       bad_layers=[self.network.param_layers[i] for i in range(self.s.n_norms)
                                   if not _finite(self.s.layer_sq[i])])
        return res

    def objective(self, int n_threads):
        """The full-batch objective: (mean loss over all samples + the L1/L2 penalties,
        the mean loss), its gradient left in the model's flat gradient buffer; nothing is
        updated (training mode: BatchNorm1d's running statistics move as in a step).  For
        solvers that take (value, gradient), one compiled call per evaluation; needs a
        Trainer whose batch holds every sample."""
        cdef double stats[N_STATS]
        cdef int i
        if self.s.batch < self.s.n_samples:
            raise ValueError(f"objective() needs batch >= the {self.s.n_samples} samples, "
                             f"got batch {self.s.batch}")
        for i in range(N_STATS):
            stats[i] = 0.0
        self._enter(n_threads, self.s.n_samples)
        value = self._compiled(-1, 0, stats)
        return value, stats[0] / stats[1]

    cdef double _compiled(self, Py_ssize_t first_batch, Py_ssize_t n_batches,
                          double* stats) except? -1.0:
        """Run batches (first_batch >= 0) or the objective (first_batch < 0) without the
        GIL, denormals flushed in every thread when ftz (the caller's mode restored)."""
        cdef unsigned int* modes = NULL
        cdef Net* n = self.s.net
        cdef double value = 0.0
        cdef bint ftz = self.ftz and CGRAD_FTZ_DAZ_BITS != 0
        if ftz:
            modes = <unsigned int*> calloc(2 * self.s.n_threads, sizeof(unsigned int))
            if modes == NULL:
                raise MemoryError()
        with nogil:
            if ftz:
                _set_fpmode_all(modes, True, self.s.n_threads)
            if first_batch < 0 and self.is_f32:
                value = _objective(&self.s, <float*> n.params, stats)
            elif first_batch < 0:
                value = _objective(&self.s, <double*> n.params, stats)
            elif self.is_f32:
                _run_batches(&self.s, <float*> n.params, first_batch, n_batches, stats)
            else:
                _run_batches(&self.s, <double*> n.params, first_batch, n_batches, stats)
            if ftz:
                _set_fpmode_all(modes, False, self.s.n_threads)
        free(modes)
        n.sparse = False
        return value
