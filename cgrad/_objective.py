"""The full-batch training objective as one compiled call per evaluation.

Shared by the loss landscape (``cgrad.landscape``), the optimizer comparison's L-BFGS
(``cgrad.compare_optimizers``) and the scikit-learn estimators' full-batch solvers.
"""
import numpy as np

from . import _core, nn
from ._config import get_num_threads
from .model import Sequential
from .optim import SGD


def full_batch_trainer(net, X, *, Yf=None, Yi=None, loss, l1=0.0, l2=0.0):
    """A Trainer over ``net`` whose one batch is every row of ``X``: its
    ``objective(n_threads)`` is the mean loss plus the L1/L2 penalties, with the gradient
    left in the network's flat gradient buffer, and nothing updated.

    Parameters
    ----------
    net : _core.Network, a model's ``_net``.
    X : (n, IN) C-contiguous float32 or float64 array (another dtype than the model's
        is converted as the batch is gathered, as astype would; checked by the caller).
    Yf, Yi : float targets (n, OUT) or int64 labels (n,), as ``Sequential._targets`` gives.
    loss : int, a compiled loss code (``Loss.code``).
    l1, l2 : float, penalties on the Dense weights.

    Returns
    -------
    _core.Trainer
    """
    return _core.Trainer(net, X, Yf=Yf, Yi=Yi, batch=X.shape[0], loss=loss,
                         opt=SGD(lr=0.0).fused_spec(), reg={"l1": l1, "l2": l2})


class FullBatchObjective:
    """The mean training loss of ``model``'s architecture on ``(X, y)`` at any flat
    parameter vector, evaluated on a private copy of the network: the model itself (its
    weights, gradients, running statistics and dropout step) is never touched.

    The copy leaves out Dropout (its random masks would make the surface noisy) and runs
    in training mode, so BatchNorm1d normalises with the statistics of the whole data set:
    for a network without BatchNorm1d the value is ``model.evaluate(X, y)["loss"]``.

    Parameters
    ----------
    model : cgrad.Sequential (or MLP).
    X, y : the data, as for ``model.fit``.
    loss : a loss name, cgrad.losses.Loss or "auto" (the model's default).
    n_threads : int or None (cgrad.get_num_threads()).
    """

    def __init__(self, model, X, y, *, loss="auto", n_threads=None):
        loss_fn = model._resolve_loss(loss)
        X = model._check_X(X)
        Yf, Yi = model._targets(loss_fn, y, X.shape[0])
        layers = [nn.from_spec(s) for s in model.specs() if s["kind"] != "dropout"]
        self.net = Sequential(model.n_inputs, layers, output="identity", dtype=model.dtype)
        self.net.flat_buffers[...] = model.flat_buffers
        self.trainer = full_batch_trainer(self.net._net, X, Yf=Yf, Yi=Yi, loss=loss_fn.code)
        self.n_threads = get_num_threads() if n_threads is None else int(n_threads)
        self.n_params = model.n_params
        self.dtype = model.dtype
        self.evaluations = 0

    def _load(self, flat):
        flat = np.asarray(flat)
        if flat.shape != (self.n_params,):
            raise ValueError(f"expected {self.n_params} parameters, got shape {flat.shape}")
        self.net.flat_params[...] = flat
        self.evaluations += 1

    def __call__(self, flat):
        """The mean loss at parameters ``flat`` (float)."""
        self._load(flat)
        return float(self.trainer.objective(self.n_threads)[0])

    def value_and_grad(self, flat):
        """(mean loss, its gradient as float64) at parameters ``flat``: what SciPy's
        minimisers take with ``jac=True``."""
        self._load(flat)
        value = self.trainer.objective(self.n_threads)[0]
        return float(value), self.net.flat_grads.astype(np.float64)
