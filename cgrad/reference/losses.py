"""NumPy reference: losses with mean reduction, value and gradient together.

Each function returns ``(loss, dout)``: the mean loss as a Python float and dL/dout with
the shape and dtype of the output.  Elementwise losses (mse, mae, bce_with_logits,
hinge_binary) average over all elements, row-wise ones (softmax_cross_entropy,
hinge_multiclass) over rows, as PyTorch's ``reduction="mean"`` does.
Computed in the dtype of the inputs; tests pass float64 to get the truth.
"""
import numpy as np

__all__ = ["mse", "mae", "bce_with_logits", "softmax_cross_entropy", "hinge_multiclass",
           "hinge_binary", "LOSSES"]


def mse(out, target):
    """mean((out - t)^2);  dout = 2 (out - t) / size.

    Parameters
    ----------
    out : ndarray
        Predictions.
    target : ndarray
        Targets, the shape of `out`.

    Returns
    -------
    loss : float
        The mean loss.
    dout : ndarray
        Its gradient with respect to `out`, the shape and dtype of `out`.
    """
    d = out - target
    return float(np.mean(d * d)), (2 * d / d.size).astype(out.dtype)


def mae(out, target):
    """mean|out - t|;  dout = sign(out - t) / size  (sign(0) = 0).

    Parameters
    ----------
    out : ndarray
        Predictions.
    target : ndarray
        Targets, the shape of `out`.

    Returns
    -------
    loss : float
        The mean loss.
    dout : ndarray
        Its gradient with respect to `out`, the shape and dtype of `out`.
    """
    d = out - target
    return float(np.mean(np.abs(d))), (np.sign(d) / d.size).astype(out.dtype)


def bce_with_logits(logits, target):
    """``mean(max(z, 0) - z t + log1p(exp(-|z|)))``;  ``dout = (sigmoid(z) - t) / size``.

    Parameters
    ----------
    logits : ndarray
        Raw scores ``z``.
    target : ndarray
        Targets in [0, 1], the shape of `logits`.

    Returns
    -------
    loss : float
        The mean loss.
    dout : ndarray
        Its gradient with respect to `logits`, their shape and dtype.
    """
    z, t = logits, target
    e = np.exp(-np.abs(z))
    loss = np.maximum(z, 0) - z * t + np.log1p(e)
    # sigmoid(z) - t without cancellation: (1 - t) - e/(1+e) for z >= 0, e/(1+e) - t else
    grad = np.where(z >= 0, (1 - t) - e / (1 + e), e / (1 + e) - t)
    return float(np.mean(loss)), (grad / z.size).astype(z.dtype)


def softmax_cross_entropy(logits, labels_or_onehot):
    """mean over rows of logsumexp(z) - z[label]   (1-D integer labels), or of
    -sum_j t_j log softmax(z)_j   (2-D targets: one-hot or probabilities).
    dout = (softmax(z) * sum_j t_j - t) / rows, i.e. (softmax(z) - onehot) / rows.

    Parameters
    ----------
    logits : ndarray, shape (N, K)
        Raw scores.
    labels_or_onehot : ndarray
        Integer class labels of shape (N,), or targets of shape (N, K) (one-hot or
        probabilities).

    Returns
    -------
    loss : float
        The mean loss over rows.
    dout : ndarray, shape (N, K)
        Its gradient with respect to `logits`, in their dtype.
    """
    z = logits
    rows = z.shape[0]
    shifted = z - z.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    s = e.sum(axis=1, keepdims=True)
    log_p = np.log(s) - shifted                  # -log softmax, no overflow
    t = np.asarray(labels_or_onehot)
    if t.ndim == 1:
        t = np.eye(z.shape[1], dtype=z.dtype)[t]
    loss = np.sum(t * log_p) / rows
    grad = (e / s) * t.sum(axis=1, keepdims=True) - t
    return float(loss), (grad / rows).astype(z.dtype)


def hinge_multiclass(logits, labels):
    """Crammer-Singer: mean over rows of max(0, 1 + max_{j != y} z_j - z_y).
    Subgradient +1/rows at the first argmax j != y, -1/rows at y, where violated.
    With one column there is no rival class and the loss is 0.

    Parameters
    ----------
    logits : ndarray, shape (N, K)
        Raw scores.
    labels : ndarray of int, shape (N,)
        Class labels in ``0..K-1``.

    Returns
    -------
    loss : float
        The mean loss over rows.
    dout : ndarray, shape (N, K)
        Its subgradient with respect to `logits`, in their dtype.
    """
    z = logits
    rows, cols = z.shape
    idx = np.arange(rows)
    grad = np.zeros_like(z)
    if cols < 2:
        return 0.0, grad
    rivals = z.astype(np.float64)
    rivals[idx, labels] = -np.inf
    j = np.argmax(rivals, axis=1)                # first index on ties
    margin = 1.0 + rivals[idx, j] - z[idx, labels].astype(np.float64)
    hit = margin > 0
    grad[idx[hit], j[hit]] = 1.0 / rows
    grad[idx[hit], labels[hit]] = -1.0 / rows
    return float(np.sum(np.maximum(margin, 0)) / rows), grad


def hinge_binary(out, target):
    """mean(max(0, 1 - t z)), t in {-1, +1};  dout = -t / size where 1 - t z > 0.

    Parameters
    ----------
    out : ndarray
        Raw scores ``z``.
    target : ndarray
        Targets in {-1, +1}, the shape of `out`.

    Returns
    -------
    loss : float
        The mean loss.
    dout : ndarray
        Its subgradient with respect to `out`, the shape and dtype of `out`.
    """
    m = 1 - target * out
    return float(np.mean(np.maximum(m, 0))), np.where(m > 0, -target / out.size,
                                                      0).astype(out.dtype)


# name -> (function, target kind): "float" 2-D float targets, "labels" 1-D class labels,
# "either" labels or 2-D one-hot / probability targets.
LOSSES = {
    "mse": (mse, "float"),
    "mae": (mae, "float"),
    "bce_with_logits": (bce_with_logits, "float"),
    "softmax_cross_entropy": (softmax_cross_entropy, "either"),
    "hinge_multiclass": (hinge_multiclass, "labels"),
    "hinge_binary": (hinge_binary, "float"),
}
