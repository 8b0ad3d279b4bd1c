"""One training epoch of cgrad's fused loop: W1 (MNIST 784-256-128-64-10, batch 128,
Adam and SGD+momentum) and W3 (784-1024-1024-10, batch 256, Adam) with the sparse path
(``sparse='auto'``, what fit does on MNIST: the first layer on compressed input rows,
W3's 1024x1024 layer on compressed ReLU outputs) and dense (``sparse=False``), and W2
(2-64-64-1, batch 32, SGD+momentum), at 1 and 2 threads.  W3 takes a few minutes.

    pytest benchmarks/bench_epoch.py --benchmark-only --benchmark-group-by=group

Each group holds one (workload, optimizer, threads) cell, so W1's sparse and dense
rows sit side by side (their weights are bitwise the same; tests/test_sparse.py).
The peer comparison (PyTorch, JAX, scikit-learn, NumPy) is ``cgrad bench``; this file
times cgrad alone with pytest-benchmark's statistics.  MNIST comes from $CGRAD_DATA (or
~/.cache/cgrad/mnist); W1 and W3 are skipped without it.
"""
import pytest

import cgrad
from cgrad.bench.workloads import synthetic_regression
from cgrad.datasets import load_mnist

THREADS = [1, 2]
_DATA = {}


def _mnist():
    if "mnist" not in _DATA:
        try:
            X, y = load_mnist(kind="train")
        except OSError as e:
            pytest.skip(f"MNIST not found ({e}); set CGRAD_DATA")
        _DATA["mnist"] = (X, y)
    return _DATA["mnist"]


def _tiny():
    if "tiny" not in _DATA:
        _DATA["tiny"] = synthetic_regression(100_000, 2, 1, seed=0)
    return _DATA["tiny"]


def _epoch(benchmark, sizes, act, out, loss, X, y, batch, opt, n_threads, rounds=5,
           **fit_kw):
    m = cgrad.MLP(sizes, activation=act, output=out, dtype="float32", seed=0)
    optimizer = (cgrad.optim.Adam(lr=1e-3) if opt == "adam"
                 else cgrad.optim.SGD(lr=0.05 if out == "softmax" else 0.01, momentum=0.9))
    m.fit(X, y, loss=loss, optimizer=optimizer, epochs=1, batch_size=batch, verbose=0,
          n_threads=n_threads, **fit_kw)                       # warm-up epoch
    benchmark.pedantic(m.fit, args=(X, y),
                       kwargs=dict(loss=loss, optimizer=optimizer, epochs=1,
                                   batch_size=batch, verbose=0, n_threads=n_threads,
                                   **fit_kw),
                       rounds=rounds, iterations=1)


@pytest.mark.parametrize("n_threads", THREADS)
@pytest.mark.parametrize("opt", ["adam", "sgd"])
@pytest.mark.parametrize("sparse", ["auto", False], ids=["sparse", "dense"])
def test_epoch_w1(benchmark, opt, n_threads, sparse):
    X, y = _mnist()
    benchmark.group = f"W1 epoch {opt} {n_threads}t"
    _epoch(benchmark, [784, 256, 128, 64, 10], "relu", "softmax", "softmax_cross_entropy",
           X, y, 128, opt, n_threads, sparse=sparse)


@pytest.mark.parametrize("n_threads", THREADS)
@pytest.mark.parametrize("sparse", ["auto", False], ids=["sparse", "dense"])
def test_epoch_w3(benchmark, n_threads, sparse):
    X, y = _mnist()
    benchmark.group = f"W3 epoch adam {n_threads}t"
    _epoch(benchmark, [784, 1024, 1024, 10], "relu", "softmax", "softmax_cross_entropy",
           X, y, 256, "adam", n_threads, rounds=3, sparse=sparse)


@pytest.mark.parametrize("n_threads", THREADS)
def test_epoch_w2(benchmark, n_threads):
    X, y = _tiny()
    benchmark.group = f"W2 epoch sgd {n_threads}t"
    _epoch(benchmark, [2, 64, 64, 1], "tanh", "identity", "mse", X, y, 32, "sgd",
           n_threads)
