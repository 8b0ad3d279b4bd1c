"""Peer comparison: train the same MLP on the same data with cgrad and its peers.

One command runs every (workload, optimizer, implementation, threads) cell, each in its
own Python subprocess (isolation: thread pools, CPU affinity, FTZ/DAZ and environment
variables must be set before a library loads), and prints a Markdown table: seconds per
epoch (median/min/max over ``--repeats`` epochs after one warm-up epoch), samples/s,
GFLOP/s, fraction of the machine's measured float32 FMA peak (``benchmarks/peak.py``),
ratio to cgrad (time_peer / time_cgrad, > 1 means cgrad is faster) and the test
accuracy (classification) or test MSE (regression) after the epochs trained, so nobody
wins by computing less. Saved to ``--out`` (default ``bench_results/``): results.md,
results.json and results.png (matplotlib, when importable).

FLOP count: (6 * sum(in * out) - 2 * in_0 * out_0) * samples per epoch: 2 forward and
4 backward flops per weight per sample, less the first layer's input gradient, which
nobody computes (W1: 63.1 GFLOP, W3: 574.6 GFLOP, W2: 2.55 GFLOP per epoch, as in
DESIGN/the issue).  Biases, activations, losses and the optimizer are not counted.  The
count is the dense model's for every implementation, so for ``cgrad`` on sparse input
(which skips the multiplications by zero) GFLOP/s and the peak fraction are effective
rates, not executed ones; ``cgrad-dense`` gives the executed rate.

Implementations (each skipped with a note when its package is missing):
``cgrad`` (``cgrad.MLP.fit``; on MNIST its first layer skips the input's exact zeros,
``sparse='auto'``, with the dense result's bits), ``cgrad-dense`` (the same with
``sparse=False``: every multiply done, what the kernels alone give), ``numpy`` (a plain float32 NumPy training loop, run with
FTZ/DAZ set in MXCSR before NumPy loads), ``numpy-noftz`` (the same without FTZ/DAZ),
``torch`` (eager, fused optimizer where the CPU supports it, ``set_flush_denormal``),
``jax-step`` (``jax.jit`` of one step), ``jax-scan`` (the epoch as one ``lax.scan``),
``sklearn`` (``MLPClassifier`` / ``MLPRegressor`` ``partial_fit``).
Workload W1bn is W1's network with, per hidden layer, Linear -> BatchNorm1d -> ReLU ->
Dropout(0.2) (Adam): cgrad (``MLP(batch_norm=True, dropout=0.2)``), torch
(``nn.BatchNorm1d`` / ``nn.Dropout`` in ``train()``) and JAX (batch statistics with the
running update, ``jax.random`` masks) build it; the NumPy and scikit-learn cells are
skipped.  ``--batch-norm`` / ``--dropout P`` do the same to a custom ``--sizes`` network.
Threads: every cell's process is pinned to its first n CPUs (``os.sched_setaffinity``),
``OMP_NUM_THREADS`` / ``OPENBLAS_NUM_THREADS`` / ``MKL_NUM_THREADS`` are n, and each
library gets its own knob as well (``cgrad.set_num_threads``, ``torch.set_num_threads``,
``threadpoolctl.threadpool_limits`` for NumPy and scikit-learn; for JAX the affinity is
what sizes XLA's CPU thread pool, plus ``--xla_cpu_multi_thread_eigen=false`` at 1 thread).

Timing: lockstep interleaving (default).  The machine this runs on is shared and its speed
drifts in phases of tens of seconds, so two cells timed a minute apart mostly compare
the phases.  The cells compared with each other (same workload, optimizer and threads)
therefore run together: all their processes start at once (data loading and setup
overlap, untimed), then the parent drives them so that only one computes at a time,
the others blocked reading their stdin: each one's warm-up epoch in turn, then
``repeats`` rounds of one timed epoch per worker, the order rotated by one every round
(:func:`round_order`: nobody is always first or last), then each one's final phase
(untimed epochs up to ``--epochs-accuracy``, test score, result JSON).  Commands go
down each worker's stdin, replies come back on a private pipe (``report_fd``; stdout
and stderr, where libraries print, go to files); ``--cell-timeout`` bounds each action,
and a worker that raises, dies or times out is killed and becomes an error row while
the rest of its group goes on.  Every worker times its own epochs, as before, so rows
are the same either way.  Memory: a whole group is alive at once (W3: up to 7
processes each holding MNIST, a few GB in all).  ``--sequential`` runs one cell after
the other instead (each still set up, warmed and timed in its own process);
``--group-by threads`` (or ``all``) interleaves every cell of a thread count (or of the
run) in one group, so ratios between workloads (W1bn against W1) come from the same
rounds too.

Usage (from the repository root)::

    python -m benchmarks.compare --workloads W1,W2 --threads 1,2
    python -m benchmarks.compare --sizes 784,512,10 --batch 64 --optimizer adam
    python -m benchmarks.compare --quick --impls numpy,torch
    python -m benchmarks.compare --workloads W2 --sequential   # cells one after the other
    python -m benchmarks.compare --workloads W1,W1bn --optimizer adam --group-by threads
"""
import argparse
import gzip
import importlib.util
import json
import math
import os
import platform
import select
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from . import peak as _peak

# `python -m benchmarks.compare` from a checkout puts the checkout first on sys.path, where
# cgrad/ has no compiled core: move it last so an installed cgrad wins (an editable
# install finds its build either way).
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if not any(n.startswith("_core") for n in os.listdir(os.path.join(_ROOT, "cgrad"))):
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _ROOT] + [_ROOT]

__all__ = ["main", "WORKLOADS", "IMPLS", "epoch_flops", "format_table", "run_cell",
           "load_mnist_arrays", "synthetic_regression", "glorot_init", "NumpyMLP"]

ROOT = Path(__file__).resolve().parents[1]

WORKLOADS = {
    "W1": dict(key="W1", name="mnist", sizes=[784, 256, 128, 64, 10], activation="relu",
               task="classification", batch=128, data="mnist", optimizers=["adam", "sgd"],
               repeats=3),
    "W2": dict(key="W2", name="tiny", sizes=[2, 64, 64, 1], activation="tanh",
               task="regression", batch=32, data="synthetic", n_train=100_000,
               optimizers=["sgd"], repeats=3),
    "W3": dict(key="W3", name="wide", sizes=[784, 1024, 1024, 10], activation="relu",
               task="classification", batch=256, data="mnist", optimizers=["adam"],
               repeats=2),
    # W1's network with, per hidden layer, Linear -> BatchNorm1d -> ReLU -> Dropout(0.2)
    "W1bn": dict(key="W1bn", name="mnist-bn", sizes=[784, 256, 128, 64, 10], activation="relu",
                 task="classification", batch=128, data="mnist", optimizers=["adam"],
                 repeats=3, batch_norm=True, dropout=0.2),
}
_ALIASES = {w["name"]: k for k, w in WORKLOADS.items()}
_KEYS = {k.lower(): k for k in WORKLOADS}

IMPLS = ["cgrad", "cgrad-dense", "numpy", "numpy-noftz", "torch", "jax-step", "jax-scan", "sklearn"]
_IMPL_PACKAGE = {"torch": "torch", "jax-step": "jax", "jax-scan": "jax", "sklearn": "sklearn"}

LR = {"adam": 1e-3, "sgd": 0.05}
MOMENTUM = 0.9
ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8
BN_MOMENTUM, BN_EPS = 0.1, 1e-5     # torch.nn.BatchNorm1d's and cgrad.nn.BatchNorm1d's defaults
QUICK_TRAIN, QUICK_TEST = 4096, 1024
SYNTH_TEST = 10_000


# ----------------------------------------------------------------------------- data

