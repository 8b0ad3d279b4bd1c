"""Where packing starts to pay: packed against no-pack GEMM GFLOP/s on one thread.

    CGRAD_ISA=avx2 python -m benchmarks.bench_nopack [--dtype float64] [--samples 11]

Every shape runs both ways in one process, interleaved (the no-pack threshold set to 0
forces packing, a huge one forces the no-pack kernel); both give the same bits.  The
last column is the path the selected ISA's one-thread bound (nopack_serial x the
threshold, src/c/dispatch.c) picks.  The ratio's crossover is where that bound belongs.
"""
import argparse

import numpy as np

from cgrad import _core, ops
from cgrad.bench.inference import median_seconds

# (M, N, K, transA, transB): MLP layer GEMMs from 0.1M to 34M multiply-adds.
SHAPES = [(32, 64, 64, 0, 0), (64, 64, 64, 1, 0), (128, 10, 64, 0, 0), (200, 10, 100, 0, 0),
          (100, 10, 200, 1, 0), (200, 100, 10, 0, 1), (128, 64, 128, 0, 0),
          (64, 128, 128, 0, 0), (128, 128, 128, 0, 1), (128, 128, 256, 0, 0),
          (256, 128, 128, 1, 0), (64, 512, 512, 0, 0), (64, 1024, 256, 0, 0),
          (64, 256, 1024, 0, 1), (512, 256, 128, 1, 0), (256, 256, 256, 0, 0),
          (96, 512, 384, 0, 0), (128, 256, 784, 0, 0), (32, 1024, 784, 0, 0),
          (784, 256, 128, 1, 0), (256, 784, 128, 0, 1), (32, 1024, 1024, 0, 0)]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--samples", type=int, default=11)
    args = ap.parse_args(argv)
    dtype = np.dtype(args.dtype)
    rng = np.random.default_rng(0)
    threshold = _core.gemm_set_nopack_threshold(0)
    _core.gemm_set_nopack_threshold(threshold)
    bound = threshold * _core.gemm_blocking()[dtype.name]["nopack_serial"]
    print(f"isa {_core.isa_selected()} {dtype.name}: one-thread no-pack bound {bound:,.0f}")
    print("| M x N x K | op | MNK | packed GFLOP/s | no-pack GFLOP/s | no-pack/packed | default |")
    print("|---|---|---|---|---|---|---|")
    try:
        for M, N, K, ta, tb in SHAPES:
            A = rng.standard_normal((K, M) if ta else (M, K)).astype(dtype)
            B = rng.standard_normal((N, K) if tb else (K, N)).astype(dtype)
            C = np.empty((M, N), dtype)

            def forced(t, A=A, B=B, C=C, ta=ta, tb=tb):
                def call():
                    _core.gemm_set_nopack_threshold(t)
                    ops.gemm(A, B, ta, tb, C=C, n_threads=1)
                return call
            r = median_seconds({"packed": forced(0.0), "nopack": forced(1e18)},
                               args.samples, min_time=0.02)
            gf = {k: 2 * M * N * K / v / 1e9 for k, v in r.items()}
            mnk = M * N * K
            print(f"| {M}x{N}x{K} | {'NT'[ta]}{'NT'[tb]} | {mnk / 1e6:.1f}M "
                  f"| {gf['packed']:.1f} | {gf['nopack']:.1f} "
                  f"| {gf['nopack'] / gf['packed']:.2f} "
                  f"| {'no-pack' if mnk <= bound else 'packed'} |")
    finally:
        _core.gemm_set_nopack_threshold(threshold)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
