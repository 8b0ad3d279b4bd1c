# layers.pxi -- the network as data: one record per layer, one forward and one backward per
# kind, and the one layer loop that the fused training loop (train.pxi), the step API and
# inference all walk.
#
# Layer l reads x (rows, IN_l), the previous layer's output (the batch for l = 0):
#   Dense        z = x @ W + b ; y = act(z)   bias and act in the GEMM epilogue (y is z
#                for identity); x may be compressed rows when mostly zeros (sparse.pxi)
#   Activation   y = act(x)                   (fused into the Dense before it when adjacent)
#   Dropout      y = x * keep / (1 - p)       training; eval: y is x.  keep is the counter
#                mask of norm.pxi keyed by (seed, step, layer index): reproducible and
#                independent of the thread count; backward recomputes it
#   BatchNorm1d  y = gamma * (x - mean) * invstd + beta   batch statistics and a running
#                update (training), running statistics (eval)
# Parameters live in the flat parameter buffer (Dense: W (IN, OUT) at p_off, b at q_off;
# BatchNorm1d: gamma at p_off, beta at q_off), their gradients at the same offsets of the
# flat gradient buffer, so every optimizer, clipping and checkpoint covers them.
# BatchNorm1d's running mean and variance live in the flat `buffers` (s_off, s_off + OUT).
# Backward writes d loss / d x over d loss / d y in place, except Dense (two swap buffers).

cdef enum:
    MAX_LAYERS = 64
    LAYER_DENSE = 0
    LAYER_ACTIVATION = 1
    LAYER_DROPOUT = 2
    LAYER_BATCHNORM = 3

LAYER_KINDS = {"dense": LAYER_DENSE, "activation": LAYER_ACTIVATION,
               "dropout": LAYER_DROPOUT, "batchnorm": LAYER_BATCHNORM}


cdef struct Layer:
    int kind
    int index                # position in the model's layer list (keys the dropout mask)
    Py_ssize_t n_in, n_out
    Py_ssize_t p_off, q_off  # Dense: W, b; BatchNorm1d: gamma, beta; -1: no parameters
    Py_ssize_t s_off         # BatchNorm1d: running mean in the buffers (the variance follows)
    int act
    double alpha, p, momentum, eps
    bint relu_in             # the input is a ReLU's output (mostly zeros: may be compressed)
    void* z                  # Dense: (cap, OUT) pre-activation; y itself for identity
    void* y                  # (cap, OUT) output
    void* mean               # BatchNorm1d: (OUT,) the last training batch's mean, invstd
    void* invstd
    const void* x            # the last forward's input (backward reads it)
    uint64_t mask_seed       # Dropout: the last training forward's mask
    bint passed              # the last forward passed x through (y is x)
    bint trained             # the last forward ran in training mode
    bint sp_on               # the input may be compressed (fit's sparse setting)
    bint sp_now              # ... and was, in the last forward
    SparseBatch sp
    Py_ssize_t sparse_steps  # forwards that ran on compressed input


cdef struct Net:
    int n_layers
    Layer layers[MAX_LAYERS]
    Py_ssize_t n_in, n_out, n_params, n_buffers
    Py_ssize_t width         # widest layer input or output (the gradient swap buffers)
    Py_ssize_t cap           # rows the workspace holds
    void* params
    void* grads
    void* buffers
    void* d0                 # (cap, width) each: d loss / d output, swapped layer by layer
    void* d1
    void* d2                 # Dense's dz when act' is applied while packing it
    uint64_t seed            # dropout masks
    int64_t step             # training-mode forward passes so far
    bint training
    bint sparse              # compressed inputs allowed (fit: gradients overwritten)
    bint stop_on_sigint      # the step API: Ctrl-C stops the layer loops between layers
    bint interrupted         # ... and did


cdef int net_step_threads(const Net* n, Py_ssize_t rows, int n_threads) noexcept nogil:
    """n_threads, or 1 when no kernel of a pass over `rows` rows would use a second thread:
    every GEMM at or below the serial bound, every elementwise pass (rows x widest layer,
    and the parameters) below PAR_MIN_WORK, no compressed input.  A compiled call then
    skips its team-wide set-up (the FP mode of every thread), whose parallel regions cost
    more than a small network's whole epoch when the threads must be woken.  Any thread
    count gives the same bits, so this choice only changes the time."""
    cdef int i
    if n_threads <= 1:
        return 1
    if n.n_params >= PAR_MIN_WORK or rows * n.width >= PAR_MIN_WORK:
        return n_threads
    for i in range(n.n_layers):
        if n.layers[i].sp_on:
            return n_threads
        if (n.layers[i].kind == LAYER_DENSE and
                <double> rows * n.layers[i].n_in * n.layers[i].n_out > cgrad_gemm_serial_mnk()):
            return n_threads
    return 1


