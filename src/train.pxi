# train.pxi -- the fused training loop: whole chunks of mini-batches in one nogil call.
#
# One step, batch B (rows of the last batch may be fewer), layers l = 0..L-1 of IN_l -> OUT_l:
#   gather    xb = X[order[start:start+B]]            (targets/labels likewise), or, when
#             the input is mostly zeros (sparse.pxi), the rows' non-zeros compressed
#             (likewise the ReLU output feeding a large layer, after its forward pass)
#   forward   Z_l = A_{l-1} @ W_l + b_l ; A_l = act_l(Z_l)        (A_{-1} = xb)
#   loss      L, dA_{L-1} = loss(A_{L-1} or Z_{L-1}, y)  (softmax+CE / sigmoid+BCE fused on Z)
#   backward  dZ_l = dA_l * act_l'(Z_l) ; dW_l = A_{l-1}.T @ dZ_l ; db_l = sum(dZ_l)
#             dA_{l-1} = dZ_l @ W_l.T   (skipped for l = 0)
#   regularise dW_l += l2 W_l + l1 sign(W_l)  (weights only, not biases)
#   clip      by value, then by global L2 norm (the norm before clipping is recorded)
#   update    one optimizer kernel over the flat parameter buffer
# Gradients are overwritten each step (accumulate=0), so no zeroing pass is needed.
# Everything runs without the GIL; the workspace is allocated once per fit (Trainer).

cdef enum:
    MAX_LAYERS = 64
    OPT_SGD = 0
    OPT_ADAM = 1
    OPT_RMSPROP = 2
    OPT_ADAGRAD = 3
    N_STATS = 5          # loss_sum (row-weighted), rows, correct, grad_norm_sum, steps
    N_PHASES = 6         # gather, forward, loss, backward, regularise+clip+norm, update

PHASE_NAMES = ("gather", "forward", "loss", "backward", "clip_norm", "update")


cdef struct TrainState:
    int n_layers
    Py_ssize_t sizes[MAX_LAYERS + 1]
    int acts[MAX_LAYERS]
    double alpha
    int loss
    bint fused                       # loss on the last layer's logits (act = identity there)
    Py_ssize_t w_off[MAX_LAYERS]
    Py_ssize_t b_off[MAX_LAYERS]
    Py_ssize_t n_params
    void* params
    void* grads
    void* X
    Py_ssize_t n_samples
    void* Yf                         # float targets (n, OUT) or NULL
    const int64_t* Yi                # int64 labels (n,) or NULL
    const int64_t* order             # sample order of this epoch (n,)
    Py_ssize_t batch
    void* Z[MAX_LAYERS]
    void* A[MAX_LAYERS]
    void* xb
    void* yb
    int64_t* lb
    void* d0
    void* d1
    void* d2                         # dZ of layers whose act' is applied while packing
    int opt
    double lr, momentum, dampening, weight_decay, beta1, beta2, eps, rms_alpha, lr_decay
    bint nesterov, decoupled
    void* s0
    void* s1
    void* s2
    long t
    double clip_norm, clip_value, l1, l2
    int n_threads
    bint timing                      # accumulate wall seconds per phase into phase_s
    bint sp_on[MAX_LAYERS]           # layer l's input may be compressed (sp[l])
    bint sp_now[MAX_LAYERS]          # ... and is, this step
    SparseBatch sp[MAX_LAYERS]
    Py_ssize_t sparse_steps[MAX_LAYERS]   # steps that ran layer l on compressed rows
    double phase_s[N_PHASES]


cdef inline void _gather_rows(const floating* src, const int64_t* order, floating* dst,
                              Py_ssize_t rows, Py_ssize_t cols, int n_threads) noexcept nogil:
    cdef Py_ssize_t i, j
    cdef const floating* s
    cdef int nt = _threads_for(rows * cols, n_threads)
    if cols <= 16:                    # narrow rows (W2: 2 inputs): a libc call per row costs more
        for i in range(rows):
            s = src + order[i] * cols
            for j in range(cols):
                dst[i * cols + j] = s[j]
        return
    if nt == 1:                       # no parallel region for serial work
        for i in range(rows):
            memcpy(dst + i * cols, src + order[i] * cols, cols * sizeof(floating))
        return
    for i in prange(rows, schedule="static", num_threads=nt):
        memcpy(dst + i * cols, src + order[i] * cols, cols * sizeof(floating))


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


