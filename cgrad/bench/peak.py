"""Measure this machine's float32 FMA peak (GFLOP/s) for 1 and n threads.

A tiny C kernel runs many independent fused-multiply-add chains on SIMD registers
(16 chains of 16 lanes with AVX-512, 10 chains of 8 lanes with AVX2+FMA, a mul+add
fallback on 4 lanes otherwise), so the only limit is the FMA throughput of the core.
It is compiled at run time with the system C compiler (``cc -O2 -mavx512f -mfma``,
falling back to ``-mavx2 -mfma`` then ``-msse2``) into a temporary folder and loaded
with ctypes; the n-thread figure runs the kernel in n Python threads at once (ctypes
releases the GIL). Results are cached in ``~/.cache/cgrad/peak.json`` keyed by CPU model
and instruction set.

The same shared library exports ``get_mxcsr``/``set_mxcsr`` so a benchmark process can
switch on flush-to-zero / denormals-are-zero (:func:`set_ftz_daz`) before NumPy starts
its BLAS threads (threads created afterwards inherit the caller's MXCSR on Linux).

This module imports nothing beyond the standard library on purpose: the comparison
runner's worker processes load it by file path (not through ``cgrad``, which imports
NumPy) and call :func:`set_ftz_daz` before NumPy is imported.

Usage: ``python -m cgrad.bench.peak [--threads 1,2] [--refresh]``.
"""
import argparse
import ctypes
import json
import os
import platform
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

__all__ = ["build_helper", "load_helper", "measure_peak", "peak_gflops", "set_ftz_daz",
           "get_mxcsr", "cpu_model", "best_isa", "CACHE_FILE"]

CACHE_FILE = Path(os.path.expanduser("~")) / ".cache" / "cgrad" / "peak.json"

MXCSR_FTZ = 1 << 15
MXCSR_DAZ = 1 << 6

_C_SOURCE = r"""
#include <immintrin.h>

#if defined(__AVX512F__)
#define LANES 16
#define CHAINS 16
typedef __m512 vec;
#define SET1(x) _mm512_set1_ps(x)
#define STEP(a) a = _mm512_fmadd_ps(a, mul, add)
#define STORE(p, a) _mm512_storeu_ps(p, a)
#elif defined(__AVX2__) && defined(__FMA__)
#define LANES 8
#define CHAINS 10
typedef __m256 vec;
#define SET1(x) _mm256_set1_ps(x)
#define STEP(a) a = _mm256_fmadd_ps(a, mul, add)
#define STORE(p, a) _mm256_storeu_ps(p, a)
#else
#define LANES 4
#define CHAINS 8
typedef __m128 vec;
#define SET1(x) _mm_set1_ps(x)
#define STEP(a) a = _mm_add_ps(_mm_mul_ps(a, mul), add)
#define STORE(p, a) _mm_storeu_ps(p, a)
#endif

int peak_lanes(void) { return LANES; }
int peak_chains(void) { return CHAINS; }

/* iters * CHAINS * LANES multiply-adds (2 flops each); returns a checksum so the
   compiler cannot drop the loop. a <- a * 0.999999 + 1e-7 stays finite and normal. */
double peak_kernel(long iters) {
    const vec mul = SET1(0.999999f), add = SET1(1e-7f);
    vec a0 = SET1(0.1f), a1 = SET1(0.2f), a2 = SET1(0.3f), a3 = SET1(0.4f);
    vec a4 = SET1(0.5f), a5 = SET1(0.6f), a6 = SET1(0.7f), a7 = SET1(0.8f);
#if CHAINS > 8
    vec a8 = SET1(0.9f), a9 = SET1(1.0f);
#endif
#if CHAINS > 10
    vec a10 = SET1(1.1f), a11 = SET1(1.2f), a12 = SET1(1.3f), a13 = SET1(1.4f);
    vec a14 = SET1(1.5f), a15 = SET1(1.6f);
#endif
    for (long i = 0; i < iters; ++i) {
        STEP(a0); STEP(a1); STEP(a2); STEP(a3); STEP(a4); STEP(a5); STEP(a6); STEP(a7);
#if CHAINS > 8
        STEP(a8); STEP(a9);
#endif
#if CHAINS > 10
        STEP(a10); STEP(a11); STEP(a12); STEP(a13); STEP(a14); STEP(a15);
#endif
    }
    float buf[LANES];
    double s = 0.0;
#define ACC(a) STORE(buf, a); for (int j = 0; j < LANES; ++j) s += buf[j];
    ACC(a0) ACC(a1) ACC(a2) ACC(a3) ACC(a4) ACC(a5) ACC(a6) ACC(a7)
#if CHAINS > 8
    ACC(a8) ACC(a9)
#endif
#if CHAINS > 10
    ACC(a10) ACC(a11) ACC(a12) ACC(a13) ACC(a14) ACC(a15)
#endif
    return s;
}

unsigned int get_mxcsr(void) { return _mm_getcsr(); }
void set_mxcsr(unsigned int v) { _mm_setcsr(v); }
"""

