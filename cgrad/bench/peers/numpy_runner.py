"""``numpy`` / ``numpy-noftz``: a plain float32 NumPy training loop (the reference peer)."""
import math

import numpy as np

from ..workloads import ADAM_BETAS, ADAM_EPS
from .base import Runner, batches, metrics

__all__ = ["NumpyMLP", "NumpyRunner"]


class NumpyMLP:
    """Forward, loss, backward and an Adam/SGD update in plain NumPy.

    Parameters
    ----------
    weights : [W0, b0, W1, b1, ...], W of shape (in, out).
    activation : "relu" or "tanh" (hidden layers).
    task : "classification" (softmax cross-entropy) or "regression" (MSE).
    optimizer : "adam" or "sgd" (with momentum).
    lr, momentum : step size; SGD momentum.
    dtype : the arithmetic's dtype.
    """

    def __init__(self, weights, activation, task, optimizer, lr, momentum, dtype=np.float32):
        self.dtype = np.dtype(dtype)
        self.p = [np.array(w, dtype=self.dtype) for w in weights]
        self.act, self.task, self.opt = activation, task, optimizer
        self.lr, self.mom = self.dtype.type(lr), self.dtype.type(momentum)
        self.state = [np.zeros_like(w) for w in self.p]
        self.state2 = [np.zeros_like(w) for w in self.p] if optimizer == "adam" else None
        self.t = 0

    def forward(self, X):
        """Every layer's output, X first (activations applied, the last one linear).

        Parameters
        ----------
        X : ndarray of shape (n_rows, n_inputs)
            The batch.

        Returns
        -------
        list of ndarray
            ``[X, A1, ..., Z]``: the input, each hidden layer's activation and the
            last layer's linear output.
        """
        acts = [X]
        n = len(self.p) // 2
        for i in range(n):
            Z = acts[-1] @ self.p[2 * i]
            Z += self.p[2 * i + 1]
            if i < n - 1:
                if self.act == "relu":
                    np.maximum(Z, 0, out=Z)
                else:
                    np.tanh(Z, out=Z)
            acts.append(Z)
        return acts

    def _loss_grad(self, Z, y):
        B = Z.shape[0]
        if self.task == "classification":
            P = Z - Z.max(axis=1, keepdims=True)
            np.exp(P, out=P)
            P /= P.sum(axis=1, keepdims=True)
            P[np.arange(B), y] -= 1.0
            P /= self.dtype.type(B)
            return P
        return (Z - y) * self.dtype.type(2.0 / Z.size)

    def gradients(self, X, y):
        """[dW0, db0, dW1, db1, ...] of the mean loss over the batch (X, y).

        Parameters
        ----------
        X : ndarray of shape (n_rows, n_inputs)
            The batch.
        y : ndarray
            Integer labels (classification) or (n_rows, n_outputs) targets.

        Returns
        -------
        list of ndarray
            The gradients, in the order and shapes of the weights.
        """
        acts = self.forward(X)
        dZ = self._loss_grad(acts[-1], y)
        n = len(self.p) // 2
        grads = [None] * len(self.p)
        for i in range(n - 1, -1, -1):
            grads[2 * i] = acts[i].T @ dZ
            grads[2 * i + 1] = dZ.sum(axis=0)
            if i > 0:
                dA = dZ @ self.p[2 * i].T
                A = acts[i]
                if self.act == "relu":
                    dA *= A > 0
                else:
                    dA *= 1.0 - A * A
                dZ = dA
        return grads

    def step(self, X, y):
        """One optimizer step on the batch (X, y).

        Parameters
        ----------
        X : ndarray of shape (n_rows, n_inputs)
            The batch.
        y : ndarray
            Integer labels (classification) or (n_rows, n_outputs) targets.
        """
        grads = self.gradients(X, y)
        if self.opt == "sgd":
            self._sgd(grads)
        else:
            self._adam(grads)

    def _sgd(self, grads):
        for p, g, buf in zip(self.p, grads, self.state):
            buf *= self.mom
            buf += g
            p -= self.lr * buf

    def _adam(self, grads):
        self.t += 1
        b1, b2 = ADAM_BETAS
        f = self.dtype.type
        step = f(self.lr / (1 - b1 ** self.t))
        sqrt_bc2 = f(math.sqrt(1 - b2 ** self.t))
        for p, g, m, v in zip(self.p, grads, self.state, self.state2):
            m *= f(b1)
            m += f(1 - b1) * g
            v *= f(b2)
            v += f(1 - b2) * (g * g)
            denom = np.sqrt(v)
            denom /= sqrt_bc2
            denom += f(ADAM_EPS)
            p -= step * m / denom

    def evaluate(self, X, y):
        """Loss (and accuracy) on (X, y), see :func:`cgrad.bench.peers.base.metrics`.

        Parameters
        ----------
        X : ndarray of shape (n_rows, n_inputs)
            The rows to score.
        y : ndarray
            Integer labels (classification) or (n_rows, n_outputs) targets.

        Returns
        -------
        dict
            ``loss`` and, for classification, ``accuracy``.
        """
        return metrics(self.forward(X)[-1], y, self.task)


class NumpyRunner(Runner):
    """:class:`NumpyMLP` under ``threadpoolctl``'s BLAS thread limit."""
    requires = ("threadpoolctl",)

    def setup(self):
        """Limit BLAS threads, note the BLAS, build the loop."""
        from threadpoolctl import threadpool_info, threadpool_limits
        self._limits = threadpool_limits(limits=self.n_threads, user_api="blas")
        for lib in threadpool_info():
            if lib.get("user_api") == "blas":
                self.notes.append(f"BLAS {lib.get('internal_api')} {lib.get('version')} "
                                  f"kernel={lib.get('architecture')} threads={lib.get('num_threads')}")
        self.m = NumpyMLP(self.init, self.act, self.task, self.opt, self.lr, self.mom)

    def epoch(self, e):
        """Train epoch ``e`` (the last partial batch included)."""
        full, rest = batches(self.perm(e), self.B)
        for idx in list(full) + ([rest] if len(rest) else []):
            self.m.step(self.Xtr[idx], self.ytr[idx])

    def evaluate(self):
        """Test loss (and accuracy)."""
        return self.m.evaluate(self.Xte, self.yte)
