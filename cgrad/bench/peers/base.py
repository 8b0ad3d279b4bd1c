"""What every peer runner shares: the per-epoch permutation, batching and test scores."""
import numpy as np

__all__ = ["Runner", "metrics", "batches", "epoch_perm"]


def epoch_perm(n, epoch, seed):
    """The shuffle of epoch ``epoch``: the same for every runner that shuffles itself."""
    return np.random.default_rng(seed * 1000 + epoch).permutation(n)


def batches(perm, B):
    """(full batches as an (n_batches, B) index array, the last partial batch)."""
    nb = len(perm) // B
    return perm[:nb * B].reshape(nb, B), perm[nb * B:]


def metrics(Z, y, task):
    """Test score of the outputs Z (logits or predictions) in float64.

    Parameters
    ----------
    Z : (N, outputs) network outputs.
    y : int labels (classification) or (N, outputs) targets.
    task : "classification" or "regression".

    Returns
    -------
    dict: ``loss`` (cross-entropy of the softmax, or MSE) and, for classification, ``accuracy``.
    """
    Z = np.asarray(Z, dtype=np.float64)
    if task == "classification":
        Zs = Z - Z.max(axis=1, keepdims=True)
        logp = Zs - np.log(np.exp(Zs).sum(axis=1, keepdims=True))
        return {"loss": float(-logp[np.arange(len(y)), y].mean()),
                "accuracy": float((Z.argmax(axis=1) == y).mean())}
    return {"loss": float(((Z - y) ** 2).mean())}


class Runner:
    """One implementation on one workload: ``setup()``, ``epoch(e)`` trains, ``evaluate()``
    scores the test set.

    Parameters
    ----------
    cell : the cell dict (workload, optimizer, lr, momentum, impl, threads, seed).
    data : (X_train, y_train, X_test, y_test).
    init : the shared initial weights (layout of ``cgrad.MLP.get_weights()``).

    ``layers``: the runner builds the workload's BatchNorm1d / Dropout layers (else its
    cells of such a workload are skipped); ``requires``: the packages it imports (its
    cells are skipped with a note when one is missing)."""
    layers = False
    requires = ()

    def __init__(self, cell, data, init):
        self.cell, self.init = cell, init
        self.Xtr, self.ytr, self.Xte, self.yte = data
        w = cell["workload"]
        self.B, self.task, self.act, self.sizes = w["batch"], w["task"], w["activation"], w["sizes"]
        self.bn, self.p_drop = bool(w.get("batch_norm", False)), float(w.get("dropout", 0.0))
        self.opt, self.lr, self.mom = cell["optimizer"], cell["lr"], cell["momentum"]
        self.n_threads, self.seed = cell["threads"], cell["seed"]
        self.impl = cell["impl"]
        self.notes = []

    def perm(self, epoch):
        """This epoch's shuffle of the training rows."""
        return epoch_perm(len(self.Xtr), epoch, self.seed)
