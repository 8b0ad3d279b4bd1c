"""scikit-learn drop-in estimators over cgrad's compiled core: ``MLPClassifier`` and
``MLPRegressor``.

They take scikit-learn's parameter names, defaults and meanings
(``sklearn.neural_network.MLPClassifier``/``MLPRegressor``) and set the same fitted
attributes; the training runs in cgrad's compiled loop.  scikit-learn and SciPy are an
optional extra (``pip install "cgrad[sklearn]"``) imported only by this module.

The objective is scikit-learn's: the mean data loss (log-loss summed over the outputs for
the logistic outputs, half the mean squared error, half the Poisson deviance) weighted by
``sample_weight`` if given, plus ``(alpha / 2 * ||W||^2 + l1 * |W|_1) / S`` on the weights
(not the intercepts), where ``S`` is the number (or the summed weight) of the rows the
loss is taken over: every sample for ``lbfgs``/``cg``, the batch's rows for the
stochastic solvers.  ``loss_`` and ``loss_curve_`` report that objective.

With ``init="sklearn"`` (the default) the initial weights are drawn as scikit-learn
draws them, from the same ``random_state`` stream, and the early-stopping split and the
per-epoch shuffles come from that stream too, so a cgrad estimator starts from the same
weights and sees the same batches as scikit-learn's with the same ``random_state``.

More than scikit-learn: ``solver`` also 'adamw', 'rmsprop', 'adagrad' (cgrad's
optimizers) and 'cg' (SciPy's nonlinear conjugate gradient over the same full-batch
objective as 'lbfgs'); ``dropout``, ``batch_norm``, ``clip_norm``, ``l1``,
``class_weight``, ``schedule``, ``callbacks``, ``validation_loss_curve_`` (and
``record_validation`` to record the validation metrics without early stopping),
``dtype`` (float32 default), ``n_threads``, ``n_restarts`` with ``n_jobs`` and
``deterministic``.
"""
import copy
import math
import numbers
import time
import warnings

try:
    import scipy.optimize
    import scipy.sparse
    import scipy.special
    import sklearn
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        f"cgrad.sklearn needs scikit-learn >= 1.6 and SciPy >= 1.10 ({exc}); install them "
        "with: pip install \"cgrad[sklearn]\"") from exc

try:
    from sklearn.utils.validation import validate_data
except ImportError as exc:  # pragma: no cover - scikit-learn < 1.6
    raise ImportError(
        f"cgrad.sklearn needs scikit-learn >= 1.6 (found {sklearn.__version__}); upgrade "
        "with: pip install -U \"cgrad[sklearn]\"") from exc

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state, column_or_1d
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import type_of_target, unique_labels
from sklearn.utils.validation import _check_sample_weight, check_is_fitted
from threadpoolctl import threadpool_limits

from . import _core, nn
from ._config import get_num_threads
from ._objective import full_batch_trainer
from ._validation import finite_for
from .callbacks import _as_callback
from .model import MLP, Sequential, _model_from_config
from .optim import SGD, Adagrad, Adam, AdamW, RMSprop
from .schedules import Schedule, get_schedule

__all__ = ["MLPClassifier", "MLPRegressor"]

STOCHASTIC_SOLVERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad")
FULL_BATCH_SOLVERS = ("lbfgs", "cg")
SOLVERS = STOCHASTIC_SOLVERS + FULL_BATCH_SOLVERS
HIDDEN_ACTIVATIONS = ("identity", "logistic", "tanh", "relu", "sigmoid", "leaky_relu",
                      "elu", "gelu")
INITS = ("sklearn", "glorot_uniform", "glorot_normal", "he_uniform", "he_normal")
# (cgrad loss name, model output) per loss kind; poisson has no compiled loss
_LOSS_KINDS = {"ce": ("softmax_cross_entropy", "softmax"), "bce": ("bce", "sigmoid"),
               "mse": ("mse", "identity"), "poisson": (None, "identity")}


# ---------------------------------------------------------------------------------------
# the losses in scikit-learn's scale, computed on the host (weighted rows, Poisson)
def _run_chunk(trainer, first, n_batches, nt):
    """Batches of the compiled loop; their row-weighted loss sum.  Ctrl-C and a NaN/inf
    step (stopped before its update) raise here."""
    res = trainer.run(first, n_batches, nt)
    if res["stop"] == "interrupt":
        raise KeyboardInterrupt
    if res["stop"] == "nonfinite":
        raise FloatingPointError(f"NaN or inf in the loss or gradients at step "
                                 f"{res['batch'] + 1} of the epoch; the weights are those "
                                 f"of the last finite step: lower learning_rate_init")
    return res["stats"][0]


def _host_loss(kind, z, T, w):
    """(value, d value / d z) of the mean loss in scikit-learn's scale for network outputs
    ``z`` (logits for ce/bce, log-mean for poisson), targets ``T`` (int labels for ce,
    float (n, k) otherwise) and row weights ``w`` (None: all one); float64."""
    z = np.asarray(z, dtype=np.float64)
    n, k = z.shape
    rows = np.arange(n)
    if kind == "ce":
        zmax = z.max(axis=1, keepdims=True)
        e = np.exp(z - zmax)
        s = e.sum(axis=1, keepdims=True)
        per_row = (np.log(s[:, 0]) + zmax[:, 0]) - z[rows, T]
        d = e / s
        d[rows, T] -= 1.0
    elif kind == "bce":
        per_row = (np.logaddexp(0.0, z) - T * z).sum(axis=1)
        d = scipy.special.expit(z) - T
    elif kind == "mse":
        r = z - T
        per_row = 0.5 * (r * r).mean(axis=1)
        d = r / k
    else:                                   # poisson, log link: mu = exp(z)
        with np.errstate(over="ignore"):
            mu = np.exp(z)
        per_row = (scipy.special.xlogy(T, T) - T * z + mu - T).sum(axis=1)
        d = mu - T
    if w is None:
        return float(per_row.mean()), d / n
    total = float(w.sum())
    if total <= 0:
        return 0.0, np.zeros_like(d)
    return float(np.dot(w, per_row) / total), d * (w / total)[:, None]


