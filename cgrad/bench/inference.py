"""The inference comparison: cgrad's ``decision_function`` / ``predict`` against PyTorch
(``inference_mode``) and onnxruntime on the same weights.

Every peer gets the workload's initial weights (:func:`~cgrad.bench.workloads.initial_weights`:
``torch.nn.Linear`` takes W.T; the ONNX graph is MatMul + Add + activation per layer) and
the workload's test rows (:func:`~cgrad.bench.workloads.load_arrays`; random MNIST-like
rows, 81% zeros, with a note when the MNIST files are absent).  The peers' outputs are
checked against cgrad's before anything is timed.  Latency is the median time of one
call over samples of repeated calls, the implementations interleaved within every sample
so a shared machine's slow phases hit all alike; throughput is batch / latency.  Runs in
the calling process: cgrad ``n_threads=``, ``torch.set_num_threads``, onnxruntime
``intra_op_num_threads``.
"""
import contextlib
import importlib
import time

import numpy as np

from .workloads import extra_layers, initial_model, layer_params, load_arrays

__all__ = ["BATCHES", "CGRAD_IMPLS", "PEERS", "available_peers", "inference_rows", "load_rows",
           "torch_model", "onnx_bytes", "ort_session", "runners", "median_seconds",
           "torch_threads"]

BATCHES = (1, 32, 10_000)
CGRAD_IMPLS = ("cgrad decision_function", "cgrad predict")
# peer -> the modules it imports (a missing one skips the peer with a note)
PEERS = {"torch": ("torch",), "onnxruntime": ("onnx", "onnxruntime")}
MNIST_ZEROS = 0.81           # MNIST's fraction of exact-zero pixels, for the stand-in rows
REPS, QUICK_REPS = 15, 3
MIN_TIME, QUICK_MIN_TIME = 0.004, 0.001
# Pause before each sample of a multi-threaded cell: after a call each library's workers
# spin for a while and take the cores the next library needs (benchmarks/RESULTS.md,
# "Spinning thread pools").
MULTI_THREAD_SETTLE = 0.3
_ACTIVATIONS = {"relu": ("ReLU", "Relu"), "tanh": ("Tanh", "Tanh")}   # torch.nn, ONNX op


def available_peers():
    """The installed peers.

    Returns
    -------
    (dict, dict): {peer: {module name: module}} of the importable peers, and
    {peer: "<module> not installed"} of the others.
    """
    mods, missing = {}, {}
    for peer, names in PEERS.items():
        try:
            mods[peer] = {n: importlib.import_module(n) for n in names}
        except ImportError as exc:
            missing[peer] = f"{exc.name or names[0]} not installed"
    return mods, missing


def load_rows(w, n, *, data_dir=None, download=False, seed=0):
    """``n`` input rows of the workload's test set (repeated when it has fewer).

    Parameters
    ----------
    w : a workload dict.
    n : rows wanted.
    data_dir, download, seed : as :func:`~cgrad.bench.workloads.load_arrays`.

    Returns
    -------
    (X, note) : float32 C-order (n, inputs) rows; note is None, or says that random
    MNIST-like rows stand in for missing MNIST files.
    """
    try:
        X = load_arrays(w, data_dir=data_dir, download=download, seed=seed, n_test=n)[2]
        note = None
    except FileNotFoundError:
        if w["data"] != "mnist":
            raise
        rng = np.random.default_rng(seed)
        X = rng.random((n, w["sizes"][0]), dtype=np.float32)
        X[rng.random(X.shape) < MNIST_ZEROS] = 0
        note = (f"{w['key']}: MNIST files not found: random MNIST-like rows "
                f"({MNIST_ZEROS:.0%} zeros, seed {seed}) stand in")
    return np.ascontiguousarray(X[np.arange(n) % len(X)]), note


def torch_model(torch, weights, activation):
    """The MLP as a torch network.

    Parameters
    ----------
    torch : the torch module.
    weights : [(W (in, out), b (out,)), ...] float32, one pair per Dense layer.
    activation : "relu" or "tanh", after every layer but the last.

    Returns
    -------
    torch.nn.Sequential of Linear (+ activation), in eval mode.
    """
    layers = []
    for i, (W, b) in enumerate(weights):
        lin = torch.nn.Linear(W.shape[0], W.shape[1])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(W.T)))
            lin.bias.copy_(torch.from_numpy(b))
        layers.append(lin)
        if i < len(weights) - 1:
            layers.append(getattr(torch.nn, _ACTIVATIONS[activation][0])())
    return torch.nn.Sequential(*layers).eval()


