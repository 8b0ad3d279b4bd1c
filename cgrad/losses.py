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
        """Validated targets in the form the kernel takes (int64 labels or float array)."""
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
    """mean((out - y)^2)"""
    name = "mse"

    def _compute(self, out, y):
        return ops.mse(out, y.astype(out.dtype, copy=False))


class MAE(Loss):
    """mean(|out - y|)"""
    name = "mae"

    def _compute(self, out, y):
        return ops.mae(out, y.astype(out.dtype, copy=False))


class BinaryCrossEntropy(Loss):
    """Binary cross-entropy from logits (sigmoid fused, stable); y in [0, 1]."""
    name = "bce_with_logits"
    on_logits = True
    classification = True

    def prepare_targets(self, y, out_shape):
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
        return _labels("y", y, out_shape[0], out_shape[1])

    def _compute(self, out, y):
        return ops.hinge_multiclass(out, y)


class BinaryHinge(Loss):
    """Binary hinge mean(max(0, 1 - y * out)); y in {-1, +1} (0/1 labels are mapped)."""
    name = "hinge_binary"
    on_logits = True
    classification = True

    def prepare_targets(self, y, out_shape):
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
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, str):
        try:
            return LOSSES[loss.lower()]()
        except KeyError:
            raise ValueError(f"unknown loss {loss!r}; expected one of {sorted(LOSSES)}") from None
    raise TypeError(f"loss must be a name or a cgrad.losses.Loss, got {type(loss).__name__}")
