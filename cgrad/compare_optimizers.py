"""Race the optimizers: the same network from the same initial weights (or the same
2-parameter toy surface from the same start) trained by SGD, SGD with momentum,
Nesterov, Adam, RMSprop, Adagrad and L-BFGS (SciPy's, over the compiled full-batch
objective; skipped with a note without SciPy).  ``cgrad optimizers`` is the command.

Every run's training loss is the full-batch loss at its recorded weights (after each
epoch, or each L-BFGS iteration), so the curves are comparable: on the x axis, passes
over the training data (an epoch of mini-batches, or one L-BFGS function evaluation).
"""
import os
import time
from dataclasses import dataclass

import numpy as np

from . import datasets, optim
from ._objective import FullBatchObjective
from .callbacks import WeightTrajectory
from .model import MLP
from .toy import Point, get_surface

__all__ = ["OPTIMIZER_NAMES", "LEARNING_RATES", "RunResult", "make_optimizer",
           "compare_on_digits", "compare_on_surface", "format_table", "run"]

OPTIMIZER_NAMES = ("sgd", "momentum", "nesterov", "adam", "rmsprop", "adagrad", "lbfgs")
LABELS = {"sgd": "SGD", "momentum": "SGD+momentum", "nesterov": "Nesterov", "adam": "Adam",
          "rmsprop": "RMSprop", "adagrad": "Adagrad", "lbfgs": "L-BFGS"}
# per problem: a learning rate each optimizer makes steady progress with (L-BFGS has none)
LEARNING_RATES = {
    "digits": {"sgd": 0.1, "momentum": 0.02, "nesterov": 0.02, "adam": 2e-3,
               "rmsprop": 1e-3, "adagrad": 0.05},
    "linear": {"sgd": 0.2, "momentum": 0.05, "nesterov": 0.05, "adam": 0.3,
               "rmsprop": 0.05, "adagrad": 1.0},
    "saddle": {"sgd": 0.1, "momentum": 0.02, "nesterov": 0.02, "adam": 0.05,
               "rmsprop": 0.02, "adagrad": 0.5},
}
MOMENTUM = 0.9


@dataclass
class RunResult:
    """One optimizer's run.

    Parameters
    ----------
    name : key of OPTIMIZER_NAMES.
    passes : passes over the data (or steps on a toy surface) at each recorded point.
    losses : the full-batch training loss at each recorded point.
    path : (points, n_params) the recorded parameters.
    seconds : training time (without the loss recording).
    accuracy : test accuracy (None on a toy surface).
    tag : a qualifier shown after the optimizer's name in tables and legends (e.g. the
        start or the learning rate, when one optimizer runs several times), or None.
    """

    name: str
    passes: list
    losses: list
    path: np.ndarray
    seconds: float
    accuracy: float = None
    tag: str = None

    @property
    def label(self):
        """The optimizer's display name (LABELS), with the tag in parentheses."""
        return LABELS[self.name] + ("" if self.tag is None else f" ({self.tag})")

    def passes_to(self, target):
        """The first recorded pass count with loss <= target.

        Parameters
        ----------
        target : float.

        Returns
        -------
        int or None (never reached).
        """
        for p, v in zip(self.passes, self.losses):
            if v <= target:
                return p
        return None


def make_optimizer(name, lr):
    """The cgrad optimizer called ``name`` (not 'lbfgs') with learning rate ``lr``.

    Parameters
    ----------
    name : one of OPTIMIZER_NAMES except 'lbfgs'.
    lr : float.

    Returns
    -------
    cgrad.optim.Optimizer (unattached)
    """
    if name == "sgd":
        return optim.SGD(lr=lr)
    if name in ("momentum", "nesterov"):
        return optim.SGD(lr=lr, momentum=MOMENTUM, nesterov=name == "nesterov")
    if name == "adam":
        return optim.Adam(lr=lr)
    if name == "rmsprop":
        return optim.RMSprop(lr=lr)
    if name == "adagrad":
        return optim.Adagrad(lr=lr)
    raise ValueError(f"unknown optimizer {name!r}; expected one of {OPTIMIZER_NAMES}")


def check_names(names):
    """``names`` validated (a list of OPTIMIZER_NAMES keys), 'lbfgs' dropped with a note
    when SciPy is missing.  Returns (names, notes)."""
    names = list(names)
    bad = [n for n in names if n not in OPTIMIZER_NAMES]
    if bad or not names:
        raise ValueError(f"unknown optimizers {bad}; expected some of {OPTIMIZER_NAMES}")
    notes = []
    if "lbfgs" in names:
        try:
            import scipy.optimize  # noqa: F401
        except ImportError:
            names.remove("lbfgs")
            notes.append("L-BFGS skipped: it needs SciPy (pip install scipy)")
    return names, notes