_ISA_FLAGS = {"avx512": ["-mavx512f", "-mfma"], "avx2": ["-mavx2", "-mfma"], "sse2": ["-msse2"]}
_lib = None


def _cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_model():
    """The CPU's model name (/proc/cpuinfo), else what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def best_isa():
    """The widest instruction set both the CPU and our kernel support, or None (not x86)."""
    if platform.machine().lower() not in ("x86_64", "amd64", "i686", "i386"):
        return None
    flags = _cpu_flags()
    if "avx512f" in flags and "fma" in flags:
        return "avx512"
    if "avx2" in flags and "fma" in flags:
        return "avx2"
    return "sse2"


def build_helper(directory=None, isa=None):
    """Compile the kernel + MXCSR helpers; return the shared library's path (or None).

    Tries ``isa`` (default: :func:`best_isa`) then the narrower ones if the compiler
    refuses. Returns None on a non-x86 machine or without a working C compiler."""
    isa = isa or best_isa()
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if isa is None or cc is None:
        return None
    directory = Path(directory or tempfile.mkdtemp(prefix="cgrad-peak-"))
    directory.mkdir(parents=True, exist_ok=True)
    src = directory / "cgrad_peak.c"
    src.write_text(_C_SOURCE)
    order = ["avx512", "avx2", "sse2"]
    for cand in order[order.index(isa):]:
        out = directory / f"cgrad_peak_{cand}.so"
        cmd = [cc, "-O2", "-shared", "-fPIC", *_ISA_FLAGS[cand], str(src), "-o", str(out)]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode == 0:
            return str(out)
    return None


def load_helper(path=None):
    """Load (building if needed) the helper library; None if it cannot be built."""
    global _lib
    if path is None and _lib is not None:
        return _lib
    path = path or build_helper()
    if path is None:
        return None
    lib = ctypes.CDLL(path)
    lib.peak_kernel.restype = ctypes.c_double
    lib.peak_kernel.argtypes = [ctypes.c_long]
    lib.peak_lanes.restype = ctypes.c_int
    lib.peak_chains.restype = ctypes.c_int
    lib.get_mxcsr.restype = ctypes.c_uint
    lib.set_mxcsr.argtypes = [ctypes.c_uint]
    lib.isa = Path(path).stem.rsplit("_", 1)[-1]
    _lib = lib
    return lib


def get_mxcsr(lib=None):
    """The calling thread's MXCSR register, or None without the helper library.

    Parameters
    ----------
    lib : the helper from :func:`load_helper` (default: load or build it).

    Returns
    -------
    int or None
    """
    lib = lib or load_helper()
    return None if lib is None else int(lib.get_mxcsr())


def set_ftz_daz(on=True, lib=None):
    """Set (or clear) FTZ and DAZ in the calling thread's MXCSR; return the new value.

    Threads created afterwards by this thread inherit it. Returns None when the
    helper cannot be built (no C compiler, not x86)."""
    lib = lib or load_helper()
    if lib is None:
        return None
    v = int(lib.get_mxcsr())
    v = (v | MXCSR_FTZ | MXCSR_DAZ) if on else (v & ~(MXCSR_FTZ | MXCSR_DAZ))
    lib.set_mxcsr(v)
    return int(lib.get_mxcsr())


def measure_peak(n_threads=1, seconds=0.1, trials=10, lib=None):
    """Best-of-``trials`` GFLOP/s of ``n_threads`` threads each running the FMA kernel.

    Many short trials and the best one: on a shared machine a short window is more
    likely to get whole cores than a long one."""
    lib = lib or load_helper()
    if lib is None:
        return None
    flops_per_iter = 2.0 * lib.peak_lanes() * lib.peak_chains()
    # Calibrate the iteration count so one run lasts about `seconds`.
    iters = 100_000
    while True:
        t0 = time.perf_counter()
        lib.peak_kernel(iters)
        dt = time.perf_counter() - t0
        if dt > 0.02:
            break
        iters *= 4
    iters = max(1, int(iters * seconds / dt))
    best = 0.0
    for _ in range(trials):
        barrier = threading.Barrier(n_threads + 1)

        def work():
            barrier.wait()
            lib.peak_kernel(iters)

        threads = [threading.Thread(target=work) for _ in range(n_threads)]
        for t in threads:
            t.start()
        barrier.wait()
        t0 = time.perf_counter()
        for t in threads:
            t.join()
        dt = time.perf_counter() - t0
        best = max(best, n_threads * iters * flops_per_iter / dt / 1e9)
    return best


def _cache_key(isa):
    return f"{cpu_model()} | {isa} | {os.cpu_count()} cpus"


def peak_gflops(threads=(1,), refresh=False, cache_file=CACHE_FILE):
    """{n_threads: GFLOP/s} for each requested thread count, measured or from the cache.

    Returns an empty dict when the kernel cannot be built."""
    lib = load_helper()
    if lib is None:
        return {}
    key = _cache_key(lib.isa)
    cache = {}
    try:
        cache = json.loads(Path(cache_file).read_text())
    except (OSError, ValueError):
        cache = {}
    entry = cache.get(key, {}) if not refresh else {}
    result, changed = {}, False
    for n in threads:
        if str(n) not in entry:
            entry[str(n)] = measure_peak(n, lib=lib)
            changed = True
        result[n] = float(entry[str(n)])
    if changed:
        cache[key] = entry
        try:
            Path(cache_file).parent.mkdir(parents=True, exist_ok=True)
            Path(cache_file).write_text(json.dumps(cache, indent=1))
        except OSError:
            pass
    return result


def main(argv=None):
    """``python -m cgrad.bench.peak``: print the peak of 1 and n threads (0 on success)."""
    p = argparse.ArgumentParser(prog="python -m cgrad.bench.peak", description=__doc__.split("\n")[0])
    p.add_argument("--threads", default=None, help="comma-separated thread counts (default 1,ncpu)")
    p.add_argument("--refresh", action="store_true", help="measure again, ignoring the cache")
    a = p.parse_args(argv)
    ncpu = os.cpu_count() or 1
    threads = [int(t) for t in a.threads.split(",")] if a.threads else sorted({1, ncpu})
    lib = load_helper()
    if lib is None:
        print("peak: cannot build the FMA kernel (no C compiler or not x86)")
        return 1
    res = peak_gflops(threads, refresh=a.refresh)
    print(f"cpu: {cpu_model()}  isa: {lib.isa} ({lib.peak_chains()} chains x "
          f"{lib.peak_lanes()} lanes)  cache: {CACHE_FILE}")
    for n, g in res.items():
        print(f"  {n} thread(s): {g:8.1f} GFLOP/s float32")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
