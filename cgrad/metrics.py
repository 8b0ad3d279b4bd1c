"""Evaluation metrics in NumPy (classification and regression), with checked inputs.

Classification metrics take integer labels ``y_true`` (1-D, >= 0) and ``y_pred`` as
labels or as a 2-D (n_samples, n_classes) score/probability matrix, reduced by argmax.
Per-class arrays are indexed by class 0..K-1 (K = ``n_classes`` or the largest label
seen + 1).  Like scikit-learn's defaults, ``average="macro"`` averages over the classes
that occur in ``y_true`` or ``y_pred``, and a zero denominator gives 0
(``zero_division=0``).
"""
import numpy as np

__all__ = ["accuracy", "confusion_matrix", "precision", "recall", "f1", "summary",
           "mean_squared_error", "mean_absolute_error", "r2_score"]

_AVERAGES = ("macro", "weighted", None)


def _as_labels(name, y):
    y = np.asarray(y)
    if y.dtype.kind == "b" or y.dtype.kind not in "iuf":
        raise TypeError(f"{name} must hold integer class labels, got dtype {y.dtype}")
    if y.dtype.kind == "f":
        if not (np.all(np.isfinite(y)) and np.all(y == np.round(y))):
            raise TypeError(f"{name} must hold integer class labels, got non-integer floats")
    y = y.astype(np.int64)
    if y.size and y.min() < 0:
        raise ValueError(f"{name} has negative label {y.min()}; labels must be >= 0")
    return y


def _check_labels(y_true, y_pred, n_classes=None):
    """(y_true, y_pred, K) as int64 label vectors of equal length, K classes."""
    y_true = np.asarray(y_true)
    if y_true.ndim != 1:
        raise ValueError(f"y_true must be 1-D class labels, got shape {y_true.shape}")
    y_true = _as_labels("y_true", y_true)
    y_pred = np.asarray(y_pred)
    width = 0
    if y_pred.ndim == 2:
        if y_pred.shape[1] < 2:
            raise ValueError("y_pred has one column: pass labels instead, e.g. "
                             "(p > 0.5).astype(int) for a sigmoid output")
        if y_pred.dtype.kind not in "iuf":
            raise TypeError(f"y_pred scores must be numeric, got dtype {y_pred.dtype}")
        if np.isnan(y_pred).any():
            raise ValueError("y_pred scores contain NaN")
        width = y_pred.shape[1]
        y_pred = np.argmax(y_pred, axis=1)
    elif y_pred.ndim == 1:
        y_pred = _as_labels("y_pred", y_pred)
    else:
        raise ValueError(f"y_pred must be 1-D labels or a 2-D score matrix, got shape "
                         f"{y_pred.shape}")
    if y_pred.shape[0] != y_true.shape[0]:
        raise ValueError(f"y_true has {y_true.shape[0]} samples but y_pred has "
                         f"{y_pred.shape[0]}")
    if y_true.size == 0:
        raise ValueError("y_true and y_pred are empty")
    seen = int(max(y_true.max(), y_pred.max())) + 1
    if n_classes is None:
        n_classes = max(seen, width)
    else:
        if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)):
            raise TypeError(f"n_classes must be an int, got {type(n_classes).__name__}")
        if n_classes < seen or n_classes < width:
            raise ValueError(f"n_classes={n_classes} but labels up to {max(seen, width) - 1} "
                             "occur")
    return y_true, y_pred.astype(np.int64), int(n_classes)


def accuracy(y_true, y_pred):
    """Fraction of samples whose predicted label equals the true label.

    Parameters
    ----------
    y_true : array_like of int, shape (n_samples,)
        True class labels, >= 0.
    y_pred : array_like
        Predicted labels of shape (n_samples,), or scores of shape (n_samples, n_classes)
        (reduced by argmax).

    Returns
    -------
    float
        The accuracy, in [0, 1].

    Raises
    ------
    TypeError
        If labels are not integers (or scores not numeric), or `n_classes` is not an int.
    ValueError
        If the shapes do not match, the inputs are empty, a label is negative or
        >= `n_classes`, or scores contain NaN.

    Examples
    --------
    >>> from cgrad.metrics import accuracy
    >>> accuracy([0, 1, 1, 2], [0, 1, 0, 2])
    0.75
    """
    y_true, y_pred, _ = _check_labels(y_true, y_pred)
    return float(np.mean(y_true == y_pred))


