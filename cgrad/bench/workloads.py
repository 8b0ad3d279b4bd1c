"""The comparison's workloads: the fixed table (W1, W1bn, W2, W3, W4), the custom network
built from ``--sizes`` / ``--layers`` / ``--data``, their data and initial weights.

Data comes from :mod:`cgrad.datasets` (MNIST, the embedded digits, a user's .npz/.csv),
from :func:`synthetic_regression` or from :func:`cgrad.bench.mnist1d.make_mnist1d`.
"""
import os

import numpy as np

__all__ = ["WORKLOADS", "LR", "workload_lr", "MOMENTUM", "ADAM_BETAS", "ADAM_EPS",
           "BN_MOMENTUM", "BN_EPS",
           "QUICK_TRAIN", "QUICK_TEST", "epoch_flops", "synthetic_regression",
           "layer_params", "mlp_layer_kw", "extra_layers", "parse_layers", "custom_workload",
           "select_workloads", "load_arrays", "data_id", "initial_weights", "initial_model"]

WORKLOADS = {
    "W1": dict(key="W1", name="mnist", sizes=[784, 256, 128, 64, 10], activation="relu",
               task="classification", batch=128, data="mnist", optimizers=["adam", "sgd"],
               repeats=3),
    "W2": dict(key="W2", name="tiny", sizes=[2, 64, 64, 1], activation="tanh",
               task="regression", batch=32, data="synthetic", n_train=100_000,
               optimizers=["sgd"], repeats=3),
    "W3": dict(key="W3", name="wide", sizes=[784, 1024, 1024, 10], activation="relu",
               task="classification", batch=256, data="mnist", optimizers=["adam"],
               repeats=2),
    # W1's network with, per hidden layer, Linear -> BatchNorm1d -> ReLU -> Dropout(0.2)
    "W1bn": dict(key="W1bn", name="mnist-bn", sizes=[784, 256, 128, 64, 10], activation="relu",
                 task="classification", batch=128, data="mnist", optimizers=["adam"],
                 repeats=3, batch_norm=True, dropout=0.2),
    # The MNIST-1D paper's MLP (Greydanus 2020) with its Adam step size; one epoch is
    # 40 steps of 100 rows, the paper's 6000 steps are 150 epochs.
    "W4": dict(key="W4", name="mnist1d", sizes=[40, 100, 100, 10], activation="relu",
               task="classification", batch=100, data="mnist1d", optimizers=["adam"],
               repeats=3, lr={"adam": 1e-2}),
}
_ALIASES = {w["name"]: k for k, w in WORKLOADS.items()}
_KEYS = {k.lower(): k for k in WORKLOADS}

LR = {"adam": 1e-3, "sgd": 0.05}
MOMENTUM = 0.9
ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8
BN_MOMENTUM, BN_EPS = 0.1, 1e-5     # torch.nn.BatchNorm1d's and cgrad.nn.BatchNorm1d's defaults
QUICK_TRAIN, QUICK_TEST = 4096, 1024
SYNTH_TRAIN, SYNTH_TEST = 100_000, 10_000
FILE_TEST = 0.2                     # the test fraction of --data digits / FILE
_NAMED_DATA = {"mnist": (784, 10), "digits": (64, 10), "mnist1d": (40, 10)}   # inputs, classes


def workload_lr(w, optimizer):
    """The workload's step size for ``optimizer``: its own (W4: the paper's Adam 1e-2),
    else :data:`LR`'s."""
    return w.get("lr", {}).get(optimizer, LR[optimizer])


def epoch_flops(sizes, n_samples):
    """Matrix FLOPs of one training epoch.

    Parameters
    ----------
    sizes : layer sizes, input first.
    n_samples : training samples per epoch.

    Returns
    -------
    float
        ``(6 * sum(in * out) - 2 * in_0 * out_0) * n_samples``: forward, dW and dX of
        every layer except the first layer's dX.
    """
    per_sample = 6.0 * sum(a * b for a, b in zip(sizes[:-1], sizes[1:])) - 2.0 * sizes[0] * sizes[1]
    return per_sample * n_samples


