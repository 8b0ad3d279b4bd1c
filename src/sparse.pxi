# sparse.pxi -- a Dense layer on compressed input rows when its input is mostly zeros.
#
# MNIST's pixels are 81% exact zeros, and the first layer is most of an MLP's matrix
# work (W1: 76% of the multiply-adds of a step); a ReLU outputs a zero wherever its input
# was negative.  So the fused loop can compress a Dense layer's batch of input rows
# (their non-zeros and columns): the first layer's rows of X, or a ReLU's outputs for the
# Dense layer it feeds (layers.pxi decides which layers may), then
#   forward   Z = X_b @ W + b   over each row's non-zeros                 cgrad_?spmm_ex
#   gradient  dW = X_b.T @ dZ   over each column's non-zeros (the batch's CSC)
# with the dense GEMM's values (src/c/sparse_impl.h has the argument: the same fma
# chains; only a zero's sign can differ, and a NaN or inf weight facing an input zero
# gives NaN dense but nothing here).  dX = dZ @ W.T, which only a hidden layer needs,
# stays a dense GEMM.  In "auto" mode a batch denser than the cap runs dense, so the
# cost is bounded either way.

cdef extern from "cgrad.h" nogil:
    void cgrad_sspmm_ex(long M, long N, long K, const int32_t *ptr, const int32_t *key,
                        const float *val, const float *B, long ldb, float *C, long ldc,
                        int n_threads, cgrad_sepilogue epi, void *ctx)
    void cgrad_dspmm_ex(long M, long N, long K, const int32_t *ptr, const int32_t *key,
                        const double *val, const double *B, long ldb, double *C, long ldc,
                        int n_threads, cgrad_depilogue epi, void *ctx)
    long cgrad_scsr_gather(const float *X, long ldx, const int64_t *order, long rows,
                           long cols, long cap, int32_t *ptr, int32_t *idx, float *val,
                           int n_threads)
    long cgrad_dcsr_gather(const double *X, long ldx, const int64_t *order, long rows,
                           long cols, long cap, int32_t *ptr, int32_t *idx, double *val,
                           int n_threads)
    long cgrad_dscsr_gather(const double *X, long ldx, const int64_t *order, long rows,
                            long cols, long cap, int32_t *ptr, int32_t *idx, float *val,
                            int n_threads)
    long cgrad_sdcsr_gather(const float *X, long ldx, const int64_t *order, long rows,
                            long cols, long cap, int32_t *ptr, int32_t *idx, double *val,
                            int n_threads)
    void cgrad_scsr_transpose(long rows, long cols, const int32_t *ptr, const int32_t *idx,
                              const float *val, int32_t *cptr, int32_t *crow, float *cval,
                              int n_threads)
    void cgrad_dcsr_transpose(long rows, long cols, const int32_t *ptr, const int32_t *idx,
                              const double *val, int32_t *cptr, int32_t *crow, double *cval,
                              int n_threads)
    int CGRAD_CSR_SLACK
    int cgrad_spmm_force_fallback(int on)

# Densest batch (non-zeros / entries) the sparse path takes in "auto" mode: the kernel
# alone beats the dense GEMM up to a density of about 0.6 on W1's first layer
# (benchmarks/RESULTS.md), and the cap leaves room for the compression and, in the
# backward pass, the transpose.
SPARSE_MAX_DENSITY = 0.50
# "auto" turns the sparse path on for a fit only when a sample of X's rows is at most this
# dense (then a batch above SPARSE_MAX_DENSITY still runs dense), and IN >= SPARSE_MIN_IN.
SPARSE_AUTO_DENSITY = 0.40
SPARSE_MIN_IN = 16
# A hidden layer fed by a ReLU runs on its compressed input in "auto" mode when it has at
# least this many weights (W3's 1024x1024: yes; W1's 256x128: no): below, compressing and
# transposing the activations costs about what skipping their zeros saves.
SPARSE_HIDDEN_MIN_WEIGHTS = 1 << 18
# predict (layers.pxi) compresses its first layer's input from this many rows: one row
# stays dense, because the sparse kernel packs every row of W per block of keys, and the
# few-rows GEMM kernel streams W once.
PREDICT_SPARSE_MIN_ROWS = 8
# Entries of a batch (rows x IN) above which "auto" stays dense: the workspace is
# 16 bytes per kept non-zero (two int32 indices, two values), and indices are int32.
SPARSE_AUTO_MAX_ENTRIES = 1 << 24