def confusion_matrix(y_true, y_pred, n_classes=None):
    """C[i, j] = number of samples of true class i predicted as class j (int64, K x K).

    Parameters
    ----------
    y_true : array_like of int, shape (n_samples,)
        True class labels, >= 0.
    y_pred : array_like
        Predicted labels of shape (n_samples,), or scores of shape (n_samples, n_classes)
        (reduced by argmax).
    n_classes : int or None, default=None
        Number of classes K; None: the largest label (or score column) seen + 1.

    Returns
    -------
    ndarray of int64, shape (K, K)
        The confusion matrix.

    Raises
    ------
    TypeError
        If labels are not integers (or scores not numeric), or `n_classes` is not an int.
    ValueError
        If the shapes do not match, the inputs are empty, a label is negative or
        >= `n_classes`, or scores contain NaN.

    Examples
    --------
    >>> from cgrad.metrics import confusion_matrix
    >>> confusion_matrix([0, 1, 1], [0, 1, 0])
    array([[1, 0],
           [1, 1]])
    """
    y_true, y_pred, k = _check_labels(y_true, y_pred, n_classes)
    return np.bincount(y_true * k + y_pred, minlength=k * k).reshape(k, k)


def _ratio(num, den):
    """num / den with 0 where den == 0 (zero_division=0)."""
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den != 0)


def _per_class(y_true, y_pred, n_classes):
    """precision, recall, f1, support and the mask of classes present, per class."""
    cm = confusion_matrix(y_true, y_pred, n_classes)
    tp = np.diag(cm).astype(np.float64)
    predicted, support = cm.sum(axis=0), cm.sum(axis=1)
    p, r = _ratio(tp, predicted), _ratio(tp, support)
    f = _ratio(2 * tp, predicted + support)      # = 2pr/(p+r), 0 when both are 0
    return p, r, f, support, (predicted + support) > 0


def _average(values, support, present, average):
    if average not in _AVERAGES:
        raise ValueError(f"average must be one of {_AVERAGES}, got {average!r}")
    if average is None:
        return values
    if average == "macro":
        return float(values[present].mean())
    return float(np.sum(values * support) / support.sum())      # weighted by support


def precision(y_true, y_pred, average="macro", n_classes=None):
    """TP / (TP + FP) per class (average=None) or averaged ("macro", "weighted").

    Parameters
    ----------
    y_true : array_like of int, shape (n_samples,)
        True class labels, >= 0.
    y_pred : array_like
        Predicted labels of shape (n_samples,), or scores of shape (n_samples, n_classes)
        (reduced by argmax).
    average : {"macro", "weighted"} or None, default="macro"
        None: one value per class; "macro": the mean over the classes present in `y_true` or
        `y_pred`; "weighted": the mean weighted by each class's support.
    n_classes : int or None, default=None
        Number of classes K; None: the largest label (or score column) seen + 1.

    Returns
    -------
    float or ndarray of float64
        The average, or with ``average=None`` one value per class 0..K-1 (0 where undefined).

    Raises
    ------
    TypeError
        If labels are not integers (or scores not numeric), or `n_classes` is not an int.
    ValueError
        If the shapes do not match, the inputs are empty, a label is negative or
        >= `n_classes`, or scores contain NaN, or `average` is not one of its values.
    """
    p, _, _, support, present = _per_class(y_true, y_pred, n_classes)
    return _average(p, support, present, average)