def synthetic_regression(n, n_in=2, n_out=1, seed=0, noise=0.05):
    """W2's data: x ~ U(-1, 1)^n_in, y_k = sin(3 x_k) * cos(2 x_(k+1)) + noise N(0, 1).

    Parameters
    ----------
    n : rows.
    n_in, n_out : input and target widths (indices of x taken mod n_in).
    seed : the generator's seed.
    noise : standard deviation of the added noise.

    Returns
    -------
    (X, y) : float32 arrays of shape (n, n_in) and (n, n_out).
    """
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1.0, 1.0, size=(n, n_in))
    cols = [np.sin(3 * X[:, k % n_in]) * np.cos(2 * X[:, (k + 1) % n_in]) for k in range(n_out)]
    y = np.stack(cols, axis=1) + noise * rng.standard_normal((n, n_out))
    return X.astype(np.float32), y.astype(np.float32)


def layer_params(init, n_layers, batch_norm=False):
    """The flat initial-weight list split per Dense layer.

    Parameters
    ----------
    init : the flat list (layout of ``cgrad.MLP.get_weights()``).
    n_layers : number of Dense layers.
    batch_norm : whether the hidden layers carry gamma and beta.

    Returns
    -------
    list of tuples: (W, b), or (W, b, gamma, beta) for a batch-norm hidden layer.
    """
    out, k = [], 0
    for i in range(n_layers):
        n = 4 if batch_norm and i < n_layers - 1 else 2
        out.append(tuple(init[k:k + n]))
        k += n
    if k != len(init):
        raise ValueError(f"{len(init)} initial arrays for {n_layers} layers "
                         f"(batch_norm={batch_norm}): expected {k}")
    return out


def mlp_layer_kw(w):
    """``cgrad.MLP``'s keywords for the workload's extra layers ({} for a plain MLP)."""
    kw = {}
    if w.get("batch_norm"):
        kw["batch_norm"] = True
    if w.get("dropout"):
        kw["dropout"] = float(w["dropout"])
    return kw


def extra_layers(w):
    """The workload's layers besides Linear and activation: [] for a plain MLP, else
    e.g. ``['BatchNorm1d', 'Dropout(0.2)']``."""
    return ((["BatchNorm1d"] if w.get("batch_norm") else [])
            + ([f"Dropout({w['dropout']:g})"] if w.get("dropout") else []))


def parse_layers(text):
    """``--layers``: ``bn`` and/or ``dropout=P``, comma-separated.

    Parameters
    ----------
    text : e.g. ``"bn,dropout=0.2"`` (None or "" for a plain MLP).

    Returns
    -------
    dict with ``batch_norm`` (bool) and ``dropout`` (float in [0, 1)).
    """
    out = {"batch_norm": False, "dropout": 0.0}
    for tok in (t.strip() for t in (text or "").split(",")):
        name, _, val = tok.partition("=")
        if tok in ("bn", "batchnorm"):
            out["batch_norm"] = True
        elif name == "dropout" and val:
            try:
                out["dropout"] = float(val)
            except ValueError:
                raise SystemExit(f"--layers: dropout needs a number, got {tok!r}") from None
            if not 0.0 <= out["dropout"] < 1.0:
                raise SystemExit(f"--layers: dropout must be in [0, 1), got {val}")
        elif tok:
            raise SystemExit(f"--layers: unknown layer {tok!r}; use bn and/or dropout=P "
                             "(e.g. --layers bn,dropout=0.2)")
    return out


def _file_arrays(path):
    """(X, y) of a user's .npz / .csv file (cgrad.datasets' readers)."""
    from .. import datasets
    if path.endswith(".npz"):
        return datasets.load_npz(path)
    if path.endswith((".csv", ".csv.gz")):
        return datasets.load_csv(path)
    raise SystemExit(f"--data must be mnist, digits, synthetic or a .npz/.csv file, got {path!r}")


