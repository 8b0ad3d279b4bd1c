"""Compiled losses with the signatures of cgrad.reference.losses.

name(out, target, dout=None, n_threads=None) -> (loss, dout)
``out`` / ``logits`` and float targets are C-contiguous float32/float64 arrays of one
dtype; elementwise losses take 1-D or 2-D arrays, row-wise ones (softmax cross-entropy,
multi-class hinge) 2-D logits (N, classes).  ``dout`` is an optional output buffer for the
gradient (overwritten); it must not share memory with the inputs.
"""
import numpy as np

from .. import _core
from .._validation import float_array, labels as _labels, n_threads_arg, same_shape, writable

LOSS_CODES = _core.LOSS_CODES     # name (the function's below) -> compiled code

__all__ = ["LOSS_CODES", "mse", "mae", "bce_with_logits", "softmax_cross_entropy",
           "hinge_multiclass", "hinge_binary"]


def _as2d(a):
    return a.reshape(-1, 1) if a.ndim == 1 else a


def _output(name, a, two_d):
    float_array(name, a)
    if two_d and a.ndim != 2:
        raise ValueError(f"{name} must be 2-D (rows, classes), got shape {a.shape}")
    if a.ndim not in (1, 2):
        raise ValueError(f"{name} must be 1-D or 2-D, got shape {a.shape}")
    return a


def _float_target(out, target, name="target"):
    float_array(name, target, dtype=out.dtype)
    return same_shape(name, target, out.shape)


def _dout(dout, like, inputs):
    if dout is None:
        return np.empty_like(like)
    float_array("dout", dout, dtype=like.dtype)
    writable("dout", dout)
    same_shape("dout", dout, like.shape)
    if any(a is not None and np.may_share_memory(dout, a) for a in inputs):
        raise ValueError("dout must not share memory with the loss inputs")
    return dout


def _run(name, out, target, labels, dout, n_threads):
    d = _dout(dout, out, (out, target))
    t = None if target is None else _as2d(target)
    value = _core.loss_value_grad(LOSS_CODES[name], _as2d(out), t, labels, _as2d(d),
                                  n_threads_arg(n_threads))
    return value, d


def mse(out, target, dout=None, n_threads=None):
    """Compiled mean squared error; see cgrad.reference.mse.

    Parameters
    ----------
    out : ndarray
        Predictions, 1-D or 2-D, C-contiguous float32 or float64.
    target : ndarray
        Targets, the shape and dtype of `out`.
    dout : ndarray or None, default=None
        Buffer for the gradient, overwritten; must not share memory with the inputs.
    n_threads : int or None, default=None
        OpenMP threads; None: `cgrad.get_num_threads`.

    Returns
    -------
    loss : float
        The mean loss.
    dout : ndarray
        Its gradient with respect to `out` (`dout` if given).

    Raises
    ------
    TypeError
        If an argument has the wrong type or dtype (named in the message).
    ValueError
        If an argument has a bad shape, layout or value (named in the message).
    """
    _output("out", out, False)
    return _run("mse", out, _float_target(out, target), None, dout, n_threads)


def mae(out, target, dout=None, n_threads=None):
    """Compiled mean absolute error; see cgrad.reference.mae.

    Parameters
    ----------
    out : ndarray
        Predictions, 1-D or 2-D, C-contiguous float32 or float64.
    target : ndarray
        Targets, the shape and dtype of `out`.
    dout : ndarray or None, default=None
        Buffer for the gradient, overwritten; must not share memory with the inputs.
    n_threads : int or None, default=None
        OpenMP threads; None: `cgrad.get_num_threads`.

    Returns
    -------
    loss : float
        The mean loss.
    dout : ndarray
        Its gradient with respect to `out` (`dout` if given).

    Raises
    ------
    TypeError
        If an argument has the wrong type or dtype (named in the message).
    ValueError
        If an argument has a bad shape, layout or value (named in the message).
    """
    _output("out", out, False)
    return _run("mae", out, _float_target(out, target), None, dout, n_threads)