def sparse_mode(value):
    """fit's/Trainer's `sparse` argument checked: 'auto', True or False (NumPy bools
    taken as bools); ValueError otherwise."""
    import numpy as np
    if isinstance(value, np.bool_):
        value = bool(value)
    if value is True or value is False or (isinstance(value, str) and value == "auto"):
        return value
    raise ValueError(f"sparse must be 'auto', True or False, got {value!r}")


cdef struct SparseBatch:
    int32_t* ptr          # rows + 1: row r's terms are [ptr[r], ptr[r+1])
    int32_t* idx          # their columns (increasing); cap + IN + slack entries
    void* val             # their values; as idx
    int32_t* cptr         # IN + 2: the transpose's column starts (and scratch)
    int32_t* crow         # the transpose's rows; as idx
    void* cval            # the transpose's values; as idx
    Py_ssize_t cap        # most terms a batch may have (entries x the density cap)
    double max_density    # > 1: every batch runs sparse


cdef object sparse_workspace(SparseBatch* sb, Py_ssize_t rows, Py_ssize_t cols, dtype,
                             double max_density, Py_ssize_t guard=0):
    """Fill sb with buffers for batches of up to `rows` rows of `cols` columns, keeping at
    most max_density of the entries (> 1: all); returns the arrays (the caller keeps
    them alive).  16 bytes per kept entry (float32; 24 for float64).  guard: extra
    entries after idx and val (tests put a canary there)."""
    import numpy as np
    cdef Py_ssize_t cap = rows * cols
    if rows * cols >= (1 << 31) - 1 - cols - CGRAD_CSR_SLACK:
        raise ValueError(f"a batch of {rows} x {cols} entries is too large for the sparse "
                         "input path (int32 indices); use sparse=False")
    if max_density <= 1.0:
        cap = min(cap, <Py_ssize_t> (max_density * rows * cols))
    cdef Py_ssize_t room = cap + cols + CGRAD_CSR_SLACK   # csr_gather's overshoot
    arrs = [aligned_empty(rows + 1, np.int32), aligned_empty(room + guard, np.int32),
            aligned_empty(room + guard, dtype), aligned_empty(cols + 2, np.int32),
            aligned_empty(room, np.int32), aligned_empty(room, dtype)]
    sb.ptr = <int32_t*> _array_ptr(arrs[0], arrs[0].dtype)
    sb.idx = <int32_t*> _array_ptr(arrs[1], arrs[1].dtype)
    sb.val = _array_ptr(arrs[2], dtype)
    sb.cptr = <int32_t*> _array_ptr(arrs[3], arrs[3].dtype)
    sb.crow = <int32_t*> _array_ptr(arrs[4], arrs[4].dtype)
    sb.cval = _array_ptr(arrs[5], dtype)
    sb.cap = cap
    sb.max_density = max_density
    return arrs


cdef Py_ssize_t sparse_gather(SparseBatch* sb, floating* val, const xfloat* X,
                              Py_ssize_t ldx, const int64_t* order, Py_ssize_t rows,
                              Py_ssize_t cols, int n_threads) noexcept nogil:
    """Compress rows order[0..rows) of X (order NULL: the first rows) into sb, whose
    values val (sb.val) have the network's dtype: X of the other dtype is converted value
    by value as astype would (float64 -> float32: nearest even; zeros after rounding
    dropped).  Returns the number of non-zeros, or -1 when the batch is denser than sb
    allows (run dense)."""
    cdef Py_ssize_t cap = sb.cap
    if sb.max_density <= 1.0:
        cap = min(cap, <Py_ssize_t> (sb.max_density * rows * cols))
    if xfloat is float and floating is float:
        return cgrad_scsr_gather(X, ldx, order, rows, cols, cap, sb.ptr, sb.idx, val,
                                 n_threads)
    elif xfloat is double and floating is double:
        return cgrad_dcsr_gather(X, ldx, order, rows, cols, cap, sb.ptr, sb.idx, val,
                                 n_threads)
    elif xfloat is double:
        return cgrad_dscsr_gather(X, ldx, order, rows, cols, cap, sb.ptr, sb.idx, val,
                                  n_threads)
    else:
        return cgrad_sdcsr_gather(X, ldx, order, rows, cols, cap, sb.ptr, sb.idx, val,
                                  n_threads)


