"""The scikit-learn table: :class:`cgrad.sklearn.MLPClassifier` against
:class:`sklearn.neural_network.MLPClassifier`, side by side.

Both estimators get the same hyperparameters (scikit-learn's defaults unless a workload
says otherwise) and ``random_state=0``, so the same initial weights and batches.  Every
(workload, threads) cell fits each estimator once per round, the two back to back in an
order that flips every round (:func:`~cgrad.bench.scheduler.round_order`), so a shared
machine's slow phases hit both alike; the table shows median seconds.  The fits run in
the calling process (not pinned): scikit-learn's BLAS (and OpenMP) threads limited by
threadpoolctl, cgrad's by ``n_threads``, to the same count.

Workloads (:data:`WORKLOADS`):

- ``digits-adam``: the UCI digits (:func:`cgrad.datasets.load_digits`, 1,347 training /
  450 test rows), hidden (100,), adam, max_iter 200, tol 1e-4, n_iter_no_change 10: both
  stop by tol, so ``n_iter_`` and the milliseconds per iteration are reported too;
- ``digits-lbfgs``: the same with solver lbfgs;
- ``digits-adam-sw``: digits-adam with ``sample_weight`` = ones (cgrad's weighted-row
  path);
- ``mnist-adam``: MNIST 784-256-128-64-10, adam, 10 epochs (max_iter 10), batch 'auto'
  (200); ``quick`` keeps the first :data:`~cgrad.bench.workloads.QUICK_TRAIN` training and
  :data:`~cgrad.bench.workloads.QUICK_TEST` test rows, as the training comparison's.

Both get the same float64 X; fit time includes whatever each library does with it
(validation, conversion to its training dtype).  Predict throughput: rows/s of ``predict`` on the test rows
(digits: tiled 50 times).  ``cgrad bench --sklearn`` puts the table in its report;
:func:`main` prints it alone (``python -m benchmarks.sklearn_compare`` in a checkout).
"""
import argparse
import os
import statistics
import time
import warnings

import numpy as np

from .scheduler import available_cpus, round_order
from .workloads import QUICK_TEST, QUICK_TRAIN

__all__ = ["WORKLOADS", "DEFAULT_WORKLOADS", "IMPLS", "ROUNDS", "QUICK_ROUNDS",
           "parse_workloads", "load_data", "sklearn_section", "main"]

WORKLOADS = {
    "digits-adam": dict(data="digits", params=dict(solver="adam")),
    "digits-lbfgs": dict(data="digits", params=dict(solver="lbfgs")),
    "digits-adam-sw": dict(data="digits", params=dict(solver="adam"), weighted=True),
    "mnist-adam": dict(data="mnist", params=dict(hidden_layer_sizes=(256, 128, 64),
                                                 solver="adam", max_iter=10)),
}
DEFAULT_WORKLOADS = ("digits-adam", "digits-lbfgs", "mnist-adam")
IMPLS = ("scikit-learn", "cgrad")      # the first is the baseline of the speed-up column
ROUNDS, QUICK_ROUNDS = 3, 1
DIGITS_PREDICT_TILES = 50              # digits' 450 test rows predict in microseconds


def parse_workloads(spec):
    """The workload names of a comma-separated selection.

    Parameters
    ----------
    spec : str, e.g. ``"digits-adam,mnist-adam"``.

    Returns
    -------
    list of str: the names, in the order given, without repeats.

    Raises
    ------
    SystemExit
        Naming the unknown workloads and the known ones (or an empty selection).
    """
    names = list(dict.fromkeys(n.strip() for n in spec.split(",") if n.strip()))
    unknown = [n for n in names if n not in WORKLOADS]
    if unknown or not names:
        raise SystemExit(f"unknown scikit-learn workload(s) {unknown or [spec]}; "
                         f"choose from {list(WORKLOADS)}")
    return names


