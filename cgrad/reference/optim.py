"""NumPy reference: optimizer steps, in place, one line per formula of torch.optim's
algorithm boxes (SGD, Adam, AdamW, RMSprop, Adagrad; maximize=False).

Every function updates ``p`` and the state buffers in place and returns None; ``g`` is
never written (weight decay makes a new local array).  ``t`` is the 1-based step count
after incrementing (1 on the first step).  State buffers start at zero (Adagrad's
``state_sum`` at ``initial_accumulator_value``) and are owned by the caller.
Computed in the dtype of the inputs; tests pass float64 to get the truth.
"""
import numpy as np

__all__ = ["sgd_step", "adam_step", "rmsprop_step", "adagrad_step"]


def sgd_step(p, g, buf=None, *, lr, momentum=0.0, dampening=0.0, weight_decay=0.0,
             nesterov=False, t):
    """torch.optim.SGD; ``buf`` (momentum buffer) is used iff momentum != 0.

    Parameters
    ----------
    p : ndarray
        Parameters, updated in place.
    g : ndarray
        Gradient, the shape of `p`; not written.
    buf : ndarray or None, default=None
        Momentum buffer, the shape of `p`, updated in place; needed iff ``momentum != 0``.
    lr : float
        Learning rate.
    momentum : float, default=0.0
        Momentum factor.
    dampening : float, default=0.0
        Dampening of the momentum from step 2 on.
    weight_decay : float, default=0.0
        L2 penalty added to the gradient (``g + weight_decay * p``).
    nesterov : bool, default=False
        Nesterov momentum.
    t : int
        1-based step count (1 on the first step, which sets ``buf = g``).
    """
    if weight_decay != 0:
        g = g + weight_decay * p
    if momentum != 0:
        if t > 1:
            buf[...] = momentum * buf + (1 - dampening) * g
        else:
            buf[...] = g
        if nesterov:
            g = g + momentum * buf
        else:
            g = buf
    p -= lr * g


def adam_step(p, g, m, v, vmax=None, *, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
              weight_decay=0.0, decoupled=False, t):
    """torch.optim.Adam (decoupled=False: L2 added to g) or torch.optim.AdamW
    (decoupled=True: ``p *= 1 - lr*weight_decay`` first); amsgrad iff ``vmax`` is given.

    Parameters
    ----------
    p : ndarray
        Parameters, updated in place.
    g : ndarray
        Gradient, the shape of `p`; not written.
    m : ndarray
        First-moment buffer, the shape of `p`, updated in place.
    v : ndarray
        Second-moment buffer, the shape of `p`, updated in place.
    vmax : ndarray or None, default=None
        Running maximum of `v` (AMSGrad), updated in place; None: no AMSGrad.
    lr : float, default=1e-3
        Learning rate.
    betas : tuple of float, default=(0.9, 0.999)
        Decay rates of `m` and `v`.
    eps : float, default=1e-8
        Added to the denominator.
    weight_decay : float, default=0.0
        L2 penalty (``decoupled=False``) or decoupled decay (``decoupled=True``).
    decoupled : bool, default=False
        AdamW's decoupled weight decay.
    t : int
        1-based step count, for the bias corrections.
    """
    beta1, beta2 = betas
    if weight_decay != 0:
        if decoupled:
            p *= 1 - lr * weight_decay
        else:
            g = g + weight_decay * p
    m[...] = beta1 * m + (1 - beta1) * g
    v[...] = beta2 * v + (1 - beta2) * g * g
    m_hat = m / (1 - beta1 ** t)
    if vmax is not None:
        np.maximum(vmax, v, out=vmax)
        v_hat = vmax / (1 - beta2 ** t)
    else:
        v_hat = v / (1 - beta2 ** t)
    p -= lr * m_hat / (np.sqrt(v_hat) + eps)


def rmsprop_step(p, g, square_avg, momentum_buf=None, grad_avg=None, *, lr=1e-2, alpha=0.99,
                 eps=1e-8, weight_decay=0.0, momentum=0.0):
    """torch.optim.RMSprop; ``momentum_buf`` used iff momentum > 0; centered iff
    ``grad_avg`` is given.

    Parameters
    ----------
    p : ndarray
        Parameters, updated in place.
    g : ndarray
        Gradient, the shape of `p`; not written.
    square_avg : ndarray
        Running average of ``g**2``, the shape of `p`, updated in place.
    momentum_buf : ndarray or None, default=None
        Momentum buffer, updated in place; needed iff ``momentum > 0``.
    grad_avg : ndarray or None, default=None
        Running average of `g` (centered RMSprop), updated in place; None: not centered.
    lr : float, default=1e-2
        Learning rate.
    alpha : float, default=0.99
        Smoothing constant of the running averages.
    eps : float, default=1e-8
        Added to the denominator.
    weight_decay : float, default=0.0
        L2 penalty added to the gradient.
    momentum : float, default=0.0
        Momentum factor.
    """
    if weight_decay != 0:
        g = g + weight_decay * p
    square_avg[...] = alpha * square_avg + (1 - alpha) * g * g
    v_tilde = square_avg
    if grad_avg is not None:
        grad_avg[...] = alpha * grad_avg + (1 - alpha) * g
        v_tilde = v_tilde - grad_avg * grad_avg
    if momentum > 0:
        momentum_buf[...] = momentum * momentum_buf + g / (np.sqrt(v_tilde) + eps)
        p -= lr * momentum_buf
    else:
        p -= lr * g / (np.sqrt(v_tilde) + eps)


def adagrad_step(p, g, state_sum, *, lr=1e-2, lr_decay=0.0, weight_decay=0.0, eps=1e-10, t):
    """torch.optim.Adagrad; fill ``state_sum`` with initial_accumulator_value before t=1.

    Parameters
    ----------
    p : ndarray
        Parameters, updated in place.
    g : ndarray
        Gradient, the shape of `p`; not written.
    state_sum : ndarray
        Sum of squared gradients, the shape of `p`, updated in place.
    lr : float, default=1e-2
        Learning rate.
    lr_decay : float, default=0.0
        Step size ``lr / (1 + (t - 1) * lr_decay)``.
    weight_decay : float, default=0.0
        L2 penalty added to the gradient.
    eps : float, default=1e-10
        Added to the denominator.
    t : int
        1-based step count.
    """
    clr = lr / (1 + (t - 1) * lr_decay)
    if weight_decay != 0:
        g = g + weight_decay * p
    state_sum += g * g
    p -= clr * g / (np.sqrt(state_sum) + eps)
