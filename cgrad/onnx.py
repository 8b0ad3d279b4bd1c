"""Export a trained network to ONNX: ``export_onnx(model, path)``.

The graph is the eval-mode network in float32 with a dynamic batch dimension:

* Dense: ``Gemm(x, W, b)`` then its activation;
* BatchNorm1d: folded into the Dense before it when that Dense has no activation
  (``W' = W * s``, ``b' = (b - mean) * s + beta`` with ``s = gamma / sqrt(var + eps)``,
  computed in float64); otherwise ``Mul`` + ``Add`` with the same ``s``;
* Dropout: removed (the identity in eval mode);
* activations: Relu, LeakyRelu, Sigmoid, Tanh, Elu; GELU (tanh form) as
  ``z * Sigmoid(2 sqrt(2/pi) (z + 0.044715 z^3))``, cgrad's own formula (opset >= 20 could
  use ``Gelu(approximate="tanh")``, but the primitives keep opset 17 and match cgrad
  closer);
* output "softmax"/"sigmoid": ``probabilities`` (Softmax / Sigmoid of the logits) or, with
  ``probabilities=False``, ``logits``; plus, with ``label=True``, ``label`` (int64): the
  ArgMax for softmax, ``logits > 0`` for sigmoid (shape (N,) for one output, (N, k) for
  several), exactly ``model.predict``.  Any other output: ``output``, the network's
  values (``model.decision_function``).

The ``onnx`` package is needed only here: ``pip install "cgrad[onnx]"``.
"""
import math
import os

import numpy as np

from . import nn

__all__ = ["export_onnx", "DEFAULT_OPSET"]

DEFAULT_OPSET = 17          # ONNX 1.12+, every onnxruntime since 1.13
_MIN_OPSET = 13             # Softmax over the last axis only, ArgMax/ReduceX as used here
_GELU_C = math.sqrt(2.0 / math.pi)
_GELU_A = 0.044715


def _import_onnx():
    try:
        import onnx
        from onnx import helper, numpy_helper
    except ImportError as exc:
        raise ImportError('export_onnx needs the onnx package: pip install "cgrad[onnx]" '
                          f"(or pip install onnx): {exc}") from exc
    return onnx, helper, numpy_helper


def _ir_version(helper, opset):
    """The IR version of the ONNX release that introduced ``opset``: the oldest one that
    carries it, so older runtimes accept the file."""
    for _release, ir, ai_onnx, *_ in helper.VERSION_TABLE:
        if ai_onnx == opset:
            return ir
    raise ValueError(f"opset {opset} is not known to the installed onnx package")


class _Graph:
    """Nodes and initializers under construction, with fresh names."""

    def __init__(self, helper, numpy_helper):
        self.helper, self.numpy_helper = helper, numpy_helper
        self.nodes, self.inits, self._n = [], [], 0

    def name(self, stem):
        self._n += 1
        return f"{stem}_{self._n}"

    def const(self, stem, value):
        name = self.name(stem)
        self.inits.append(self.numpy_helper.from_array(
            np.ascontiguousarray(value, dtype=np.float32), name))
        return name

    def op(self, op_type, inputs, stem=None, output=None, **attrs):
        out = output or self.name(stem or op_type.lower())
        self.nodes.append(self.helper.make_node(op_type, list(inputs), [out],
                                                name=self.name(op_type), **attrs))
        return out

    def activation(self, x, name, alpha):
        if name == "identity":
            return x
        if name == "relu":
            return self.op("Relu", [x])
        if name == "leaky_relu":
            return self.op("LeakyRelu", [x], alpha=float(alpha))
        if name == "sigmoid":
            return self.op("Sigmoid", [x])
        if name == "tanh":
            return self.op("Tanh", [x])
        if name == "elu":
            return self.op("Elu", [x], alpha=float(alpha))
        if name == "gelu":                  # z * sigmoid(2 c (z + a z^3)), as cgrad
            z3 = self.op("Mul", [self.op("Mul", [x, x]), x])
            inner = self.op("Add", [x, self.op("Mul", [z3, self.const("gelu_a", _GELU_A)])])
            u2 = self.op("Mul", [inner, self.const("gelu_2c", 2.0 * _GELU_C)])
            return self.op("Mul", [x, self.op("Sigmoid", [u2])], stem="gelu")
        raise ValueError(f"activation {name!r} has no ONNX export")


def _folded_layers(model):
    """The eval-mode network as a list of ('dense', W, b, act, alpha) /
    ('affine', scale, shift) / ('act', name, alpha), in float64: Dropout dropped,
    BatchNorm1d folded into an activation-free Dense right before it (Dropout between them
    being gone) or turned into a per-feature affine map."""
    out = []
    for layer in model.layers:
        if isinstance(layer, nn.Dropout):
            continue
        if isinstance(layer, nn.Dense):
            out.append(["dense", np.array(layer.W, np.float64), np.array(layer.b, np.float64),
                        layer.activation, layer.alpha])
        elif isinstance(layer, nn.BatchNorm1d):
            s = (np.asarray(layer.gamma, np.float64)
                 / np.sqrt(np.asarray(layer.running_var, np.float64) + layer.eps))
            shift = np.asarray(layer.beta, np.float64) - np.asarray(layer.running_mean,
                                                                    np.float64) * s
            prev = out[-1] if out else None
            if prev is not None and prev[0] == "dense" and prev[3] == "identity":
                prev[1] = prev[1] * s                   # W' = W * s (per output column)
                prev[2] = prev[2] * s + shift           # b' = (b - mean) * s + beta
            else:
                out.append(["affine", s, shift])
        elif isinstance(layer, nn.Activation):
            out.append(["act", layer.activation, layer.alpha])
        else:
            raise ValueError(f"layer {layer!r} has no ONNX export")
    return out


