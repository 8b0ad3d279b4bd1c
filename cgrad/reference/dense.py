"""NumPy reference: matrix multiply and the dense (fully connected) layer.

gemm(A, B, transA, transB, alpha, beta, C) -> alpha * op(A) @ op(B) + beta * C
linear_forward(x, W, b) -> z = x @ W + b
linear_backward(dz, x, W) -> (dx, dW, db) = (dz @ W.T, x.T @ dz, dz.sum(0))
linear_act_forward(x, W, b, activation) -> (z, y = act(z))
linear_act_backward(dy, z, y, x, W, activation) -> (dx, dW, db) with dz = dy * act'(z)
Shapes: x (N, IN), W (IN, OUT), b (OUT,), z/y (N, OUT).  Computed in the input dtype.
"""
import numpy as np

from .activations import ACTIVATIONS

__all__ = ["gemm", "linear_forward", "linear_backward", "linear_act_forward",
           "linear_act_backward"]


def gemm(A, B, transA=False, transB=False, alpha=1.0, beta=0.0, C=None):
    """General matrix multiply: ``alpha * op(A) @ op(B) + beta * C``.

    Parameters
    ----------
    A : ndarray, shape (M, K), or (K, M) if `transA`
        Left operand.
    B : ndarray, shape (K, N), or (N, K) if `transB`
        Right operand.
    transA : bool, default=False
        Use ``A.T``.
    transB : bool, default=False
        Use ``B.T``.
    alpha : float, default=1.0
        Scale of the product.
    beta : float, default=0.0
        Scale of `C`.
    C : ndarray of shape (M, N) or None, default=None
        Added term (ignored when None or ``beta == 0``); not written.

    Returns
    -------
    ndarray, shape (M, N)
        The result, in the dtype of `A`.
    """
    opA = A.T if transA else A
    opB = B.T if transB else B
    out = alpha * (opA @ opB)
    if C is not None and beta != 0:
        out = out + beta * C
    return out.astype(A.dtype, copy=False)


def linear_forward(x, W, b=None):
    """Dense layer forward: ``z = x @ W + b``.

    Parameters
    ----------
    x : ndarray, shape (N, IN)
        Input.
    W : ndarray, shape (IN, OUT)
        Weights.
    b : ndarray of shape (OUT,) or None, default=None
        Bias; None: no bias.

    Returns
    -------
    ndarray, shape (N, OUT)
        ``z``.
    """
    z = x @ W
    return z if b is None else z + b


def linear_backward(dz, x, W):
    """Dense layer backward: ``(dz @ W.T, x.T @ dz, dz.sum(0))``.

    Parameters
    ----------
    dz : ndarray, shape (N, OUT)
        Gradient with respect to the output ``z``.
    x : ndarray, shape (N, IN)
        The forward's input.
    W : ndarray, shape (IN, OUT)
        Weights.

    Returns
    -------
    dx : ndarray, shape (N, IN)
        Gradient with respect to `x`.
    dW : ndarray, shape (IN, OUT)
        Gradient with respect to `W`.
    db : ndarray, shape (OUT,)
        Gradient with respect to the bias.
    """
    return dz @ W.T, x.T @ dz, dz.sum(axis=0)


def _act(activation, alpha):
    fwd, bwd, takes_alpha = ACTIVATIONS[activation]
    extra = () if not takes_alpha or alpha is None else (alpha,)
    return fwd, bwd, extra


def linear_act_forward(x, W, b, activation, alpha=None):
    """Dense layer and activation: ``z = x @ W + b``, ``y = act(z)``.

    Parameters
    ----------
    x : ndarray, shape (N, IN)
        Input.
    W : ndarray, shape (IN, OUT)
        Weights.
    b : ndarray of shape (OUT,) or None
        Bias; None: no bias.
    activation : str
        A key of `ACTIVATIONS` (``"relu"``, ``"tanh"``, ...).
    alpha : float or None, default=None
        The activation's parameter (leaky_relu, elu); None: its default.

    Returns
    -------
    z : ndarray, shape (N, OUT)
        Pre-activations.
    y : ndarray, shape (N, OUT)
        Activations.
    """
    fwd, _, extra = _act(activation, alpha)
    z = linear_forward(x, W, b)
    return z, fwd(z, *extra)


def linear_act_backward(dy, z, y, x, W, activation, alpha=None):
    """Backward of `linear_act_forward`: ``dz = dy * act'(z)``, then `linear_backward`.

    Parameters
    ----------
    dy : ndarray, shape (N, OUT)
        Gradient with respect to ``y``.
    z : ndarray, shape (N, OUT)
        The forward's pre-activations.
    y : ndarray, shape (N, OUT)
        The forward's activations.
    x : ndarray, shape (N, IN)
        The forward's input.
    W : ndarray, shape (IN, OUT)
        Weights.
    activation : str
        The forward's activation.
    alpha : float or None, default=None
        The forward's `alpha`.

    Returns
    -------
    dx : ndarray, shape (N, IN)
        Gradient with respect to `x`.
    dW : ndarray, shape (IN, OUT)
        Gradient with respect to `W`.
    db : ndarray, shape (OUT,)
        Gradient with respect to the bias.
    """
    _, bwd, extra = _act(activation, alpha)
    return linear_backward(bwd(dy, z, y, *extra), x, W)
