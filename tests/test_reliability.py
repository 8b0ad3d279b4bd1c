"""Reliability of fit: a NaN or inf never reaches the weights (on_nonfinite), and Ctrl-C
stops a compiled loop within a step, keeping a consistent model."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import cgrad


def _diverging(bs=None):
    """A regression whose plain gradient descent overflows: full batch (lr 5) at epoch 4."""
    r = np.random.default_rng(0)
    X = r.standard_normal((64, 5)).astype(np.float32)
    return X, X[:, :1] * 3, dict(optimizer="sgd", lr=5.0 if bs is None else 0.5,
                                 batch_size=bs, verbose=0, shuffle=False)


def _twin(epochs, bs=None):
    X, y, kw = _diverging(bs)
    m = cgrad.MLP([5, 16, 1], output="identity", seed=0)
    m.fit(X, y, epochs=epochs, **kw)
    return m


@pytest.mark.parametrize("clip_value", [None, 1e30])
def test_raise_names_where_and_keeps_the_last_finite_step(clip_value):
    X, y, kw = _diverging()
    m = cgrad.MLP([5, 16, 1], output="identity", seed=0)
    with pytest.raises(FloatingPointError, match=r"gradient of layers\[0\] \(Dense\(16, "
                       r"activation='relu'\)\).* at epoch 4, step 1 of the epoch \(training "
                       r"step 4\); the weights are those of the last finite step"):
        m.fit(X, y, epochs=10, clip_value=clip_value, **kw)
    assert m.optimizer.t == 3 and len(m.history.epoch) == 3
    assert_array_equal(m.flat_params, _twin(3).flat_params)


def test_stop_ends_training_with_the_last_finite_weights():
    X, y, kw = _diverging(bs=8)
    m = cgrad.MLP([5, 16, 1], output="identity", seed=0)
    h = m.fit(X, y, epochs=10, on_nonfinite="stop", **kw)
    assert len(h.epoch) == 1 and "at epoch 1, step 6 of the epoch" in h.stopped
    assert h["stopped"] == [h.stopped] and m.optimizer.t == 5
    assert np.isfinite(h["loss"][0]) and np.isfinite(m.flat_params).all()
    twin = cgrad.MLP([5, 16, 1], output="identity", seed=0)
    twin.fit(X[:40], y[:40], epochs=1, **kw)           # the 5 finished steps
    assert_array_equal(m.flat_params, twin.flat_params)


def test_skip_batch_skips_and_counts_the_bad_steps():
    X, y, kw = _diverging(bs=8)
    m = cgrad.MLP([5, 16, 1], output="identity", seed=0)
    h = m.fit(X, y, epochs=3, on_nonfinite="skip_batch", **kw)
    assert h["skipped_batches"][0] == 3 and len(h.epoch) == 3 and h.stopped is None
    assert m.optimizer.t == 5 + 0 + 0 and np.isfinite(m.flat_params).all()
    with pytest.raises(ValueError, match="on_nonfinite must be one of"):
        m.fit(X, y, epochs=1, on_nonfinite="ignore", **kw)


def _run(code, timeout=120):
    """Run code in a fresh interpreter outside the source tree (whose cgrad/ has no
    compiled core); returns the JSON of its last line."""
    import tempfile
    with tempfile.TemporaryDirectory() as cwd:
        out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd,
                             capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_ctrl_c_during_fit_stops_within_half_a_second_and_fit_continues():
    """SIGINT 1.5 s into a fit whose epochs run as one compiled call each (several
    seconds): KeyboardInterrupt within 0.5 s, finite weights, the optimizer's step count
    that of the finished steps, the History's finished epochs, and fit goes on."""
    res = _run("""
        import json, os, signal, threading, time
        import numpy as np, cgrad
        r = np.random.default_rng(0)
        X = r.random((20000, 784)).astype(np.float32); y = r.integers(0, 10, 20000)
        m = cgrad.MLP([784, 512, 512, 10], seed=0)
        opt = cgrad.optim.Adam(lr=1e-3)
        sent = {}
        def fire():
            time.sleep(1.5); sent["t"] = time.perf_counter(); os.kill(os.getpid(), signal.SIGINT)
        threading.Thread(target=fire, daemon=True).start()
        try:
            m.fit(X, y, optimizer=opt, epochs=50, batch_size=256, verbose=0)
            out = {"interrupted": False}
        except KeyboardInterrupt:
            out = {"interrupted": True, "delay": time.perf_counter() - sent["t"]}
        out.update(t=opt.t, finite=bool(np.isfinite(m.flat_params).all()),
                   epochs=len(m.history.epoch), per_epoch=-(-20000 // 256))
        h = m.fit(X[:512], y[:512], optimizer=opt, epochs=1, batch_size=256, verbose=0)
        out.update(t_after=opt.t, again=len(h.epoch),
                   handler=signal.getsignal(signal.SIGINT) is signal.default_int_handler)
        print(json.dumps(out))
    """)
    assert res["interrupted"] and res["delay"] < 0.5, res
    assert res["finite"] and res["t"] > 0 and res["epochs"] == res["t"] // res["per_epoch"]
    assert res["t_after"] == res["t"] + 2 and res["again"] == 1 and res["handler"]


