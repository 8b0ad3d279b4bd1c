"""fit on a float64 X, read as it is and rounded to float32 batch by batch, against the
float32 copy it replaced (benchmarks/RESULTS.md, "No float32 copy of X").  MNIST from
$CGRAD_DATA, 1 thread.

  python -m benchmarks.input_dtype epochs [--rounds 5] [--dense]
      W1 (784-256-128-64-10, relu, adam, batch 128) Model.fit epoch seconds and the
      gather phase (profile=True), float32 X against float64 X, interleaved in one process
  python -m benchmarks.input_dtype fresh --python A --python B [--rounds 3]
      the MNIST cgrad.sklearn fit (784-256-128-64-10, adam, max_iter 10), each in a fresh
      process of each interpreter in turn (a copy of X faults in fresh pages the first
      time in a process): fit seconds and peak RSS before and after
  python -m benchmarks.input_dtype copy
      the first and second float32 copy of X in this process, and the range check

`fresh` runs each child as a script from the temporary folder, so every interpreter
imports its own installed cgrad.
"""
import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np


def _mnist():
    from cgrad.datasets import load_mnist
    (X, y), _ = load_mnist(dtype="float64")
    return X, y


def epochs(rounds, dense):
    """W1 epoch seconds and gather seconds, float32 against float64 X, interleaved."""
    import cgrad
    X64, y = _mnist()
    X = {"float32": X64.astype(np.float32), "float64": X64}
    kw = dict(batch_size=128, verbose=0, n_threads=1, seed=1, sparse=False if dense else "auto")
    res = {k: ([], []) for k in X}
    print(f"load before {os.getloadavg()[0]:.1f}")
    for r in range(rounds):
        for name in (list(X) if r % 2 == 0 else list(X)[::-1]):
            m = cgrad.MLP([784, 256, 128, 64, 10], activation="relu", seed=0)
            res[name][0].extend(m.fit(X[name], y, epochs=2, **kw)["seconds"])
            m = cgrad.MLP([784, 256, 128, 64, 10], activation="relu", seed=0)
            res[name][1].extend(m.fit(X[name], y, epochs=1, profile=True, **kw)["time_gather"])
    print(f"load after {os.getloadavg()[0]:.1f}")
    print("| X | epoch s (median) | min | gather s/epoch (median) |\n|---|---|---|---|")
    for name, (ep, ga) in res.items():
        print(f"| {name} | {statistics.median(ep):.4f} | {min(ep):.4f} | "
              f"{statistics.median(ga):.4f} |")


def fit_once():
    """One MNIST cgrad.sklearn fit in this (fresh) process: one line of results."""
    from cgrad.sklearn import MLPClassifier
    warnings.simplefilter("ignore")
    X, y = _mnist()
    est = MLPClassifier(hidden_layer_sizes=(256, 128, 64), max_iter=10, random_state=0,
                        n_threads=1)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    est.fit(X, y)
    t = time.perf_counter() - t0
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"{sys.prefix}: fit {t:.3f} s, peak RSS {rss0 / 1024:.0f} -> {rss1 / 1024:.0f} MB, "
          f"loss_ {est.loss_:.6f}", flush=True)


def fresh(pythons, rounds):
    """fit_once in a fresh process of each interpreter in turn, `rounds` times."""
    print(f"load before {os.getloadavg()[0]:.1f}")
    for _ in range(rounds):
        for py in pythons:       # by path, from /tmp: each interpreter's own cgrad
            subprocess.run([py, os.path.abspath(__file__), "fit"], check=True,
                           cwd=tempfile.gettempdir())
    print(f"load after {os.getloadavg()[0]:.1f}")


def copy_cost():
    """The float32 copy of X, first and second time in this process, and fit's check."""
    from cgrad import _core
    from cgrad._validation import FLOAT32_OVERFLOW
    X, _ = _mnist()
    t = [time.perf_counter()]
    X32 = np.ascontiguousarray(X, dtype=np.float32)
    t.append(time.perf_counter())
    _core.all_finite(X.reshape(-1), 1, FLOAT32_OVERFLOW)
    t.append(time.perf_counter())
    del X32
    t.append(time.perf_counter())
    np.ascontiguousarray(X, dtype=np.float32)
    t.append(time.perf_counter())
    print(f"first float32 copy {t[1] - t[0]:.3f} s, second {t[4] - t[3]:.3f} s; range and "
          f"finiteness check of the float64 X {t[2] - t[1]:.3f} s")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=["epochs", "fresh", "fit", "copy"])
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--dense", action="store_true", help="epochs: sparse=False")
    ap.add_argument("--python", action="append", default=[], help="fresh: interpreters")
    args = ap.parse_args(argv)
    if args.what == "epochs":
        epochs(args.rounds or 5, args.dense)
    elif args.what == "fresh":
        fresh(args.python or [sys.executable], args.rounds or 3)
    elif args.what == "fit":
        fit_once()
    else:
        copy_cost()


if __name__ == "__main__":
    main()
