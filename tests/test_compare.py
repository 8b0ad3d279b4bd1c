"""The peer comparison (cgrad.bench: ``cgrad bench``) and the peak probe (cgrad.bench.peak).

Fast (a few seconds) and needs only NumPy: torch/jax/sklearn cells are forced to the
"not installed" path so the test does not depend on (or spend time in) the peers."""
import importlib.util
import json
import math
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from cgrad import bench
from cgrad.bench import cli, inference, peak, peers, report, workloads
from cgrad.bench.peers.base import metrics

REPO = Path(__file__).resolve().parents[1]


def _init(sizes, seed=0, batch_norm=False):
    """The shared initial weights as the runner makes them (cgrad.MLP's, float32)."""
    return bench.initial_weights(dict(sizes=list(sizes), activation="tanh", task="regression",
                                      batch_norm=batch_norm), seed)


def _no_peers(monkeypatch):
    for impl in ("torch", "jax-step", "jax-scan", "sklearn"):
        monkeypatch.setitem(peers.REQUIRES, impl, ("cgrad_no_such_package_xyz",))


def test_quick_run_writes_table_and_json(tmp_path, monkeypatch):
    _no_peers(monkeypatch)
    out = tmp_path / "res"
    rc = bench.main(["--quick", "--workloads", "W2", "--impls", "numpy,torch,jax-scan,sklearn",
                       "--threads", "1", "--peak", "50", "--epochs-accuracy", "3",
                       "--out", str(out)])
    assert rc == 0
    doc = json.loads((out / "results.json").read_text())
    assert doc["meta"]["peak_gflops"] == {"1": 50.0}
    rows = {r["impl"]: r for r in doc["results"]}
    assert set(rows) == {"numpy", "torch", "jax-scan", "sklearn"}
    for impl in ("torch", "jax-scan", "sklearn"):
        assert rows[impl]["status"] == "skipped"
        assert "not installed" in rows[impl]["reason"]
    r = rows["numpy"]
    assert r["status"] == "ok", r.get("error")
    assert r["workload"] == "W2" and r["threads"] == 1 and r["optimizer"] == "sgd"
    assert r["n_train"] == workloads.QUICK_TRAIN and r["epochs_trained"] == 3  # 1 warm-up + 1 timed + 1 more
    assert len(r["times"]) == 1 and all(math.isfinite(t) and t > 0 for t in r["times"])
    assert r["min"] <= r["median"] <= r["max"]
    assert r["samples_per_s"] == pytest.approx(workloads.QUICK_TRAIN / r["median"])
    assert r["gflops"] == pytest.approx(bench.epoch_flops([2, 64, 64, 1], workloads.QUICK_TRAIN)
                                        / r["median"] / 1e9)
    assert r["peak_fraction"] == pytest.approx(r["gflops"] / 50.0)
    assert r["ratio_to_cgrad"] is None  # no cgrad cell in this run
    assert math.isfinite(r["test"]["loss"]) and 0 < r["test"]["loss"] < 1.0
    md = (out / "results.md").read_text()
    assert "| workload | opt | impl | thr | s/epoch med |" in md
    assert "| W2 tiny | sgd | numpy | 1 |" in md
    assert "| W2 tiny | sgd | torch | 1 | skipped: cgrad_no_such_package_xyz not installed |" in md
    assert any("OPENBLAS_CORETYPE" in n for n in doc["meta"]["notes"])


def test_epoch_flops():
    # W1: 784*256 + 256*128 + 128*64 + 64*10 = 242304 weights, 6 flops each per sample.
    # W1 63.1, W2 2.55 GFLOP per epoch (the counts): no dX for the first layer
    assert bench.epoch_flops([784, 256, 128, 64, 10], 60000) == (6 * 242304 - 2 * 784 * 256) * 60000
    assert round(bench.epoch_flops([784, 256, 128, 64, 10], 60000) / 1e9, 1) == 63.1
    assert bench.epoch_flops([2, 64, 64, 1], 100000) == (6 * (128 + 4096 + 64) - 2 * 128) * 100000
    assert bench.epoch_flops([3, 1], 1) == 12


def _row(impl, status="ok", **kw):
    r = dict(workload="W1", workload_name="mnist", optimizer="adam", impl=impl, threads=2,
             status=status)
    r.update(kw)
    return r


def test_format_table_keeps_three_digits_of_millisecond_epochs():
    row = _row("cgrad", median=0.009123, min=0.0051, max=0.01234, samples_per_s=4.4e5,
               gflops=36.0, peak_fraction=0.3, ratio_to_cgrad=1.0, epochs_trained=150,
               test={"loss": 1.0, "accuracy": 0.66})
    line = bench.format_table([row]).splitlines()[2]
    assert "| 0.00912 | 0.00510 | 0.0123 |" in line


