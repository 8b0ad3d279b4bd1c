"""Optimizers over the model's flat parameter buffer (torch.optim's rules and names).

Each optimizer owns its state buffers (flat, like the parameters) and implements one
compiled update kernel per step.  The fused training loop (``MLP.fit``) runs the same
kernels with the same state, so an optimizer can be used by ``fit`` and by a hand-written
loop alike::

    opt = cgrad.optim.Adam(model, lr=1e-3)     # or Adam(lr=1e-3) and fit(optimizer=opt)
    out = model.forward(x); loss, grad = loss_fn(out, y)
    opt.zero_grad(); model.backward(grad); opt.step()
"""
import abc
import math

import numpy as np

from . import _core, ops

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "get_optimizer",
           "OPTIMIZERS"]


def _nonneg(name, v):
    v = float(v)
    if not math.isfinite(v) or v < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {v}")
    return v


def _unit(name, v):
    v = float(v)
    if not (0.0 <= v < 1.0):
        raise ValueError(f"{name} must be in [0, 1), got {v}")
    return v


def _pos(name, v):
    v = float(v)
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {v}")
    return v


class Optimizer(abc.ABC):
    """Base class: holds the flat (params, grads) of one model; subclasses define
    ``kind``, ``_state_slots()`` (which of three state buffers exist) and ``_step()``.

    Parameters
    ----------
    model : Sequential or None, default=None
        The model whose flat parameters this optimizer updates; None: attach later (`attach`,
        or by passing the optimizer to ``fit``).
    lr : float
        Learning rate, finite and >= 0.

    Raises
    ------
    ValueError
        If a hyperparameter is out of its range.
    """

    kind = None

    def __init__(self, model=None, *, lr):
        self.lr = _nonneg("lr", lr)
        self.t = 0
        self.model = None
        self.params = self.grads = None
        self.states = (None, None, None)
        if model is not None:
            self.attach(model)

    # -- binding ------------------------------------------------------------------------
    def attach(self, model):
        """Bind to ``model``'s flat buffers and allocate the state (once per model).

        Parameters
        ----------
        model : Sequential
            A built model (its ``flat_params`` and ``flat_grads`` are used).

        Returns
        -------
        Optimizer
            This optimizer.

        Raises
        ------
        ValueError
            If the optimizer is already attached to another model.
        """
        if self.model is model:
            return self
        if self.model is not None:
            raise ValueError("this optimizer is already attached to another model; "
                             "create a new optimizer for each model")
        self.model = model
        self.params, self.grads = model.flat_params, model.flat_grads
        self.states = tuple(self._new_state(slot) if slot else None
                            for slot in self._state_slots())
        return self

    def _new_state(self, slot):
        return _core.aligned_full(self.params.shape, self.params.dtype, 0)

    def _state_slots(self):
        return (False, False, False)

    def _require_attached(self):
        if self.params is None:
            raise RuntimeError(f"{type(self).__name__} is not attached to a model: pass the "
                               "model to the constructor or call attach(model)")

    # -- the step API -------------------------------------------------------------------
    def zero_grad(self):
        """Set the model's (flat) gradient buffer to zero; gradients accumulate."""
        self._require_attached()
        self.grads.fill(0)

    def step(self):
        """Apply one update from the current gradients."""
        self._require_attached()
        self.t += 1
        self._step()

    @abc.abstractmethod
    def _step(self):
        """Update self.params in place from self.grads (self.t already incremented)."""

    # -- what the fused loop and checkpoints need ---------------------------------------
    def hyperparams(self):
        """Hyperparameters as plain floats/bools (the fused loop's and save()'s view).

        Returns
        -------
        dict
            Name -> value; ``{"lr": lr}`` here, the subclasses add theirs.
        """
        return {"lr": self.lr}

    def fused_spec(self):
        """What the compiled training loop needs: kind, step count, state buffers, hyperparameters.

        Returns
        -------
        dict
            ``"kind"``, ``"t"``, ``"states"`` (a 3-tuple of flat arrays or None) and the
            hyperparameters.
        """
        d = {"kind": self.kind, "t": self.t, "states": self.states}
        d.update(self._fused_hyper())
        return d

    def _fused_hyper(self):
        return self.hyperparams()

    def state_dict(self):
        """The optimizer's state, copied: what a checkpoint stores.

        Returns
        -------
        dict
            ``"kind"``, ``"hyperparams"``, ``"t"`` (the step count) and ``"states"`` (copies of
            the state buffers, None where absent).
        """
        return {"kind": self.kind, "hyperparams": self.hyperparams(), "t": self.t,
                "states": [None if s is None else s.copy() for s in self.states]}

    def load_state_dict(self, state):
        """Restore a `state_dict`: all or nothing, everything is checked first.

        Parameters
        ----------
        state : dict
            A dict from `state_dict` of an optimizer of the same kind and options, for a model of
            the same size.

        Raises
        ------
        RuntimeError
            If the optimizer is not attached to a model.
        ValueError
            If the state's kind, options, shapes or step count do not match, or it holds NaN/inf.
        """
        self._require_attached()
        if state.get("kind") != self.kind:
            raise ValueError(f"state is for optimizer {state.get('kind')!r}, not {self.kind!r}")
        t = state.get("t")
        if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or t < 0:
            raise ValueError(f"optimizer state has an invalid step count t={t!r}")
        checked = []                      # validate every slot first: all or nothing
        for mine, theirs in zip(self.states, state["states"]):
            if (mine is None) != (theirs is None):
                raise ValueError("optimizer state does not match this optimizer's options")
            if mine is not None:
                theirs = np.asarray(theirs)
                if theirs.shape != mine.shape:
                    raise ValueError(f"optimizer state has shape {theirs.shape}, "
                                     f"expected {mine.shape}")
                if not np.isfinite(theirs).all():
                    raise ValueError("optimizer state contains NaN or inf values")
            checked.append((mine, theirs))
        for mine, theirs in checked:
            if mine is not None:
                mine[...] = theirs
        self.t = int(t)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.hyperparams().items())
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """torch.optim.SGD: momentum, dampening, Nesterov, L2 weight decay.

    Parameters
    ----------
    model : Sequential or None, default=None
        The model whose flat parameters this optimizer updates; None: attach later (`attach`,
        or by passing the optimizer to ``fit``).
    lr : float, default=0.01
        Learning rate, >= 0.
    momentum : float, default=0.0
        Momentum factor, >= 0.
    dampening : float, default=0.0
        Dampening of the momentum, >= 0.
    weight_decay : float, default=0.0
        L2 penalty added to the gradient, >= 0.
    nesterov : bool, default=False
        Nesterov momentum (needs ``momentum > 0`` and ``dampening == 0``).

    Raises
    ------
    ValueError
        If a hyperparameter is out of its range, or nesterov is asked without momentum
        or with dampening.
    """

    kind = "sgd"

    def __init__(self, model=None, *, lr=0.01, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False):
        self.momentum = _nonneg("momentum", momentum)
        self.dampening = _nonneg("dampening", dampening)
        self.weight_decay = _nonneg("weight_decay", weight_decay)
        self.nesterov = bool(nesterov)
        if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise ValueError("nesterov momentum requires momentum > 0 and dampening == 0")
        super().__init__(model, lr=lr)

    def _state_slots(self):
        return (self.momentum != 0, False, False)

    def hyperparams(self):
        """Hyperparameters as plain floats/bools (the fused loop's and save()'s view).

        Returns
        -------
        dict
            ``"lr"``, ``"momentum"``, ``"dampening"``, ``"weight_decay"``, ``"nesterov"``.
        """
        return {"lr": self.lr, "momentum": self.momentum, "dampening": self.dampening,
                "weight_decay": self.weight_decay, "nesterov": self.nesterov}

    def _step(self):
        ops.sgd_step(self.params, self.grads, self.states[0], lr=self.lr,
                     momentum=self.momentum, dampening=self.dampening,
                     weight_decay=self.weight_decay, nesterov=self.nesterov, t=self.t)


