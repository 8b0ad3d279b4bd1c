"""Learning-rate schedules: small objects mapping a 0-based epoch to a learning rate.

Every schedule has ``initial_lr``, ``lr`` (the rate for the current epoch),
``__call__(epoch) -> lr`` and ``step(metric=None) -> lr``, which ends the current epoch
and returns the rate for the next one (as ``torch.optim.lr_scheduler``'s ``step()``).
The closed-form schedules ignore ``metric``; :class:`ReduceOnPlateau` needs it and has
no closed form, so its ``__call__`` returns the current rate whatever the epoch.
Formulas follow PyTorch's schedulers of the same name on the same settings.
"""
import math
import numbers

__all__ = ["Schedule", "Constant", "StepDecay", "ExponentialDecay", "Cosine",
           "ReduceOnPlateau", "get_schedule", "SCHEDULES"]


def _positive(name, v, allow_zero=False):
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(v).__name__}")
    v = float(v)
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'} and finite, "
                         f"got {v}")
    return v


def _count(name, v, minimum):
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(v).__name__}")
    if v < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {v}")
    return int(v)


class Schedule:
    """Base class: subclasses implement ``_at(epoch)`` (closed form).

    Parameters
    ----------
    lr : float
        Initial learning rate, > 0 and finite.

    Raises
    ------
    TypeError
        If an argument is not a number (an int where a count is asked).
    ValueError
        If an argument is out of its range.
    """

    def __init__(self, lr):
        self.initial_lr = _positive("lr", lr)
        self.epoch = 0

    def __call__(self, epoch):
        return self._at(_count("epoch", epoch, 0))

    @property
    def lr(self):
        """The learning rate for the current epoch."""
        return self._at(self.epoch)

    def step(self, metric=None):
        """End the current epoch; the closed-form schedules ignore `metric`.

        Parameters
        ----------
        metric : float or None, default=None
            The monitored value of the epoch just ended (unused here).

        Returns
        -------
        float
            The learning rate for the next epoch.
        """
        self.epoch += 1
        return self.lr

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if k != "epoch")
        return f"{type(self).__name__}({args})"


class Constant(Schedule):
    """lr(epoch) = lr.

    Parameters
    ----------
    lr : float
        Initial learning rate, > 0 and finite.

    Raises
    ------
    TypeError
        If an argument is not a number (an int where a count is asked).
    ValueError
        If an argument is out of its range.
    """

    def _at(self, epoch):
        return self.initial_lr


