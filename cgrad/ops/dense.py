"""Compiled matrix multiply and dense layer with the signatures of cgrad.reference.dense.

::

    gemm(A, B, transA=False, transB=False, alpha=1.0, beta=0.0, C=None, n_threads=None) -> C
    linear_forward(x, W, b=None, out=None, n_threads=None) -> z
    linear_backward(dz, x, W, dW=None, db=None, out=None, need_dx=True, n_threads=None)
        -> (dx, dW, db); given dW/db buffers are accumulated into (+=), as parameter
        gradients are; need_dx=False skips dx (returns None: the first layer needs none).
    linear_act_forward(x, W, b, activation, alpha=None, out=None, n_threads=None) -> (z, y)
    linear_act_backward(dy, z, y, x, W, activation, alpha=None, dW=None, db=None, out=None,
                        need_dx=True, n_threads=None) -> (dx, dW, db)

All float arguments of one call share a dtype (float32 or float64) and are C-contiguous.
"""
import numpy as np

from .. import _core
from .._validation import float_array, n_threads_arg, same_shape, writable
from .activations import ACTIVATION_CODES, DEFAULT_ALPHA, activation_code

__all__ = ["gemm", "linear_forward", "linear_backward", "linear_act_forward",
           "linear_act_backward"]


def _buffer(name, buf, shape, dtype):
    """A new zeroed array, or `buf` checked to be writable with this shape and dtype."""
    if buf is None:
        return np.zeros(shape, dtype)
    float_array(name, buf, dtype=dtype, allow_empty=True)
    writable(name, buf)
    return same_shape(name, buf, shape)


def _out(name, out, shape, dtype):
    return np.empty(shape, dtype) if out is None else _buffer(name, out, shape, dtype)


def gemm(A, B, transA=False, transB=False, alpha=1.0, beta=0.0, C=None, n_threads=None):
    """C = alpha * op(A) @ op(B) + beta * C; a new C when C is None (beta then ignored).

    Parameters
    ----------
    A : ndarray, shape (M, K), or (K, M) if `transA`
        Left operand, 2-D, C-contiguous float32 or float64.
    B : ndarray, shape (K, N), or (N, K) if `transB`
        Right operand, the dtype of `A`.
    transA : bool, default=False
        Use ``A.T``.
    transB : bool, default=False
        Use ``B.T``.
    alpha : float, default=1.0
        Scale of the product.
    beta : float, default=0.0
        Scale of `C`'s old content.
    C : ndarray of shape (M, N) or None, default=None
        Output, overwritten in place; None: a new array.
    n_threads : int or None, default=None
        OpenMP threads; None: `cgrad.get_num_threads`.

    Returns
    -------
    ndarray, shape (M, N)
        ``C``.

    Raises
    ------
    TypeError
        If an argument has the wrong type or dtype (named in the message).
    ValueError
        If an argument has a bad shape, layout or value (named in the message).
    """
    float_array("A", A, ndim=2, allow_empty=True)
    float_array("B", B, ndim=2, dtype=A.dtype, allow_empty=True)
    M, K = A.shape[::-1] if transA else A.shape
    KB, N = B.shape[::-1] if transB else B.shape
    if KB != K:
        raise ValueError(f"B has shape {B.shape}, expected op(B) to have {K} rows to "
                         f"match op(A)'s {K} columns (transB={bool(transB)})")
    if C is None:
        C, beta = np.empty((M, N), A.dtype), 0.0
    else:
        _buffer("C", C, (M, N), A.dtype)
    _core.gemm(bool(transA), bool(transB), float(alpha), A, B, float(beta), C,
               n_threads_arg(n_threads))
    return C