def epoch_flops(sizes, n_samples):
    """Matrix FLOPs of one training epoch: (6 * sum(in * out) - 2 * in_0 * out_0) * n_samples
    (forward, dW and dX of every layer except the first layer's dX)."""
    per_sample = 6.0 * sum(a * b for a, b in zip(sizes[:-1], sizes[1:])) - 2.0 * sizes[0] * sizes[1]
    return per_sample * n_samples


def _read_idx_gz(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic = struct.unpack(">I", raw[:4])[0]
    ndim = magic & 0xFF
    if magic >> 8 != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file (magic {magic:#x})")
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != math.prod(dims):
        raise ValueError(f"{path}: expected {math.prod(dims)} values, found {data.size}")
    return data.reshape(dims)


def find_data_dir(data=None):
    """The folder holding mnist/: --data, $CGRAD_DATA, else ../shared/data from the repo."""
    for cand in (data, os.environ.get("CGRAD_DATA"), ROOT.parent / "shared" / "data"):
        if cand:
            p = Path(cand)
            if (p / "mnist").is_dir():
                return p
            if p.name == "mnist" and p.is_dir():
                return p.parent
    return None


def load_mnist_arrays(data_dir):
    """((X_train, y_train), (X_test, y_test)), X float32 in [0, 1] of shape (N, 784).

    Uses ``cgrad.datasets.load_mnist`` when that exists, else reads the IDX files here."""
    mnist = Path(data_dir) / "mnist"
    try:
        from cgrad.datasets import load_mnist
        (Xtr, ytr), (Xte, yte) = load_mnist(str(mnist), kind="all")
        return ((np.ascontiguousarray(Xtr, dtype=np.float32), ytr.astype(np.int64)),
                (np.ascontiguousarray(Xte, dtype=np.float32), yte.astype(np.int64)))
    except Exception:  # not written yet, or another signature: read the files ourselves
        pass
    out = []
    for split in ("train", "t10k"):
        X = _read_idx_gz(mnist / f"{split}-images-idx3-ubyte.gz").reshape(-1, 784)
        y = _read_idx_gz(mnist / f"{split}-labels-idx1-ubyte.gz")
        out.append((X.astype(np.float32) / np.float32(255.0), y.astype(np.int64)))
    return tuple(out)


def synthetic_regression(n, n_in=2, n_out=1, seed=0, noise=0.05):
    """x ~ U(-1, 1)^n_in, y_k = sin(3 x_k) * cos(2 x_(k+1)) + noise (indices mod n_in)."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1.0, 1.0, size=(n, n_in))
    cols = [np.sin(3 * X[:, k % n_in]) * np.cos(2 * X[:, (k + 1) % n_in]) for k in range(n_out)]
    y = np.stack(cols, axis=1) + noise * rng.standard_normal((n, n_out))
    return X.astype(np.float32), y.astype(np.float32)


def glorot_init(sizes, seed=0, batch_norm=False):
    """[W0, b0, W1, b1, ...]: W (in, out) ~ U(+-sqrt(6 / (in + out))), b = 0, float32.

    ``batch_norm``: every hidden layer's b is followed by its BatchNorm1d's gamma (ones)
    and beta (zeros), the layout of ``cgrad.MLP(batch_norm=True).get_weights()``; the W
    are the same draws either way."""
    rng = np.random.default_rng(seed)
    out = []
    last = len(sizes) - 2
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        lim = math.sqrt(6.0 / (a + b))
        out.append(rng.uniform(-lim, lim, size=(a, b)).astype(np.float32))
        out.append(np.zeros(b, dtype=np.float32))
        if batch_norm and i < last:
            out += [np.ones(b, dtype=np.float32), np.zeros(b, dtype=np.float32)]
    return out


def layer_params(init, n_layers, batch_norm=False):
    """The flat initial-weight list split per Dense layer: (W, b), or (W, b, gamma, beta)
    for the hidden layers of a batch-norm network (the layout of :func:`glorot_init`)."""
    out, k = [], 0
    for i in range(n_layers):
        n = 4 if batch_norm and i < n_layers - 1 else 2
        out.append(tuple(init[k:k + n]))
        k += n
    if k != len(init):
        raise ValueError(f"{len(init)} initial arrays for {n_layers} layers "
                         f"(batch_norm={batch_norm}): expected {k}")
    return out


def _mlp_layer_kw(w):
    """cgrad.MLP's keywords for the workload's extra layers (none for a plain MLP)."""
    kw = {}
    if w.get("batch_norm"):
        kw["batch_norm"] = True
    if w.get("dropout"):
        kw["dropout"] = float(w["dropout"])
    return kw


def _extra_layers(w):
    """The workload's layers besides Linear and activation: [] for a plain MLP, else
    e.g. ['BatchNorm1d', 'Dropout(0.2)']."""
    return ((["BatchNorm1d"] if w.get("batch_norm") else [])
            + ([f"Dropout({w['dropout']:g})"] if w.get("dropout") else []))


def _epoch_perm(n, epoch, seed):
    return np.random.default_rng(seed * 1000 + epoch).permutation(n)


# ------------------------------------------------------------------ implementations

class NumpyMLP:
    """The plain float32 NumPy training loop: forward, loss, backward, Adam/SGD update."""

    def __init__(self, weights, activation, task, optimizer, lr, momentum, dtype=np.float32):
        self.dtype = np.dtype(dtype)
        self.p = [np.array(w, dtype=self.dtype) for w in weights]
        self.act, self.task, self.opt = activation, task, optimizer
        self.lr, self.mom = self.dtype.type(lr), self.dtype.type(momentum)
        self.state = [np.zeros_like(w) for w in self.p]
        self.state2 = [np.zeros_like(w) for w in self.p] if optimizer == "adam" else None
        self.t = 0

    def forward(self, X):
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
        """[dW0, db0, dW1, db1, ...] of the mean loss over the batch (X, y)."""
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
        self._update(self.gradients(X, y))

    def _update(self, grads):
        if self.opt == "sgd":
            for p, g, buf in zip(self.p, grads, self.state):
                buf *= self.mom
                buf += g
                p -= self.lr * buf
            return
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
        return _metrics(self.forward(X)[-1], y, self.task)


def _metrics(Z, y, task):
    Z = np.asarray(Z, dtype=np.float64)
    if task == "classification":
        Zs = Z - Z.max(axis=1, keepdims=True)
        logp = Zs - np.log(np.exp(Zs).sum(axis=1, keepdims=True))
        return {"loss": float(-logp[np.arange(len(y)), y].mean()),
                "accuracy": float((Z.argmax(axis=1) == y).mean())}
    return {"loss": float(((Z - y) ** 2).mean())}


def _batches(perm, B):
    nb = len(perm) // B
    return perm[:nb * B].reshape(nb, B), perm[nb * B:]


class _Runner:
    """One implementation on one workload: ``epoch(e)`` trains, ``evaluate()`` scores.

    ``layers``: the runner builds the workload's BatchNorm1d / Dropout layers (else its
    cells of such a workload are skipped)."""
    notes = ()
    layers = False

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
        return _epoch_perm(len(self.Xtr), epoch, self.seed)


class _NumpyRunner(_Runner):
    def setup(self):
        from threadpoolctl import threadpool_info, threadpool_limits
        self._limits = threadpool_limits(limits=self.n_threads, user_api="blas")
        for lib in threadpool_info():
            if lib.get("user_api") == "blas":
                self.notes.append(f"BLAS {lib.get('internal_api')} {lib.get('version')} "
                                  f"kernel={lib.get('architecture')} threads={lib.get('num_threads')}")
        self.m = NumpyMLP(self.init, self.act, self.task, self.opt, self.lr, self.mom)

    def epoch(self, e):
        full, rest = _batches(self.perm(e), self.B)
        for idx in list(full) + ([rest] if len(rest) else []):
            self.m.step(self.Xtr[idx], self.ytr[idx])

    def evaluate(self):
        return self.m.evaluate(self.Xte, self.yte)


class _CgradRunner(_Runner):
    layers = True

    def setup(self):
        import cgrad
        cgrad.set_num_threads(self.n_threads)
        self.m = cgrad.MLP(self.sizes, activation=self.act,
                           output="softmax" if self.task == "classification" else "identity",
                           dtype="float32", seed=self.seed, **_mlp_layer_kw(self.cell["workload"]))
        self.m.set_weights([np.array(w) for w in self.init])
        self.optimizer = (cgrad.optim.Adam(lr=self.lr) if self.opt == "adam"
                          else cgrad.optim.SGD(lr=self.lr, momentum=self.mom))
        self.loss = "softmax_cross_entropy" if self.task == "classification" else "mse"
        import inspect
        # A new shuffle each epoch when fit takes a seed (else it may reuse the model's).
        params = inspect.signature(self.m.fit).parameters
        self.fit_seed = "seed" in params
        self.fit_kw = {}
        if "sparse" in params:       # cgrad-dense: every multiply of layer 0 done
            self.fit_kw["sparse"] = "auto" if self.impl == "cgrad" else False
        elif self.impl != "cgrad":
            raise RuntimeError("this cgrad has no sparse option (nothing to compare)")

    def epoch(self, e):
        kw = {"seed": self.seed * 1000 + e} if self.fit_seed else {}
        kw.update(self.fit_kw)
        self.m.fit(self.Xtr, self.ytr, loss=self.loss, optimizer=self.optimizer, epochs=1,
                   batch_size=self.B, shuffle=True, verbose=0, **kw)

    def evaluate(self):
        r = self.m.evaluate(self.Xte, self.yte)
        return {k: float(v) for k, v in r.items() if k in ("loss", "accuracy")}


class _TorchRunner(_Runner):
    layers = True

    def setup(self):
        import torch
        self.torch = torch
        torch.set_num_threads(self.n_threads)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:
            pass
        if torch.set_flush_denormal(True):
            self.notes.append("set_flush_denormal(True)")
        torch.manual_seed(self.seed)            # the dropout masks
        layers = []
        n_layers = len(self.sizes) - 1
        for i, p in enumerate(layer_params(self.init, n_layers, self.bn)):
            lin = torch.nn.Linear(self.sizes[i], self.sizes[i + 1])
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(p[0].T)))
                lin.bias.copy_(torch.from_numpy(p[1]))
            layers.append(lin)
            if i == n_layers - 1:
                break
            if self.bn:
                norm = torch.nn.BatchNorm1d(self.sizes[i + 1], eps=BN_EPS, momentum=BN_MOMENTUM)
                with torch.no_grad():
                    norm.weight.copy_(torch.from_numpy(p[2]))
                    norm.bias.copy_(torch.from_numpy(p[3]))
                layers.append(norm)
            layers.append(torch.nn.ReLU() if self.act == "relu" else torch.nn.Tanh())
            if self.p_drop > 0:
                layers.append(torch.nn.Dropout(self.p_drop))
        self.model = torch.nn.Sequential(*layers)
        self.model.train()
        self.loss_fn = (torch.nn.CrossEntropyLoss() if self.task == "classification"
                        else torch.nn.MSELoss())
        self.optimizer = self._make_optimizer(self.model.parameters())
        self.X = torch.from_numpy(self.Xtr)
        self.y = torch.from_numpy(self.ytr)

    def _make_optimizer(self, params):
        torch = self.torch
        params = list(params)

        def make(ps, **kw):
            if self.opt == "adam":
                return torch.optim.Adam(ps, lr=self.lr, betas=ADAM_BETAS, eps=ADAM_EPS, **kw)
            return torch.optim.SGD(ps, lr=self.lr, momentum=self.mom, **kw)
        try:  # probe fused support on CPU with a throw-away parameter
            probe = torch.zeros(4, requires_grad=True)
            probe.grad = torch.ones(4)
            make([probe], fused=True).step()
            self.notes.append(f"{self.opt} fused=True")
            return make(params, fused=True)
        except (RuntimeError, TypeError, ValueError) as exc:
            self.notes.append(f"{self.opt} foreach=True (fused unsupported: {str(exc)[:60]})")
            return make(params, foreach=True)

    def epoch(self, e):
        torch = self.torch
        idx_all = torch.from_numpy(self.perm(e))
        n, B = len(idx_all), self.B
        for s in range(0, n, B):
            idx = idx_all[s:s + B]
            self.optimizer.zero_grad(set_to_none=True)
            loss = self.loss_fn(self.model(self.X[idx]), self.y[idx])
            loss.backward()
            self.optimizer.step()

    def evaluate(self):
        self.model.eval()                      # running statistics, no dropout
        with self.torch.no_grad():
            Z = self.model(self.torch.from_numpy(self.Xte)).numpy()
        self.model.train()
        return _metrics(Z, self.yte, self.task)


class _JaxRunner(_Runner):
    scan = False
    layers = True

    def setup(self):
        import jax
        import jax.numpy as jnp
        self.jax, self.jnp = jax, jnp
        self.notes.append(f"jax {jax.__version__} devices={jax.devices()} "
                          f"cpus_visible={len(os.sched_getaffinity(0))}")
        act = jax.nn.relu if self.act == "relu" else jnp.tanh
        task, opt, lr, mom = self.task, self.opt, self.lr, self.mom
        bn, p_drop = self.bn, self.p_drop
        b1, b2 = ADAM_BETAS

        def forward(params, stats, x, train, key=None):
            """(output, running statistics after this batch). params: per layer (W, b),
            or (W, b, gamma, beta) for a batch-norm hidden layer; stats: per such layer
            (running mean, running var), [] without batch norm.  ``train``: batch
            statistics and their running update, dropout with ``key`` (as
            torch.nn.BatchNorm1d / Dropout in train()); else the running statistics."""
            new_stats = []
            for i, layer in enumerate(params):
                x = x @ layer[0] + layer[1]
                if i == len(params) - 1:
                    break
                if bn:
                    rm, rv = stats[i]
                    if train:
                        mean = jnp.mean(x, axis=0)
                        var = jnp.mean(jnp.square(x - mean), axis=0)   # biased, normalises
                        n = x.shape[0]
                        new_stats.append(((1 - BN_MOMENTUM) * rm + BN_MOMENTUM * mean,
                                          (1 - BN_MOMENTUM) * rv
                                          + BN_MOMENTUM * var * (n / (n - 1))))  # unbiased
                    else:
                        mean, var = rm, rv
                        new_stats.append((rm, rv))
                    x = (x - mean) * jax.lax.rsqrt(var + BN_EPS) * layer[2] + layer[3]
                x = act(x)
                if train and p_drop > 0:
                    keep = jax.random.bernoulli(jax.random.fold_in(key, i), 1.0 - p_drop, x.shape)
                    x = jnp.where(keep, x / (1.0 - p_drop), 0.0)
            return x, new_stats

        def loss_fn(params, stats, x, y, key):
            z, stats = forward(params, stats, x, True, key)
            if task == "classification":
                logp = jax.nn.log_softmax(z)
                return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1)), stats
            return jnp.mean((z - y) ** 2), stats

        def step(params, state, aux, X, Y, idx):
            """aux: (running statistics, dropout key); both () for a plain network."""
            stats, key = aux
            if p_drop > 0:
                key, sub = jax.random.split(key)
            else:
                sub = None
            g, stats = jax.grad(loss_fn, has_aux=True)(params, stats, X[idx], Y[idx], sub)
            stats = stats if bn else ()
            tmap = jax.tree_util.tree_map
            if opt == "sgd":
                buf = tmap(lambda b_, g_: mom * b_ + g_, state, g)
                return tmap(lambda p, b_: p - lr * b_, params, buf), buf, (stats, key)
            m, v, t = state
            t = t + 1.0
            m = tmap(lambda m_, g_: b1 * m_ + (1 - b1) * g_, m, g)
            v = tmap(lambda v_, g_: b2 * v_ + (1 - b2) * g_ * g_, v, g)
            stepsize = lr / (1 - b1 ** t)
            sqrt_bc2 = jnp.sqrt(1 - b2 ** t)
            params = tmap(lambda p, m_, v_: p - stepsize * m_ / (jnp.sqrt(v_) / sqrt_bc2 + ADAM_EPS),
                          params, m, v)
            return params, (m, v, t), (stats, key)

        def epoch_scan(params, state, aux, X, Y, batches):
            def body(carry, idx):
                return step(*carry, X, Y, idx), None
            return jax.lax.scan(body, (params, state, aux), batches)[0]

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.step = jax.jit(step, donate_argnums=(0, 1, 2))
            self.epoch_scan = jax.jit(epoch_scan, donate_argnums=(0, 1, 2))
        self.forward = jax.jit(lambda params, stats, x: forward(params, stats, x, False)[0])
        self.params = [tuple(jnp.asarray(a) for a in p)
                       for p in layer_params(self.init, len(self.sizes) - 1, bn)]
        zeros = jax.tree_util.tree_map(jnp.zeros_like, self.params)
        if opt == "sgd":
            self.state = zeros
        else:
            self.state = (zeros, jax.tree_util.tree_map(jnp.zeros_like, self.params),
                          jnp.asarray(0.0, dtype=jnp.float32))
        stats = ([(jnp.zeros(n, jnp.float32), jnp.ones(n, jnp.float32)) for n in self.sizes[1:-1]]
                 if bn else ())
        self.aux = (stats, jax.random.PRNGKey(self.seed) if p_drop > 0 else ())
        self.X = jnp.asarray(self.Xtr)
        self.Y = jnp.asarray(self.ytr.astype(np.int32) if task == "classification" else self.ytr)

    def epoch(self, e):
        full, rest = _batches(self.perm(e).astype(np.int32), self.B)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            carry = (self.params, self.state, self.aux)
            if self.scan:
                carry = self.epoch_scan(*carry, self.X, self.Y, self.jnp.asarray(full))
            else:
                for idx in full:
                    carry = self.step(*carry, self.X, self.Y, idx)
            if len(rest):
                carry = self.step(*carry, self.X, self.Y, rest)
            self.params, self.state, self.aux = carry
        self.jax.block_until_ready((self.params, self.aux))

    def evaluate(self):
        Z = np.asarray(self.forward(self.params, self.aux[0] if self.bn else [],
                                    self.jnp.asarray(self.Xte)))
        return _metrics(Z, self.yte, self.task)


class _JaxScanRunner(_JaxRunner):
    scan = True


class _SklearnRunner(_Runner):
    def setup(self):
        from threadpoolctl import threadpool_limits
        from sklearn.neural_network import MLPClassifier, MLPRegressor
        self._limits = threadpool_limits(limits=self.n_threads, user_api="blas")
        cls = MLPClassifier if self.task == "classification" else MLPRegressor
        lr = self.lr
        if self.task == "regression" and self.opt == "sgd":
            # sklearn's squared error is mean((y - p)^2) / 2: double the step to match MSE.
            lr = 2 * self.lr
            self.notes.append("sgd lr doubled: sklearn's squared_error is MSE/2")
        self.model = cls(hidden_layer_sizes=tuple(self.sizes[1:-1]), activation=self.act,
                         solver=self.opt, alpha=0.0, batch_size=self.B,
                         learning_rate="constant", learning_rate_init=lr,
                         momentum=self.mom, nesterovs_momentum=False,
                         beta_1=ADAM_BETAS[0], beta_2=ADAM_BETAS[1], epsilon=ADAM_EPS,
                         shuffle=True, random_state=self.seed, tol=0.0,
                         n_iter_no_change=10 ** 9, max_iter=1)
        init = [np.array(w) for w in self.init]
        layer = iter(range(len(init) // 2))

        def shared_init(fan_in, fan_out, dtype):  # same initial weights as everyone
            i = next(layer)
            return init[2 * i].astype(dtype), init[2 * i + 1].astype(dtype)
        self.model._init_coef = shared_init
        y = self.ytr
        self.y = y.ravel() if (self.task == "regression" and y.shape[1] == 1) else y
        self.classes = np.arange(self.sizes[-1]) if self.task == "classification" else None

    def epoch(self, e):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if self.classes is not None:
                self.model.partial_fit(self.Xtr, self.y, classes=self.classes)
            else:
                self.model.partial_fit(self.Xtr, self.y)

    def evaluate(self):
        if self.task == "classification":
            P = np.clip(self.model.predict_proba(self.Xte), 1e-30, None)
            return {"loss": float(-np.log(P[np.arange(len(self.yte)), self.yte]).mean()),
                    "accuracy": float((P.argmax(axis=1) == self.yte).mean())}
        Z = self.model.predict(self.Xte).reshape(self.yte.shape)
        return _metrics(Z, self.yte, self.task)


_RUNNERS = {"cgrad": _CgradRunner, "cgrad-dense": _CgradRunner,
            "numpy": _NumpyRunner, "numpy-noftz": _NumpyRunner,
            "torch": _TorchRunner, "jax-step": _JaxRunner, "jax-scan": _JaxScanRunner,
            "sklearn": _SklearnRunner}


# --------------------------------------------------------------------------- a cell

class _Cell:
    """One cell in this process, driven one action at a time: construction loads the data
    and sets the runner up; then :meth:`warmup`, :meth:`timed_epoch` (``repeats`` times)
    and :meth:`finish` (untimed epochs up to ``epochs_total``, then the test score)."""

    def __init__(self, cell):
        wd = Path(cell["workdir"])
        w = cell["workload"]
        d = np.load(wd / f"data_{w['data_id']}.npz")
        data = (d["Xtr"], d["ytr"], d["Xte"], d["yte"])
        init_npz = np.load(wd / f"init_{w['key']}.npz")
        init = [init_npz[f"arr_{i}"] for i in range(len(init_npz.files))]
        self.cell = cell
        self.runner = _RUNNERS[cell["impl"]](cell, data, init)
        self.runner.setup()
        self.epochs, self.times = 0, []

    def warmup(self):
        """Epoch 0, untimed: compiles (jax), allocates, fills caches."""
        self.runner.epoch(0)
        self.epochs = 1

    def timed_epoch(self):
        """One timed epoch; returns (seconds, (start, end) on the system-wide monotonic clock)."""
        m0, t0 = time.monotonic(), time.perf_counter()
        self.runner.epoch(self.epochs)
        dt = time.perf_counter() - t0
        self.epochs += 1
        self.times.append(dt)
        return dt, (m0, time.monotonic())

    def finish(self):
        """Train untimed up to ``epochs_total`` epochs, score the test set; the result dict."""
        while self.epochs < self.cell.get("epochs_total", 0):
            self.runner.epoch(self.epochs)
            self.epochs += 1
        metrics = self.runner.evaluate()
        return {"times": self.times, "epochs_trained": self.epochs, "test": metrics,
                "notes": self.runner.notes}


def run_cell(cell):
    """Run one cell in this process; return its result dict (times in seconds/epoch)."""
    c = _Cell(cell)
    c.warmup()
    for _ in range(cell["repeats"]):
        c.timed_epoch()
    return c.finish()


def _error_result(exc):
    import traceback
    return {"status": "error", "error": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc()[-2000:]}


def _cell_main(spec_path):
    """Entry point of a cell worker process: spec JSON in, then one command per line on
    stdin, each answered by one line on the report pipe (fd ``cell["report_fd"]``):

    ======== ================================ ===========================================
    command  action                           report
    ======== ================================ ===========================================
    (none)   load data, set the runner up     ``ready``
    warmup   the untimed warm-up epoch        ``done``
    epoch    one timed epoch                  ``t SECONDS START END`` (START/END: monotonic)
    final    extra epochs, evaluate, write    ``result`` (the result JSON is written)
             the result JSON
    ======== ================================ ===========================================

    Any exception writes an error result JSON and reports ``error``, then the worker exits.
    The report pipe is private: libraries print on stdout/stderr, which go to files."""
    spec_path = Path(spec_path)
    cell = json.loads(spec_path.read_text())
    fd = cell["report_fd"]
    os.set_inheritable(fd, False)  # not into processes a library may start
    rep = os.fdopen(fd, "w", buffering=1)

    def report(msg):
        rep.write(msg + "\n")
        rep.flush()

    def write_result(res):
        Path(cell["result_path"]).write_text(json.dumps(res))

    try:
        c = _Cell(cell)
        report("ready")
        while True:
            cmd = sys.stdin.readline().strip()
            if cmd == "warmup":
                c.warmup()
                report("done")
            elif cmd == "epoch":
                dt, (m0, m1) = c.timed_epoch()
                report(f"t {dt!r} {m0!r} {m1!r}")
            elif cmd == "final":
                write_result(dict(c.finish(), status="ok"))
                report("result")
                return
            else:  # "" is end of input: the parent has gone
                raise RuntimeError(f"unexpected command {cmd!r}")
    except Exception as exc:  # reported in the table, not fatal for the whole run
        write_result(_error_result(exc))
        report("error")


_BOOTSTRAP = r"""
import json, os, sys
spec_path = sys.argv[1]
cell = json.load(open(spec_path))
del sys.path[0]                    # not the caller's folder: an installed cgrad wins
sys.path.append(cell["root"])      # ... over a source tree; benchmarks/ is found here
if cell.get("cpus"):
    os.sched_setaffinity(0, cell["cpus"])
from benchmarks import peak
ftz = None
if cell.get("ftz"):
    ftz = peak.set_ftz_daz(True, lib=peak.load_helper(cell["helper_lib"]))
from benchmarks import compare     # imports numpy: BLAS threads inherit MXCSR from here
compare._cell_main(spec_path)
"""


def _cell_env(impl, threads):
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    env.setdefault("JAX_PLATFORMS", "cpu")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if impl.startswith("jax"):
        flags = env.get("XLA_FLAGS", "")
        if threads == 1:
            flags += " --xla_cpu_multi_thread_eigen=false"
        env["XLA_FLAGS"] = flags.strip()
    if impl.startswith("numpy") or impl == "sklearn":
        for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
            env.pop(var, None)
    return env


# ------------------------------------------------------------ lockstep scheduling

def round_order(n, r):
    """Worker order of timed round ``r`` among ``n`` workers: 0..n-1 rotated left by r, so
    over n consecutive rounds every worker runs once in every position (none always
    first, right after another's warm-up, or always last)."""
    return [(r + k) % n for k in range(n)] if n else []


def lockstep_schedule(n, repeats):
    """The parent's actions for one group, in order: [(command, worker index)]: each
    worker's warm-up in turn, ``repeats`` rounds of one timed epoch per worker in
    :func:`round_order`, then each worker's final phase in turn.  ``repeats`` may be a
    list, one count per worker (a group across workloads, ``--group-by``): a worker
    sits out the rounds past its count."""
    reps = list(repeats) if isinstance(repeats, (list, tuple)) else [repeats] * n
    plan = [("warmup", i) for i in range(n)]
    for r in range(max(reps, default=0)):
        plan += [("epoch", i) for i in round_order(n, r) if r < reps[i]]
    return plan + [("final", i) for i in range(n)]


class _WorkerFailed(Exception):
    pass


class _Worker:
    """The parent's handle on one cell process: started at construction (its setup then
    runs concurrently with its group's others), then one :meth:`ask` per action."""

    def __init__(self, cell):
        wd = Path(cell["workdir"])
        tag = f"{cell['workload']['key']}_{cell['optimizer']}_{cell['impl']}_{cell['threads']}"
        r_fd, w_fd = os.pipe()
        self.cell = dict(cell, result_path=str(wd / f"result_{tag}.json"), report_fd=w_fd)
        spec_path = wd / f"cell_{tag}.json"
        spec_path.write_text(json.dumps(self.cell))
        self.out_paths = (wd / f"stdout_{tag}.txt", wd / f"stderr_{tag}.txt")
        self.fd, self.buf, self.result = r_fd, b"", None
        self.t0 = time.perf_counter()
        try:
            with open(self.out_paths[0], "w") as fo, open(self.out_paths[1], "w") as fe:
                self.proc = subprocess.Popen(
                    [sys.executable, "-c", _BOOTSTRAP, str(spec_path)], stdin=subprocess.PIPE,
                    stdout=fo, stderr=fe, env=_cell_env(cell["impl"], cell["threads"]),
                    pass_fds=(w_fd,), text=True)
        except BaseException:
            os.close(r_fd)
            raise
        finally:
            os.close(w_fd)  # the child's copy is the only writer: EOF when it exits

    def ask(self, cmd, timeout):
        """Send ``cmd`` (None: none, just wait for the next report); return the reply line."""
        if cmd is not None:
            try:
                self.proc.stdin.write(cmd + "\n")
                self.proc.stdin.flush()
            except OSError as exc:  # BrokenPipeError: the worker has exited
                raise _WorkerFailed(f"cannot send {cmd!r}: {exc}") from None
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                raise _WorkerFailed(f"timed out after {timeout} s"
                                    + (f" waiting for {cmd}" if cmd else " in setup"))
            chunk = os.read(self.fd, 4096)
            if not chunk:
                raise _WorkerFailed("exited")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()

    def _load_result(self):
        try:
            return json.loads(Path(self.cell["result_path"]).read_text())
        except (OSError, ValueError):
            return None

    def finish(self, res):
        self.result = dict(res, wall_seconds=time.perf_counter() - self.t0)
        self.close()

    def fail(self, why):
        """Kill the process; the result is its own error report, else ``why`` + stderr tail."""
        self.close(kill=True)
        res = self._load_result()
        if res is None or res.get("status") == "ok":
            tail = []
            for p in reversed(self.out_paths):
                try:
                    tail = tail or p.read_text(errors="replace").strip().splitlines()[-3:]
                except OSError:
                    pass
            rc = self.proc.returncode
            res = {"status": "error", "error": f"cell process {why} (exit code {rc})"
                   + (": " + " | ".join(tail) if tail else "")}
        self.finish(res)

    def close(self, kill=False):
        if self.fd is None:
            return
        if kill and self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=None if kill else 60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self.fd)
        self.fd = None


def _run_group(cells, timeout, trace=None, settle=0.0):
    """Run ``cells`` (compared with each other) in lockstep; their result dicts, in order.

    Every cell's process starts at once (setups overlap: untimed), then the parent drives
    :func:`lockstep_schedule`: only one worker computes at any time, every other is
    blocked reading its stdin. ``timeout`` (seconds) bounds each worker action (setup,
    warm-up, one epoch, final phase); a worker that times out, dies or raises is killed
    and becomes an error row while the others go on. ``trace``, when a list, receives
    (command, worker index, reply) for every action answered. ``settle`` seconds pass
    before each warm-up and timed epoch: thread pools (OpenMP, OpenBLAS, Eigen) spin for
    a while after their last parallel region, and a 2-thread epoch that starts while
    the previous worker's threads still spin on one of the cores pays for it."""
    workers = []
    try:
        for c in cells:
            workers.append(_Worker(c))
        for w in workers:
            try:
                reply = w.ask(None, timeout)
                if reply != "ready":
                    raise _WorkerFailed(f"reported {reply!r} in setup")
            except _WorkerFailed as exc:
                w.fail(str(exc))
        for cmd, i in lockstep_schedule(len(workers), [c["repeats"] for c in cells]):
            w = workers[i]
            if w.result is not None:
                continue
            if settle > 0 and cmd in ("warmup", "epoch"):
                time.sleep(settle)
            try:
                reply = w.ask(cmd, timeout)
                expected = {"warmup": "done", "epoch": "t", "final": "result"}[cmd]
                if reply.split(" ", 1)[0] != expected:
                    raise _WorkerFailed(f"reported {reply!r} after {cmd}")
            except _WorkerFailed as exc:
                w.fail(str(exc))
                continue
            if trace is not None:
                trace.append((cmd, i, reply))
            if cmd == "final":
                res = w._load_result()
                if res is None:
                    w.fail("wrote no result")
                else:
                    w.finish(res)
        return [w.result for w in workers]
    finally:
        for w in workers:
            w.close(kill=True)


# ------------------------------------------------------------------------ reporting

def _fmt(x, spec):
    return "n/a" if x is None or (isinstance(x, float) and not math.isfinite(x)) else format(x, spec)


def format_table(results):
    """Markdown table of result rows (dicts as stored in results.json).

    ``ep`` is the number of epochs trained before the test score (1 warm-up + the
    timed repeats, or ``--epochs-accuracy``)."""
    head = ["workload", "opt", "impl", "thr", "s/epoch med", "min", "max", "samples/s",
            "GFLOP/s", "% peak", "peer/cgrad", "ep", "test"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        pre = [f"{r['workload']} {r['workload_name']}", r["optimizer"], r["impl"], str(r["threads"])]
        if r["status"] != "ok":
            msg = r.get("error") or r.get("reason") or r["status"]
            lines.append("| " + " | ".join(pre + [f"{r['status']}: {msg}"[:120]] + [""] * 8) + " |")
            continue
        t = r["test"]
        test = (f"acc {t['accuracy']:.4f}" if "accuracy" in t else f"mse {t['loss']:.4g}")
        pk = r.get("peak_fraction")
        lines.append("| " + " | ".join(pre + [
            _fmt(r["median"], ".3f"), _fmt(r["min"], ".3f"), _fmt(r["max"], ".3f"),
            _fmt(r["samples_per_s"], ",.0f"), _fmt(r["gflops"], ".2f"),
            "n/a" if pk is None else f"{100 * pk:.1f}%",
            _fmt(r.get("ratio_to_cgrad"), ".2f"), str(r.get("epochs_trained", "")), test]) + " |")
    return "\n".join(lines)


def _summarize(row, n_train, sizes, peaks):
    ts = row["times"]
    med = statistics.median(ts)
    row.update(median=med, min=min(ts), max=max(ts), samples_per_s=n_train / med,
               gflops=epoch_flops(sizes, n_train) / med / 1e9)
    pk = peaks.get(row["threads"])
    row["peak_fraction"] = row["gflops"] / pk if pk else None
    return row


def _plot(results, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib not importable: no plot"
    ok = [r for r in results if r["status"] == "ok"]
    if not ok:
        return "no successful cell: no plot"
    groups = list(dict.fromkeys(f"{r['workload']} {r['optimizer']}" for r in ok))
    series = list(dict.fromkeys(f"{r['impl']} t{r['threads']}" for r in ok))
    fig, axes = plt.subplots(1, len(groups), figsize=(max(6, 4.5 * len(groups)), 4.5), squeeze=False)
    cmap = plt.get_cmap("tab20")
    for ax, g in zip(axes[0], groups):
        rows = {f"{r['impl']} t{r['threads']}": r for r in ok if f"{r['workload']} {r['optimizer']}" == g}
        names = [s for s in series if s in rows]
        meds = [rows[s]["median"] for s in names]
        lo = [rows[s]["median"] - rows[s]["min"] for s in names]
        hi = [rows[s]["max"] - rows[s]["median"] for s in names]
        ax.bar(range(len(names)), meds, yerr=[lo, hi], capsize=3,
               color=[cmap(series.index(s) % 20) for s in names])
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=60, ha="right", fontsize=8)
        ax.set_yscale("log")  # peers differ by 100x: a linear axis hides the fast ones
        ax.set_title(g)
        ax.set_ylabel("seconds / epoch (median, min-max; log)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


# ------------------------------------------------------------------------------ CLI

def _parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m benchmarks.compare",
                                description="Train the same MLP with cgrad and its peers; "
                                            "print and save a comparison table.")
    p.add_argument("--workloads", default=None,
                   help="comma-separated: W1,W2,W3,W1bn (or mnist,tiny,wide,mnist-bn); default all, "
                        "or only the custom one when --sizes is given")
    p.add_argument("--impls", default=",".join(IMPLS), help=f"comma-separated from {IMPLS}")
    p.add_argument("--threads", default=None, help="comma-separated thread counts (default 1,ncpu)")
    p.add_argument("--repeats", type=int, default=None,
                   help="timed epochs per cell after one warm-up (default 3; W3: 2; --quick: 1)")
    p.add_argument("--quick", action="store_true",
                   help=f"{QUICK_TRAIN} training / {QUICK_TEST} test samples and 1 repeat")
    p.add_argument("--samples", type=int, default=None, help="use only the first N training samples")
    p.add_argument("--data", default=None, help="folder holding mnist/ (default $CGRAD_DATA, ../shared/data)")
    p.add_argument("--out", default="bench_results", help="output folder (results.md/.json/.png)")
    p.add_argument("--peak", type=float, default=None,
                   help="peak GFLOP/s of one thread (scaled by threads); default: measure (cached)")
    p.add_argument("--epochs-accuracy", type=int, default=None,
                   help="train this many epochs in total (untimed beyond the repeats) before "
                        "scoring the test set: the accuracy-parity check")
    p.add_argument("--optimizer", default=None,
                   help="adam and/or sgd (comma-separated): overrides the workloads' optimizers")
    p.add_argument("--sizes", default=None, help="custom workload layer sizes, e.g. 784,512,10 "
                                                 "(784 inputs: MNIST; else synthetic regression)")
    p.add_argument("--batch", type=int, default=64, help="custom workload batch size")
    p.add_argument("--activation", default="relu", choices=["relu", "tanh"],
                   help="custom workload hidden activation")
    p.add_argument("--batch-norm", action="store_true",
                   help="custom workload: a BatchNorm1d after every hidden Linear (before "
                        "the activation)")
    p.add_argument("--dropout", type=float, default=0.0,
                   help="custom workload: Dropout(P) after every hidden activation")
    p.add_argument("--lr", type=float, default=None, help=f"learning rate (default {LR})")
    p.add_argument("--momentum", type=float, default=MOMENTUM, help="SGD momentum")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--settle", type=float, default=0.5,
                   help="seconds of pause before each epoch of an interleaved group, so the "
                        "previous worker's spinning thread pools go idle (default 0.5)")
    p.add_argument("--cell-timeout", type=float, default=3600.0,
                   help="seconds allowed for each action of a cell process (setup, warm-up, one "
                        "timed epoch, the final epochs + evaluation)")
    p.add_argument("--sequential", action="store_true",
                   help="run the cells one after the other instead of interleaving the cells "
                        "of each (workload, optimizer, threads) group epoch by epoch")
    p.add_argument("--group-by", default="workload", choices=list(_GROUP_BY),
                   help="which cells are interleaved with each other: 'workload' (default) "
                        "those of one (workload, optimizer, threads); 'threads' every cell "
                        "of one thread count, across workloads and optimizers (ratios between "
                        "workloads, e.g. W1bn against W1, then come from the same rounds); "
                        "'all' every cell in one group")
    return p.parse_args(argv)


_GROUP_BY = {"workload": "(workload, optimizer, threads)", "threads": "threads",
             "all": "run (one group)"}


def _group_key(group_by, wkey, opt, n):
    """The interleaved group a cell belongs to."""
    return {"workload": (wkey, opt, n), "threads": (n,), "all": ()}[group_by]


def _select_workloads(a):
    keys = []
    if a.workloads:
        for k in a.workloads.split(","):
            k = k.strip()
            k = _ALIASES.get(k) or _KEYS.get(k.lower(), k)
            if k not in WORKLOADS:
                raise SystemExit(f"unknown workload {k!r}; choose from {list(WORKLOADS)}")
            keys.append(k)
    elif not a.sizes:
        keys = list(WORKLOADS)
    wls = [dict(WORKLOADS[k]) for k in keys]
    if a.sizes:
        sizes = [int(s) for s in a.sizes.split(",")]
        if len(sizes) < 2 or min(sizes) < 1:
            raise SystemExit(f"--sizes needs at least two positive sizes, got {a.sizes!r}")
        mnist = sizes[0] == 784
        if mnist and sizes[-1] != 10:
            raise SystemExit("a 784-input custom workload trains on MNIST: its last size must be 10")
        wls.append(dict(key="custom", name="-".join(map(str, sizes)), sizes=sizes,
                        activation=a.activation, batch=a.batch,
                        task="classification" if mnist else "regression",
                        data="mnist" if mnist else "synthetic", n_train=100_000,
                        optimizers=["adam"], repeats=3, batch_norm=a.batch_norm,
                        dropout=a.dropout))
    elif a.batch_norm or a.dropout:
        raise SystemExit("--batch-norm / --dropout shape the custom (--sizes) workload; "
                         "W1bn is W1 with both")
    if not 0.0 <= a.dropout < 1.0:
        raise SystemExit(f"--dropout must be in [0, 1), got {a.dropout}")
    if a.optimizer:
        opts = [o.strip() for o in a.optimizer.split(",")]
        bad = [o for o in opts if o not in LR]
        if bad:
            raise SystemExit(f"unknown optimizer(s) {bad}; choose from {list(LR)}")
        for w in wls:
            w["optimizers"] = opts
    return wls


def _prepare_data(w, a, wd, cache):
    """Write the workload's arrays to wd (once per data set); return the data id and sizes."""
    n_limit = QUICK_TRAIN if a.quick else a.samples
    n_test = QUICK_TEST if a.quick else None
    if w["data"] == "mnist":
        data_id = "mnist"
        if "mnist" not in cache:
            dd = find_data_dir(a.data)
            if dd is None:
                raise FileNotFoundError("MNIST not found: pass --data DIR (holding mnist/) or set CGRAD_DATA")
            cache["mnist"] = load_mnist_arrays(dd)
        (Xtr, ytr), (Xte, yte) = cache["mnist"]
    else:
        n_in, n_out = w["sizes"][0], w["sizes"][-1]
        data_id = f"synth{n_in}x{n_out}"
        X, y = synthetic_regression(w["n_train"] + SYNTH_TEST, n_in, n_out, seed=a.seed)
        Xtr, ytr, Xte, yte = X[:w["n_train"]], y[:w["n_train"]], X[w["n_train"]:], y[w["n_train"]:]
    if n_limit:
        Xtr, ytr = Xtr[:n_limit], ytr[:n_limit]
    if n_test:
        Xte, yte = Xte[:n_test], yte[:n_test]
    path = wd / f"data_{data_id}.npz"
    if not path.exists():
        np.savez(path, Xtr=Xtr, ytr=ytr, Xte=Xte, yte=yte)
    return data_id, len(Xtr)


def _initial_weights(w, seed, cgrad_mod):
    """cgrad's own initial weights when its MLP exists, else a shared Glorot init."""
    if cgrad_mod is not None:
        m = cgrad_mod.MLP(w["sizes"], activation=w["activation"],
                          output="softmax" if w["task"] == "classification" else "identity",
                          dtype="float32", seed=seed, **_mlp_layer_kw(w))
        return [np.ascontiguousarray(x, dtype=np.float32) for x in m.get_weights()], "cgrad.MLP(seed)"
    return (glorot_init(w["sizes"], seed, batch_norm=bool(w.get("batch_norm"))),
            "NumPy Glorot-uniform (seeded)")


def _import_cgrad():
    try:
        import cgrad
    except ImportError as exc:
        return None, f"cgrad not importable ({str(exc).splitlines()[0][:100]})"
    if not hasattr(cgrad, "MLP"):
        return None, "cgrad.MLP does not exist yet: cgrad cells skipped"
    return cgrad, None


def main(argv=None):
    a = _parse_args(argv)
    if a.sequential and a.group_by != "workload":
        raise SystemExit("--sequential runs every cell on its own: it takes no --group-by")
    impls = [i.strip() for i in a.impls.split(",") if i.strip()]
    bad = [i for i in impls if i not in IMPLS]
    if bad:
        raise SystemExit(f"unknown implementation(s) {bad}; choose from {IMPLS}")
    ncpu = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    threads = ([int(t) for t in a.threads.split(",")] if a.threads else sorted({1, ncpu}))
    if min(threads) < 1:
        raise SystemExit("--threads must be positive")
    wls = _select_workloads(a)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    notes = []

    # Which implementations can run at all.
    skipped = {}
    wants_cgrad = [i for i in impls if i.startswith("cgrad")]
    cgrad_mod, why = _import_cgrad() if wants_cgrad else (None, None)
    if wants_cgrad and cgrad_mod is None:
        for i in wants_cgrad:
            skipped[i] = why
    for impl, pkg in _IMPL_PACKAGE.items():
        if impl in impls and importlib.util.find_spec(pkg) is None:
            skipped[impl] = f"{pkg} not installed"
    if any(i.startswith("numpy") or i == "sklearn" for i in impls):
        if importlib.util.find_spec("threadpoolctl") is None:
            for i in impls:
                if i.startswith("numpy") or i == "sklearn":
                    skipped[i] = "threadpoolctl not installed (needed to set BLAS threads)"
        for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
            was = os.environ.get(var)
            notes.append(f"{var} unset in the NumPy/scikit-learn cell processes"
                         + (f" (was {was!r}: it slows OpenBLAS here)" if was is not None else " (was not set)"))

    wd = Path(tempfile.mkdtemp(prefix="cgrad-bench-"))
    try:
        return _run(a, impls, threads, ncpu, wls, out, notes, skipped, cgrad_mod, wd, argv)
    finally:
        shutil.rmtree(wd, ignore_errors=True)


def _run(a, impls, threads, ncpu, wls, out, notes, skipped, cgrad_mod, wd, argv):
    """The body of :func:`main` once the arguments are checked (wd: temporary folder)."""
    helper = _peak.build_helper(wd)
    if helper is None:
        notes.append("no C compiler / not x86: FTZ/DAZ cannot be set for NumPy and the peak is not measured")
        if "numpy-noftz" in impls and "numpy" in impls:
            skipped["numpy-noftz"] = "same as numpy (FTZ/DAZ unavailable)"
    else:
        notes.append("numpy: MXCSR FTZ+DAZ set in the cell process before NumPy loads "
                     "(OpenBLAS threads inherit it); numpy-noftz: the same loop without")
    if a.peak:
        peaks = {n: a.peak * n for n in threads}
        notes.append(f"peak given by --peak: {a.peak} GFLOP/s per thread")
    else:
        lib = _peak.load_helper(helper) if helper else None
        measured = _peak.peak_gflops(sorted({1, *threads})) if lib is not None else {}
        peaks = {n: max(measured[n], n * measured[1]) for n in threads} if measured else {}
        if peaks:
            notes.append("measured float32 FMA peak (benchmarks/peak.py, cached in "
                         f"{_peak.CACHE_FILE}): " + ", ".join(f"{n} thr {g:.1f}" for n, g in measured.items())
                         + " GFLOP/s; % peak uses max(n-thread measure, n x 1-thread measure), because on a "
                         "shared machine the n-thread probe rarely gets n free cores")
    notes.append("GFLOP/s = (6 * sum(in*out) - 2 * in_0*out_0) * samples / seconds (2 forward + 4 backward "
                 "flops per weight per sample, less the first layer's input gradient nobody computes)")
    if "cgrad" in impls:
        notes.append("cgrad: fit(sparse='auto'): where the input is mostly exact zeros (MNIST: 81%) "
                     "the first layer's forward pass and weight gradient skip them, with the same "
                     "result bits as cgrad-dense (sparse=False); its GFLOP/s and % peak count "
                     "the dense model's flops, so they are effective rates there")
    notes.append("threads: each cell runs in its own process pinned to its first n CPUs; JAX's thread "
                 "count follows that affinity (+ --xla_cpu_multi_thread_eigen=false at 1 thread)")
    notes.append("machine shared with other jobs: timings are noisy; compare ratios within one run")

    cpus_all = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    results, cache, groups, rounds = [], {}, {}, {}
    for w in wls:
        data_id, n_train = _prepare_data(w, a, wd, cache)
        w["data_id"] = data_id
        init, init_src = _initial_weights(w, a.seed, cgrad_mod)
        np.savez(wd / f"init_{w['key']}.npz", *init)
        repeats = 1 if a.quick and a.repeats is None else (a.repeats or w["repeats"])
        rounds[w["key"]] = repeats
        for opt in w["optimizers"]:
            lr = a.lr if a.lr is not None else LR[opt]
            for impl in impls:
                for n in threads:
                    row = dict(workload=w["key"], workload_name=w["name"], sizes=w["sizes"],
                               batch=w["batch"], optimizer=opt, lr=lr,
                               momentum=a.momentum if opt == "sgd" else None, impl=impl,
                               threads=n, n_train=n_train, repeats=repeats, init=init_src)
                    results.append(row)
                    if impl in skipped:
                        row.update(status="skipped", reason=skipped[impl])
                        continue
                    if n > ncpu:
                        row.update(status="skipped", reason=f"only {ncpu} CPUs available")
                        continue
                    if _extra_layers(w) and not _RUNNERS[impl].layers:
                        row.update(status="skipped", reason=f"the {impl} runner has no "
                                   + " / ".join(_extra_layers(w)) + " layers")
                        continue
                    cell = dict(workload=w, optimizer=opt, lr=lr, momentum=a.momentum, impl=impl,
                                threads=n, repeats=repeats, epochs_total=a.epochs_accuracy or 0,
                                seed=a.seed, workdir=str(wd), root=str(ROOT), helper_lib=helper,
                                ftz=(impl == "numpy" and helper is not None),
                                cpus=cpus_all[:n] if cpus_all and n < len(cpus_all) else None)
                    # The cells compared with each other (same workload, optimizer, threads)
                    # run together, interleaved; --sequential: every cell on its own.
                    key = ((w["key"], opt, impl, n) if a.sequential
                           else _group_key(a.group_by, w["key"], opt, n))
                    groups.setdefault(key, []).append((row, cell))
    if a.sequential:
        notes.append("cells ran one after the other (--sequential), each in its own process")
    else:
        notes.append(f"the cells of each {_GROUP_BY[a.group_by]} group ran interleaved: their "
                     "processes set up together, then one epoch at a time (warm-ups in turn, timed "
                     "epochs round-robin with the order rotated every round, so the same machine "
                     "phases hit every implementation); rounds: "
                     + ", ".join(f"{k} {r}" for k, r in rounds.items())
                     + f"; {a.settle:g} s pause before each epoch (--settle) so the previous "
                       "worker's spinning thread pools go idle")
    for members in groups.values():
        for (row, cell), res in zip(members, _run_group([c for _, c in members], a.cell_timeout,
                                                         settle=a.settle)):
            row.update(res)
            w, opt, impl, n = row["workload"], row["optimizer"], row["impl"], row["threads"]
            if row["status"] == "ok":
                _summarize(row, row["n_train"], row["sizes"], peaks)
                t = row["test"]
                score = f"acc {t['accuracy']:.4f}" if "accuracy" in t else f"mse {t['loss']:.4g}"
                print(f"{w} {opt:4s} {impl:11s} t{n}: {row['median']:8.3f} s/epoch "
                      f"[{row['min']:.3f}-{row['max']:.3f}] {row['gflops']:7.2f} GFLOP/s  {score}",
                      flush=True)
            else:
                print(f"{w} {opt:4s} {impl:11s} t{n}: {row['status']}: {row.get('error')}",
                      flush=True)
    for r in skipped.items():
        notes.append(f"skipped {r[0]}: {r[1]}")

    # Ratios to cgrad measured side by side in this run.
    by_key = {(r["workload"], r["optimizer"], r["threads"]): r for r in results
              if r["impl"] == "cgrad" and r["status"] == "ok"}
    for r in results:
        c = by_key.get((r["workload"], r["optimizer"], r["threads"]))
        r["ratio_to_cgrad"] = (r["median"] / c["median"]) if (c and r["status"] == "ok") else None

    meta = {"command": "python -m benchmarks.compare " + " ".join(argv if argv is not None else sys.argv[1:]),
            "date": time.strftime("%Y-%m-%d %H:%M:%S"), "python": sys.version.split()[0],
            "numpy": np.__version__, "platform": platform.platform(), "cpu": _peak.cpu_model(),
            "cpus": ncpu, "peak_gflops": {str(k): v for k, v in peaks.items()},
            "quick": a.quick, "notes": notes}
    for pkg in ("cgrad", "torch", "jax", "sklearn"):
        spec = importlib.util.find_spec(pkg)
        if spec is not None:
            try:
                from importlib.metadata import version
                meta[pkg] = version("scikit-learn" if pkg == "sklearn" else pkg)
            except Exception:
                meta[pkg] = "?"
    table = format_table(results)
    plot_note = _plot(results, out / "results.png")
    if plot_note:
        notes.append(plot_note)
    cell_notes = sorted({f"{r['impl']}: {n}" for r in results for n in r.get("notes", [])})
    md = [f"# cgrad peer comparison ({meta['date']})", "", f"`{meta['command']}`", "",
          f"CPU: {meta['cpu']} x{ncpu}; Python {meta['python']}, NumPy {meta['numpy']}"
          + "".join(f", {k} {meta[k]}" for k in ("cgrad", "torch", "jax", "sklearn") if k in meta),
          "", table, "", "Notes:", *[f"- {n}" for n in notes + cell_notes]]
    (out / "results.md").write_text("\n".join(md) + "\n")
    (out / "results.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1, default=str))
    print()
    print("\n".join(md[4:]))
    print(f"\nsaved {out / 'results.md'}, {out / 'results.json'}"
          + ("" if plot_note else f", {out / 'results.png'}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
