"""Compiled weight penalties and gradient clipping with the signatures of
cgrad.reference.regularization.

Arrays of any shape, C-contiguous float32/float64 (the kernels see them flat).
``out=`` turns each call in-place: the penalties ADD their gradient into ``out`` (a
parameter gradient accumulates, as in the training loop), the clipping functions write
the clipped gradient into ``out`` (which may be ``g`` itself).
"""
import math
import numbers

import numpy as np

from .. import _core
from .._validation import float_array, n_threads_arg, same_shape, writable

__all__ = ["l2_penalty", "l1_penalty", "clip_by_value", "global_norm",
           "clip_by_global_norm"]


def _scalar(name, v, strict):
    """A finite real >= 0 (or > 0 when strict), as a float."""
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(v).__name__}")
    v = float(v)
    if not math.isfinite(v) or v < 0 or (strict and v == 0):
        raise ValueError(f"{name} must be finite and {'>' if strict else '>='} 0, got {v}")
    return v


def _check_out(name, out, like):
    """out must be a writable C-contiguous array of like's shape and dtype."""
    float_array(name, out, dtype=like.dtype, allow_empty=True)
    writable(name, out)
    same_shape(name, out, like.shape)
    return out


def _penalty(kernel, w, lam, out, n_threads):
    float_array("w", w, allow_empty=True)
    lam = _scalar("lam", lam, strict=False)
    g = np.zeros_like(w) if out is None else _check_out("out", out, w)
    value = kernel(w.reshape(-1), g.reshape(-1), lam, n_threads_arg(n_threads))
    return value, g


def l2_penalty(w, lam, out=None, n_threads=None):
    """(0.5 lam sum(w^2), lam w); with ``out``: out += lam w and out is returned.

    Parameters
    ----------
    w : ndarray
        Weights, C-contiguous float32 or float64, any shape.
    lam : float
        Penalty strength, finite and >= 0.
    out : ndarray or None, default=None
        Gradient buffer of the shape and dtype of `w`: the penalty's gradient is ADDED into it.
    n_threads : int or None, default=None
        OpenMP threads; None: `cgrad.get_num_threads`.

    Returns
    -------
    penalty : float
        ``0.5 * lam * sum(w**2)``.
    grad : ndarray
        ``lam * w`` (`out` after the addition, if given).

    Raises
    ------
    TypeError
        If an argument has the wrong type or dtype (named in the message).
    ValueError
        If an argument has a bad shape, layout or value (named in the message).
    """
    return _penalty(_core.l2_penalty_value_grad, w, lam, out, n_threads)


def l1_penalty(w, lam, out=None, n_threads=None):
    """(lam sum|w|, lam sign(w)); with ``out``: out += lam sign(w) and out is returned.

    Parameters
    ----------
    w : ndarray
        Weights, C-contiguous float32 or float64, any shape.
    lam : float
        Penalty strength, finite and >= 0.
    out : ndarray or None, default=None
        Gradient buffer of the shape and dtype of `w`: the penalty's gradient is ADDED into it.
    n_threads : int or None, default=None
        OpenMP threads; None: `cgrad.get_num_threads`.

    Returns
    -------
    penalty : float
        ``lam * sum(|w|)``.
    grad : ndarray
        ``lam * sign(w)`` (`out` after the addition, if given).

    Raises
    ------
    TypeError
        If an argument has the wrong type or dtype (named in the message).
    ValueError
        If an argument has a bad shape, layout or value (named in the message).
    """
    return _penalty(_core.l1_penalty_value_grad, w, lam, out, n_threads)


def _clip_target(g, out):
    float_array("g", g, allow_empty=True)
    if out is None:
        return g.copy()
    _check_out("out", out, g)
    if out is not g:
        np.copyto(out, g)
    return out


def clip_by_value(g, clip, out=None, n_threads=None):
    """min(max(g, -clip), clip); ``out`` may be ``g`` for in-place.

    Parameters
    ----------
    g : ndarray
        Gradient, C-contiguous float32 or float64, any shape.
    clip : float
        Bound of ``[-clip, clip]``, finite and > 0.
    out : ndarray or None, default=None
        Buffer for the result, the shape and dtype of `g` (may be `g`); None: a new array.
    n_threads : int or None, default=None
        OpenMP threads; None: `cgrad.get_num_threads`.

    Returns
    -------
    ndarray
        The clipped gradient (`out` if given).

    Raises
    ------
    TypeError
        If an argument has the wrong type or dtype (named in the message).
    ValueError
        If an argument has a bad shape, layout or value (named in the message).
    """
    clip = _scalar("clip", clip, strict=True)
    nt = n_threads_arg(n_threads)
    res = _clip_target(g, out)
    _core.clip_by_value_inplace(res.reshape(-1), clip, nt)
    return res


def global_norm(g, n_threads=None):
    """sqrt(sum(g^2)) over all elements, as a float (summed in float64).

    Parameters
    ----------
    g : ndarray
        Gradient, C-contiguous float32 or float64, any shape.
    n_threads : int or None, default=None
        OpenMP threads; None: `cgrad.get_num_threads`.

    Returns
    -------
    float
        The Euclidean norm of all elements.

    Raises
    ------
    TypeError
        If an argument has the wrong type or dtype (named in the message).
    ValueError
        If an argument has a bad shape, layout or value (named in the message).
    """
    float_array("g", g, allow_empty=True)
    return _core.global_norm_of(g.reshape(-1), n_threads_arg(n_threads))


def clip_by_global_norm(g, max_norm, out=None, n_threads=None):
    """(g scaled to norm <= max_norm, norm before clipping), as
    ``torch.nn.utils.clip_grad_norm_``; ``out`` may be ``g`` for in-place.

    Parameters
    ----------
    g : ndarray
        Gradient, C-contiguous float32 or float64, any shape.
    max_norm : float
        Largest norm kept, finite and > 0.
    out : ndarray or None, default=None
        Buffer for the result, the shape and dtype of `g` (may be `g`); None: a new array.
    n_threads : int or None, default=None
        OpenMP threads; None: `cgrad.get_num_threads`.

    Returns
    -------
    clipped : ndarray
        The (possibly rescaled) gradient (`out` if given).
    norm : float
        The norm of `g` before clipping.

    Raises
    ------
    TypeError
        If an argument has the wrong type or dtype (named in the message).
    ValueError
        If an argument has a bad shape, layout or value (named in the message).
    """
    max_norm = _scalar("max_norm", max_norm, strict=True)
    nt = n_threads_arg(n_threads)
    res = _clip_target(g, out)
    norm = _core.clip_by_global_norm_inplace(res.reshape(-1), max_norm, nt)
    return res, norm