def _check_file_shapes(path, sizes):
    """The task of a user's file (from its labels), checked against ``sizes``."""
    if not os.path.isfile(path):
        raise SystemExit(f"--data {path}: no such file")
    X, y = _file_arrays(path)
    if X.ndim != 2 or X.shape[1] != sizes[0]:
        raise SystemExit(f"--data {path}: X has shape {X.shape}; --sizes starts with {sizes[0]}")
    if y.dtype.kind == "i":
        if y.min() < 0 or int(y.max()) + 1 != sizes[-1]:
            raise SystemExit(f"--data {path}: labels {int(y.min())}..{int(y.max())}; the "
                             f"last size must be the class count {int(y.max()) + 1}")
        return "classification"
    n_out = 1 if y.ndim == 1 else y.shape[1]
    if n_out != sizes[-1]:
        raise SystemExit(f"--data {path}: {n_out} target column(s); --sizes ends with {sizes[-1]}")
    return "regression"


def _custom_task(data, sizes):
    """The custom workload's task for ``data``, after checking ``sizes`` fit it."""
    if data == "synthetic":
        return "regression"
    if data in _NAMED_DATA:
        n_in, n_cls = _NAMED_DATA[data]
        if sizes[0] != n_in or sizes[-1] != n_cls:
            raise SystemExit(f"--data {data}: --sizes must start with {n_in} and end with "
                             f"{n_cls}, got {sizes}")
        return "classification"
    return _check_file_shapes(data, sizes)


def custom_workload(*, sizes, batch, activation, data=None, layers=None):
    """The workload of ``--sizes`` (checked against its data before anything runs).

    Parameters
    ----------
    sizes : "784,512,10" (input first).
    batch : batch size.
    activation : "relu" or "tanh".
    data : "mnist", "digits", "synthetic" or a .npz/.csv path; default MNIST for 784
        inputs, else the synthetic regression.
    layers : ``--layers`` text (see :func:`parse_layers`).

    Returns
    -------
    dict, as the entries of :data:`WORKLOADS`.
    """
    try:
        sz = [int(s) for s in sizes.split(",")]
    except ValueError:
        raise SystemExit(f"--sizes needs comma-separated integers, got {sizes!r}") from None
    if len(sz) < 2 or min(sz) < 1:
        raise SystemExit(f"--sizes needs at least two positive sizes, got {sizes!r}")
    default = "mnist" if sz[0] == 784 else "synthetic"
    data = data or default
    task = _custom_task(data, sz)
    name = "-".join(map(str, sz)) + ("" if data == default else f" {os.path.basename(data)}")
    return dict(key="custom", name=name, sizes=sz, activation=activation,
                batch=batch, task=task, data=data, n_train=SYNTH_TRAIN, optimizers=["adam"],
                repeats=3, **parse_layers(layers))


def _named(keys):
    out = []
    for k in keys.split(","):
        k = k.strip()
        k = _ALIASES.get(k) or _KEYS.get(k.lower(), k)
        if k not in WORKLOADS:
            raise SystemExit(f"unknown workload {k!r}; choose from {list(WORKLOADS)}")
        out.append(dict(WORKLOADS[k]))
    return out


def select_workloads(a):
    """The workloads of the parsed arguments ``a`` (--workloads, --sizes, --optimizer).

    Parameters
    ----------
    a : argparse.Namespace of :func:`cgrad.bench.cli.parse_args`.

    Returns
    -------
    list of workload dicts (copies), each with its ``optimizers``.
    """
    wls = _named(a.workloads) if a.workloads else ([] if a.sizes else _named(",".join(WORKLOADS)))
    if a.sizes:
        wls.append(custom_workload(sizes=a.sizes, batch=a.batch, activation=a.activation,
                                   data=a.data, layers=a.layers))
    elif a.layers or a.data:
        raise SystemExit("--layers / --data shape the custom (--sizes) workload; "
                         "W1bn is W1 with bn,dropout=0.2")
    if a.optimizer:
        opts = [o.strip() for o in a.optimizer.split(",")]
        bad = [o for o in opts if o not in LR]
        if bad:
            raise SystemExit(f"unknown optimizer(s) {bad}; choose from {list(LR)}")
        for w in wls:
            w["optimizers"] = opts
    return wls


