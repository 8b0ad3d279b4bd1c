"""save(format="safetensors") / load: the .npz path's contract in the safetensors format."""
import json
import os
import sys

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import cgrad
from cgrad import nn
from cgrad.model import _tensors_digest

st = pytest.importorskip("safetensors.numpy")

MAKES = [
    lambda: cgrad.MLP([6, 9, 7, 3], seed=1),
    lambda: cgrad.MLP([6, 9, 7, 3], batch_norm=True, dropout=0.3, seed=4),
    lambda: cgrad.Sequential(6, [nn.BatchNorm1d(momentum=0.2), nn.Dense(9, "tanh"),
                                 nn.Dropout(0.25), nn.Dense(5), nn.Activation("elu", 0.5),
                                 nn.Dense(2)], output="sigmoid", dtype="float64", seed=2),
]


def _data(model):
    r = np.random.default_rng(3)
    X = r.standard_normal((30, 6))
    y = r.integers(0, 3, 30) if model.output == "softmax" else (r.random((30, 2)) > 0.5) * 1.0
    return X, y


@pytest.mark.parametrize("optimizer", ["adam", "sgd_momentum"])
@pytest.mark.parametrize("make", MAKES)
def test_round_trip_resumes_bitwise_like_npz(tmp_path, make, optimizer):
    a = make()
    X, y = _data(a)
    opt = (cgrad.optim.Adam(lr=1e-2) if optimizer == "adam"
           else cgrad.optim.SGD(lr=1e-2, momentum=0.9))
    a.fit(X, y, optimizer=opt, epochs=2, batch_size=10, verbose=0, shuffle=False)
    path = a.save(tmp_path / "m", optimizer=opt, epoch=2, format="safetensors")
    assert path.endswith("m.safetensors") and os.path.exists(path)
    npz = a.save(tmp_path / "m", optimizer=opt, epoch=2)
    b, opt_b = cgrad.load(path, with_optimizer=True)
    c, opt_c = cgrad.load(npz, with_optimizer=True)
    assert type(b) is type(a) and b.specs() == a.specs() and b.config() == a.config()
    assert b.step_count == a.step_count == 6 and b.dropout_seed == a.dropout_seed
    assert b.saved_epoch == 2 and opt_b.t == opt.t and type(opt_b) is type(opt)
    assert_array_equal(b.flat_params, a.flat_params)
    assert_array_equal(b.flat_buffers, a.flat_buffers)
    for m, o in ((a, opt), (b, opt_b), (c, opt_c)):
        m.fit(X, y, optimizer=o, epochs=2, batch_size=10, verbose=0, shuffle=False)
    for m in (b, c):
        assert_array_equal(m.flat_params, a.flat_params)
        assert_array_equal(m.flat_buffers, a.flat_buffers)
    assert str(b) == str(a)


def test_layout_metadata_as_json_strings_and_tensors(tmp_path):
    m = cgrad.MLP([4, 5, 2], batch_norm=True, seed=0)
    opt = cgrad.optim.Adam(m)
    path = m.save(tmp_path / "m.safetensors", optimizer=opt)     # format from the name
    assert path == str(tmp_path / "m.safetensors")
    from safetensors import safe_open
    with safe_open(path, framework="numpy") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    assert set(meta) == {"config", "optimizer", "sha256"}
    assert json.loads(meta["config"]) == m.config()
    assert json.loads(meta["optimizer"])["class"] == "Adam"
    assert set(tensors) == {"params", "buffers", "optimizer_state_0", "optimizer_state_1"}
    assert_array_equal(tensors["params"], m.flat_params)
    assert tensors["params"].dtype == np.float32
    assert meta["sha256"] == _tensors_digest(tensors)
    assert os.listdir(tmp_path) == ["m.safetensors"]            # no temporary file left


