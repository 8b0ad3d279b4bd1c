"""cgrad.sklearn.MLPClassifier against sklearn.neural_network.MLPClassifier on the UCI
digits, side by side: the same hidden sizes, solver, epochs/iterations, random_state
(so the same initial weights and batches), interleaved rounds, median seconds.

    python -m benchmarks.sklearn_compare [--rounds 5] [--hidden 128,64]
"""
import argparse
import os
import statistics
import time
import warnings

import numpy as np


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--hidden", default="128,64")
    ap.add_argument("--epochs", type=int, default=20, help="adam epochs (max_iter)")
    ap.add_argument("--lbfgs-iter", type=int, default=200)
    args = ap.parse_args(argv)
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier as SkMLP
    from threadpoolctl import threadpool_limits

    from cgrad.datasets import load_digits
    from cgrad.sklearn import MLPClassifier
    warnings.simplefilter("ignore", ConvergenceWarning)
    hidden = tuple(int(h) for h in args.hidden.split(","))
    X, y = load_digits()
    X = X.astype(np.float64)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, random_state=0, stratify=y)
    X_big = np.tile(X_te, (50, 1))                        # predict throughput
    cells = []
    for solver, it in (("adam", args.epochs), ("lbfgs", args.lbfgs_iter)):
        common = dict(hidden_layer_sizes=hidden, solver=solver, max_iter=it, random_state=0)
        for nt in (1, 2):               # threads: scikit-learn's BLAS, cgrad's OpenMP
            cells.append((solver, f"scikit-learn f64 {nt}t", lambda c=common: SkMLP(**c),
                          X_tr, nt))
            cells.append((solver, f"cgrad f32 {nt}t",
                          lambda c=common, nt=nt: MLPClassifier(n_threads=nt, **c), X_tr, nt))
    times = {c[:2]: [] for c in cells}
    pred = {c[:2]: [] for c in cells}
    res = {}
    for _ in range(args.rounds):
        for solver, name, make, Xf, nt in cells:
            with threadpool_limits(nt):
                est = make()
                t0 = time.perf_counter()
                est.fit(Xf, y_tr)
                times[solver, name].append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                est.predict(X_big.astype(Xf.dtype))
                pred[solver, name].append(time.perf_counter() - t0)
            res[solver, name] = (est.score(X_te.astype(Xf.dtype), y_te), est.n_iter_, est.loss_)
    print(f"digits {X_tr.shape[0]} train / {X_te.shape[0]} test rows, hidden {hidden}, "
          f"{args.rounds} interleaved rounds (median), load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cpus")
    print(f"{'solver':6} {'implementation':22} {'fit s':>8} {'vs sklearn same threads':>23} "
          f"{'predict rows/s':>15} {'n_iter_':>7} {'loss_':>9} {'test acc':>8}")
    for solver, name, *_ in cells:
        fit = statistics.median(times[solver, name])
        base = statistics.median(times[solver, f"scikit-learn f64 {name[-2]}t"])
        rate = X_big.shape[0] / statistics.median(pred[solver, name])
        acc, n_iter, loss = res[solver, name]
        print(f"{solver:6} {name:22} {fit:8.3f} {base / fit:22.1f}x {rate:15,.0f} "
              f"{n_iter:7d} {loss:9.5f} {acc:8.4f}")


if __name__ == "__main__":
    main()
