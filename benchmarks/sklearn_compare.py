"""cgrad.sklearn.MLPClassifier against sklearn.neural_network.MLPClassifier, side by side:
the same hyperparameters (scikit-learn's defaults unless a workload says otherwise) and
random_state (so the same initial weights and batches), interleaved rounds (the order of
the two flips every round), median seconds.

Workloads:
  digits-adam   UCI digits, hidden (100,), adam, max_iter 200, tol 1e-4, n_iter_no_change
                10: both stop by tol, so n_iter_ (and ms/epoch) are reported too
  digits-lbfgs  the same with solver lbfgs (max_iter 200)
  digits-adam-sw  digits-adam with sample_weight = ones (cgrad's weighted-row path: the
                loss on the host per batch, against digits-adam's compiled loop)
  mnist-adam    MNIST 784-256-128-64-10, adam, 10 epochs (max_iter 10), batch 'auto' (200)

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \\
        python -m benchmarks.sklearn_compare [--rounds 3] [--threads 1,2] \\
        [--workloads digits-adam,digits-lbfgs,mnist-adam]

Threads: scikit-learn's BLAS (threadpoolctl) and cgrad's OpenMP (n_threads) get the same
count.  Fit time includes each library's input validation and conversion (cgrad reads
the float64 X as it is, rounding each batch to float32).  Predict throughput: rows/s of
predict on the test rows (digits: tiled 50 times).  MNIST is read by
cgrad.datasets.load_mnist ($CGRAD_DATA).
"""
import argparse
import os
import statistics
import time
import warnings

import numpy as np

WORKLOADS = {
    "digits-adam": dict(data="digits", params=dict(solver="adam")),
    "digits-lbfgs": dict(data="digits", params=dict(solver="lbfgs")),
    "digits-adam-sw": dict(data="digits", params=dict(solver="adam"), weighted=True),
    "mnist-adam": dict(data="mnist", params=dict(hidden_layer_sizes=(256, 128, 64),
                                                 solver="adam", max_iter=10)),
}


def _data(name):
    """(X_train, y_train, X_test, y_test, X_predict) as float64."""
    if name == "digits":
        from sklearn.model_selection import train_test_split

        from cgrad.datasets import load_digits
        X, y = load_digits()
        X_tr, X_te, y_tr, y_te = train_test_split(X.astype(np.float64), y, random_state=0,
                                                  stratify=y)
        return X_tr, y_tr, X_te, y_te, np.tile(X_te, (50, 1))
    from cgrad.datasets import load_mnist
    (X_tr, y_tr), (X_te, y_te) = load_mnist(dtype="float64")
    return X_tr, y_tr, X_te, y_te, X_te


def _run(make, nt, data, weighted=False):
    """One fit (sample_weight = ones if weighted) and one predict of a fresh estimator on
    nt threads: (fit s, predict s, test accuracy, n_iter_)."""
    from threadpoolctl import threadpool_limits
    X_tr, y_tr, X_te, y_te, X_pred = data
    with threadpool_limits(nt):
        est = make(nt)
        t0 = time.perf_counter()
        est.fit(X_tr, y_tr, sample_weight=np.ones(len(y_tr)) if weighted else None)
        fit = time.perf_counter() - t0
        t0 = time.perf_counter()
        est.predict(X_pred)
        pred = time.perf_counter() - t0
        acc = est.score(X_te, y_te)
    return fit, pred, acc, est.n_iter_


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    args = ap.parse_args(argv)
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier as SkMLP

    from cgrad.sklearn import MLPClassifier
    warnings.simplefilter("ignore", ConvergenceWarning)
    names = args.workloads.split(",")
    unknown = sorted(set(names) - set(WORKLOADS))
    if unknown:
        raise SystemExit(f"unknown workloads {unknown}; known: {sorted(WORKLOADS)}")
    threads = [int(t) for t in args.threads.split(",")]
    datasets = {d: _data(d) for d in dict.fromkeys(WORKLOADS[w]["data"] for w in names)}
    impls = {"scikit-learn": lambda p, nt: SkMLP(random_state=0, **p),
             "cgrad": lambda p, nt: MLPClassifier(random_state=0, n_threads=nt, **p)}
    runs = {}
    load0 = os.getloadavg()
    for r in range(args.rounds):
        for w in names:
            spec = WORKLOADS[w]
            for nt in threads:
                order = list(impls) if r % 2 == 0 else list(impls)[::-1]
                for impl in order:
                    make = lambda nt, f=impls[impl], p=spec["params"]: f(p, nt)
                    runs.setdefault((w, nt, impl), []).append(
                        _run(make, nt, datasets[spec["data"]], spec.get("weighted", False)))
    load1 = os.getloadavg()
    print(f"{args.rounds} interleaved rounds (median); load average (1, 5, 15 min) "
          f"{load0[0]:.1f} {load0[1]:.1f} {load0[2]:.1f} before, {load1[0]:.1f} "
          f"{load1[1]:.1f} {load1[2]:.1f} after, {os.cpu_count()} cpus")
    print("| workload | thr | impl | fit s (median) | min | n_iter_ | ms/iter | sklearn/cgrad "
          "fit | test acc | predict rows/s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for w in names:
        rows = datasets[WORKLOADS[w]["data"]][4].shape[0]
        for nt in threads:
            base = statistics.median(f[0] for f in runs[w, nt, "scikit-learn"])
            for impl in impls:
                res = runs[w, nt, impl]
                fit = statistics.median(f[0] for f in res)
                pred = statistics.median(f[1] for f in res)
                n_iter = res[-1][3]
                print(f"| {w} | {nt} | {impl} | {fit:.3f} | {min(f[0] for f in res):.3f} | "
                      f"{n_iter} | {1e3 * fit / n_iter:.2f} | {base / fit:.2f}x | "
                      f"{res[-1][2]:.4f} | {rows / pred:,.0f} |")


if __name__ == "__main__":
    main()