cdef void _optimizer_step(TrainState* s, floating* p, const floating* g) noexcept nogil:
    cdef Py_ssize_t n = s.n_params
    if s.opt == OPT_SGD:
        sgd_step(p, g, <floating*> s.s0, n, s.lr, s.momentum, s.dampening, s.weight_decay,
                 s.nesterov, s.t, s.n_threads)
    elif s.opt == OPT_ADAM:
        adam_step(p, g, <floating*> s.s0, <floating*> s.s1, <floating*> s.s2, n, s.lr,
                  s.beta1, s.beta2, s.eps, s.weight_decay, s.decoupled, s.t, s.n_threads)
    elif s.opt == OPT_RMSPROP:
        rmsprop_step(p, g, <floating*> s.s0, <floating*> s.s1, <floating*> s.s2, n, s.lr,
                     s.rms_alpha, s.eps, s.weight_decay, s.momentum, s.n_threads)
    else:
        adagrad_step(p, g, <floating*> s.s0, n, s.lr, s.lr_decay, s.weight_decay, s.eps,
                     s.t, s.n_threads)


cdef void _run_batches(TrainState* s, floating* params, Py_ssize_t first_batch,
                       Py_ssize_t n_batches, double* stats) noexcept nogil:
    cdef floating* grads = <floating*> s.grads
    cdef const floating* X = <const floating*> s.X
    cdef const floating* Yf = <const floating*> s.Yf
    cdef floating* xb = <floating*> s.xb
    cdef floating* yb = <floating*> s.yb
    cdef floating* dcur
    cdef floating* dnext
    cdef floating* dz
    cdef floating* tmp
    cdef const floating* inp
    cdef floating* out
    cdef Py_ssize_t bi, start, rows, nxt, l, L = s.n_layers, n_in = s.sizes[0]
    cdef Py_ssize_t n_out = s.sizes[L], nw
    cdef int nt = s.n_threads, act
    cdef double loss, norm, t0 = 0.0
    for bi in range(first_batch, first_batch + n_batches):
        start = bi * s.batch
        rows = min(s.batch, s.n_samples - start)
        if rows <= 0:
            break
        if s.timing:
            t0 = _phase_mark(s, -1, 0.0)
        # gather the batch rows (and their targets) in this epoch's order: compressed
        # when the sparse path is on and the batch is sparse enough, else dense
        s.sp_now[0] = s.sp_on[0] and sparse_gather(&s.sp[0], X, n_in, s.order + start,
                                                   rows, n_in, nt) >= 0
        if not s.sp_now[0]:
            _gather_rows(X, s.order + start, xb, rows, n_in, nt)
        if Yf != NULL:
            _gather_rows(Yf, s.order + start, yb, rows, n_out, nt)
        if s.Yi != NULL:
            for l in range(rows):
                s.lb[l] = s.Yi[s.order[start + l]]
        if s.timing:
            t0 = _phase_mark(s, 0, t0)
        if start + rows < s.n_samples:   # the next batch's rows, fetched while this one runs
            nxt = min(s.batch, s.n_samples - start - rows)
            _prefetch_rows(<const char*> X, s.order + start + rows, nxt,
                           n_in * sizeof(floating))
            if Yf != NULL:
                _prefetch_rows(<const char*> Yf, s.order + start + rows, nxt,
                               n_out * sizeof(floating))
        # forward
        inp = xb
        for l in range(L):
            if l > 0:                   # a ReLU output feeding a large layer: compress it
                s.sp_now[l] = s.sp_on[l] and sparse_gather(&s.sp[l], inp, s.sizes[l], NULL,
                                                           rows, s.sizes[l], nt) >= 0
            if s.sp_now[l]:
                s.sparse_steps[l] += 1
                sparse_act_forward(s.acts[l], s.alpha, &s.sp[l], params + s.w_off[l],
                                   params + s.b_off[l], <floating*> s.Z[l],
                                   <floating*> s.A[l], rows, s.sizes[l], s.sizes[l + 1], nt)
            else:
                dense_act_forward(s.acts[l], s.alpha, inp, params + s.w_off[l],
                                  params + s.b_off[l], <floating*> s.Z[l], <floating*> s.A[l],
                                  rows, s.sizes[l], s.sizes[l + 1], nt)
            inp = <floating*> s.A[l]
        out = <floating*> s.A[L - 1]          # == Z[L-1] when the loss is fused
        if s.timing:
            t0 = _phase_mark(s, 1, t0)
        dcur = <floating*> s.d0
        dnext = <floating*> s.d1
        loss = loss_forward_backward(s.loss, out, yb if Yf != NULL else NULL,
                                     s.lb if s.Yi != NULL else NULL, dcur, rows, n_out, nt)
        stats[0] += loss * rows
        stats[1] += rows
        stats[2] += _count_correct(out, s.lb if s.Yi != NULL else NULL,
                                   yb if Yf != NULL else NULL, rows, n_out)
        if s.timing:
            t0 = _phase_mark(s, 2, t0)
        # backward, last layer first; dZ overwrites dA in place, or goes to d2 when the
        # weight-gradient GEMM applies act' while packing it (dA is then only read)
        for l in range(L - 1, -1, -1):
            act = s.acts[l]
            if s.sp_now[l]:             # act' in place, dW_l and db_l from the input's CSC,
                act_backward(act, s.alpha, <floating*> s.Z[l], <floating*> s.A[l], dcur,
                             dcur, rows, s.sizes[l + 1], nt)
                sparse_weight_grad(&s.sp[l], dcur, grads + s.w_off[l], grads + s.b_off[l],
                                   rows, s.sizes[l], s.sizes[l + 1], nt)
                if l > 0:               # then dA_{l-1} = dZ_l @ W_l.T as dense_backward
                    gemm_ex(False, True, rows, s.sizes[l], s.sizes[l + 1], 1.0, dcur,
                            s.sizes[l + 1], params + s.w_off[l], s.sizes[l + 1], 0.0, dnext,
                            s.sizes[l], nt, <_Epilogue *> NULL)
                    tmp = dcur
                    dcur = dnext
                    dnext = tmp
                continue
            inp = xb if l == 0 else <floating*> s.A[l - 1]
            # act' applied while packing dZ, or in place
            dz = <floating*> s.d2 if act_grad_while_packing(
                act, rows, s.sizes[l], s.sizes[l + 1], nt, dcur) else dcur
            dense_act_backward(act, s.alpha, dcur, <floating*> s.Z[l],
                               <floating*> s.A[l], dz, inp, params + s.w_off[l],
                               grads + s.w_off[l], grads + s.b_off[l],
                               dnext if l > 0 else NULL, rows, s.sizes[l], s.sizes[l + 1],
                               0, nt)
            tmp = dcur
            dcur = dnext
            dnext = tmp
        if s.timing:
            t0 = _phase_mark(s, 3, t0)
        # regularise the weights (not the biases)
        if s.l2 > 0 or s.l1 > 0:
            for l in range(L):
                nw = s.sizes[l] * s.sizes[l + 1]
                if s.l2 > 0:
                    l2_penalty_grad(params + s.w_off[l], grads + s.w_off[l], nw, s.l2, nt)
                if s.l1 > 0:
                    l1_penalty_grad(params + s.w_off[l], grads + s.w_off[l], nw, s.l1, nt)
        # clip, then update
        if s.clip_value > 0:
            clip_by_value(grads, s.n_params, s.clip_value, nt)
        if s.clip_norm > 0:
            norm = clip_by_global_norm(grads, s.n_params, s.clip_norm, nt)
        else:
            norm = global_norm(grads, s.n_params, nt)
        stats[3] += norm
        stats[4] += 1
        s.t += 1
        if s.timing:
            t0 = _phase_mark(s, 4, t0)
        _optimizer_step(s, params, grads)
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