cdef void sparse_act_forward(int act, double alpha, const SparseBatch* sb,
                             const floating* W, const floating* b, floating* z, floating* y,
                             Py_ssize_t N, Py_ssize_t IN, Py_ssize_t OUT,
                             int n_threads) noexcept nogil:
    """z = x @ W + b; y = act(z), x the N compressed rows in sb: dense_act_forward's
    bits (bias and elementwise activation per block of finished rows; softmax after)."""
    cdef _Epilogue e
    cdef bint run_epi
    cdef cgrad_sepilogue epi_s = NULL
    cdef cgrad_depilogue epi_d = NULL
    e.b = b
    e.y = NULL if act == ACT_SOFTMAX else <void*> y
    e.ldy = OUT
    e.act = ACT_IDENTITY if act == ACT_SOFTMAX else act
    e.alpha = alpha
    run_epi = b != NULL or e.y != NULL
    if floating is float:
        if run_epi:
            epi_s = _epilogue_s
        cgrad_sspmm_ex(N, OUT, IN, sb.ptr, sb.idx, <const float*> sb.val, W, OUT, z, OUT,
                       n_threads, epi_s, &e)
    else:
        if run_epi:
            epi_d = _epilogue_d
        cgrad_dspmm_ex(N, OUT, IN, sb.ptr, sb.idx, <const double*> sb.val, W, OUT, z, OUT,
                       n_threads, epi_d, &e)
    if act == ACT_SOFTMAX:
        act_forward(act, alpha, z, y, N, OUT, n_threads)


cdef void sparse_weight_grad(SparseBatch* sb, const floating* dz, floating* dW,
                             floating* db, Py_ssize_t N, Py_ssize_t IN, Py_ssize_t OUT,
                             int n_threads) noexcept nogil:
    """dW = x.T @ dz and db = sum(dz, 0) (both overwritten), x the N compressed rows in
    sb: dense_backward's bits.  Transposes sb's rows into its columns first."""
    if floating is float:
        cgrad_scsr_transpose(N, IN, sb.ptr, sb.idx, <const float*> sb.val, sb.cptr,
                             sb.crow, <float*> sb.cval, n_threads)
        cgrad_sspmm_ex(IN, OUT, N, sb.cptr, sb.crow, <const float*> sb.cval, dz, OUT, dW,
                       OUT, n_threads, NULL, NULL)
    else:
        cgrad_dcsr_transpose(N, IN, sb.ptr, sb.idx, <const double*> sb.val, sb.cptr,
                             sb.crow, <double*> sb.cval, n_threads)
        cgrad_dspmm_ex(IN, OUT, N, sb.cptr, sb.crow, <const double*> sb.cval, dz, OUT, dW,
                       OUT, n_threads, NULL, NULL)
    column_sums(dz, db, N, OUT, False, n_threads)


# ---- Python-visible wrappers (tests, benchmarks): x given dense, compressed here --------