def _lbfgs(fun, x0, max_iter):
    """SciPy's L-BFGS-B from x0; the iterates and the function evaluations done at each."""
    import scipy.optimize

    xs, evals, count = [np.array(x0)], [0], [0]

    def counted(x):
        count[0] += 1
        return fun(x)

    def record(xk, *args):
        xs.append(np.array(xk))
        evals.append(count[0])

    scipy.optimize.minimize(counted, x0, method="L-BFGS-B", jac=True, callback=record,
                            options={"maxiter": max_iter})
    return np.array(xs), evals


def _digits_run(name, X, y, X_te, y_te, *, hidden, epochs, batch_size, seed, lr, nt):
    model = MLP([X.shape[1], *hidden, int(y.max()) + 1], seed=seed)
    objective = FullBatchObjective(model, X, y, n_threads=nt)
    t0 = time.perf_counter()
    if name == "lbfgs":
        x0 = model.flat_params.astype(np.float64)
        path, passes = _lbfgs(objective.value_and_grad, x0, epochs)
        seconds = time.perf_counter() - t0
        model.flat_params[...] = path[-1]
    else:
        traj = WeightTrajectory()
        model.fit(X, y, optimizer=make_optimizer(name, lr), epochs=epochs,
                  batch_size=batch_size, callbacks=[traj], verbose=0, seed=seed, n_threads=nt)
        seconds = time.perf_counter() - t0
        path, passes = np.array(traj.weights), traj.epochs
    losses = [objective(w.astype(model.dtype)) for w in path]
    acc = model.evaluate(X_te, y_te, n_threads=nt)["accuracy"]
    return model, RunResult(name, list(passes), losses, path, seconds, accuracy=acc)


def compare_on_digits(*, names=OPTIMIZER_NAMES, hidden=(32,), epochs=30, batch_size=32,
                      seed=0, n_threads=None, learning_rates=None):
    """Train the same MLP on the embedded digits with each optimizer.

    Parameters
    ----------
    names : optimizers to run (OPTIMIZER_NAMES keys).
    hidden : hidden layer sizes.
    epochs : epochs each (L-BFGS: at most this many iterations).
    batch_size : mini-batch rows.
    seed : the initial weights (the same for every optimizer), the split and the shuffles.
    n_threads : threads (None: cgrad.get_num_threads()).
    learning_rates : {name: lr} overriding LEARNING_RATES["digits"].

    Returns
    -------
    (results, notes, best_model, (X_train, y_train)): one RunResult per optimizer, notes
    on skipped ones, the model of the run with the lowest final loss (its weights end
    every path: the landscape's centre) and the training data.
    """
    names, notes = check_names(names)
    lrs = {**LEARNING_RATES["digits"], **(learning_rates or {})}
    X, y = datasets.load_digits()
    X_tr, _, X_te, y_tr, _, y_te = datasets.train_val_test_split(
        X, y, val=0.0, test=0.25, stratify=True, seed=seed)
    results, best = [], None
    for name in names:
        model, res = _digits_run(name, X_tr, y_tr, X_te, y_te, hidden=list(hidden),
                                 epochs=epochs, batch_size=batch_size, seed=seed,
                                 lr=lrs.get(name), nt=n_threads)
        results.append(res)
        if best is None or res.losses[-1] < best[1].losses[-1]:
            best = (model, res)
    return results, notes, best[0], (X_tr, y_tr)


def _surface_run(surface, name, steps, lr, start):
    x0 = np.array(start, dtype=np.float64)
    t0 = time.perf_counter()
    if name == "lbfgs":
        def fun(w):
            return float(surface.value(*w)), np.array(surface.grad(*w))
        path, passes = _lbfgs(fun, x0, steps)
    else:
        point = Point(x0)
        opt = make_optimizer(name, lr).attach(point)
        path = [x0]
        for _ in range(steps):
            point.flat_grads[:] = surface.grad(*point.flat_params)
            opt.step()
            path.append(point.flat_params.copy())
        path, passes = np.array(path), list(range(steps + 1))
    seconds = time.perf_counter() - t0
    losses = [float(surface.value(*w)) for w in path]
    return RunResult(name, passes, losses, path, seconds)


