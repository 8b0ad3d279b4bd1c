# dense.pxi -- GEMM entry points (src/c/gemm.c) and the dense layer built on them.
#
#   forward   z = x @ W + b                 GEMM NN (M=N,  N=OUT, K=IN), epilogue: + b [, act]
#   backward  dW (+)= x.T @ dz              GEMM TN (M=IN, N=OUT, K=N)
#             db (+)= sum(dz, axis=0)       columns split across threads, each in row order
#             dx  = dz @ W.T                GEMM NT (M=N,  N=IN,  K=OUT), skipped if dx NULL
#
# Shapes: x (N, IN), W (IN, OUT) row-major (sklearn coefs_ layout), b (OUT,), z/y (N, OUT).
# Parameter gradients accumulate when `accumulate` is set (else they are overwritten and
# never read); dx is always overwritten.  The bias and elementwise activations run in
# the GEMM epilogue, tile by tile while the tile is in cache.

cdef extern from "cgrad.h" nogil:
    ctypedef void (*cgrad_sepilogue)(void *ctx, float *tile, long ldc, long i0, long j0,
                                     long m, long n) noexcept nogil
    ctypedef void (*cgrad_depilogue)(void *ctx, double *tile, long ldc, long i0, long j0,
                                     long m, long n) noexcept nogil
    void cgrad_sgemm_ex(int transA, int transB, long M, long N, long K, float alpha,
                        const float *A, long lda, const float *B, long ldb, float beta,
                        float *C, long ldc, int n_threads, cgrad_sepilogue epi, void *ctx)
    void cgrad_dgemm_ex(int transA, int transB, long M, long N, long K, double alpha,
                        const double *A, long lda, const double *B, long ldb, double beta,
                        double *C, long ldc, int n_threads, cgrad_depilogue epi, void *ctx)
    ctypedef struct cgrad_sgemm_row:
        const char *name
        int mr, nr
        long kc, mc, nc
        double nopack_serial
    ctypedef struct cgrad_dgemm_row:
        const char *name
        int mr, nr
        long kc, mc, nc
        double nopack_serial
    ctypedef struct cgrad_sdz:
        int kind
        const float *y
        long ldy
        float *out
        long ldo
    ctypedef struct cgrad_ddz:
        int kind
        const double *y
        long ldy
        double *out
        long ldo
    int CGRAD_DZ_RELU, CGRAD_DZ_SIGMOID, CGRAD_DZ_TANH
    void cgrad_sgemm_dz(long M, long N, long K, const float *A, long lda, const float *dA,
                        long ldb, float beta, float *C, long ldc, int n_threads,
                        const cgrad_sdz *dz)
    void cgrad_dgemm_dz(long M, long N, long K, const double *A, long lda, const double *dA,
                        long ldb, double beta, double *C, long ldc, int n_threads,
                        const cgrad_ddz *dz)
    int cgrad_sgemm_dz_packs(long M, long N, long K, int n_threads)
    int cgrad_dgemm_dz_packs(long M, long N, long K, int n_threads)
    const cgrad_sgemm_row *cgrad_sgemm_selected()
    const cgrad_dgemm_row *cgrad_dgemm_selected()
    double cgrad_gemm_set_nopack_threshold(double mnk)
    double cgrad_gemm_serial_mnk()


# Columns of db per parallel work item (each summed over all rows, in row order).
cdef Py_ssize_t DB_BLOCK = 64


cdef struct _Epilogue:
    const void *b           # (OUT,) bias or NULL
    void *y                 # (N, OUT) activation output or NULL (then no activation)
    Py_ssize_t ldy
    int act
    double alpha


cdef inline void _epilogue_tile(_Epilogue *e, floating *tile, long ldc, long i0, long j0,
                                long m, long n) noexcept nogil:
    """tile += b[j0:j0+n] (rows of z); then y[i0.., j0..] = act(tile)."""
    cdef const floating *b = <const floating *> e.b
    cdef floating *row
    cdef long i, j
    if b != NULL:
        for i in range(m):
            row = tile + i * ldc
            for j in range(n):
                row[j] = row[j] + b[j0 + j]
    if e.y == NULL:
        return
    if ldc == n and e.ldy == n:      # whole rows (the no-pack path: all of C): one call
        _act_forward_span(e.act, e.alpha, tile, <floating *> e.y + i0 * n + j0, m * n)
        return
    for i in range(m):
        _act_forward_span(e.act, e.alpha, tile + i * ldc,
                          <floating *> e.y + (i0 + i) * e.ldy + j0, n)