def recall(y_true, y_pred, average="macro", n_classes=None):
    """TP / (TP + FN) per class (average=None) or averaged ("macro", "weighted").

    Parameters
    ----------
    y_true : array_like of int, shape (n_samples,)
        True class labels, >= 0.
    y_pred : array_like
        Predicted labels of shape (n_samples,), or scores of shape (n_samples, n_classes)
        (reduced by argmax).
    average : {"macro", "weighted"} or None, default="macro"
        None: one value per class; "macro": the mean over the classes present in `y_true` or
        `y_pred`; "weighted": the mean weighted by each class's support.
    n_classes : int or None, default=None
        Number of classes K; None: the largest label (or score column) seen + 1.

    Returns
    -------
    float or ndarray of float64
        The average, or with ``average=None`` one value per class 0..K-1 (0 where undefined).

    Raises
    ------
    TypeError
        If labels are not integers (or scores not numeric), or `n_classes` is not an int.
    ValueError
        If the shapes do not match, the inputs are empty, a label is negative or
        >= `n_classes`, or scores contain NaN, or `average` is not one of its values.
    """
    _, r, _, support, present = _per_class(y_true, y_pred, n_classes)
    return _average(r, support, present, average)


def f1(y_true, y_pred, average="macro", n_classes=None):
    """2 TP / (2 TP + FP + FN) per class (average=None) or averaged.

    Parameters
    ----------
    y_true : array_like of int, shape (n_samples,)
        True class labels, >= 0.
    y_pred : array_like
        Predicted labels of shape (n_samples,), or scores of shape (n_samples, n_classes)
        (reduced by argmax).
    average : {"macro", "weighted"} or None, default="macro"
        None: one value per class; "macro": the mean over the classes present in `y_true` or
        `y_pred`; "weighted": the mean weighted by each class's support.
    n_classes : int or None, default=None
        Number of classes K; None: the largest label (or score column) seen + 1.

    Returns
    -------
    float or ndarray of float64
        The average, or with ``average=None`` one value per class 0..K-1 (0 where undefined).

    Raises
    ------
    TypeError
        If labels are not integers (or scores not numeric), or `n_classes` is not an int.
    ValueError
        If the shapes do not match, the inputs are empty, a label is negative or
        >= `n_classes`, or scores contain NaN, or `average` is not one of its values.
    """
    _, _, f, support, present = _per_class(y_true, y_pred, n_classes)
    return _average(f, support, present, average)


def summary(y_true, y_pred, n_classes=None):
    """A dict shaped like ``sklearn.metrics.classification_report(output_dict=True)``.

    Keys: ``str(c)`` for each class c present in y_true or y_pred, each a dict with
    "precision", "recall", "f1-score", "support"; "accuracy"; "macro avg" and
    "weighted avg" (same four keys, support = number of samples).

    Parameters
    ----------
    y_true : array_like of int, shape (n_samples,)
        True class labels, >= 0.
    y_pred : array_like
        Predicted labels of shape (n_samples,), or scores of shape (n_samples, n_classes)
        (reduced by argmax).
    n_classes : int or None, default=None
        Number of classes K; None: the largest label (or score column) seen + 1.

    Returns
    -------
    dict
        The report described above.

    Raises
    ------
    TypeError
        If labels are not integers (or scores not numeric), or `n_classes` is not an int.
    ValueError
        If the shapes do not match, the inputs are empty, a label is negative or
        >= `n_classes`, or scores contain NaN.
    """
    p, r, f, support, present = _per_class(y_true, y_pred, n_classes)
    y_true, y_pred, _ = _check_labels(y_true, y_pred, n_classes)
    out = {}
    for c in np.flatnonzero(present):
        out[str(c)] = {"precision": float(p[c]), "recall": float(r[c]),
                       "f1-score": float(f[c]), "support": int(support[c])}
    out["accuracy"] = float(np.mean(y_true == y_pred))
    for key, avg in (("macro avg", "macro"), ("weighted avg", "weighted")):
        out[key] = {"precision": _average(p, support, present, avg),
                    "recall": _average(r, support, present, avg),
                    "f1-score": _average(f, support, present, avg),
                    "support": int(support.sum())}
    return out


