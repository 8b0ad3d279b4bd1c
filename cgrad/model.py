"""The MLP model: one flat parameter buffer, the fused ``fit`` and the step-by-step API.

Layout of the flat buffers (parameters and gradients alike), layer by layer:
``[W_0 (IN_0*OUT_0), b_0 (OUT_0), W_1, b_1, ...]``; ``W_l`` has shape (IN, OUT), row-major,
so a layer is literally ``x @ W + b``.  Layers hold NumPy views into the buffers, an
optimizer step is one kernel over the whole buffer, and a checkpoint is one array.
"""
import json
import math
import os
import tempfile
import time

import numpy as np

from . import _core
from ._config import get_num_threads
from ._validation import positive_int
from .callbacks import Callback, History, ProgressBar, _as_callback
from .losses import Loss, get_loss
from .ops.activations import ACTIVATION_CODES, DEFAULT_ALPHA
from .optim import OPTIMIZERS, Optimizer, _nonneg, get_optimizer

__all__ = ["MLP", "load", "INITS"]

FORMAT_VERSION = 1
LOGIT_OUTPUTS = ("softmax", "sigmoid")          # forward() returns logits for these
INITS = ("glorot_uniform", "glorot_normal", "he_uniform", "he_normal")
_RELU_LIKE = ("relu", "leaky_relu", "elu", "gelu")


def _init_for(activation):
    return "he_uniform" if activation in _RELU_LIKE else "glorot_uniform"