def test_ctrl_c_during_a_large_predict_stops_between_blocks():
    res = _run("""
        import json, os, signal, threading, time
        import numpy as np, cgrad
        m = cgrad.MLP([20, 2048, 2048, 10], seed=0)
        X = np.random.default_rng(0).random((200000, 20)).astype(np.float32)
        sent = {}
        def fire():
            time.sleep(1.0); sent["t"] = time.perf_counter(); os.kill(os.getpid(), signal.SIGINT)
        threading.Thread(target=fire, daemon=True).start()
        try:
            m.predict(X)
            out = {"interrupted": False}
        except KeyboardInterrupt:
            out = {"interrupted": True, "delay": time.perf_counter() - sent["t"]}
        out["after"] = m.predict(X[:3]).tolist()
        print(json.dumps(out))
    """)
    assert res["interrupted"] and res["delay"] < 0.5 and len(res["after"]) == 3, res


def _train(seed, X, y, out, key):
    m = cgrad.MLP([X.shape[1], 32, 16, 3], batch_norm=True, dropout=0.1, seed=seed)
    m.fit(X, y, epochs=3, batch_size=16, verbose=0, n_threads=2)
    out[key] = m.flat_params.tobytes() + m.flat_buffers.tobytes()


def test_two_models_trained_in_two_threads_give_the_bytes_of_one_after_the_other():
    """The compiled core holds no shared mutable state: fits in two Python threads (GIL
    released, each with its OpenMP team) give the bytes of the same fits run in turn; a
    fit runs while another thread predicts with a third model."""
    import threading
    r = np.random.default_rng(0)
    X, y = r.standard_normal((400, 12)).astype(np.float32), r.integers(0, 3, 400)
    seq, par = {}, {}
    for s in (1, 2):
        _train(s, X, y, seq, s)
    other = cgrad.MLP([12, 64, 3], seed=5)
    want = other.predict_proba(X)
    threads = [threading.Thread(target=_train, args=(s, X, y, par, s)) for s in (1, 2)]
    for t in threads:
        t.start()
    got = [other.predict_proba(X) for _ in range(20)]
    for t in threads:
        t.join()
    assert par == seq
    for g in got:
        assert_array_equal(g, want)


def _rss_kb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")
@pytest.mark.skipif("asan" in os.environ.get("LD_PRELOAD", ""),
                    reason="AddressSanitizer's quarantine holds freed memory by design")
def test_memory_stays_flat_over_500_fit_and_predict_calls():
    r = np.random.default_rng(0)
    X, y = r.standard_normal((64, 8)).astype(np.float32), r.integers(0, 2, 64)
    m = cgrad.MLP([8, 16, 2], batch_norm=True, dropout=0.2, seed=0)
    for _ in range(50):
        m.fit(X, y, epochs=1, batch_size=16, verbose=0)
        m.predict(X)
    before = _rss_kb()
    for _ in range(500):
        m.fit(X, y, epochs=1, batch_size=16, verbose=0)
        m.predict(X)
    assert _rss_kb() - before < 2048, (before, _rss_kb())


_CKPT_TRAIN = """
import sys
import numpy as np, cgrad
r = np.random.default_rng(0)
X = r.standard_normal((400, 12)).astype(np.float32); y = r.integers(0, 3, 400)
m = cgrad.MLP([12, 256, 256, 3], batch_norm=True, dropout=0.2, seed=0)
cb = cgrad.callbacks.ModelCheckpoint(sys.argv[1], save_best_only=False)
m.fit(X, y, optimizer=cgrad.optim.Adam(lr=1e-3), epochs=int(sys.argv[2]), batch_size=32,
      verbose=0, seed=1, callbacks=[cb])
"""


