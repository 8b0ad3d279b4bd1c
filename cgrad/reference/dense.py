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
    opA = A.T if transA else A
    opB = B.T if transB else B
    out = alpha * (opA @ opB)
    if C is not None and beta != 0:
        out = out + beta * C
    return out.astype(A.dtype, copy=False)


def linear_forward(x, W, b=None):
    z = x @ W
    return z if b is None else z + b


def linear_backward(dz, x, W):
    return dz @ W.T, x.T @ dz, dz.sum(axis=0)


def _act(activation, alpha):
    fwd, bwd, takes_alpha = ACTIVATIONS[activation]
    extra = () if not takes_alpha or alpha is None else (alpha,)
    return fwd, bwd, extra


def linear_act_forward(x, W, b, activation, alpha=None):
    fwd, _, extra = _act(activation, alpha)
    z = linear_forward(x, W, b)
    return z, fwd(z, *extra)


def linear_act_backward(dy, z, y, x, W, activation, alpha=None):
    _, bwd, extra = _act(activation, alpha)
    return linear_backward(bwd(dy, z, y, *extra), x, W)