def onnx_bytes(onnx, weights, activation):
    """The MLP as an ONNX model: MatMul + Add (+ activation) per layer.

    Parameters
    ----------
    onnx : the onnx module.
    weights : [(W (in, out), b (out,)), ...] float32, one pair per Dense layer.
    activation : "relu" or "tanh", after every layer but the last.

    Returns
    -------
    bytes: the serialized model (opset 17, IR 8), input ``x`` with a free batch dimension.
    """
    from onnx import TensorProto, helper, numpy_helper
    nodes, inits, cur = [], [], "x"
    for i, (W, b) in enumerate(weights):
        inits += [numpy_helper.from_array(W, f"W{i}"), numpy_helper.from_array(b, f"b{i}")]
        nodes.append(helper.make_node("MatMul", [cur, f"W{i}"], [f"mm{i}"]))
        nodes.append(helper.make_node("Add", [f"mm{i}", f"b{i}"], [f"z{i}"]))
        cur = f"z{i}"
        if i < len(weights) - 1:
            nodes.append(helper.make_node(_ACTIVATIONS[activation][1], [cur], [f"h{i}"]))
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


def ort_session(ort, model_bytes, n_threads):
    """An onnxruntime session on the CPU.

    Parameters
    ----------
    ort : the onnxruntime module.
    model_bytes : a serialized ONNX model (:func:`onnx_bytes`).
    n_threads : intra-op threads (inter-op: 1, sequential execution).

    Returns
    -------
    onnxruntime.InferenceSession with every graph optimization enabled.
    """
    so = ort.SessionOptions()
    so.intra_op_num_threads = n_threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(model_bytes, so, providers=["CPUExecutionProvider"])


def runners(model, x, n_threads, *, torch=None, tmodel=None, sess=None):
    """The implementations as zero-argument callables.

    Parameters
    ----------
    model : the cgrad model.
    x : float32 C-order input rows.
    n_threads : cgrad's ``n_threads`` (torch's and the session's are set elsewhere).
    torch, tmodel : the torch module and network (:func:`torch_model`), or None.
    sess : an onnxruntime session (:func:`ort_session`), or None.

    Returns
    -------
    {name: callable}: the cgrad implementations, then "torch" (in ``inference_mode``)
    and "onnxruntime" where given.
    """
    fns = {"cgrad decision_function": lambda: model.decision_function(x, n_threads=n_threads),
           "cgrad predict": lambda: model.predict(x, n_threads=n_threads)}
    if tmodel is not None:
        xt = torch.from_numpy(x)

        def run_torch():
            with torch.inference_mode():
                return tmodel(xt)
        fns["torch"] = run_torch
    if sess is not None:
        fns["onnxruntime"] = lambda: sess.run(None, {"x": x})[0]
    return fns


@contextlib.contextmanager
def torch_threads(torch, n):
    """Run the block with ``torch.set_num_threads(n)``, restoring the count after.

    Parameters
    ----------
    torch : the torch module, or None (then nothing changes).
    n : threads.

    Yields
    ------
    None
    """
    if torch is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def median_seconds(fns, reps, min_time=MIN_TIME, settle=0.0):
    """Median seconds per call of every callable, interleaved.

    Parameters
    ----------
    fns : {name: zero-argument callable}.
    reps : samples per callable.
    min_time : seconds each sample lasts about (it repeats the call that often).
    settle : seconds of pause before each sample, followed by one untimed call.  With
        several threads, the thread pool of the callable timed before (OpenMP, OpenBLAS,
        torch) keeps spinning for a while after its call and takes the cores the next one
        needs; the pause lets it sleep, and the untimed call wakes the next one's own.

    Returns
    -------
    {name: median seconds of one call}.
    """
    inner = {}
    for name, fn in fns.items():
        fn()
        t0 = time.perf_counter()
        fn()
        inner[name] = max(1, int(min_time / max(time.perf_counter() - t0, 1e-7)))
    samples = {name: [] for name in fns}
    for _ in range(reps):
        for name, fn in fns.items():
            if settle > 0:
                time.sleep(settle)
                fn()                  # wakes its own pool, untimed
            t0 = time.perf_counter()
            for _ in range(inner[name]):
                fn()
            samples[name].append((time.perf_counter() - t0) / inner[name])
    return {name: float(np.median(v)) for name, v in samples.items()}


def _disagreeing(fns, ref):
    """{peer: (max |output - ref|, agrees)} of the non-cgrad callables."""
    out = {}
    for name, fn in fns.items():
        if name in CGRAD_IMPLS:
            continue
        y = fn()
        y = y.numpy() if hasattr(y, "numpy") else np.asarray(y)
        if y.shape != ref.shape:
            out[name] = (float("inf"), False)
            continue
        diff = float(np.max(np.abs(y - ref)))
        out[name] = (diff, diff <= 1e-4 * (1.0 + float(np.max(np.abs(ref)))))
    return out


def _peer_objects(w, peers, weights):
    """(torch module, torch model, ONNX bytes) of the installed peers (None elsewhere)."""
    torch = peers.get("torch", {}).get("torch")
    tmodel = torch_model(torch, weights, w["activation"]) if torch else None
    onnx = peers.get("onnxruntime", {}).get("onnx")
    return torch, tmodel, onnx_bytes(onnx, weights, w["activation"]) if onnx else None