# An isolated call (predict, evaluate) finds the OpenMP team asleep and pays a wake-up
# per parallel region, far more than a training step, where the team spins between
# regions: under a busy machine's load, milliseconds.  Blocks of fewer multiply-adds
# than this run on one thread (about 0.15 ms of one core's work).
cdef double CALL_PARALLEL_MACS = 16777216.0


cdef int net_call_threads(const Net* n, Py_ssize_t rows, int n_threads) noexcept nogil:
    """n_threads, or 1 for a forward pass over `rows` rows of fewer than
    CALL_PARALLEL_MACS multiply-adds in its Dense layers.  Only the time changes."""
    cdef int i
    cdef double macs = 0.0
    for i in range(n.n_layers):
        if n.layers[i].kind == LAYER_DENSE:
            macs += <double> n.layers[i].n_in * n.layers[i].n_out
    return 1 if n_threads <= 1 or rows * macs < CALL_PARALLEL_MACS else n_threads


cdef inline uint64_t dropout_step_seed(uint64_t seed, int64_t step, int index) noexcept nogil:
    """The mask seed of the dropout layer at `index` on training step `step`."""
    return _dropout_splitmix64(seed ^ _dropout_splitmix64(<uint64_t> step * 256 + index))


def dropout_mask_seed(uint64_t seed, int64_t step, int index):
    """dropout_step_seed for tests and the reference (cgrad.reference.layers)."""
    return dropout_step_seed(seed, step, index)


cdef bint net_compress_input(Net* n, floating* val, const xfloat* X, Py_ssize_t ldx,
                             const int64_t* order, Py_ssize_t rows, int nt) noexcept nogil:
    """Compress rows order[0..rows) of X (order NULL: the first rows) as layer 0's input
    (val: its sp.val, typed as the network) when the sparse path is on and the batch
    sparse enough; False: gather them dense."""
    cdef Layer* L = &n.layers[0]
    L.sp_now = n.sparse and L.sp_on and sparse_gather(&L.sp, val, X, ldx, order, rows,
                                                      n.n_in, nt) >= 0
    return L.sp_now


cdef const floating* _layer_forward(Net* n, Layer* L, const floating* x, Py_ssize_t rows,
                                    int nt) noexcept nogil:
    """Layer L on x (rows, IN) in n.training mode; returns its output (rows, OUT)."""
    cdef floating* P = <floating*> n.params
    cdef floating* S = <floating*> n.buffers
    cdef floating* y = <floating*> L.y
    L.x = x
    L.trained = n.training
    L.passed = False
    if L.kind == LAYER_DENSE:
        if L.sp_now:
            L.sparse_steps += 1
            sparse_act_forward(L.act, L.alpha, &L.sp, P + L.p_off, P + L.q_off,
                               <floating*> L.z, y, rows, L.n_in, L.n_out, nt)
        else:
            dense_act_forward(L.act, L.alpha, x, P + L.p_off, P + L.q_off, <floating*> L.z,
                              y, rows, L.n_in, L.n_out, nt)
    elif L.kind == LAYER_ACTIVATION:
        act_forward(L.act, L.alpha, x, y, rows, L.n_out, nt)
    elif L.kind == LAYER_DROPOUT:
        if not n.training or L.p == 0.0:
            L.passed = True
            return x
        L.mask_seed = dropout_step_seed(n.seed, n.step, L.index)
        dropout_forward(x, y, rows * L.n_out, L.p, L.mask_seed, nt)
    elif n.training:
        batchnorm_forward_train(x, P + L.p_off, P + L.q_off, y, <floating*> L.mean,
                                <floating*> L.invstd, S + L.s_off, S + L.s_off + L.n_out,
                                rows, L.n_out, L.momentum, L.eps, nt)
    else:
        batchnorm_forward_eval(x, P + L.p_off, P + L.q_off, y, S + L.s_off,
                               S + L.s_off + L.n_out, rows, L.n_out, L.eps, nt)
    return y