OPTIMIZER_CODES = {"sgd": OPT_SGD, "adam": OPT_ADAM, "rmsprop": OPT_RMSPROP,
                   "adagrad": OPT_ADAGRAD}


cdef class Trainer:
    """Workspace and state of one fit: built once, then `run` executes chunks of batches.

    All arrays are kept referenced here; the struct holds their raw pointers."""
    cdef TrainState s
    cdef object _keep
    cdef object dtype
    cdef bint is_f32
    cdef public bint ftz

    def __init__(self, params, grads, list sizes, list acts, double alpha, int loss,
                 bint fused, X, Yf, Yi, Py_ssize_t batch, dict opt, dict reg, bint ftz=True,
                 sparse="auto"):
        import numpy as np
        cdef Py_ssize_t l, L = len(sizes) - 1, off = 0, width = 0
        if L < 1 or L > MAX_LAYERS:
            raise ValueError(f"need 1..{MAX_LAYERS} layers, got {L}")
        dtype = params.dtype
        if dtype != np.float32 and dtype != np.float64:
            raise TypeError(f"params must be float32 or float64, got {dtype}")
        if params.ndim != 1 or grads.ndim != 1 or grads.dtype != dtype:
            raise ValueError("params and grads must be flat (1-D) buffers of one float dtype")
        if batch < 1:
            raise ValueError(f"batch must be >= 1, got {batch}")
        sparse = sparse_mode(sparse)
        if not 0 <= loss < N_LOSSES:
            raise ValueError(f"unknown loss code {loss}")
        if len(acts) != L:
            raise ValueError(f"need one activation code per layer ({L}), got {len(acts)}")
        for a in acts:
            _check_act(a)
        self.dtype = dtype
        self.is_f32 = dtype == np.float32
        self.ftz = ftz
        memset(&self.s, 0, sizeof(TrainState))
        keep = [params, grads, X]
        self.s.n_layers = L
        for l in range(L + 1):
            self.s.sizes[l] = sizes[l]
        for l in range(L):
            self.s.acts[l] = acts[l]
            self.s.w_off[l] = off
            off += sizes[l] * sizes[l + 1]
            self.s.b_off[l] = off
            off += sizes[l + 1]
            width = max(width, sizes[l + 1])
        if off != params.shape[0] or grads.shape[0] != off:
            raise ValueError(f"flat buffers hold {params.shape[0]}/{grads.shape[0]} values, "
                             f"the layer sizes need {off}")
        self.s.n_params = off
        self.s.alpha = alpha
        self.s.loss = loss
        self.s.fused = fused
        self.s.params = _array_ptr(params, dtype)
        self.s.grads = _array_ptr(grads, dtype)
        if X.dtype != dtype or X.ndim != 2 or X.shape[1] != sizes[0] or not X.flags.c_contiguous:
            raise ValueError("X must be C-contiguous (n, IN) of the model dtype")
        self.s.X = _array_ptr(X, dtype)
        self.s.n_samples = X.shape[0]
        if Yf is not None:
            if Yf.dtype != dtype or Yf.shape != (X.shape[0], sizes[L]) or not Yf.flags.c_contiguous:
                raise ValueError("float targets must be C-contiguous (n, OUT) of the model dtype")
            self.s.Yf = _array_ptr(Yf, dtype)
            keep.append(Yf)
        if Yi is not None:
            if Yi.dtype != np.int64 or Yi.shape != (X.shape[0],) or not Yi.flags.c_contiguous:
                raise ValueError("labels must be C-contiguous int64 (n,)")
            if Yi.size and (Yi.min() < 0 or Yi.max() >= sizes[L]):
                raise ValueError(f"labels must be in [0, {sizes[L]}), got [{Yi.min()}, {Yi.max()}]")
            self.s.Yi = <const int64_t*> _array_ptr(Yi, Yi.dtype)
            keep.append(Yi)
        order = np.arange(X.shape[0], dtype=np.int64)
        keep.append(order)
        self.s.order = <const int64_t*> _array_ptr(order, order.dtype)
        self.s.batch = batch
        # workspace arena: one allocation per array, made here, never inside a step
        # 64-byte aligned (aligned_empty): SIMD rows then never straddle cache lines
        # the dense batch xb is never used when every batch is compressed (True)
        ws = [aligned_empty((1 if sparse is True else batch, sizes[0]), dtype),
              aligned_empty((batch, sizes[L]), dtype),
              aligned_empty(batch, np.int64), aligned_empty((batch, width), dtype),
              aligned_empty((batch, width), dtype), aligned_empty((batch, width), dtype)]
        self.s.xb, self.s.yb = _array_ptr(ws[0], dtype), _array_ptr(ws[1], dtype)
        self.s.lb = <int64_t*> _array_ptr(ws[2], ws[2].dtype)
        self.s.d0, self.s.d1 = _array_ptr(ws[3], dtype), _array_ptr(ws[4], dtype)
        self.s.d2 = _array_ptr(ws[5], dtype)
        for l in range(L):
            z = aligned_empty((batch, sizes[l + 1]), dtype)
            ws.append(z)
            self.s.Z[l] = _array_ptr(z, dtype)
            if l == L - 1 and fused:
                self.s.A[l] = self.s.Z[l]           # logits feed the fused loss
                if acts[l] != ACT_IDENTITY:
                    raise ValueError("a fused loss needs an identity last activation")
            else:
                a = aligned_empty((batch, sizes[l + 1]), dtype)
                ws.append(a)
                self.s.A[l] = _array_ptr(a, dtype)
        keep.extend(ws)
        self._set_optimizer(opt, keep)
        self.s.clip_norm = reg.get("clip_norm") or 0.0
        self.s.clip_value = reg.get("clip_value") or 0.0
        self.s.l1 = reg.get("l1") or 0.0
        self.s.l2 = reg.get("l2") or 0.0
        self._set_sparse(sparse, X, keep)
        self._keep = keep

    cdef _set_sparse(self, mode, X, list keep):
        """Which layers may run on compressed rows (sparse.pxi).  Layer 0 (the input X):
        True: every batch (16 bytes per batch entry, float32); "auto": when a sample of
        X's rows is at most SPARSE_AUTO_DENSITY non-zero, IN >= SPARSE_MIN_IN and a batch
        has at most SPARSE_AUTO_MAX_ENTRIES entries, then every batch up to
        SPARSE_MAX_DENSITY.  Layer l > 0, fed by a ReLU: True: every batch; "auto": when
        IN x OUT >= SPARSE_HIDDEN_MIN_WEIGHTS, every batch up to SPARSE_MAX_DENSITY.
        False: none."""
        import numpy as np
        cdef Py_ssize_t l, L = self.s.n_layers, n_in = self.s.sizes[0], n = self.s.n_samples
        cdef Py_ssize_t B = self.s.batch
        if mode is False:
            return
        if mode is True:
            keep.extend(sparse_workspace(&self.s.sp[0], B, n_in, self.dtype, 2.0))
            self.s.sp_on[0] = True
        elif (n_in >= SPARSE_MIN_IN and n > 0 and B * n_in <= SPARSE_AUTO_MAX_ENTRIES):
            rows = np.linspace(0, n - 1, num=min(n, 1000)).astype(np.int64)
            if np.count_nonzero(X[rows]) <= SPARSE_AUTO_DENSITY * rows.shape[0] * n_in:
                keep.extend(sparse_workspace(&self.s.sp[0], B, n_in, self.dtype,
                                             SPARSE_MAX_DENSITY))
                self.s.sp_on[0] = True
        for l in range(1, L):
            if self.s.acts[l - 1] != ACT_RELU:
                continue
            if mode is True:
                keep.extend(sparse_workspace(&self.s.sp[l], B, self.s.sizes[l], self.dtype,
                                             2.0))
                self.s.sp_on[l] = True
            elif (self.s.sizes[l] * self.s.sizes[l + 1] >= SPARSE_HIDDEN_MIN_WEIGHTS and
                  B * self.s.sizes[l] <= SPARSE_AUTO_MAX_ENTRIES):
                keep.extend(sparse_workspace(&self.s.sp[l], B, self.s.sizes[l], self.dtype,
                                             SPARSE_MAX_DENSITY))
                self.s.sp_on[l] = True

    @property
    def sparse(self):
        """{layer: steps so far that ran it on compressed input rows} for the layers that
        may (empty: the sparse path is off)."""
        return {l: self.s.sparse_steps[l] for l in range(self.s.n_layers) if self.s.sp_on[l]}

    cdef _set_optimizer(self, dict opt, list keep):
        self.s.opt = OPTIMIZER_CODES[opt["kind"]]
        self.s.lr = opt["lr"]
        self.s.momentum = opt.get("momentum", 0.0)
        self.s.dampening = opt.get("dampening", 0.0)
        self.s.weight_decay = opt.get("weight_decay", 0.0)
        self.s.nesterov = opt.get("nesterov", False)
        self.s.decoupled = opt.get("decoupled", False)
        self.s.beta1 = opt.get("beta1", 0.9)
        self.s.beta2 = opt.get("beta2", 0.999)
        self.s.eps = opt.get("eps", 1e-8)
        self.s.rms_alpha = opt.get("alpha", 0.99)
        self.s.lr_decay = opt.get("lr_decay", 0.0)
        self.s.t = opt.get("t", 0)
        states = tuple(opt.get("states", (None, None, None)))
        if len(states) != 3:
            raise ValueError("optimizer states must be a 3-tuple (None where unused)")
        need = {OPT_SGD: (self.s.momentum != 0, False, False),
                OPT_ADAM: (True, True, False),
                OPT_RMSPROP: (True, self.s.momentum > 0, False),
                OPT_ADAGRAD: (True, False, False)}[self.s.opt]
        for i in range(3):
            if need[i] and states[i] is None:
                raise ValueError(f"optimizer {opt['kind']!r} with these options needs state {i}")
        for i, st in enumerate(states):
            if st is None:
                continue
            if st.dtype != self.dtype or st.shape != (self.s.n_params,) or not st.flags.c_contiguous:
                raise ValueError(f"optimizer state {i} must be a flat buffer like the parameters")
            keep.append(st)
        self.s.s0 = _array_ptr(states[0], self.dtype) if states[0] is not None else NULL
        self.s.s1 = _array_ptr(states[1], self.dtype) if states[1] is not None else NULL
        self.s.s2 = _array_ptr(states[2], self.dtype) if states[2] is not None else NULL

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
        return self.s.t

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
        return self.s.lr

    @lr.setter
    def lr(self, double value):
        self.s.lr = value

    def run(self, Py_ssize_t first_batch, Py_ssize_t n_batches, int n_threads):
        """Run batches [first_batch, first_batch + n_batches) of this epoch, GIL released.
        Returns (loss_sum, rows, correct, grad_norm_sum, steps)."""
        cdef double stats[N_STATS]
        cdef unsigned int* modes = NULL
        cdef int i
        cdef bint ftz = self.ftz and CGRAD_FTZ_DAZ_BITS != 0
        if first_batch < 0 or n_batches < 0:
            raise ValueError(f"first_batch and n_batches must be >= 0, got {first_batch}, {n_batches}")
        if n_batches and first_batch >= (self.s.n_samples + self.s.batch - 1) // self.s.batch:
            raise ValueError(f"first_batch {first_batch} is past the last batch of the epoch")
        for i in range(N_STATS):
            stats[i] = 0.0
        self.s.n_threads = max(1, n_threads)
        if ftz:
            modes = <unsigned int*> calloc(2 * self.s.n_threads, sizeof(unsigned int))
            if modes == NULL:
                raise MemoryError()
        with nogil:
            if ftz:
                _set_fpmode_all(modes, True, self.s.n_threads)
            if self.is_f32:
                _run_batches(&self.s, <float*> self.s.params, first_batch, n_batches, stats)
            else:
                _run_batches(&self.s, <double*> self.s.params, first_batch, n_batches, stats)
            if ftz:
                _set_fpmode_all(modes, False, self.s.n_threads)
        free(modes)
        return tuple(stats[i] for i in range(N_STATS))