def _check_layer(x, W, b):
    float_array("x", x, ndim=2, allow_empty=True)
    float_array("W", W, ndim=2, dtype=x.dtype, allow_empty=True)
    if W.shape[0] != x.shape[1]:
        raise ValueError(f"W has shape {W.shape}, expected ({x.shape[1]}, *) to match "
                         f"x's {x.shape[1]} columns")
    if b is not None:
        float_array("b", b, ndim=1, dtype=x.dtype, allow_empty=True)
        same_shape("b", b, (W.shape[1],))


def linear_forward(x, W, b=None, out=None, n_threads=None):
    """z = x @ W + b.

    Parameters
    ----------
    x : ndarray, shape (N, IN)
        Input, C-contiguous float32 or float64.
    W : ndarray, shape (IN, OUT)
        Weights, the dtype of `x`.
    b : ndarray of shape (OUT,) or None, default=None
        Bias; None: no bias.
    out : ndarray of shape (N, OUT) or None, default=None
        Output buffer; None: a new array.
    n_threads : int or None, default=None
        OpenMP threads; None: `cgrad.get_num_threads`.

    Returns
    -------
    ndarray, shape (N, OUT)
        ``z`` (`out` if given).

    Raises
    ------
    TypeError
        If an argument has the wrong type or dtype (named in the message).
    ValueError
        If an argument has a bad shape, layout or value (named in the message).
    """
    _check_layer(x, W, b)
    z = _out("out", out, (x.shape[0], W.shape[1]), x.dtype)
    _core.linear_forward(x, W, b, z, n_threads_arg(n_threads))
    return z


def _grads(dz, x, W, dW, db, out, need_dx):
    float_array("dz", dz, ndim=2, dtype=x.dtype, allow_empty=True)
    same_shape("dz", dz, (x.shape[0], W.shape[1]))
    accumulate = dW is not None or db is not None
    dW = _buffer("dW", dW, W.shape, x.dtype)
    db = _buffer("db", db, (W.shape[1],), x.dtype)
    dx = _out("out", out, x.shape, x.dtype) if need_dx else None
    return dW, db, dx, accumulate


def linear_backward(dz, x, W, dW=None, db=None, out=None, need_dx=True, n_threads=None):
    """dx = dz @ W.T; dW (+)= x.T @ dz; db (+)= dz.sum(0).  Returns (dx, dW, db).

    Parameters
    ----------
    dz : ndarray, shape (N, OUT)
        Gradient with respect to ``z``.
    x : ndarray, shape (N, IN)
        The forward's input.
    W : ndarray, shape (IN, OUT)
        Weights, the dtype of `x`.
    dW : ndarray of shape (IN, OUT) or None, default=None
        Weight gradient buffer, accumulated into (+=); None: a new array.
    db : ndarray of shape (OUT,) or None, default=None
        Bias gradient buffer, accumulated into (+=); None: a new array.
    out : ndarray of shape (N, IN) or None, default=None
        Buffer for ``dx``; None: a new array.
    need_dx : bool, default=True
        False skips ``dx`` (the first layer needs none) and returns None for it.
    n_threads : int or None, default=None
        OpenMP threads; None: `cgrad.get_num_threads`.

    Returns
    -------
    dx : ndarray of shape (N, IN) or None
        Gradient with respect to `x`; None if not `need_dx`.
    dW : ndarray, shape (IN, OUT)
        Weight gradient (`dW` if given).
    db : ndarray, shape (OUT,)
        Bias gradient (`db` if given).

    Raises
    ------
    TypeError
        If an argument has the wrong type or dtype (named in the message).
    ValueError
        If an argument has a bad shape, layout or value (named in the message).
    """
    _check_layer(x, W, None)
    dW, db, dx, accumulate = _grads(dz, x, W, dW, db, out, need_dx)
    _core.linear_backward(dz, x, W, dW, db, dx, accumulate, n_threads_arg(n_threads))
    return dx, dW, db


def _alpha(activation, alpha):
    activation_code(activation)
    return float(DEFAULT_ALPHA.get(activation, 0.0) if alpha is None else alpha)


