"""Compiled dropout and batch normalisation with the signatures of cgrad.reference.norm.

::

    dropout_mask(shape, p, seed, n_threads=None) -> keep (bool)
    dropout_forward(x, p, seed, out=None, n_threads=None) -> y
    dropout_backward(dy, p, seed, out=None, n_threads=None) -> dx
    batchnorm_forward(x, gamma, beta, running_mean=None, running_var=None, *, training=True,
                      momentum=0.1, eps=1e-5, out=None, n_threads=None) -> (y, cache)
    batchnorm_backward(dy, cache, *, out=None, dgamma=None, dbeta=None, n_threads=None)
        -> (dx, dgamma, dbeta)

Dropout takes C-contiguous float arrays of any shape (the mask follows the flat C-order
index); batch norm takes (N, C) and (C,) arrays of one dtype.  ``out`` may be the input
(x / dy) for in-place work.  ``dgamma``/``dbeta``, if given, are ACCUMULATED into (+=),
as parameter gradients are; otherwise fresh zeroed arrays are returned.
"""
import math
import numbers

import numpy as np

from .. import _core
from .._validation import float_array, n_threads_arg, same_shape, writable
from .activations import _out       # the shared out= check: dtype, writable, shape
from ..reference.norm import BatchNormCache

__all__ = ["dropout_mask", "dropout_forward", "dropout_backward", "BatchNormCache",
           "batchnorm_forward", "batchnorm_backward"]


def _real(name, v):
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(v).__name__}")
    return float(v)


def _p_arg(p):
    p = _real("p", p)
    if not (0.0 <= p < 1.0):          # also rejects NaN
        raise ValueError(f"p must be in [0, 1), got {p}")
    return p


def _seed_arg(seed):
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    seed = int(seed)
    if not 0 <= seed < 2 ** 64:
        raise ValueError(f"seed must be in [0, 2**64), got {seed}")
    return seed


def _dropout(kernel, arg, x, p, seed, out, n_threads):
    float_array(arg, x, allow_empty=True)
    p, seed = _p_arg(p), _seed_arg(seed)
    y = _out("out", out, x)
    kernel(x.reshape(-1), y.reshape(-1), p, seed, n_threads_arg(n_threads))
    return y


def dropout_forward(x, p, seed, out=None, n_threads=None):
    """y = x * keep / (1 - p); see cgrad.reference.dropout_forward.

    Parameters
    ----------
    x : ndarray
        Input, C-contiguous float32 or float64, any shape.
    p : float
        Drop probability, in [0, 1).
    seed : int
        Seed of the mask, in [0, 2**64).
    out : ndarray or None, default=None
        Output buffer of the input's shape and dtype (may be the input itself); None: a new array.
    n_threads : int or None, default=None
        OpenMP threads; None: `cgrad.get_num_threads`.

    Returns
    -------
    ndarray
        ``y`` (`out` if given).

    Raises
    ------
    TypeError
        If an argument has the wrong type or dtype (named in the message).
    ValueError
        If an argument has a bad shape, layout or value (named in the message).
    """
    return _dropout(_core.dropout_forward_kernel, "x", x, p, seed, out, n_threads)


def dropout_backward(dy, p, seed, out=None, n_threads=None):
    """dx = dy * keep / (1 - p) with the forward's mask; see cgrad.reference.dropout_backward.

    Parameters
    ----------
    dy : ndarray
        Gradient with respect to the output, C-contiguous float32 or float64.
    p : float
        Drop probability, in [0, 1).
    seed : int
        The forward's seed, in [0, 2**64).
    out : ndarray or None, default=None
        Output buffer of the input's shape and dtype (may be the input itself); None: a new array.
    n_threads : int or None, default=None
        OpenMP threads; None: `cgrad.get_num_threads`.

    Returns
    -------
    ndarray
        ``dx`` (`out` if given).

    Raises
    ------
    TypeError
        If an argument has the wrong type or dtype (named in the message).
    ValueError
        If an argument has a bad shape, layout or value (named in the message).
    """
    return _dropout(_core.dropout_backward_kernel, "dy", dy, p, seed, out, n_threads)


def dropout_mask(shape, p, seed, n_threads=None):
    """keep: bool array of ``shape``, the mask dropout_forward(x, p, seed) applies.

    Parameters
    ----------
    shape : int or tuple of int
        Shape of the mask, non-negative.
    p : float
        Drop probability, in [0, 1).
    seed : int
        Seed of the mask, in [0, 2**64).
    n_threads : int or None, default=None
        OpenMP threads; None: `cgrad.get_num_threads`.

    Returns
    -------
    ndarray of bool
        The mask, of `shape`.

    Raises
    ------
    TypeError
        If an argument has the wrong type or dtype (named in the message).
    ValueError
        If an argument has a bad shape, layout or value (named in the message).
    """
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    if any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0
           for s in shape):
        raise ValueError(f"shape must be a tuple of non-negative ints, got {shape}")
    return dropout_forward(np.ones(shape), p, seed, n_threads=n_threads) != 0


def _vector(name, a, dtype, C, write=False):
    float_array(name, a, ndim=1, dtype=dtype)
    same_shape(name, a, (C,))
    return writable(name, a) if write else a