cdef const floating* net_forward(Net* n, const floating* x, Py_ssize_t rows,
                                 int nt) noexcept nogil:
    """Every layer in order on x (rows, IN), in n.training mode; returns the network's
    output (rows, OUT).  Layer 0 runs on its compressed rows when net_compress_input
    said so just before; a Dense fed by a ReLU compresses its input itself."""
    cdef int l
    cdef Layer* L
    cdef const floating* cur = x
    for l in range(n.n_layers):
        if n.stop_on_sigint and cgrad_sigint_pending():
            n.interrupted = True
            return NULL
        L = &n.layers[l]
        if l > 0:
            L.sp_now = n.sparse and L.sp_on and sparse_gather(
                &L.sp, <floating*> L.sp.val, cur, L.n_in, NULL, rows, L.n_in, nt) >= 0
        cur = _layer_forward(n, L, cur, rows, nt)
    if n.training:
        n.step += 1
    return cur


cdef floating* _dense_backward(Net* n, Layer* L, floating* dy, floating* dx,
                               Py_ssize_t rows, bint accumulate, int nt) noexcept nogil:
    """Dense backward: dW (+)= x.T @ dz, db (+)= sum(dz), dx = dz @ W.T (dx NULL: skipped),
    dz = dy * act'(z), written over dy or, when act' is applied while packing it, into
    n.d2 (dy only read).  Compressed input: the weight gradient from its transpose."""
    cdef floating* P = <floating*> n.params
    cdef floating* G = <floating*> n.grads
    cdef const floating* x = <const floating*> L.x
    cdef floating* dz
    if L.sp_now:                 # never with accumulate: fit overwrites the gradients
        act_backward(L.act, L.alpha, <floating*> L.z, <floating*> L.y, dy, dy, rows,
                     L.n_out, nt)
        sparse_weight_grad(&L.sp, dy, G + L.p_off, G + L.q_off, rows, L.n_in, L.n_out, nt)
        if dx != NULL:
            gemm_ex(False, True, rows, L.n_in, L.n_out, 1.0, dy, L.n_out, P + L.p_off,
                    L.n_out, 0.0, dx, L.n_in, nt, <_Epilogue *> NULL)
        return dx
    dz = <floating*> n.d2 if act_grad_while_packing(L.act, rows, L.n_in, L.n_out, nt,
                                                    dy) else dy
    dense_act_backward(L.act, L.alpha, dy, <floating*> L.z, <floating*> L.y, dz, x,
                       P + L.p_off, G + L.p_off, G + L.q_off, dx, rows, L.n_in, L.n_out,
                       accumulate, nt)
    return dx


cdef void _batchnorm_backward(Net* n, Layer* L, floating* dy, Py_ssize_t rows,
                              bint accumulate, int nt) noexcept nogil:
    """BatchNorm1d backward of the last forward (batch or running statistics), dx over dy."""
    cdef floating* P = <floating*> n.params
    cdef floating* G = <floating*> n.grads
    cdef floating* S = <floating*> n.buffers
    if not accumulate:
        memset(G + L.p_off, 0, L.n_out * sizeof(floating))
        memset(G + L.q_off, 0, L.n_out * sizeof(floating))
    if L.trained:
        batchnorm_backward(dy, <const floating*> L.x, P + L.p_off, <floating*> L.mean,
                           <floating*> L.invstd, dy, G + L.p_off, G + L.q_off, rows,
                           L.n_out, nt)
    else:
        batchnorm_backward_eval(dy, <const floating*> L.x, P + L.p_off, S + L.s_off,
                                S + L.s_off + L.n_out, dy, G + L.p_off, G + L.q_off, rows,
                                L.n_out, L.eps, nt)


