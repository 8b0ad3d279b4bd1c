# config.pxi -- build information, the thread pool, ISA selection (Python-visible).

cdef extern from *:
    """
    #ifndef CGRAD_COMPILER
    #define CGRAD_COMPILER "unknown"
    #endif
    #ifndef CGRAD_CYTHON_VERSION
    #define CGRAD_CYTHON_VERSION "unknown"
    #endif
    #ifndef CGRAD_BUILD_TYPE
    #define CGRAD_BUILD_TYPE "unknown"
    #endif
    #ifndef CGRAD_DEBUG_CYTHON
    #define CGRAD_DEBUG_CYTHON 0
    #endif
    """
    const char* CGRAD_COMPILER
    const char* CGRAD_CYTHON_VERSION
    const char* CGRAD_BUILD_TYPE
    int CGRAD_DEBUG_CYTHON

_ISA_CODES = {"generic": CGRAD_ISA_GENERIC, "avx2": CGRAD_ISA_AVX2, "avx512": CGRAD_ISA_AVX512,
              "neon": CGRAD_ISA_NEON}
_isa_env_error = cgrad_isa_init() != 0      # selected once, at import


def openmp_enabled():
    """True if the core was compiled with OpenMP."""
    return bool(CGRAD_OPENMP_ENABLED)


def get_max_threads():
    """omp_get_max_threads(): what OMP_NUM_THREADS, omp_set_num_threads and
    threadpoolctl set for the calling thread (1 without OpenMP)."""
    return omp_get_max_threads()


def set_max_threads(int n):
    """omp_set_num_threads(n) for the calling thread."""
    if n < 1:
        raise ValueError(f"n_threads must be >= 1, got {n}")
    omp_set_num_threads(n)


def num_procs():
    return omp_get_num_procs()


def isa_selected():
    return cgrad_isa_name(cgrad_isa_selected()).decode()


def isa_supported():
    """ISAs compiled into this binary that this CPU and OS can run, best last."""
    return [name for name, code in _ISA_CODES.items() if cgrad_isa_available(code)]


def set_isa(str name):
    """Force the micro-kernel ISA ('generic', 'avx2', 'avx512', 'neon')."""
    if name not in _ISA_CODES:
        raise ValueError(f"isa must be one of {sorted(_ISA_CODES)}, got {name!r}")
    if cgrad_isa_select(_ISA_CODES[name]) != 0:
        raise ValueError(f"isa {name!r} is not available on this machine "
                         f"(available: {isa_supported()})")


def cache_sizes():
    """The cache sizes the GEMM blocking was derived from, read once at import: bytes of
    L1d, L2 and this core's share of L3 (0: unknown), where they came from, and whether
    CGRAD_CACHE was set but malformed (then ignored)."""
    cdef int source = 0
    cdef const cgrad_caches *c = cgrad_cache_sizes(&source)
    names = {CGRAD_CACHE_UNKNOWN: "unknown", CGRAD_CACHE_FROM_ENV: "CGRAD_CACHE",
             CGRAD_CACHE_FROM_SYSFS: "sysfs", CGRAD_CACHE_FROM_SYSCONF: "sysconf"}
    return {"l1d": c.l1d, "l2": c.l2, "l3": c.l3, "source": names[source],
            "env_error": bool(c.env_error)}


def build_info():
    """A dict describing how this core was built."""
    return {
        "compiler": CGRAD_COMPILER.decode(),
        "cython": CGRAD_CYTHON_VERSION.decode(),
        "build_type": CGRAD_BUILD_TYPE.decode(),
        "debug_cython": bool(CGRAD_DEBUG_CYTHON),
        "openmp": bool(CGRAD_OPENMP_ENABLED),
        "openmp_version": int(CGRAD_OPENMP_VERSION),
        "isa_env_error": _isa_env_error,
        "ftz_daz_supported": CGRAD_FTZ_DAZ_BITS != 0,
    }


def fp_mode():
    """The calling thread's x86 MXCSR (0 where not applicable); bits 0x8040 = FTZ|DAZ."""
    return cgrad_get_fpmode()


def ftz_daz_bits():
    return CGRAD_FTZ_DAZ_BITS


def thread_fp_modes(int n_threads):
    """MXCSR of each thread of an n-thread OpenMP team (a diagnostic for FTZ/DAZ)."""
    cdef unsigned int modes[64]
    cdef int i, n = min(max(n_threads, 1), 64)
    for i in range(n):
        modes[i] = 0
    for i in prange(n, nogil=True, schedule="static", chunksize=1, num_threads=n):
        modes[i] = cgrad_get_fpmode() | (<unsigned int> omp_get_thread_num() << 24)
    return [modes[i] for i in range(n)]


def par_min_work(n=None):
    """The element count below which elementwise kernels and reductions stay on one
    thread; with an argument, set it (returns the previous value).  For tuning and the
    threshold benchmark (benchmarks/bench_threshold.py)."""
    global PAR_MIN_WORK
    cdef Py_ssize_t old = PAR_MIN_WORK
    if n is not None:
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        PAR_MIN_WORK = n
    return old
