"""Random bad input at the public entry points: only a clean ValueError or TypeError comes
back (never a crash, a hang, another exception or a silent wrong answer), raised before
the model changes."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import cgrad
from cgrad import nn, ops

CLEAN = (ValueError, TypeError)
FUZZ = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


def _array(draw, shape):
    kind = draw(st.sampled_from(["ok", "nan", "inf", "int", "bool", "complex", "object",
                                 "str", "empty", "noncontig", "readonly", "f16", "big",
                                 "memmap"]))
    a = np.random.default_rng(draw(st.integers(0, 9))).standard_normal(shape)
    if kind == "nan" and a.size:
        a.flat[draw(st.integers(0, a.size - 1))] = np.nan
    elif kind == "inf" and a.size:
        a.flat[draw(st.integers(0, a.size - 1))] = -np.inf
    elif kind == "int":
        a = a.astype(np.int64)
    elif kind == "bool":
        a = a > 0
    elif kind == "complex":
        a = a + 1j
    elif kind == "object":
        a = a.astype(object)
    elif kind == "str":
        a = a.astype(str)
    elif kind == "empty":
        a = a[:0]
    elif kind == "noncontig":
        a = np.repeat(a, 2, axis=-1)[..., ::2]
    elif kind == "readonly":
        a.setflags(write=False)
    elif kind == "f16":
        a = a.astype(np.float16)
    elif kind == "big":
        a = a * 1e300
    elif kind == "memmap":
        import tempfile
        f = tempfile.NamedTemporaryFile(suffix=".dat", delete=False)
        m = np.memmap(f.name, dtype=np.float32, mode="w+", shape=a.shape)
        m[...] = a
        m.flush()
        a = np.memmap(f.name, dtype=np.float32, mode="r", shape=a.shape)   # read-only too
    return a


@st.composite
def inputs(draw, n_features=4):
    shape = draw(st.sampled_from([(6, n_features), (6, n_features + 1), (6,), (6, n_features, 1),
                                  (0, n_features), (1, n_features)]))
    return _array(draw, shape)


@st.composite
def labels(draw, rows=6):
    kind = draw(st.sampled_from(["ok", "negative", "too_big", "float", "nan", "short", "2d",
                                 "str", "onehot_bad"]))
    y = np.arange(rows) % 3
    if kind == "negative":
        y[0] = -1
    elif kind == "too_big":
        y[0] = 3
    elif kind == "float":
        y = y + 0.5
    elif kind == "nan":
        y = y.astype(float)
        y[1] = np.nan
    elif kind == "short":
        y = y[:-1]
    elif kind == "2d":
        y = np.stack([y, y], 1)
    elif kind == "str":
        y = y.astype(str)
    elif kind == "onehot_bad":
        y = np.full((rows, 3), 0.5)
    return y


def _model():
    return cgrad.Sequential(4, [nn.Dense(5, "relu"), nn.BatchNorm1d(), nn.Dropout(0.2),
                                nn.Dense(3)], seed=0)


def _clean_or_ok(fn):
    """Run fn: it may succeed; any exception must be a clean ValueError/TypeError with a
    message."""
    try:
        fn()
    except CLEAN as exc:
        assert str(exc), type(exc)
        return False
    return True


@FUZZ
@given(X=inputs(), y=labels(), kw=st.fixed_dictionaries({}, optional={
    "epochs": st.sampled_from([-1, 0, 1, 1.5, "2", None]),
    "batch_size": st.sampled_from([-3, 0, 1, 2, 7, None, 2.5, "x"]),
    "lr": st.sampled_from([-1.0, 0.0, 1e-3, np.nan, np.inf, "fast"]),
    "optimizer": st.sampled_from(["adam", "sgd", "nadam", 3, None]),
    "clip_norm": st.sampled_from([None, -1.0, 0.0, 1.0, np.nan]),
    "clip_value": st.sampled_from([None, -1.0, 1.0, np.inf]),
    "l1": st.sampled_from([0.0, -1.0, np.nan, 1e-3]),
    "l2": st.sampled_from([0.0, -0.5, np.inf, 1e-3]),
    "validation_split": st.sampled_from([0.0, -0.1, 0.5, 1.0, 2.0]),
    "verbose": st.sampled_from([0, 3, -1]),
    "sparse": st.sampled_from(["auto", True, False, "yes", 2]),
    "on_nonfinite": st.sampled_from(["raise", "stop", "skip_batch", "warn", None]),
    "schedule": st.sampled_from([None, "cosine", "bogus"]),
    "loss": st.sampled_from(["auto", "mse", "softmax_cross_entropy", "nope", 7]),
    "n_threads": st.sampled_from([None, 0, 1, 2, -2]),
}))
def test_fit_takes_bad_input_cleanly_and_leaves_the_model_alone(X, y, kw):
    m = _model()
    params, buffers, step = m.flat_params.copy(), m.flat_buffers.copy(), m.step_count
    kw.setdefault("verbose", 0)
    if not _clean_or_ok(lambda: m.fit(X, y, **kw)):
        np.testing.assert_array_equal(m.flat_params, params)
        np.testing.assert_array_equal(m.flat_buffers, buffers)
        assert m.step_count == step


@FUZZ
@given(X=inputs(), y=labels())
def test_inference_and_the_step_api_take_bad_input_cleanly(X, y):
    m = _model()
    for call in (lambda: m.predict(X), lambda: m.predict_proba(X), lambda: m.evaluate(X, y),
                 lambda: m.forward(X), lambda: m.eval().forward(X)):
        _clean_or_ok(call)
    m.train()
    if _clean_or_ok(lambda: m.forward(np.ones((6, 4)))):
        _clean_or_ok(lambda: m.backward(X))


@FUZZ
@given(args=st.tuples(st.sampled_from([[], [4], [4, 0, 3], [4, -2, 3], [4.5, 3], ["4", 3],
                                       [4, 3]]),
                      st.sampled_from(["relu", "softmax", "swish", None, 3]),
                      st.sampled_from(["softmax", "sigmoid", "identity", "bogus"]),
                      st.sampled_from([0.0, 0.5, 1.0, -0.1, "x"]),
                      st.sampled_from([True, False, "yes"]),
                      st.sampled_from(["float32", "float64", "int8", "float16", None])))
def test_constructors_take_bad_input_cleanly(args):
    sizes, act, out, p, bn, dtype = args
    _clean_or_ok(lambda: cgrad.MLP(sizes, activation=act, output=out, dropout=p,
                                   batch_norm=bn, dtype=dtype))
    _clean_or_ok(lambda: cgrad.Sequential(sizes[0] if sizes else 0,
                                          [nn.Dense(3, act or "identity"), nn.Dropout(p)],
                                          output=out, dtype=dtype))
    _clean_or_ok(lambda: nn.BatchNorm1d(momentum=p, eps=p))
    for name in ("sgd", "adam", "adamw", "rmsprop", "adagrad"):
        _clean_or_ok(lambda: cgrad.optim.get_optimizer(name, lr=p))
    for name in ("cosine", "step", "exponential", "plateau", "nope"):
        _clean_or_ok(lambda: cgrad.schedules.get_schedule(name, p))


@FUZZ
@given(a=inputs(n_features=3), b=inputs(n_features=3))
def test_ops_kernels_take_bad_input_cleanly(a, b):
    W = np.ones((3, 2))
    calls = [lambda: ops.relu_forward(a), lambda: ops.softmax_forward(a),
             lambda: ops.tanh_backward(a, b, b), lambda: ops.linear_forward(a, W),
             lambda: ops.mse(a, b), lambda: ops.softmax_cross_entropy(a, np.arange(len(a))),
             lambda: ops.dropout_forward(a, 0.3, 1), lambda: ops.batchnorm_forward(a, b, b),
             lambda: ops.l2_penalty(a, 0.1), lambda: ops.gemm(a, b.T if b.ndim == 2 else b),
             lambda: ops.sgd_step(a, b, lr=0.1), lambda: ops.adam_step(a, b, a, b, t=1)]
    for call in calls:
        _clean_or_ok(call)


def test_loaders_and_the_cli_refuse_garbage_cleanly(tmp_path):
    import subprocess
    import sys
    bad = tmp_path / "bad.csv"
    bad.write_text("1,2,x\n3,,4\n")
    for call in (lambda: cgrad.datasets.load_csv(bad), lambda: cgrad.datasets.load_npz(bad),
                 lambda: cgrad.load(bad)):
        with pytest.raises(CLEAN):
            call()
    with pytest.raises(FileNotFoundError, match="searched"):      # documented: absent files
        cgrad.datasets.load_mnist(tmp_path)
    for argv in (["train", "--epochs", "-1"], ["train", "--hidden", "0"],
                 ["train", "--optimizer", "nadam"], ["train", "--data", str(bad)],
                 ["train", "--lr", "nan"], ["train", "--bogus"]):
        out = subprocess.run([sys.executable, "-m", "cgrad", *argv], capture_output=True,
                             text=True, cwd=tmp_path, timeout=120)
        assert out.returncode != 0 and "Traceback" not in out.stderr, (argv, out.stderr)


def _saved_bytes(tmp_path_factory, fmt):
    if fmt == "safetensors":
        pytest.importorskip("safetensors", reason="the safetensors extra is not installed")
    folder = tmp_path_factory.mktemp(f"saved-{fmt}")
    m = cgrad.MLP([3, 16, 2], batch_norm=True, seed=0)
    path = m.save(folder / "m", format=fmt)
    return m.flat_params.copy(), m.flat_buffers.copy(), open(path, "rb").read()


@pytest.mark.parametrize("fmt", ["npz", "safetensors"])
@FUZZ
@given(data=st.data())
def test_load_of_a_damaged_file_is_a_clean_error_or_the_same_model(fmt, data,
                                                                   tmp_path_factory):
    """Random truncations, byte flips, insertions and deletions of a saved file: load
    raises ValueError, or (when the damage missed everything load reads) returns the
    saved parameters bit for bit; never another exception or different weights."""
    params, buffers, raw = _saved_bytes(tmp_path_factory, fmt)
    b = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 3), label="edits")):
        op = data.draw(st.sampled_from(["truncate", "flip", "insert", "delete"]), label="op")
        at = data.draw(st.integers(0, max(len(b) - 1, 0)), label="at")
        if op == "truncate":
            del b[at:]
        elif op == "flip" and b:
            b[at] ^= data.draw(st.integers(1, 255), label="mask")
        elif op == "insert":
            b[at:at] = data.draw(st.binary(min_size=1, max_size=16), label="bytes")
        elif b:
            del b[at:at + data.draw(st.integers(1, 16), label="n")]
    path = tmp_path_factory.mktemp("damaged") / f"m.{fmt}"
    path.write_bytes(bytes(b))
    try:
        m = cgrad.load(path)
    except ValueError:
        return
    assert np.array_equal(m.flat_params, params) and np.array_equal(m.flat_buffers, buffers)


@FUZZ
@given(opset=st.one_of(st.integers(-5, 40), st.floats(allow_nan=True), st.text(max_size=3),
                       st.none()),
       probabilities=st.one_of(st.booleans(), st.integers(0, 2), st.text(max_size=2)),
       label=st.one_of(st.booleans(), st.none(), st.text(max_size=2)))
def test_export_onnx_takes_bad_arguments_cleanly(opset, probabilities, label,
                                                 tmp_path_factory):
    pytest.importorskip("onnx", reason="the onnx extra is not installed")
    m = cgrad.MLP([3, 8, 2], seed=0)
    before = m.flat_params.copy()
    path = tmp_path_factory.mktemp("onnx") / "m.onnx"
    valid = (isinstance(opset, int) and not isinstance(opset, bool) and 13 <= opset <= 17
             and isinstance(probabilities, bool) and isinstance(label, bool))
    try:
        cgrad.export_onnx(m, path, opset=opset, probabilities=probabilities, label=label)
    except CLEAN:
        assert not valid and not path.exists()
    else:
        assert path.exists() and (valid or isinstance(opset, int) and opset > 17)
    assert np.array_equal(m.flat_params, before)
