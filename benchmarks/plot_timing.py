"""Seconds of the pictures' heavy parts: a 41x41 loss landscape of the digits MLP
64-128-64-10 (1681 compiled full-batch evaluations over the 1797 digits) and the default
``cgrad optimizers`` run (in-process, its plots left out), each the median of ``--rounds``
rounds taken in turn.

    python -m benchmarks.plot_timing [--threads 1] [--rounds 3]
"""
import argparse
import io
import os
import statistics
import time

import cgrad
from cgrad import compare_optimizers, datasets, landscape


def _landscape_once(model, X, y, nt):
    t0 = time.perf_counter()
    land = landscape.loss_landscape(model, X, y, resolution=41, n_threads=nt)
    return time.perf_counter() - t0, land.losses.size


def _optimizers_once(nt):
    t0 = time.perf_counter()
    compare_optimizers.run(n_threads=nt, out=io.StringIO())
    return time.perf_counter() - t0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args(argv)
    X, y = datasets.load_digits()
    model = cgrad.MLP([64, 128, 64, 10], seed=0)
    model.fit(X, y, epochs=5, verbose=0, n_threads=args.threads)
    land_s, opt_s = [], []
    for _ in range(args.rounds):
        secs, points = _landscape_once(model, X, y, args.threads)
        land_s.append(secs)
        opt_s.append(_optimizers_once(args.threads))
    print(f"threads {args.threads}, load {os.getloadavg()[0]:.2f}, {args.rounds} rounds")
    print(f"landscape 41x41 ({points} evaluations): median {statistics.median(land_s):.2f} s "
          f"({1e3 * statistics.median(land_s) / points:.2f} ms per evaluation); "
          f"all {', '.join(f'{s:.2f}' for s in land_s)}")
    print(f"cgrad optimizers (default run): median {statistics.median(opt_s):.2f} s; "
          f"all {', '.join(f'{s:.2f}' for s in opt_s)}")


if __name__ == "__main__":
    main()
