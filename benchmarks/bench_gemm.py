"""GEMM throughput: cgrad vs numpy.matmul (OpenBLAS) and torch.mm, 1 and 2 threads.

Shapes are the three GEMMs of an MLP training step (forward X@W "NN", weight
gradient X.T@dZ "TN", input gradient dZ@W.T "NT") for the DESIGN.md workloads W1
(784-256-128-64-10, batch 128), W2 (2-64-64-1, batch 32) and W3 (784-1024-1024-10,
batch 256), plus a 2048 cube.

    pytest benchmarks/bench_gemm.py --benchmark-only      # pytest-benchmark suite
    python benchmarks/bench_gemm.py [--reps 30] [--dtype float32]   # GFLOP/s table

Timings on a shared machine are noisy: the table reports medians, measured side by
side (cgrad, numpy, torch interleaved per shape) so the ratios are comparable.  At
several threads each sample waits MULTI_THREAD_SETTLE seconds first, so the libraries'
spinning thread pools do not take each other's cores.
On the project machine run the NumPy peer without OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE:
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_gemm.py
"""
import argparse

import numpy as np
import pytest

from cgrad import _core
from cgrad.bench.inference import MULTI_THREAD_SETTLE, median_seconds

try:
    import torch
except ImportError:              # the torch column is skipped with a note
    torch = None
try:
    from threadpoolctl import threadpool_limits
except ImportError:
    threadpool_limits = None


def _mlp_shapes(name, batch, sizes):
    """(label, transA, transB, M, N, K) for every layer's forward, dW and dX GEMM."""
    out = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        tag = f"{name} {fan_in}->{fan_out}"
        out.append((f"{tag} NN X@W", False, False, batch, fan_out, fan_in))
        out.append((f"{tag} TN X.T@dZ", True, False, fan_in, fan_out, batch))
        out.append((f"{tag} NT dZ@W.T", False, True, batch, fan_in, fan_out))
    return out


SHAPES = (_mlp_shapes("W1", 128, [784, 256, 128, 64, 10])
          + _mlp_shapes("W2", 32, [2, 64, 64, 1])
          + _mlp_shapes("W3", 256, [784, 1024, 1024, 10])
          + [("cube 2048", False, False, 2048, 2048, 2048)])
THREADS = (1, 2)


def operands(transA, transB, M, N, K, dtype, seed=0):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((K, M) if transA else (M, K)).astype(dtype)
    B = rng.standard_normal((N, K) if transB else (K, N)).astype(dtype)
    return A, B, np.empty((M, N), dtype)


def runners(transA, transB, A, B, C, n_threads):
    """name -> zero-argument callable computing C = op(A) @ op(B)."""
    opA, opB = (A.T if transA else A), (B.T if transB else B)
    fns = {"cgrad": lambda: _core.gemm(transA, transB, 1.0, A, B, 0.0, C, n_threads),
           "numpy": lambda: np.matmul(opA, opB, out=C)}
    if torch is not None:
        tA, tB, tC = torch.from_numpy(A), torch.from_numpy(B), torch.from_numpy(C)
        tA, tB = (tA.T if transA else tA), (tB.T if transB else tB)
        fns["torch"] = lambda: torch.mm(tA, tB, out=tC)
    return fns


class limit_threads:
    """Set OpenBLAS/OpenMP (threadpoolctl) and torch to n threads inside the block."""

    def __init__(self, n):
        self.n = n

    def __enter__(self):
        self.ctx = threadpool_limits(self.n) if threadpool_limits else None
        if torch is not None:
            self.torch_before = torch.get_num_threads()
            torch.set_num_threads(self.n)
        return self

    def __exit__(self, *exc):
        if self.ctx is not None:
            self.ctx.unregister()
        if torch is not None:
            torch.set_num_threads(self.torch_before)


# ---- pytest-benchmark suite --------------------------------------------------------------
@pytest.mark.parametrize("n_threads", THREADS)
@pytest.mark.parametrize("peer", ["cgrad", "numpy", "torch"])
@pytest.mark.parametrize("shape", SHAPES, ids=[s[0].replace(" ", "_") for s in SHAPES])
def test_gemm(benchmark, shape, peer, n_threads):
    label, transA, transB, M, N, K = shape
    if peer == "torch" and torch is None:
        pytest.skip("torch is not installed")
    A, B, C = operands(transA, transB, M, N, K, np.float32)
    fn = runners(transA, transB, A, B, C, n_threads)[peer]
    benchmark.group = f"{label} t={n_threads}"
    benchmark.extra_info["gflops"] = 2.0 * M * N * K / 1e9
    with limit_threads(n_threads):
        benchmark(fn)


