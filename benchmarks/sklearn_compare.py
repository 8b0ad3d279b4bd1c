"""``python -m benchmarks.sklearn_compare ...``: cgrad.sklearn.MLPClassifier against
scikit-learn's, now :mod:`cgrad.bench.sklearn_table` (``cgrad bench --sklearn-only ...``
from an installed cgrad, into results.md / results.json); kept for the commands in
RESULTS.md.  It prints the table alone:

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \\
        python -m benchmarks.sklearn_compare [--rounds 3] [--threads 1,2] \\
        [--workloads digits-adam,digits-lbfgs,digits-adam-sw,mnist-adam] [--data-dir DIR]
"""
from cgrad.bench.sklearn_table import main

if __name__ == "__main__":
    raise SystemExit(main(prog="python -m benchmarks.sklearn_compare"))