cdef floating* net_backward(Net* n, floating* dout, Py_ssize_t rows, bint accumulate,
                            bint need_dx, int nt) noexcept nogil:
    """Backpropagate dout = d loss / d output (rows, OUT), which must be n.d0, through
    the last forward.  Parameter gradients accumulate (+=)
    or are overwritten (accumulate False: fit).  Returns d loss / d input (rows, IN), in
    n.d0 or n.d1, or NULL unless need_dx."""
    cdef int l
    cdef Layer* L
    cdef floating* dcur = dout
    cdef floating* dnext = <floating*> n.d1
    cdef floating* tmp
    for l in range(n.n_layers - 1, -1, -1):
        if n.stop_on_sigint and cgrad_sigint_pending():
            n.interrupted = True
            return NULL
        L = &n.layers[l]
        if L.kind == LAYER_DENSE:
            if _dense_backward(n, L, dcur, dnext if l > 0 or need_dx else NULL, rows,
                               accumulate, nt) == NULL:
                return NULL
            tmp = dcur
            dcur = dnext
            dnext = tmp
        elif L.kind == LAYER_ACTIVATION:
            act_backward(L.act, L.alpha, <const floating*> L.x, <floating*> L.y, dcur, dcur,
                         rows, L.n_out, nt)
        elif L.kind == LAYER_DROPOUT:
            if not L.passed:
                dropout_backward(dcur, dcur, rows * L.n_out, L.p, L.mask_seed, nt)
        else:
            _batchnorm_backward(n, L, dcur, rows, accumulate, nt)
    return dcur if need_dx else NULL


cdef void net_grad_sq_norms(Net* n, const floating* G, double* out, int nt) noexcept nogil:
    """out[k] = the squared L2 norm of the k-th parameterised layer's gradient (W and b, or
    gamma and beta: one contiguous span), in a fixed summation order."""
    cdef int l, k = 0
    cdef Layer* L
    for l in range(n.n_layers):
        L = &n.layers[l]
        if L.p_off >= 0:
            out[k] = chunked_sum(G + L.p_off, L.q_off + L.n_out - L.p_off, 2, nt)
            k += 1


_NO_INTERRUPT = __import__("contextlib").nullcontext()