cdef void _epilogue_s(void *ctx, float *tile, long ldc, long i0, long j0,
                      long m, long n) noexcept nogil:
    _epilogue_tile(<_Epilogue *> ctx, tile, ldc, i0, j0, m, n)


cdef void _epilogue_d(void *ctx, double *tile, long ldc, long i0, long j0,
                      long m, long n) noexcept nogil:
    _epilogue_tile(<_Epilogue *> ctx, tile, ldc, i0, j0, m, n)


cdef void gemm_ex(bint transA, bint transB, Py_ssize_t M, Py_ssize_t N, Py_ssize_t K,
                  double alpha, const floating *A, Py_ssize_t lda, const floating *B,
                  Py_ssize_t ldb, double beta, floating *C, Py_ssize_t ldc, int n_threads,
                  _Epilogue *epi) noexcept nogil:
    """C = alpha * op(A) @ op(B) + beta * C, then the epilogue (if not NULL) per tile."""
    cdef cgrad_sepilogue epi_s = NULL
    cdef cgrad_depilogue epi_d = NULL
    if floating is float:
        if epi != NULL:
            epi_s = _epilogue_s
        cgrad_sgemm_ex(transA, transB, M, N, K, <float> alpha, A, lda, B, ldb, <float> beta,
                       C, ldc, n_threads, epi_s, epi)
    else:
        if epi != NULL:
            epi_d = _epilogue_d
        cgrad_dgemm_ex(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta,
                       C, ldc, n_threads, epi_d, epi)


cdef extern from "cgrad.h" nogil:
    void cgrad_scolumn_sums(const float *dz, long ldz, long N, long ncols, float *db,
                            int accumulate)
    void cgrad_dcolumn_sums(const double *dz, long ldz, long N, long ncols, double *db,
                            int accumulate)


cdef inline void _column_sums_block(const floating *dz, floating *db, Py_ssize_t N,
                                    Py_ssize_t OUT, Py_ssize_t j0, Py_ssize_t j1,
                                    bint accumulate) noexcept nogil:
    """db[j] (+)= sum_i dz[i, j] for j in [j0, j1), in float64, rows in order, rounded
    once (src/c/reduce*.c: lanes are columns, compiled per ISA, the same bits)."""
    if floating is float:
        cgrad_scolumn_sums(dz + j0, OUT, N, j1 - j0, db + j0, accumulate)
    else:
        cgrad_dcolumn_sums(dz + j0, OUT, N, j1 - j0, db + j0, accumulate)


cdef struct _ColumnSumArgs:
    void* db
    Py_ssize_t N, OUT
    bint accumulate


cdef void _column_sums_chunk(const void* ctx, const floating* dz, Py_ssize_t blk) noexcept nogil:
    cdef const _ColumnSumArgs* a = <const _ColumnSumArgs*> ctx
    _column_sums_block(dz, <floating*> a.db, a.N, a.OUT, blk * DB_BLOCK,
                       min((blk + 1) * DB_BLOCK, a.OUT), a.accumulate)


cdef void column_sums(const floating *dz, floating *db, Py_ssize_t N, Py_ssize_t OUT,
                      bint accumulate, int n_threads) noexcept nogil:
    """db (+)= sum(dz, axis=0); threads split columns, never rows (bitwise reproducible)."""
    cdef Py_ssize_t n_blocks = (OUT + DB_BLOCK - 1) // DB_BLOCK
    cdef _ColumnSumArgs a
    a.db, a.N, a.OUT, a.accumulate = db, N, OUT, accumulate
    for_chunks(_column_sums_chunk[floating], &a, dz, n_blocks,
               _threads_for(N * OUT, n_threads) if n_blocks > 1 else 1)


cdef void dense_forward(const floating* x, const floating* W, const floating* b, floating* z,
                        Py_ssize_t N, Py_ssize_t IN, Py_ssize_t OUT,
                        int n_threads) noexcept nogil:
    """z = x @ W + b.  x (N, IN), W (IN, OUT), b (OUT,) or NULL, z (N, OUT) OUT."""
    cdef _Epilogue e
    e.b = b
    e.y = NULL
    e.ldy = OUT
    e.act = ACT_IDENTITY
    e.alpha = 0.0
    gemm_ex(False, False, N, OUT, IN, 1.0, x, IN, W, OUT, 0.0, z, OUT, n_threads,
            &e if b != NULL else NULL)


