"""Compiled optimizer steps with the signatures of cgrad.reference.optim (+ ``n_threads=``).

Each function updates ``p`` and its state buffers IN PLACE and returns None, with
torch.optim's update rule and hyperparameter names (SGD, Adam, AdamW = Adam with
``decoupled=True``, RMSprop, Adagrad).  ``t`` is the 1-based step count after
incrementing.

Buffers: C-contiguous, writable (``g`` may be read-only), one float dtype, one shape (any
shape: the kernels see the flat buffer, so a 2-D weight matrix is fine), no two of them
overlapping in memory.  Hyperparameters must be finite and in torch's valid ranges;
buffers the options need must be given (momentum != 0 needs ``buf``...).  Bad input
raises ValueError/TypeError naming the argument before anything is written.
"""
import math
import numbers

import numpy as np

from .. import _core
from .._validation import float_array, n_threads_arg, positive_int, same_shape, writable

__all__ = ["sgd_step", "adam_step", "rmsprop_step", "adagrad_step"]


def _real(name, value, lo=None, hi=None, hi_open=False, lo_open=False):
    """``value`` as a finite float in [lo, hi] (open ends where asked)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if lo is not None and (value < lo or (lo_open and value == lo)):
        raise ValueError(f"{name} must be {'>' if lo_open else '>='} {lo}, got {value}")
    if hi is not None and (value > hi or (hi_open and value == hi)):
        raise ValueError(f"{name} must be {'<' if hi_open else '<='} {hi}, got {value}")
    return value


def _flag(name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}")
    return bool(value)


def _buffers(p, g, **state):
    """Check p, g and the given state buffers (None = absent); return them flattened."""
    float_array("p", p, allow_empty=True)
    writable("p", p)
    float_array("g", g, dtype=p.dtype, allow_empty=True)
    same_shape("g", g, p.shape)
    present = {"p": p, "g": g}
    for name, a in state.items():
        if a is None:
            continue
        float_array(name, a, dtype=p.dtype, allow_empty=True)
        same_shape(name, a, p.shape)
        writable(name, a)
        present[name] = a
    names = list(present)
    for i, a_name in enumerate(names):
        for b_name in names[i + 1:]:
            if p.size and np.may_share_memory(present[a_name], present[b_name]):
                raise ValueError(f"{b_name} overlaps {a_name} in memory; every buffer "
                                 "must be a separate array")
    flat = {name: (None if a is None else a.reshape(-1)) for name, a in state.items()}
    return p.reshape(-1), g.reshape(-1), flat


def _require(name, a, why):
    if a is None:
        raise ValueError(f"{name} is required when {why}")


def sgd_step(p, g, buf=None, *, lr, momentum=0.0, dampening=0.0, weight_decay=0.0,
             nesterov=False, t, n_threads=None):
    """torch.optim.SGD step in place; ``buf`` (momentum buffer) is needed iff momentum != 0.
    See cgrad.reference.sgd_step.

    Parameters
    ----------
    p : ndarray
        Parameters, updated in place (C-contiguous, writable, float32 or float64, any shape).
    g : ndarray
        Gradient, the shape and dtype of `p` (may be read-only); not written.
    buf : ndarray or None, default=None
        Momentum buffer, updated in place; required iff ``momentum != 0``.
    lr : float
        Learning rate, >= 0.
    momentum : float, default=0.0
        Momentum factor, >= 0.
    dampening : float, default=0.0
        Dampening of the momentum, in [0, 1].
    weight_decay : float, default=0.0
        L2 penalty added to the gradient, >= 0.
    nesterov : bool, default=False
        Nesterov momentum (needs ``momentum > 0`` and ``dampening == 0``).
    t : int
        1-based step count.
    n_threads : int or None, default=None
        OpenMP threads; None: `cgrad.get_num_threads`.

    Raises
    ------
    TypeError
        If an argument has the wrong type or dtype (named in the message).
    ValueError
        If an argument has a bad shape, layout or value (named in the message).
    """
    lr = _real("lr", lr, lo=0.0)
    momentum = _real("momentum", momentum, lo=0.0)
    dampening = _real("dampening", dampening, lo=0.0, hi=1.0)
    weight_decay = _real("weight_decay", weight_decay, lo=0.0)
    nesterov = _flag("nesterov", nesterov)
    t = positive_int("t", t)
    if nesterov and (momentum <= 0 or dampening != 0):
        raise ValueError("nesterov requires momentum > 0 and dampening == 0, got "
                         f"momentum={momentum}, dampening={dampening}")
    if momentum != 0:
        _require("buf", buf, "momentum != 0")
    p1, g1, s = _buffers(p, g, buf=buf if momentum != 0 else None)
    _core.optim_sgd_step(p1, g1, s["buf"], lr, momentum, dampening, weight_decay, nesterov,
                         t, n_threads_arg(n_threads))


def adam_step(p, g, m, v, vmax=None, *, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
              weight_decay=0.0, decoupled=False, t, n_threads=None):
    """torch.optim.Adam (or AdamW with ``decoupled=True``) step in place; amsgrad iff
    ``vmax`` is given.  See cgrad.reference.adam_step.

    Parameters
    ----------
    p : ndarray
        Parameters, updated in place (C-contiguous, writable, float32 or float64, any shape).
    g : ndarray
        Gradient, the shape and dtype of `p` (may be read-only); not written.
    m : ndarray
        First-moment buffer, updated in place.
    v : ndarray
        Second-moment buffer, updated in place.
    vmax : ndarray or None, default=None
        Running maximum of `v` (AMSGrad), updated in place; None: no AMSGrad.
    lr : float, default=1e-3
        Learning rate, >= 0.
    betas : tuple of float, default=(0.9, 0.999)
        Decay rates of `m` and `v`, each in [0, 1).
    eps : float, default=1e-8
        Added to the denominator, > 0.
    weight_decay : float, default=0.0
        L2 penalty (Adam) or decoupled decay (AdamW), >= 0.
    decoupled : bool, default=False
        AdamW's decoupled weight decay.
    t : int
        1-based step count, for the bias corrections.
    n_threads : int or None, default=None
        OpenMP threads; None: `cgrad.get_num_threads`.

    Raises
    ------
    TypeError
        If an argument has the wrong type or dtype (named in the message).
    ValueError
        If an argument has a bad shape, layout or value (named in the message).
    """
    lr = _real("lr", lr, lo=0.0)
    try:
        beta1, beta2 = betas
    except (TypeError, ValueError):
        raise TypeError(f"betas must be a pair (beta1, beta2), got {betas!r}") from None
    beta1 = _real("betas[0]", beta1, lo=0.0, hi=1.0, hi_open=True)
    beta2 = _real("betas[1]", beta2, lo=0.0, hi=1.0, hi_open=True)
    eps = _real("eps", eps, lo=0.0, lo_open=True)
    weight_decay = _real("weight_decay", weight_decay, lo=0.0)
    decoupled = _flag("decoupled", decoupled)
    t = positive_int("t", t)
    _require("m", m, "using Adam")
    _require("v", v, "using Adam")
    p1, g1, s = _buffers(p, g, m=m, v=v, vmax=vmax)
    _core.optim_adam_step(p1, g1, s["m"], s["v"], s["vmax"], lr, beta1, beta2, eps,
                          weight_decay, decoupled, t, n_threads_arg(n_threads))


def rmsprop_step(p, g, square_avg, momentum_buf=None, grad_avg=None, *, lr=1e-2, alpha=0.99,
                 eps=1e-8, weight_decay=0.0, momentum=0.0, n_threads=None):
    """torch.optim.RMSprop step in place; ``momentum_buf`` needed iff momentum > 0;
    centered iff ``grad_avg`` is given.  See cgrad.reference.rmsprop_step.

    Parameters
    ----------
    p : ndarray
        Parameters, updated in place (C-contiguous, writable, float32 or float64, any shape).
    g : ndarray
        Gradient, the shape and dtype of `p` (may be read-only); not written.
    square_avg : ndarray
        Running average of ``g**2``, updated in place.
    momentum_buf : ndarray or None, default=None
        Momentum buffer, updated in place; required iff ``momentum > 0``.
    grad_avg : ndarray or None, default=None
        Running average of `g` (centered RMSprop), updated in place; None: not centered.
    lr : float, default=1e-2
        Learning rate, >= 0.
    alpha : float, default=0.99
        Smoothing constant, in [0, 1).
    eps : float, default=1e-8
        Added to the denominator, > 0.
    weight_decay : float, default=0.0
        L2 penalty added to the gradient, >= 0.
    momentum : float, default=0.0
        Momentum factor, >= 0.
    n_threads : int or None, default=None
        OpenMP threads; None: `cgrad.get_num_threads`.

    Raises
    ------
    TypeError
        If an argument has the wrong type or dtype (named in the message).
    ValueError
        If an argument has a bad shape, layout or value (named in the message).
    """
    lr = _real("lr", lr, lo=0.0)
    alpha = _real("alpha", alpha, lo=0.0, hi=1.0, hi_open=True)
    eps = _real("eps", eps, lo=0.0, lo_open=True)
    weight_decay = _real("weight_decay", weight_decay, lo=0.0)
    momentum = _real("momentum", momentum, lo=0.0)
    _require("square_avg", square_avg, "using RMSprop")
    if momentum > 0:
        _require("momentum_buf", momentum_buf, "momentum > 0")
    p1, g1, s = _buffers(p, g, square_avg=square_avg,
                         momentum_buf=momentum_buf if momentum > 0 else None,
                         grad_avg=grad_avg)
    _core.optim_rmsprop_step(p1, g1, s["square_avg"], s["momentum_buf"], s["grad_avg"], lr,
                             alpha, eps, weight_decay, momentum, n_threads_arg(n_threads))


def adagrad_step(p, g, state_sum, *, lr=1e-2, lr_decay=0.0, weight_decay=0.0, eps=1e-10, t,
                 n_threads=None):
    """torch.optim.Adagrad step in place; the caller fills ``state_sum`` with
    initial_accumulator_value before t=1.  See cgrad.reference.adagrad_step.

    Parameters
    ----------
    p : ndarray
        Parameters, updated in place (C-contiguous, writable, float32 or float64, any shape).
    g : ndarray
        Gradient, the shape and dtype of `p` (may be read-only); not written.
    state_sum : ndarray
        Sum of squared gradients, updated in place.
    lr : float, default=1e-2
        Learning rate, >= 0.
    lr_decay : float, default=0.0
        Step size ``lr / (1 + (t - 1) * lr_decay)``, >= 0.
    weight_decay : float, default=0.0
        L2 penalty added to the gradient, >= 0.
    eps : float, default=1e-10
        Added to the denominator, > 0.
    t : int
        1-based step count.
    n_threads : int or None, default=None
        OpenMP threads; None: `cgrad.get_num_threads`.

    Raises
    ------
    TypeError
        If an argument has the wrong type or dtype (named in the message).
    ValueError
        If an argument has a bad shape, layout or value (named in the message).
    """
    lr = _real("lr", lr, lo=0.0)
    lr_decay = _real("lr_decay", lr_decay, lo=0.0)
    weight_decay = _real("weight_decay", weight_decay, lo=0.0)
    eps = _real("eps", eps, lo=0.0, lo_open=True)
    t = positive_int("t", t)
    _require("state_sum", state_sum, "using Adagrad")
    p1, g1, s = _buffers(p, g, state_sum=state_sum)
    _core.optim_adagrad_step(p1, g1, s["state_sum"], lr, lr_decay, weight_decay, eps, t,
                             n_threads_arg(n_threads))