def _measure_cell(fns, *, x, model, reps, min_time, base):
    """The rows of one (workload, batch, threads): outputs checked, then timed."""
    ref = model.decision_function(x, n_threads=1)
    rows, timed, checks = [], dict(fns), _disagreeing(fns, ref)
    for name, (diff, ok) in checks.items():
        if not ok:
            del timed[name]
            rows.append(dict(base, impl=name, status="error", max_abs_diff=diff,
                             error=f"outputs differ from cgrad's by up to {diff:.3g}"))
    settle = MULTI_THREAD_SETTLE if base["threads"] > 1 else 0.0
    for name, s in median_seconds(timed, reps, min_time, settle=settle).items():
        rows.append(dict(base, impl=name, status="ok", latency_s=s, rows_per_s=base["batch"] / s,
                         max_abs_diff=checks[name][0] if name in checks else 0.0))
    return rows


def _workload_rows(w, X, *, threads, batches, reps, min_time, peers, ncpu, seed):
    """The rows of one workload: every (batch, threads) of every installed implementation."""
    model = initial_model(w, seed)
    weights = layer_params(model.get_weights(), len(w["sizes"]) - 1)
    torch, tmodel, ob = _peer_objects(w, peers, weights)
    rows = []
    for n in threads:
        sess = ort_session(peers["onnxruntime"]["onnxruntime"], ob, n) if ob and n <= ncpu else None
        for batch in batches:
            base = dict(workload=w["key"], workload_name=w["name"], sizes=w["sizes"],
                        batch=batch, threads=n)
            if n > ncpu:
                rows += [dict(base, impl=i, status="skipped", reason=f"only {ncpu} CPUs available")
                         for i in (*CGRAD_IMPLS, *peers)]
                continue
            x = np.ascontiguousarray(X[:batch])
            fns = runners(model, x, n, torch=torch, tmodel=tmodel, sess=sess)
            with torch_threads(torch, n):
                rows += _measure_cell(fns, x=x, model=model, min_time=min_time, base=base,
                                      reps=reps if batch < 1000 else max(3, reps // 3))
    return rows


def inference_rows(wls, *, threads, batches=BATCHES, quick=False, reps=None, ncpu,
                   data_dir=None, download=False, seed=0):
    """Measure inference of every plain-MLP workload.

    Parameters
    ----------
    wls : workload dicts; those with extra layers (BatchNorm1d, Dropout) are skipped.
    threads : thread counts.
    batches : rows per call.
    quick : fewer and shorter samples (a smoke run).
    reps : timed samples per row (default 15, --quick 3; a third, at least 3, at
        batches of 1000 rows and more).
    ncpu : CPUs available (larger thread counts are skipped).
    data_dir, download, seed : the data (see :func:`load_rows`) and weights' seed.

    Returns
    -------
    (rows, notes) : one row per (workload, batch, threads, implementation) with
    ``status`` ("ok": ``latency_s``, ``rows_per_s``, ``max_abs_diff``; "skipped" /
    "error": ``reason`` / ``error``) and the cgrad decision_function rows'
    ``ratio_to_best_peer``; the notes of the run (data, skipped peers, method).
    """
    peers, missing = available_peers()
    default_reps, min_time = (QUICK_REPS, QUICK_MIN_TIME) if quick else (REPS, MIN_TIME)
    reps = reps or default_reps
    notes = [f"inference: latency = median over {reps} samples ({max(3, reps // 3)} at batch "
             ">= 1000) of repeated calls, the implementations interleaved in every sample, "
             "in the bench process (not pinned); throughput = batch / latency; peers' outputs "
             "checked against cgrad's decision_function first; torch in inference_mode"]
    notes += [f"inference: skipped {p}: {why}" for p, why in missing.items()]
    rows = []
    for w in wls:
        if extra_layers(w):
            notes.append(f"inference: skipped {w['key']}: " + " / ".join(extra_layers(w))
                         + " layers (the inference table covers plain MLPs)")
            continue
        X, note = load_rows(w, max(batches), data_dir=data_dir, download=download, seed=seed)
        notes += [f"inference: {note}"] if note else []
        rows += _workload_rows(w, X, threads=threads, batches=batches, reps=reps,
                               min_time=min_time, peers=peers, ncpu=ncpu, seed=seed)
        rows += [dict(workload=w["key"], workload_name=w["name"], sizes=w["sizes"], batch=b,
                      threads=n, impl=p, status="skipped", reason=why)
                 for p, why in missing.items() for n in threads for b in batches]
    _add_best_ratio(rows)
    return rows, notes


def _add_best_ratio(rows):
    """``ratio_to_best_peer`` of the cgrad rows: their latency over the fastest peer's of
    the same (workload, batch, threads) (None without a measured peer; < 1: cgrad faster)."""
    best = {}
    for r in rows:
        if r["status"] == "ok" and r["impl"] not in CGRAD_IMPLS:
            key = (r["workload"], r["batch"], r["threads"])
            best[key] = min(best.get(key, float("inf")), r["latency_s"])
    for r in rows:
        if r["impl"] in CGRAD_IMPLS and r["status"] == "ok":
            b = best.get((r["workload"], r["batch"], r["threads"]))
            r["ratio_to_best_peer"] = r["latency_s"] / b if b else None