cdef void dense_backward(const floating* dz, const floating* x, const floating* W,
                         floating* dW, floating* db, floating* dx, Py_ssize_t N,
                         Py_ssize_t IN, Py_ssize_t OUT, bint accumulate,
                         int n_threads) noexcept nogil:
    """dW (+)= x.T @ dz; db (+)= sum(dz, 0); dx = dz @ W.T (skipped when dx is NULL).
    dz (N, OUT), x (N, IN), W (IN, OUT) IN; dW (IN, OUT), db (OUT,), dx (N, IN) OUT."""
    gemm_ex(True, False, IN, OUT, N, 1.0, x, IN, dz, OUT, 1.0 if accumulate else 0.0,
            dW, OUT, n_threads, <_Epilogue *> NULL)
    column_sums(dz, db, N, OUT, accumulate, n_threads)
    if dx != NULL:
        gemm_ex(False, True, N, IN, OUT, 1.0, dz, OUT, W, OUT, 0.0, dx, IN, n_threads,
                <_Epilogue *> NULL)


cdef void dense_act_forward(int act, double alpha, const floating* x, const floating* W,
                            const floating* b, floating* z, floating* y, Py_ssize_t N,
                            Py_ssize_t IN, Py_ssize_t OUT, int n_threads) noexcept nogil:
    """z = x @ W + b; y = act(z).  Elementwise activations run in the GEMM epilogue on
    each finished tile; softmax (row-wise) runs after the GEMM."""
    cdef _Epilogue e
    if act == ACT_SOFTMAX:
        dense_forward(x, W, b, z, N, IN, OUT, n_threads)
        act_forward(act, alpha, z, y, N, OUT, n_threads)
        return
    e.b = b
    e.y = y
    e.ldy = OUT
    e.act = act
    e.alpha = alpha
    gemm_ex(False, False, N, OUT, IN, 1.0, x, IN, W, OUT, 0.0, z, OUT, n_threads, &e)


cdef inline bint act_grad_while_packing(int act, Py_ssize_t N, Py_ssize_t IN,
                                        Py_ssize_t OUT, int n_threads,
                                        floating* dummy) noexcept nogil:
    """True if dense_act_backward, given its own dz buffer, applies act' while packing
    dZ for this layer (act' from y, and the weight-gradient GEMM takes the packed path).
    Otherwise the in-place derivative pass (dz = dy) is the cheaper call."""
    if act != ACT_RELU and act != ACT_SIGMOID and act != ACT_TANH:
        return False
    if floating is float:
        return cgrad_sgemm_dz_packs(IN, OUT, N, n_threads) != 0
    else:
        return cgrad_dgemm_dz_packs(IN, OUT, N, n_threads) != 0


cdef void dense_act_backward(int act, double alpha, const floating* dy, const floating* z,
                             const floating* y, floating* dz, const floating* x,
                             const floating* W, floating* dW, floating* db, floating* dx,
                             Py_ssize_t N, Py_ssize_t IN, Py_ssize_t OUT, bint accumulate,
                             int n_threads) noexcept nogil:
    """dz = dy * act'(z) (dz may alias dy), then dense_backward(dz, ...).

    When dz is its own buffer and act' comes from y alone (relu, sigmoid, tanh), the
    derivative is applied while the weight-gradient GEMM packs dZ's panels (reading dy
    and y once; the packing also stores dz for the bias gradient and dx): no separate
    pass over dy, and the same bits as that pass."""
    cdef int kind = -1
    cdef cgrad_sdz sd
    cdef cgrad_ddz dd
    if dz != dy:
        if act == ACT_RELU:
            kind = CGRAD_DZ_RELU
        elif act == ACT_SIGMOID:
            kind = CGRAD_DZ_SIGMOID
        elif act == ACT_TANH:
            kind = CGRAD_DZ_TANH
    if kind < 0 or N == 0:
        act_backward(act, alpha, z, y, dy, dz, N, OUT, n_threads)
        dense_backward(dz, x, W, dW, db, dx, N, IN, OUT, accumulate, n_threads)
        return
    if floating is float:
        sd.kind, sd.y, sd.ldy, sd.out, sd.ldo = kind, y, OUT, dz, OUT
        cgrad_sgemm_dz(IN, OUT, N, x, IN, dy, OUT, 1.0 if accumulate else 0.0, dW, OUT,
                       n_threads, &sd)
    else:
        dd.kind, dd.y, dd.ldy, dd.out, dd.ldo = kind, y, OUT, dz, OUT
        cgrad_dgemm_dz(IN, OUT, N, x, IN, dy, OUT, 1.0 if accumulate else 0.0, dW, OUT,
                       n_threads, &dd)
    column_sums(dz, db, N, OUT, accumulate, n_threads)
    if dx != NULL:
        gemm_ex(False, True, N, IN, OUT, 1.0, dz, OUT, W, OUT, 0.0, dx, IN, n_threads,
                <_Epilogue *> NULL)