def linear_act_forward(x, W, b, activation, alpha=None, out=None, n_threads=None):
    """z = x @ W + b; y = act(z) (bias and elementwise activations fused into the GEMM).
    out: optional y buffer.  Returns (z, y).

    Parameters
    ----------
    x : ndarray, shape (N, IN)
        Input, C-contiguous float32 or float64.
    W : ndarray, shape (IN, OUT)
        Weights, the dtype of `x`.
    b : ndarray of shape (OUT,) or None
        Bias; None: no bias.
    activation : str
        Activation name, a key of `cgrad.ops.ACTIVATION_CODES`.
    alpha : float or None, default=None
        The activation's parameter (leaky_relu 0.01, elu 1.0 when None); ignored by the others.
    out : ndarray of shape (N, OUT) or None, default=None
        Buffer for ``y``; None: a new array.
    n_threads : int or None, default=None
        OpenMP threads; None: `cgrad.get_num_threads`.

    Returns
    -------
    z : ndarray, shape (N, OUT)
        Pre-activations.
    y : ndarray, shape (N, OUT)
        Activations (`out` if given).

    Raises
    ------
    TypeError
        If an argument has the wrong type or dtype (named in the message).
    ValueError
        If an argument has a bad shape, layout or value (named in the message).
    """
    a = _alpha(activation, alpha)
    _check_layer(x, W, b)
    shape = (x.shape[0], W.shape[1])
    z = np.empty(shape, x.dtype)
    y = _out("out", out, shape, x.dtype)
    _core.linear_act_forward(ACTIVATION_CODES[activation], a, x, W, b, z, y,
                             n_threads_arg(n_threads))
    return z, y


def linear_act_backward(dy, z, y, x, W, activation, alpha=None, dW=None, db=None, out=None,
                        need_dx=True, n_threads=None):
    """dz = dy * act'(z); dx = dz @ W.T; dW (+)= x.T @ dz; db (+)= dz.sum(0).

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
        Weights, the dtype of `x`.
    activation : str
        Activation name, a key of `cgrad.ops.ACTIVATION_CODES`.
    alpha : float or None, default=None
        The activation's parameter (leaky_relu 0.01, elu 1.0 when None); ignored by the others.
    dW : ndarray of shape (IN, OUT) or None, default=None
        Weight gradient buffer, accumulated into (+=); None: a new array.
    db : ndarray of shape (OUT,) or None, default=None
        Bias gradient buffer, accumulated into (+=); None: a new array.
    out : ndarray of shape (N, IN) or None, default=None
        Buffer for ``dx``; None: a new array.
    need_dx : bool, default=True
        False skips ``dx`` (the first layer needs none) and returns None for it.
    n_threads : int or None, default=None
        OpenMP threads; None: `cgrad.get_num_threads`.

    Returns
    -------
    dx : ndarray of shape (N, IN) or None
        Gradient with respect to `x`; None if not `need_dx`.
    dW : ndarray, shape (IN, OUT)
        Weight gradient (`dW` if given).
    db : ndarray, shape (OUT,)
        Bias gradient (`db` if given).

    Raises
    ------
    TypeError
        If an argument has the wrong type or dtype (named in the message).
    ValueError
        If an argument has a bad shape, layout or value (named in the message).
    """
    a = _alpha(activation, alpha)
    _check_layer(x, W, None)
    shape = (x.shape[0], W.shape[1])
    for name, arr in (("dy", dy), ("z", z), ("y", y)):
        float_array(name, arr, ndim=2, dtype=x.dtype, allow_empty=True)
        same_shape(name, arr, shape)
    dz = np.empty(shape, x.dtype)
    dW, db, dx, accumulate = _grads(dz, x, W, dW, db, out, need_dx)
    _core.linear_act_backward(ACTIVATION_CODES[activation], a, dy, z, y, dz, x, W, dW, db,
                              dx, accumulate, n_threads_arg(n_threads))
    return dx, dW, db