class MLP:
    """A multi-layer perceptron ``layer_sizes[0] -> ... -> layer_sizes[-1]``.

    Parameters
    ----------
    layer_sizes : sequence of int, at least two (inputs and outputs).
    activation : hidden activation: identity, relu, leaky_relu, sigmoid, tanh, elu, gelu.
    output : output activation: "softmax" (classification), "sigmoid" (binary /
        multi-label), "identity" (regression) or any activation name.  For softmax and
        sigmoid, ``forward`` returns logits and the losses take logits (stable, fused).
    init : glorot_uniform, glorot_normal, he_uniform or he_normal; default He for the
        ReLU family, Glorot otherwise.  Biases start at zero.
    alpha : slope of leaky_relu / scale of elu (default 0.01 / 1.0).
    dtype : "float32" (default) or "float64".
    seed : int or None: the initial weights (and fit's shuffling, unless fit gets a seed).
    """

    def __init__(self, layer_sizes, activation="relu", output="softmax", init=None,
                 dtype="float32", seed=None, alpha=None):
        sizes = list(layer_sizes)
        if len(sizes) < 2:
            raise ValueError(f"layer_sizes needs at least 2 entries (inputs, outputs), got {sizes}")
        for s in sizes:
            positive_int("layer_sizes entries", s)
        self.layer_sizes = [int(s) for s in sizes]
        for name, val in (("activation", activation), ("output", output)):
            if val not in ACTIVATION_CODES:
                raise ValueError(f"unknown {name} {val!r}; expected one of {sorted(ACTIVATION_CODES)}")
        if activation == "softmax":
            raise ValueError("softmax is an output activation, not a hidden one")
        self.activation, self.output = activation, output
        self.init = init or _init_for(activation)
        if self.init not in INITS:
            raise ValueError(f"unknown init {self.init!r}; expected one of {INITS}")
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype must be float32 or float64, got {self.dtype}")
        alpha_default = DEFAULT_ALPHA.get(activation, DEFAULT_ALPHA.get(output, 0.0))
        self.alpha = float(alpha_default if alpha is None else alpha)
        self.seed = seed
        n = sum(i * o + o for i, o in zip(sizes[:-1], sizes[1:]))
        # 64-byte aligned: every layer's rows then start where SIMD loads want them
        self.flat_params = _core.aligned_full(n, self.dtype, 0)
        self.flat_grads = _core.aligned_full(n, self.dtype, 0)
        self.W, self.b = self._views(self.flat_params)
        self.dW, self.db = self._views(self.flat_grads)
        self.optimizer = None
        self.stop_training = False
        self.history = None
        self._cache = None
        self.reset_parameters(seed)

    # -- structure --------------------------------------------------------------------
    def _views(self, flat):
        Ws, bs, off = [], [], 0
        for i, o in zip(self.layer_sizes[:-1], self.layer_sizes[1:]):
            Ws.append(flat[off:off + i * o].reshape(i, o))
            off += i * o
            bs.append(flat[off:off + o])
            off += o
        return Ws, bs

    @property
    def n_layers(self):
        return len(self.layer_sizes) - 1

    @property
    def n_params(self):
        return self.flat_params.size

    @property
    def n_classes(self):
        return self.layer_sizes[-1] if self.output == "softmax" else None

    def _acts(self):
        """Activation codes per layer as the kernels run them (logit outputs: identity)."""
        last = "identity" if self.output in LOGIT_OUTPUTS else self.output
        return [ACTIVATION_CODES[self.activation]] * (self.n_layers - 1) + [ACTIVATION_CODES[last]]

    def reset_parameters(self, seed=None):
        """Draw new initial weights (``init``) and zero the biases."""
        rng = np.random.default_rng(seed)
        for W in self.W:
            fan_in, fan_out = W.shape
            if self.init == "glorot_uniform":
                bound = math.sqrt(6.0 / (fan_in + fan_out))
                W[...] = rng.uniform(-bound, bound, W.shape)
            elif self.init == "glorot_normal":
                W[...] = rng.normal(0.0, math.sqrt(2.0 / (fan_in + fan_out)), W.shape)
            elif self.init == "he_uniform":
                bound = math.sqrt(6.0 / fan_in)
                W[...] = rng.uniform(-bound, bound, W.shape)
            else:
                W[...] = rng.normal(0.0, math.sqrt(2.0 / fan_in), W.shape)
        for b in self.b:
            b[...] = 0

    def parameters(self):
        """[W_0, b_0, W_1, b_1, ...] as views into the flat parameter buffer."""
        return [a for pair in zip(self.W, self.b) for a in pair]

    def gradients(self):
        """[dW_0, db_0, ...] as views into the flat gradient buffer."""
        return [a for pair in zip(self.dW, self.db) for a in pair]

    def get_weights(self):
        """Copies of [W_0, b_0, W_1, b_1, ...]."""
        return [a.copy() for a in self.parameters()]

    def set_weights(self, weights):
        """Load [W_0, b_0, ...] (shapes checked first; nothing changes on error)."""
        weights = list(weights)
        mine = self.parameters()
        if len(weights) != len(mine):
            raise ValueError(f"expected {len(mine)} arrays (W and b per layer), got {len(weights)}")
        arrays = []
        for k, (w, p) in enumerate(zip(weights, mine)):
            w = np.asarray(w)
            name = f"{'W' if k % 2 == 0 else 'b'}_{k // 2}"
            if w.shape != p.shape:
                raise ValueError(f"{name} has shape {w.shape}, expected {p.shape}")
            if not np.isfinite(w).all():
                raise ValueError(f"{name} contains NaN or inf values")
            arrays.append(w)
        for w, p in zip(arrays, mine):
            p[...] = w

    def __repr__(self):
        sizes = "-".join(map(str, self.layer_sizes))
        return (f"MLP({sizes}, activation={self.activation!r}, output={self.output!r}, "
                f"dtype={self.dtype.name}, params={self.n_params})")

    # -- input checks -----------------------------------------------------------------
    def _check_X(self, X, name="X"):
        if isinstance(X, (list, tuple)):
            X = np.asarray(X)
        if not isinstance(X, np.ndarray):
            raise TypeError(f"{name} must be an array, got {type(X).__name__}")
        if X.dtype.kind not in "biuf":
            raise TypeError(f"{name} must be numeric, got dtype {X.dtype}")
        if X.ndim != 2:
            raise ValueError(f"{name} must be 2-D (samples, features), got shape {X.shape}")
        if X.shape[1] != self.layer_sizes[0]:
            raise ValueError(f"{name} has {X.shape[1]} features, the model expects "
                             f"{self.layer_sizes[0]}")
        if X.shape[0] == 0:
            raise ValueError(f"{name} has no rows")
        X = np.ascontiguousarray(X, dtype=self.dtype)
        if not _core.all_finite(X.reshape(-1), get_num_threads()):
            raise ValueError(f"{name} contains NaN or inf values")
        return X

    def _default_loss(self):
        if self.output == "softmax":
            return "softmax_cross_entropy"
        if self.output == "sigmoid":
            return "bce"
        return "mse"

    def _resolve_loss(self, loss):
        loss = get_loss(self._default_loss() if loss in (None, "auto") else loss)
        if self.output in LOGIT_OUTPUTS and not loss.on_logits:
            raise ValueError(f"loss {loss.name!r} does not take logits, but output="
                             f"{self.output!r} makes the network return logits; use "
                             f"output='identity' for regression losses")
        if loss.name == "softmax_cross_entropy" and self.output not in ("softmax", "identity"):
            raise ValueError(f"softmax cross-entropy needs output='softmax', got {self.output!r}")
        if loss.name == "bce" and self.output not in ("sigmoid", "identity"):
            raise ValueError(f"binary cross-entropy needs output='sigmoid', got {self.output!r}")
        if loss.name == "softmax_cross_entropy" and self.layer_sizes[-1] < 2:
            raise ValueError("softmax cross-entropy needs at least 2 outputs")
        return loss

    # -- step-by-step API --------------------------------------------------------------
    def forward(self, x, n_threads=None):
        """Network output for a batch (logits for softmax/sigmoid outputs); caches what
        ``backward`` needs."""
        x = self._check_X(x, "x")
        nt = get_num_threads() if n_threads is None else n_threads
        acts, inputs, zs, ys = self._acts(), [], [], []
        inp = x
        for l in range(self.n_layers):
            n_out = self.layer_sizes[l + 1]
            z = _core.aligned_empty((x.shape[0], n_out), self.dtype)
            y = (z if acts[l] == ACTIVATION_CODES["identity"]
                 else _core.aligned_empty(z.shape, self.dtype))
            _core.layer_forward(acts[l], self.alpha, inp, self.W[l], self.b[l], z, y, nt)
            inputs.append(inp)
            zs.append(z)
            ys.append(y)
            inp = y
        self._cache = (inputs, zs, ys)
        return inp

    __call__ = forward

    def backward(self, grad_out, n_threads=None):
        """Backpropagate d loss / d output of the last ``forward``; parameter gradients
        accumulate (+=) into ``flat_grads`` (call ``optimizer.zero_grad()`` per step).
        Returns d loss / d input."""
        if self._cache is None:
            raise RuntimeError("backward() needs a forward() first")
        inputs, zs, ys = self._cache
        g = np.asarray(grad_out)
        if g.shape != ys[-1].shape:
            raise ValueError(f"grad_out has shape {g.shape}, expected {ys[-1].shape}")
        dy = np.array(g, dtype=self.dtype, order="C", copy=True)   # overwritten by dz
        nt = get_num_threads() if n_threads is None else n_threads
        acts = self._acts()
        for l in range(self.n_layers - 1, -1, -1):
            dx = _core.aligned_empty(inputs[l].shape, self.dtype)
            _core.layer_backward(acts[l], self.alpha, dy, zs[l], ys[l], inputs[l], self.W[l],
                                 self.dW[l], self.db[l], dx, nt)
            dy = dx
        return dy

    # -- fit ----------------------------------------------------------------------------
    def _targets(self, loss, y, n):
        """(float targets or None, int64 labels or None) for the fused loop."""
        shape = (n, self.layer_sizes[-1])
        t = loss.prepare_targets(y, shape)
        if t.dtype == np.int64 and t.ndim == 1:
            return None, t
        return np.ascontiguousarray(t, dtype=self.dtype), None

    def fit(self, X, y, *, loss="auto", optimizer="adam", lr=None, epochs=10, batch_size=32,
            shuffle=True, validation_split=0.0, validation_data=None, callbacks=None,
            clip_norm=None, clip_value=None, l1=0.0, l2=0.0, schedule=None, verbose=1,
            seed=None, ftz=True, n_threads=None, chunks_per_epoch=None, profile=False,
            sparse="auto"):
        """Train with mini-batch gradient descent; returns a History.

        ``batch_size=None`` is full-batch gradient descent, ``batch_size=1`` pure SGD.
        ``optimizer``: a name ('adam', 'sgd', 'adamw', 'rmsprop', 'adagrad') with ``lr``, or
        a cgrad.optim.Optimizer.  ``schedule``: a cgrad.schedules object or name, applied
        per epoch.  ``l1``/``l2`` penalise the weights (not the biases); ``clip_value``
        then ``clip_norm`` (global L2 norm) clip the gradients.  ``validation_split``
        holds out the last fraction of the data (before shuffling), as Keras does.
        ``ftz`` flushes float denormals to zero in the compiled loop (restored after).
        The whole epoch runs in compiled code with the GIL released; callbacks and the
        progress display run between chunks of batches.  ``profile=True`` times the
        phases of every step and adds per-epoch seconds to the logs and the History
        (``time_gather``, ``time_forward``, ``time_loss``, ``time_backward``,
        ``time_clip_norm``, ``time_update``), ``sparse_steps`` (steps whose first layer ran
        on compressed input rows) and ``sparse_hidden_steps`` (the same, summed over the
        hidden layers fed by a ReLU).
        ``sparse``: layers skip the exact zeros of their input: the first layer those of X,
        a layer fed by a ReLU those of its activations (compressed rows in the forward
        pass and the weight gradient), with the same fma chains as the dense kernels, so
        the same values (a zero's sign aside; a NaN/inf weight facing only zeros stays out
        of the loss).  'auto': the first layer when X is mostly zeros (at most 40%
        non-zero in a sample of rows; MNIST: 19%), ReLU-fed layers with at least 2^18
        weights, and any batch over 50% non-zero runs dense; True: every batch of every
        such layer (memory: 16 bytes per batch entry of its input); False: never.
        """
        loss_fn = self._resolve_loss(loss)
        X = self._check_X(X)
        n = X.shape[0]
        if np.asarray(y).shape[:1] != (n,):
            raise ValueError(f"y has {np.asarray(y).shape[:1]} rows, X has {n}")
        epochs = positive_int("epochs", epochs, minimum=0)
        if not (0.0 <= float(validation_split) < 1.0):
            raise ValueError(f"validation_split must be in [0, 1), got {validation_split}")
        if validation_data is not None and validation_split:
            raise ValueError("give validation_data or validation_split, not both")
        if validation_data is not None:
            Xv, yv = validation_data
            Xv = self._check_X(Xv, "validation_data X")
            yv = np.asarray(yv)
        elif validation_split:
            n_val = int(round(n * validation_split))
            if n_val < 1 or n_val >= n:
                raise ValueError(f"validation_split={validation_split} leaves {n - n_val} "
                                 f"training and {n_val} validation rows")
            Xv, yv = X[n - n_val:], np.asarray(y)[n - n_val:]
            X, y = X[:n - n_val], np.asarray(y)[:n - n_val]
            n = n - n_val
        else:
            Xv = yv = None
        Yf, Yi = self._targets(loss_fn, y, n)
        if Xv is not None:
            loss_fn.prepare_targets(yv, (Xv.shape[0], self.layer_sizes[-1]))   # checked now
        batch = n if batch_size is None else positive_int("batch_size", batch_size)
        batch = min(batch, n)
        for name, v in (("clip_norm", clip_norm), ("clip_value", clip_value)):
            if v is not None and not (v > 0 and math.isfinite(v)):
                raise ValueError(f"{name} must be a finite number > 0, got {v}")
        for name, v in (("l1", l1), ("l2", l2)):
            if not (v >= 0 and math.isfinite(v)):
                raise ValueError(f"{name} must be a finite number >= 0, got {v}")
        sparse = _core.sparse_mode(sparse)          # checked before the model is touched
        if verbose not in (0, 1, 2):
            raise ValueError(f"verbose must be 0, 1 or 2, got {verbose}")
        opt = get_optimizer(optimizer, **({} if lr is None or isinstance(optimizer, Optimizer)
                                          else {"lr": lr}))
        if isinstance(optimizer, Optimizer) and lr is not None:
            opt.lr = _nonneg("lr", lr)
        opt.attach(self)
        sched = None
        if schedule is not None:
            from .schedules import get_schedule
            sched = get_schedule(schedule, opt.lr)
        cbs = [_as_callback(c) for c in (callbacks or [])]
        history = History()
        if verbose:
            cbs.append(ProgressBar(live=None if verbose == 1 else False))
        cbs.append(history)
        for cb in cbs:
            cb.set_model(self)
        nt = get_num_threads() if n_threads is None else positive_int("n_threads", n_threads)
        self.optimizer, self.stop_training, self.history = opt, False, history

        trainer = _core.Trainer(self.flat_params, self.flat_grads, self.layer_sizes,
                                self._acts(), self.alpha, loss_fn.code,
                                self._acts()[-1] == ACTIVATION_CODES["identity"], X, Yf, Yi,
                                batch, opt.fused_spec(),
                                {"clip_norm": clip_norm, "clip_value": clip_value,
                                 "l1": float(l1), "l2": float(l2)}, bool(ftz),
                                sparse)
        trainer.timing = bool(profile)
        phase_before = trainer.phase_seconds
        sparse_before = trainer.sparse
        n_batches = -(-n // batch)
        live = any(isinstance(c, ProgressBar) and c._is_live() for c in cbs)
        if chunks_per_epoch is None:      # Python between chunks only if someone looks
            wants_chunks = live or any(type(c).on_chunk_end is not Callback.on_chunk_end
                                       for c in cbs if not isinstance(c, ProgressBar))
            chunks_per_epoch = 20 if wants_chunks else 1
        chunk = max(1, -(-n_batches // positive_int("chunks_per_epoch", chunks_per_epoch)))
        rng = np.random.default_rng(self.seed if seed is None else seed)
        classification = self._has_accuracy(loss_fn)
        begin = {"epochs": epochs, "samples": n, "batches": n_batches}
        for cb in cbs:
            cb.on_train_begin(begin)
        logs = {}
        for epoch in range(epochs):
            if sched is not None:
                opt.lr = _nonneg("the schedule's learning rate", sched(epoch))
            trainer.lr = opt.lr
            for cb in cbs:
                cb.on_epoch_begin(epoch, {"lr": opt.lr})
            if shuffle:
                trainer.set_order(rng.permutation(n).astype(np.int64))
            epoch_start = self.flat_params.copy()       # restored if this epoch diverges
            t0 = time.perf_counter()
            tot = np.zeros(5)
            done = 0
            while done < n_batches:
                k = min(chunk, n_batches - done)
                tot += trainer.run(done, k, nt)
                done += k
                part = {"loss": tot[0] / max(tot[1], 1), "samples_done": int(tot[1])}
                for cb in cbs:
                    cb.on_chunk_end(epoch, done, n_batches, part)
            secs = time.perf_counter() - t0
            opt.t = trainer.t
            logs = {"loss": float(tot[0] / tot[1])}
            if classification:
                logs["accuracy"] = float(tot[2] / tot[1])
            if Xv is not None:
                ev = self.evaluate(Xv, yv, loss=loss_fn, n_threads=nt)
                logs.update({f"val_{k}": v for k, v in ev.items()})
            logs.update({"lr": opt.lr, "seconds": secs, "grad_norm": float(tot[3] / tot[4])})
            if profile:
                phase_now = trainer.phase_seconds
                logs.update({f"time_{k}": phase_now[k] - phase_before[k] for k in phase_now})
                sparse_now = trainer.sparse
                steps = {l: sparse_now[l] - sparse_before[l] for l in sparse_now}
                logs["sparse_steps"] = steps.get(0, 0)
                logs["sparse_hidden_steps"] = sum(v for l, v in steps.items() if l > 0)
                phase_before, sparse_before = phase_now, sparse_now
            if not math.isfinite(logs["loss"]):
                self.flat_params[...] = epoch_start
                raise FloatingPointError(
                    f"training diverged at epoch {epoch + 1} (loss {logs['loss']}); the weights "
                    "from the start of that epoch were restored; lower the learning rate or "
                    "clip gradients (clip_norm=)")
            for cb in cbs:
                cb.on_epoch_end(epoch, logs)
            if sched is not None and hasattr(sched, "step"):
                sched.step(logs.get("val_loss", logs["loss"]))
            if self.stop_training:
                break
        for cb in cbs:
            cb.on_train_end(logs)
        return history

    # -- inference ----------------------------------------------------------------------
    def _forward_all(self, X, n_threads=None, block=4096):
        """Network output (logits for softmax/sigmoid) for all rows, in blocks."""
        X = self._check_X(X)
        nt = get_num_threads() if n_threads is None else n_threads
        acts = self._acts()
        out = np.empty((X.shape[0], self.layer_sizes[-1]), self.dtype)
        for s in range(0, X.shape[0], block):
            inp = X[s:s + block]
            for l in range(self.n_layers):
                z = _core.aligned_empty((inp.shape[0], self.layer_sizes[l + 1]), self.dtype)
                yv = (z if acts[l] == ACTIVATION_CODES["identity"]
                      else _core.aligned_empty(z.shape, self.dtype))
                _core.layer_forward(acts[l], self.alpha, inp, self.W[l], self.b[l], z, yv, nt)
                inp = yv
            out[s:s + inp.shape[0]] = inp
        return out

    def decision_function(self, X, n_threads=None):
        """Raw network output (logits for softmax/sigmoid outputs)."""
        return self._forward_all(X, n_threads)

    def predict_proba(self, X, n_threads=None):
        """Class probabilities (softmax output) or per-output probabilities (sigmoid)."""
        if self.output not in LOGIT_OUTPUTS:
            raise ValueError(f"predict_proba needs output='softmax' or 'sigmoid', "
                             f"got {self.output!r}")
        from . import ops
        z = self._forward_all(X, n_threads)
        return ops.softmax_forward(z) if self.output == "softmax" else ops.sigmoid_forward(z)

    def predict(self, X, n_threads=None):
        """Class labels (softmax: argmax; sigmoid: probability > 0.5) or the output values."""
        z = self._forward_all(X, n_threads)
        if self.output == "softmax":
            return z.argmax(axis=1)
        if self.output == "sigmoid":
            p = (z > 0).astype(np.int64)
            return p[:, 0] if p.shape[1] == 1 else p
        return z[:, 0] if z.shape[1] == 1 else z

    def evaluate(self, X, y, loss="auto", n_threads=None):
        """{'loss', 'accuracy'} for classifiers; {'loss', 'mse', 'mae', 'r2'} otherwise."""
        from . import metrics
        loss_fn = loss if isinstance(loss, Loss) else self._resolve_loss(loss)
        z = self._forward_all(X, n_threads)
        t = loss_fn.prepare_targets(y, z.shape)
        value, _ = loss_fn._compute(z, t)
        res = {"loss": float(value)}
        if self._has_accuracy(loss_fn):
            if z.shape[1] == 1:
                truth = (t[:, 0] > (0 if loss_fn.name == "binary_hinge" else 0.5)).astype(np.int64)
                pred = (z[:, 0] > 0).astype(np.int64)
            else:
                truth = t if t.ndim == 1 else t.argmax(axis=1)
                pred = z.argmax(axis=1)
            res["accuracy"] = float(metrics.accuracy(truth, pred))
        else:
            t2 = t.reshape(z.shape)
            res["mse"] = float(metrics.mean_squared_error(t2, z))
            res["mae"] = float(metrics.mean_absolute_error(t2, z))
            res["r2"] = float(metrics.r2_score(t2, z))
        return res

    def _has_accuracy(self, loss_fn):
        """Accuracy is single-label: one class per row (softmax/hinge) or one binary output.
        Several sigmoid outputs are multi-label, where an argmax 'accuracy' means nothing."""
        return loss_fn.classification and (self.layer_sizes[-1] == 1 or loss_fn.name in
                                           ("softmax_cross_entropy", "hinge"))

    def score(self, X, y):
        """Accuracy for classifiers, R^2 for regressors."""
        ev = self.evaluate(X, y)
        return ev.get("accuracy", ev.get("r2", -ev["loss"]))

    # -- persistence --------------------------------------------------------------------
    def config(self):
        return {"format": FORMAT_VERSION, "layer_sizes": self.layer_sizes,
                "activation": self.activation, "output": self.output, "init": self.init,
                "dtype": self.dtype.name, "alpha": self.alpha, "seed": self.seed}

    def save(self, path, optimizer=None):
        """Write architecture + weights (+ optimizer state) to one .npz, atomically:
        a temporary file in the same folder, then a rename over ``path``."""
        path = os.fspath(path)
        if not path.endswith(".npz"):
            path += ".npz"
        arrays = {"config": np.array(json.dumps(self.config())), "params": self.flat_params}
        if optimizer is not None:
            st = optimizer.state_dict()
            meta = {k: v for k, v in st.items() if k != "states"}
            meta["class"] = type(optimizer).__name__
            arrays["optimizer"] = np.array(json.dumps(meta))
            for i, s in enumerate(st["states"]):
                if s is not None:
                    arrays[f"optimizer_state_{i}"] = s
        folder = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(prefix=".cgrad-", suffix=".npz.tmp", dir=folder)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return path


def load(path, with_optimizer=False):
    """Load a model saved by ``MLP.save`` (validated); with ``with_optimizer=True`` return
    ``(model, optimizer or None)`` with the optimizer state restored for resuming."""

    path = os.fspath(path)
    if not path.endswith(".npz") and not os.path.exists(path) and os.path.exists(path + ".npz"):
        path += ".npz"                        # as save() names it
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path} is not a readable cgrad .npz file: {exc}") from exc
    with data:
        if "config" not in data or "params" not in data:
            raise ValueError(f"{path} is not a cgrad model (keys: {sorted(data.files)})")
        try:
            cfg = json.loads(str(data["config"]))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: corrupt model config: {exc}") from exc
        if cfg.get("format") != FORMAT_VERSION:
            raise ValueError(f"{path}: unsupported format {cfg.get('format')!r}")
        try:
            model = MLP(cfg["layer_sizes"], activation=cfg["activation"], output=cfg["output"],
                        init=cfg["init"], dtype=cfg["dtype"], seed=cfg.get("seed"),
                        alpha=cfg["alpha"])
        except KeyError as exc:
            raise ValueError(f"{path}: the model config lacks {exc}") from None
        params = data["params"]
        if params.shape != model.flat_params.shape:
            raise ValueError(f"{path}: {params.size} parameters stored, the architecture "
                             f"needs {model.n_params}")
        if not np.isfinite(params).all():
            raise ValueError(f"{path}: the stored parameters contain NaN or inf")
        model.flat_params[...] = params
        opt = None
        if with_optimizer and "optimizer" in data:
            meta = json.loads(str(data["optimizer"]))
            known = {c.__name__: c for c in OPTIMIZERS.values()}
            if meta.get("class") not in known:
                raise ValueError(f"{path}: unknown optimizer class {meta.get('class')!r}")
            cls = known[meta["class"]]
            opt = cls(model, **meta["hyperparams"])
            states = [data[f"optimizer_state_{i}"] if f"optimizer_state_{i}" in data else None
                      for i in range(3)]
            opt.load_state_dict({"kind": meta["kind"], "t": meta["t"], "states": states})
    return (model, opt) if with_optimizer else model