cdef void* _array_ptr(arr, dtype) except NULL:
    """Data pointer of a C-contiguous array of `dtype` (checked)."""
    if arr.dtype != dtype or not arr.flags.c_contiguous:
        raise ValueError(f"internal: expected a C-contiguous {dtype} array")
    if not arr.flags.writeable:
        raise ValueError("internal: expected a writable array")
    return <void*> <size_t> arr.ctypes.data


def layer_forward(int act, double alpha, const floating[:, ::1] x, const floating[:, ::1] W,
                  const floating[::1] b, floating[:, ::1] z, floating[:, ::1] y, int n_threads=1):
    """z = x @ W + b ; y = act(z).  The kernels the fused loop uses, for the step API."""
    cdef Py_ssize_t N = x.shape[0], IN = x.shape[1], OUT = W.shape[1]
    if W.shape[0] != IN or b.shape[0] != OUT or z.shape[0] != N or z.shape[1] != OUT \
            or y.shape[0] != N or y.shape[1] != OUT:
        raise ValueError("layer_forward: inconsistent shapes")
    _check_act(act)
    if N == 0:
        return
    with nogil:
        dense_act_forward(act, alpha, &x[0, 0], &W[0, 0], &b[0], &z[0, 0], &y[0, 0], N, IN,
                          OUT, n_threads)


