"""Inference: cgrad's predict / decision_function against PyTorch and onnxruntime.

The measurement is cgrad.bench.inference (``cgrad bench --inference-only`` runs it too):
W1 (784-256-128-64-10, ReLU) and W3 (784-1024-1024-10, ReLU) with the same weights in
all three, MNIST test rows (random MNIST-like rows when the files are absent), batches 1,
32 and 10,000, at 1 and 2 threads; latency is the median time of one call, the peers
interleaved within every sample; throughput is batch / latency.  cgrad's
decision_function returns the logits like the peers; predict adds the argmax.

    python benchmarks/bench_inference.py [--quick] [--threads 1 2] [--batches 1 32 10000]
    python benchmarks/bench_inference.py --breakdown       # where cgrad's per-call time goes
    pytest benchmarks/bench_inference.py --benchmark-only  # pytest-benchmark: W1, batch 1/32

The breakdown times the pieces of Sequential._forward_all at small batches: the input
check (_check_X, including the all_finite scan), the compiled forward
(_core.Network.predict), and for batch 10,000 that forward in blocks of 1024 rows
(PREDICT_BLOCK) against one block.
"""
import argparse
import os

import numpy as np
import pytest

from cgrad import _core
from cgrad.bench import WORKLOADS
from cgrad.bench.inference import (BATCHES, available_peers, inference_rows, load_rows,
                                   median_seconds, onnx_bytes, ort_session, runners,
                                   torch_model, torch_threads)
from cgrad.bench.report import format_inference_table
from cgrad.bench.workloads import initial_model, layer_params
from cgrad.model import PREDICT_BLOCK

MODELS = ("W1", "W3")
THREADS = (1, 2)
PEERS, MISSING = available_peers()
TORCH = PEERS.get("torch", {}).get("torch")


# ---- pytest-benchmark suite ---------------------------------------------------------------
@pytest.fixture(scope="module")
def w1_setup():
    w = WORKLOADS["W1"]
    X, _ = load_rows(w, 64)
    model = initial_model(w, 0)
    weights = layer_params(model.get_weights(), len(w["sizes"]) - 1)
    tm = torch_model(TORCH, weights, w["activation"]) if TORCH else None
    ort = PEERS.get("onnxruntime")
    sess = (ort_session(ort["onnxruntime"], onnx_bytes(ort["onnx"], weights, w["activation"]), 1)
            if ort else None)
    return X, model, tm, sess


@pytest.mark.parametrize("batch", [1, 32])
@pytest.mark.parametrize("peer", ["cgrad decision_function", "torch", "onnxruntime"])
def test_inference_w1(benchmark, w1_setup, batch, peer):
    X, model, tm, sess = w1_setup
    if peer in MISSING:
        pytest.skip(f"{peer}: {MISSING[peer]}")
    x = np.ascontiguousarray(X[:batch])
    fn = runners(model, x, 1, torch=TORCH, tmodel=tm, sess=sess)[peer]
    benchmark.group = f"W1 inference batch {batch} t=1"
    with torch_threads(TORCH, 1):
        benchmark(fn)


# ---- script mode ---------------------------------------------------------------------------
def table(args):
    """Print the inference table of cgrad.bench.inference and its notes."""
    rows, notes = inference_rows([WORKLOADS[m] for m in args.models], threads=args.threads,
                                 batches=args.batches, quick=args.quick, reps=args.reps,
                                 ncpu=len(os.sched_getaffinity(0)))
    print(f"cgrad isa={_core.isa_selected()}\n")
    print(format_inference_table(rows))
    worst = max((r["max_abs_diff"] for r in rows if "max_abs_diff" in r), default=0.0)
    print(f"\nlargest |output difference| against cgrad: {worst:.2e}")
    print("\n".join(f"- {n}" for n in notes))


def breakdown(args, X):
    """Where cgrad's per-call time goes (interleaved medians, microseconds)."""
    print("\nPer-call pieces of cgrad's decision_function (median us; pieces timed "
          "separately, interleaved)\n")
    print("| model | batch | thr | decision_function | _check_X | all_finite | "
          "np.empty | Network.predict | rest (Python) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in args.models:
        model = initial_model(WORKLOADS[name], 0)
        for nt in args.threads:
            for batch in [b for b in args.batches if b <= 32]:
                x = np.ascontiguousarray(X[:batch])
                out = np.empty((batch, model.n_outputs), np.float32)
                flat = x.reshape(-1)
                fns = {"df": lambda: model.decision_function(x, n_threads=nt),
                       "check": lambda: model._check_X(x),
                       "finite": lambda: _core.all_finite(flat, nt),
                       "empty": lambda: np.empty((batch, model.n_outputs), np.float32),
                       "net": lambda: model._net.predict(x, out, PREDICT_BLOCK, nt)}
                s = median_seconds(fns, args.reps or 15)
                rest = s["df"] - s["check"] - s["empty"] - s["net"]
                print(f"| {name} | {batch} | {nt} | {s['df'] * 1e6:.1f} | "
                      f"{s['check'] * 1e6:.1f} | {s['finite'] * 1e6:.1f} | "
                      f"{s['empty'] * 1e6:.2f} | {s['net'] * 1e6:.1f} | {rest * 1e6:.1f} |")
    big = [b for b in args.batches if b > PREDICT_BLOCK]
    if big:
        print(f"\nNetwork.predict at batch {big[0]}: blocks of {PREDICT_BLOCK} rows vs one "
              f"block (median ms)\n")
        print(f"| model | thr | block {PREDICT_BLOCK} | block {big[0]} | ratio |")
        print("|---|---|---|---|---|")
        for name in args.models:
            model = initial_model(WORKLOADS[name], 0)
            x = np.ascontiguousarray(X[:big[0]])
            out = np.empty((big[0], model.n_outputs), np.float32)
            for nt in args.threads:
                fns = {"blk": lambda: model._net.predict(x, out, PREDICT_BLOCK, nt),
                       "one": lambda: model._net.predict(x, out, big[0], nt)}
                s = median_seconds(fns, max(3, (args.reps or 15) // 3))
                print(f"| {name} | {nt} | {s['blk'] * 1e3:.2f} | {s['one'] * 1e3:.2f} | "
                      f"{s['blk'] / s['one']:.2f} |")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=None,
                    help="timed samples per row (default 15; --quick 3)")
    ap.add_argument("--quick", action="store_true", help="fewer, shorter samples")
    ap.add_argument("--threads", type=int, nargs="+", default=list(THREADS))
    ap.add_argument("--batches", type=int, nargs="+", default=list(BATCHES))
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    ap.add_argument("--breakdown", action="store_true",
                    help="time the pieces of cgrad's per-call path instead of the peers")
    args = ap.parse_args(argv)
    if args.breakdown:
        breakdown(args, load_rows(WORKLOADS["W1"], max(args.batches))[0])
    else:
        table(args)


if __name__ == "__main__":
    main()