def csr_gather(const floating[:, ::1] X, order=None, double max_density=2.0,
               bint check_bounds=False, int n_threads=1, dtype=None):
    """(ptr, idx, val) of the rows order (default: all) of X, or None when denser than
    max_density (> 1: never).  check_bounds: raise AssertionError if the compression
    wrote past its documented room (a canary after the buffers).  dtype: val's (float32
    or float64; None: X's), X converted as the fused loop converts it."""
    import numpy as np
    cdef SparseBatch sb
    cdef const int64_t* op = NULL
    cdef Py_ssize_t rows = X.shape[0], n
    if order is not None:
        order = np.ascontiguousarray(order, dtype=np.int64)
        if order.ndim != 1 or (order.size and (order.min() < 0 or order.max() >= X.shape[0])):
            raise ValueError("order must be a 1-D array of row indices of X")
        rows = order.shape[0]
        op = <const int64_t*> _array_ptr(order, order.dtype)
    dtype = np.dtype((np.float32 if floating is float else np.float64) if dtype is None
                     else dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    arrs = sparse_workspace(&sb, rows, X.shape[1], dtype, max_density, 64)
    room = arrs[1].shape[0] - 64
    arrs[1][room:] = -7
    arrs[2][room:] = -7.0
    cdef bint f32 = dtype == np.float32
    with nogil:
        if f32:
            n = sparse_gather(&sb, <float*> sb.val, _ptr2(X), X.shape[1], op, rows,
                              X.shape[1], n_threads)
        else:
            n = sparse_gather(&sb, <double*> sb.val, _ptr2(X), X.shape[1], op, rows,
                              X.shape[1], n_threads)
    if check_bounds and ((arrs[1][room:] != -7).any() or (arrs[2][room:] != -7.0).any()):
        raise AssertionError("csr_gather wrote past its room")
    if n < 0:
        return None
    return arrs[0].copy(), arrs[1][:n].copy(), arrs[2][:n].copy()


def sparse_linear_act_forward(int act, double alpha, const floating[:, ::1] x,
                              const floating[:, ::1] W, const floating[::1] b,
                              floating[:, ::1] z, floating[:, ::1] y, int n_threads=1):
    """linear_act_forward through the sparse path (x compressed first); the same bits.
    Returns x's number of non-zeros."""
    import numpy as np
    cdef SparseBatch sb
    cdef Py_ssize_t N = x.shape[0], IN = x.shape[1], OUT = W.shape[1], n
    _check_act(act)
    _check_dense(IN, W.shape[0], OUT, -1 if b is None else b.shape[0])
    _check_shape("z", z.shape[0], z.shape[1], N, OUT)
    _check_shape("y", y.shape[0], y.shape[1], N, OUT)
    dtype = np.float32 if floating is float else np.float64
    arrs = sparse_workspace(&sb, N, IN, dtype, 2.0)
    if N == 0 or OUT == 0:
        return 0
    with nogil:
        n = sparse_gather(&sb, <floating*> sb.val, _ptr2(x), IN, NULL, N, IN, n_threads)
        sparse_act_forward(act, alpha, &sb, _ptr2(W), _ptr1(b), <floating*> _ptr2(z),
                           <floating*> _ptr2(y), N, IN, OUT, n_threads)
    return n


def sparse_linear_weight_grad(const floating[:, ::1] x, const floating[:, ::1] dz,
                              floating[:, ::1] dW, floating[::1] db, int n_threads=1):
    """dW = x.T @ dz; db = dz.sum(0) through the sparse path (x compressed first):
    linear_backward's bits with accumulate=False."""
    import numpy as np
    cdef SparseBatch sb
    cdef Py_ssize_t N = x.shape[0], IN = x.shape[1], OUT = dz.shape[1]
    _check_shape("dz", dz.shape[0], dz.shape[1], N, OUT)
    _check_shape("dW", dW.shape[0], dW.shape[1], IN, OUT)
    _check_shape("db", db.shape[0], 1, OUT, 1)
    dtype = np.float32 if floating is float else np.float64
    arrs = sparse_workspace(&sb, N, IN, dtype, 2.0)
    if IN == 0 or OUT == 0:
        return
    with nogil:
        sparse_gather(&sb, <floating*> sb.val, _ptr2(x), IN, NULL, N, IN, n_threads)
        sparse_weight_grad(&sb, _ptr2(dz), <floating*> _ptr2(dW), <floating*> _ptr1(db), N,
                           IN, OUT, n_threads)


def spmm_force_fallback(bint on):
    """Tests: run the sparse product through its out-of-memory fallback (the plain loop,
    same bits) while on; returns the previous setting."""
    return bool(cgrad_spmm_force_fallback(on))