class Adam(Optimizer):
    """torch.optim.Adam (L2 weight decay added to the gradient), optional AMSGrad.

    Parameters
    ----------
    model : Sequential or None, default=None
        The model whose flat parameters this optimizer updates; None: attach later (`attach`,
        or by passing the optimizer to ``fit``).
    lr : float, default=1e-3
        Learning rate, >= 0.
    betas : tuple of float, default=(0.9, 0.999)
        Decay rates of the first and second moments, each in [0, 1).
    eps : float, default=1e-8
        Added to the denominator, > 0.
    weight_decay : float, default=0.0
        L2 penalty added to the gradient, >= 0.
    amsgrad : bool, default=False
        Use the running maximum of the second moment (AMSGrad).

    Raises
    ------
    ValueError
        If a hyperparameter is out of its range.
    """

    kind = "adam"
    decoupled = False

    def __init__(self, model=None, *, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False):
        b1, b2 = betas
        self.betas = (_unit("betas[0]", b1), _unit("betas[1]", b2))
        self.eps = _pos("eps", eps)
        self.weight_decay = _nonneg("weight_decay", weight_decay)
        self.amsgrad = bool(amsgrad)
        super().__init__(model, lr=lr)

    def _state_slots(self):
        return (True, True, self.amsgrad)

    def hyperparams(self):
        """Hyperparameters as plain floats/bools (the fused loop's and save()'s view).

        Returns
        -------
        dict
            ``"lr"``, ``"betas"``, ``"eps"``, ``"weight_decay"``, ``"amsgrad"``.
        """
        return {"lr": self.lr, "betas": self.betas, "eps": self.eps,
                "weight_decay": self.weight_decay, "amsgrad": self.amsgrad}

    def _fused_hyper(self):
        return {"lr": self.lr, "beta1": self.betas[0], "beta2": self.betas[1], "eps": self.eps,
                "weight_decay": self.weight_decay, "decoupled": self.decoupled}

    def _step(self):
        ops.adam_step(self.params, self.grads, self.states[0], self.states[1], self.states[2],
                      lr=self.lr, betas=self.betas, eps=self.eps,
                      weight_decay=self.weight_decay, decoupled=self.decoupled, t=self.t)


