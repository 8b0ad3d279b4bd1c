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
    """Identity: ``y = z`` (a copy).

    Parameters
    ----------
    z : ndarray
        Pre-activations, any shape.

    Returns
    -------
    ndarray
        ``y``, the shape and dtype of `z`.
    """
    return z.copy()


def identity_backward(dy, z, y):
    """Identity backward: ``dz = dy`` (a copy).

    Parameters
    ----------
    dy : ndarray
        Gradient of the loss with respect to the output ``y``.
    z : ndarray
        The forward's input, the shape of `dy` (unused).
    y : ndarray
        The forward's output, the shape of `dy` (unused).

    Returns
    -------
    ndarray
        ``dz``, the gradient with respect to `z`, the shape of `dy`.
    """
    return dy.copy()


def relu_forward(z):
    """ReLU: ``y = max(z, 0)``.

    Parameters
    ----------
    z : ndarray
        Pre-activations, any shape.

    Returns
    -------
    ndarray
        ``y``, the shape and dtype of `z`.
    """
    return np.maximum(z, 0)


def relu_backward(dy, z, y):
    """ReLU backward: ``dz = dy * (z > 0)``.

    Parameters
    ----------
    dy : ndarray
        Gradient of the loss with respect to the output ``y``.
    z : ndarray
        The forward's input, the shape of `dy`.
    y : ndarray
        The forward's output, the shape of `dy` (unused).

    Returns
    -------
    ndarray
        ``dz``, the gradient with respect to `z`, the shape of `dy`.
    """
    return dy * (z > 0)


def leaky_relu_forward(z, alpha=0.01):
    """Leaky ReLU: ``y = z`` for ``z > 0``, else ``alpha * z``.

    Parameters
    ----------
    z : ndarray
        Pre-activations, any shape.
    alpha : float, default=0.01
        Slope for ``z < 0``.

    Returns
    -------
    ndarray
        ``y``, the shape and dtype of `z`.
    """
    return np.where(z > 0, z, alpha * z).astype(z.dtype)


def leaky_relu_backward(dy, z, y, alpha=0.01):
    """Leaky ReLU backward: ``dz = dy`` for ``z > 0``, else ``alpha * dy``.

    Parameters
    ----------
    dy : ndarray
        Gradient of the loss with respect to the output ``y``.
    z : ndarray
        The forward's input, the shape of `dy`.
    y : ndarray
        The forward's output, the shape of `dy` (unused).
    alpha : float, default=0.01
        The forward's `alpha`.

    Returns
    -------
    ndarray
        ``dz``, the gradient with respect to `z`, the shape of `dy`.
    """
    return np.where(z > 0, dy, alpha * dy).astype(dy.dtype)


def sigmoid_forward(z):
    """Logistic sigmoid: ``y = 1 / (1 + exp(-z))``, without overflow for any `z`.

    Parameters
    ----------
    z : ndarray
        Pre-activations, any shape.

    Returns
    -------
    ndarray
        ``y``, the shape and dtype of `z`.
    """
    # 1/(1+exp(-z)) for z >= 0 and exp(z)/(1+exp(z)) for z < 0: no overflow either way
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e)).astype(z.dtype)


def sigmoid_backward(dy, z, y):
    """Sigmoid backward: ``dz = dy * y * (1 - y)``.

    Parameters
    ----------
    dy : ndarray
        Gradient of the loss with respect to the output ``y``.
    z : ndarray
        The forward's input, the shape of `dy` (unused).
    y : ndarray
        The forward's output, the shape of `dy`.

    Returns
    -------
    ndarray
        ``dz``, the gradient with respect to `z`, the shape of `dy`.
    """
    return dy * y * (1 - y)


def tanh_forward(z):
    """Hyperbolic tangent: ``y = tanh(z)``.

    Parameters
    ----------
    z : ndarray
        Pre-activations, any shape.

    Returns
    -------
    ndarray
        ``y``, the shape and dtype of `z`.
    """
    return np.tanh(z)


def tanh_backward(dy, z, y):
    """Tanh backward: ``dz = dy * (1 - y**2)``.

    Parameters
    ----------
    dy : ndarray
        Gradient of the loss with respect to the output ``y``.
    z : ndarray
        The forward's input, the shape of `dy` (unused).
    y : ndarray
        The forward's output, the shape of `dy`.

    Returns
    -------
    ndarray
        ``dz``, the gradient with respect to `z`, the shape of `dy`.
    """
    return dy * (1 - y * y)


def softmax_forward(z):
    """Softmax along the last axis: ``y = exp(z - max) / sum(exp(z - max))``.

    Parameters
    ----------
    z : ndarray
        Pre-activations, any shape.

    Returns
    -------
    ndarray
        ``y``, the shape and dtype of `z`.
    """
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def softmax_backward(dy, z, y):
    """Softmax backward along the last axis: ``dz = y * (dy - sum(dy * y))``.

    Parameters
    ----------
    dy : ndarray
        Gradient of the loss with respect to the output ``y``.
    z : ndarray
        The forward's input, the shape of `dy` (unused).
    y : ndarray
        The forward's output, the shape of `dy`.

    Returns
    -------
    ndarray
        ``dz``, the gradient with respect to `z`, the shape of `dy`.
    """
    return y * (dy - (dy * y).sum(axis=-1, keepdims=True))


def elu_forward(z, alpha=1.0):
    """ELU: ``y = z`` for ``z > 0``, else ``alpha * expm1(z)``.

    Parameters
    ----------
    z : ndarray
        Pre-activations, any shape.
    alpha : float, default=1.0
        Scale of the negative branch.

    Returns
    -------
    ndarray
        ``y``, the shape and dtype of `z`.
    """
    return np.where(z > 0, z, alpha * np.expm1(np.minimum(z, 0))).astype(z.dtype)


def elu_backward(dy, z, y, alpha=1.0):
    """ELU backward: ``dz = dy`` for ``z > 0``, else ``dy * alpha * exp(z)``.

    Parameters
    ----------
    dy : ndarray
        Gradient of the loss with respect to the output ``y``.
    z : ndarray
        The forward's input, the shape of `dy`.
    y : ndarray
        The forward's output, the shape of `dy` (unused).
    alpha : float, default=1.0
        The forward's `alpha`.

    Returns
    -------
    ndarray
        ``dz``, the gradient with respect to `z`, the shape of `dy`.
    """
    return np.where(z > 0, dy, dy * alpha * np.exp(np.minimum(z, 0))).astype(dy.dtype)


def gelu_forward(z):
    """GELU, tanh form: 0.5 z (1 + tanh(u)), u = sqrt(2/pi) (z + 0.044715 z^3), computed
    as the identical z * sigmoid(2u), which does not cancel for z << 0.

    Parameters
    ----------
    z : ndarray
        Pre-activations, any shape.

    Returns
    -------
    ndarray
        ``y``, the shape and dtype of `z`.
    """
    u = _GELU_C * (z + _GELU_A * z ** 3)
    return (z * sigmoid_forward(2 * u)).astype(z.dtype)


def gelu_backward(dy, z, y):
    """GELU (tanh form) backward: ``dz = dy * d/dz [z * sigmoid(2u)]``.

    Parameters
    ----------
    dy : ndarray
        Gradient of the loss with respect to the output ``y``.
    z : ndarray
        The forward's input, the shape of `dy`.
    y : ndarray
        The forward's output, the shape of `dy` (unused).

    Returns
    -------
    ndarray
        ``dz``, the gradient with respect to `z`, the shape of `dy`.
    """
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