def compare_on_surface(toy, *, names=OPTIMIZER_NAMES, steps=100, learning_rates=None,
                       start=None):
    """Run each optimizer's exact update rule on a 2-parameter toy surface.

    Parameters
    ----------
    toy : 'linear' or 'saddle' (cgrad.toy).
    names : optimizers to run.
    steps : update steps each (L-BFGS: at most this many iterations; its passes count
        function evaluations).
    learning_rates : {name: lr} overriding LEARNING_RATES[toy].
    start : the starting point (w0, w1) of every run (None: the surface's ``start``).

    Returns
    -------
    (surface, results, notes)
    """
    surface = get_surface(toy)
    start = np.asarray(surface.start if start is None else start, dtype=np.float64)
    if start.shape != (2,) or not np.isfinite(start).all():
        raise ValueError(f"start must be two finite numbers, got {start!r}")
    names, notes = check_names(names)
    lrs = {**LEARNING_RATES[toy], **(learning_rates or {})}
    results = [_surface_run(surface, name, steps, lrs.get(name), start) for name in names]
    return surface, results, notes


def format_table(results, target, unit="epochs"):
    """The comparison as a text table: final loss, accuracy, passes to ``target``,
    seconds.

    Parameters
    ----------
    results : list of RunResult.
    target : float, the loss to reach.
    unit : what a pass is called in the header ('epochs' or 'steps').

    Returns
    -------
    str
    """
    head = ("optimizer", "final loss", "accuracy", f"{unit} to {target:g}", "seconds")
    rows = [head]
    for r in results:
        reached = r.passes_to(target)
        rows.append((r.label, f"{r.losses[-1]:.4g}",
                     "-" if r.accuracy is None else f"{r.accuracy:.4f}",
                     "-" if reached is None else str(reached), f"{r.seconds:.3f}"))
    w = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w[0]) if i == 0 else c.rjust(w[i]) for i, c in enumerate(row))
             for row in rows]
    lines.insert(1, "  ".join("-" * x for x in w))
    return "\n".join(lines)


def _digits_figures(results, best, data, seed):
    """(figure, file name) pairs: the loss curves and every path on one landscape."""
    from . import plot
    from .landscape import loss_landscape

    land = loss_landscape(best, *data, directions="pca", seed=seed,
                          trajectory={r.label: r.path for r in results})
    return [(plot.optimizer_curves(results), "optimizers_loss.png"),
            (plot.loss_landscape(land), "optimizers_landscape.png")]


def run(*, toy=None, names=OPTIMIZER_NAMES, epochs=30, steps=100, hidden=(32,),
        batch_size=32, target=None, seed=0, n_threads=None, plot_dir=None, out=None,
        dpi=100):
    """The ``cgrad optimizers`` command: run the comparison, print its table to ``out``
    and, with ``plot_dir``, write the pictures there.

    Parameters
    ----------
    toy : None (the embedded digits) or a cgrad.toy surface name.
    names : optimizers to run.
    epochs, hidden, batch_size : the digits run (see compare_on_digits).
    steps : update steps on a toy surface.
    target : the loss whose first reaching is counted (None: 0.1 on digits; on a toy
        surface its minimum plus 1% of the starting gap).
    seed : initial weights, split and shuffles (digits) and the landscape's directions.
    n_threads : threads (None: cgrad.get_num_threads()).
    plot_dir : an existing folder or None.  Digits: optimizers_loss.png (the loss curves)
        and optimizers_landscape.png (every path on one landscape along the principal
        directions of all trajectories, centred on the run with the lowest final loss);
        toy: optimizers_<toy>.png (paths over the contours and the gradient field).
    out : a text stream (None: sys.stdout).
    dpi : resolution of the PNG files.

    Returns
    -------
    list of the files written.
    """
    import sys

    out = sys.stdout if out is None else out
    if plot_dir is not None and not os.path.isdir(plot_dir):
        raise FileNotFoundError(f"{plot_dir} is not a folder")
    if plot_dir is not None:
        from . import plot           # ImportError (install the plot extra) before any work
    if toy is None:
        results, notes, best, data = compare_on_digits(
            names=names, hidden=hidden, epochs=epochs, batch_size=batch_size, seed=seed,
            n_threads=n_threads)
        target = 0.1 if target is None else target
        unit, title = "epochs", f"digits {data[0].shape[1]}-{'-'.join(map(str, hidden))}-10"
    else:
        surface, results, notes = compare_on_surface(toy, names=names, steps=steps)
        gap = surface.value(*surface.start) - surface.minimum
        target = surface.minimum + 0.01 * gap if target is None else target
        unit, title = "steps", f"{toy}: {surface.formula}, start {surface.start}"
    print(title, file=out)
    print(format_table(results, target, unit), file=out)
    for note in notes:
        print(note, file=out)
    if plot_dir is None:
        return []
    figures = (_digits_figures(results, best, data, seed) if toy is None
               else [(plot.toy_paths(surface, results), f"optimizers_{toy}.png")])
    written = []
    for fig, name in figures:
        written.append(os.path.join(plot_dir, name))
        fig.savefig(written[-1], dpi=dpi)
    return written