def bce_with_logits(logits, target, dout=None, n_threads=None):
    """Compiled binary cross-entropy from logits; targets in [0, 1].
    See cgrad.reference.bce_with_logits.

    Parameters
    ----------
    logits : ndarray
        Raw scores, 1-D or 2-D, C-contiguous float32 or float64.
    target : ndarray
        Targets in [0, 1], the shape and dtype of `logits`.
    dout : ndarray or None, default=None
        Buffer for the gradient, overwritten; must not share memory with the inputs.
    n_threads : int or None, default=None
        OpenMP threads; None: `cgrad.get_num_threads`.

    Returns
    -------
    loss : float
        The mean loss.
    dout : ndarray
        Its gradient with respect to `logits` (`dout` if given).

    Raises
    ------
    TypeError
        If an argument has the wrong type or dtype (named in the message).
    ValueError
        If an argument has a bad shape, layout or value (named in the message).
    """
    _output("logits", logits, False)
    _float_target(logits, target)
    if not ((target >= 0) & (target <= 1)).all():
        raise ValueError("target must lie in [0, 1] (probabilities)")
    return _run("bce_with_logits", logits, target, None, dout, n_threads)


def softmax_cross_entropy(logits, labels_or_onehot, dout=None, n_threads=None):
    """Compiled softmax cross-entropy from logits (N, classes), fused with the softmax.
    ``labels_or_onehot``: 1-D integer labels (N,) or 2-D float one-hot / probability
    targets (N, classes).  See cgrad.reference.softmax_cross_entropy.

    Parameters
    ----------
    logits : ndarray, shape (N, K)
        Raw scores, C-contiguous float32 or float64.
    labels_or_onehot : array_like
        Integer labels in ``0..K-1`` of shape (N,), or a float ndarray of shape (N, K) in the
        dtype of `logits` (one-hot or probabilities).
    dout : ndarray or None, default=None
        Buffer for the gradient, overwritten; must not share memory with the inputs.
    n_threads : int or None, default=None
        OpenMP threads; None: `cgrad.get_num_threads`.

    Returns
    -------
    loss : float
        The mean loss.
    dout : ndarray
        Its gradient with respect to `logits` (`dout` if given).

    Raises
    ------
    TypeError
        If an argument has the wrong type or dtype (named in the message).
    ValueError
        If an argument has a bad shape, layout or value (named in the message).
    """
    _output("logits", logits, True)
    rows, cols = logits.shape
    if isinstance(labels_or_onehot, np.ndarray) and labels_or_onehot.ndim == 2:
        target = _float_target(logits, labels_or_onehot)
        return _run("softmax_cross_entropy", logits, target, None, dout, n_threads)
    y = _labels("labels", labels_or_onehot, rows, cols)
    return _run("softmax_cross_entropy", logits, None, y, dout, n_threads)


def hinge_multiclass(logits, labels, dout=None, n_threads=None):
    """Compiled Crammer-Singer multi-class hinge; see cgrad.reference.hinge_multiclass.

    Parameters
    ----------
    logits : ndarray, shape (N, K)
        Raw scores, C-contiguous float32 or float64.
    labels : array_like of int, shape (N,)
        Class labels in ``0..K-1``.
    dout : ndarray or None, default=None
        Buffer for the gradient, overwritten; must not share memory with the inputs.
    n_threads : int or None, default=None
        OpenMP threads; None: `cgrad.get_num_threads`.

    Returns
    -------
    loss : float
        The mean loss.
    dout : ndarray
        Its subgradient with respect to `logits` (`dout` if given).

    Raises
    ------
    TypeError
        If an argument has the wrong type or dtype (named in the message).
    ValueError
        If an argument has a bad shape, layout or value (named in the message).
    """
    _output("logits", logits, True)
    y = _labels("labels", labels, *logits.shape)
    return _run("hinge_multiclass", logits, None, y, dout, n_threads)


def hinge_binary(out, target, dout=None, n_threads=None):
    """Compiled binary hinge, targets in {-1, +1}; see cgrad.reference.hinge_binary.

    Parameters
    ----------
    out : ndarray
        Raw scores, 1-D or 2-D, C-contiguous float32 or float64.
    target : ndarray
        Targets, -1 or +1, the shape and dtype of `out`.
    dout : ndarray or None, default=None
        Buffer for the gradient, overwritten; must not share memory with the inputs.
    n_threads : int or None, default=None
        OpenMP threads; None: `cgrad.get_num_threads`.

    Returns
    -------
    loss : float
        The mean loss.
    dout : ndarray
        Its subgradient with respect to `out` (`dout` if given).

    Raises
    ------
    TypeError
        If an argument has the wrong type or dtype (named in the message).
    ValueError
        If an argument has a bad shape, layout or value (named in the message).
    """
    _output("out", out, False)
    _float_target(out, target)
    if not (np.abs(target) == 1).all():
        raise ValueError("target must hold -1 or +1 only")
    return _run("hinge_binary", out, target, None, dout, n_threads)