class StepDecay(Schedule):
    """lr(epoch) = lr * gamma ** (epoch // step_size)   (torch StepLR).

    Parameters
    ----------
    lr : float
        Initial learning rate, > 0 and finite.
    step_size : int
        Epochs between two decays, >= 1.
    gamma : float, default=0.1
        Decay factor, > 0.

    Raises
    ------
    TypeError
        If an argument is not a number (an int where a count is asked).
    ValueError
        If an argument is out of its range.
    """

    def __init__(self, lr, step_size, gamma=0.1):
        super().__init__(lr)
        self.step_size = _count("step_size", step_size, 1)
        self.gamma = _positive("gamma", gamma)

    def _at(self, epoch):
        return self.initial_lr * self.gamma ** (epoch // self.step_size)


class ExponentialDecay(Schedule):
    """lr(epoch) = lr * gamma ** epoch   (torch ExponentialLR).

    Parameters
    ----------
    lr : float
        Initial learning rate, > 0 and finite.
    gamma : float
        Decay factor per epoch, > 0.

    Raises
    ------
    TypeError
        If an argument is not a number (an int where a count is asked).
    ValueError
        If an argument is out of its range.
    """

    def __init__(self, lr, gamma):
        super().__init__(lr)
        self.gamma = _positive("gamma", gamma)

    def _at(self, epoch):
        return self.initial_lr * self.gamma ** epoch


class Cosine(Schedule):
    """lr(epoch) = eta_min + (lr - eta_min) * (1 + cos(pi * epoch / t_max)) / 2.

    torch CosineAnnealingLR's closed form; past ``t_max`` it keeps following the
    cosine (back up towards ``lr`` over the next ``t_max`` epochs), as torch does.

    Parameters
    ----------
    lr : float
        Initial learning rate, > 0 and finite.
    t_max : int
        Epochs of a half period, >= 1.
    eta_min : float, default=0.0
        Lowest rate, in [0, lr].

    Raises
    ------
    TypeError
        If an argument is not a number (an int where a count is asked).
    ValueError
        If an argument is out of its range, or `eta_min` exceeds `lr`.
    """

    def __init__(self, lr, t_max, eta_min=0.0):
        super().__init__(lr)
        self.t_max = _count("t_max", t_max, 1)
        self.eta_min = _positive("eta_min", eta_min, allow_zero=True)
        if self.eta_min > self.initial_lr:
            raise ValueError(f"eta_min ({self.eta_min}) must not exceed lr "
                             f"({self.initial_lr})")

    def _at(self, epoch):
        return self.eta_min + (self.initial_lr - self.eta_min) * (
            1 + math.cos(math.pi * epoch / self.t_max)) / 2


class ReduceOnPlateau(Schedule):
    """Multiply the rate by ``factor`` when ``metric`` has not improved for ``patience``
    epochs (torch ReduceLROnPlateau semantics).

    An epoch improves on the best value when ``metric < best * (1 - threshold)``
    (mode "min") or ``metric > best * (1 + threshold)`` (mode "max"); with
    ``threshold_mode="abs"``: ``best - threshold`` / ``best + threshold``.  After more
    than ``patience`` bad epochs the rate becomes ``max(lr * factor, min_lr)`` (skipped
    if the change is below ``eps``), then ``cooldown`` epochs pass with the bad-epoch
    count held at 0.  NaN never counts as an improvement.

    Parameters
    ----------
    lr : float
        Initial learning rate, > 0 and finite.
    factor : float, default=0.1
        Multiplier of the rate on a plateau, in (0, 1).
    patience : int, default=10
        Bad epochs tolerated before reducing, >= 0.
    threshold : float, default=1e-4
        Smallest improvement that counts, >= 0 (relative or absolute, see `threshold_mode`).
    mode : {"min", "max"}, default="min"
        Whether lower or higher values of the metric are better.
    cooldown : int, default=0
        Epochs after a reduction during which bad epochs are not counted, >= 0.
    min_lr : float, default=0.0
        Lowest rate, >= 0.
    threshold_mode : {"rel", "abs"}, default="rel"
        Relative (``best * (1 -+ threshold)``) or absolute (``best -+ threshold``) comparison.
    eps : float, default=1e-8
        Reductions smaller than this are skipped, >= 0.

    Raises
    ------
    TypeError
        If an argument is not a number (an int where a count is asked).
    ValueError
        If an argument is out of its range, or `mode` / `threshold_mode` is not one of its values.
    """

    def __init__(self, lr, factor=0.1, patience=10, threshold=1e-4, mode="min",
                 cooldown=0, min_lr=0.0, threshold_mode="rel", eps=1e-8):
        super().__init__(lr)
        self.factor = _positive("factor", factor)
        if self.factor >= 1.0:
            raise ValueError(f"factor must be < 1 (it reduces the rate), got {factor}")
        self.patience = _count("patience", patience, 0)
        self.threshold = _positive("threshold", threshold, allow_zero=True)
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        self.mode, self.threshold_mode = mode, threshold_mode
        self.cooldown = _count("cooldown", cooldown, 0)
        self.min_lr = _positive("min_lr", min_lr, allow_zero=True)
        self.eps = _positive("eps", eps, allow_zero=True)
        self.reset()

    def reset(self):
        """Back to the initial rate, with no best value and no bad epochs."""
        self._lr = self.initial_lr
        self.epoch = 0
        self.best = math.inf if self.mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0

    @property
    def lr(self):
        """The learning rate for the current epoch."""
        return self._lr

    def __call__(self, epoch):
        _count("epoch", epoch, 0)
        return self._lr

    def _is_better(self, a):
        # torch's exact expressions (best starts at +-inf, which they handle)
        if self.mode == "min":
            if self.threshold_mode == "rel":
                return a < self.best * (1.0 - self.threshold)
            return a < self.best - self.threshold
        if self.threshold_mode == "rel":
            return a > self.best * (1.0 + self.threshold)
        return a > self.best + self.threshold

    def step(self, metric=None):
        """End the current epoch with its monitored value; reduce the rate on a plateau.

        Parameters
        ----------
        metric : float
            The monitored value of the epoch just ended (e.g. the validation loss); required.

        Returns
        -------
        float
            The learning rate for the next epoch.

        Raises
        ------
        ValueError
            If `metric` is None.
        TypeError
            If `metric` is not a number.
        """
        if metric is None:
            raise ValueError("ReduceOnPlateau.step needs the monitored metric "
                             "(e.g. the validation loss)")
        if isinstance(metric, bool) or not isinstance(metric, numbers.Real):
            try:
                metric = float(metric)           # numpy 0-d arrays and scalars
            except (TypeError, ValueError):
                raise TypeError(f"metric must be a number, got {type(metric).__name__}") \
                    from None
        current = float(metric)
        self.epoch += 1
        if self._is_better(current):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            new_lr = max(self._lr * self.factor, self.min_lr)
            if self._lr - new_lr > self.eps:
                self._lr = new_lr
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        return self._lr


SCHEDULES = {
    "constant": Constant,
    "step": StepDecay,
    "exponential": ExponentialDecay,
    "cosine": Cosine,
    "plateau": ReduceOnPlateau,
}


def get_schedule(name_or_obj, lr, **kw):
    """A schedule from a name in :data:`SCHEDULES` (``lr`` and ``kw`` go to its
    constructor), or ``name_or_obj`` itself if it is already a :class:`Schedule`
    (then ``kw`` must be empty).  ``None`` means "constant".

    Parameters
    ----------
    name_or_obj : str, Schedule or None
        A key of `SCHEDULES` (case-insensitive), a Schedule (returned as is), or None
        (``"constant"``).
    lr : float
        Initial learning rate, passed to the named schedule's constructor.
    **kw
        Further constructor arguments of the named schedule (none with a Schedule).

    Returns
    -------
    Schedule
        The schedule.

    Raises
    ------
    ValueError
        If the name is unknown, or `kw` comes with a Schedule object.
    TypeError
        If `name_or_obj` has another type, or `kw` does not fit the constructor.
    """
    if isinstance(name_or_obj, Schedule):
        if kw:
            raise ValueError(f"keyword arguments {sorted(kw)} given with a Schedule object")
        return name_or_obj
    if name_or_obj is None:
        name_or_obj = "constant"
    if not isinstance(name_or_obj, str):
        raise TypeError(f"schedule must be a name or a Schedule, got "
                        f"{type(name_or_obj).__name__}")
    key = name_or_obj.lower()
    if key not in SCHEDULES:
        raise ValueError(f"unknown schedule {name_or_obj!r}; choose one of {sorted(SCHEDULES)}")
    try:
        return SCHEDULES[key](lr, **kw)
    except TypeError as exc:
        if "argument" in str(exc):               # wrong keyword or missing argument
            raise TypeError(f"schedule {key!r}: {exc}") from None
        raise
