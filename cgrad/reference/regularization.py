"""NumPy reference: weight penalties and gradient clipping.

Any-shaped arrays (the kernels see them flat).  Computed in the dtype of the inputs;
tests pass float64 to get the truth.
"""
import numpy as np

__all__ = ["l2_penalty", "l1_penalty", "clip_by_value", "global_norm",
           "clip_by_global_norm"]


def l2_penalty(w, lam):
    """L2 penalty and its gradient: ``(0.5 lam sum(w^2), lam w)``.

    Parameters
    ----------
    w : ndarray
        Weights, any shape.
    lam : float
        Penalty strength.

    Returns
    -------
    penalty : float
        ``0.5 * lam * sum(w**2)``, summed in float64.
    grad : ndarray
        ``lam * w``, the shape and dtype of `w`.
    """
    return float(0.5 * lam * np.sum(w.astype(np.float64) ** 2)), (lam * w).astype(w.dtype)


def l1_penalty(w, lam):
    """(lam sum|w|, lam sign(w)) -- sign(0) = 0, the subgradient.

    Parameters
    ----------
    w : ndarray
        Weights, any shape.
    lam : float
        Penalty strength.

    Returns
    -------
    penalty : float
        ``lam * sum(|w|)``, summed in float64.
    grad : ndarray
        ``lam * sign(w)``, the shape and dtype of `w`.
    """
    return float(lam * np.sum(np.abs(w.astype(np.float64)))), (lam * np.sign(w)).astype(w.dtype)


def clip_by_value(g, clip):
    """Clip elementwise: ``min(max(g, -clip), clip)``.

    Parameters
    ----------
    g : ndarray
        Gradient, any shape.
    clip : float
        Bound of the interval ``[-clip, clip]``.

    Returns
    -------
    ndarray
        The clipped gradient, the shape and dtype of `g`.
    """
    return np.clip(g, -clip, clip).astype(g.dtype)


def global_norm(g):
    """sqrt(sum(g^2)) over all elements, as a float.

    Parameters
    ----------
    g : ndarray
        Gradient, any shape.

    Returns
    -------
    float
        The Euclidean norm of all elements, summed in float64.
    """
    return float(np.sqrt(np.sum(g.astype(np.float64) ** 2)))


def clip_by_global_norm(g, max_norm):
    """(g * max_norm / (norm + 1e-6) if norm > max_norm else g, norm) -- as
    ``torch.nn.utils.clip_grad_norm_``; the norm is the one before clipping.

    Parameters
    ----------
    g : ndarray
        Gradient, any shape.
    max_norm : float
        Largest norm kept.

    Returns
    -------
    clipped : ndarray
        The (possibly rescaled) gradient, a new array of the shape and dtype of `g`.
    norm : float
        The norm of `g` before clipping.
    """
    norm = global_norm(g)
    if norm > max_norm:
        return (g * (max_norm / (norm + 1e-6))).astype(g.dtype), norm
    return g.copy(), norm
