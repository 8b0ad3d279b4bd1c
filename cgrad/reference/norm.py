"""NumPy reference: inverted dropout and batch normalisation (BatchNorm1d), forward and backward.

::

    dropout_mask(shape, p, seed) -> keep (bool)
    dropout_forward(x, p, seed) -> y = x * keep / (1 - p)
    dropout_backward(dy, p, seed) -> dx = dy * keep / (1 - p)      (the forward's mask)
        keep[i] = u(seed, i) >= p over the flat (C-order) index i, with the counter-based
        u(seed, i) = (splitmix64(seed * 0x9E3779B97F4A7C15 + i) >> 11) * 2^-53: the mask is a
        pure function of (seed, index), recomputed in backward instead of stored.

    batchnorm_forward(x, gamma, beta, running_mean=None, running_var=None, *, training=True,
                      momentum=0.1, eps=1e-5) -> (y, cache)
    batchnorm_backward(dy, cache) -> (dx, dgamma, dbeta)            (training mode only)
        x: (N, C); statistics per column over the N rows, as torch.nn.BatchNorm1d: the batch
        variance is biased, the running variance is updated with the unbiased one (N/(N-1)).
        Running statistics, if given, are updated in place (training mode).

Computed in the dtype of the inputs; tests pass float64 to get the truth.
"""
from collections import namedtuple

import numpy as np

__all__ = ["dropout_mask", "dropout_forward", "dropout_backward", "BatchNormCache",
           "batchnorm_forward", "batchnorm_backward"]

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)

# What batchnorm_backward needs from the forward: the input, gamma, the batch mean and
# 1/sqrt(var + eps) per column, and whether they came from a training-mode forward.
BatchNormCache = namedtuple("BatchNormCache", "x gamma mean invstd training")
BatchNormCache.__doc__ = """What `batchnorm_backward` needs from `batchnorm_forward` (a namedtuple).

Parameters
----------
x : ndarray, shape (N, C)
    The forward's input.
gamma : ndarray, shape (C,)
    The forward's scale.
mean : ndarray, shape (C,)
    The mean used: the batch's (training) or the running one (eval).
invstd : ndarray, shape (C,)
    ``1 / sqrt(var + eps)`` with the variance used.
training : bool
    Whether the forward ran in training mode.
"""


def _uniform(n, seed):
    """u(seed, i) for i < n, float64 in [0, 1) on the 2^-53 grid."""
    with np.errstate(over="ignore"):          # uint64 arithmetic wraps, as in C
        z = np.uint64(seed) * _GAMMA + np.arange(n, dtype=np.uint64)
        z = z + _GAMMA                         # splitmix64 output function
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * 2.0 ** -53


def dropout_mask(shape, p, seed):
    """keep: bool array of ``shape``, True where the element survives.

    Parameters
    ----------
    shape : int or tuple of int
        Shape of the mask.
    p : float
        Drop probability, in [0, 1).
    seed : int
        Seed of the counter-based generator (the module docstring gives the formula).

    Returns
    -------
    ndarray of bool
        The mask, of `shape`.
    """
    shape = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(shape)
    return (_uniform(int(np.prod(shape, dtype=np.int64)), seed) >= p).reshape(shape)


def dropout_forward(x, p, seed):
    """Inverted dropout: ``y = x * keep / (1 - p)`` with ``keep = dropout_mask(x.shape, p, seed)``.

    Parameters
    ----------
    x : ndarray
        Input, any shape.
    p : float
        Drop probability, in [0, 1).
    seed : int
        Seed of the mask.

    Returns
    -------
    ndarray
        ``y``, the shape and dtype of `x`.
    """
    # one multiply by 0 or 1/(1-p), as the kernel does (a dropped inf/NaN gives NaN)
    factor = np.where(dropout_mask(x.shape, p, seed), 1.0 / (1.0 - p), 0.0).astype(x.dtype)
    return x * factor


def dropout_backward(dy, p, seed):
    """Dropout backward: ``dx = dy * keep / (1 - p)`` with the forward's mask.

    Parameters
    ----------
    dy : ndarray
        Gradient with respect to the output.
    p : float
        The forward's drop probability.
    seed : int
        The forward's seed (the mask is recomputed from it).

    Returns
    -------
    ndarray
        ``dx``, the shape and dtype of `dy`.
    """
    return dropout_forward(dy, p, seed)


def batchnorm_forward(x, gamma, beta, running_mean=None, running_var=None, *, training=True,
                      momentum=0.1, eps=1e-5):
    """Batch normalisation over the rows, per column (torch.nn.BatchNorm1d).

    Parameters
    ----------
    x : ndarray, shape (N, C)
        Input.
    gamma : ndarray, shape (C,)
        Scale.
    beta : ndarray, shape (C,)
        Shift.
    running_mean : ndarray of shape (C,) or None, default=None
        Running mean, updated in place by a training-mode forward; used (required) in eval mode.
    running_var : ndarray of shape (C,) or None, default=None
        Running variance (unbiased), as `running_mean`.
    training : bool, default=True
        True: normalise with the batch statistics; False: with the running ones.
    momentum : float, default=0.1
        Weight of the batch statistics in the running-statistics update.
    eps : float, default=1e-5
        Added to the variance.

    Returns
    -------
    y : ndarray, shape (N, C)
        ``gamma * (x - mean) / sqrt(var + eps) + beta``.
    cache : BatchNormCache
        What `batchnorm_backward` needs.
    """
    if training:
        n = x.shape[0]
        mean = x.mean(axis=0)
        var = ((x - mean) ** 2).mean(axis=0)
        invstd = 1 / np.sqrt(var + eps)
        if running_mean is not None:
            running_mean *= 1 - momentum
            running_mean += momentum * mean
            running_var *= 1 - momentum
            running_var += momentum * var * (n / (n - 1))
    else:
        mean = running_mean.copy()
        invstd = 1 / np.sqrt(running_var + eps)
    y = gamma * (x - mean) * invstd + beta
    return y, BatchNormCache(x, gamma, mean, invstd, training)


def batchnorm_backward(dy, cache):
    """Batch normalisation backward (training mode).

    Parameters
    ----------
    dy : ndarray, shape (N, C)
        Gradient with respect to the output.
    cache : BatchNormCache
        The cache of a training-mode `batchnorm_forward`.

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
    ValueError
        If `cache` comes from an eval-mode forward.
    """
    if not cache.training:
        raise ValueError("batchnorm_backward needs the cache of a training-mode forward")
    x, gamma, mean, invstd, _ = cache
    n = x.shape[0]
    xhat = (x - mean) * invstd
    dbeta = dy.sum(axis=0)
    dgamma = (dy * xhat).sum(axis=0)
    dx = gamma * invstd / n * (n * dy - dbeta - xhat * dgamma)
    return dx, dgamma, dbeta