def _weights_penalty(model, alpha, l1):
    """(alpha / 2 * ||W||^2 + l1 * |W|_1 over the Dense weights, and its gradient per
    weight matrix)."""
    value, grads = 0.0, []
    for W in model.W:
        W64 = W.astype(np.float64)
        value += 0.5 * alpha * float(np.dot(W64.ravel(), W64.ravel()))
        g = alpha * W64
        if l1:
            value += l1 * float(np.abs(W64).sum())
            g += l1 * np.sign(W64)
        grads.append(g)
    return value, grads


# ---------------------------------------------------------------------------------------
# pickling the compiled model
def _dump_model(model):
    return {"config": model.config(), "params": model.flat_params.copy(),
            "buffers": model.flat_buffers.copy()}


def _load_model(state):
    model = _model_from_config(state["config"], "<pickle>")
    model.flat_params[...] = state["params"]
    model.flat_buffers[...] = state["buffers"]
    return model


def _dump_optimizer(opt):
    return {"class": type(opt), "hyperparams": opt.hyperparams(), "state": opt.state_dict()}


def _load_optimizer(state, model):
    opt = state["class"](model, **state["hyperparams"])
    opt.load_state_dict(state["state"])
    return opt


class _MaxFunReached(Exception):
    pass


def _fit_restart(est, X, T, y_raw, sw, val, seed):
    """One restart of n_restarts (run in a joblib worker, or in this process); a restart
    that diverges comes back with its error instead of ending the others."""
    est = copy.copy(est)
    est.random_state = seed
    try:
        est._fit_once(X, T, y_raw, sw, incremental=False, first_pass=True, validation=val)
    except (ValueError, FloatingPointError) as exc:
        if "non-finite" not in str(exc):
            raise
        est._restart_error = str(exc)
    return est


