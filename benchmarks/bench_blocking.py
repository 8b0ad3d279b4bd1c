"""GEMM GFLOP/s under the blocks that other cache sizes would choose.

cgrad reads the cache sizes once, at import, and shrinks MC and NC to fit them
(src/c/dispatch.c).  CGRAD_CACHE="L1D,L2,L3" sets the sizes, so each configuration runs
in a fresh process; configurations are interleaved round by round, and the table gives
medians of the rounds.  This shows what each block size costs on the machine at hand,
not what another machine would measure.

    python -m benchmarks.bench_blocking --isa avx2 --rounds 3 \\
        --caches "32K,256K,16M;32K,1M,16M;32K,1M,2M"
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

# The packed shapes of bench_gemm.py: the 2048 cube and W3's forward, dW and dX GEMMs.
SHAPES = [("cube", False, False, 2048, 2048, 2048), ("W3 NN", False, False, 256, 1024, 784),
          ("W3 TN", True, False, 1024, 1024, 256), ("W3 NT", False, True, 256, 784, 1024)]


def measure(reps):
    """{"blocking": float32 blocks, shape label: GFLOP/s median} in this process."""
    from cgrad import _core, ops
    out = {"blocking": _core.gemm_blocking()["float32"]}
    rng = np.random.default_rng(0)
    for name, ta, tb, M, N, K in SHAPES:
        A = rng.standard_normal((K, M) if ta else (M, K)).astype(np.float32)
        B = rng.standard_normal((N, K) if tb else (K, N)).astype(np.float32)
        C = np.empty((M, N), np.float32)
        ops.gemm(A, B, ta, tb, C=C, n_threads=1)
        times = []
        for _ in range(reps):
            t = time.perf_counter()
            ops.gemm(A, B, ta, tb, C=C, n_threads=1)
            times.append(time.perf_counter() - t)
        out[name] = 2 * M * N * K / np.median(times) / 1e9
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--isa", default=None, help="CGRAD_ISA for every run (default: best)")
    ap.add_argument("--caches", default="32K,256K,16M;32K,512K,16M;32K,1M,16M;32K,1M,2M",
                    help="';'-separated CGRAD_CACHE values")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(args.reps)))
        return 0
    configs = args.caches.split(";")
    runs = {c: [] for c in configs}
    for r in range(args.rounds):
        for c in configs[r % len(configs):] + configs[:r % len(configs)]:
            env = dict(os.environ, CGRAD_CACHE=c, OMP_NUM_THREADS="1")
            if args.isa:
                env["CGRAD_ISA"] = args.isa
            proc = subprocess.run([sys.executable, "-m", "benchmarks.bench_blocking",
                                   "--measure", "--reps", str(args.reps)], env=env,
                                  capture_output=True, text=True, check=True)
            runs[c].append(json.loads(proc.stdout))
    names = [s[0] for s in SHAPES]
    print("| CGRAD_CACHE | MC | NC | " + " | ".join(names) + " |")
    print("|---" * (3 + len(names)) + "|")
    for c, rs in runs.items():
        b = rs[0]["blocking"]
        cells = " | ".join(f"{np.median([x[n] for x in rs]):.1f}" for n in names)
        print(f"| {c} | {b['mc']} | {b['nc']} | {cells} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
