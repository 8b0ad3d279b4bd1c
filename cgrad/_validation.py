"""Input checks shared by the functional kernels (cgrad.ops) and the model API.

Every check runs before any work starts and names the offending argument.
"""
import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def float_array(name, a, ndim=None, dtype=None, allow_empty=False):
    """Check that ``a`` is a C-contiguous float32/float64 ndarray (of ``dtype`` if given)."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(a).__name__}")
    if a.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name} must have dtype float32 or float64, got {a.dtype}")
    if dtype is not None and a.dtype != np.dtype(dtype):
        raise TypeError(f"{name} has dtype {a.dtype}, expected {np.dtype(dtype)} "
                        "(all float arguments of one call must share a dtype)")
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {a.shape}")
    if not a.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous (use np.ascontiguousarray)")
    if not allow_empty and a.size == 0:
        raise ValueError(f"{name} is empty (shape {a.shape})")
    return a


def writable(name, a):
    if not a.flags.writeable:
        raise ValueError(f"{name} must be writable")
    return a


def same_shape(name, a, shape):
    if a.shape != tuple(shape):
        raise ValueError(f"{name} has shape {a.shape}, expected {tuple(shape)}")
    return a


# The smallest float64 magnitude that float32 rounds to inf: halfway between float32's
# largest value, 2^128 - 2^104, and 2^128 (a tie, and round-to-nearest-even goes up).
FLOAT32_OVERFLOW = 2.0 ** 128 - 2.0 ** 103


def finite_for(name, a, dtype, n_threads, source=None):
    """Check that the C-contiguous float array ``a``, read by a network of ``dtype``, is
    finite and, for a float64 ``a`` and a float32 network (which rounds it value by
    value), within float32's range: a larger value would become inf.  One pass on
    ``n_threads`` (no temporary as big as ``a``).  ``source``: the array ``a`` was
    converted from, whose values then tell an overflow from a NaN/inf in the data."""
    from . import _core

    wide = a.dtype == np.float64 and np.dtype(dtype) == np.float32
    if _core.all_finite(a.reshape(-1), n_threads, FLOAT32_OVERFLOW if wide else np.inf):
        return a
    orig = a if source is None else np.asarray(source)
    if orig.dtype.kind == "f" and not np.isfinite(orig).all():
        raise ValueError(f"{name} contains NaN or inf values")
    if np.dtype(dtype) == np.float32:
        raise ValueError(f"{name} holds values beyond float32's range (|x| >= "
                         f"{FLOAT32_OVERFLOW:.7g}), which the float32 network would read as "
                         "inf: scale the data or use a float64 model")
    raise ValueError(f"{name} contains NaN or inf values")


def finite(name, a):
    if not np.isfinite(a).all():
        bad = "NaN" if np.isnan(a).any() else "inf"
        raise ValueError(f"{name} contains {bad} values")
    return a


def labels(name, y, n_rows, n_classes):
    """Integer class labels in [0, n_classes), returned as a C-contiguous int64 array."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D integer labels, got shape {y.shape}")
    if y.shape[0] != n_rows:
        raise ValueError(f"{name} has {y.shape[0]} labels, expected {n_rows} (one per row)")
    if y.dtype.kind not in "iu":
        if y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
            y = y.astype(np.int64)
        else:
            raise TypeError(f"{name} must hold integer class labels, got dtype {y.dtype}")
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"{name} has labels in [{y.min()}, {y.max()}], "
                         f"expected 0 <= label < {n_classes}")
    return np.ascontiguousarray(y, dtype=np.int64)


def positive_int(name, v, minimum=1):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(v).__name__}")
    if v < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {v}")
    return int(v)


def n_threads_arg(n_threads):
    from ._config import get_num_threads

    if n_threads is None:
        return get_num_threads()
    return positive_int("n_threads", n_threads)