def test_checkpoints_survive_sigkill_and_resume_bitwise(tmp_path):
    """A training process saves a checkpoint every epoch (over one file) and is killed
    with SIGKILL at random moments, some of them during a write.  Every time, the
    checkpoint on disk loads, is finite, and training resumed from it ends with the
    bytes of an uninterrupted run."""
    import random
    import signal
    import time
    script, epochs = tmp_path / "train.py", 100
    script.write_text(_CKPT_TRAIN)
    ref_path = tmp_path / "ref.npz"
    env = dict(os.environ, OMP_NUM_THREADS="1")     # one thread: no barrier waits on a busy box
    subprocess.run([sys.executable, str(script), str(ref_path), str(epochs)], check=True,
                   cwd=tmp_path, timeout=300, env=env)
    want = cgrad.load(ref_path)
    r = np.random.default_rng(0)
    X, y = r.standard_normal((400, 12)).astype(np.float32), r.integers(0, 3, 400)
    rand = random.Random(0)
    resumed = 0
    for trial in range(5):
        ckpt = tmp_path / f"ckpt{trial}.npz"
        proc = subprocess.Popen([sys.executable, str(script), str(ckpt), str(epochs)],
                                cwd=tmp_path, env=env)
        deadline = time.monotonic() + 60
        while not ckpt.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)                 # the first checkpoint is there
        time.sleep(rand.uniform(0.0, 0.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        m, opt = cgrad.load(ckpt, with_optimizer=True)
        assert np.isfinite(m.flat_params).all() and np.isfinite(m.flat_buffers).all()
        assert 1 <= m.saved_epoch <= epochs and opt.t == m.saved_epoch * 13
        m.fit(X, y, optimizer=opt, epochs=epochs, batch_size=32, verbose=0, seed=1,
              initial_epoch=m.saved_epoch)
        assert_array_equal(m.flat_params, want.flat_params)
        assert_array_equal(m.flat_buffers, want.flat_buffers)
        resumed += m.saved_epoch < epochs
    assert resumed >= 3                        # most kills landed mid-training


def test_truncated_or_corrupted_files_raise_a_clear_value_error(tmp_path):
    m = cgrad.MLP([3, 40, 2], batch_norm=True, seed=0)
    raw = open(m.save(tmp_path / "m.npz"), "rb").read()
    flipped = bytearray(raw)
    flipped[200:260] = bytes(b ^ 0xFF for b in flipped[200:260])
    for name, data in (("head", raw[:10]), ("half", raw[:len(raw) // 2]),
                       ("tail", raw[:-30]), ("flipped", bytes(flipped))):
        (tmp_path / f"{name}.npz").write_bytes(data)
        with pytest.raises(ValueError, match="not a readable cgrad .npz file|corrupt"):
            cgrad.load(tmp_path / f"{name}.npz")


def test_ctrl_c_during_a_long_step_api_forward_stops_between_layers():
    """The step API's forward and backward check for Ctrl-C between layers: a deep
    network's forward on a large batch stops within a layer's time."""
    res = _run("""
        import json, os, signal, threading, time
        import numpy as np, cgrad
        from cgrad import nn
        m = cgrad.Sequential(512, [nn.Dense(512) for _ in range(60)], output="identity",
                             seed=0)
        X = np.random.default_rng(0).random((6000, 512)).astype(np.float32)
        m.forward(X[:16])
        sent = {}
        def fire():
            time.sleep(0.4); sent["t"] = time.perf_counter(); os.kill(os.getpid(), signal.SIGINT)
        threading.Thread(target=fire, daemon=True).start()
        t0 = time.perf_counter()
        try:
            m.forward(X)
            out = {"interrupted": False, "took": time.perf_counter() - t0}
        except KeyboardInterrupt:
            out = {"interrupted": True, "delay": time.perf_counter() - sent["t"]}
        try:
            m.backward(np.ones((6000, 512), np.float32))
            out["backward"] = "ran"
        except RuntimeError as exc:
            out["backward"] = str(exc)
        out["after"] = m.forward(X[:3]).shape[0]
        print(json.dumps(out))
    """)
    assert res["interrupted"] and res["delay"] < 0.5, res
    assert "needs a forward() first" in res["backward"] and res["after"] == 3