# ---- script mode: a GFLOP/s table ------------------------------------------------------------
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--threads", type=int, nargs="+", default=list(THREADS))
    ap.add_argument("--filter", default="", help="only shapes whose label contains this")
    ap.add_argument("--impls", default="cgrad,numpy,torch",
                    help="comma-separated subset of cgrad,numpy,torch to time (one per process "
                         "keeps other libraries' thread pools out of a multi-threaded run)")
    args = ap.parse_args(argv)
    dtype = np.dtype(args.dtype)
    print(f"cgrad isa={_core.isa_selected()} blocking={_core.gemm_blocking()[dtype.name]}")
    if torch is None:
        print("torch not installed: torch column skipped")
    peers = [p for p in ("cgrad", "numpy", "torch") if p in args.impls.split(",")
             and (p != "torch" or torch is not None)]
    head = f"{'shape':<28}{'M x N x K':>17}{'thr':>4}" + "".join(f"{p:>9}" for p in peers)
    print(f"GFLOP/s, median of {args.reps} ({dtype.name}); ratio = cgrad / best peer")
    print(head + f"{'ratio':>8}")
    for label, transA, transB, M, N, K in SHAPES:
        if args.filter not in label:
            continue
        for nt in args.threads:
            A, B, C = operands(transA, transB, M, N, K, dtype)
            fns = runners(transA, transB, A, B, C, nt)
            reps = args.reps if M * N * K < 1e9 else max(3, args.reps // 5)
            with limit_threads(nt):
                secs = median_seconds({p: fns[p] for p in peers}, reps, min_time=0.005 * nt,
                                      settle=MULTI_THREAD_SETTLE if nt > 1 else 0.0)
            gf = {p: 2.0 * M * N * K / secs[p] / 1e9 for p in peers}
            others = [gf[p] for p in peers if p != "cgrad"]
            ratio = f"{gf['cgrad'] / max(others):8.2f}" if "cgrad" in gf and others else ""
            print(f"{label:<28}{f'{M}x{N}x{K}':>17}{nt:>4}"
                  + "".join(f"{gf[p]:9.1f}" for p in peers) + ratio)
    if not args.filter and dtype == np.float32 and "cgrad" in peers:
        epilogue_table(args.reps, args.threads)


def epilogue_table(reps, threads):
    """Dense forward z = x @ W + b, y = relu(z): bias+ReLU fused into the GEMM epilogue
    (tile by tile, cache-hot) vs the GEMM followed by separate bias+ReLU passes."""
    relu = 1                                   # ACTIVATION_CODES["relu"]
    print(f"\ndense forward + ReLU (float32), median us of {reps}: fused epilogue vs separate")
    print(f"{'layer':<28}{'N x IN -> OUT':>17}{'thr':>4}{'fused':>9}{'separate':>10}{'speedup':>9}")
    for label, transA, transB, M, N, K in SHAPES:
        if "NN" not in label:
            continue
        rng = np.random.default_rng(0)
        x = rng.standard_normal((M, K)).astype(np.float32)
        W = rng.standard_normal((K, N)).astype(np.float32)
        b = rng.standard_normal(N).astype(np.float32)
        z, y = np.empty((M, N), np.float32), np.empty((M, N), np.float32)
        for nt in threads:
            def fused():
                _core.linear_act_forward(relu, 0.0, x, W, b, z, y, nt)

            def separate():
                _core.gemm(False, False, 1.0, x, W, 0.0, z, nt)
                np.add(z, b, out=z)
                _core.activation_forward(relu, 0.0, z, y, nt)
            secs = median_seconds({"fused": fused, "separate": separate}, reps, min_time=0.005)
            print(f"{label.split(' NN')[0]:<28}{f'{M}x{K}->{N}':>17}{nt:>4}"
                  f"{secs['fused'] * 1e6:9.1f}{secs['separate'] * 1e6:10.1f}"
                  f"{secs['separate'] / secs['fused']:9.2f}")


if __name__ == "__main__":
    main()
