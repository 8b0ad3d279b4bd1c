"""NumPy reference: activations, forward and backward.

forward(z[, alpha]) -> y ;  backward(dy, z, y[, alpha]) -> dz = dy * act'(z)
Computed in the dtype of the inputs; tests pass float64 to get the truth.
"""
import numpy as np

__all__ = [
    "identity_forward", "identity_backward", "relu_forward", "relu_backward",
    "leaky_relu_forward", "leaky_relu_backward", "sigmoid_forward", "sigmoid_backward",
    "tanh_forward", "tanh_backward", "softmax_forward", "softmax_backward",
    "elu_forward", "elu_backward", "gelu_forward", "gelu_backward", "ACTIVATIONS",
]

_GELU_C = np.sqrt(2.0 / np.pi)
_GELU_A = 0.044715


def identity_forward(z):
    return z.copy()


def identity_backward(dy, z, y):
    return dy.copy()


def relu_forward(z):
    return np.maximum(z, 0)


def relu_backward(dy, z, y):
    return dy * (z > 0)


def leaky_relu_forward(z, alpha=0.01):
    return np.where(z > 0, z, alpha * z).astype(z.dtype)


def leaky_relu_backward(dy, z, y, alpha=0.01):
    return np.where(z > 0, dy, alpha * dy).astype(dy.dtype)


def sigmoid_forward(z):
    # 1/(1+exp(-z)) for z >= 0 and exp(z)/(1+exp(z)) for z < 0: no overflow either way
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e)).astype(z.dtype)


def sigmoid_backward(dy, z, y):
    return dy * y * (1 - y)


def tanh_forward(z):
    return np.tanh(z)


def tanh_backward(dy, z, y):
    return dy * (1 - y * y)


def softmax_forward(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def softmax_backward(dy, z, y):
    return y * (dy - (dy * y).sum(axis=-1, keepdims=True))


def elu_forward(z, alpha=1.0):
    return np.where(z > 0, z, alpha * np.expm1(np.minimum(z, 0))).astype(z.dtype)


def elu_backward(dy, z, y, alpha=1.0):
    return np.where(z > 0, dy, dy * alpha * np.exp(np.minimum(z, 0))).astype(dy.dtype)


def gelu_forward(z):
    """GELU, tanh form: 0.5 z (1 + tanh(u)), u = sqrt(2/pi) (z + 0.044715 z^3), computed
    as the identical z * sigmoid(2u), which does not cancel for z << 0."""
    u = _GELU_C * (z + _GELU_A * z ** 3)
    return (z * sigmoid_forward(2 * u)).astype(z.dtype)


def gelu_backward(dy, z, y):
    u = _GELU_C * (z + _GELU_A * z ** 3)
    s = sigmoid_forward(2 * u)
    d = s + 2 * z * s * (1 - s) * _GELU_C * (1 + 3 * _GELU_A * z * z)
    return (dy * d).astype(dy.dtype)


# name -> (forward, backward, takes_alpha)
ACTIVATIONS = {
    "identity": (identity_forward, identity_backward, False),
    "relu": (relu_forward, relu_backward, False),
    "leaky_relu": (leaky_relu_forward, leaky_relu_backward, True),
    "sigmoid": (sigmoid_forward, sigmoid_backward, False),
    "tanh": (tanh_forward, tanh_backward, False),
    "softmax": (softmax_forward, softmax_backward, False),
    "elu": (elu_forward, elu_backward, True),
    "gelu": (gelu_forward, gelu_backward, False),
}