def batchnorm_forward(x, gamma, beta, running_mean=None, running_var=None, *, training=True,
                      momentum=0.1, eps=1e-5, out=None, n_threads=None):
    """Batch norm over the rows of x (N, C); see cgrad.reference.batchnorm_forward.

    Parameters
    ----------
    x : ndarray, shape (N, C)
        Input, C-contiguous float32 or float64; N >= 2 in training mode.
    gamma : ndarray, shape (C,)
        Scale, the dtype of `x`.
    beta : ndarray, shape (C,)
        Shift, the dtype of `x`.
    running_mean : ndarray of shape (C,) or None, default=None
        Running mean, updated in place in training mode; required when ``training=False``.
    running_var : ndarray of shape (C,) or None, default=None
        Running (unbiased) variance; given together with `running_mean`.
    training : bool, default=True
        Batch statistics (True) or the running ones (False).
    momentum : float, default=0.1
        Weight of the batch statistics in the running update, in [0, 1].
    eps : float, default=1e-5
        Added to the variance, > 0 and finite.
    out : ndarray or None, default=None
        Output buffer of the shape and dtype of `x`; must not overlap `x`.
    n_threads : int or None, default=None
        OpenMP threads; None: `cgrad.get_num_threads`.

    Returns
    -------
    y : ndarray, shape (N, C)
        The normalised output (`out` if given).
    cache : BatchNormCache
        What `batchnorm_backward` needs.

    Raises
    ------
    TypeError
        If an argument has the wrong type or dtype (named in the message).
    ValueError
        If an argument has a bad shape, layout or value (named in the message).
    """
    float_array("x", x, ndim=2)
    N, C = x.shape
    gamma = _vector("gamma", gamma, x.dtype, C)
    beta = _vector("beta", beta, x.dtype, C)
    if not isinstance(training, (bool, np.bool_)):
        raise TypeError(f"training must be a bool, got {type(training).__name__}")
    momentum, eps = _real("momentum", momentum), _real("eps", eps)
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"momentum must be in [0, 1], got {momentum}")
    if not (eps > 0.0 and math.isfinite(eps)):
        raise ValueError(f"eps must be a positive finite number, got {eps}")
    if (running_mean is None) != (running_var is None):
        raise ValueError("running_mean and running_var must both be given or both be None")
    if running_mean is None and not training:
        raise ValueError("running_mean and running_var are required when training=False")
    if running_mean is not None:
        running_mean = _vector("running_mean", running_mean, x.dtype, C, write=training)
        running_var = _vector("running_var", running_var, x.dtype, C, write=training)
    if training and N < 2:
        raise ValueError("batch norm in training mode needs more than 1 row "
                         f"(x has shape {x.shape})")
    y = _out("out", out, x)
    if out is not None and np.may_share_memory(out, x):
        raise ValueError("out must not overlap x: the cache keeps x for batchnorm_backward")
    nt = n_threads_arg(n_threads)
    if training:
        mean, invstd = np.empty(C, x.dtype), np.empty(C, x.dtype)
        _core.batchnorm_forward_train_kernel(x, gamma, beta, y, mean, invstd, running_mean,
                                             running_var, momentum, eps, nt)
    else:
        mean = running_mean.copy()
        invstd = (1 / np.sqrt(running_var + x.dtype.type(eps))).astype(x.dtype)
        _core.batchnorm_forward_eval_kernel(x, gamma, beta, y, running_mean, running_var,
                                            eps, nt)
    return y, BatchNormCache(x, gamma, mean, invstd, bool(training))


def batchnorm_backward(dy, cache, *, out=None, dgamma=None, dbeta=None, n_threads=None):
    """dx (=), dgamma and dbeta (+= into the given arrays); training-mode caches only.
    See cgrad.reference.batchnorm_backward.

    Parameters
    ----------
    dy : ndarray, shape (N, C)
        Gradient with respect to the output.
    cache : BatchNormCache
        The cache of a training-mode `batchnorm_forward`.
    out : ndarray or None, default=None
        Buffer for ``dx`` (may be `dy`); None: a new array.
    dgamma : ndarray of shape (C,) or None, default=None
        Accumulated into (+=); None: a new zeroed array.
    dbeta : ndarray of shape (C,) or None, default=None
        Accumulated into (+=); None: a new zeroed array.
    n_threads : int or None, default=None
        OpenMP threads; None: `cgrad.get_num_threads`.

    Returns
    -------
    dx : ndarray, shape (N, C)
        Gradient with respect to the input.
    dgamma : ndarray, shape (C,)
        Gradient with respect to `gamma`.
    dbeta : ndarray, shape (C,)
        Gradient with respect to `beta`.

    Raises
    ------
    TypeError
        If an argument has the wrong type or dtype (named in the message).
    ValueError
        If `cache` comes from an eval-mode forward, or an argument has a bad shape,
        layout or value (named in the message).
    """
    if not isinstance(cache, BatchNormCache):
        raise TypeError("cache must be the BatchNormCache returned by batchnorm_forward, "
                        f"got {type(cache).__name__}")
    if not cache.training:
        raise ValueError("batchnorm_backward needs the cache of a training-mode forward")
    float_array("dy", dy, ndim=2)
    x, gamma, mean, invstd, _ = cache
    float_array("cache.x", x, ndim=2, dtype=dy.dtype)
    same_shape("dy", dy, x.shape)
    C = x.shape[1]
    for name, a in (("cache.gamma", gamma), ("cache.mean", mean), ("cache.invstd", invstd)):
        _vector(name, a, dy.dtype, C)
    dgamma = np.zeros(C, dy.dtype) if dgamma is None else _vector("dgamma", dgamma,
                                                                   dy.dtype, C, True)
    dbeta = np.zeros(C, dy.dtype) if dbeta is None else _vector("dbeta", dbeta,
                                                                dy.dtype, C, True)
    dx = _out("out", out, dy)
    _core.batchnorm_backward_kernel(dy, x, gamma, mean, invstd, dx, dgamma, dbeta,
                                    n_threads_arg(n_threads))
    return dx, dgamma, dbeta
