"""Measure where an elementwise kernel starts to gain from a second thread.

    python benchmarks/bench_threshold.py

For growing sizes, times relu, tanh (activation forward) and an Adam step at 1 and
2 threads, with the parallel threshold forced to 0 so that 2 threads are really used,
interleaved in one process (medians of 300 calls).  The crossover is where
`cgrad._core.par_min_work()` (PAR_MIN_WORK in src/common.pxi) should sit.
"""
import time

import numpy as np

from cgrad import _core, ops


def _median_us(f, reps=300):
    f()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts)) * 1e6


def main():
    r = np.random.default_rng(0)
    old = _core.par_min_work(0)
    try:
        print(f"{'elements':>9} {'relu 1t':>8} {'relu 2t':>8} {'tanh 1t':>8} {'tanh 2t':>8} "
              f"{'adam 1t':>8} {'adam 2t':>8}   (us, median of 300)")
        for n in (4096, 8192, 16384, 32768, 65536, 131072, 262144):
            z = r.standard_normal((n // 64, 64)).astype(np.float32)
            y = np.empty_like(z)
            p, g = r.standard_normal(n).astype(np.float32), r.standard_normal(n).astype(np.float32)
            m, v = np.zeros(n, np.float32), np.zeros(n, np.float32)
            row = [n]
            for act in (1, 4):                       # relu, tanh
                for nt in (1, 2):
                    row.append(_median_us(lambda: _core.activation_forward(act, 0.0, z, y, nt)))
            for nt in (1, 2):
                row.append(_median_us(lambda: ops.adam_step(p, g, m, v, lr=1e-3, t=3, n_threads=nt)))
            print(f"{row[0]:>9} " + " ".join(f"{x:8.1f}" for x in row[1:]))
    finally:
        _core.par_min_work(old)


if __name__ == "__main__":
    main()