# ---- Python-visible wrappers: shape checks, GIL released ---------------------------------
# (named linear_* like cgrad.reference / cgrad.ops: the dense_* names are the cdef kernels)

cdef inline const floating* _ptr2(const floating[:, ::1] a) noexcept nogil:
    """&a[0, 0], or NULL for an empty (or None) array (never dereferenced then)."""
    if a is None or a.shape[0] == 0 or a.shape[1] == 0:
        return NULL
    return &a[0, 0]


cdef inline const floating* _ptr1(const floating[::1] a) noexcept nogil:
    if a is None or a.shape[0] == 0:
        return NULL
    return &a[0]


cdef int _check_shape(str name, Py_ssize_t r, Py_ssize_t c, Py_ssize_t r0,
                      Py_ssize_t c0) except -1:
    if r != r0 or c != c0:
        raise ValueError(f"{name} has shape ({r}, {c}), expected ({r0}, {c0})")
    return 0


def gemm(bint transA, bint transB, double alpha, const floating[:, ::1] A,
         const floating[:, ::1] B, double beta, floating[:, ::1] C, int n_threads=1):
    """C = alpha * op(A) @ op(B) + beta * C (op = transpose if the flag is set).
    beta == 0: C is not read."""
    cdef Py_ssize_t M = A.shape[1] if transA else A.shape[0]
    cdef Py_ssize_t K = A.shape[0] if transA else A.shape[1]
    cdef Py_ssize_t KB = B.shape[1] if transB else B.shape[0]
    cdef Py_ssize_t N = B.shape[0] if transB else B.shape[1]
    if KB != K:
        raise ValueError(f"op(B) has {KB} rows, expected {K} to match op(A)'s columns")
    _check_shape("C", C.shape[0], C.shape[1], M, N)
    with nogil:
        gemm_ex(transA, transB, M, N, K, alpha, _ptr2(A), A.shape[1], _ptr2(B), B.shape[1],
                beta, <floating *> _ptr2(C), N, n_threads, <_Epilogue *> NULL)


def gemm_blocking():
    """The selected ISA's GEMM blocking: {"float32": {...}, "float64": {...}}."""
    cdef const cgrad_sgemm_row *s = cgrad_sgemm_selected()
    cdef const cgrad_dgemm_row *d = cgrad_dgemm_selected()
    return {"float32": dict(isa=s.name.decode(), mr=s.mr, nr=s.nr, kc=s.kc, mc=s.mc, nc=s.nc,
                            nopack_serial=s.nopack_serial),
            "float64": dict(isa=d.name.decode(), mr=d.mr, nr=d.nr, kc=d.kc, mc=d.mc, nc=d.nc,
                            nopack_serial=d.nopack_serial)}


def gemm_set_nopack_threshold(double mnk):
    """Set the M*N*K at or below which GEMM skips packing (one thread); returns the
    previous value.  For tests and benchmarks: call between GEMM calls only."""
    return cgrad_gemm_set_nopack_threshold(mnk)


cdef int _check_dense(Py_ssize_t x_cols, Py_ssize_t w_rows, Py_ssize_t w_cols,
                      Py_ssize_t b_len) except -1:
    """W must be (x_cols, *); b (w_cols,) unless b_len < 0 (no bias)."""
    if w_rows != x_cols:
        raise ValueError(f"W has shape ({w_rows}, {w_cols}), expected "
                         f"({x_cols}, *) to match x's {x_cols} columns")
    if b_len >= 0 and b_len != w_cols:
        raise ValueError(f"b has shape ({b_len},), expected ({w_cols},)")
    return 0


