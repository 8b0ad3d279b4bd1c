"""Training callbacks: History, EarlyStopping, ModelCheckpoint, ProgressBar, LambdaCallback,
WeightTrajectory.

``MLP.fit`` runs whole chunks of mini-batches in compiled code; callbacks are called
between chunks and between epochs, never per batch.  Hooks (all optional):
``on_train_begin(logs)``, ``on_epoch_begin(epoch, logs)``,
``on_chunk_end(epoch, batches_done, n_batches, logs)``, ``on_epoch_end(epoch, logs)``,
``on_train_end(logs)``.  Set ``model.stop_training = True`` to stop after this epoch.
"""
import math
import os
import sys
import time
import warnings

import numpy as np

__all__ = ["Callback", "History", "EarlyStopping", "ModelCheckpoint", "ProgressBar",
           "LambdaCallback", "WeightTrajectory"]


class Callback:
    """Base class of the training callbacks: every hook does nothing until overridden.

    ``fit`` calls `set_model` once, then the hooks in this order: `on_train_begin`, per
    epoch `on_epoch_begin`, `on_chunk_end` (between chunks of compiled mini-batches, never
    per batch), `on_epoch_end`, and finally `on_train_end`.  A hook may set
    ``self.model.stop_training = True`` to stop after the current epoch.
    """
    model = None

    def set_model(self, model):
        """Give the callback the model being trained (``self.model``).

        Parameters
        ----------
        model : Sequential or None
            The model; None detaches it.
        """
        self.model = model

    def on_train_begin(self, logs=None):
        """Called once before the first epoch.

        Parameters
        ----------
        logs : dict or None, default=None
            ``"epochs"`` (the number to run), ``"samples"`` and ``"batches"`` (per epoch).
        """
        pass

    def on_epoch_begin(self, epoch, logs=None):
        """Called at the start of each epoch.

        Parameters
        ----------
        epoch : int
            0-based epoch index.
        logs : dict or None, default=None
            ``"lr"``, the learning rate of this epoch (``fit``).
        """
        pass

    def on_chunk_end(self, epoch, batches_done, n_batches, logs=None):
        """Called after each chunk of mini-batches the compiled loop runs at once.

        Parameters
        ----------
        epoch : int
            0-based epoch index.
        batches_done : int
            Mini-batches of this epoch done so far.
        n_batches : int
            Mini-batches per epoch.
        logs : dict or None, default=None
            ``"loss"``, the mean loss of the epoch so far, and ``"samples_done"``.
        """
        pass

    def on_epoch_end(self, epoch, logs=None):
        """Called at the end of each epoch.

        Parameters
        ----------
        epoch : int
            0-based epoch index.
        logs : dict or None, default=None
            The epoch's metrics: ``"loss"``, ``"lr"``, ``"seconds"`` and, when available,
            ``"accuracy"``, ``"val_loss"``, ``"val_accuracy"``, ``"grad_norm"``, ...; the same
            keys end in ``History.history``.
        """
        pass

    def on_train_end(self, logs=None):
        """Called once after the last epoch (also after an early stop).

        Parameters
        ----------
        logs : dict or None, default=None
            The last epoch's logs.
        """
        pass


class History(Callback):
    """Per-epoch records: ``history.history[key]`` lists (loss, accuracy, val_loss,
    val_accuracy, lr, seconds, grad_norm, ...) and ``history.epoch``."""

    def __init__(self):
        self.history = {}
        self.epoch = []
        self.stopped = None          # why fit(on_nonfinite="stop") ended training, if it did

    def on_epoch_end(self, epoch, logs=None):
        """Append the epoch's logs to ``history``.

        Parameters
        ----------
        epoch : int
            0-based epoch index.
        logs : dict or None, default=None
            The epoch's metrics: ``"loss"``, ``"lr"``, ``"seconds"`` and, when available,
            ``"accuracy"``, ``"val_loss"``, ``"val_accuracy"``, ``"grad_norm"``, ...; the same
            keys end in ``History.history``.
        """
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)

    def __getitem__(self, key):
        return self.history[key]

    def __repr__(self):
        keys = ", ".join(self.history)
        return f"History(epochs={len(self.epoch)}, keys=[{keys}])"