def test_format_table_hand_made():
    rows = [
        _row("cgrad", median=1.5, min=1.25, max=2.0, samples_per_s=40000.0, gflops=58.155,
             peak_fraction=0.5, ratio_to_cgrad=1.0, epochs_trained=4, test={"loss": 0.1, "accuracy": 0.98}),
        _row("torch", median=3.0, min=2.5, max=3.5, samples_per_s=20000.0, gflops=29.0,
             peak_fraction=None, ratio_to_cgrad=2.0, epochs_trained=4, test={"loss": 0.0123}),
        _row("jax-scan", status="skipped", reason="jax not installed"),
        _row("sklearn", status="error", error="ValueError: boom"),
    ]
    lines = bench.format_table(rows).splitlines()
    assert len(lines) == 2 + len(rows)
    ncol = lines[0].count("|")
    assert all(line.count("|") == ncol for line in lines)
    assert lines[2] == ("| W1 mnist | adam | cgrad | 2 | 1.500 | 1.250 | 2.000 | 40,000 | 58.16 "
                        "| 50.0% | 1.00 | 4 | acc 0.9800 |")
    assert lines[3] == ("| W1 mnist | adam | torch | 2 | 3.000 | 2.500 | 3.500 | 20,000 | 29.00 "
                        "| n/a | 2.00 | 4 | mse 0.0123 |")
    assert "skipped: jax not installed" in lines[4]
    assert "error: ValueError: boom" in lines[5]