def load_data(name, *, quick=False, data_dir=None, download=False):
    """A workload's float64 arrays.

    Parameters
    ----------
    name : "digits" (split 75/25, stratified, ``random_state=0``) or "mnist".
    quick : MNIST: only the first ``QUICK_TRAIN`` training and ``QUICK_TEST`` test rows.
    data_dir, download : where MNIST is (see :func:`cgrad.datasets.load_mnist`).

    Returns
    -------
    dict: ``X_tr``, ``y_tr``, ``X_te``, ``y_te`` and ``X_pred`` (the rows predict is
    timed on: digits' test rows tiled 50 times, MNIST's test rows).

    Raises
    ------
    FileNotFoundError
        When the MNIST files are absent (and not downloaded).
    """
    if name == "digits":
        from sklearn.model_selection import train_test_split

        from ..datasets import load_digits
        X, y = load_digits(dtype="float64")
        X_tr, X_te, y_tr, y_te = train_test_split(X, y, random_state=0, stratify=y)
        return dict(X_tr=X_tr, y_tr=y_tr, X_te=X_te, y_te=y_te,
                    X_pred=np.tile(X_te, (DIGITS_PREDICT_TILES, 1)))
    from ..datasets import load_mnist
    (X_tr, y_tr), (X_te, y_te) = load_mnist(data_dir, dtype="float64", download=download)
    n_tr, n_te = (QUICK_TRAIN, QUICK_TEST) if quick else (None, None)
    return dict(X_tr=X_tr[:n_tr], y_tr=y_tr[:n_tr], X_te=X_te[:n_te], y_te=y_te[:n_te],
                X_pred=X_te[:n_te])


def _estimators():
    """{impl: make(params, n_threads)}; ImportError (saying what to install) without
    scikit-learn, SciPy or threadpoolctl."""
    from ..sklearn import MLPClassifier     # first: its ImportError says what to install
    from sklearn.neural_network import MLPClassifier as SkMLP
    return {"scikit-learn": lambda p, nt: SkMLP(random_state=0, **p),
            "cgrad": lambda p, nt: MLPClassifier(random_state=0, n_threads=nt, **p)}


def _fit_predict(est, data, weighted):
    """One fit and one predict of a fresh estimator: seconds, test accuracy, n_iter_."""
    sw = np.ones(len(data["y_tr"])) if weighted else None
    t0 = time.perf_counter()
    est.fit(data["X_tr"], data["y_tr"], sample_weight=sw)
    fit = time.perf_counter() - t0
    t0 = time.perf_counter()
    est.predict(data["X_pred"])
    pred = time.perf_counter() - t0
    return dict(fit_s=fit, predict_s=pred, accuracy=float(est.score(data["X_te"], data["y_te"])),
                n_iter=int(est.n_iter_))


def _time_rounds(cells, datasets, rounds, makers):
    """{(workload, threads, impl): [one dict per round]}: every round fits each cell's
    implementations back to back, in :func:`round_order` (flipped every round)."""
    from sklearn.exceptions import ConvergenceWarning
    from threadpoolctl import threadpool_limits
    runs = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for r in range(rounds):
            for w, nt in cells:
                spec = WORKLOADS[w]
                for i in round_order(len(IMPLS), r):
                    with threadpool_limits(nt):
                        est = makers[IMPLS[i]](spec["params"], nt)
                        runs.setdefault((w, nt, IMPLS[i]), []).append(
                            _fit_predict(est, datasets[spec["data"]], spec.get("weighted", False)))
    return runs


def _row(base, res, baseline_fit):
    """An ok row from one cell's rounds (n_iter_ and accuracy: the last round's; both
    estimators are seeded, so every round's are the same)."""
    fits = [x["fit_s"] for x in res]
    fit = statistics.median(fits)
    pred = statistics.median(x["predict_s"] for x in res)
    n_iter = res[-1]["n_iter"]
    return dict(base, status="ok", rounds=len(res), fit_s=fit, fit_min_s=min(fits),
                fit_times_s=fits, n_iter=n_iter, ms_per_iter=1e3 * fit / n_iter,
                speedup=baseline_fit / fit, test_accuracy=res[-1]["accuracy"],
                predict_s=pred, predict_rows_per_s=base["predict_rows"] / pred)