def _monitor_mode(monitor, mode):
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode == "auto":
        mode = "max" if any(s in monitor for s in ("acc", "f1", "r2", "precision", "recall")) else "min"
    return mode


class _Monitor:
    """Tracks the best value of one logged quantity."""

    def __init__(self, monitor, mode, min_delta):
        self.monitor, self.mode = monitor, _monitor_mode(monitor, mode)
        if min_delta < 0:
            raise ValueError(f"min_delta must be >= 0, got {min_delta}")
        self.min_delta = float(min_delta)
        self.best = math.inf if self.mode == "min" else -math.inf

    def value(self, logs):
        v = (logs or {}).get(self.monitor)
        if v is None:
            warnings.warn(f"{type(self).__name__}: '{self.monitor}' is not in the logs "
                          f"(have: {sorted(logs or {})}); pass validation data or monitor 'loss'",
                          RuntimeWarning, stacklevel=3)
        return v

    def improved(self, v):
        if self.mode == "min":
            return v < self.best - self.min_delta
        return v > self.best + self.min_delta


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs;
    optionally restore the weights of the best epoch.

    Parameters
    ----------
    monitor : str, default="val_loss"
        Logged quantity to watch.
    patience : int, default=5
        Epochs without improvement tolerated before stopping, >= 0.
    min_delta : float, default=0.0
        Smallest change that counts as an improvement, >= 0.
    mode : {"auto", "min", "max"}, default="auto"
        Whether lower or higher is better; "auto": higher for names containing "acc", "f1",
        "r2", "precision" or "recall", else lower.
    restore_best_weights : bool, default=False
        At the end of training, restore the weights of the best epoch.

    Raises
    ------
    ValueError
        If `patience` < 0, `min_delta` < 0 or `mode` is not one of the three.
    """

    def __init__(self, monitor="val_loss", patience=5, min_delta=0.0, mode="auto",
                 restore_best_weights=False):
        if patience < 0:
            raise ValueError(f"patience must be >= 0, got {patience}")
        self._m = _Monitor(monitor, mode, min_delta)
        self.monitor, self.patience = monitor, int(patience)
        self.restore_best_weights = bool(restore_best_weights)
        self.wait, self.stopped_epoch, self.best_epoch, self.best_weights = 0, None, None, None

    @property
    def best(self):
        """The best value of the monitored quantity so far (+-inf before any)."""
        return self._m.best

    def on_train_begin(self, logs=None):
        """Reset the wait counter and the best value.

        Parameters
        ----------
        logs : dict or None, default=None
            Unused.
        """
        self.wait, self.stopped_epoch, self.best_epoch, self.best_weights = 0, None, None, None
        self._m.best = math.inf if self._m.mode == "min" else -math.inf

    def on_epoch_end(self, epoch, logs=None):
        """Track the monitored value; stop the model after `patience` epochs without improvement.

        Parameters
        ----------
        epoch : int
            0-based epoch index.
        logs : dict or None, default=None
            The epoch's metrics; a missing monitored key warns (RuntimeWarning).
        """
        v = self._m.value(logs)
        if v is None or not math.isfinite(v):
            return
        if self._m.improved(v):
            self._m.best, self.best_epoch, self.wait = v, epoch, 0
            if self.restore_best_weights:
                self.best_weights = self.model._snapshot()
        else:
            self.wait += 1
            if self.wait > self.patience:
                self.stopped_epoch = epoch
                self.model.stop_training = True

    def on_train_end(self, logs=None):
        """Restore the best epoch's weights if `restore_best_weights`.

        Parameters
        ----------
        logs : dict or None, default=None
            Unused.
        """
        if self.restore_best_weights and self.best_weights is not None:
            self.model._restore(self.best_weights)


class ModelCheckpoint(Callback):
    """Save the model (atomically) after each epoch, or only when ``monitor`` improves.
    ``filepath`` may contain ``{epoch}`` and any logged key, e.g. ``"ckpt-{epoch:03d}.npz"``.
    Resume from one: ``m, opt = cgrad.load(path, with_optimizer=True)``, then
    ``m.fit(..., optimizer=opt, initial_epoch=m.saved_epoch)`` with the same seed.

    Parameters
    ----------
    filepath : str or os.PathLike
        Where to save; formatted with ``epoch`` (1-based) and the epoch's logs.
    monitor : str, default="val_loss"
        Logged quantity compared when `save_best_only`.
    save_best_only : bool, default=False
        Save only when `monitor` improves.
    mode : {"auto", "min", "max"}, default="auto"
        Whether lower or higher is better (as in `EarlyStopping`).
    save_optimizer : bool, default=True
        Also save the optimizer state, to resume training.

    Raises
    ------
    ValueError
        If `mode` is not one of the three.
    """

    def __init__(self, filepath, monitor="val_loss", save_best_only=False, mode="auto",
                 save_optimizer=True):
        self.filepath = os.fspath(filepath)
        self.save_best_only = bool(save_best_only)
        self.save_optimizer = bool(save_optimizer)
        self._m = _Monitor(monitor, mode, 0.0)
        self.saved = []

    def on_epoch_end(self, epoch, logs=None):
        """Save the model (and optimizer) after this epoch (if improved, with `save_best_only`).

        Parameters
        ----------
        epoch : int
            0-based epoch index.
        logs : dict or None, default=None
            The epoch's metrics, also used to format `filepath`.
        """
        logs = logs or {}
        if self.save_best_only:
            v = self._m.value(logs)
            if v is None or not math.isfinite(v) or not self._m.improved(v):
                return
            self._m.best = v
        path = self.filepath.format(epoch=epoch + 1, **logs)
        self.model.save(path, optimizer=self.model.optimizer if self.save_optimizer else None,
                        epoch=epoch + 1)
        self.saved.append(path)


class WeightTrajectory(Callback):
    """Record copies of the flat parameters during fit: the path the optimizer takes,
    for ``cgrad.landscape.loss_landscape`` (PCA directions, the projected path).

    Snapshots are taken at the start of training, after every ``every``-th epoch and
    after the last one, and once more at the end of training if the weights changed since
    (e.g. EarlyStopping restored the best epoch: list this callback after it, since
    callbacks end in the order given).  Each is ``model.n_params`` numbers.

    Parameters
    ----------
    every : int, epochs between snapshots.

    Attributes
    ----------
    weights : list of flat parameter copies, in order.
    epochs : the epochs done at each snapshot (0: the initial weights).
    """

    def __init__(self, every=1):
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be an int >= 1, got {every!r}")
        self.every = every
        self.weights, self.epochs = [], []

    def _record(self, epochs_done):
        self.weights.append(self.model.flat_params.copy())
        self.epochs.append(epochs_done)

    def on_train_begin(self, logs=None):
        """Start a new trajectory with the initial weights.

        Parameters
        ----------
        logs : dict or None, default=None
            Unused.
        """
        self.weights, self.epochs = [], []
        self._last_epoch = None
        self._record(0)

    def on_epoch_end(self, epoch, logs=None):
        """Record the weights after every ``every``-th epoch.

        Parameters
        ----------
        epoch : int
            0-based epoch index.
        logs : dict or None, default=None
            Unused.
        """
        self._last_epoch = epoch + 1
        if (epoch + 1) % self.every == 0:
            self._record(epoch + 1)

    def on_train_end(self, logs=None):
        """Record the final weights if they differ from the last snapshot.

        Parameters
        ----------
        logs : dict or None, default=None
            Unused.
        """
        if not np.array_equal(self.weights[-1], self.model.flat_params):
            self._record(self._last_epoch if self._last_epoch is not None else 0)

    def __len__(self):
        return len(self.weights)


class LambdaCallback(Callback):
    """A callback from plain functions, e.g. ``LambdaCallback(on_epoch_end=lambda e, logs: ...)``.

    Parameters
    ----------
    **hooks : callable
        Functions named after the hooks they replace (``on_train_begin``, ``on_epoch_begin``,
        ``on_chunk_end``, ``on_epoch_end``, ``on_train_end``), each taking that hook's
        arguments.

    Raises
    ------
    ValueError
        If a keyword is not a hook name.
    """

    def __init__(self, **hooks):
        allowed = {"on_train_begin", "on_epoch_begin", "on_chunk_end", "on_epoch_end",
                   "on_train_end"}
        bad = set(hooks) - allowed
        if bad:
            raise ValueError(f"unknown hooks {sorted(bad)}; expected some of {sorted(allowed)}")
        for name, fn in hooks.items():
            setattr(self, name, fn)


def _fmt(logs, keys):
    parts = []
    for k in keys:
        v = logs.get(k)
        if v is not None:
            parts.append(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}")
    return "  ".join(parts)


class ProgressBar(Callback):
    """Epoch/batch progress with loss and speed.  A live bar on a terminal; one line per
    epoch otherwise (or always with ``live=False``); nothing with ``verbose=0`` (fit).

    Parameters
    ----------
    stream : file-like or None, default=None
        Where to write; None: ``sys.stderr``.
    live : bool or None, default=None
        True: a bar redrawn after each chunk; False: one line per epoch; None: live iff
        `stream` is a terminal.
    width : int, default=28
        Width of the bar in characters.
    """

    KEYS = ("loss", "accuracy", "val_loss", "val_accuracy", "lr")

    def __init__(self, stream=None, live=None, width=28):
        self.stream = stream if stream is not None else sys.stderr
        self.live = live
        self.width = width

    def _is_live(self):
        if self.live is not None:
            return self.live
        try:
            return self.stream.isatty()
        except (AttributeError, ValueError):
            return False

    def on_train_begin(self, logs=None):
        """Note the epoch count and samples per epoch; decide whether the bar is live.

        Parameters
        ----------
        logs : dict or None, default=None
            ``"epochs"`` and ``"samples"``.
        """
        self._epochs = (logs or {}).get("epochs")
        self._samples = (logs or {}).get("samples")
        self._live_now = self._is_live()

    def on_epoch_begin(self, epoch, logs=None):
        """Start the epoch's clock.

        Parameters
        ----------
        epoch : int
            0-based epoch index.
        logs : dict or None, default=None
            Unused.
        """
        self._t0 = time.perf_counter()

    def on_chunk_end(self, epoch, batches_done, n_batches, logs=None):
        """Redraw the live bar (nothing when not live).

        Parameters
        ----------
        epoch : int
            0-based epoch index.
        batches_done : int
            Mini-batches of this epoch done so far.
        n_batches : int
            Mini-batches per epoch.
        logs : dict or None, default=None
            ``"loss"`` and ``"samples_done"``, for the loss and speed shown.
        """
        if not self._live_now:
            return
        frac = batches_done / max(n_batches, 1)
        fill = int(round(self.width * frac))
        dt = time.perf_counter() - self._t0
        rate = (logs or {}).get("samples_done", 0) / dt if dt > 0 else 0.0
        bar = "=" * fill + "." * (self.width - fill)
        loss = (logs or {}).get("loss")
        loss_s = f" loss {loss:.4f}" if loss is not None else ""
        self.stream.write(f"\repoch {epoch + 1}/{self._epochs} [{bar}] {batches_done}/{n_batches}"
                          f"{loss_s} {rate:,.0f} samples/s ")
        self.stream.flush()

    def on_epoch_end(self, epoch, logs=None):
        """Write the epoch's line: metrics, seconds and samples per second.

        Parameters
        ----------
        epoch : int
            0-based epoch index.
        logs : dict or None, default=None
            The epoch's metrics (loss, accuracy, val_loss, val_accuracy, lr are shown).
        """
        logs = logs or {}
        secs = logs.get("seconds", time.perf_counter() - self._t0)
        rate = f"{self._samples / secs:,.0f} samples/s" if self._samples and secs > 0 else ""
        line = f"epoch {epoch + 1}/{self._epochs}  {_fmt(logs, self.KEYS)}  {secs:.2f}s  {rate}"
        if self._live_now:
            self.stream.write("\r" + line + " " * 8 + "\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def _as_callback(cb):
    if isinstance(cb, Callback):
        return cb
    if callable(cb):      # a plain function f(epoch, logs) runs at each epoch end
        return LambdaCallback(on_epoch_end=cb)
    raise TypeError(f"callbacks must be Callback instances or callables, got {type(cb).__name__}")
