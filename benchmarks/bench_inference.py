"""Inference: cgrad's predict / decision_function against PyTorch and onnxruntime.

Models W1 (784-256-128-64-10, ReLU) and W3 (784-1024-1024-10, ReLU) with the same
weights in all three (torch.nn.Linear takes W.T; the ONNX graph is MatMul + Add + Relu
per layer, built with onnx.helper), fed MNIST test rows (cgrad.datasets.load_mnist;
random MNIST-like rows, 81% zeros, when the files are absent), batches 1, 32 and 10,000,
at 1 and 2 threads (cgrad n_threads=, torch.set_num_threads, onnxruntime
SessionOptions.intra_op_num_threads).  Latency is the median time of one call (samples
of repeated calls, the peers interleaved within every sample so load swings hit all
alike); throughput is batch / latency.  cgrad's decision_function returns the logits
like the peers; predict adds the argmax.

    python benchmarks/bench_inference.py [--reps 15] [--threads 1 2] [--batches 1 32 10000]
    python benchmarks/bench_inference.py --breakdown       # where cgrad's per-call time goes
    pytest benchmarks/bench_inference.py --benchmark-only  # pytest-benchmark: W1, batch 1/32

The breakdown times the pieces of Sequential._forward_all at small batches: the input
check (_check_X, including the all_finite scan), the compiled forward
(_core.Network.predict), and for batch 10,000 that forward in blocks of 1024 rows
(PREDICT_BLOCK) against one block.
"""
import argparse
import os
import time

import numpy as np
import pytest

from cgrad import MLP, _core
from cgrad.datasets import load_mnist
from cgrad.model import PREDICT_BLOCK

try:
    import torch
except ImportError:
    torch = None
try:
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper
except ImportError:
    onnx = ort = None

MODELS = {"W1": [784, 256, 128, 64, 10], "W3": [784, 1024, 1024, 10]}
BATCHES = (1, 32, 10000)
THREADS = (1, 2)
MNIST_DIRS = (os.environ.get("CGRAD_MNIST", ""), "/work/shared/data/mnist")


def mnist_rows(n=10000, seed=0):
    """(n, 784) float32 MNIST test rows in [0, 1]; random ones with MNIST's zero fraction
    when the files are not found.  Returns (X, source)."""
    for d in MNIST_DIRS:
        try:
            if d:
                X, _ = load_mnist(d, kind="test")
                return np.ascontiguousarray(X[:n]), f"MNIST test ({d})"
        except (FileNotFoundError, ValueError):
            pass
    try:
        X, _ = load_mnist(kind="test")
        return np.ascontiguousarray(X[:n]), "MNIST test"
    except (FileNotFoundError, ValueError):
        rng = np.random.default_rng(seed)
        X = rng.random((n, 784), dtype=np.float32)
        X[rng.random((n, 784)) < 0.81] = 0
        return X, "random MNIST-like rows (MNIST files not found)"


def cgrad_model(name, seed=0):
    return MLP(MODELS[name], activation="relu", seed=seed)


def dense_weights(model):
    """[(W (in, out), b (out,)), ...] of the Dense layers, float32."""
    p = model.parameters()
    return [(np.asarray(p[i], np.float32), np.asarray(p[i + 1], np.float32))
            for i in range(0, len(p), 2)]


def torch_model(weights):
    layers = []
    for i, (W, b) in enumerate(weights):
        lin = torch.nn.Linear(W.shape[0], W.shape[1])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(W.T)))
            lin.bias.copy_(torch.from_numpy(b))
        layers.append(lin)
        if i < len(weights) - 1:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers).eval()


