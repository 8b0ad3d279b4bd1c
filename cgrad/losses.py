"""Loss objects over the compiled loss kernels: ``loss, grad = loss_fn(out, y)``.

Mean reduction everywhere.  Losses marked ``on_logits`` take the network's raw scores
(an MLP with ``output="softmax"`` or ``"sigmoid"`` returns logits from ``forward``,
exactly as PyTorch pairs ``CrossEntropyLoss`` with logits), which is what makes the
softmax/sigmoid + cross-entropy pair numerically stable and fused.
"""
import numpy as np

from . import ops
from ._validation import labels as _labels
from .ops.losses import LOSS_CODES

__all__ = ["Loss", "MSE", "MAE", "BinaryCrossEntropy", "SoftmaxCrossEntropy", "Hinge",
           "BinaryHinge", "get_loss", "LOSSES"]


class Loss:
    """Base of the loss objects: ``loss, grad = loss_fn(out, y)``.

    Calling a loss returns the mean loss (a float) and its gradient with respect to ``out``
    (the shape and dtype of ``out``).  Subclasses set ``name`` (their compiled loss),
    ``on_logits`` (they take raw scores), ``classification`` and ``uses_labels`` (integer
    class labels rather than float targets).
    """
    name = None              # its key in LOSS_CODES (the compiled loss it runs)
    on_logits = False        # takes raw scores (logits)
    classification = False
    uses_labels = False      # integer class labels (else float targets)

    @property
    def code(self):
        """The compiled loss code (the fused training loop's)."""
        return LOSS_CODES[self.name]

    def __call__(self, out, y):
        """(mean loss, d loss / d out) for the batch ``out`` against ``y``."""
        out = np.ascontiguousarray(out)
        return self._compute(out, self.prepare_targets(y, out.shape))

    def prepare_targets(self, y, out_shape):
        """Validated targets in the form the kernel takes (int64 labels or float array).

        Parameters
        ----------
        y : array_like
            Targets, one row per sample, the shape of the output (a 1-D `y` is taken
            as one column when the output has one).
        out_shape : tuple of int
            Shape of the network output, ``(N,)`` or ``(N, K)``.

        Returns
        -------
        ndarray
            Float targets of `out_shape` (float64 unless `y` is already floating).

        Raises
        ------
        ValueError
            If the number of rows or the shape does not match, or `y` holds NaN or inf.
        TypeError
            If `y` is not numeric.
        """
        n, k = out_shape[0], (out_shape[1] if len(out_shape) > 1 else 1)
        y = np.asarray(y)
        if y.shape[0] != n:
            raise ValueError(f"y has {y.shape[0]} rows, expected {n} (one per sample)")
        if y.dtype.kind not in "biuf":
            raise TypeError(f"y must be numeric, got dtype {y.dtype}")
        y = y.astype(np.float64 if y.dtype.kind != "f" else y.dtype, copy=False)
        if y.ndim == 1 and k == 1 and len(out_shape) == 2:
            y = y.reshape(-1, 1)
        if y.shape != tuple(out_shape):
            raise ValueError(f"y has shape {y.shape}, expected {tuple(out_shape)} "
                             f"to match the network output")
        if not np.isfinite(y).all():
            raise ValueError("y contains NaN or inf values")
        return y

    def __repr__(self):
        return f"{type(self).__name__}()"


class MSE(Loss):
    """Mean squared error: ``mean((out - y)^2)``."""
    name = "mse"

    def _compute(self, out, y):
        return ops.mse(out, y.astype(out.dtype, copy=False))


class MAE(Loss):
    """Mean absolute error: ``mean(|out - y|)``."""
    name = "mae"

    def _compute(self, out, y):
        return ops.mae(out, y.astype(out.dtype, copy=False))


class BinaryCrossEntropy(Loss):
    """Binary cross-entropy from logits (sigmoid fused, stable); y in [0, 1]."""
    name = "bce_with_logits"
    on_logits = True
    classification = True

    def prepare_targets(self, y, out_shape):
        """Validated float targets, each in [0, 1].

        Parameters
        ----------
        y : array_like
            Targets in [0, 1], the shape of the output.
        out_shape : tuple of int
            Shape of the network output, ``(N,)`` or ``(N, K)``.

        Returns
        -------
        ndarray
            Float targets of `out_shape`.

        Raises
        ------
        ValueError
            If the shape does not match, or a value is outside [0, 1], NaN or inf.
        TypeError
            If `y` is not numeric.
        """
        y = super().prepare_targets(y, out_shape)
        if y.size and (y.min() < 0 or y.max() > 1):
            raise ValueError(f"y must be in [0, 1] for binary cross-entropy, got values in "
                             f"[{y.min()}, {y.max()}]")
        return y

    def _compute(self, out, y):
        return ops.bce_with_logits(out, y.astype(out.dtype, copy=False))