# ---------------------------------------------------------------------------------------
# Regression
# ---------------------------------------------------------------------------------------
def _check_regression(y_true, y_pred):
    arrays = []
    for name, a in (("y_true", y_true), ("y_pred", y_pred)):
        a = np.asarray(a)
        if a.dtype.kind not in "iuf" or a.dtype.kind == "b":
            raise TypeError(f"{name} must be numeric, got dtype {a.dtype}")
        if a.ndim not in (1, 2):
            raise ValueError(f"{name} must be 1-D or 2-D (samples, outputs), got shape "
                             f"{a.shape}")
        if a.size == 0:
            raise ValueError(f"{name} is empty")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} contains NaN or inf")
        arrays.append(a.astype(np.float64))
    y_true, y_pred = arrays
    # a (n,) target against a (n, 1) prediction is the common single-output case
    if y_true.ndim == 1 and y_pred.shape == (y_true.shape[0], 1):
        y_pred = y_pred[:, 0]
    if y_pred.ndim == 1 and y_true.shape == (y_pred.shape[0], 1):
        y_true = y_true[:, 0]
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has shape {y_true.shape} but y_pred has {y_pred.shape}")
    return y_true, y_pred


def mean_squared_error(y_true, y_pred):
    """mean((y_true - y_pred)^2) over all samples and outputs.

    Parameters
    ----------
    y_true : array_like, shape (n_samples,) or (n_samples, n_outputs)
        True values, numeric and finite.
    y_pred : array_like
        Predictions, the shape of `y_true` (a single-output (n, 1) matches (n,)).

    Returns
    -------
    float
        The mean squared error.

    Raises
    ------
    TypeError
        If an input is not numeric.
    ValueError
        If an input is empty, not 1-D or 2-D, not finite, or the shapes do not match.
    """
    y_true, y_pred = _check_regression(y_true, y_pred)
    return float(np.mean((y_true - y_pred) ** 2))


def mean_absolute_error(y_true, y_pred):
    """``mean(|y_true - y_pred|)`` over all samples and outputs.

    Parameters
    ----------
    y_true : array_like, shape (n_samples,) or (n_samples, n_outputs)
        True values, numeric and finite.
    y_pred : array_like
        Predictions, the shape of `y_true` (a single-output (n, 1) matches (n,)).

    Returns
    -------
    float
        The mean absolute error.

    Raises
    ------
    TypeError
        If an input is not numeric.
    ValueError
        If an input is empty, not 1-D or 2-D, not finite, or the shapes do not match.
    """
    y_true, y_pred = _check_regression(y_true, y_pred)
    return float(np.mean(np.abs(y_true - y_pred)))


def r2_score(y_true, y_pred):
    """1 - SS_res / SS_tot per output, averaged over outputs (sklearn's default).

    For a constant output (SS_tot = 0) the score is 1 if predicted exactly, else 0
    (sklearn's force_finite=True).

    Parameters
    ----------
    y_true : array_like, shape (n_samples,) or (n_samples, n_outputs)
        True values, numeric and finite.
    y_pred : array_like
        Predictions, the shape of `y_true` (a single-output (n, 1) matches (n,)).

    Returns
    -------
    float
        The coefficient of determination, averaged over the outputs (at most 1).

    Raises
    ------
    TypeError
        If an input is not numeric.
    ValueError
        If an input is empty, not 1-D or 2-D, not finite, or the shapes do not match.
    """
    y_true, y_pred = _check_regression(y_true, y_pred)
    if y_true.ndim == 1:
        y_true, y_pred = y_true[:, None], y_pred[:, None]
    ss_res = np.sum((y_true - y_pred) ** 2, axis=0)
    ss_tot = np.sum((y_true - y_true.mean(axis=0)) ** 2, axis=0)
    scores = np.where(ss_res == 0, 1.0, 0.0)
    nonconst = ss_tot != 0
    scores[nonconst] = 1.0 - ss_res[nonconst] / ss_tot[nonconst]
    return float(scores.mean())