def layer_backward(int act, double alpha, floating[:, ::1] dy, const floating[:, ::1] z,
                   const floating[:, ::1] y, const floating[:, ::1] x,
                   const floating[:, ::1] W, floating[:, ::1] dW, floating[::1] db,
                   floating[:, ::1] dx, int n_threads=1, floating[:, ::1] dz=None):
    """dz = dy * act'(z) (written into dy, or into dz when given: then dy is not
    written, and for relu/sigmoid/tanh act' is applied while the weight-gradient GEMM
    packs dZ); dW += x.T @ dz; db += sum(dz); dx = dz @ W.T (dx may be None)."""
    cdef Py_ssize_t N = x.shape[0], IN = x.shape[1], OUT = W.shape[1]
    cdef floating* dxp = NULL
    cdef floating* dzp = NULL
    if W.shape[0] != IN or db.shape[0] != OUT or dW.shape[0] != IN or dW.shape[1] != OUT \
            or dy.shape[0] != N or dy.shape[1] != OUT or z.shape[0] != N or z.shape[1] != OUT \
            or y.shape[0] != N or y.shape[1] != OUT:
        raise ValueError("layer_backward: inconsistent shapes")
    if dx is not None:
        if dx.shape[0] != N or dx.shape[1] != IN:
            raise ValueError("layer_backward: dx has the wrong shape")
        if N:
            dxp = &dx[0, 0]
    if dz is not None and (dz.shape[0] != N or dz.shape[1] != OUT):
        raise ValueError("layer_backward: dz has the wrong shape")
    _check_act(act)
    if N == 0:
        return
    dzp = &dz[0, 0] if dz is not None else &dy[0, 0]
    with nogil:
        dense_act_backward(act, alpha, &dy[0, 0], &z[0, 0], &y[0, 0], dzp, &x[0, 0],
                           &W[0, 0], &dW[0, 0], &db[0], dxp, N, IN, OUT, 1, n_threads)