class SoftmaxCrossEntropy(Loss):
    """Softmax cross-entropy from logits (fused, stable): integer labels or one-hot rows."""
    name = "softmax_cross_entropy"
    on_logits = True
    classification = True
    uses_labels = True

    def prepare_targets(self, y, out_shape):
        """Validated targets: int64 labels, or float one-hot / probability rows.

        Parameters
        ----------
        y : array_like
            Integer labels in ``0..K-1`` of shape (N,), or rows of shape (N, K).
        out_shape : tuple of int
            Shape of the network output, ``(N,)`` or ``(N, K)``.

        Returns
        -------
        ndarray
            int64 labels of shape (N,), or float targets of `out_shape`.

        Raises
        ------
        ValueError
            If the shape does not match, a label is out of range, or a value is NaN or inf.
        TypeError
            If `y` is not numeric, or 1-D labels are not integers.
        """
        y = np.asarray(y)
        if y.ndim == 2:                       # one-hot / probability rows
            return super().prepare_targets(y, out_shape)
        return _labels("y", y, out_shape[0], out_shape[1])

    def _compute(self, out, y):
        if y.ndim == 2:
            y = y.astype(out.dtype, copy=False)
        return ops.softmax_cross_entropy(out, y)


class Hinge(Loss):
    """Multi-class hinge (Crammer-Singer) on raw scores; integer labels."""
    name = "hinge_multiclass"
    on_logits = True
    classification = True
    uses_labels = True

    def prepare_targets(self, y, out_shape):
        """Validated int64 class labels.

        Parameters
        ----------
        y : array_like
            Integer labels in ``0..K-1``, shape (N,).
        out_shape : tuple of int
            Shape of the network output, ``(N,)`` or ``(N, K)``.

        Returns
        -------
        ndarray
            int64 labels, shape (N,).

        Raises
        ------
        ValueError
            If `y` is not 1-D with one label per row, or a label is out of range.
        TypeError
            If `y` does not hold integer labels.
        """
        return _labels("y", y, out_shape[0], out_shape[1])

    def _compute(self, out, y):
        return ops.hinge_multiclass(out, y)


class BinaryHinge(Loss):
    """Binary hinge mean(max(0, 1 - y * out)); y in {-1, +1} (0/1 labels are mapped)."""
    name = "hinge_binary"
    on_logits = True
    classification = True

    def prepare_targets(self, y, out_shape):
        """Validated float targets in {-1, +1}; 0/1 targets are mapped to -1/+1.

        Parameters
        ----------
        y : array_like
            Targets in {-1, +1} or {0, 1}, the shape of the output.
        out_shape : tuple of int
            Shape of the network output, ``(N,)`` or ``(N, K)``.

        Returns
        -------
        ndarray
            Float targets of `out_shape`, in {-1, +1}.

        Raises
        ------
        ValueError
            If the shape does not match, or the values are not all -1/+1 (or all 0/1).
        TypeError
            If `y` is not numeric.
        """
        y = super().prepare_targets(y, out_shape)
        vals = set(np.unique(y).tolist())
        if vals <= {0.0, 1.0}:
            y = 2 * y - 1
        elif not vals <= {-1.0, 1.0}:
            raise ValueError(f"y must hold -1/+1 (or 0/1) for the binary hinge, got {sorted(vals)[:5]}")
        return y

    def _compute(self, out, y):
        return ops.hinge_binary(out, y.astype(out.dtype, copy=False))


# Every name get_loss takes: each class's own name, and the other names users may know
# it by.
LOSSES = {cls.name: cls for cls in (MSE, MAE, BinaryCrossEntropy, SoftmaxCrossEntropy, Hinge,
                                    BinaryHinge)}
LOSSES.update({"bce": BinaryCrossEntropy, "binary_cross_entropy": BinaryCrossEntropy,
               "cross_entropy": SoftmaxCrossEntropy, "hinge": Hinge,
               "binary_hinge": BinaryHinge})


def get_loss(loss):
    """A Loss instance from a name, or the instance itself.

    Parameters
    ----------
    loss : str or Loss
        A key of `LOSSES` (case-insensitive), or an instance, returned as is.

    Returns
    -------
    Loss
        A new instance of the named loss, or `loss`.

    Raises
    ------
    ValueError
        If the name is unknown.
    TypeError
        If `loss` is neither a str nor a Loss.
    """
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, str):
        try:
            return LOSSES[loss.lower()]()
        except KeyError:
            raise ValueError(f"unknown loss {loss!r}; expected one of {sorted(LOSSES)}") from None
    raise TypeError(f"loss must be a name or a cgrad.losses.Loss, got {type(loss).__name__}")