cdef class Network:
    """The compiled layer table of one model: its records, pointers to the model's flat
    parameter, gradient and running-statistics buffers, and the workspace (grown to the
    largest batch seen, never inside a step).  Built from the model's layer specs
    (cgrad.nn); a Dense followed by an Activation runs as one fused Dense."""
    cdef Net n
    cdef public object dtype
    cdef bint is_f32
    cdef object _keep          # the model's buffers
    cdef object _ws            # the workspace arrays
    cdef object _sp            # the sparse workspaces
    cdef SparseBatch psp       # predict's compressed input rows (layer 0), and its arrays
    cdef object _psp
    cdef Py_ssize_t psp_rows   # rows psp holds (0: none yet)
    cdef readonly Py_ssize_t predict_sparse_blocks   # predict blocks run on compressed rows
    cdef object _x             # the step API's last input (layer 0 reads it in backward)
    cdef public list param_layers   # model layer index of each parameterised layer
    cdef readonly int generation    # bumped by set_sparse: a Trainer checks its own is current

    def __init__(self, Py_ssize_t n_inputs, list specs, params, grads, buffers,
                 uint64_t seed):
        import numpy as np
        dtype = params.dtype
        if dtype != np.float32 and dtype != np.float64:
            raise TypeError(f"params must be float32 or float64, got {dtype}")
        for name, a in (("grads", grads), ("buffers", buffers)):
            if a.dtype != dtype or a.ndim != 1:
                raise ValueError(f"{name} must be a flat (1-D) {dtype} buffer")
        if params.ndim != 1 or grads.shape != params.shape:
            raise ValueError("params and grads must be flat buffers of one size")
        self.dtype = dtype
        self.is_f32 = dtype == np.float32
        memset(&self.n, 0, sizeof(Net))
        self.param_layers = []
        self._build(n_inputs, specs)
        if self.n.n_params != params.shape[0]:
            raise ValueError(f"the flat parameter buffer holds {params.shape[0]} values, the "
                             f"layers need {self.n.n_params}")
        if self.n.n_buffers != buffers.shape[0]:
            raise ValueError(f"the flat buffer of running statistics holds "
                             f"{buffers.shape[0]} values, the layers need {self.n.n_buffers}")
        self.n.params = _array_ptr(params, dtype)
        self.n.grads = _array_ptr(grads, dtype)
        self.n.buffers = _array_ptr(buffers, dtype) if buffers.shape[0] else NULL
        self.n.seed = seed
        self.n.training = True
        self._keep = (params, grads, buffers)
        self._ws = []
        self._sp = []

    cdef _build(self, Py_ssize_t n_in, list specs):
        """Fill the table from the specs (dicts: kind, n_out for Dense, act code, alpha,
        p, momentum, eps): offsets, sizes, fusion of Dense + Activation."""
        cdef Py_ssize_t off = 0, soff = 0, width = n_in
        cdef int i, L = 0
        cdef Layer* rec
        cdef Layer* prev
        if not specs:
            raise ValueError("a network needs at least one layer")
        if n_in < 1:
            raise ValueError(f"a network needs at least one input, got {n_in}")
        self.n.n_in = n_in
        for i, sp in enumerate(specs):
            kind = LAYER_KINDS.get(sp["kind"])
            if kind is None:
                raise ValueError(f"unknown layer kind {sp['kind']!r}")
            if kind == LAYER_ACTIVATION:
                _check_act(sp["act"])
            prev = &self.n.layers[L - 1] if L > 0 else NULL
            if (kind == LAYER_ACTIVATION and prev != NULL and prev.kind == LAYER_DENSE
                    and prev.act == ACT_IDENTITY):
                prev.act = sp["act"]          # fused into the Dense's epilogue
                prev.alpha = sp["alpha"]
                continue
            if L == MAX_LAYERS:
                raise ValueError(f"at most {MAX_LAYERS} layers after fusion")
            rec = &self.n.layers[L]
            rec.kind = kind
            rec.index = i
            rec.n_in = n_in
            rec.n_out = sp["n_out"] if kind == LAYER_DENSE else n_in
            rec.p_off = rec.q_off = rec.s_off = -1
            rec.act = sp.get("act", ACT_IDENTITY)
            _check_act(rec.act)
            rec.alpha = sp.get("alpha", 0.0)
            rec.p = sp.get("p", 0.0)
            rec.momentum = sp.get("momentum", 0.0)
            rec.eps = sp.get("eps", 0.0)
            if kind == LAYER_DENSE:
                rec.p_off = off
                rec.q_off = off + rec.n_in * rec.n_out
                off = rec.q_off + rec.n_out
            elif kind == LAYER_BATCHNORM:
                rec.p_off = off
                rec.q_off = off + rec.n_out
                off = rec.q_off + rec.n_out
                rec.s_off = soff
                soff += 2 * rec.n_out
            if rec.p_off >= 0:
                self.param_layers.append(i)
            if rec.n_out < 1:
                raise ValueError(f"layer {i} has no outputs")
            rec.relu_in = prev != NULL and (
                (prev.kind == LAYER_DENSE or prev.kind == LAYER_ACTIVATION)
                and prev.act == ACT_RELU or prev.kind == LAYER_DROPOUT and prev.relu_in)
            n_in = rec.n_out
            width = max(width, n_in)
            L += 1
        self.n.n_layers = L
        self.n.n_out = n_in
        self.n.n_params = off
        self.n.n_buffers = soff
        self.n.width = width

    cdef int ensure_capacity(self, Py_ssize_t rows) except -1:
        """Workspace for batches of up to `rows` rows (reallocated only to grow)."""
        cdef int l
        cdef Layer* L
        cdef Py_ssize_t isz = sizeof(float) if self.is_f32 else sizeof(double)
        if rows <= self.n.cap:
            return 0
        ws = []
        for l in range(self.n.n_layers):
            L = &self.n.layers[l]
            y = aligned_empty((rows, L.n_out), self.dtype)
            ws.append(y)
            L.y = _array_ptr(y, self.dtype)
            L.z = L.y
            if L.kind == LAYER_DENSE and L.act != ACT_IDENTITY:
                z = aligned_empty((rows, L.n_out), self.dtype)
                ws.append(z)
                L.z = _array_ptr(z, self.dtype)
            if L.kind == LAYER_BATCHNORM:
                st = aligned_empty((2, L.n_out), self.dtype)
                ws.append(st)
                L.mean = _array_ptr(st, self.dtype)
                L.invstd = <char*> L.mean + L.n_out * isz
        ds = aligned_empty((3, rows, self.n.width), self.dtype)
        ws.append(ds)
        self.n.d0 = _array_ptr(ds, self.dtype)
        self.n.d1 = <char*> self.n.d0 + rows * self.n.width * isz
        self.n.d2 = <char*> self.n.d1 + rows * self.n.width * isz
        self._ws = ws
        self.n.cap = rows
        return 0

    cdef Net* net(self):
        return &self.n

    def set_sparse(self, mode, X, Py_ssize_t batch):
        """Which layers may run on compressed rows (sparse.pxi), for fit on X in batches of
        `batch`.  Layer 0 (X): True: every batch (16 bytes per batch entry, float32);
        "auto": when a sample of X's rows is at most SPARSE_AUTO_DENSITY non-zero,
        IN >= SPARSE_MIN_IN and a batch has at most SPARSE_AUTO_MAX_ENTRIES entries, then
        every batch up to SPARSE_MAX_DENSITY.  A later Dense fed by a ReLU: True: every
        batch; "auto": when IN x OUT >= SPARSE_HIDDEN_MIN_WEIGHTS, every batch up to
        SPARSE_MAX_DENSITY.  False: none."""
        import numpy as np
        cdef int l
        cdef Layer* L
        cdef Py_ssize_t n = X.shape[0], n_in = self.n.n_in
        mode = sparse_mode(mode)
        self.generation += 1
        self._sp = []
        for l in range(self.n.n_layers):
            self.n.layers[l].sp_on = False
        if mode is False:
            return
        L = &self.n.layers[0]
        if L.kind == LAYER_DENSE:
            if mode is True:
                self._sp.append(sparse_workspace(&L.sp, batch, n_in, self.dtype, 2.0))
                L.sp_on = True
            elif n_in >= SPARSE_MIN_IN and n > 0 and batch * n_in <= SPARSE_AUTO_MAX_ENTRIES:
                rows = np.linspace(0, n - 1, num=min(n, 1000)).astype(np.int64)
                # in the network's dtype: a float64 X's values that round to zero count as
                # the zeros the compression drops, so the choice is the converted copy's
                sample = X[rows].astype(self.dtype, copy=False)
                if np.count_nonzero(sample) <= SPARSE_AUTO_DENSITY * rows.shape[0] * n_in:
                    self._sp.append(sparse_workspace(&L.sp, batch, n_in, self.dtype,
                                                     SPARSE_MAX_DENSITY))
                    L.sp_on = True
        for l in range(1, self.n.n_layers):
            L = &self.n.layers[l]
            if L.kind != LAYER_DENSE or not L.relu_in:
                continue
            if mode is True:
                self._sp.append(sparse_workspace(&L.sp, batch, L.n_in, self.dtype, 2.0))
                L.sp_on = True
            elif (L.n_in * L.n_out >= SPARSE_HIDDEN_MIN_WEIGHTS and
                  batch * L.n_in <= SPARSE_AUTO_MAX_ENTRIES):
                self._sp.append(sparse_workspace(&L.sp, batch, L.n_in, self.dtype,
                                                 SPARSE_MAX_DENSITY))
                L.sp_on = True

    @property
    def input_always_compressed(self):
        """Every batch's input rows are compressed (set_sparse True on a Dense first
        layer): fit's dense batch buffer is never written."""
        cdef Layer* L = &self.n.layers[0]
        return bool(L.kind == LAYER_DENSE and L.sp_on and L.sp.max_density > 1.0)

    @property
    def sparse_steps(self):
        """{model layer index: forwards so far on compressed input} for the layers that may
        run so (empty: the sparse path is off)."""
        return {self.n.layers[l].index: self.n.layers[l].sparse_steps
                for l in range(self.n.n_layers) if self.n.layers[l].sp_on}

    @property
    def step(self):
        """Training-mode forward passes so far (the dropout masks' step counter)."""
        return self.n.step

    @step.setter
    def step(self, int64_t value):
        if value < 0:
            raise ValueError(f"step must be >= 0, got {value}")
        self.n.step = value

    @property
    def seed(self):
        return self.n.seed

    def reseed(self, uint64_t seed, int64_t step):
        """Set the dropout masks' seed and step counter (load() of a saved model)."""
        if step < 0:
            raise ValueError(f"step must be >= 0, got {step}")
        self.n.seed = seed
        self.n.step = step

    @property
    def n_layers(self):
        """Records in the table (after fusion)."""
        return self.n.n_layers

    def table(self):
        """The records as dicts (what runs: fused Dense + Activation are one record)."""
        cdef int l
        cdef Layer* L
        kinds = {v: k for k, v in LAYER_KINDS.items()}
        res = []
        for l in range(self.n.n_layers):
            L = &self.n.layers[l]
            res.append(dict(kind=kinds[L.kind], index=L.index, n_in=L.n_in, n_out=L.n_out,
                            act=L.act, p_off=L.p_off, q_off=L.q_off, s_off=L.s_off))
        return res

    def _input(self, x):
        if x.dtype != self.dtype or x.ndim != 2 or x.shape[1] != self.n.n_in:
            raise ValueError(f"x must be ({x.shape[0]}, {self.n.n_in}) {self.dtype}")
        if not x.flags.c_contiguous:
            raise ValueError("x must be C-contiguous")
        return x

    def forward(self, x, bint training, int n_threads=1):
        """The network on x (rows, IN) in training or eval mode (the step API); returns a
        copy of the output.  backward() then runs through this forward.  Ctrl-C between
        two layers raises KeyboardInterrupt (a training-mode forward may then have moved
        the running statistics of the layers it ran)."""
        cdef Py_ssize_t rows = x.shape[0]
        cdef const void* out
        cdef const void* xp
        x = self._input(x)
        self.ensure_capacity(max(rows, 1))
        self._x = x
        xp = <const void*> <size_t> x.ctypes.data
        self.n.training = training
        self.n.sparse = False
        self.n.layers[0].sp_now = False
        self.n.stop_on_sigint, self.n.interrupted = True, False
        with Interruptible():             # Ctrl-C between layers: KeyboardInterrupt
            with nogil:
                if self.is_f32:
                    out = net_forward(&self.n, <const float*> xp, rows, n_threads)
                else:
                    out = net_forward(&self.n, <const double*> xp, rows, n_threads)
            self.n.stop_on_sigint = False
            if self.n.interrupted:        # a partial forward: nothing to backpropagate
                self._x = None
                return None
        return self._copy_rows(out, rows, self.n.n_out)

    cdef _copy_rows(self, const void* src, Py_ssize_t rows, Py_ssize_t cols):
        import numpy as np
        res = np.empty((rows, cols), self.dtype)
        if rows and cols:
            memcpy(<void*> <size_t> res.ctypes.data, src, rows * cols * res.itemsize)
        return res

    def backward(self, dout, bint need_dx=True, int n_threads=1):
        """Backpropagate dout (rows, OUT) through the last forward(); parameter gradients
        accumulate (+=).  Returns d loss / d x (a copy), or None unless need_dx.  Ctrl-C
        between two layers raises KeyboardInterrupt, with the gradients partly
        accumulated (zero them before the next step)."""
        cdef Py_ssize_t rows, l
        cdef void* dx
        if self._x is None:
            raise RuntimeError("backward() needs a forward() first")
        rows = self._x.shape[0]
        if dout.dtype != self.dtype or dout.shape != (rows, self.n.n_out) \
                or not dout.flags.c_contiguous:
            raise ValueError(f"dout must be C-contiguous ({rows}, {self.n.n_out}) {self.dtype}")
        if rows:
            memcpy(self.n.d0, <void*> <size_t> dout.ctypes.data, dout.nbytes)
        self.n.stop_on_sigint, self.n.interrupted = True, False
        with Interruptible():             # Ctrl-C between layers: KeyboardInterrupt
            with nogil:
                if self.is_f32:
                    dx = net_backward(&self.n, <float*> self.n.d0, rows, True, need_dx,
                                      n_threads)
                else:
                    dx = net_backward(&self.n, <double*> self.n.d0, rows, True, need_dx,
                                      n_threads)
            self.n.stop_on_sigint = False
            if self.n.interrupted:        # the gradients are partly accumulated
                return None
        return self._copy_rows(dx, rows, self.n.n_in) if need_dx else None

    def invalidate(self):
        """Forget the step API's last forward (its workspace is about to be reused)."""
        self._x = None

    cdef bint _predict_sparse(self, Py_ssize_t n, Py_ssize_t block) except -1:
        """Whether predict may run layer 0 on compressed rows: a Dense first layer with
        IN >= SPARSE_MIN_IN and at least PREDICT_SPARSE_MIN_ROWS rows (each block still
        runs dense when denser than SPARSE_MAX_DENSITY: the compression stops there).
        Sizes the workspace for `block` rows (grown only, never per call)."""
        cdef Layer* L = &self.n.layers[0]
        if L.kind != LAYER_DENSE or self.n.n_in < SPARSE_MIN_IN or n < PREDICT_SPARSE_MIN_ROWS:
            return False
        if block > self.psp_rows:
            self._psp = sparse_workspace(&self.psp, block, self.n.n_in, self.dtype,
                                         SPARSE_MAX_DENSITY)
            self.psp_rows = block
        return True

    def call_threads(self, Py_ssize_t rows, int n_threads):
        """The threads predict uses for blocks of `rows` rows when given n_threads."""
        return net_call_threads(&self.n, rows, n_threads)

    def predict(self, X, out, Py_ssize_t block=1024, int n_threads=1):
        """out (n, OUT) = the network on X (n, IN) in eval mode, in blocks of rows (the
        workspace is sized once for a block); Ctrl-C between blocks raises
        KeyboardInterrupt.  A batch of mostly zeros (MNIST's pixels) runs its first layer
        on compressed rows (sparse.pxi: the dense path's values); the hidden layers run
        dense, and fit's sparse settings are put back afterwards."""
        cdef Py_ssize_t n = X.shape[0], s, rows, l
        cdef const char* xp
        cdef char* op
        cdef const void* res
        cdef size_t isz
        cdef bint sparse
        cdef Layer* L0 = &self.n.layers[0]
        cdef SparseBatch fit_sp
        cdef bint fit_on[MAX_LAYERS]
        cdef Py_ssize_t fit_steps
        X = self._input(X)
        if out.dtype != self.dtype or out.shape != (n, self.n.n_out) \
                or not out.flags.c_contiguous or not out.flags.writeable:
            raise ValueError(f"out must be a writable C-contiguous ({n}, {self.n.n_out}) "
                             f"{self.dtype} array")
        if block < 1:
            raise ValueError(f"block must be >= 1, got {block}")
        block = min(block, max(n, 1))
        self.ensure_capacity(block)
        n_threads = net_call_threads(&self.n, block, n_threads)
        sparse = self._predict_sparse(n, block)
        self._x = None
        xp = <const char*> <size_t> X.ctypes.data
        op = <char*> <size_t> out.ctypes.data
        isz = X.itemsize
        self.n.training = False
        # Layer 0 on predict's own compressed rows; the others dense (fit's workspaces
        # are sized for its batch, not this block).
        fit_sp, fit_steps = L0.sp, L0.sparse_steps
        for l in range(self.n.n_layers):
            fit_on[l] = self.n.layers[l].sp_on
            self.n.layers[l].sp_on = False
        L0.sp, L0.sp_on = self.psp, sparse
        self.n.sparse = sparse
        L0.sp_now = False
        try:
            # One block leaves nothing to stop between: no SIGINT handler to install (two
            # system calls, a large share of a one-row call); Python's own handler raises
            # KeyboardInterrupt once the block returns.
            with (Interruptible() if n > block else _NO_INTERRUPT), nogil:
                s = 0
                while s < n and not cgrad_sigint_pending():
                    rows = min(block, n - s)
                    if self.is_f32:
                        res = self._predict_block(<const float*> (xp + s * self.n.n_in * isz),
                                                  rows, n_threads)
                    else:
                        res = self._predict_block(<const double*> (xp + s * self.n.n_in * isz),
                                                  rows, n_threads)
                    memcpy(op + s * self.n.n_out * isz, res, rows * self.n.n_out * isz)
                    s += rows
        finally:
            L0.sp, L0.sparse_steps = fit_sp, fit_steps
            for l in range(self.n.n_layers):
                self.n.layers[l].sp_on = fit_on[l]
            self.n.sparse = False
            L0.sp_now = False
        return out

    cdef const void* _predict_block(self, const floating* x, Py_ssize_t rows,
                                    int nt) noexcept nogil:
        """One block of predict: layer 0's input compressed when allowed and sparse enough
        (net_compress_input), then the layer loop."""
        if self.n.sparse and net_compress_input(&self.n, <floating*> self.n.layers[0].sp.val,
                                                x, self.n.n_in, NULL, rows, nt):
            self.predict_sparse_blocks += 1
        return net_forward(&self.n, x, rows, nt)
