"""export_onnx: the graph, run in onnxruntime, gives cgrad's eval-mode outputs."""
import sys

import numpy as np
import pytest

import cgrad
from cgrad import nn

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

ACTIVATIONS = ["identity", "relu", "leaky_relu", "sigmoid", "tanh", "elu", "gelu"]
TOL = dict(rtol=1e-5, atol=1e-5)


def _session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _run(model, tmp_path, X, **kw):
    path = cgrad.export_onnx(model, tmp_path / "m.onnx", **kw)
    s = _session(path)
    names = [o.name for o in s.get_outputs()]
    return dict(zip(names, s.run(None, {"input": np.asarray(X, np.float32)})))


def _X(n, d, seed=0):
    return (np.random.default_rng(seed).standard_normal((n, d)) * 1.5).astype(np.float32)


def _check(model, tmp_path, X):
    """Every output kind against the matching cgrad method."""
    out = _run(model, tmp_path, X)
    if model.output in ("softmax", "sigmoid"):
        assert sorted(out) == ["label", "probabilities"]
        np.testing.assert_allclose(out["probabilities"], model.predict_proba(X), **TOL)
        assert out["label"].dtype == np.int64
        np.testing.assert_array_equal(out["label"], model.predict(X))
        logits = _run(model, tmp_path, X, probabilities=False, label=False)
        assert list(logits) == ["logits"]
        np.testing.assert_allclose(logits["logits"], model.decision_function(X), **TOL)
    else:
        assert list(out) == ["output"]
        np.testing.assert_allclose(out["output"], model.decision_function(X), **TOL)


@pytest.mark.parametrize("batch", [1, 37])
@pytest.mark.parametrize("output", ["softmax", "sigmoid", "identity", "tanh", "elu"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_mlp_matches_onnxruntime(tmp_path, activation, output, batch):
    n_out = 1 if output == "sigmoid" and activation in ("relu", "gelu") else 3
    m = cgrad.MLP([6, 11, 7, n_out], activation=activation, output=output, seed=1,
                  alpha=0.3 if activation in ("leaky_relu", "elu") else None)
    _check(m, tmp_path, _X(batch, 6))


def _trained(model, n_in, seed=0):
    """A few epochs so the running statistics (and the weights) are not their init."""
    r = np.random.default_rng(seed)
    X = _X(64, n_in, seed + 1) + 0.7
    if model.output == "softmax":
        y = r.integers(0, model.n_outputs, 64)
    elif model.output == "sigmoid":
        y = (r.random((64, model.n_outputs)) > 0.5) * 1.0
    else:
        y = r.standard_normal((64, model.n_outputs))
    model.fit(X, y, epochs=3, batch_size=16, lr=1e-2, verbose=0)
    bns = [layer for layer in model.layers if isinstance(layer, nn.BatchNorm1d)]
    assert bns and any(np.abs(b.running_mean).max() > 1e-2 for b in bns)
    assert all(np.abs(b.running_var - 1).max() > 1e-3 for b in bns)
    return model


SEQUENTIALS = {
    # BN right after an activation-free Dense (folded), with a Dropout in between (folded
    # too: Dropout is gone in eval mode), BN first and BN after an activation (Mul + Add)
    "bn_first_and_after_activation": lambda: cgrad.Sequential(
        5, [nn.BatchNorm1d(momentum=0.3), nn.Dense(9, "tanh"), nn.BatchNorm1d(),
            nn.Dropout(0.3), nn.Dense(6), nn.Dropout(0.2), nn.BatchNorm1d(eps=1e-3),
            nn.Activation("gelu"), nn.Dense(4)], output="softmax", seed=3),
    "mlp_batch_norm_dropout": lambda: cgrad.MLP(
        [5, 8, 7, 3], activation="elu", output="softmax", batch_norm=True, dropout=0.25,
        seed=4),
    "sigmoid_multilabel": lambda: cgrad.Sequential(
        5, [nn.Dense(8), nn.BatchNorm1d(), nn.Activation("leaky_relu", 0.2), nn.Dropout(0.5),
            nn.Dense(3)], output="sigmoid", seed=5),
    "regression_float64": lambda: cgrad.Sequential(
        5, [nn.Dense(8, "relu"), nn.BatchNorm1d(), nn.Dense(2), nn.BatchNorm1d()],
        output="identity", dtype="float64", seed=6),
    "output_activation": lambda: cgrad.Sequential(
        5, [nn.Dense(8), nn.BatchNorm1d(), nn.Activation("sigmoid"), nn.Dense(2)],
        output="tanh", seed=7),
}


@pytest.mark.parametrize("batch", [1, 37])
@pytest.mark.parametrize("name", sorted(SEQUENTIALS))
def test_sequential_with_batch_norm_and_dropout_matches(tmp_path, name, batch):
    m = _trained(SEQUENTIALS[name](), 5)
    _check(m, tmp_path, _X(batch, 5, seed=batch))


def test_graph_is_checked_float32_dynamic_batch_and_folded(tmp_path):
    m = _trained(SEQUENTIALS["bn_first_and_after_activation"](), 5)
    proto = onnx.load(cgrad.export_onnx(m, tmp_path / "m.onnx"))
    onnx.checker.check_model(proto, full_check=True)
    assert proto.ir_version == 8 and proto.opset_import[0].version == 17
    inp = proto.graph.input[0]
    assert inp.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    dims = inp.type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and dims[1].dim_value == 5
    assert all(t.data_type == onnx.TensorProto.FLOAT for t in proto.graph.initializer)
    ops = [n.op_type for n in proto.graph.node]
    assert "Dropout" not in ops and "BatchNormalization" not in ops
    # BN first: Mul+Add; BN after tanh: Mul+Add; BN after Dense(6) (Dropout between): folded
    assert ops.count("Gemm") == 3 and ops.count("Add") == 2 + 1   # + gelu's inner Add


@pytest.mark.parametrize("opset", [13, 20, 21])
def test_other_opsets(tmp_path, opset):
    m = _trained(SEQUENTIALS["mlp_batch_norm_dropout"](), 5)
    X = _X(37, 5)
    out = _run(m, tmp_path, X, opset=opset)
    np.testing.assert_allclose(out["probabilities"], m.predict_proba(X), **TOL)
    assert onnx.load(tmp_path / "m.onnx").opset_import[0].version == opset


def test_bad_arguments(tmp_path):
    m = cgrad.MLP([3, 2])
    with pytest.raises(ValueError, match="opset must be in"):
        cgrad.export_onnx(m, tmp_path / "m.onnx", opset=9)
    with pytest.raises(TypeError, match="opset must be an int"):
        cgrad.export_onnx(m, tmp_path / "m.onnx", opset="17")
    with pytest.raises(TypeError, match="model must be"):
        cgrad.export_onnx(object(), tmp_path / "m.onnx")


def test_missing_onnx_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match=r'pip install "cgrad\[onnx\]"'):
        cgrad.export_onnx(cgrad.MLP([3, 2]), tmp_path / "m.onnx")
