"""Models: ``Sequential`` (a list of ``cgrad.nn`` layers) and ``MLP`` (its shorthand), with
one flat parameter buffer, the fused ``fit`` and the step-by-step API.

Layout of the flat buffers (parameters and gradients alike), layer by layer: Dense
``W`` (IN*OUT, row-major (IN, OUT), so a layer is literally ``x @ W + b``) then ``b``;
BatchNorm1d ``gamma`` then ``beta``.  Layers hold NumPy views into the buffers, an
optimizer step is one kernel over the whole buffer, and a checkpoint is one array.
BatchNorm1d's running statistics live in ``flat_buffers``.  The compiled core runs the
network from its layer table (``_core.Network``): fit, forward/backward and
predict/evaluate walk the same table through the same kernels.
"""
import json
import math
import os
import tempfile
import time

import numpy as np

from . import _core, nn
from ._config import get_num_threads
from ._validation import FLOAT_DTYPES, finite_for, positive_int
from .callbacks import Callback, History, ProgressBar, _as_callback
from .losses import Loss, get_loss
from .ops.activations import ACTIVATION_CODES, DEFAULT_ALPHA
from .optim import OPTIMIZERS, Optimizer, _nonneg, get_optimizer

__all__ = ["Sequential", "MLP", "load", "INITS"]

FORMAT_VERSION = 2                               # 1: MLP only, no running statistics
LOGIT_OUTPUTS = ("softmax", "sigmoid")          # forward() returns logits for these
INITS = ("glorot_uniform", "glorot_normal", "he_uniform", "he_normal")
_RELU_LIKE = ("relu", "leaky_relu", "elu", "gelu")
PREDICT_BLOCK = 1024                             # rows per block of predict/evaluate
SAVE_FORMATS = ("npz", "safetensors")


# What each parameterised layer kind owns: (parameter views, gradient views).
_PARAM_ATTRS = {nn.Dense: (("W", "b"), ("dW", "db")),
                nn.BatchNorm1d: (("gamma", "beta"), ("dgamma", "dbeta"))}


def _init_for(activation):
    return "he_uniform" if activation in _RELU_LIKE else "glorot_uniform"


def _draw(init, shape, rng):
    fan_in, fan_out = shape
    if init == "glorot_uniform":
        bound = math.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-bound, bound, shape)
    if init == "glorot_normal":
        return rng.normal(0.0, math.sqrt(2.0 / (fan_in + fan_out)), shape)
    if init == "he_uniform":
        bound = math.sqrt(6.0 / fan_in)
        return rng.uniform(-bound, bound, shape)
    return rng.normal(0.0, math.sqrt(2.0 / fan_in), shape)