class _BaseMLP(BaseEstimator):
    """The shared machinery; use MLPClassifier or MLPRegressor."""

    # -- parameters ---------------------------------------------------------------------
    def _check_params(self):
        def real(name, lo=None, hi=None, lo_open=False, hi_open=False, allow_inf=False):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Real) or math.isnan(v) or \
                    (not allow_inf and math.isinf(v)):
                raise ValueError(f"{name} must be a finite real number, got {v!r}")
            if lo is not None and (v < lo or (lo_open and v == lo)):
                raise ValueError(f"{name} must be {'>' if lo_open else '>='} {lo}, got {v!r}")
            if hi is not None and (v > hi or (hi_open and v == hi)):
                raise ValueError(f"{name} must be {'<' if hi_open else '<='} {hi}, got {v!r}")
            return float(v)

        def integer(name, lo):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < lo:
                raise ValueError(f"{name} must be an int >= {lo}, got {v!r}")
            return int(v)

        def option(name, choices):
            v = getattr(self, name)
            if not isinstance(v, str) or v not in choices:
                raise ValueError(f"{name} must be one of {list(choices)}, got {v!r}")
            return v

        sizes = self.hidden_layer_sizes
        if isinstance(sizes, numbers.Integral) and not isinstance(sizes, bool):
            sizes = [sizes]
        try:
            sizes = list(sizes)
        except TypeError:
            raise ValueError(f"hidden_layer_sizes must be an int or a sequence of ints, got "
                             f"{self.hidden_layer_sizes!r}") from None
        for s in sizes:
            if isinstance(s, bool) or not isinstance(s, numbers.Integral) or s <= 0:
                raise ValueError(f"hidden_layer_sizes must be > 0, got {self.hidden_layer_sizes!r}.")
        option("activation", HIDDEN_ACTIVATIONS)
        option("solver", SOLVERS)
        real("alpha", 0)
        if not (isinstance(self.batch_size, str) and self.batch_size == "auto"):
            integer("batch_size", 1)
        option("learning_rate", ("constant", "invscaling", "adaptive"))
        real("learning_rate_init", 0, lo_open=True)
        real("power_t", 0)
        integer("max_iter", 1)
        real("tol", 0)
        real("momentum", 0, 1)
        real("validation_fraction", 0, 1, hi_open=True)
        real("beta_1", 0, 1, hi_open=True)
        real("beta_2", 0, 1, hi_open=True)
        real("epsilon", 0, lo_open=True)
        if not (isinstance(self.n_iter_no_change, float) and self.n_iter_no_change == np.inf):
            integer("n_iter_no_change", 1)
        integer("max_fun", 1)
        option("init", INITS)
        real("dropout", 0, 1, hi_open=True)
        if self.clip_norm is not None:
            real("clip_norm", 0, lo_open=True)
        real("l1", 0)
        if np.dtype(self.dtype) not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64, got {self.dtype!r}")
        if self.n_threads is not None:
            integer("n_threads", 1)
        integer("n_restarts", 1)
        if self.schedule is not None and not isinstance(self.schedule, (str, Schedule)):
            raise ValueError(f"schedule must be None, a name or a cgrad.schedules.Schedule, "
                             f"got {self.schedule!r}")
        if self.solver in FULL_BATCH_SOLVERS and self.dropout > 0:
            raise ValueError(f"dropout needs a stochastic solver: the full-batch objective "
                             f"of solver={self.solver!r} must not change between evaluations")
        return [int(s) for s in sizes]

    def _threads(self):
        return get_num_threads() if self.n_threads is None else int(self.n_threads)

    def _seed(self):
        if self.random_state is None and self.deterministic:
            return 0
        return self.random_state

    # -- input --------------------------------------------------------------------------
    def _to_dense(self, X):
        if scipy.sparse.issparse(X):
            X = X.toarray()
        X = np.ascontiguousarray(X, dtype=np.dtype(self.dtype))
        return X if X.flags.writeable else X.copy()     # the core takes writable arrays

    def _to_train(self, X):
        """fit's X (validated): a C-contiguous dense array as it is (the compiled loop
        converts each batch as astype would; no copy of X), else _to_dense's copy; a
        float64 X for a float32 network checked to fit float32 (validate_data checked
        its finiteness)."""
        dense = not scipy.sparse.issparse(X) and X.flags.c_contiguous
        X_fit = X if dense else self._to_dense(X)
        if X.dtype == np.float64 and np.dtype(self.dtype) == np.float32:
            finite_for("X", X_fit, self.dtype, self._threads(), source=X)
        return X_fit

    def _check_X_predict(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse=["csr", "csc"], dtype=(np.float64, np.float32),
                          reset=False)
        return self._to_dense(X)

    # -- fit ----------------------------------------------------------------------------
    def _check_solver(self):
        """partial_fit's availability (sklearn's ``available_if``): stochastic solvers only."""
        if self.solver not in STOCHASTIC_SOLVERS:
            raise AttributeError(f"partial_fit is only available for stochastic optimizers. "
                                 f"{self.solver} is not stochastic.")
        return True

    def _fit(self, X, y, sample_weight=None, incremental=False):
        hidden = self._check_params()
        first_pass = not hasattr(self, "coefs_") or (not self.warm_start and not incremental)
        X, T, y_raw = self._validate_input(X, y, incremental, reset=first_pass)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64)
        sample_weight = self._class_weighted(sample_weight, y_raw)
        X = self._to_train(X)
        self._hidden = hidden
        if self.n_restarts > 1 and first_pass and not incremental:
            return self._fit_restarts(X, T, y_raw, sample_weight)
        self._fit_once(X, T, y_raw, sample_weight, incremental, first_pass)
        return self

    def _class_weighted(self, sample_weight, y_raw):
        return sample_weight

    def _fit_restarts(self, X, T, y_raw, sw):
        """n_restarts models from different seeds on the same training rows; the one
        with the lowest loss on the held-out validation_fraction is kept."""
        from joblib import Parallel, delayed
        if self.validation_fraction <= 0:
            raise ValueError("n_restarts > 1 keeps the restart with the best validation "
                             "loss: validation_fraction must be > 0")
        rs = check_random_state(self._seed())
        seeds = [int(s) for s in rs.randint(np.iinfo(np.int32).max, size=self.n_restarts)]
        Xtr, Ttr, ytr, swtr, val = self._split(X, T, y_raw, sw, rs)
        proto = copy.copy(self)
        proto.n_restarts, proto.record_validation = 1, True
        fits = Parallel(n_jobs=self.n_jobs)(
            delayed(_fit_restart)(proto, Xtr, Ttr, ytr, swtr, val, s) for s in seeds)
        losses = [np.inf if hasattr(f, "_restart_error") else
                  f._best_validation_loss if f.early_stopping else f.validation_loss_curve_[-1]
                  for f in fits]
        finite = np.isfinite(losses)
        if not finite.any():
            raise ValueError(f"every restart failed: {fits[0]._restart_error}")
        best = int(np.argmin(np.where(finite, losses, np.inf)))
        for key, value in vars(fits[best]).items():
            if key not in self._get_param_names():
                setattr(self, key, value)
        self.restart_seeds_ = seeds
        self.restart_validation_losses_ = [float(v) for v in losses]
        self.best_restart_ = best
        return self

    def _split(self, X, T, y_raw, sw, rs):
        """scikit-learn's early-stopping split (stratified for single-output classifiers)."""
        # as scikit-learn: stratified on the binarized y when it has one column
        stratify = T if self._is_clf and T.shape[1] == 1 else None
        parts = [X, T, y_raw] + ([sw] if sw is not None else [])
        out = train_test_split(*parts, random_state=rs, test_size=self.validation_fraction,
                               stratify=stratify)
        Xtr, Xv, Ttr, Tv, ytr, yv = out[:6]
        swtr, swv = (out[6], out[7]) if sw is not None else (None, None)
        if Xv.shape[0] < 2:
            raise ValueError("The validation set is too small. Increase 'validation_fraction' "
                             "or the size of your dataset.")
        return Xtr, Ttr, ytr, swtr, (Xv, Tv, yv, swv)

    def _build_model(self, n_features, n_outputs, kind, rs):
        act = "sigmoid" if self.activation == "logistic" else self.activation
        init = None if self.init == "sklearn" else self.init
        model = MLP([n_features] + self._hidden + [n_outputs], activation=act,
                    output=_LOSS_KINDS[kind][1], init=init, dtype=self.dtype,
                    seed=int(rs.randint(np.iinfo(np.int32).max)) if self.init != "sklearn"
                    or self.dropout > 0 else None,
                    dropout=self.dropout, batch_norm=self.batch_norm)
        if self.init == "sklearn":
            # scikit-learn's _init_coef: per layer, coefs then intercepts, uniform in
            # +-sqrt(factor / (fan_in + fan_out)), factor 2 for logistic, else 6
            factor = 2.0 if self.activation == "logistic" else 6.0
            for W, b in zip(model.W, model.b):
                fan_in, fan_out = W.shape
                bound = np.sqrt(factor / (fan_in + fan_out))
                W[...] = rs.uniform(-bound, bound, (fan_in, fan_out))
                b[...] = rs.uniform(-bound, bound, fan_out)
        return model

    def _initialize(self, T, n_features, rs):
        kind = self._out_kind(T)
        self._kind = kind
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = T.shape[1]
        self.n_layers_ = len(self._hidden) + 2
        self.out_activation_ = {"ce": "softmax", "bce": "logistic", "mse": "identity",
                                "poisson": "exp"}[kind]
        self.model_ = self._build_model(n_features, T.shape[1], kind, rs)
        self._bind_views()
        self.loss_curve_ = []
        self.validation_loss_curve_ = []
        self._no_improvement_count = 0
        self._best_snapshot = self.model_._snapshot()
        self.validation_scores_ = [] if self.early_stopping or self.record_validation else None
        self.best_validation_score_ = -np.inf if self.early_stopping else None
        self.best_loss_ = None if self.early_stopping else np.inf
        self._best_validation_loss = np.inf
        if hasattr(self, "_optimizer"):
            del self._optimizer

    def _bind_views(self):
        """coefs_/intercepts_: views into the compiled model's flat parameter buffer."""
        self.coefs_ = list(self.model_.W)
        self.intercepts_ = list(self.model_.b)

    def _check_warm(self, n_features, T):
        m = self.model_
        want = [n_features] + self._hidden + [T.shape[1]]
        act = "sigmoid" if self.activation == "logistic" else self.activation
        if (m.layer_sizes != want or m.activation != act or m.dtype != np.dtype(self.dtype)
                or m.dropout != float(self.dropout) or m.batch_norm != bool(self.batch_norm)):
            raise ValueError(
                f"warm_start/partial_fit continue the fitted network ({'-'.join(map(str, m.layer_sizes))}, "
                f"{m.activation}, {m.dtype.name}); the parameters or the data now ask for "
                f"{'-'.join(map(str, want))}, {act}, {np.dtype(self.dtype).name}: refit with "
                "warm_start=False")

    def _fit_once(self, X, T, y_raw, sw, incremental, first_pass, validation=None):
        rs = check_random_state(self._seed())
        self._random_state = rs
        self.n_threads_ = self._threads()         # this fit's OpenMP thread budget
        if first_pass:
            self._initialize(T, X.shape[1], rs)
        else:
            self._check_warm(X.shape[1], T)
        if self.solver in STOCHASTIC_SOLVERS:
            self._fit_stochastic(X, T, y_raw, sw, incremental, rs, validation)
        else:
            self._fit_full_batch(X, T, y_raw, sw, validation)
        if not np.isfinite(self.model_.flat_params).all():
            raise ValueError("Solver produced non-finite parameter weights. The input data may"
                             " contain large values and need to be preprocessed.")

    # scale: cgrad's compiled losses are mean over rows (ce) or elements (bce, mse);
    # scikit-learn's loss = c * cgrad's, so the compiled objective is sklearn's / c
    def _scale(self):
        return {"ce": 1.0, "bce": float(self.n_outputs_), "mse": 0.5, "poisson": 1.0}[self._kind]

    def _targets(self, T, rows=None):
        """(Yf, Yi) for the compiled trainer, or the host-loss targets (Yi or Yf)."""
        T = T if rows is None else T[rows]
        if self._kind == "ce":
            return None, np.ascontiguousarray(T.argmax(axis=1), dtype=np.int64)
        return np.array(T, dtype=np.dtype(self.dtype), order="C"), None   # a writable copy

    def _fused(self, sw):
        return sw is None and self._kind != "poisson"

    # -- stochastic solvers ------------------------------------------------------------
    def _make_optimizer(self, c):
        """The cgrad optimizer for the compiled objective (scikit-learn's / c): SGD's rate
        times c and the adaptive methods' epsilon over c give scikit-learn's steps."""
        s, lr = self.solver, self.learning_rate_init
        if s == "sgd":
            return SGD(self.model_, lr=lr * c, momentum=self.momentum,
                       nesterov=bool(self.nesterovs_momentum) and self.momentum > 0)
        if s == "adam":
            return Adam(self.model_, lr=lr, betas=(self.beta_1, self.beta_2),
                        eps=self.epsilon / c)
        if s == "adamw":
            return AdamW(self.model_, lr=lr, betas=(self.beta_1, self.beta_2),
                         eps=self.epsilon / c, weight_decay=self.alpha)
        if s == "rmsprop":
            return RMSprop(self.model_, lr=lr, eps=self.epsilon / c)
        return Adagrad(self.model_, lr=lr, eps=self.epsilon / c)

    def _l2_alpha(self):
        """alpha as an L2 penalty in the objective (AdamW decays the weights instead)."""
        return 0.0 if self.solver == "adamw" else float(self.alpha)

    def _fit_stochastic(self, X, T, y_raw, sw, incremental, rs, validation):
        model, c = self.model_, self._scale()
        if not incremental or not hasattr(self, "_optimizer"):
            self._optimizer = self._make_optimizer(c)
            self._lr = float(self.learning_rate_init)
        opt = self._optimizer
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        if validation is None and (self.early_stopping or self.record_validation):
            X, T, y_raw, sw, validation = self._split(X, T, y_raw, sw, rs)
        if validation is not None and self.validation_scores_ is None:
            self.validation_scores_ = []
        n = X.shape[0]
        if self.batch_size == "auto":
            batch = min(200, n)
        else:
            if self.batch_size > n:
                warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is "
                              "going to be clipped")
            batch = int(np.clip(self.batch_size, 1, n))
        if self.batch_norm and (batch < 2 or n % batch == 1):
            raise ValueError(f"batch_norm needs at least 2 rows in every batch; {n} rows in "
                             f"batches of {batch} leave a batch of 1 row: choose another "
                             "batch_size")
        nt = self._threads()
        alpha, l1 = self._l2_alpha(), float(self.l1)
        fused = self._fused(sw)
        sched, epoch0 = None, 0
        if self.schedule is not None:       # partial_fit: one schedule over all its calls
            if incremental and getattr(self, "_schedule", None) is not None:
                epoch0 = len(self.loss_curve_)
            else:
                kw = {"t_max": self.max_iter} if self.schedule == "cosine" else {}
                self._schedule = get_schedule(
                    copy.deepcopy(self.schedule) if isinstance(self.schedule, Schedule)
                    else self.schedule, self.learning_rate_init, **kw)
            sched = self._schedule
        cbs = [_as_callback(cb) for cb in (self.callbacks or [])]
        for cb in cbs:
            cb.set_model(model)
        model.stop_training = False
        n_batches = -(-n // batch)
        last_rows = n - (n_batches - 1) * batch
        clip = None if self.clip_norm is None else float(self.clip_norm) / c
        if fused:
            Yf, Yi = self._targets(T)
            trainer = _core.Trainer(model._net, X, Yf=Yf, Yi=Yi, batch=batch,
                                    loss=self._compiled_loss_code(), opt=opt.fused_spec(),
                                    reg={"clip_norm": clip, "l1": l1 / (c * batch),
                                         "l2": alpha / (c * batch)})
        else:
            T_host = T.argmax(axis=1) if self._kind == "ce" else T.astype(np.float64)
        if cbs:
            for cb in cbs:
                cb.on_train_begin({"epochs": self.max_iter, "samples": n, "batches": n_batches})
        sample_idx = np.arange(n, dtype=np.int64)
        self.n_iter_ = 0
        logs = {}
        for it in range(self.max_iter):
            if sched is not None:
                self._lr = float(sched(epoch0 + it))
            opt.lr = self._lr * (c if self.solver == "sgd" else 1.0)
            if self.shuffle:
                # sklearn.utils.shuffle(sample_idx, random_state=rs), without its checks
                perm = np.arange(n)
                rs.shuffle(perm)
                sample_idx = sample_idx[perm]
            t0 = time.perf_counter()
            if fused:
                trainer.lr = opt.lr
                trainer.set_order(np.ascontiguousarray(sample_idx, dtype=np.int64))
                loss_sum = self._run_fused(trainer, n_batches, batch, last_rows, c, alpha, l1, nt)
                opt.t = trainer.t
                data_loss = c * loss_sum / n
            else:
                data_loss = self._run_host_epoch(X, T_host, sw, sample_idx, batch, c, alpha,
                                                 l1, clip, nt)
            seconds = time.perf_counter() - t0
            self.n_iter_ += 1
            self.loss_ = float(data_loss)        # with each batch's penalty, as scikit-learn
            self.t_ += n
            self.loss_curve_.append(self.loss_)
            if self.verbose:
                print("Iteration %d, loss = %.8f" % (self.n_iter_, self.loss_))
            logs = {"loss": self.loss_, "lr": self._lr, "seconds": seconds}
            if not math.isfinite(self.loss_):
                break
            self._update_no_improvement_count(validation, logs)
            if self.solver == "sgd" and self.learning_rate == "invscaling" and sched is None:
                self._lr = float(self.learning_rate_init) / (self.t_ + 1) ** self.power_t
            for cb in cbs:
                cb.on_epoch_end(it, logs)
            if sched is not None and hasattr(sched, "step"):
                sched.step(logs.get("val_loss", logs["loss"]))
            if model.stop_training:
                break
            if self._no_improvement_count > self.n_iter_no_change:
                if self._trigger_stopping(validation is not None and self.early_stopping):
                    break
                self._no_improvement_count = 0
            if incremental:
                break
            if self.n_iter_ == self.max_iter:
                warnings.warn("Stochastic Optimizer: Maximum iterations (%d) reached and the "
                              "optimization hasn't converged yet." % self.max_iter,
                              ConvergenceWarning)
        for cb in cbs:
            cb.on_train_end(logs)
            cb.set_model(None)          # the estimator (its callbacks) stays picklable
        if self.early_stopping and validation is not None:
            model._restore(self._best_snapshot)

    def _compiled_loss_code(self):
        from .losses import get_loss
        return get_loss(_LOSS_KINDS[self._kind][0]).code

    def _run_fused(self, trainer, n_batches, batch, last_rows, c, alpha, l1, nt):
        """One epoch in the compiled loop; the last, smaller batch gets its own penalty
        (scikit-learn divides alpha by the rows of each batch).  Returns the sum over the
        batches of rows * (mean loss + penalty), in the compiled objective's scale."""
        if last_rows == batch:
            return _run_chunk(trainer, 0, n_batches, nt) + trainer.penalty_sum
        total = 0.0
        if n_batches > 1:
            total += _run_chunk(trainer, 0, n_batches - 1, nt) + trainer.penalty_sum
        trainer.l2, trainer.l1 = alpha / (c * last_rows), l1 / (c * last_rows)
        loss_sum = _run_chunk(trainer, n_batches - 1, 1, nt)
        trainer.l2, trainer.l1 = alpha / (c * batch), l1 / (c * batch)
        return total + loss_sum + trainer.penalty_sum

    def _host_objective(self, xb, tb, wb, c, alpha, l1, nt):
        """Training-mode forward, host loss (weighted), backward and the penalty: the
        compiled objective's value (scikit-learn's / c) with its gradient in flat_grads."""
        model = self.model_
        model.train()
        z = model.forward(xb, n_threads=nt)
        value, dz = _host_loss(self._kind, z, tb, wb)
        model.flat_grads[...] = 0
        model.backward((dz / c).astype(model.dtype), n_threads=nt)
        S = xb.shape[0] if wb is None else float(wb.sum())
        pen = 0.0
        if (alpha or l1) and S > 0:
            pen, pgrads = _weights_penalty(model, alpha, l1)
            pen /= S
            for dW, g in zip(model.dW, pgrads):
                dW += (g / (c * S)).astype(model.dtype)
        return value, pen

    def _run_host_epoch(self, X, T, sw, order, batch, c, alpha, l1, clip, nt):
        """One epoch through the step API with the loss on the host (row weights,
        Poisson): exactly scikit-learn's weighted objective per batch."""
        model, opt = self.model_, self._optimizer
        total = 0.0
        n = X.shape[0]
        for start in range(0, n, batch):
            idx = order[start:start + batch]
            wb = None if sw is None else sw[idx]
            if wb is not None and not wb.sum() > 0:
                continue                               # no weight, no step
            value, pen = self._host_objective(X[idx], T[idx], wb, c, alpha, l1, nt)
            total += (value + pen) * len(idx)          # scikit-learn's batch loss * rows
            if clip is not None:
                norm = float(np.sqrt(np.dot(model.flat_grads.astype(np.float64),
                                            model.flat_grads.astype(np.float64))))
                if norm > clip:
                    model.flat_grads *= model.dtype.type(clip / (norm + 1e-6))
            opt.step()
        return total / n

    def _validation_metrics(self, validation):
        Xv, Tv, yv, swv = validation
        z = self.model_.decision_function(Xv, n_threads=self._threads()).astype(np.float64)
        tv = Tv.argmax(axis=1) if self._kind == "ce" else Tv.astype(np.float64)
        loss, _ = _host_loss(self._kind, z, tv, swv)
        if not np.isfinite(z).all():
            return np.nan, loss
        score = self._score_function(yv, self._predict_from_output(z), sample_weight=swv)
        return float(score), float(loss)

    def _update_no_improvement_count(self, validation, logs):
        if validation is not None:
            score, vloss = self._validation_metrics(validation)
            logs.update({"val_score": score, "val_loss": vloss})
            self.validation_scores_.append(score)
            self.validation_loss_curve_.append(vloss)
            if self.verbose:
                print("Validation score: %f" % score)
        if self.early_stopping and validation is not None:
            if score < self.best_validation_score_ + self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_validation_loss = vloss
                self._best_snapshot = self.model_._snapshot()
        else:
            if self.loss_curve_[-1] > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if self.loss_curve_[-1] < self.best_loss_:
                self.best_loss_ = self.loss_curve_[-1]

    def _trigger_stopping(self, early):
        what = "Validation score" if early else "Training loss"
        msg = (f"{what} did not improve more than tol={self.tol:f} for "
               f"{self.n_iter_no_change} consecutive epochs.")
        if self.solver != "sgd" or self.learning_rate != "adaptive":
            if self.verbose:
                print(msg + " Stopping.")
            return True
        if self._lr <= 1e-6:
            if self.verbose:
                print(msg + " Learning rate too small. Stopping.")
            return True
        self._lr /= 5.0
        if self.verbose:
            print(msg + " Setting learning rate to %f" % self._lr)
        return False

    # -- full-batch solvers --------------------------------------------------------------
    def _fit_full_batch(self, X, T, y_raw, sw, validation):
        model = self.model_
        nt = self._threads()
        fun, evals = self._objective(X, T, sw)
        flat = model.flat_params
        curve = []

        def callback(xk, *args):
            last = evals.get("last")
            if last is not None and np.array_equal(last[1], xk):
                curve.append(float(last[0]))
                if self.verbose:
                    print("Iteration %d, loss = %.8f" % (len(curve), last[0]))

        x0 = flat.astype(np.float64)
        # the solver's vector work is far too small for threads: a multi-threaded BLAS only
        # fights the objective's OpenMP threads for the cores (measured: 20-100x slower
        # fits on a busy 2-core machine)
        with threadpool_limits(1, user_api="blas"):
            if self.solver == "lbfgs":
                res = scipy.optimize.minimize(
                    fun, x0, method="L-BFGS-B", jac=True, callback=callback,
                    options={"maxfun": self.max_fun, "maxiter": self.max_iter,
                             "gtol": self.tol})
                x, f, nit, ok, msg = res.x, res.fun, res.nit, res.status == 0, res.message
            else:
                try:
                    res = scipy.optimize.minimize(
                        fun, x0, method="CG", jac=True, callback=callback,
                        options={"maxiter": self.max_iter, "gtol": self.tol})
                    x, f, nit, ok, msg = res.x, res.fun, res.nit, res.status == 0, res.message
                except _MaxFunReached:
                    f, x = evals["best"]
                    nit, ok = len(curve), False
                    msg = f"STOP: TOTAL NO. OF F,G EVALUATIONS EXCEEDS LIMIT ({self.max_fun})"
        if not ok:
            warnings.warn(f"{self.solver} failed to converge after {nit} iteration(s) "
                          f"(status: {msg}). Increase the number of iterations (max_iter) or "
                          "scale the data as shown in https://scikit-learn.org/stable/"
                          "modules/preprocessing.html", ConvergenceWarning)
        flat[...] = x
        self.n_iter_ = min(int(nit), self.max_iter)
        self.loss_ = float(f)
        self.loss_curve_ = curve
        self.best_loss_ = float(min(curve + [self.loss_]))
        self.n_function_evals_ = evals["n"]
        if model._has(nn.BatchNorm1d):
            self._set_batchnorm_statistics(X, nt)
        if validation is not None:
            score, vloss = self._validation_metrics(validation)
            self.validation_loss_curve_ = [vloss]
            self.validation_scores_ = [score] if self.early_stopping or self.record_validation \
                else None
            self._best_validation_loss = vloss

    def _objective(self, X, T, sw):
        """fun(x) -> (objective, gradient) in float64 over the flat parameter buffer:
        scikit-learn's full-batch loss with its penalties, one compiled call per evaluation
        (Trainer.objective) or, with row weights or the Poisson loss, a forward/backward
        pass with the loss on the host.  Also returns the evaluation record."""
        model, c = self.model_, self._scale()
        n = X.shape[0]
        nt = self._threads()
        alpha, l1 = float(self.alpha), float(self.l1)
        fused = self._fused(sw)
        if fused:
            Yf, Yi = self._targets(T)
            trainer = full_batch_trainer(model._net, X, Yf=Yf, Yi=Yi,
                                         loss=self._compiled_loss_code(),
                                         l1=l1 / (c * n), l2=alpha / (c * n))
        else:
            T_host = T.argmax(axis=1) if self._kind == "ce" else T.astype(np.float64)
            X = np.ascontiguousarray(X, dtype=model.dtype)   # once, not in every forward
        flat, grads = model.flat_params, model.flat_grads
        evals = {"n": 0, "best": (np.inf, flat.astype(np.float64))}

        def fun(x):
            if evals["n"] >= self.max_fun and self.solver == "cg":
                raise _MaxFunReached
            evals["n"] += 1
            flat[...] = x
            if fused:
                value, _ = trainer.objective(nt)
                f = c * value
            else:
                value, pen = self._host_objective(X, T_host, sw, c, alpha, l1, nt)
                f = value + pen
            g = c * grads.astype(np.float64)
            if f < evals["best"][0]:
                evals["best"] = (f, np.array(x, dtype=np.float64))
            evals["last"] = (f, x)
            return f, g

        return fun, evals

    def _set_batchnorm_statistics(self, X, nt):
        """After a full-batch solve: the running statistics of every BatchNorm1d become the
        full data's mean and (biased, as the objective used) variance: one training-mode
        pass of a copy with momentum 1."""
        m = self.model_
        layers = []
        for spec in m._user_specs():
            if spec["kind"] == "batchnorm":
                spec = dict(spec, momentum=1.0)
            layers.append(nn.from_spec(spec))
        tmp = Sequential(m.n_inputs, layers, output="identity", dtype=m.dtype)
        tmp.flat_params[...] = m.flat_params
        tmp.train()
        tmp.forward(X, n_threads=nt)
        m.flat_buffers[...] = tmp.flat_buffers
        n = X.shape[0]
        for layer in m.layers:          # the objective normalised by the biased variance
            if isinstance(layer, nn.BatchNorm1d) and n > 1:
                layer.running_var[...] *= (n - 1) / n

    # -- inference ----------------------------------------------------------------------
    def _output(self, X):
        """The network output for validated X, float64 (logits for the classifiers)."""
        X = self._check_X_predict(X)
        return self.model_.decision_function(X, n_threads=self._threads()).astype(np.float64)

    # -- pickling -----------------------------------------------------------------------
    def __getstate__(self):
        state = dict(super().__getstate__())
        for key in ("coefs_", "intercepts_"):
            state.pop(key, None)
        if "model_" in state:
            state["model_"] = _dump_model(state["model_"])
        if "_optimizer" in state:
            state["_optimizer"] = _dump_optimizer(state["_optimizer"])
        if "_best_snapshot" in state:
            state["_best_snapshot"] = tuple(a.copy() for a in state["_best_snapshot"])
        return state

    def __setstate__(self, state):
        state = dict(state)
        if "model_" in state:
            state["model_"] = _load_model(state["model_"])
            if "_optimizer" in state:
                state["_optimizer"] = _load_optimizer(state["_optimizer"], state["model_"])
        super().__setstate__(state)
        if "model_" in state:
            self._bind_views()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


_SK_PARAMS_DOC = """    hidden_layer_sizes : int or sequence of int, default=(100,)
        The number of units of each hidden layer, each > 0.
    activation : str, default='relu'
        Hidden activation: 'identity', 'logistic', 'tanh', 'relu'; also cgrad's
        'sigmoid' (= 'logistic'), 'leaky_relu', 'elu', 'gelu'.
    solver : str, default='adam'
        'lbfgs', 'sgd', 'adam'; also 'adamw' (alpha as AdamW's decoupled weight decay on
        every parameter, not in the loss), 'rmsprop', 'adagrad' (cgrad's optimizers) and
        'cg' (SciPy's nonlinear conjugate gradient on the same full-batch objective as
        'lbfgs').
    alpha : float, default=0.0001
        Strength of the L2 penalty on the weights, divided by the sample size, >= 0.
    batch_size : int or 'auto', default='auto'
        Rows per mini-batch of the stochastic solvers; 'auto': ``min(200, n_samples)``.
    learning_rate : {'constant', 'invscaling', 'adaptive'}, default='constant'
        The learning-rate schedule of solver='sgd'.
    learning_rate_init : float, default=0.001
        Initial learning rate of the stochastic solvers, > 0.
    power_t : float, default=0.5
        Exponent of learning_rate='invscaling', >= 0.
    max_iter : int, default=200
        Epochs of the stochastic solvers, iterations of 'lbfgs'/'cg', >= 1.
    shuffle : bool, default=True
        Shuffle the rows every epoch (stochastic solvers).
    random_state : int, RandomState instance or None, default=None
        The initial weights, the early-stopping split, the shuffles and the dropout masks.
    tol : float, default=1e-4
        Improvement below which an epoch counts as no improvement, >= 0.
    verbose : bool, default=False
        Print progress messages (the loss of every epoch or iteration).
    warm_start : bool, default=False
        Start ``fit`` from the previous solution.
    momentum : float, default=0.9
        Momentum of solver='sgd', in [0, 1].
    nesterovs_momentum : bool, default=True
        Nesterov momentum for solver='sgd' (when momentum > 0).
    early_stopping : bool, default=False
        Stop when the score on the held-out validation_fraction stops improving
        (stochastic solvers).
    validation_fraction : float, default=0.1
        Fraction of the training rows held out for early stopping, in [0, 1).
    beta_1 : float, default=0.9
        Decay of the first-moment estimate of 'adam'/'adamw', in [0, 1).
    beta_2 : float, default=0.999
        Decay of the second-moment estimate of 'adam'/'adamw', in [0, 1).
    epsilon : float, default=1e-8
        Numerical stability term of 'adam', 'adamw', 'rmsprop' and 'adagrad', > 0.
    n_iter_no_change : int, default=10
        Epochs without ``tol`` improvement before stopping (or, for 'sgd' with
        learning_rate='adaptive', dividing the rate by 5), >= 1 (``np.inf``: never).
    max_fun : int, default=15000
        Budget of loss evaluations of 'lbfgs' and 'cg', >= 1.

    Other Parameters
    ----------------
    init : str, default='sklearn'
        'sklearn' (scikit-learn's Glorot-uniform weights and intercepts from the same
        random_state stream) or one of cgrad's inits ('glorot_uniform', 'glorot_normal',
        'he_uniform', 'he_normal'; zero intercepts).
    dropout : float, default=0.0
        p of a Dropout after every hidden layer, in [0, 1) (stochastic solvers only).
    batch_norm : bool, default=False
        A BatchNorm1d between every hidden Dense and its activation.
    clip_norm : float or None, default=None
        Clip the global gradient norm (of scikit-learn's loss) to this value per step,
        > 0 (stochastic solvers; ignored by lbfgs/cg).
    l1 : float, default=0.0
        L1 strength on the weights, divided by the sample size like alpha, >= 0.
    schedule : Schedule, str or None, default=None
        A cgrad.schedules.Schedule or name, the learning rate per epoch (overrides
        learning_rate).
    callbacks : list or None, default=None
        cgrad callbacks called after every epoch (EarlyStopping, ...); during fit their
        model is the compiled network ``model_`` (detached afterwards).
    record_validation : bool, default=False
        Hold out validation_fraction as early_stopping does and record
        ``validation_scores_`` and ``validation_loss_curve_`` every epoch, without
        stopping on them.
    dtype : {'float32', 'float64'}, default='float32'
        The network's and the computation's type.
    n_threads : int or None, default=None
        OpenMP threads (None: cgrad.get_num_threads(), which follows OMP_NUM_THREADS and
        threadpoolctl, so a joblib/Dask worker's budget); the fit's count is in
        ``n_threads_``.
    n_restarts : int, default=1
        Fit this many seeds (drawn from random_state) on the same training rows and keep
        the one with the lowest loss on the held-out validation_fraction (which must
        then be > 0).
    n_jobs : int or None, default=None
        joblib workers for the restarts (None: one, in this process); they run on the
        active joblib backend: loky processes by default (never a fork after OpenMP
        started), a dask.distributed cluster inside
        ``joblib.parallel_config(backend="dask")``.
    deterministic : bool, default=False
        Results are already bitwise the same for any thread count; deterministic=True
        also makes random_state=None mean 0, so every fit is repeatable.
"""


def _common_init(self, params):
    for k, v in params.items():
        if k not in ("self", "__class__"):
            setattr(self, k, v)


class MLPClassifier(ClassifierMixin, _BaseMLP):
    __doc__ = ("Multi-layer perceptron classifier: scikit-learn's MLPClassifier trained by "
               "cgrad's compiled core.\n\n    Multiclass (softmax), binary and multi-label "
               "(2-D 0/1 y: one logistic output per label) classification; the log-loss.\n\n"
               "    Parameters\n    ----------\n" +
               _SK_PARAMS_DOC + """    class_weight : dict, 'balanced' or None, default=None
        Per-row weights ``{class: weight}`` (or 'balanced') multiplied into sample_weight
        (as scikit-learn's linear models do).
""")
    _is_clf = True

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 init="sklearn", dropout=0.0, batch_norm=False, clip_norm=None, l1=0.0,
                 class_weight=None, schedule=None, callbacks=None, record_validation=False,
                 dtype="float32", n_threads=None, n_restarts=1, n_jobs=None,
                 deterministic=False):
        _common_init(self, locals())

    def _out_kind(self, T):
        return "ce" if self._label_binarizer.y_type_ == "multiclass" else "bce"

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
                             dtype=(np.float64, np.float32), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if (not hasattr(self, "classes_")) or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError(
                        "warm_start can only be used where `y` has the same classes as in "
                        f"the previous call to fit. Previously got {self.classes_}, `y` has "
                        f"{classes}")
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` "
                                 f"has {self.classes_}. 'y' has {classes}.")
        T = self._label_binarizer.transform(y).astype(bool)
        if T.ndim == 1:
            T = T.reshape(-1, 1)
        return X, T, y

    def _class_weighted(self, sample_weight, y_raw):
        if self.class_weight is None:
            return sample_weight
        cw = compute_sample_weight(self.class_weight, y_raw)
        return cw if sample_weight is None else sample_weight * cw

    def _score_function(self, y, y_pred, sample_weight=None):
        return accuracy_score(y, y_pred, sample_weight=sample_weight)

    def _proba_from_output(self, z):
        if self.out_activation_ == "softmax":
            return scipy.special.softmax(z, axis=1)
        return scipy.special.expit(z)

    def _predict_from_output(self, z):
        p = self._proba_from_output(z)
        if self.n_outputs_ == 1:
            p = p.ravel()
        return self._label_binarizer.inverse_transform(p)

    def fit(self, X, y, sample_weight=None):
        """Fit the model to X and y (class labels, or a 2-D 0/1 indicator matrix for
        multi-label); ``sample_weight`` weights the rows of the loss (every solver).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Inputs (CSR/CSC matrices are densified).
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Class labels, or a 0/1 indicator matrix for multi-label.
        sample_weight : array-like of shape (n_samples,) or None, default=None
            Weights of the rows in the loss.

        Returns
        -------
        MLPClassifier
            The fitted estimator.
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over (X, y); ``classes`` (every class of the whole data) is required on
        the first call.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Inputs (CSR/CSC matrices are densified).
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Class labels, or a 0/1 indicator matrix for multi-label.
        sample_weight : array-like of shape (n_samples,) or None, default=None
            Weights of the rows in the loss.
        classes : array-like or None, default=None
            Every class of the whole data; required on the first call.

        Returns
        -------
        MLPClassifier
            The estimator, trained one more epoch.
        """
        from sklearn.utils.multiclass import _check_partial_fit_first_call
        if _check_partial_fit_first_call(self, classes):
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def predict(self, X):
        """Class labels (an indicator matrix for multi-label).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Inputs (CSR/CSC matrices are densified).

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_labels)
            The predicted labels.
        """
        return self._predict_from_output(self._output(X))

    def predict_proba(self, X):
        """Class probabilities, columns in the order of ``classes_`` (float64).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Inputs (CSR/CSC matrices are densified).

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            The probabilities.
        """
        p = self._proba_from_output(self._output(X))
        if self.n_outputs_ == 1:
            p = p.ravel()
            return np.vstack([1 - p, p]).T
        return p

    def predict_log_proba(self, X):
        """log(predict_proba(X)).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Inputs (CSR/CSC matrices are densified).

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            The log-probabilities (-inf where a probability is 0).
        """
        p = self.predict_proba(X)
        with np.errstate(divide="ignore"):
            return np.log(p, out=p)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    __doc__ = ("Multi-layer perceptron regressor: scikit-learn's MLPRegressor trained by "
               "cgrad's compiled core.\n\n    Parameters\n    ----------\n"
               "    loss : {'squared_error', 'poisson'}, default='squared_error'\n"
               "        'squared_error': half the mean squared error over all outputs; "
               "'poisson':\n        half the Poisson deviance, exp output (y >= 0).\n"
               + _SK_PARAMS_DOC)
    _is_clf = False

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *,
                 solver="adam", alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 init="sklearn", dropout=0.0, batch_norm=False, clip_norm=None, l1=0.0,
                 schedule=None, callbacks=None, record_validation=False, dtype="float32",
                 n_threads=None, n_restarts=1, n_jobs=None, deterministic=False):
        _common_init(self, locals())

    def _check_params(self):
        if self.loss not in ("squared_error", "poisson"):
            raise ValueError(f"loss must be 'squared_error' or 'poisson', got {self.loss!r}")
        return super()._check_params()

    def _out_kind(self, T):
        return "poisson" if self.loss == "poisson" else "mse"

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
                             y_numeric=True, dtype=(np.float64, np.float32), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if self.loss == "poisson" and np.any(y < 0):
            raise ValueError("Some value(s) of y are negative which is not allowed for "
                             "Poisson regression.")
        T = y.reshape(-1, 1) if y.ndim == 1 else y
        return X, T, y

    def _score_function(self, y, y_pred, sample_weight=None):
        return r2_score(y, y_pred, sample_weight=sample_weight)

    def _predict_from_output(self, z):
        if self.out_activation_ == "exp":
            z = np.exp(z)
        return z.ravel() if z.shape[1] == 1 else z

    def fit(self, X, y, sample_weight=None):
        """Fit the model to X and y; ``sample_weight`` weights the rows of the loss (every
        solver).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Inputs (CSR/CSC matrices are densified).
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets (>= 0 for loss='poisson').
        sample_weight : array-like of shape (n_samples,) or None, default=None
            Weights of the rows in the loss.

        Returns
        -------
        MLPRegressor
            The fitted estimator.
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over (X, y).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Inputs (CSR/CSC matrices are densified).
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets (>= 0 for loss='poisson').
        sample_weight : array-like of shape (n_samples,) or None, default=None
            Weights of the rows in the loss.

        Returns
        -------
        MLPRegressor
            The estimator, trained one more epoch.
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def predict(self, X):
        """Predicted values: (n_samples,) for one output, else (n_samples, n_outputs).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Inputs (CSR/CSC matrices are densified).

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The predictions.
        """
        return self._predict_from_output(self._output(X))