def onnx_bytes(weights):
    """The MLP as an ONNX graph: MatMul + Add (+ Relu) per layer, batch dimension free."""
    nodes, inits, cur = [], [], "x"
    for i, (W, b) in enumerate(weights):
        inits += [numpy_helper.from_array(W, f"W{i}"), numpy_helper.from_array(b, f"b{i}")]
        nodes.append(helper.make_node("MatMul", [cur, f"W{i}"], [f"mm{i}"]))
        nodes.append(helper.make_node("Add", [f"mm{i}", f"b{i}"], [f"z{i}"]))
        cur = f"z{i}"
        if i < len(weights) - 1:
            nodes.append(helper.make_node("Relu", [cur], [f"h{i}"]))
            cur = f"h{i}"
    graph = helper.make_graph(
        nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                     ["N", weights[0][0].shape[0]])],
        [helper.make_tensor_value_info(cur, TensorProto.FLOAT, ["N", weights[-1][0].shape[1]])],
        inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8                      # readable by older onnxruntime releases too
    onnx.checker.check_model(m)
    return m.SerializeToString()


def ort_session(model_bytes, n_threads):
    so = ort.SessionOptions()
    so.intra_op_num_threads = n_threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(model_bytes, so, providers=["CPUExecutionProvider"])


def runners(model, x, n_threads, tmodel=None, sess=None):
    """name -> zero-argument callable running the model on x at n_threads."""
    fns = {"cgrad predict": lambda: model.predict(x, n_threads=n_threads),
           "cgrad decision_function": lambda: model.decision_function(x, n_threads=n_threads)}
    if tmodel is not None:
        xt = torch.from_numpy(x)

        def run_torch():
            with torch.inference_mode():
                return tmodel(xt)
        fns["torch"] = run_torch
    if sess is not None:
        fns["onnxruntime"] = lambda: sess.run(None, {"x": x})[0]
    return fns


class torch_threads:
    def __init__(self, n):
        self.n = n

    def __enter__(self):
        if torch is not None:
            self.before = torch.get_num_threads()
            torch.set_num_threads(self.n)

    def __exit__(self, *exc):
        if torch is not None:
            torch.set_num_threads(self.before)


def median_seconds(fns, reps, min_time=0.004):
    """{name: median seconds per call}: every sample times a run of calls lasting about
    min_time, the names interleaved within each sample."""
    inner = {}
    for name, fn in fns.items():
        fn()
        t0 = time.perf_counter()
        fn()
        inner[name] = max(1, int(min_time / max(time.perf_counter() - t0, 1e-7)))
    samples = {name: [] for name in fns}
    for _ in range(reps):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            for _ in range(inner[name]):
                fn()
            samples[name].append((time.perf_counter() - t0) / inner[name])
    return {name: float(np.median(v)) for name, v in samples.items()}


def _fmt_time(s):
    return f"{s * 1e6:,.1f} us" if s < 1e-3 else f"{s * 1e3:,.2f} ms"


def _check_agreement(fns, x, model):
    """Logits of the peers against cgrad's (same weights): max abs difference."""
    ref = model.decision_function(x, n_threads=1)
    out = {}
    for name, fn in fns.items():
        if name.startswith("cgrad"):
            continue
        y = fn()
        y = y.numpy() if hasattr(y, "numpy") else np.asarray(y)
        out[name] = float(np.max(np.abs(y - ref)))
    return out


# ---- pytest-benchmark suite ---------------------------------------------------------------
@pytest.fixture(scope="module")
def w1_setup():
    X, _ = mnist_rows(64)
    model = cgrad_model("W1")
    w = dense_weights(model)
    tm = torch_model(w) if torch is not None else None
    sess = ort_session(onnx_bytes(w), 1) if ort is not None else None
    return X, model, tm, sess


@pytest.mark.parametrize("batch", [1, 32])
@pytest.mark.parametrize("peer", ["cgrad decision_function", "torch", "onnxruntime"])
def test_inference_w1(benchmark, w1_setup, batch, peer):
    X, model, tm, sess = w1_setup
    if peer == "torch" and tm is None or peer == "onnxruntime" and sess is None:
        pytest.skip(f"{peer} is not installed")
    x = np.ascontiguousarray(X[:batch])
    fn = runners(model, x, 1, tm, sess)[peer]
    benchmark.group = f"W1 inference batch {batch} t=1"
    with torch_threads(1):
        benchmark(fn)