def test_numpy_loop_gradients_match_finite_differences():
    rng = np.random.default_rng(1)
    for act, task in (("tanh", "regression"), ("relu", "classification")):
        sizes = [3, 5, 4] if task == "regression" else [3, 6, 4]
        w = [x.astype(np.float64) for x in _init(sizes, seed=2)]
        w[1] += 0.1  # nonzero biases
        m = peers.NumpyMLP(w, act, task, "sgd", 0.1, 0.9, dtype=np.float64)
        X = rng.standard_normal((7, 3))
        y = rng.standard_normal((7, 4)) if task == "regression" else rng.integers(0, 4, 7)
        grads = m.gradients(X, y)
        for p, g in zip(m.p, grads):
            num = np.zeros_like(p)
            for i in np.ndindex(p.shape):
                old = p[i]
                p[i] = old + 1e-6
                lp = metrics(m.forward(X)[-1], y, task)["loss"]
                p[i] = old - 1e-6
                lm = metrics(m.forward(X)[-1], y, task)["loss"]
                p[i] = old
                num[i] = (lp - lm) / 2e-6
            np.testing.assert_allclose(g, num, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_numpy_loop_learns(opt):
    X, y = bench.synthetic_regression(2000, seed=3)
    m = peers.NumpyMLP(_init([2, 32, 1]), "tanh", "regression", opt,
                         0.05 if opt == "sgd" else 1e-2, 0.9)
    before = m.evaluate(X, y)["loss"]
    for e in range(5):
        for idx in np.array_split(np.random.default_rng(e).permutation(2000), 2000 // 32):
            m.step(X[idx], y[idx])
    assert m.evaluate(X, y)["loss"] < 0.5 * before


def test_synthetic_and_init_are_seeded():
    a, b = bench.synthetic_regression(100, seed=5), bench.synthetic_regression(100, seed=5)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert a[0].dtype == np.float32 and a[1].shape == (100, 1)
    assert np.abs(a[0]).max() <= 1.0
    w, w2 = _init([784, 256, 10], seed=3), _init([784, 256, 10], seed=3)
    assert [x.shape for x in w] == [(784, 256), (256,), (256, 10), (10,)]
    assert all(x.dtype == np.float32 and np.array_equal(x, y) for x, y in zip(w, w2))


def test_bad_arguments():
    with pytest.raises(SystemExit, match="comma-separated integers"):
        bench.main(["--threads", "1,two"])
    with pytest.raises(SystemExit):
        bench.main(["--impls", "numpy,nosuch"])
    with pytest.raises(SystemExit):
        bench.main(["--workloads", "W9"])
    with pytest.raises(SystemExit):
        bench.main(["--sizes", "784,32,7"])


def test_peak_kernel_and_ftz(tmp_path):
    lib_path = peak.build_helper(tmp_path)
    if lib_path is None:
        pytest.skip("no C compiler or not x86")
    lib = peak.load_helper(lib_path)
    g = peak.measure_peak(1, seconds=0.01, trials=2, lib=lib)
    assert math.isfinite(g) and g > 0.1
    seen = {}

    def in_thread():  # MXCSR is per thread: change it only in a throw-away thread
        before = peak.get_mxcsr(lib)
        seen["on"] = peak.set_ftz_daz(True, lib=lib)
        child = threading.Thread(target=lambda: seen.__setitem__("child", peak.get_mxcsr(lib)))
        child.start()
        child.join()
        seen["off"] = peak.set_ftz_daz(False, lib=lib)
        lib.set_mxcsr(before)

    t = threading.Thread(target=in_thread)
    t.start()
    t.join()
    bits = peak.MXCSR_FTZ | peak.MXCSR_DAZ
    assert seen["on"] & bits == bits
    assert seen["child"] & bits == bits  # inherited by threads started afterwards
    assert seen["off"] & bits == 0


# ------------------------------------------------------------- lockstep interleaving

def test_interleaved_and_sequential_runs_give_the_same_rows(tmp_path, monkeypatch):
    _no_peers(monkeypatch)
    docs = {}
    for mode in ("interleaved", "sequential"):
        out = tmp_path / mode
        argv = ["--quick", "--workloads", "W2", "--impls", "numpy,numpy-noftz,cgrad", "--threads", "1",
                "--peak", "50", "--repeats", "2", "--out", str(out)]
        assert bench.main(argv + (["--sequential"] if mode == "sequential" else [])) == 0
        docs[mode] = json.loads((out / "results.json").read_text())
        assert "| W2 tiny | sgd | cgrad | 1 |" in (out / "results.md").read_text()
    rows = {m: {r["impl"]: r for r in d["results"]} for m, d in docs.items()}
    for impl in ("numpy", "numpy-noftz", "cgrad"):
        a, b = rows["interleaved"][impl], rows["sequential"][impl]
        assert a["status"] == "ok", a.get("error")
        assert b["status"] == "ok", b.get("error")
        assert set(a) == set(b)
        assert len(a["times"]) == 2 and all(math.isfinite(t) and t > 0 for t in a["times"])
        assert a["min"] <= a["median"] <= a["max"] and a["epochs_trained"] == 3
        assert a["ratio_to_cgrad"] == pytest.approx(a["median"] / rows["interleaved"]["cgrad"]["median"])
        # the same training either way: interleaving only changes when each epoch runs
        assert a["test"] == b["test"]
    notes = {m: " ".join(d["meta"]["notes"]) for m, d in docs.items()}
    assert "ran interleaved" in notes["interleaved"] and "rounds: W2 2" in notes["interleaved"]
    assert "--sequential" in notes["sequential"] and "interleaved" not in notes["sequential"]


def test_round_order_rotates():
    assert bench.round_order(3, 0) == [0, 1, 2]
    assert bench.round_order(3, 1) == [1, 2, 0]
    assert bench.round_order(3, 2) == [2, 0, 1]
    assert bench.round_order(3, 4) == [1, 2, 0]
    assert bench.round_order(1, 5) == [0] and bench.round_order(0, 2) == []
    for n in (2, 5, 7):
        rounds = [bench.round_order(n, r) for r in range(n)]
        assert all(sorted(o) == list(range(n)) for o in rounds)  # everyone once per round
        for pos in range(n):  # over n rounds, everyone once in every position
            assert sorted(o[pos] for o in rounds) == list(range(n))


def test_lockstep_schedule():
    assert bench.lockstep_schedule(2, 3) == [
        ("warmup", 0), ("warmup", 1),
        ("epoch", 0), ("epoch", 1), ("epoch", 1), ("epoch", 0), ("epoch", 0), ("epoch", 1),
        ("final", 0), ("final", 1)]
    plan = bench.lockstep_schedule(4, 5)
    assert [i for c, i in plan if c == "epoch"].count(3) == 5
    assert bench.lockstep_schedule(3, 0) == [("warmup", i) for i in range(3)] + [("final", i) for i in range(3)]


def _cell(tmp_path, impl, key="T", data_id="s", sizes=(2, 8, 1), task="regression", repeats=3):
    w = dict(key=key, name=key.lower(), sizes=list(sizes), activation="tanh", task=task, batch=32,
             data_id=data_id)
    return dict(workload=w, optimizer="sgd", lr=0.05, momentum=0.9, impl=impl, threads=1,
                repeats=repeats, epochs_total=0, seed=0, workdir=str(tmp_path),
                root=cli._PACKAGE_ROOT, peak_path=peak.__file__, helper_lib=None, ftz=False, cpus=None)


def test_failing_workers_become_error_rows_others_finish(tmp_path):
    X, y = bench.synthetic_regression(1024 + 256, seed=0)
    np.savez(tmp_path / "data_s.npz", Xtr=X[:1024], ytr=y[:1024], Xte=X[1024:], yte=y[1024:])
    np.savez(tmp_path / "init_T.npz", *_init([2, 8, 1]))
    labels = np.full(1024, 7)  # out of range for 3 classes: the warm-up epoch raises
    np.savez(tmp_path / "data_badlabels.npz", Xtr=X[:1024], ytr=labels, Xte=X[1024:], yte=labels[:256])
    np.savez(tmp_path / "init_C.npz", *_init([2, 8, 3]))
    cells = [_cell(tmp_path, "numpy"),
             _cell(tmp_path, "numpy-noftz", data_id="nosuch"),  # setup fails: no data file
             _cell(tmp_path, "cgrad"),
             _cell(tmp_path, "numpy", key="C", data_id="badlabels", sizes=(2, 8, 3),
                   task="classification")]
    trace = []
    res = bench.run_group(cells, timeout=120, trace=trace)
    assert res[1]["status"] == "error" and "FileNotFoundError" in res[1]["error"]
    assert res[3]["status"] == "error" and "IndexError" in res[3]["error"]
    for r in (res[0], res[2]):
        assert r["status"] == "ok", r.get("error")
        assert len(r["times"]) == 3 and r["epochs_trained"] == 4 and r["wall_seconds"] > 0
        assert math.isfinite(r["test"]["loss"])
    # the survivors followed the schedule (failed workers' turns skipped) ...
    assert [(c, i) for c, i, _ in trace] == [(c, i) for c, i in bench.lockstep_schedule(4, 3)
                                             if i in (0, 2)]
    # ... and their timed epochs never overlapped: only one computes at a time
    spans = sorted(tuple(map(float, rep.split()[2:])) for c, _, rep in trace if c == "epoch")
    assert len(spans) == 6 and all(a1 <= b0 for (_, a1), (b0, _) in zip(spans, spans[1:]))
    times = {i: [float(rep.split()[1]) for c, j, rep in trace if c == "epoch" and j == i] for i in (0, 2)}
    assert times[0] == res[0]["times"] and times[2] == res[2]["times"]


def test_worker_timeout_is_killed(tmp_path):
    res = bench.run_group([_cell(tmp_path, "numpy")], timeout=0.05)
    assert res[0]["status"] == "error"
    assert "timed out after 0.05 s in setup" in res[0]["error"]
    assert "exit code -9" in res[0]["error"]  # killed, not left running


def test_settle_pauses_before_every_epoch(tmp_path):
    """--settle: a pause before each warm-up and timed epoch, so no epoch starts while the
    previous worker's thread pools still spin; the gaps between epochs show it."""
    X, y = bench.synthetic_regression(512 + 128, seed=0)
    np.savez(tmp_path / "data_s.npz", Xtr=X[:512], ytr=y[:512], Xte=X[512:], yte=y[512:])
    np.savez(tmp_path / "init_T.npz", *_init([2, 8, 1]))
    cells = [_cell(tmp_path, "numpy", repeats=2), _cell(tmp_path, "numpy-noftz", repeats=2)]
    trace = []
    res = bench.run_group(cells, timeout=120, trace=trace, settle=0.3)
    assert all(r["status"] == "ok" for r in res)
    spans = sorted(tuple(map(float, rep.split()[2:])) for c, _, rep in trace if c == "epoch")
    assert len(spans) == 4
    assert all(b0 - a1 >= 0.3 for (_, a1), (b0, _) in zip(spans, spans[1:]))


# ------------------------------------------------ W1bn: BatchNorm1d + Dropout workload

def test_w1bn_quick_run(tmp_path, monkeypatch):
    """W1bn (784-256-128-64-10, Linear -> BatchNorm1d -> ReLU -> Dropout(0.2)) on a quick
    slice of MNIST: cgrad and cgrad-dense train from the same initial weights (cgrad's
    BN layout: W, b, gamma, beta per hidden layer); the NumPy loop, which has no BN,
    is skipped with the reason; the workload key is case-insensitive."""
    from conftest import require_mnist
    data = require_mnist()
    _no_peers(monkeypatch)
    out = tmp_path / "bn"
    rc = bench.main(["--quick", "--workloads", "w1bn", "--impls", "cgrad,cgrad-dense,numpy,torch",
                       "--threads", "1", "--peak", "50", "--settle", "0", "--data-dir", str(data),
                       "--out", str(out)])
    assert rc == 0
    doc = json.loads((out / "results.json").read_text())
    rows = {r["impl"]: r for r in doc["results"]}
    assert rows["numpy"]["status"] == "skipped"
    assert rows["numpy"]["reason"] == "the numpy runner has no BatchNorm1d / Dropout(0.2) layers"
    assert "not installed" in rows["torch"]["reason"]
    for impl in ("cgrad", "cgrad-dense"):
        r = rows[impl]
        assert r["status"] == "ok", r.get("error")
        assert r["workload"] == "W1bn" and r["optimizer"] == "adam" and r["epochs_trained"] == 2
        assert r["init"] == "cgrad.MLP(seed)"
        assert 0.5 < r["test"]["accuracy"] <= 1.0   # 2 epochs on 4096 images, scored in eval mode
    # sparse first layer or not: the same bits (dropout masks keyed by seed and step)
    assert rows["cgrad"]["test"] == rows["cgrad-dense"]["test"]
    assert "| W1bn mnist-bn | adam | cgrad | 1 |" in (out / "results.md").read_text()


def test_batch_norm_init_layout():
    sizes = [5, 4, 3, 2]
    plain, bn = _init(sizes, seed=1), _init(sizes, seed=1, batch_norm=True)
    assert [x.shape for x in bn] == [(5, 4), (4,), (4,), (4,), (4, 3), (3,), (3,), (3,), (3, 2), (2,)]
    np.testing.assert_array_equal(bn[2], 1.0)
    np.testing.assert_array_equal(bn[3], 0.0)
    for a, b in zip(plain[::2], [bn[0], bn[4], bn[8]]):  # the same W draws
        np.testing.assert_array_equal(a, b)
    layers = bench.layer_params(bn, 3, batch_norm=True)
    assert [len(p) for p in layers] == [4, 4, 2] and layers[1][0] is bn[4]
    assert [len(p) for p in bench.layer_params(plain, 3)] == [2, 2, 2]
    with pytest.raises(ValueError, match="expected 10"):
        bench.layer_params(bn[:-1], 3, batch_norm=True)


@pytest.mark.parametrize("impl", ["torch", "jax-scan", "jax-step"])
def test_peer_batch_norm_matches_cgrad(tmp_path, impl):
    """Without dropout, a BatchNorm1d network trained by the torch / JAX runners from the
    same weights on the same batches ends where cgrad's does: batch statistics in
    training, the running statistics' update, and eval mode all agree.  SGD, not Adam:
    the Linear bias before a BatchNorm1d has a zero gradient up to rounding, which Adam
    scales up to steps of size lr, different bits in every library (the eval loss then
    differs by about 1% after a few epochs; SGD leaves that bias alone)."""
    pytest.importorskip("cgrad")
    pytest.importorskip("torch" if impl == "torch" else "jax")
    X, y = bench.synthetic_regression(1024 + 256, n_in=3, seed=4)
    np.savez(tmp_path / "data_s.npz", Xtr=X[:1024], ytr=y[:1024], Xte=X[1024:], yte=y[1024:])
    sizes = (3, 16, 8, 1)
    w = dict(key="custom", name="bn", sizes=list(sizes), activation="tanh", task="regression",
             batch=32, data_id="s", batch_norm=True)
    import cgrad
    m = cgrad.MLP(list(sizes), activation="tanh", output="identity", seed=0, batch_norm=True)
    init = m.get_weights()
    init[2] += 0.5     # gamma and beta away from their defaults
    init[3] -= 0.25
    np.savez(tmp_path / "init_custom.npz", *init)
    res = {}
    for name in ("cgrad", impl):
        cell = dict(_cell(tmp_path, name, repeats=1), workload=w)   # SGD 0.05 + momentum 0.9
        cell["epochs_total"] = 3
        try:
            res[name] = bench.run_cell(cell)
        finally:            # the torch runner flushes denormals process-wide: not for later tests
            if name == "torch":
                import torch
                torch.set_flush_denormal(False)
    assert res[impl]["test"]["loss"] == pytest.approx(res["cgrad"]["test"]["loss"], rel=1e-5)


def test_group_by_threads_interleaves_across_workloads(tmp_path, monkeypatch):
    """--group-by threads: the cells of W2 and of a custom workload with another repeat
    count share one group; each keeps its own repeats and its own ratio to cgrad."""
    _no_peers(monkeypatch)
    out = tmp_path / "g"
    assert bench.main(["--quick", "--workloads", "W2", "--sizes", "2,16,1", "--batch", "32",
                         "--optimizer", "sgd", "--impls", "numpy,cgrad", "--threads", "1",
                         "--peak", "50", "--settle", "0", "--group-by", "threads",
                         "--out", str(out)]) == 0
    doc = json.loads((out / "results.json").read_text())
    assert len(doc["results"]) == 4 and all(r["status"] == "ok" for r in doc["results"])
    for r in doc["results"]:
        c = next(x for x in doc["results"] if x["impl"] == "cgrad" and x["workload"] == r["workload"])
        assert r["ratio_to_cgrad"] == pytest.approx(r["median"] / c["median"])
    assert any("each threads group ran interleaved" in n for n in doc["meta"]["notes"])
    with pytest.raises(SystemExit):
        bench.main(["--sequential", "--group-by", "threads"])
    with pytest.raises(SystemExit):
        bench.main(["--workloads", "W1", "--layers", "bn"])


def test_lockstep_schedule_per_worker_repeats():
    plan = bench.lockstep_schedule(3, [1, 3, 2])
    assert [i for c, i in plan if c == "epoch"] == [0, 1, 2, 1, 2, 1]
    assert bench.lockstep_schedule(2, [2, 2]) == bench.lockstep_schedule(2, 2)


def test_accuracy_bn_script_smoke(tmp_path):
    """benchmarks/accuracy_bn.py: cgrad's plain and BN+dropout W1 networks, scored in eval
    mode after each epoch (one epoch on 2048 images here)."""
    from conftest import require_mnist
    # by file: the checkout's root is not on sys.path under plain pytest (and must not
    # be: its cgrad/ folder has no compiled modules)
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "accuracy_bn.py"
    spec = importlib.util.spec_from_file_location("accuracy_bn", path)
    accuracy_bn = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(accuracy_bn)
    out = tmp_path / "acc.json"
    acc = accuracy_bn.main(["--epochs", "1", "--impls", "cgrad", "--samples", "2048",
                            "--data-dir", str(require_mnist()), "--out", str(out)])
    assert set(acc) == {"cgrad plain", "cgrad bn+dropout"}
    assert all(0.6 < a[0] <= 1.0 for a in acc.values())
    doc = json.loads(out.read_text())
    assert len(doc["results"]["cgrad bn+dropout"][0]["curve"]) == 1
    assert "| cgrad bn+dropout |" in "\n".join(doc["table"])


# ------------------------------------------- the installed command, workloads, reports

def test_bench_command_from_an_empty_folder(tmp_path):
    """What a wheel user runs: ``cgrad bench`` in a folder with no source tree, writing
    the table, the JSON and the PNG (python -m cgrad: the console script's entry)."""
    work, out = tmp_path / "empty", tmp_path / "bench"
    work.mkdir()
    cmd = [sys.executable, "-m", "cgrad", "bench", "--quick", "--workloads", "W2",
           "--impls", "cgrad,numpy", "--out", str(out)]
    r = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert not any(work.iterdir())             # nothing written where it ran
    doc = json.loads((out / "results.json").read_text())
    rows = doc["results"]
    assert {r_["impl"] for r_ in rows} == {"cgrad", "numpy"}
    assert all(r_["status"] == "ok" for r_ in rows), [r_.get("error") for r_ in rows]
    assert all(r_["n_train"] == workloads.QUICK_TRAIN and r_["repeats"] == 1 for r_ in rows)
    assert doc["meta"]["command"].startswith("cgrad bench --quick")
    assert "| W2 tiny | sgd | numpy | 1 |" in (out / "results.md").read_text()
    assert (out / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "saved results.md, results.json, results.png" in r.stdout


def test_w4_mnist1d_quick_run_from_an_empty_folder(tmp_path):
    """W4 (the MNIST-1D paper's 40-100-100-10 MLP, Adam 0.01, batch 100) on the generated
    MNIST-1D set: selected by key or name, every training row (4000 < --quick's limit),
    the workload's own step size, and both implementations learn from the same start."""
    work, out = tmp_path / "empty", tmp_path / "w4"
    work.mkdir()
    cmd = [sys.executable, "-m", "cgrad", "bench", "--quick", "--workloads", "mnist1d",
           "--impls", "cgrad,numpy", "--threads", "1", "--peak", "50", "--settle", "0",
           "--epochs-accuracy", "5", "--out", str(out)]
    r = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert not any(work.iterdir())
    rows = {r_["impl"]: r_ for r_ in json.loads((out / "results.json").read_text())["results"]}
    assert set(rows) == {"cgrad", "numpy"}
    for row in rows.values():
        assert row["status"] == "ok", row.get("error")
        assert (row["workload"], row["sizes"], row["batch"], row["optimizer"], row["lr"]) == (
            "W4", [40, 100, 100, 10], 100, "adam", 0.01)
        assert row["n_train"] == 4000 and row["epochs_trained"] == 5
        assert row["test"]["accuracy"] > 0.3        # 200 steps; chance is 0.1
    assert abs(rows["cgrad"]["test"]["accuracy"] - rows["numpy"]["test"]["accuracy"]) < 0.05
    assert "| W4 mnist1d | adam | cgrad | 1 |" in (out / "results.md").read_text()


def test_w4_takes_its_own_step_size_unless_lr_is_given():
    (w,) = workloads.select_workloads(_args(["--workloads", "W4"]))
    assert workloads.workload_lr(w, "adam") == 0.01
    assert workloads.workload_lr(w, "sgd") == workloads.LR["sgd"]
    assert workloads.workload_lr(workloads.WORKLOADS["W1"], "adam") == workloads.LR["adam"]
    a = _args(["--workloads", "W4", "--lr", "0.003", "--peak", "1"])
    ctx = dict(wd=Path("."), helper=None, skipped={}, ncpu=1, cpus=None)
    rows, _, _ = cli._plan(a, [(w, 4000, 1)], ["numpy"], [1], ctx)
    assert [r_["lr"] for r_ in rows] == [0.003]
    rows, _, _ = cli._plan(_args(["--workloads", "W4"]), [(w, 4000, 1)], ["numpy"], [1], ctx)
    assert [r_["lr"] for r_ in rows] == [0.01]
    # the generated set also feeds a custom network; its sizes are checked against it
    (c,) = workloads.select_workloads(_args(["--sizes", "40,16,10", "--data", "mnist1d"]))
    assert (c["task"], c["data"], workloads.data_id(c)) == ("classification", "mnist1d", "mnist1d")
    with pytest.raises(SystemExit, match="must start with 40 and end with 10"):
        workloads.select_workloads(_args(["--sizes", "41,16,10", "--data", "mnist1d"]))


def test_png_skipped_with_a_note_without_matplotlib(tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "matplotlib" else real(name, *a))
    row = dict(workload="W2", workload_name="tiny", optimizer="sgd", impl="numpy", threads=1,
               status="ok", median=1.0, min=1.0, max=1.0, samples_per_s=1.0, gflops=1.0,
               test={"loss": 0.5})
    meta = dict(command="cgrad bench", date="d", cpu="c", cpus=1, python="3", numpy="2",
                notes=[])
    (tmp_path / "results.png").write_bytes(b"from an earlier run")
    md, written = report.write_reports(tmp_path, [row], meta)
    md = "\n".join(md)
    assert written == ["results.md", "results.json"]
    assert (tmp_path / "results.md").exists() and (tmp_path / "results.json").exists()
    assert not (tmp_path / "results.png").exists()
    assert "results.png skipped: matplotlib is not installed" in md


def _args(argv):
    return cli.parse_args(argv)


def test_workload_selection():
    names = [w["key"] for w in workloads.select_workloads(_args([]))]
    assert names == list(workloads.WORKLOADS)
    sel = workloads.select_workloads(_args(["--workloads", "tiny,w1BN", "--optimizer", "sgd,adam"]))
    assert [w["key"] for w in sel] == ["W2", "W1bn"]
    assert all(w["optimizers"] == ["sgd", "adam"] for w in sel)
    sel[0]["batch"] = 1
    assert workloads.WORKLOADS["W2"]["batch"] == 32            # copies, not the table
    (c,) = workloads.select_workloads(_args(["--sizes", "784,512,10", "--batch", "64"]))
    assert (c["key"], c["data"], c["task"], c["batch"], c["name"]) == (
        "custom", "mnist", "classification", 64, "784-512-10")
    assert not c["batch_norm"] and c["dropout"] == 0.0
    (c,) = workloads.select_workloads(_args(["--sizes", "3,8,2"]))
    assert (c["data"], c["task"]) == ("synthetic", "regression")
    (c,) = workloads.select_workloads(_args(["--sizes", "64,32,10", "--data", "digits",
                                             "--layers", "bn,dropout=0.2"]))
    assert c["batch_norm"] and c["dropout"] == 0.2 and c["name"] == "64-32-10 digits"
    assert workloads.extra_layers(c) == workloads.extra_layers(workloads.WORKLOADS["W1bn"])
    assert workloads.mlp_layer_kw(c) == {"batch_norm": True, "dropout": 0.2}


@pytest.mark.parametrize("argv, message", [
    (["--sizes", "784,32,7"], "must start with 784 and end with 10"),
    (["--sizes", "60,32,10", "--data", "digits"], "must start with 64"),
    (["--sizes", "64,x,10"], "comma-separated integers"),
    (["--sizes", "64"], "at least two"),
    (["--sizes", "2,8,1", "--layers", "bm"], "unknown layer 'bm'"),
    (["--sizes", "2,8,1", "--layers", "dropout=1.5"], "dropout must be in [0, 1)"),
    (["--sizes", "2,8,1", "--layers", "dropout=x"], "needs a number"),
    (["--sizes", "2,8,1", "--data", "nosuch.npz"], "no such file"),
    (["--sizes", "2,8,1", "--data", "digits.txt"], "no such file"),
    (["--workloads", "W2", "--data", "digits"], "custom (--sizes) workload"),
    (["--workloads", "W9"], "unknown workload 'W9'"),
    (["--workloads", "W2", "--optimizer", "lbfgs"], "unknown optimizer"),
])
def test_bad_workload_arguments_name_the_problem(argv, message):
    with pytest.raises(SystemExit) as exc:
        workloads.select_workloads(_args(argv))
    assert message in str(exc.value)


def test_user_files_are_checked_against_sizes(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 5)).astype(np.float32)
    labels = (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 0)
    np.savez(tmp_path / "c.npz", X=X, y=labels)
    np.savetxt(tmp_path / "r.csv", np.column_stack([X, X[:, 0] * 2]), delimiter=",")
    (c,) = workloads.select_workloads(_args(["--sizes", "5,16,3", "--data", str(tmp_path / "c.npz")]))
    assert c["task"] == "classification" and c["name"] == "5-16-3 c.npz"
    Xtr, ytr, Xte, yte = workloads.load_arrays(c, seed=0)
    assert (len(Xtr), len(Xte)) == (160, 40) and Xtr.dtype == np.float32 and ytr.dtype == np.int64
    assert sorted(np.concatenate([ytr, yte]).tolist()) == sorted(labels.tolist())
    (r,) = workloads.select_workloads(_args(["--sizes", "5,8,1", "--data", str(tmp_path / "r.csv")]))
    Xtr, ytr, Xte, yte = workloads.load_arrays(r, seed=0, n_train=50, n_test=7)
    assert r["task"] == "regression" and ytr.shape == (50, 1) and yte.dtype == np.float32
    assert Xte.shape == (7, 5) and Xtr.flags.c_contiguous
    for argv, msg in ((["--sizes", "5,16,4"], "class count 3"), (["--sizes", "4,8,3"], "starts with 4"),
                      (["--sizes", "5,8,2"], "1 target column")):
        path = str(tmp_path / ("r.csv" if "5,8,2" in argv else "c.npz"))
        with pytest.raises(SystemExit, match=msg):
            workloads.select_workloads(_args(argv + ["--data", path]))


def test_custom_digits_network_with_bn_and_dropout(tmp_path, monkeypatch):
    """``--sizes 64,32,10 --data digits --layers bn,dropout=0.2``: cgrad builds it and
    learns; the NumPy loop cannot express it and is skipped with that reason."""
    _no_peers(monkeypatch)
    out = tmp_path / "d"
    assert bench.main(["--sizes", "64,32,10", "--data", "digits", "--layers", "bn,dropout=0.2",
                       "--batch", "32", "--impls", "cgrad,numpy,torch", "--threads", "1",
                       "--peak", "50", "--settle", "0", "--epochs-accuracy", "5",
                       "--out", str(out)]) == 0
    rows = {r["impl"]: r for r in json.loads((out / "results.json").read_text())["results"]}
    assert rows["cgrad"]["status"] == "ok", rows["cgrad"].get("error")
    assert rows["cgrad"]["n_train"] == 1797 - 359 and rows["cgrad"]["test"]["accuracy"] > 0.8
    assert rows["numpy"]["reason"] == "the numpy runner has no BatchNorm1d / Dropout(0.2) layers"
    assert rows["torch"]["reason"] == "cgrad_no_such_package_xyz not installed"


def test_missing_mnist_stops_before_any_cell(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(SystemExit, match="MNIST files .* not found") as exc:
        bench.main(["--quick", "--workloads", "W1", "--impls", "numpy", "--data-dir",
                    str(tmp_path / "nowhere"), "--out", str(out)])
    assert "--data-dir DIR, $CGRAD_DATA or --download" in str(exc.value)
    assert not out.exists()


# ------------------------------------------------------------------ the inference table

def _inf_row(impl, status="ok", batch=32, **kw):
    base = dict(workload="W1", workload_name="mnist", sizes=[784, 10], batch=batch, threads=1,
                impl=impl, status=status)
    return {**base, **kw}


def test_format_inference_table_hand_made():
    rows = [_inf_row("cgrad decision_function", latency_s=80e-6, rows_per_s=400_000.0),
            _inf_row("torch", status="skipped", reason="torch not installed"),
            _inf_row("onnxruntime", latency_s=0.16e-3, rows_per_s=200_000.0),
            _inf_row("cgrad decision_function", batch=10_000, latency_s=0.025,
                     rows_per_s=400_000.0),
            _inf_row("onnxruntime", batch=10_000, status="error",
                     error="outputs differ from cgrad's by up to 0.5")]
    inference._add_best_ratio(rows)
    assert rows[0]["ratio_to_best_peer"] == pytest.approx(0.5)
    assert rows[3]["ratio_to_best_peer"] is None          # no measured peer at batch 10,000
    lines = report.format_inference_table(rows).splitlines()
    assert lines[0] == ("| workload | batch | thr | cgrad decision_function | torch | onnxruntime "
                        "| d_f / best peer |")
    assert lines[2] == ("| W1 mnist | 32 | 1 | 80.0 us, 400,000/s | skipped: torch not installed "
                        "| 160.0 us, 200,000/s | 0.50 |")
    assert lines[3] == ("| W1 mnist | 10,000 | 1 | 25.00 ms, 400,000/s |  | error: outputs "
                        "differ from cgrad's by up to 0.5 | n/a |")


def test_inference_run_with_peers_missing_from_an_empty_folder(tmp_path):
    """``--inference`` after the training comparison, as from a wheel without torch and
    onnxruntime (their imports blocked): the training row, then the inference rows of
    cgrad; the peers skipped with a note."""
    from conftest import run_cgrad_without
    work, out = tmp_path / "empty", tmp_path / "bench"
    work.mkdir()
    r = run_cgrad_without(("torch", "onnxruntime"),
                          ["bench", "--inference", "--quick", "--workloads", "W2", "--impls",
                           "cgrad", "--threads", "1", "--out", str(out)], cwd=work)
    assert r.returncode == 0, r.stderr
    assert not any(work.iterdir())
    doc = json.loads((out / "results.json").read_text())
    assert [(t["impl"], t["status"]) for t in doc["results"]] == [("cgrad", "ok")]
    rows = {(t["impl"], t["batch"]): t for t in doc["inference"]}
    assert {b for _, b in rows} == set(inference.BATCHES)
    for b in inference.BATCHES:
        for impl in inference.CGRAD_IMPLS:
            t = rows[(impl, b)]
            assert t["status"] == "ok" and t["threads"] == 1 and t["workload"] == "W2"
            assert t["rows_per_s"] == pytest.approx(b / t["latency_s"])
        assert rows[("torch", b)]["reason"] == "torch not installed"
        assert rows[("onnxruntime", b)]["reason"] == "onnxruntime not installed"
        assert rows[("cgrad decision_function", b)]["ratio_to_best_peer"] is None
    md = (out / "results.md").read_text()
    assert "| W2 tiny | sgd | cgrad | 1 |" in md            # the training table stays
    assert "## Inference" in md and "| W2 tiny | 10,000 | 1 |" in md
    assert "- inference: skipped torch: torch not installed" in md


def test_inference_only_synthetic_rows_when_mnist_is_absent(tmp_path, monkeypatch):
    """``--inference-only``: no training cell; random MNIST-like rows stand in for the
    missing MNIST files (a note says so); W1bn (BatchNorm1d) is left out with a note."""
    monkeypatch.setitem(inference.PEERS, "torch", ("cgrad_no_such_package_xyz",))
    monkeypatch.setitem(inference.PEERS, "onnxruntime", ("cgrad_no_such_package_xyz",))
    out = tmp_path / "out"
    assert bench.main(["--inference-only", "--quick", "--workloads", "W1,W1bn", "--threads", "1",
                       "--data-dir", str(tmp_path / "nowhere"), "--out", str(out)]) == 0
    doc = json.loads((out / "results.json").read_text())
    assert doc["results"] == [] and not (out / "results.png").exists()
    assert "| workload | opt | impl |" not in (out / "results.md").read_text()
    assert {(r["workload"], r["impl"], r["status"]) for r in doc["inference"]} == {
        ("W1", "cgrad decision_function", "ok"), ("W1", "cgrad predict", "ok"),
        ("W1", "torch", "skipped"), ("W1", "onnxruntime", "skipped")}
    notes = doc["meta"]["notes"]
    assert any("W1: MNIST files not found: random MNIST-like rows" in n for n in notes)
    assert any("skipped W1bn: BatchNorm1d / Dropout(0.2) layers" in n for n in notes)
    X, note = inference.load_rows(workloads.WORKLOADS["W1"], 100, data_dir=tmp_path / "nowhere")
    assert X.shape == (100, 784) and X.dtype == np.float32 and 0.7 < np.mean(X == 0) < 0.9
    assert note is not None


def test_inference_peers_agree_with_cgrad():
    """The torch and ONNX models built from the workload's weights compute cgrad's outputs
    (the check run before timing), for ReLU (W1) and tanh (W2)."""
    peers_, missing = inference.available_peers()
    if missing:
        pytest.skip(", ".join(missing.values()))
    for key in ("W1", "W2"):
        w = workloads.WORKLOADS[key]
        model = workloads.initial_model(w, 0)
        X = np.random.default_rng(1).random((7, w["sizes"][0]), dtype=np.float32)
        weights = workloads.layer_params(model.get_weights(), len(w["sizes"]) - 1)
        torch = peers_["torch"]["torch"]
        ort = peers_["onnxruntime"]
        fns = inference.runners(
            model, X, 1, torch=torch, tmodel=inference.torch_model(torch, weights, w["activation"]),
            sess=inference.ort_session(ort["onnxruntime"], inference.onnx_bytes(
                ort["onnx"], weights, w["activation"]), 1))
        checks = inference._disagreeing(fns, model.decision_function(X))
        assert set(checks) == {"torch", "onnxruntime"}
        assert all(ok and diff < 1e-5 for diff, ok in checks.values()), checks
        assert not inference._disagreeing({"torch": fns["torch"]}, 2 * fns["torch"]().numpy())[
            "torch"][1]