def _base(w, nt, impl, data):
    """A row's identity: workload, its data, threads, implementation, the parameters
    that differ from scikit-learn's defaults, the row counts."""
    spec = WORKLOADS[w]
    out = dict(workload=w, data=spec["data"], threads=nt, impl=impl, params=spec["params"],
               sample_weight=spec.get("weighted", False))
    if data is not None:
        out.update(n_train=len(data["y_tr"]), n_test=len(data["y_te"]),
                   predict_rows=len(data["X_pred"]))
    return out


def _load_all(names, *, quick, data_dir, download):
    """({data name: arrays}, {data name: why it is missing}) of the selected workloads."""
    datasets, missing = {}, {}
    for d in dict.fromkeys(WORKLOADS[w]["data"] for w in names):
        try:
            datasets[d] = load_data(d, quick=quick, data_dir=data_dir, download=download)
        except FileNotFoundError:
            if d != "mnist":        # the digits ship with cgrad: their absence is a bug
                raise
            missing[d] = "MNIST files not found (--data-dir DIR, $CGRAD_DATA or --download)"
    return datasets, missing


def _rows(names, threads, *, ncpu, datasets, missing, runs):
    """Every (workload, threads, implementation) row: ok from ``runs``, else skipped."""
    rows = []
    for w in names:
        d = WORKLOADS[w]["data"]
        for nt in threads:
            why = missing.get(d) or (f"only {ncpu} CPUs available" if nt > ncpu else None)
            for impl in IMPLS:
                base = _base(w, nt, impl, datasets.get(d))
                if why:
                    rows.append(dict(base, status="skipped", reason=why))
                else:
                    baseline = statistics.median(x["fit_s"] for x in runs[w, nt, IMPLS[0]])
                    rows.append(_row(base, runs[w, nt, impl], baseline))
    return rows


def _notes(names, missing, quick):
    params = {w: ", ".join([f"{k}={v}" for k, v in WORKLOADS[w]["params"].items()]
                           + ["sample_weight=ones"] * bool(WORKLOADS[w].get("weighted")))
              for w in names}
    cut = quick and any(WORKLOADS[w]["data"] == "mnist" for w in names)
    notes = ["scikit-learn estimators: cgrad.sklearn.MLPClassifier and "
             "sklearn.neural_network.MLPClassifier, random_state=0, scikit-learn's defaults "
             "but for: " + "; ".join(f"{w}: {p}" for w, p in params.items()),
             "scikit-learn estimators: both fit the same float64 X, fit seconds include "
             "each library's input validation and conversion; fits run in the bench "
             "process (not pinned); "
             "speed-up = scikit-learn's median fit seconds / the row's; n_iter_ and test "
             "accuracy of the last round; predict rows/s on the test rows "
             f"(digits: tiled {DIGITS_PREDICT_TILES} times)"
             + (f"; --quick: MNIST's first {QUICK_TRAIN:,} training / {QUICK_TEST:,} test rows"
                if cut else "")]
    notes += [f"scikit-learn estimators: skipped {d}: {why}" for d, why in missing.items()]
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if var in os.environ:
            notes.append(f"scikit-learn estimators: {var}={os.environ[var]!r} in the bench "
                         "process, where scikit-learn's fits run: it can slow OpenBLAS "
                         f"(env -u {var} cgrad bench ...)")
    return notes


def _summary(rounds, threads, loads, ncpu):
    (a, b, c), (d, e, f) = loads
    return (f"{rounds} interleaved round{'s' * (rounds != 1)} per cell (median), threads "
            f"{','.join(map(str, threads))}; load average (1, 5, 15 min) {a:.1f} {b:.1f} "
            f"{c:.1f} before, {d:.1f} {e:.1f} {f:.1f} after, {ncpu} cpus")