# ---- script mode ---------------------------------------------------------------------------
def table(args, X, source):
    print(f"cgrad isa={_core.isa_selected()}; inputs: {source}; torch "
          f"{torch.__version__ if torch else '-'}; onnxruntime {ort.__version__ if ort else '-'}")
    print(f"latency = median of {args.reps} samples (fewer at batch 10000) of repeated calls; "
          f"throughput = batch / latency\n")
    peers = None
    rows = []
    for name in args.models:
        model = cgrad_model(name)
        w = dense_weights(model)
        tm = torch_model(w) if torch is not None else None
        ob = onnx_bytes(w) if ort is not None else None
        for nt in args.threads:
            sess = ort_session(ob, nt) if ob is not None else None
            for batch in args.batches:
                x = np.ascontiguousarray(X[:batch])
                fns = runners(model, x, nt, tm, sess)
                peers = list(fns)
                reps = args.reps if batch < 1000 else max(3, args.reps // 3)
                with torch_threads(nt):
                    diff = _check_agreement(fns, x, model)
                    secs = median_seconds(fns, reps)
                rows.append((name, batch, nt, secs, diff))
    head = "| model | batch | thr | " + " | ".join(peers) + " | cgrad d_f / best peer |"
    print("Latency (median per call)\n")
    print(head)
    print("|" + "---|" * (len(peers) + 4))
    for name, batch, nt, secs, diff in rows:
        others = [secs[p] for p in peers if not p.startswith("cgrad")]
        ratio = secs["cgrad decision_function"] / min(others) if others else float("nan")
        print(f"| {name} | {batch} | {nt} | " + " | ".join(_fmt_time(secs[p]) for p in peers)
              + f" | {ratio:.2f} |")
    print("\nThroughput (rows/s)\n")
    print("| model | batch | thr | " + " | ".join(peers) + " |")
    print("|" + "---|" * (len(peers) + 3))
    for name, batch, nt, secs, diff in rows:
        print(f"| {name} | {batch} | {nt} | "
              + " | ".join(f"{batch / secs[p]:,.0f}" for p in peers) + " |")
    worst = max((d for r in rows for d in r[4].values()), default=0.0)
    print(f"\nlargest |logit difference| against cgrad: {worst:.2e}")


def breakdown(args, X):
    """Where cgrad's per-call time goes (interleaved medians, microseconds)."""
    print("\nPer-call pieces of cgrad's decision_function (median us; pieces timed "
          "separately, interleaved)\n")
    print("| model | batch | thr | decision_function | _check_X | all_finite | "
          "np.empty | Network.predict | rest (Python) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in args.models:
        model = cgrad_model(name)
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
                s = median_seconds(fns, args.reps)
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
            model = cgrad_model(name)
            x = np.ascontiguousarray(X[:big[0]])
            out = np.empty((big[0], model.n_outputs), np.float32)
            for nt in args.threads:
                fns = {"blk": lambda: model._net.predict(x, out, PREDICT_BLOCK, nt),
                       "one": lambda: model._net.predict(x, out, big[0], nt)}
                s = median_seconds(fns, max(3, args.reps // 3))
                print(f"| {name} | {nt} | {s['blk'] * 1e3:.2f} | {s['one'] * 1e3:.2f} | "
                      f"{s['blk'] / s['one']:.2f} |")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--threads", type=int, nargs="+", default=list(THREADS))
    ap.add_argument("--batches", type=int, nargs="+", default=list(BATCHES))
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    ap.add_argument("--breakdown", action="store_true",
                    help="time the pieces of cgrad's per-call path instead of the peers")
    args = ap.parse_args(argv)
    X, source = mnist_rows(max(args.batches))
    if args.breakdown:
        breakdown(args, X)
    else:
        table(args, X, source)


if __name__ == "__main__":
    main()