def export_onnx(model, path, *, probabilities=True, label=True, opset=DEFAULT_OPSET):
    """Write ``model``'s eval-mode network to ``path`` as an ONNX graph and return the
    path.

    Input ``input``: float32 (batch, n_inputs), batch dynamic.  Outputs: for
    output="softmax"/"sigmoid", ``probabilities`` (``model.predict_proba``) or, with
    ``probabilities=False``, ``logits`` (``model.decision_function``), and with
    ``label=True`` also ``label`` (int64, ``model.predict``); for any other output,
    ``output`` (``model.decision_function``).  ``opset``: the ai.onnx opset (13 to the
    installed onnx's; default 17), with the IR version of the ONNX release that
    introduced it.  The model is checked with ``onnx.checker`` before it is written.

    Parameters
    ----------
    model : Sequential
        A cgrad model (Sequential or MLP).
    path : str or os.PathLike
        Where to write the ``.onnx`` file.
    probabilities : bool, default=True
        For a softmax/sigmoid output: emit ``probabilities`` (True) or ``logits`` (False).
    label : bool, default=True
        For a softmax/sigmoid output: also emit ``label``.
    opset : int, default=DEFAULT_OPSET
        The ai.onnx opset, from 13 to the installed onnx's newest.

    Returns
    -------
    str
        `path`, as a str.

    Raises
    ------
    ImportError
        If the onnx package is not installed.
    TypeError
        If `model` is not a cgrad model or `opset` not an int.
    ValueError
        If `opset` is out of range.
    """
    from .model import LOGIT_OUTPUTS, Sequential
    onnx, helper, numpy_helper = _import_onnx()
    if not isinstance(model, Sequential):
        raise TypeError(f"model must be a cgrad Sequential or MLP, got {type(model).__name__}")
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)):
        raise TypeError(f"opset must be an int, got {type(opset).__name__}")
    opset = int(opset)
    for name, flag in (("probabilities", probabilities), ("label", label)):
        if not isinstance(flag, (bool, np.bool_)):
            raise TypeError(f"{name} must be True or False, got {flag!r}")
    if not _MIN_OPSET <= opset <= onnx.defs.onnx_opset_version():
        raise ValueError(f"opset must be in [{_MIN_OPSET}, {onnx.defs.onnx_opset_version()}], "
                         f"got {opset}")
    path = os.fspath(path)

    g = _Graph(helper, numpy_helper)
    x = "input"
    for item in _folded_layers(model):
        if item[0] == "dense":
            _, W, b, act, alpha = item
            x = g.op("Gemm", [x, g.const("W", W), g.const("b", b)], stem="dense")
            x = g.activation(x, act, alpha)
        elif item[0] == "affine":
            x = g.op("Add", [g.op("Mul", [x, g.const("bn_scale", item[1])]),
                             g.const("bn_shift", item[2])], stem="batchnorm")
        else:
            x = g.activation(x, item[1], item[2])

    F32, I64 = onnx.TensorProto.FLOAT, onnx.TensorProto.INT64
    k = model.n_outputs
    outputs = []
    if model.output in LOGIT_OUTPUTS:
        logits = x
        if probabilities:
            op = "Softmax" if model.output == "softmax" else "Sigmoid"
            g.op(op, [logits], output="probabilities", **({"axis": -1}
                                                          if op == "Softmax" else {}))
            outputs.append(helper.make_tensor_value_info("probabilities", F32, ["batch", k]))
        else:
            g.op("Identity", [logits], output="logits")
            outputs.append(helper.make_tensor_value_info("logits", F32, ["batch", k]))
        if label:
            if model.output == "softmax":
                g.op("ArgMax", [logits], output="label", axis=1, keepdims=0)
                shape = ["batch"]
            else:
                pos = g.op("Greater", [logits, g.const("zero", np.zeros(()))])
                if k == 1:
                    pos = g.op("Squeeze", [pos, g.name("axes")])
                    g.inits.append(numpy_helper.from_array(np.array([1], np.int64),
                                                           g.nodes[-1].input[1]))
                g.op("Cast", [pos], output="label", to=I64)
                shape = ["batch"] if k == 1 else ["batch", k]
            outputs.append(helper.make_tensor_value_info("label", I64, shape))
    else:
        g.op("Identity", [x], output="output")
        outputs.append(helper.make_tensor_value_info("output", F32, ["batch", k]))

    graph = helper.make_graph(
        g.nodes, "cgrad", [helper.make_tensor_value_info("input", F32, ["batch", model.n_inputs])],
        outputs, initializer=g.inits)
    from . import __version__
    proto = helper.make_model(graph, producer_name="cgrad", producer_version=__version__,
                              opset_imports=[helper.make_opsetid("", opset)],
                              ir_version=_ir_version(helper, opset))
    proto.doc_string = repr(model)
    onnx.checker.check_model(proto, full_check=True)
    onnx.save_model(proto, path)
    return path
