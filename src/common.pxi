# common.pxi -- fused float type, the OpenMP shim, FP-mode control, shared constants.
cimport cython
from cython cimport floating
from cython.parallel cimport prange
from libc.stdlib cimport malloc, free, calloc
from libc.string cimport memset, memcpy
from libc.stdint cimport int32_t, int64_t, uint64_t
from libc.math cimport (exp, expf, log, logf, log1p, tanh, sqrt, sqrtf, fabs, fabsf, isnan,
                        isinf, NAN, INFINITY, expm1)

# The training data's dtype, independent of the network's (`floating`): fit reads a float64
# X for a float32 network batch by batch, rounding each value as X.astype(float32) would,
# instead of converting all of X first (and float32 X for a float64 network, widened).
ctypedef fused xfloat:
    float
    double

# OpenMP shim (sklearn _openmp_helpers idea): a build without OpenMP still compiles,
# serial, and reports openmp_enabled() == False.
cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    #define CGRAD_OPENMP_ENABLED 1
    #define CGRAD_OPENMP_VERSION _OPENMP
    #else
    #define CGRAD_OPENMP_ENABLED 0
    #define CGRAD_OPENMP_VERSION 0
    static inline int omp_get_max_threads(void) { return 1; }
    static inline void omp_set_num_threads(int n) { (void)n; }
    static inline int omp_get_thread_num(void) { return 0; }
    static inline int omp_get_num_procs(void) { return 1; }
    #endif

    /* Flush-to-zero / denormals-are-zero (x86 MXCSR bits 15 and 6).  float32 training
       drifts into denormals; they cost ~100 cycles each on x86.  No-ops elsewhere. */
    #if defined(__SSE__) || defined(_M_X64) || defined(__x86_64__)
    #include <xmmintrin.h>
    static inline unsigned int cgrad_get_fpmode(void) { return _mm_getcsr(); }
    static inline void cgrad_set_fpmode(unsigned int m) { _mm_setcsr(m); }
    #define CGRAD_FTZ_DAZ_BITS 0x8040u
    #else
    static inline unsigned int cgrad_get_fpmode(void) { return 0u; }
    static inline void cgrad_set_fpmode(unsigned int m) { (void)m; }
    #define CGRAD_FTZ_DAZ_BITS 0u
    #endif

    /* Read-prefetch hint (into L2 and up): the fused loop fetches the next batch's
       randomly ordered rows while the current batch computes. */
    #if defined(__GNUC__) || defined(__clang__)
    #define cgrad_prefetch(p) __builtin_prefetch((const void *)(p), 0, 2)
    #else
    #define cgrad_prefetch(p) ((void)(p))
    #endif

    /* Ctrl-C inside compiled loops: while a long call runs without the GIL, Python's own
       SIGINT handler cannot run, so the caller installs this one (main thread only, and
       only over Python's default handler); the loops poll the flag between steps or
       blocks and return early, and the caller restores the handler and raises
       KeyboardInterrupt.  No-ops where POSIX sigaction is missing. */
    #if defined(_WIN32)
    static inline int cgrad_sigint_install(void) { return 0; }
    static inline void cgrad_sigint_restore(void) { }
    static inline int cgrad_sigint_pending(void) { return 0; }
    #else
    #include <signal.h>
    #include <string.h>
    static volatile sig_atomic_t cgrad_sigint_flag = 0;
    static struct sigaction cgrad_sigint_old;
    static int cgrad_sigint_active = 0;
    static void cgrad_sigint_handler(int sig) { (void)sig; cgrad_sigint_flag = 1; }
    static inline int cgrad_sigint_install(void) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = cgrad_sigint_handler;
        sigemptyset(&sa.sa_mask);
        cgrad_sigint_flag = 0;
        if (cgrad_sigint_active || sigaction(SIGINT, &sa, &cgrad_sigint_old) != 0) return 0;
        cgrad_sigint_active = 1;
        return 1;
    }
    static inline void cgrad_sigint_restore(void) {
        if (cgrad_sigint_active) sigaction(SIGINT, &cgrad_sigint_old, NULL);
        cgrad_sigint_active = 0;
        cgrad_sigint_flag = 0;
    }
    static inline int cgrad_sigint_pending(void) { return cgrad_sigint_flag; }
    #endif

    /* Monotonic wall clock in seconds (the Trainer's opt-in phase timers). */
    #if defined(_WIN32)
    #include <windows.h>
    static inline double cgrad_now(void) {
        LARGE_INTEGER f, c;
        QueryPerformanceFrequency(&f);
        QueryPerformanceCounter(&c);
        return (double)c.QuadPart / (double)f.QuadPart;
    }
    #else
    #include <time.h>
    static inline double cgrad_now(void) {
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
    }
    #endif
    """
    bint CGRAD_OPENMP_ENABLED
    int CGRAD_OPENMP_VERSION
    unsigned int CGRAD_FTZ_DAZ_BITS
    int omp_get_max_threads() noexcept nogil
    void omp_set_num_threads(int) noexcept nogil
    int omp_get_thread_num() noexcept nogil
    int omp_get_num_procs() noexcept nogil
    unsigned int cgrad_get_fpmode() noexcept nogil
    void cgrad_set_fpmode(unsigned int) noexcept nogil
    double cgrad_now() noexcept nogil
    void cgrad_prefetch(const void*) noexcept nogil
    int cgrad_sigint_install() noexcept nogil
    void cgrad_sigint_restore() noexcept nogil
    int cgrad_sigint_pending() noexcept nogil


cdef class Interruptible:
    """`with Interruptible(raise_on_exit) as it:` around a long nogil call that polls
    cgrad_sigint_pending(): on the main thread, over Python's default SIGINT handler,
    Ctrl-C sets the flag instead of waiting for the call to return.  On leaving, the
    handler is restored; `it.hit` tells whether Ctrl-C came, and with raise_on_exit it
    raises KeyboardInterrupt."""
    cdef bint installed
    cdef bint raise_on_exit
    cdef public bint hit

    def __init__(self, bint raise_on_exit=True):
        self.raise_on_exit = raise_on_exit

    def __enter__(self):
        import signal
        import threading
        self.hit = False
        self.installed = (threading.current_thread() is threading.main_thread()
                          and signal.getsignal(signal.SIGINT) is signal.default_int_handler
                          and cgrad_sigint_install() != 0)
        return self

    def __exit__(self, exc_type, exc, tb):
        if self.installed:
            self.hit = cgrad_sigint_pending() != 0
            cgrad_sigint_restore()
            self.installed = False
        if self.hit and self.raise_on_exit and exc_type is None:
            raise KeyboardInterrupt
        return False

cdef extern from "cgrad.h" nogil:
    int CGRAD_ISA_GENERIC, CGRAD_ISA_AVX2, CGRAD_ISA_AVX512, CGRAD_ISA_NEON
    int cgrad_isa_supported_best()
    int cgrad_isa_available(int isa)
    int cgrad_isa_selected()
    int cgrad_isa_select(int isa)
    const char *cgrad_isa_name(int isa)
    int cgrad_isa_init()
    ctypedef struct cgrad_caches:
        long l1d, l2, l3
        int env_error
    int CGRAD_CACHE_UNKNOWN, CGRAD_CACHE_FROM_ENV, CGRAD_CACHE_FROM_SYSFS
    int CGRAD_CACHE_FROM_SYSCONF
    const cgrad_caches *cgrad_cache_sizes(int *source)

# Below this many element-operations a loop runs on one thread: an OpenMP parallel
# region costs microseconds, and small MLPs live in that regime (see benchmarks/).
cdef Py_ssize_t PAR_MIN_WORK = 1 << 15
# Reductions are summed in fixed-size chunks, then the chunk sums in index order, so
# the result does not depend on the thread count.
cdef Py_ssize_t REDUCE_CHUNK = 4096
# Chunk partial sums live on the stack up to this many chunks (4M elements): no heap
# allocation inside a training step below that (cgrad_alloc_count counts the rest).
cdef enum:
    STACK_CHUNKS = 1024


cdef extern from "cgrad.h" nogil:
    void cgrad_count_alloc()
    long cgrad_alloc_count()


def alloc_count():
    """Heap allocations made so far inside the kernels a training step calls (tests)."""
    return cgrad_alloc_count()


cdef double* chunk_partials(double* stack_part, Py_ssize_t n_chunks) noexcept nogil:
    """stack_part (STACK_CHUNKS doubles) when it holds n_chunks, else a counted malloc
    (NULL on failure); release with free_partials."""
    if n_chunks <= STACK_CHUNKS:
        return stack_part
    cgrad_count_alloc()
    return <double*> malloc(n_chunks * sizeof(double))


cdef inline void free_partials(double* part, double* stack_part) noexcept nogil:
    if part != stack_part:
        free(part)


cdef inline int _threads_for(Py_ssize_t work, int n_threads) noexcept nogil:
    """1 below the parallel threshold, else n_threads (at least 1)."""
    if n_threads < 1 or work < PAR_MIN_WORK:
        return 1
    return n_threads


cdef void _for_chunks_parallel(
        void (*body)(const void*, const floating*, Py_ssize_t) noexcept nogil,
        const void* ctx, const floating* x, Py_ssize_t n_chunks, int nt) noexcept nogil:
    cdef Py_ssize_t c
    for c in prange(n_chunks, schedule="static", num_threads=nt):
        body(ctx, x, c)


cdef inline void for_chunks(
        void (*body)(const void*, const floating*, Py_ssize_t) noexcept nogil,
        const void* ctx, const floating* x, Py_ssize_t n_chunks, int nt) noexcept nogil:
    """body(ctx, x, c) for every chunk c in [0, n_chunks), split statically over nt threads.
    x is the body's main input (its type picks the body's dtype); ctx holds the rest.
    nt <= 1 runs a plain loop: entering a parallel region costs tens of times a small
    loop's work even on one thread or under if(0) (prange's use_threads_if), and a small
    MLP's step runs about ten of these loops (benchmarks/RESULTS.md).  The parallel loop
    is a function of its own so that this one stays small enough to inline, where body
    is a direct call."""
    cdef Py_ssize_t c
    if nt > 1:
        _for_chunks_parallel(body, ctx, x, n_chunks, nt)
        return
    for c in range(n_chunks):
        body(ctx, x, c)


cdef inline double sum_over_chunks(
        void (*body)(const void*, const floating*, Py_ssize_t) noexcept nogil,
        const void* ctx, double** part, double* stack_part, const floating* x,
        Py_ssize_t n_chunks, int nt) noexcept nogil:
    """The sum, in chunk order, of the values body(ctx, x, c) stores at (*part)[c] for
    every chunk c, so that it does not depend on the thread count.  *part, a field of
    ctx, is pointed at stack_part (the caller's STACK_CHUNKS doubles: a stack array
    here would keep this function from being inlined) or, past that, at a counted
    malloc.  NaN if that allocation fails."""
    cdef double total = 0.0
    cdef Py_ssize_t c
    part[0] = chunk_partials(stack_part, n_chunks)
    if part[0] == NULL:
        return NAN
    for_chunks(body, ctx, x, n_chunks, nt)
    for c in range(n_chunks):
        total += part[0][c]
    free_partials(part[0], stack_part)
    return total


cdef extern from "cgrad.h" nogil:
    void cgrad_ssum_chunks(const float *x, long n, long chunk, int power, double *out)
    void cgrad_dsum_chunks(const double *x, long n, long chunk, int power, double *out)


cdef inline void _chunk_sums(const floating* x, Py_ssize_t n, Py_ssize_t chunk, int power,
                             double* out) noexcept nogil:
    """out[c] = the span sum of chunk c of x[:n] (ceil(n / chunk) values): f(x) = x
    (power 1), |x| (0) or x*x (2) summed in double with 8 interleaved accumulators
    (element i goes to accumulator i % 8, combined in a fixed order; cgrad.h), so the
    order is fixed and the independent chains run at load speed.  Compiled per ISA
    (src/c/reduce*.c), the same bits on every one."""
    if floating is float:
        cgrad_ssum_chunks(x, n, chunk, power, out)
    else:
        cgrad_dsum_chunks(x, n, chunk, power, out)


cdef struct _SumArgs:
    double* part
    Py_ssize_t n
    int power


cdef void _sum_chunk(const void* ctx, const floating* x, Py_ssize_t c) noexcept nogil:
    cdef const _SumArgs* a = <const _SumArgs*> ctx
    cdef Py_ssize_t lo = c * REDUCE_CHUNK
    _chunk_sums(x + lo, min(REDUCE_CHUNK, a.n - lo), REDUCE_CHUNK, a.power, a.part + c)


cdef double chunked_sum(const floating* x, Py_ssize_t n, int power, int n_threads) noexcept nogil:
    """sum(x) (power 1), sum(|x|) (power 0) or sum(x**2) (power 2), in float64, with a
    fixed summation order: the span sum (_chunk_sums) within REDUCE_CHUNK-sized chunks,
    then the chunk sums in index order.  Returns NaN if allocation fails."""
    cdef double total = 0.0
    cdef double stack_part[STACK_CHUNKS]
    cdef _SumArgs a
    if n <= 0:
        return 0.0
    if n <= REDUCE_CHUNK:
        _chunk_sums(x, n, REDUCE_CHUNK, power, &total)
        return total
    a.n, a.power = n, power
    return sum_over_chunks(_sum_chunk[floating], &a, &a.part, stack_part, x,
                           (n + REDUCE_CHUNK - 1) // REDUCE_CHUNK, _threads_for(n, n_threads))


def chunk_sums(const floating[::1] x, Py_ssize_t chunk, int power):
    """The per-chunk span sums of x (a list of ceil(n / chunk) floats): the kernel under
    chunked_sum, exposed so tests can pin its order on every ISA and chunk size."""
    cdef Py_ssize_t n = x.shape[0], n_chunks
    cdef double* out
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    if power not in (0, 1, 2):
        raise ValueError(f"power must be 0, 1 or 2, got {power}")
    n_chunks = (n + chunk - 1) // chunk
    out = <double*> malloc(max(n_chunks, 1) * sizeof(double))
    if out == NULL:
        raise MemoryError()
    if n:
        with nogil:
            _chunk_sums(&x[0], n, chunk, power, out)
    sums = [out[c] for c in range(n_chunks)]
    free(out)
    return sums


cdef inline bint _span_below(const floating* x, Py_ssize_t n, floating bound) noexcept nogil:
    """True if every |x[i]| < bound (inf: finite; NaN never passes); OR-ing the compares
    (no early exit) lets the loop vectorise."""
    cdef Py_ssize_t i
    cdef int bad = 0
    for i in range(n):
        bad |= not (x[i] < bound and x[i] > -bound)
    return bad == 0


cdef enum:
    FINITE_CHUNK = 1 << 16


cdef struct _FiniteArgs:
    double* part            # per chunk: 1 if it holds a NaN, inf or |x| >= bound, else 0
    Py_ssize_t n
    double bound


cdef void _finite_chunk(const void* ctx, const floating* x, Py_ssize_t c) noexcept nogil:
    cdef const _FiniteArgs* a = <const _FiniteArgs*> ctx
    cdef Py_ssize_t lo = c * FINITE_CHUNK
    a.part[c] = not _span_below(x + lo, min(<Py_ssize_t> FINITE_CHUNK, a.n - lo),
                                <floating> a.bound)


cdef bint all_finite_ptr(const floating* x, Py_ssize_t n, int n_threads,
                         double bound=INFINITY) noexcept nogil:
    """True if all n values are finite (and |x| < bound): chunks of FINITE_CHUNK split
    over threads, a flag each (order-free, so any split gives the same answer),
    STACK_CHUNKS chunks at a time so that the flags never need an allocation."""
    cdef Py_ssize_t lo = 0
    cdef double flags[STACK_CHUNKS]
    cdef _FiniteArgs a
    a.bound = bound
    while lo < n:
        a.n = min(<Py_ssize_t> STACK_CHUNKS * FINITE_CHUNK, n - lo)
        if sum_over_chunks(_finite_chunk[floating], &a, &a.part, flags, x + lo,
                           (a.n + FINITE_CHUNK - 1) // FINITE_CHUNK,
                           _threads_for(a.n, n_threads)) != 0:
            return False
        lo += a.n
    return True


def all_finite(const floating[::1] x, int n_threads=1, double bound=INFINITY):
    """True if the flat buffer x holds no NaN or inf, and every |x| < bound (fit: a
    float64 X for a float32 network must not round to inf).  The input checks of
    fit/predict use it instead of np.isfinite(X).all(), which allocates and faults in a
    bool array as big as X on every call (47 MB for MNIST; benchmarks/RESULTS.md)."""
    cdef bint ok = True
    if x.shape[0] == 0:
        return True
    if not bound > 0:
        raise ValueError(f"bound must be > 0, got {bound}")
    with nogil:
        ok = all_finite_ptr(&x[0], x.shape[0], n_threads, bound)
    return ok


ALIGN_BYTES = 64


def aligned_empty(shape, dtype, Py_ssize_t align=ALIGN_BYTES):
    """An uninitialised C-contiguous array whose data starts on an `align`-byte boundary
    (a view into a slightly larger byte buffer, which it keeps alive).  NumPy aligns to
    16 bytes, and a 64-byte vector load split across two cache lines costs two: the
    GEMMs of a small MLP's step are measurably faster on 64-byte-aligned buffers
    (benchmarks/RESULTS.md)."""
    import numpy as np
    dtype = np.dtype(dtype)
    shape = tuple(shape) if isinstance(shape, (tuple, list)) else (int(shape),)
    if align < 1 or align & (align - 1):
        raise ValueError(f"align must be a power of two, got {align}")
    cdef Py_ssize_t n = 1, s
    for s in shape:
        if s < 0:
            raise ValueError(f"negative dimension in shape {shape}")
        n *= s
    nbytes = n * dtype.itemsize
    raw = np.empty(nbytes + align, np.uint8)
    off = (-raw.ctypes.data) % align
    return raw[off:off + nbytes].view(dtype).reshape(shape)


def aligned_full(shape, dtype, fill_value, Py_ssize_t align=ALIGN_BYTES):
    """aligned_empty filled with fill_value."""
    a = aligned_empty(shape, dtype, align)
    a.fill(fill_value)
    return a


cdef void* _array_ptr(arr, dtype, bint writable=True) except NULL:
    """Data pointer of a C-contiguous array of `dtype` (checked; writable unless the
    caller only reads it)."""
    if arr.dtype != dtype or not arr.flags.c_contiguous:
        raise ValueError(f"internal: expected a C-contiguous {dtype} array")
    if writable and not arr.flags.writeable:
        raise ValueError("internal: expected a writable array")
    return <void*> <size_t> arr.ctypes.data