def _split(X, y, *, classification, seed):
    from .. import datasets
    X_tr, _, X_te, y_tr, _, y_te = datasets.train_val_test_split(
        X, y, val=0.0, test=FILE_TEST, stratify=classification, seed=seed)
    return (X_tr, y_tr), (X_te, y_te)


def _source_arrays(w, *, data_dir, download, seed):
    """((X_train, y_train), (X_test, y_test)) of the workload's data source, whole."""
    from .. import datasets
    src = w["data"]
    if src == "mnist":
        return datasets.load_mnist(data_dir, download=download)
    if src == "mnist1d":
        from .mnist1d import make_mnist1d
        Xtr, ytr, Xte, yte = make_mnist1d()
        return (Xtr, ytr), (Xte, yte)
    if src == "synthetic":
        n_in, n_out, n = w["sizes"][0], w["sizes"][-1], w["n_train"]
        X, y = synthetic_regression(n + SYNTH_TEST, n_in, n_out, seed=seed)
        return (X[:n], y[:n]), (X[n:], y[n:])
    X, y = datasets.load_digits() if src == "digits" else _file_arrays(src)
    if w["task"] == "regression":
        y = y.reshape(len(y), -1)
    return _split(X, y, classification=w["task"] == "classification", seed=seed)


def load_arrays(w, *, data_dir=None, download=False, seed=0, n_train=None, n_test=None):
    """The workload's training and test arrays, as every runner gets them.

    Parameters
    ----------
    w : a workload dict.
    data_dir : MNIST folder (default: ``$CGRAD_DATA``, then the user cache; see
        :func:`cgrad.datasets.load_mnist`).
    download : fetch MNIST when it is missing.
    seed : the synthetic data's and the file split's seed.
    n_train, n_test : keep only the first rows (None: all).

    Returns
    -------
    (X_train, y_train, X_test, y_test) : X float32 (C order), y int64 labels or
    float32 (N, outputs) targets.
    """
    (Xtr, ytr), (Xte, yte) = _source_arrays(w, data_dir=data_dir, download=download, seed=seed)
    ydt = np.int64 if w["task"] == "classification" else np.float32
    out = [np.ascontiguousarray(Xtr[:n_train], dtype=np.float32), ytr[:n_train].astype(ydt),
           np.ascontiguousarray(Xte[:n_test], dtype=np.float32), yte[:n_test].astype(ydt)]
    return tuple(out)


def data_id(w):
    """The name of the workload's data file in the run's folder (shared by workloads
    that train on the same data)."""
    src = w["data"]
    if src == "synthetic":
        return f"synth{w['sizes'][0]}x{w['sizes'][-1]}"
    return src if src in _NAMED_DATA else "file"


def initial_weights(w, seed):
    """cgrad's own initial weights for the workload, shared by every implementation.

    Parameters
    ----------
    w : a workload dict.
    seed : ``cgrad.MLP``'s seed.

    Returns
    -------
    list of float32 arrays, the layout of ``cgrad.MLP.get_weights()``.
    """
    return [np.ascontiguousarray(x, dtype=np.float32) for x in initial_model(w, seed).get_weights()]


def initial_model(w, seed):
    """The workload's ``cgrad.MLP`` (float32) with its initial weights.

    Parameters
    ----------
    w : a workload dict.
    seed : ``cgrad.MLP``'s seed.

    Returns
    -------
    cgrad.MLP
    """
    from ..model import MLP
    return MLP(w["sizes"], activation=w["activation"],
               output="softmax" if w["task"] == "classification" else "identity",
               dtype="float32", seed=seed, **mlp_layer_kw(w))