class AdamW(Adam):
    """torch.optim.AdamW: decoupled weight decay (``p *= 1 - lr * weight_decay``).

    Parameters
    ----------
    model : Sequential or None, default=None
        The model whose flat parameters this optimizer updates; None: attach later (`attach`,
        or by passing the optimizer to ``fit``).
    lr : float, default=1e-3
        Learning rate, >= 0.
    betas : tuple of float, default=(0.9, 0.999)
        Decay rates of the first and second moments, each in [0, 1).
    eps : float, default=1e-8
        Added to the denominator, > 0.
    weight_decay : float, default=1e-2
        Decoupled weight decay, >= 0.
    amsgrad : bool, default=False
        Use the running maximum of the second moment (AMSGrad).

    Raises
    ------
    ValueError
        If a hyperparameter is out of its range.
    """

    kind = "adam"
    decoupled = True

    def __init__(self, model=None, *, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False):
        super().__init__(model, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad)

    def state_dict(self):
        """The optimizer's state, copied, marked ``"decoupled": True``.

        Returns
        -------
        dict
            As `Optimizer.state_dict`, plus ``"decoupled": True``.
        """
        d = super().state_dict()
        d["decoupled"] = True
        return d


class RMSprop(Optimizer):
    """torch.optim.RMSprop: smoothing alpha, momentum, centered.

    Parameters
    ----------
    model : Sequential or None, default=None
        The model whose flat parameters this optimizer updates; None: attach later (`attach`,
        or by passing the optimizer to ``fit``).
    lr : float, default=1e-2
        Learning rate, >= 0.
    alpha : float, default=0.99
        Smoothing constant of the running averages, in [0, 1).
    eps : float, default=1e-8
        Added to the denominator, > 0.
    weight_decay : float, default=0.0
        L2 penalty added to the gradient, >= 0.
    momentum : float, default=0.0
        Momentum factor, >= 0.
    centered : bool, default=False
        Normalise by the variance estimate (subtract the squared running mean gradient).

    Raises
    ------
    ValueError
        If a hyperparameter is out of its range.
    """

    kind = "rmsprop"

    def __init__(self, model=None, *, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0,
                 momentum=0.0, centered=False):
        self.alpha = _unit("alpha", alpha)
        self.eps = _pos("eps", eps)
        self.weight_decay = _nonneg("weight_decay", weight_decay)
        self.momentum = _nonneg("momentum", momentum)
        self.centered = bool(centered)
        super().__init__(model, lr=lr)

    def _state_slots(self):
        return (True, self.momentum > 0, self.centered)

    def hyperparams(self):
        """Hyperparameters as plain floats/bools (the fused loop's and save()'s view).

        Returns
        -------
        dict
            ``"lr"``, ``"alpha"``, ``"eps"``, ``"weight_decay"``, ``"momentum"``, ``"centered"``.
        """
        return {"lr": self.lr, "alpha": self.alpha, "eps": self.eps,
                "weight_decay": self.weight_decay, "momentum": self.momentum,
                "centered": self.centered}

    def _step(self):
        ops.rmsprop_step(self.params, self.grads, self.states[0], self.states[1],
                         self.states[2], lr=self.lr, alpha=self.alpha, eps=self.eps,
                         weight_decay=self.weight_decay, momentum=self.momentum)