def linear_forward(const floating[:, ::1] x, const floating[:, ::1] W, const floating[::1] b,
                  floating[:, ::1] z, int n_threads=1):
    """z = x @ W + b.  x (N, IN), W (IN, OUT), b (OUT,) or None IN; z (N, OUT) OUT."""
    _check_dense(x.shape[1], W.shape[0], W.shape[1], -1 if b is None else b.shape[0])
    _check_shape("z", z.shape[0], z.shape[1], x.shape[0], W.shape[1])
    with nogil:
        dense_forward(_ptr2(x), _ptr2(W), _ptr1(b), <floating *> _ptr2(z),
                      x.shape[0], x.shape[1], W.shape[1], n_threads)


def linear_backward(const floating[:, ::1] dz, const floating[:, ::1] x,
                   const floating[:, ::1] W, floating[:, ::1] dW, floating[::1] db,
                   floating[:, ::1] dx, bint accumulate, int n_threads=1):
    """dW (+)= x.T @ dz; db (+)= dz.sum(0); dx = dz @ W.T (dx None: skipped)."""
    cdef Py_ssize_t N = x.shape[0], IN = x.shape[1], OUT = W.shape[1]
    _check_dense(x.shape[1], W.shape[0], W.shape[1], -1)
    _check_shape("dz", dz.shape[0], dz.shape[1], N, OUT)
    _check_shape("dW", dW.shape[0], dW.shape[1], IN, OUT)
    _check_shape("db", db.shape[0], 1, OUT, 1)
    if dx is not None:
        _check_shape("dx", dx.shape[0], dx.shape[1], N, IN)
    with nogil:
        dense_backward(_ptr2(dz), _ptr2(x), _ptr2(W), <floating *> _ptr2(dW),
                       <floating *> _ptr1(db), <floating *> _ptr2(dx), N, IN, OUT,
                       accumulate, n_threads)


def linear_act_forward(int act, double alpha, const floating[:, ::1] x,
                      const floating[:, ::1] W, const floating[::1] b, floating[:, ::1] z,
                      floating[:, ::1] y, int n_threads=1):
    """z = x @ W + b; y = act(z) (fused epilogue for elementwise activations)."""
    _check_act(act)
    _check_dense(x.shape[1], W.shape[0], W.shape[1], -1 if b is None else b.shape[0])
    _check_shape("z", z.shape[0], z.shape[1], x.shape[0], W.shape[1])
    _check_shape("y", y.shape[0], y.shape[1], x.shape[0], W.shape[1])
    if x.shape[0] == 0 or W.shape[1] == 0:
        return
    with nogil:
        dense_act_forward(act, alpha, _ptr2(x), _ptr2(W), _ptr1(b), <floating *> _ptr2(z),
                          <floating *> _ptr2(y), x.shape[0], x.shape[1], W.shape[1],
                          n_threads)


def linear_act_backward(int act, double alpha, const floating[:, ::1] dy,
                       const floating[:, ::1] z, const floating[:, ::1] y,
                       floating[:, ::1] dz, const floating[:, ::1] x,
                       const floating[:, ::1] W, floating[:, ::1] dW, floating[::1] db,
                       floating[:, ::1] dx, bint accumulate, int n_threads=1):
    """dz = dy * act'(z) (dz may be dy); dW (+)= x.T @ dz; db (+)= dz.sum(0); dx = dz @ W.T."""
    cdef Py_ssize_t N = x.shape[0], IN = x.shape[1], OUT = W.shape[1]
    _check_act(act)
    _check_dense(x.shape[1], W.shape[0], W.shape[1], -1)
    for name, a in (("dy", dy), ("z", z), ("y", y), ("dz", dz)):
        _check_shape(name, a.shape[0], a.shape[1], N, OUT)
    _check_shape("dW", dW.shape[0], dW.shape[1], IN, OUT)
    _check_shape("db", db.shape[0], 1, OUT, 1)
    if dx is not None:
        _check_shape("dx", dx.shape[0], dx.shape[1], N, IN)
    if N == 0 or OUT == 0:
        linear_backward(dz, x, W, dW, db, dx, accumulate, n_threads)
        return
    with nogil:
        dense_act_backward(act, alpha, _ptr2(dy), _ptr2(z), _ptr2(y), <floating *> _ptr2(dz),
                           _ptr2(x), _ptr2(W), <floating *> _ptr2(dW), <floating *> _ptr1(db),
                           <floating *> _ptr2(dx), N, IN, OUT, accumulate, n_threads)