class Sequential:
    """A network of ``cgrad.nn`` layers applied in order to ``n_inputs`` features.

    Parameters
    ----------
    n_inputs : int
        The number of input features, >= 1.
    layers : sequence of Layer
        cgrad.nn layers (Dense, Activation, Dropout, BatchNorm1d), at least one, each
        object once.
    output : str, default="softmax"
        "softmax" (classification) or "sigmoid" (binary / multi-label): the network
        returns logits and the losses take logits (stable, fused); "identity"
        (regression); any other activation name appends that Activation.
    init : str or None, default=None
        "glorot_uniform", "glorot_normal", "he_uniform" or "he_normal" for every Dense
        weight; None: He ("he_uniform") when the first hidden nonlinearity is of the
        ReLU family, Glorot ("glorot_uniform") otherwise.  Biases and beta start at
        zero, gamma at one.
    dtype : {"float32", "float64"}, default="float32"
        dtype of the parameters and of the computation.
    seed : int or None, default=None
        The initial weights, the dropout masks (and fit's shuffling, unless fit gets a
        seed).

    Raises
    ------
    TypeError
        If `n_inputs` is not an int, a layer is not a cgrad.nn layer, or `dtype` is not
        float32/float64.
    ValueError
        If `n_inputs` < 1, `layers` is empty or repeats an object, or `output` / `init`
        is unknown.
    """

    def __init__(self, n_inputs, layers, output="softmax", init=None, dtype="float32",
                 seed=None):
        n_inputs = positive_int("n_inputs", n_inputs)
        layers = list(layers)
        for i, layer in enumerate(layers):
            if not isinstance(layer, nn.Layer):
                raise TypeError(f"layers[{i}] must be a cgrad.nn layer, got "
                                f"{type(layer).__name__}")
        if not layers:
            raise ValueError("a Sequential model needs at least one layer")
        if len({id(layer) for layer in layers}) != len(layers):
            raise ValueError("a layer object appears twice; create one per position")
        if output not in ACTIVATION_CODES:
            raise ValueError(f"unknown output {output!r}; expected one of "
                             f"{sorted(ACTIVATION_CODES)}")
        if output not in LOGIT_OUTPUTS and output != "identity":
            layers.append(nn.Activation(output))
        self.output = output
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype must be float32 or float64, got {self.dtype}")
        width = n_inputs
        for layer in layers:
            width = layer._build(width)
        self.n_inputs, self.n_outputs, self.layers = n_inputs, width, layers
        self.init = init or _init_for(self._first_nonlinearity())
        if self.init not in INITS:
            raise ValueError(f"unknown init {self.init!r}; expected one of {INITS}")
        self.seed = seed
        self._allocate()
        seq = np.random.SeedSequence(seed)
        self._net = _core.Network(n_inputs, [layer._compiled() for layer in layers],
                                  self.flat_params, self.flat_grads, self.flat_buffers,
                                  int(seq.generate_state(1, np.uint64)[0]))
        self.training = True
        self.optimizer = None
        self.stop_training = False
        self.history = None
        self.saved_epoch = None           # the epochs done when loaded from a checkpoint
        self.reset_parameters(seed)

    def _first_nonlinearity(self):
        for layer in self.layers[:-1] if len(self.layers) > 1 else self.layers:
            act = getattr(layer, "activation", "identity")
            if act != "identity":
                return act
        return "identity"

    def _allocate(self):
        """The flat buffers (64-byte aligned: every layer's rows start where SIMD loads
        want them) and each layer's views into them."""
        n_params = sum(layer.n_params() for layer in self.layers)
        n_buffers = sum(2 * layer.n_in for layer in self.layers
                        if isinstance(layer, nn.BatchNorm1d))
        self.flat_params = _core.aligned_full(n_params, self.dtype, 0)
        self.flat_grads = _core.aligned_full(n_params, self.dtype, 0)
        self.flat_buffers = _core.aligned_full(n_buffers, self.dtype, 0)
        off = soff = 0
        for layer in self.layers:
            k = layer.n_params()
            s = 2 * layer.n_in if isinstance(layer, nn.BatchNorm1d) else 0
            layer._bind(self.flat_params[off:off + k], self.flat_grads[off:off + k],
                        self.flat_buffers[soff:soff + s])
            off, soff = off + k, soff + s

    # -- structure --------------------------------------------------------------------
    @property
    def n_params(self):
        """Total number of parameters (the size of ``flat_params``)."""
        return self.flat_params.size

    @property
    def n_classes(self):
        """Number of classes for a softmax output, else None."""
        return self.n_outputs if self.output == "softmax" else None

    @property
    def dense_layers(self):
        """The Dense layers, in order."""
        return [layer for layer in self.layers if isinstance(layer, nn.Dense)]

    @property
    def W(self):
        """The Dense layers' weight views, in order."""
        return [d.W for d in self.dense_layers]

    @property
    def b(self):
        """The Dense layers' bias views, in order."""
        return [d.b for d in self.dense_layers]

    @property
    def dW(self):
        """The Dense layers' weight-gradient views, in order."""
        return [d.dW for d in self.dense_layers]

    @property
    def db(self):
        """The Dense layers' bias-gradient views, in order."""
        return [d.db for d in self.dense_layers]

    @property
    def step_count(self):
        """Training-mode forward passes so far (fit's steps included): the dropout masks'
        step counter, saved with the model."""
        return self._net.step

    @property
    def dropout_seed(self):
        """The seed of the dropout masks (with `step_count`, it fixes every mask)."""
        return self._net.seed

    def specs(self):
        """The layers as plain data (cgrad.nn Layer.spec()).

        Returns
        -------
        list of dict
            One ``spec()`` per layer, in order.
        """
        return [layer.spec() for layer in self.layers]

    def _has(self, cls):
        return any(isinstance(layer, cls) for layer in self.layers)

    def train(self, mode=True):
        """Training mode for the step API (batch statistics, dropout on); returns self.

        Parameters
        ----------
        mode : bool, default=True
            True: training mode; False: eval mode.

        Returns
        -------
        Sequential
            This model.
        """
        self.training = bool(mode)
        return self

    def eval(self):
        """Eval mode for the step API (running statistics, no dropout); returns self.

        Returns
        -------
        Sequential
            This model.
        """
        return self.train(False)

    def reset_parameters(self, seed=None):
        """Draw new initial weights (``init``) in layer order; zero biases and beta, gamma
        one, running mean zero and running variance one.

        Parameters
        ----------
        seed : int or None, default=None
            Seed of the draw; None: fresh entropy.
        """
        rng = np.random.default_rng(seed)
        for layer in self.layers:
            if isinstance(layer, nn.Dense):
                layer.W[...] = _draw(self.init, layer.W.shape, rng)
                layer.b[...] = 0
            elif isinstance(layer, nn.BatchNorm1d):
                layer.gamma[...] = 1
                layer.beta[...] = 0
                layer.running_mean[...] = 0
                layer.running_var[...] = 1

    def _arrays(self, which):
        """Per parameterised layer in order: its parameter (which=0) or gradient (1) views."""
        res = []
        for layer in self.layers:
            for names in _PARAM_ATTRS.get(type(layer), ((), ()))[which]:
                res.append(getattr(layer, names))
        return res

    def parameters(self):
        """[W_0, b_0, ...] (gamma, beta for BatchNorm1d) as views into the flat buffer.

        Returns
        -------
        list of ndarray
            Views: writing to them changes the model.
        """
        return self._arrays(0)

    def gradients(self):
        """The gradients of parameters(), as views into the flat gradient buffer.

        Returns
        -------
        list of ndarray
            Views, in the order of `parameters`.
        """
        return self._arrays(1)

    def _param_names(self):
        """Names of parameters(): W_k, b_k for the k-th Dense (MLP's numbering), gamma_i,
        beta_i for the BatchNorm1d at layers[i]."""
        names, k = [], 0
        for i, layer in enumerate(self.layers):
            if isinstance(layer, nn.Dense):
                names += [f"W_{k}", f"b_{k}"]
                k += 1
            elif isinstance(layer, nn.BatchNorm1d):
                names += [f"gamma_{i}", f"beta_{i}"]
        return names

    def get_weights(self):
        """Copies of parameters().

        Returns
        -------
        list of ndarray
            Copies, in the order of `parameters`.
        """
        return [a.copy() for a in self.parameters()]

    def set_weights(self, weights):
        """Load arrays shaped as parameters() (checked first; nothing changes on error).

        Parameters
        ----------
        weights : sequence of array_like
            One array per entry of `parameters`, of its shape, finite.

        Raises
        ------
        ValueError
            If the count or a shape does not match, or an array holds NaN/inf.
        """
        weights = list(weights)
        mine = self.parameters()
        if len(weights) != len(mine):
            raise ValueError(f"expected {len(mine)} arrays (W and b per Dense, gamma and "
                             f"beta per BatchNorm1d), got {len(weights)}")
        arrays = []
        for name, w, p in zip(self._param_names(), weights, mine):
            w = np.asarray(w)
            if w.shape != p.shape:
                raise ValueError(f"{name} has shape {w.shape}, expected {p.shape}")
            if not np.isfinite(w).all():
                raise ValueError(f"{name} contains NaN or inf values")
            arrays.append(w)
        for w, p in zip(arrays, mine):
            p[...] = w

    def _snapshot(self):
        return self.flat_params.copy(), self.flat_buffers.copy()

    def _restore(self, snap):
        self.flat_params[...], self.flat_buffers[...] = snap

    def summary(self):
        """The layers with their output shapes and parameter counts, as a table.

        Returns
        -------
        str
            The table, one line per layer, and the parameter total.
        """
        rows = [("layer", "output", "params")]
        for layer in self.layers:
            rows.append((repr(layer), f"(None, {layer.n_out})", str(layer.n_params())))
        w = [max(len(r[i]) for r in rows) for i in range(3)]
        lines = [f"{type(self).__name__}: {self.n_inputs} inputs, output={self.output!r}, "
                 f"dtype={self.dtype.name}"]
        lines += [f"  {a:<{w[0]}}  {b:<{w[1]}}  {c:>{w[2]}}" for a, b, c in rows]
        lines.append(f"  total parameters: {self.n_params}")
        return "\n".join(lines)

    def __str__(self):
        return self.summary()

    def __repr__(self):
        layers = ", ".join(map(repr, self.layers))
        return (f"Sequential({self.n_inputs}, [{layers}], output={self.output!r}, "
                f"dtype={self.dtype.name}, params={self.n_params})")

    # -- input checks -----------------------------------------------------------------
    def _check_X(self, X, name="X", n_threads=None, as_is=False):
        """X as a C-contiguous array of the model dtype, checked (its finiteness on the
        caller's n_threads: an OpenMP region on more threads than a small call asked
        for stalls on a busy machine).  as_is: a C-contiguous float32/float64 X is
        returned as it is (fit's loop converts each batch as astype would), checked to
        fit the model dtype."""
        if isinstance(X, (list, tuple)):
            X = np.asarray(X)
        if not isinstance(X, np.ndarray):
            raise TypeError(f"{name} must be an array, got {type(X).__name__}")
        if X.dtype.kind not in "biuf":
            raise TypeError(f"{name} must be numeric, got dtype {X.dtype}")
        if X.ndim != 2:
            raise ValueError(f"{name} must be 2-D (samples, features), got shape {X.shape}")
        if X.shape[1] != self.n_inputs:
            raise ValueError(f"{name} has {X.shape[1]} features, the model expects "
                             f"{self.n_inputs}")
        if X.shape[0] == 0:
            raise ValueError(f"{name} has no rows")
        source = X
        if not (as_is and X.dtype in FLOAT_DTYPES and X.flags.c_contiguous):
            with np.errstate(over="ignore"):          # finite_for names an overflow
                X = np.ascontiguousarray(X, dtype=self.dtype)
        nt = get_num_threads() if n_threads is None else n_threads
        return finite_for(name, X, self.dtype, nt, source=source)

    def _default_loss(self):
        if self.output == "softmax":
            return "softmax_cross_entropy"
        if self.output == "sigmoid":
            return "bce_with_logits"
        return "mse"

    def _resolve_loss(self, loss):
        loss = get_loss(self._default_loss() if loss in (None, "auto") else loss)
        if self.output in LOGIT_OUTPUTS and not loss.on_logits:
            raise ValueError(f"loss {loss.name!r} does not take logits, but output="
                             f"{self.output!r} makes the network return logits; use "
                             f"output='identity' for regression losses")
        if loss.name == "softmax_cross_entropy" and self.output not in ("softmax", "identity"):
            raise ValueError(f"softmax cross-entropy needs output='softmax', got {self.output!r}")
        if loss.name == "bce_with_logits" and self.output not in ("sigmoid", "identity"):
            raise ValueError(f"binary cross-entropy needs output='sigmoid', got {self.output!r}")
        if loss.name == "softmax_cross_entropy" and self.n_outputs < 2:
            raise ValueError("softmax cross-entropy needs at least 2 outputs")
        return loss

    # -- step-by-step API --------------------------------------------------------------
    def forward(self, x, n_threads=None):
        """Network output for a batch (logits for softmax/sigmoid outputs), in the mode
        set by train()/eval(); ``backward`` then runs through this forward.

        Parameters
        ----------
        x : array_like, shape (batch, n_inputs)
            The batch, numeric and finite.
        n_threads : int or None, default=None
            OpenMP threads; None: `cgrad.get_num_threads`.

        Returns
        -------
        ndarray, shape (batch, n_outputs)
            The output, in the model's dtype.

        Raises
        ------
        TypeError
            If `x` is not a numeric array.
        ValueError
            If `x` is not 2-D with ``n_inputs`` columns, has no rows, or holds NaN/inf,
            or BatchNorm1d in training mode gets fewer than 2 rows.
        """
        x = self._check_X(x, "x", n_threads)
        if self.training and self._has(nn.BatchNorm1d) and x.shape[0] < 2:
            raise ValueError("BatchNorm1d in training mode needs at least 2 rows; call "
                             "model.eval() to run single rows")
        nt = get_num_threads() if n_threads is None else n_threads
        self._x = x
        return self._net.forward(x, self.training, nt)

    __call__ = forward

    def backward(self, grad_out, n_threads=None):
        """Backpropagate d loss / d output of the last ``forward``; parameter gradients
        accumulate (+=) into ``flat_grads`` (call ``optimizer.zero_grad()`` per step).
        Returns d loss / d input.

        Parameters
        ----------
        grad_out : array_like, shape (batch, n_outputs)
            d loss / d output of the last `forward`.
        n_threads : int or None, default=None
            OpenMP threads; None: `cgrad.get_num_threads`.

        Returns
        -------
        ndarray, shape (batch, n_inputs)
            d loss / d input.

        Raises
        ------
        RuntimeError
            If no `forward` came first.
        ValueError
            If `grad_out` does not have the output's shape.
        """
        if getattr(self, "_x", None) is None:
            raise RuntimeError("backward() needs a forward() first")
        g = np.asarray(grad_out)
        if g.shape != (self._x.shape[0], self.n_outputs):
            raise ValueError(f"grad_out has shape {g.shape}, expected "
                             f"{(self._x.shape[0], self.n_outputs)}")
        g = np.ascontiguousarray(g, dtype=self.dtype)
        nt = get_num_threads() if n_threads is None else n_threads
        return self._net.backward(g, True, nt)

    # -- fit ----------------------------------------------------------------------------
    def _targets(self, loss, y, n):
        """(float targets or None, int64 labels or None) for the fused loop."""
        t = loss.prepare_targets(y, (n, self.n_outputs))
        if t.dtype == np.int64 and t.ndim == 1:
            return None, t
        return np.ascontiguousarray(t, dtype=self.dtype), None

    def _split(self, X, y, validation_split, validation_data, n_threads):
        """(X, y, Xv, yv): the training rows and the validation set (or None, None)."""
        n = X.shape[0]
        if not (0.0 <= float(validation_split) < 1.0):
            raise ValueError(f"validation_split must be in [0, 1), got {validation_split}")
        if validation_data is not None and validation_split:
            raise ValueError("give validation_data or validation_split, not both")
        if validation_data is not None:
            Xv, yv = validation_data
            return X, y, self._check_X(Xv, "validation_data X", n_threads), np.asarray(yv)
        if validation_split:
            n_val = int(round(n * validation_split))
            if n_val < 1 or n_val >= n:
                raise ValueError(f"validation_split={validation_split} leaves {n - n_val} "
                                 f"training and {n_val} validation rows")
            y = np.asarray(y)
            Xv = np.ascontiguousarray(X[n - n_val:], dtype=self.dtype)   # once, not per epoch
            return X[:n - n_val], y[:n - n_val], Xv, y[n - n_val:]
        return X, y, None, None

    def _check_batch(self, batch, n):
        if self._has(nn.BatchNorm1d) and (batch < 2 or n % batch == 1):
            raise ValueError(f"BatchNorm1d in training needs at least 2 rows per batch; "
                             f"{n} rows in batches of {batch} leave a batch of 1 row: "
                             f"choose another batch_size")

    def fit(self, X, y, *, loss="auto", optimizer="adam", lr=None, epochs=10, batch_size=32,
            shuffle=True, validation_split=0.0, validation_data=None, callbacks=None,
            clip_norm=None, clip_value=None, l1=0.0, l2=0.0, schedule=None, verbose=1,
            seed=None, ftz=True, n_threads=None, chunks_per_epoch=None, profile=False,
            sparse="auto", on_nonfinite="raise", initial_epoch=0):
        """Train with mini-batch gradient descent in training mode; returns a History.

        The whole epoch runs in compiled code with the GIL released; callbacks and the
        progress display run between chunks of batches.  Ctrl-C during fit raises
        KeyboardInterrupt within a step: the weights and optimizer state are those of the
        last finished step, the History holds the finished epochs, and fit can be called
        again.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_inputs)
            Training inputs, numeric and finite.  A C-contiguous float32 or float64 array
            is read as it is, whatever the model dtype: each batch's rows are converted
            as they are gathered, as ``X.astype(model dtype)`` would convert them (same
            results, no converted copy of X; a float64 value beyond float32's range is
            refused for a float32 model).  Anything else is converted first.
        y : array_like
            Targets, one row per sample: integer labels or one-hot rows (softmax), 0/1
            targets (sigmoid), values (regression), as the loss takes them.
        loss : str or Loss, default="auto"
            A loss name or object; "auto": softmax cross-entropy for a softmax output,
            binary cross-entropy for sigmoid, mean squared error otherwise.
        optimizer : str or Optimizer, default="adam"
            A name ('adam', 'sgd', 'adamw', 'rmsprop', 'adagrad') with ``lr``, or a
            cgrad.optim.Optimizer.
        lr : float or None, default=None
            Learning rate; None: the optimizer's (its default, or the instance's own).
        epochs : int, default=10
            Number of epochs, >= 0 (with `initial_epoch`: the epoch to stop before).
        batch_size : int or None, default=32
            Rows per mini-batch; None: full-batch gradient descent, 1: pure SGD.
        shuffle : bool, default=True
            Shuffle the rows every epoch.
        validation_split : float, default=0.0
            Hold out the last fraction of the data (before shuffling), as Keras does, in
            [0, 1).
        validation_data : tuple or None, default=None
            ``(X_val, y_val)`` to evaluate after every epoch (not with
            `validation_split`).  Validation runs in eval mode and adds ``val_*`` keys.
        callbacks : list or None, default=None
            cgrad.callbacks.Callback objects, or functions ``f(epoch, logs)`` run at each
            epoch end.
        clip_norm : float or None, default=None
            Clip the gradients to this global L2 norm (after `clip_value`), > 0.
        clip_value : float or None, default=None
            Clip each gradient element to ``[-clip_value, clip_value]``, > 0.
        l1 : float, default=0.0
            L1 penalty on the Dense weights (not biases, not BatchNorm1d's gamma/beta).
        l2 : float, default=0.0
            L2 penalty on the Dense weights (not biases, not BatchNorm1d's gamma/beta).
        schedule : Schedule, str or None, default=None
            A cgrad.schedules object or name, applied per epoch.
        verbose : {0, 1, 2}, default=1
            0: silent; 1: a progress bar (live on a terminal); 2: one line per epoch.
        seed : int or None, default=None
            Seed of the shuffling; None: the model's seed.
        ftz : bool, default=True
            Flush float denormals to zero in the compiled loop (restored after).
        n_threads : int or None, default=None
            OpenMP threads; None: `cgrad.get_num_threads`.
        chunks_per_epoch : int or None, default=None
            Chunks of batches per epoch (Python runs between them); None: 20 when a live
            progress bar or a callback with ``on_chunk_end`` looks, else 1.
        profile : bool, default=False
            Time the phases of every step and add per-epoch seconds (``time_gather``,
            ``time_forward``, ``time_loss``, ``time_backward``, ``time_clip_norm``,
            ``time_update``); sample ``grad_norm_layers`` on every step (else on every
            16th step of a chunk: one more pass over the gradients); add
            ``sparse_steps`` (steps whose first layer ran on compressed input rows) and
            ``sparse_hidden_steps`` (the same, summed over the later Dense layers fed by
            a ReLU).
        sparse : {"auto", True, False}, default="auto"
            Dense layers skip the exact zeros of their input: the first layer those of
            X, a layer fed by a ReLU those of its activations (compressed rows in the
            forward pass and the weight gradient), with the same fma chains as the dense
            kernels, so the same values (a zero's sign aside; a NaN/inf weight facing
            only zeros stays out of the loss).  'auto': the first layer when X is mostly
            zeros (at most 40% non-zero in a sample of rows; MNIST: 19%), ReLU-fed layers
            with at least 2^18 weights, and any batch over 50% non-zero runs dense; True:
            every batch of every such layer (memory: 16 bytes per batch entry of its
            input); False: never.
        on_nonfinite : {"raise", "stop", "skip_batch"}, default="raise"
            Every step checks its loss and gradients (before clipping); a NaN or inf
            never reaches the weights.  "raise": FloatingPointError naming the epoch,
            step and layers, with the weights of the last finite step; "stop": training
            ends there with those weights (the History records the partial epoch and
            ``stopped``); "skip_batch": that step's update is skipped and counted
            (History ``skipped_batches``).
        initial_epoch : int, default=0
            Resume at this epoch (e.g. a checkpoint's ``saved_epoch``): epochs
            ``initial_epoch .. epochs-1`` run, shuffled and scheduled as they would have
            been in one uninterrupted fit with the same seed.

        Returns
        -------
        History
            Per epoch ``loss`` (and ``accuracy``), ``val_*``, ``lr``, ``seconds``,
            ``grad_norm`` (the mean global gradient norm before clipping) and
            ``grad_norm_layers`` (the mean gradient norm of each layer with parameters,
            in layer order, before clipping, over a sample of the epoch's steps).

        Raises
        ------
        ValueError
            If an argument or the data is invalid (checked before training starts).
        TypeError
            If the data or an argument has the wrong type.
        FloatingPointError
            With ``on_nonfinite="raise"``, when a step meets a NaN or inf.
        """
        loss_fn = self._resolve_loss(loss)
        nt = get_num_threads() if n_threads is None else positive_int("n_threads", n_threads)
        X, Yf, Yi, Xv, yv = self._fit_data(X, y, loss_fn, validation_split, validation_data,
                                           nt)
        n = X.shape[0]
        epochs = positive_int("epochs", epochs, minimum=0)
        initial_epoch = positive_int("initial_epoch", initial_epoch, minimum=0)
        batch = min(n if batch_size is None else positive_int("batch_size", batch_size), n)
        self._check_batch(batch, n)
        reg = _regularisation(clip_norm, clip_value, l1, l2)
        sparse = _core.sparse_mode(sparse)          # checked before the model is touched
        if verbose not in (0, 1, 2):
            raise ValueError(f"verbose must be 0, 1 or 2, got {verbose}")
        opt, sched = self._fit_optimizer(optimizer, lr, schedule)
        cbs, history = self._fit_callbacks(callbacks, verbose)
        self.optimizer, self.stop_training, self.history = opt, False, history
        trainer = _core.Trainer(self._net, X, Yf=Yf, Yi=Yi, batch=batch, loss=loss_fn.code,
                                opt=opt.fused_spec(), reg=reg, ftz=bool(ftz), sparse=sparse,
                                on_nonfinite=on_nonfinite)
        trainer.timing = bool(profile)
        n_batches = -(-n // batch)
        chunk = max(1, -(-n_batches // _chunks_per_epoch(chunks_per_epoch, cbs)))
        rng = np.random.default_rng(self.seed if seed is None else seed)
        for _ in range(initial_epoch if shuffle else 0):   # the orders of the epochs done
            rng.permutation(n)
        run = _EpochRunner(self, trainer, cbs, n, n_batches, chunk, nt, profile, on_nonfinite)
        for cb in cbs:
            cb.on_train_begin({"epochs": epochs, "samples": n, "batches": n_batches})
        logs = {}
        for epoch in range(initial_epoch, epochs):
            if sched is not None:
                opt.lr = _nonneg("the schedule's learning rate", sched(epoch))
            trainer.lr = opt.lr
            for cb in cbs:
                cb.on_epoch_begin(epoch, {"lr": opt.lr})
            if shuffle:
                trainer.set_order(rng.permutation(n).astype(np.int64))
            epoch_logs = run.epoch(epoch, self._has_accuracy(loss_fn))
            history.stopped = run.stopped
            if epoch_logs is None:
                break
            logs = epoch_logs
            if Xv is not None:
                ev = self.evaluate(Xv, yv, loss=loss_fn, n_threads=nt)
                logs.update({f"val_{k}": v for k, v in ev.items()})
            for cb in cbs:
                cb.on_epoch_end(epoch, logs)
            if sched is not None and hasattr(sched, "step"):
                sched.step(logs.get("val_loss", logs["loss"]))
            if self.stop_training:
                break
        for cb in cbs:
            cb.on_train_end(logs)
        return history

    def _fit_data(self, X, y, loss_fn, validation_split, validation_data, n_threads):
        """(X, float targets or None, int64 labels or None, Xv, yv), all checked; a
        C-contiguous float X of either dtype is kept (no converted copy)."""
        X = self._check_X(X, n_threads=n_threads, as_is=True)
        if np.asarray(y).shape[:1] != (X.shape[0],):
            raise ValueError(f"y has {np.asarray(y).shape[:1]} rows, X has {X.shape[0]}")
        X, y, Xv, yv = self._split(X, y, validation_split, validation_data, n_threads)
        Yf, Yi = self._targets(loss_fn, y, X.shape[0])
        if Xv is not None:
            loss_fn.prepare_targets(yv, (Xv.shape[0], self.n_outputs))   # checked now
        return X, Yf, Yi, Xv, yv

    def _fit_optimizer(self, optimizer, lr, schedule):
        """The optimizer, attached to this model, and the schedule (or None)."""
        opt = get_optimizer(optimizer, **({} if lr is None or isinstance(optimizer, Optimizer)
                                          else {"lr": lr}))
        if isinstance(optimizer, Optimizer) and lr is not None:
            opt.lr = _nonneg("lr", lr)
        opt.attach(self)
        if schedule is None:
            return opt, None
        from .schedules import get_schedule
        return opt, get_schedule(schedule, opt.lr)

    def _fit_callbacks(self, callbacks, verbose):
        """The callbacks (a progress bar when verbose) with the History last."""
        cbs = [_as_callback(c) for c in (callbacks or [])]
        history = History()
        if verbose:
            cbs.append(ProgressBar(live=None if verbose == 1 else False))
        cbs.append(history)
        for cb in cbs:
            cb.set_model(self)
        return cbs, history

    # -- inference ----------------------------------------------------------------------
    def _forward_all(self, X, n_threads=None):
        """Network output (logits for softmax/sigmoid) for all rows, in eval mode."""
        X = self._check_X(X, n_threads=n_threads)
        nt = get_num_threads() if n_threads is None else n_threads
        out = np.empty((X.shape[0], self.n_outputs), self.dtype)
        self._x = None
        return self._net.predict(X, out, PREDICT_BLOCK, nt)

    def decision_function(self, X, n_threads=None):
        """Raw network output (logits for softmax/sigmoid outputs), in eval mode.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_inputs)
            Inputs, numeric and finite.
        n_threads : int or None, default=None
            OpenMP threads; None: `cgrad.get_num_threads`.

        Returns
        -------
        ndarray, shape (n_samples, n_outputs)
            The network output.

        Raises
        ------
        TypeError
            If `X` is not a numeric array.
        ValueError
            If `X` is not 2-D with ``n_inputs`` columns, has no rows, or holds NaN/inf.
        """
        return self._forward_all(X, n_threads)

    def predict_proba(self, X, n_threads=None):
        """Class probabilities (softmax output) or per-output probabilities (sigmoid).

        Parameters
        ----------
        X : array_like, shape (n_samples, n_inputs)
            Inputs, numeric and finite.
        n_threads : int or None, default=None
            OpenMP threads; None: `cgrad.get_num_threads`.

        Returns
        -------
        ndarray, shape (n_samples, n_outputs)
            Probabilities: rows summing to 1 (softmax) or per output in [0, 1] (sigmoid).

        Raises
        ------
        TypeError
            If `X` is not a numeric array.
        ValueError
            If `X` is not 2-D with ``n_inputs`` columns, has no rows, or holds NaN/inf,
            or the output is neither softmax nor sigmoid.
        """
        if self.output not in LOGIT_OUTPUTS:
            raise ValueError(f"predict_proba needs output='softmax' or 'sigmoid', "
                             f"got {self.output!r}")
        from . import ops
        z = self._forward_all(X, n_threads)
        return ops.softmax_forward(z) if self.output == "softmax" else ops.sigmoid_forward(z)

    def predict(self, X, n_threads=None):
        """Class labels (softmax: argmax; sigmoid: probability > 0.5) or the output values.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_inputs)
            Inputs, numeric and finite.
        n_threads : int or None, default=None
            OpenMP threads; None: `cgrad.get_num_threads`.

        Returns
        -------
        ndarray
            Softmax: int labels, shape (n_samples,); sigmoid: int 0/1, shape (n_samples,) for
            one output, else (n_samples, n_outputs); otherwise the values, shape (n_samples,)
            for one output, else (n_samples, n_outputs).

        Raises
        ------
        TypeError
            If `X` is not a numeric array.
        ValueError
            If `X` is not 2-D with ``n_inputs`` columns, has no rows, or holds NaN/inf.
        """
        z = self._forward_all(X, n_threads)
        if self.output == "softmax":
            return z.argmax(axis=1)
        if self.output == "sigmoid":
            p = (z > 0).astype(np.int64)
            return p[:, 0] if p.shape[1] == 1 else p
        return z[:, 0] if z.shape[1] == 1 else z

    def evaluate(self, X, y, loss="auto", n_threads=None):
        """{'loss', 'accuracy'} for classifiers; {'loss', 'mse', 'mae', 'r2'} otherwise
        (eval mode).

        Parameters
        ----------
        X : array_like, shape (n_samples, n_inputs)
            Inputs, numeric and finite.
        y : array_like
            Targets, as `fit` takes them.
        loss : str or Loss, default="auto"
            The loss reported (as in `fit`).
        n_threads : int or None, default=None
            OpenMP threads; None: `cgrad.get_num_threads`.

        Returns
        -------
        dict
            Metric name -> float.

        Raises
        ------
        TypeError
            If `X` is not a numeric array.
        ValueError
            If `X` is not 2-D with ``n_inputs`` columns, has no rows, or holds NaN/inf,
            or `y` does not fit the loss.
        """
        from . import metrics
        loss_fn = loss if isinstance(loss, Loss) else self._resolve_loss(loss)
        z = self._forward_all(X, n_threads)
        t = loss_fn.prepare_targets(y, z.shape)
        value, _ = loss_fn._compute(z, t)
        res = {"loss": float(value)}
        if self._has_accuracy(loss_fn):
            if z.shape[1] == 1:
                truth = (t[:, 0] > (0 if loss_fn.name == "hinge_binary" else 0.5)).astype(np.int64)
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
        return loss_fn.classification and (self.n_outputs == 1 or loss_fn.name in
                                           ("softmax_cross_entropy", "hinge_multiclass"))

    def score(self, X, y):
        """Accuracy for classifiers, R^2 for regressors.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_inputs)
            Inputs, numeric and finite.
        y : array_like
            Targets, as `fit` takes them.

        Returns
        -------
        float
            Accuracy (classifiers), R^2 (regressors), or minus the loss when neither applies.

        Raises
        ------
        TypeError
            If `X` is not a numeric array.
        ValueError
            If `X` is not 2-D with ``n_inputs`` columns, has no rows, or holds NaN/inf,
            or `y` does not fit the loss.
        """
        ev = self.evaluate(X, y)
        return ev.get("accuracy", ev.get("r2", -ev["loss"]))

    # -- persistence --------------------------------------------------------------------
    def config(self):
        """The model's architecture as JSON-able data: what `save` stores and `load` rebuilds from.

        Returns
        -------
        dict
            Format version, class, sizes, layer specs, output, init, dtype, seed, dropout seed
            and step count.
        """
        return {"format": FORMAT_VERSION, "class": "Sequential", "n_inputs": self.n_inputs,
                "layers": self._user_specs(), "output": self.output, "init": self.init,
                "dtype": self.dtype.name, "seed": self.seed,
                "dropout_seed": str(self.dropout_seed), "step": int(self.step_count)}

    def _user_specs(self):
        """The specs of the layers given to the constructor (not the appended output)."""
        appended = self.output not in LOGIT_OUTPUTS and self.output != "identity"
        return self.specs()[:-1] if appended else self.specs()

    def _payload(self, optimizer=None, epoch=None):
        """What save() writes, in either format: ({name: JSON string} -- the model config
        and the optimizer's metadata --, {name: array} -- params, buffers and the
        optimizer's state slots ``optimizer_state_<i>``)."""
        cfg = self.config()
        if epoch is not None:
            cfg["epoch"] = positive_int("epoch", epoch, minimum=0)
        meta = {"config": json.dumps(cfg)}
        arrays = {"params": self.flat_params, "buffers": self.flat_buffers}
        if optimizer is not None:
            st = optimizer.state_dict()
            opt_meta = {k: v for k, v in st.items() if k != "states"}
            opt_meta["class"] = type(optimizer).__name__
            meta["optimizer"] = json.dumps(opt_meta)
            for i, s in enumerate(st["states"]):
                if s is not None:
                    arrays[f"optimizer_state_{i}"] = s
        return meta, arrays

    def save(self, path, optimizer=None, epoch=None, format=None):
        """Write architecture, weights, running statistics (+ optimizer state) to one
        .npz (or, with ``format="safetensors"``, one .safetensors file: the arrays as
        tensors, the config and optimizer metadata as JSON strings in its header
        metadata, with a SHA-256 of the tensors; needs the safetensors package),
        atomically: a temporary file in the same folder, fsync, a rename over ``path``,
        fsync of the folder.  ``format=None``: safetensors if ``path`` ends with
        .safetensors, else npz.  Loading never runs code (no pickle).  ``epoch``: the epochs
        done (a checkpoint's; ``load`` gives it back as ``saved_epoch``).

        Parameters
        ----------
        path : str or os.PathLike
            Destination; the extension of `format` is appended if missing.
        optimizer : Optimizer or None, default=None
            Also save this optimizer's state (to resume training).
        epoch : int or None, default=None
            The epochs done, >= 0 (stored; `load` gives it back as ``saved_epoch``).
        format : {"npz", "safetensors"} or None, default=None
            None: "safetensors" if `path` ends with .safetensors, else "npz".

        Returns
        -------
        str
            The path written.

        Raises
        ------
        ValueError
            If `format` is unknown.
        ImportError
            If the safetensors format is asked and the package is missing.
        """
        path = os.fspath(path)
        if format is None:
            format = "safetensors" if path.endswith(".safetensors") else "npz"
        if format not in SAVE_FORMATS:
            raise ValueError(f"format must be one of {SAVE_FORMATS}, got {format!r}")
        if not path.endswith("." + format):
            path += "." + format
        meta, arrays = self._payload(optimizer, epoch)
        if format == "npz":
            members = {"config": np.array(meta.pop("config"))}
            members.update(params=arrays.pop("params"), buffers=arrays.pop("buffers"))
            members.update({k: np.array(v) for k, v in meta.items()}, **arrays)

            def write(f):
                np.savez(f, **members)
        else:
            data = _safetensors_bytes(meta, arrays)

            def write(f):
                f.write(data)
        folder = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(prefix=".cgrad-", suffix=f".{format}.tmp", dir=folder)
        try:
            with os.fdopen(fd, "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        _fsync_folder(folder)                  # the rename itself survives a crash
        return path


def _import_safetensors():
    try:
        import safetensors.numpy
    except ImportError as exc:
        raise ImportError('the safetensors format needs the safetensors package: pip install '
                          f'"cgrad[safetensors]" (or pip install safetensors): {exc}') from exc
    return safetensors


def _tensors_digest(arrays):
    """SHA-256 over the tensors (name, dtype, shape, bytes, in name order): safetensors
    has no checksum of its own, and a flipped bit in the data would load silently."""
    import hashlib
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _safetensors_bytes(meta, arrays):
    st = _import_safetensors()
    arrays = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    return st.numpy.save(arrays, metadata={**meta, "sha256": _tensors_digest(arrays)})


def _is_safetensors(path):
    """By extension, else by content: an 8-byte header length then a JSON object (a .npz
    is a zip: it starts with PK)."""
    if path.endswith(".safetensors"):
        return True
    try:
        with open(path, "rb") as f:
            head = f.read(9)
    except OSError:
        return False
    return len(head) == 9 and not head.startswith(b"PK") and head[8:9] == b"{"


def _read_safetensors(path):
    """({name: JSON string}, {name: array}) of a .safetensors file, its checksum verified."""
    st = _import_safetensors()
    with open(path, "rb") as f:
        data = f.read()
    try:
        arrays = st.numpy.load(data)
    except st.SafetensorError as exc:
        raise ValueError(str(exc)) from None
    n = int.from_bytes(data[:8], "little")     # valid: load() parsed this header
    meta = json.loads(data[8:8 + n].decode("utf-8")).get("__metadata__") or {}
    if "config" not in meta or "params" not in arrays:
        raise ValueError(f"{path} is not a cgrad model (metadata: {sorted(meta)}, "
                         f"tensors: {sorted(arrays)})")
    if meta.get("sha256") != _tensors_digest(arrays):
        raise ValueError(f"{path}: corrupt file: the tensors do not match their checksum")
    return meta, arrays


def _fsync_folder(folder):
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _regularisation(clip_norm, clip_value, l1, l2):
    for name, v in (("clip_norm", clip_norm), ("clip_value", clip_value)):
        if v is not None and not (v > 0 and math.isfinite(v)):
            raise ValueError(f"{name} must be a finite number > 0, got {v}")
    for name, v in (("l1", l1), ("l2", l2)):
        if not (v >= 0 and math.isfinite(v)):
            raise ValueError(f"{name} must be a finite number >= 0, got {v}")
    return {"clip_norm": clip_norm, "clip_value": clip_value, "l1": float(l1), "l2": float(l2)}


def _chunks_per_epoch(chunks_per_epoch, cbs):
    """Python runs between chunks only if someone looks: a live progress bar or a
    callback with on_chunk_end."""
    if chunks_per_epoch is None:
        live = any(isinstance(c, ProgressBar) and c._is_live() for c in cbs)
        wants = live or any(type(c).on_chunk_end is not Callback.on_chunk_end
                            for c in cbs if not isinstance(c, ProgressBar))
        return 20 if wants else 1
    return positive_int("chunks_per_epoch", chunks_per_epoch)


class _EpochRunner:
    """One epoch of fit: the compiled chunks, the callbacks between them, the epoch's
    logs, and the restore of the epoch's starting weights if it diverged."""

    def __init__(self, model, trainer, cbs, n, n_batches, chunk, nt, profile, policy):
        self.model, self.trainer, self.cbs = model, trainer, cbs
        self.trainer_policy, self.stopped = policy, None
        self.n, self.n_batches, self.chunk, self.nt = n, n_batches, chunk, nt
        self.profile = profile
        self.phase_before = trainer.phase_seconds
        self.sparse_before = model._net.sparse_steps

    def epoch(self, epoch, classification):
        model, trainer = self.model, self.trainer
        start = model._snapshot()              # restored if an update overflowed
        t0 = time.perf_counter()
        tot, norms, sampled, skipped, done = np.zeros(5), 0.0, 0, 0, 0
        while done < self.n_batches:
            k = min(self.chunk, self.n_batches - done)
            res = trainer.run(done, k, self.nt)
            tot += res["stats"]
            norms, sampled = norms + np.asarray(res["layer_norms"]), sampled + res["sampled"]
            skipped += res["skipped"]
            model.optimizer.t = trainer.t
            if res["stop"] == "interrupt":
                raise KeyboardInterrupt
            if res["stop"] == "nonfinite":
                self._nonfinite(epoch, res, start)
                break
            done += k
            part = {"loss": tot[0] / max(tot[1], 1), "samples_done": int(tot[1])}
            for cb in self.cbs:
                cb.on_chunk_end(epoch, done, self.n_batches, part)
        if tot[4] == 0 and self.stopped is not None:   # stopped before any step finished
            return None
        rows, steps = max(tot[1], 1), max(tot[4], 1)    # every step skipped: NaN means
        logs = {"loss": float(tot[0] / rows) if tot[1] else math.nan}
        if classification:
            logs["accuracy"] = float(tot[2] / rows) if tot[1] else math.nan
        logs.update({"lr": model.optimizer.lr, "seconds": time.perf_counter() - t0,
                     "grad_norm": float(tot[3] / steps) if tot[4] else math.nan,
                     "grad_norm_layers": [float(v) for v in
                                          np.atleast_1d(norms) / max(sampled, 1)]})
        if self.trainer_policy == "skip_batch":
            logs["skipped_batches"] = skipped
        if self.stopped is not None:
            logs["stopped"] = self.stopped
        if self.profile:
            self._profile_logs(logs)
        return logs

    def _nonfinite(self, epoch, res, start):
        """A step met a NaN/inf (its update was not made): say where, then raise or stop."""
        model = self.model
        what = [] if res["loss_finite"] else ["the loss"]
        what += [f"the gradient of layers[{i}] ({model.layers[i]!r})" for i in res["bad_layers"]]
        msg = (f"NaN or inf in {', '.join(what) or 'the gradient'} at epoch {epoch + 1}, "
               f"step {res['batch'] + 1} of the epoch (training step {self.trainer.t + 1})")
        if res["params_finite"]:
            msg += "; the weights are those of the last finite step"
        else:                                  # an earlier update overflowed the weights
            model._restore(start)
            msg += "; an update had overflowed the weights: they were restored from the "
            msg += "start of the epoch"
        if self.trainer_policy == "raise":
            raise FloatingPointError(msg + ": lower the learning rate or clip gradients "
                                     "(clip_norm=)")
        model.stop_training = True
        self.stopped = msg

    def _profile_logs(self, logs):
        phase_now = self.trainer.phase_seconds
        logs.update({f"time_{k}": phase_now[k] - self.phase_before[k] for k in phase_now})
        sparse_now = self.model._net.sparse_steps
        steps = {i: sparse_now[i] - self.sparse_before.get(i, 0) for i in sparse_now}
        logs["sparse_steps"] = steps.get(0, 0)
        logs["sparse_hidden_steps"] = sum(v for i, v in steps.items() if i > 0)
        self.phase_before, self.sparse_before = phase_now, sparse_now


class MLP(Sequential):
    """A multi-layer perceptron: the shorthand for a Sequential of Dense layers.

    ``layer_sizes[0] -> ... -> layer_sizes[-1]``: per hidden layer, Dense(n, activation)
    -- or, with ``batch_norm``, Dense(n) -> BatchNorm1d -> Activation(activation) --
    then Dropout(dropout) if dropout > 0; and the output Dense.

    Parameters
    ----------
    layer_sizes : sequence of int
        At least two sizes, each >= 1: inputs, hidden layers, outputs.
    activation : str, default="relu"
        Hidden activation: identity, relu, leaky_relu, sigmoid, tanh, elu, gelu.
    output : str, default="softmax"
        Output activation: "softmax" (classification), "sigmoid" (binary / multi-label),
        "identity" (regression) or any activation name.  For softmax and sigmoid,
        ``forward`` returns logits and the losses take logits (stable, fused).
    init : str or None, default=None
        "glorot_uniform", "glorot_normal", "he_uniform" or "he_normal"; None: He
        ("he_uniform") for the ReLU family, Glorot ("glorot_uniform") otherwise.  Biases
        start at zero.
    dtype : {"float32", "float64"}, default="float32"
        dtype of the parameters and of the computation.
    seed : int or None, default=None
        The initial weights, the dropout masks (and fit's shuffling, unless fit gets a
        seed).
    alpha : float or None, default=None
        Slope of leaky_relu / scale of elu; None: 0.01 / 1.0.
    dropout : float, default=0.0
        p of a Dropout after every hidden layer, in [0, 1) (0: none).
    batch_norm : bool, default=False
        A BatchNorm1d between every hidden Dense and its activation.

    Raises
    ------
    ValueError
        If `layer_sizes` has fewer than 2 entries, an activation is unknown (or softmax
        is asked as the hidden one), or `dropout` is not in [0, 1).

    Examples
    --------
    >>> import cgrad
    >>> model = cgrad.MLP([64, 32, 10], seed=0)
    >>> model.n_params
    2410
    """

    def __init__(self, layer_sizes, activation="relu", output="softmax", init=None,
                 dtype="float32", seed=None, alpha=None, dropout=0.0, batch_norm=False):
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
        self.activation = activation
        alpha_default = DEFAULT_ALPHA.get(activation, DEFAULT_ALPHA.get(output, 0.0))
        self.alpha = float(alpha_default if alpha is None else alpha)
        self.dropout = float(dropout)
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.batch_norm = bool(batch_norm)
        layers = []
        for n_out in self.layer_sizes[1:-1]:
            if self.batch_norm:
                layers += [nn.Dense(n_out), nn.BatchNorm1d(),
                           nn.Activation(activation, self.alpha)]
            else:
                layers.append(nn.Dense(n_out, activation, self.alpha))
            if self.dropout > 0:
                layers.append(nn.Dropout(self.dropout))
        out_alpha = self.alpha if output == activation else None
        if output in LOGIT_OUTPUTS or output == "identity":
            layers.append(nn.Dense(self.layer_sizes[-1]))
        else:
            layers.append(nn.Dense(self.layer_sizes[-1], output, out_alpha))
        super().__init__(self.layer_sizes[0], layers, output="identity", init=init or
                         _init_for(activation), dtype=dtype, seed=seed)
        self.output = output

    @property
    def n_layers(self):
        """Dense layers."""
        return len(self.layer_sizes) - 1

    def config(self):
        """The model's architecture as JSON-able data: what `save` stores and `load` rebuilds from.

        Returns
        -------
        dict
            As `Sequential.config`, with the MLP's arguments (layer sizes, activation, alpha,
            dropout, batch norm) instead of the layer specs.
        """
        cfg = super().config()
        cfg.update({"class": "MLP", "layer_sizes": self.layer_sizes,
                    "activation": self.activation, "alpha": self.alpha,
                    "dropout": self.dropout, "batch_norm": self.batch_norm})
        del cfg["layers"]
        return cfg

    def __repr__(self):
        sizes = "-".join(map(str, self.layer_sizes))
        extra = (f", dropout={self.dropout}" if self.dropout else "") + \
                (", batch_norm=True" if self.batch_norm else "")
        return (f"MLP({sizes}, activation={self.activation!r}, output={self.output!r}"
                f"{extra}, dtype={self.dtype.name}, params={self.n_params})")


def _model_from_config(cfg, path):
    """The model a saved config describes (format 1: MLP; 2: MLP or Sequential)."""
    fmt = cfg.get("format")
    if fmt not in (1, FORMAT_VERSION):
        raise ValueError(f"{path}: unsupported format {fmt!r}")
    try:
        if fmt == 1 or cfg["class"] == "MLP":
            extra = {} if fmt == 1 else {"dropout": cfg["dropout"],
                                         "batch_norm": cfg["batch_norm"]}
            model = MLP(cfg["layer_sizes"], activation=cfg["activation"],
                        output=cfg["output"], init=cfg["init"], dtype=cfg["dtype"],
                        seed=cfg.get("seed"), alpha=cfg["alpha"], **extra)
        elif cfg["class"] == "Sequential":
            model = Sequential(cfg["n_inputs"], [nn.from_spec(s) for s in cfg["layers"]],
                               output=cfg["output"], init=cfg["init"], dtype=cfg["dtype"],
                               seed=cfg.get("seed"))
        else:
            raise ValueError(f"{path}: unknown model class {cfg['class']!r}")
    except KeyError as exc:
        raise ValueError(f"{path}: the model config lacks {exc}") from None
    if fmt == FORMAT_VERSION:
        model._net.reseed(int(cfg["dropout_seed"]), int(cfg["step"]))
    return model


def load(path, with_optimizer=False):
    """Load a model saved by ``save`` (validated; version-1 files of earlier cgrad
    releases too), from a .npz or a .safetensors file (told apart by the extension, else
    by the content); with ``with_optimizer=True`` return ``(model, optimizer or None)``
    with the optimizer state restored for resuming.  A truncated, corrupted, unknown or
    mismatched file raises ValueError; nothing is unpickled.

    Parameters
    ----------
    path : str or os.PathLike
        The file (".npz" or ".safetensors" is appended if `path` does not exist and the
        extended one does).
    with_optimizer : bool, default=False
        Also return the saved optimizer, its state restored.

    Returns
    -------
    Sequential or tuple
        The model (an MLP if it was saved as one); with `with_optimizer`, ``(model,
        optimizer or None)``.

    Raises
    ------
    ValueError
        If the file is truncated, corrupted, unknown or does not match its architecture.
    """
    import zipfile
    import zlib
    path = os.fspath(path)
    if not os.path.exists(path):
        for ext in (".npz", ".safetensors"):    # as save() names it
            if not path.endswith(ext) and os.path.exists(path + ext):
                path += ext
                break
    kind = "safetensors" if _is_safetensors(path) else "npz"
    try:
        return _load(path, with_optimizer, kind)
    except ValueError as exc:
        if str(exc).startswith(path):          # ours: it names the file and the problem
            raise
        raise ValueError(f"{path} is not a readable cgrad .{kind} file: {exc}") from exc
    except (OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
        raise ValueError(f"{path} is not a readable cgrad .{kind} file: {exc}") from exc


def _load(path, with_optimizer, kind="npz"):
    if kind == "safetensors":
        meta, arrays = _read_safetensors(path)
        return _from_payload(path, meta, arrays, with_optimizer)
    data = np.load(path, allow_pickle=False)
    with data:
        if "config" not in data or "params" not in data:
            raise ValueError(f"{path} is not a cgrad model (keys: {sorted(data.files)})")
        meta = {"config": str(data["config"])}
        if with_optimizer and "optimizer" in data:
            meta["optimizer"] = str(data["optimizer"])
        return _from_payload(path, meta, data, with_optimizer)


def _from_payload(path, meta, arrays, with_optimizer):
    """The model (and optimizer) of what save() wrote, either format: ``meta`` {name: JSON
    string}, ``arrays`` a mapping of name -> array; everything checked before use."""
    try:
        cfg = json.loads(meta["config"])
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: corrupt model config: {exc}") from exc
    if not isinstance(cfg, dict):
        raise ValueError(f"{path}: corrupt model config")
    model = _model_from_config(cfg, path)
    model.saved_epoch = cfg.get("epoch")
    checks = [("params", "parameters", model.flat_params)]
    if cfg.get("format") == FORMAT_VERSION:
        checks.append(("buffers", "running statistics", model.flat_buffers))
    checked = []
    for key, what, mine in checks:             # all checked before anything is copied
        if key not in arrays:
            raise ValueError(f"{path}: the file lacks its {what} ({key!r})")
        stored = arrays[key]
        if stored.shape != mine.shape:
            raise ValueError(f"{path}: {stored.size} {what} stored, the architecture "
                             f"needs {mine.size}")
        if not np.isfinite(stored).all():
            raise ValueError(f"{path}: the stored {what} contain NaN or inf")
        checked.append((mine, stored))
    for mine, stored in checked:
        mine[...] = stored
    opt = None
    if with_optimizer and "optimizer" in meta:
        opt_meta = json.loads(meta["optimizer"])
        known = {c.__name__: c for c in OPTIMIZERS.values()}
        if opt_meta.get("class") not in known:
            raise ValueError(f"{path}: unknown optimizer class {opt_meta.get('class')!r}")
        cls = known[opt_meta["class"]]
        opt = cls(model, **opt_meta["hyperparams"])
        states = [arrays[f"optimizer_state_{i}"] if f"optimizer_state_{i}" in arrays else None
                  for i in range(3)]
        opt.load_state_dict({"kind": opt_meta["kind"], "t": opt_meta["t"], "states": states})
    return (model, opt) if with_optimizer else model