class Adagrad(Optimizer):
    """torch.optim.Adagrad: lr_decay, initial_accumulator_value.

    Parameters
    ----------
    model : Sequential or None, default=None
        The model whose flat parameters this optimizer updates; None: attach later (`attach`,
        or by passing the optimizer to ``fit``).
    lr : float, default=1e-2
        Learning rate, >= 0.
    lr_decay : float, default=0.0
        Step size ``lr / (1 + (t - 1) * lr_decay)``, >= 0.
    weight_decay : float, default=0.0
        L2 penalty added to the gradient, >= 0.
    initial_accumulator_value : float, default=0.0
        Initial value of the sum of squared gradients, >= 0.
    eps : float, default=1e-10
        Added to the denominator, > 0.

    Raises
    ------
    ValueError
        If a hyperparameter is out of its range.
    """

    kind = "adagrad"

    def __init__(self, model=None, *, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                 initial_accumulator_value=0.0, eps=1e-10):
        self.lr_decay = _nonneg("lr_decay", lr_decay)
        self.weight_decay = _nonneg("weight_decay", weight_decay)
        self.initial_accumulator_value = _nonneg("initial_accumulator_value",
                                                 initial_accumulator_value)
        self.eps = _pos("eps", eps)
        super().__init__(model, lr=lr)

    def _state_slots(self):
        return (True, False, False)

    def _new_state(self, slot):
        return _core.aligned_full(self.params.shape, self.params.dtype,
                                  self.initial_accumulator_value)

    def hyperparams(self):
        """Hyperparameters as plain floats/bools (the fused loop's and save()'s view).

        Returns
        -------
        dict
            ``"lr"``, ``"lr_decay"``, ``"weight_decay"``, ``"initial_accumulator_value"``,
            ``"eps"``.
        """
        return {"lr": self.lr, "lr_decay": self.lr_decay, "weight_decay": self.weight_decay,
                "initial_accumulator_value": self.initial_accumulator_value, "eps": self.eps}

    def _step(self):
        ops.adagrad_step(self.params, self.grads, self.states[0], lr=self.lr,
                         lr_decay=self.lr_decay, weight_decay=self.weight_decay,
                         eps=self.eps, t=self.t)


OPTIMIZERS = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop, "adagrad": Adagrad}


def get_optimizer(optimizer, **kwargs):
    """An Optimizer instance from a name ('adam', 'sgd', ...) and keyword hyperparameters,
    or the instance itself.

    Parameters
    ----------
    optimizer : str or Optimizer
        A key of `OPTIMIZERS` (case-insensitive), or an instance, returned as is.
    **kwargs
        Hyperparameters for the named optimizer's constructor (none with an instance).

    Returns
    -------
    Optimizer
        The optimizer (unattached when made from a name).

    Raises
    ------
    ValueError
        If the name is unknown, or hyperparameters come with an instance.
    TypeError
        If `optimizer` is neither a str nor an Optimizer.
    """
    if isinstance(optimizer, Optimizer):
        if kwargs:
            raise ValueError("hyperparameters are given with the optimizer instance itself")
        return optimizer
    if isinstance(optimizer, str):
        try:
            cls = OPTIMIZERS[optimizer.lower()]
        except KeyError:
            raise ValueError(f"unknown optimizer {optimizer!r}; expected one of "
                             f"{sorted(OPTIMIZERS)} or an Optimizer instance") from None
        return cls(**kwargs)
    raise TypeError(f"optimizer must be a name or an Optimizer, got {type(optimizer).__name__}")
