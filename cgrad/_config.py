"""Thread pool control and build/run-time configuration (``cgrad.show_config()``)."""
import os
import platform
import sys

from . import _core

__all__ = ["get_num_threads", "set_num_threads", "show_config", "openmp_enabled", "config"]


def openmp_enabled():
    """True if the compiled core was built with OpenMP.

    Returns
    -------
    bool
        Whether OpenMP is compiled in.
    """
    return _core.openmp_enabled()


def get_num_threads():
    """Threads cgrad's kernels use: OpenMP's max-threads setting for this thread.

    It follows ``OMP_NUM_THREADS``, :func:`set_num_threads` and
    ``threadpoolctl.threadpool_limits`` (which sets the same OpenMP value).

    Returns
    -------
    int
        The number of threads, >= 1.
    """
    return int(_core.get_max_threads())


def set_num_threads(n):
    """Use ``n`` OpenMP threads in cgrad's kernels (for the calling Python thread).

    Parameters
    ----------
    n : int
        Number of threads, >= 1.

    Raises
    ------
    TypeError
        If `n` is not an int.
    ValueError
        If `n` < 1.
    """
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"n must be an int, got {type(n).__name__}")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    _core.set_max_threads(n)


def config():
    """A dict of what :func:`show_config` prints."""
    import numpy as np

    from . import __version__

    info = dict(_core.build_info())
    return {
        "cgrad": __version__,
        "python": sys.version.split()[0],
        "platform": f"{platform.system()} {platform.machine()}",
        "numpy": np.__version__,
        "compiler": info["compiler"],
        "cython": info["cython"],
        "build_type": info["build_type"] + (" (Cython checks on)" if info["debug_cython"] else ""),
        "openmp": info["openmp"],
        "openmp_version": info["openmp_version"],
        "threads": get_num_threads(),
        "cpus": os.cpu_count(),
        "omp_num_threads_env": os.environ.get("OMP_NUM_THREADS"),
        "simd_available": _core.isa_supported(),
        "simd_selected": _core.isa_selected(),
        "cgrad_isa_env": os.environ.get("CGRAD_ISA"),
        "ftz_daz": info["ftz_daz_supported"],
        "caches": _core.cache_sizes(),
        "gemm_blocking": _core.gemm_blocking(),
    }


def _bytes(n):
    for unit, shift in (("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift} {unit}"
    return f"{n} B" if n else "unknown"


def _cache_line(caches, blocking):
    src = caches["source"]
    if caches["env_error"]:
        src += f" (CGRAD_CACHE={os.environ.get('CGRAD_CACHE')!r} is malformed: ignored)"
    b = blocking["float32"]
    return (f"L1d {_bytes(caches['l1d'])}, L2 {_bytes(caches['l2'])}, "
            f"L3 {_bytes(caches['l3'])} per core ({src}); float32 GEMM blocks "
            f"MC {b['mc']} KC {b['kc']} NC {b['nc']}")


_OPENMP_VERSIONS = {200505: "2.5", 200805: "3.0", 201107: "3.1", 201307: "4.0",
                    201511: "4.5", 201811: "5.0", 202011: "5.1", 202111: "5.2"}


def show_config(file=None):
    """Print version, compiler, OpenMP, threads and SIMD level of this cgrad.

    Parameters
    ----------
    file : file-like or None, default=None
        Where to print; None: ``sys.stdout``.
    """
    c = config()
    if c["openmp"]:
        v = c["openmp_version"]
        omp = f"yes, OpenMP {_OPENMP_VERSIONS.get(v, '?')} (_OPENMP={v})"
    else:
        omp = "no (serial build)"
    isa_note = ""
    if c["cgrad_isa_env"]:
        isa_note = f" (forced by CGRAD_ISA={c['cgrad_isa_env']})"
        if _core.build_info()["isa_env_error"]:
            isa_note = f" (CGRAD_ISA={c['cgrad_isa_env']} is unknown or unavailable; using the best)"
    env = c["omp_num_threads_env"]
    lines = [
        f"cgrad {c['cgrad']}",
        f"  python        {c['python']} on {c['platform']}",
        f"  numpy         {c['numpy']}",
        f"  compiler      {c['compiler']} (Cython {c['cython']}, {c['build_type']})",
        f"  openmp        {omp}",
        f"  threads       {c['threads']} (cpus: {c['cpus']}, OMP_NUM_THREADS={env if env else 'unset'})",
        f"  simd          available: {', '.join(c['simd_available'])}; "
        f"selected: {c['simd_selected']}{isa_note}",
        f"  ftz/daz       {'supported' if c['ftz_daz'] else 'not available on this platform'}",
        f"  caches        {_cache_line(c['caches'], c['gemm_blocking'])}",
    ]
    print("\n".join(lines), file=file)