def sklearn_section(names, *, threads, ncpu=None, rounds=None, quick=False, data_dir=None,
                    download=False):
    """Measure the scikit-learn table.

    Parameters
    ----------
    names : workload names (:func:`parse_workloads`).
    threads : thread counts (larger than ``ncpu``: skipped rows).
    ncpu : CPUs available (default: this process's affinity).
    rounds : fits per estimator and cell (default 3, ``quick`` 1).
    quick : one round and MNIST's first ``QUICK_TRAIN`` / ``QUICK_TEST`` rows (a smoke run).
    data_dir, download : where MNIST is; when it is absent its rows are skipped.

    Returns
    -------
    (dict, list of str) : the section (``summary``: the line saying what was measured;
    ``rounds``, ``threads``, ``cpus``, ``load_before``, ``load_after``; ``rows``: one
    dict per (workload, threads, implementation) with ``status`` "ok" (``fit_s``,
    ``fit_min_s``, ``n_iter``, ``ms_per_iter``, ``speedup``, ``test_accuracy``,
    ``predict_rows_per_s``, ...) or "skipped" (``reason``); ``skipped``: why the whole
    table was, else None) and the notes of the run.
    """
    ncpu = ncpu or available_cpus()
    rounds = rounds or (QUICK_ROUNDS if quick else ROUNDS)
    section = dict(rounds=rounds, threads=list(threads), cpus=ncpu, rows=[], skipped=None)
    try:
        makers = _estimators()
    except ImportError as exc:
        section.update(skipped=str(exc), summary="skipped")
        return section, [f"scikit-learn estimators: skipped: {exc}"]
    datasets, missing = _load_all(names, quick=quick, data_dir=data_dir, download=download)
    cells = [(w, nt) for w in names for nt in threads
             if WORKLOADS[w]["data"] in datasets and nt <= ncpu]
    load0 = os.getloadavg()
    runs = _time_rounds(cells, datasets, rounds, makers)
    loads = (load0, os.getloadavg())
    section.update(load_before=list(loads[0]), load_after=list(loads[1]),
                   summary=_summary(rounds, threads, loads, ncpu),
                   rows=_rows(names, threads, ncpu=ncpu, datasets=datasets, missing=missing,
                              runs=runs))
    return section, _notes(names, missing, quick)


def main(argv=None, prog="python -m benchmarks.sklearn_compare"):
    """Print the scikit-learn table alone (``benchmarks/sklearn_compare.py``'s command).

    Parameters
    ----------
    argv : the arguments (default ``sys.argv[1:]``): ``--rounds`` (3), ``--threads``
        (1,2), ``--workloads`` (all four), ``--data-dir``.
    prog : the command's name in the help text.

    Returns
    -------
    int: 0 (bad arguments raise SystemExit; without scikit-learn the table is skipped
    with a note).
    """
    from .cli import parse_threads
    from .report import sklearn_markdown
    ap = argparse.ArgumentParser(prog=prog, description="Fit cgrad.sklearn.MLPClassifier and "
                                 "scikit-learn's MLPClassifier side by side; print the table "
                                 "(cgrad bench --sklearn-only saves it to results.md/.json).")
    ap.add_argument("--rounds", type=int, default=ROUNDS,
                    help=f"fits per estimator and cell (default {ROUNDS})")
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    ap.add_argument("--workloads", default=",".join(WORKLOADS),
                    help=f"comma-separated from {list(WORKLOADS)} (default all)")
    ap.add_argument("--data-dir", default=None,
                    help="folder with the MNIST IDX files (default $CGRAD_DATA, then "
                         "~/.cache/cgrad)")
    a = ap.parse_args(argv)
    names, threads = parse_workloads(a.workloads), parse_threads(a.threads)
    if a.rounds < 1:
        raise SystemExit("--rounds must be positive")
    section, notes = sklearn_section(names, threads=threads, rounds=a.rounds,
                                     data_dir=a.data_dir)
    print("\n".join(sklearn_markdown(section)[2:] + [f"- {n}" for n in notes]))
    return 0