def test_detected_by_content_and_by_the_name_save_gave(tmp_path):
    m = cgrad.MLP([3, 4, 2], seed=0)
    path = m.save(tmp_path / "model", format="safetensors")
    assert_array_equal(cgrad.load(tmp_path / "model").flat_params, m.flat_params)
    os.rename(path, tmp_path / "weights.bin")
    assert_array_equal(cgrad.load(tmp_path / "weights.bin").flat_params, m.flat_params)


def _write(path, meta, arrays, digest=True):
    if digest:
        meta = {**meta, "sha256": _tensors_digest(arrays)}
    with open(path, "wb") as f:
        f.write(st.save(arrays, metadata=meta))


def test_refuses_what_the_npz_path_refuses(tmp_path):
    m = cgrad.MLP([3, 4, 2], batch_norm=True, seed=0)
    meta, arrays = m._payload()
    buf = np.ascontiguousarray(arrays["buffers"])
    par = np.ascontiguousarray(arrays["params"])
    cases = {
        "short": (meta, {"params": par, "buffers": buf[:-1]},
                  "7 running statistics stored, the architecture needs 8"),
        "nan": (meta, {"params": par, "buffers": np.full_like(buf, np.nan)},
                "running statistics contain NaN"),
        "none": (meta, {"params": par}, "lacks its running statistics"),
        "config": ({"config": "{not json"}, {"params": par, "buffers": buf},
                   "corrupt model config"),
        "foreign": ({}, {"x": par}, "is not a cgrad model"),
        "version": ({"config": json.dumps({**m.config(), "format": 99})},
                    {"params": par, "buffers": buf}, "unsupported format 99"),
    }
    for name, (meta_, arrays_, msg) in cases.items():
        _write(tmp_path / f"{name}.safetensors", meta_, arrays_)
        with pytest.raises(ValueError, match=msg):
            cgrad.load(tmp_path / f"{name}.safetensors")
    _write(tmp_path / "nosum.safetensors", meta, {"params": par, "buffers": buf}, digest=False)
    with pytest.raises(ValueError, match="checksum"):
        cgrad.load(tmp_path / "nosum.safetensors")


def test_truncated_or_corrupted_files_raise_a_clear_value_error(tmp_path):
    m = cgrad.MLP([3, 40, 2], batch_norm=True, seed=0)
    raw = open(m.save(tmp_path / "m", format="safetensors"), "rb").read()
    n = int.from_bytes(raw[:8], "little")

    def flip(lo, hi):
        b = bytearray(raw)
        b[lo:hi] = bytes(x ^ 0xFF for x in b[lo:hi])
        return bytes(b)

    cases = {"head": raw[:10], "half": raw[:len(raw) // 2], "tail": raw[:-30],
             "empty": b"", "header": flip(20, 60), "length": flip(0, 2),
             "data": flip(8 + n + 100, 8 + n + 104), "last_byte": flip(len(raw) - 1, len(raw))}
    for name, data in cases.items():
        (tmp_path / f"{name}.safetensors").write_bytes(data)
        with pytest.raises(ValueError, match="not a readable cgrad .safetensors file|corrupt"):
            cgrad.load(tmp_path / f"{name}.safetensors")


def test_bad_format_and_missing_package(tmp_path, monkeypatch):
    m = cgrad.MLP([3, 2])
    with pytest.raises(ValueError, match="format must be one of"):
        m.save(tmp_path / "m", format="pickle")
    path = m.save(tmp_path / "m", format="safetensors")
    monkeypatch.setitem(sys.modules, "safetensors", None)
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    for call in (lambda: m.save(tmp_path / "m2", format="safetensors"),
                 lambda: cgrad.load(path)):
        with pytest.raises(ImportError, match=r'pip install "cgrad\[safetensors\]"'):
            call()
    assert not (tmp_path / "m2.safetensors").exists()
    assert_array_equal(cgrad.load(m.save(tmp_path / "m3")).flat_params, m.flat_params)
