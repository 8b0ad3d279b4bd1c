"""The peer comparison runner (benchmarks/compare.py) and the peak probe (benchmarks/peak.py).

Fast (a few seconds) and needs only NumPy: torch/jax/sklearn cells are forced to the
"not installed" path so the test does not depend on (or spend time in) the peers."""
import gzip
import json
import math
import struct
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.append(_ROOT)  # appended: an installed cgrad keeps precedence over the tree

from benchmarks import compare, peak  # noqa: E402


def test_quick_run_writes_table_and_json(tmp_path, monkeypatch):
    for impl in ("torch", "jax-step", "jax-scan", "sklearn"):
        monkeypatch.setitem(compare._IMPL_PACKAGE, impl, "cgrad_no_such_package_xyz")
    out = tmp_path / "res"
    rc = compare.main(["--quick", "--workloads", "W2", "--impls", "numpy,torch,jax-scan,sklearn",
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
    assert r["n_train"] == compare.QUICK_TRAIN and r["epochs_trained"] == 3  # 1 warm-up + 1 timed + 1 more
    assert len(r["times"]) == 1 and all(math.isfinite(t) and t > 0 for t in r["times"])
    assert r["min"] <= r["median"] <= r["max"]
    assert r["samples_per_s"] == pytest.approx(compare.QUICK_TRAIN / r["median"])
    assert r["gflops"] == pytest.approx(compare.epoch_flops([2, 64, 64, 1], compare.QUICK_TRAIN)
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
    assert compare.epoch_flops([784, 256, 128, 64, 10], 60000) == (6 * 242304 - 2 * 784 * 256) * 60000
    assert round(compare.epoch_flops([784, 256, 128, 64, 10], 60000) / 1e9, 1) == 63.1
    assert compare.epoch_flops([2, 64, 64, 1], 100000) == (6 * (128 + 4096 + 64) - 2 * 128) * 100000
    assert compare.epoch_flops([3, 1], 1) == 12


def _row(impl, status="ok", **kw):
    r = dict(workload="W1", workload_name="mnist", optimizer="adam", impl=impl, threads=2,
             status=status)
    r.update(kw)
    return r


def test_format_table_hand_made():
    rows = [
        _row("cgrad", median=1.5, min=1.25, max=2.0, samples_per_s=40000.0, gflops=58.155,
             peak_fraction=0.5, ratio_to_cgrad=1.0, epochs_trained=4, test={"loss": 0.1, "accuracy": 0.98}),
        _row("torch", median=3.0, min=2.5, max=3.5, samples_per_s=20000.0, gflops=29.0,
             peak_fraction=None, ratio_to_cgrad=2.0, epochs_trained=4, test={"loss": 0.0123}),
        _row("jax-scan", status="skipped", reason="jax not installed"),
        _row("sklearn", status="error", error="ValueError: boom"),
    ]
    lines = compare.format_table(rows).splitlines()
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
        w = [x.astype(np.float64) for x in compare.glorot_init(sizes, seed=2)]
        w[1] += 0.1  # nonzero biases
        m = compare.NumpyMLP(w, act, task, "sgd", 0.1, 0.9, dtype=np.float64)
        X = rng.standard_normal((7, 3))
        y = rng.standard_normal((7, 4)) if task == "regression" else rng.integers(0, 4, 7)
        grads = m.gradients(X, y)
        for p, g in zip(m.p, grads):
            num = np.zeros_like(p)
            for i in np.ndindex(p.shape):
                old = p[i]
                p[i] = old + 1e-6
                lp = compare._metrics(m.forward(X)[-1], y, task)["loss"]
                p[i] = old - 1e-6
                lm = compare._metrics(m.forward(X)[-1], y, task)["loss"]
                p[i] = old
                num[i] = (lp - lm) / 2e-6
            np.testing.assert_allclose(g, num, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_numpy_loop_learns(opt):
    X, y = compare.synthetic_regression(2000, seed=3)
    m = compare.NumpyMLP(compare.glorot_init([2, 32, 1], seed=0), "tanh", "regression", opt,
                         0.05 if opt == "sgd" else 1e-2, 0.9)
    before = m.evaluate(X, y)["loss"]
    for e in range(5):
        for idx in np.array_split(np.random.default_rng(e).permutation(2000), 2000 // 32):
            m.step(X[idx], y[idx])
    assert m.evaluate(X, y)["loss"] < 0.5 * before


def test_synthetic_and_init_are_seeded():
    a, b = compare.synthetic_regression(100, seed=5), compare.synthetic_regression(100, seed=5)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert a[0].dtype == np.float32 and a[1].shape == (100, 1)
    assert np.abs(a[0]).max() <= 1.0
    w = compare.glorot_init([784, 256, 10])
    assert [x.shape for x in w] == [(784, 256), (256,), (256, 10), (10,)]
    assert np.abs(w[0]).max() <= math.sqrt(6 / (784 + 256)) and not w[1].any()


def test_read_idx_gz(tmp_path):
    data = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    p = tmp_path / "x-idx3-ubyte.gz"
    with gzip.open(p, "wb") as f:
        f.write(struct.pack(">IIII", 0x803, 2, 3, 4) + data.tobytes())
    np.testing.assert_array_equal(compare._read_idx_gz(p), data)
    with gzip.open(p, "wb") as f:
        f.write(struct.pack(">IIII", 0x803, 2, 3, 5) + data.tobytes())
    with pytest.raises(ValueError, match="expected 30"):
        compare._read_idx_gz(p)


def test_bad_arguments():
    with pytest.raises(SystemExit):
        compare.main(["--impls", "numpy,nosuch"])
    with pytest.raises(SystemExit):
        compare.main(["--workloads", "W9"])
    with pytest.raises(SystemExit):
        compare.main(["--sizes", "784,32,7"])


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
