"""Pictures of training: curves, per-layer gradient norms, decision regions, the loss
landscape with the optimizer's path, and optimizers compared.

Every function returns a ``matplotlib.figure.Figure`` built with the object API (no
pyplot, no global state, no ``show``), so it works under any backend, Agg included:
``fig.savefig("curves.png")``.  matplotlib is the optional ``plot`` extra.
"""
import os

try:
    import matplotlib.colors
    import matplotlib.ticker
    from matplotlib.figure import Figure
except ImportError as exc:
    raise ImportError("cgrad.plot needs matplotlib: pip install 'cgrad[plot]'") from exc

import numpy as np

from . import nn
from .landscape import Landscape
from .landscape import loss_landscape as _compute_landscape

__all__ = ["training_curves", "grad_norms", "decision_regions", "loss_landscape",
           "optimizer_curves", "toy_paths", "compare_curves", "benchmark_results",
           "save_training_plots"]

METRICS = ("accuracy", "r2", "mse", "mae")        # the metric panel shows the first present


def _history(history):
    h = getattr(history, "history", None)
    if not isinstance(h, dict) or "loss" not in h:
        raise TypeError(f"expected the History returned by fit, got {type(history).__name__}")
    return h, [e + 1 for e in history.epoch]


def training_curves(history):
    """Loss (train and validation) with the learning rate on a second axis, and the
    first recorded metric (accuracy, or validation r2/mse/mae for regression).

    Parameters
    ----------
    history : cgrad.callbacks.History (what ``fit`` returns).

    Returns
    -------
    matplotlib.figure.Figure
    """
    h, epochs = _history(history)
    metric = next((m for m in METRICS if m in h or f"val_{m}" in h), None)
    fig = Figure(figsize=(10 if metric else 5.5, 3.8), layout="constrained")
    axes = fig.subplots(1, 2 if metric else 1, squeeze=False)[0]
    for ax, key in zip(axes, ("loss", metric)):
        for k, label, color in ((key, "train", "C0"), (f"val_{key}", "validation", "C1")):
            if k in h:
                ax.plot(epochs, h[k], marker="o", ms=3, color=color, label=label)
        ax.set_xlabel("epoch")
        ax.set_title(key)
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left" if key == metric and key != "loss" else "upper right")
    if "lr" in h:
        ax_lr = axes[0].twinx()
        ax_lr.plot(epochs, h["lr"], color="0.5", ls="--", label="learning rate")
        ax_lr.set_ylabel("learning rate", color="0.4")
        ax_lr.tick_params(axis="y", colors="0.4")
        lr = np.asarray(h["lr"], dtype=float)
        if lr.min() > 0 and lr.max() / lr.min() > 20:
            ax_lr.set_yscale("log")
        ax_lr.legend(loc="center right")
    return fig


def _param_layer_names(history, n):
    model = getattr(history, "model", None)
    if model is None:
        return [f"layer {i}" for i in range(n)]
    names = [f"{i}: {type(layer).__name__}({layer.n_in}->{layer.n_out})"
             for i, layer in enumerate(model.layers)
             if isinstance(layer, (nn.Dense, nn.BatchNorm1d))]
    return names if len(names) == n else [f"layer {i}" for i in range(n)]


def grad_norms(history):
    """Per-layer gradient norms over the epochs on a log scale (``grad_norm_layers``: the
    mean norm of each parameterised layer's gradient, before clipping) with the global
    norm: vanishing gradients sink towards the input, exploding ones climb.

    Parameters
    ----------
    history : cgrad.callbacks.History.

    Returns
    -------
    matplotlib.figure.Figure
    """
    h, epochs = _history(history)
    if "grad_norm_layers" not in h:
        raise ValueError("the History has no 'grad_norm_layers' (it comes from fit)")
    norms = np.asarray(h["grad_norm_layers"], dtype=float)
    names = _param_layer_names(history, norms.shape[1])
    fig = Figure(figsize=(6.5, 4), layout="constrained")
    ax = fig.subplots()
    colors = matplotlib.colormaps["viridis"](np.linspace(0, 0.9, norms.shape[1]))
    for i, (name, c) in enumerate(zip(names, colors)):
        ax.plot(epochs, np.where(norms[:, i] > 0, norms[:, i], np.nan), color=c, label=name)
    if "grad_norm" in h:
        ax.plot(epochs, h["grad_norm"], color="k", ls="--", label="global")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("gradient norm")
    ax.set_title("gradient norm per layer (input first)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small")
    return fig


def decision_regions(model, X, y, resolution=200):
    """The class a classifier predicts over the plane of its two inputs, with the points.

    Parameters
    ----------
    model : a trained cgrad.Sequential with 2 inputs and a softmax (or single sigmoid)
        output.
    X : (n, 2) points.
    y : (n,) their integer labels.
    resolution : grid points per axis.

    Returns
    -------
    matplotlib.figure.Figure
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y)
    if model.n_inputs != 2 or X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"decision regions need a model and data with 2 inputs, got a "
                         f"model with {model.n_inputs} and X of shape {X.shape}")
    if model.output not in ("softmax", "sigmoid") or (model.output == "sigmoid"
                                                       and model.n_outputs != 1):
        raise ValueError(f"decision regions need a single-label classifier (softmax or "
                         f"one sigmoid output), got output={model.output!r} with "
                         f"{model.n_outputs} outputs")
    pad = 0.1 * (X.max(axis=0) - X.min(axis=0) + 1e-12)
    lo, hi = X.min(axis=0) - pad, X.max(axis=0) + pad
    g0, g1 = np.meshgrid(np.linspace(lo[0], hi[0], resolution),
                         np.linspace(lo[1], hi[1], resolution))
    pred = model.predict(np.column_stack([g0.ravel(), g1.ravel()])).reshape(g0.shape)
    n_classes = max(model.n_outputs, 2, int(y.max()) + 1)
    cmap = matplotlib.colors.ListedColormap(
        matplotlib.colormaps["tab10"](np.arange(n_classes) % 10))
    norm = matplotlib.colors.BoundaryNorm(np.arange(n_classes + 1) - 0.5, n_classes)
    fig = Figure(figsize=(5.2, 4.6), layout="constrained")
    ax = fig.subplots()
    ax.pcolormesh(g0, g1, pred, cmap=cmap, norm=norm, alpha=0.35, shading="auto")
    ax.scatter(X[:, 0], X[:, 1], c=y, cmap=cmap, norm=norm, s=12, edgecolors="k",
               linewidths=0.3)
    ax.set_xlabel("x0")
    ax.set_ylabel("x1")
    ax.set_title(f"decision regions, accuracy {np.mean(model.predict(X) == y):.3f}")
    return fig


def _log_contourf(fig, ax, X, Y, Z, label, lines=True):
    """Filled contours of a positive Z on 30 log-spaced levels (up to its 98th percentile:
    a few huge values far from the minimum would flatten the rest), labelled in Z's
    units."""
    finite = Z[np.isfinite(Z) & (Z > 0)]
    if finite.size == 0:
        raise ValueError(f"nothing to draw: no finite positive {label} on the grid")
    lo, hi = finite.min(), np.percentile(finite, 98)
    hi = hi if hi > lo else lo * 10
    logz = np.log10(np.clip(np.where(np.isfinite(Z), Z, hi), lo, hi))
    levels = np.linspace(np.log10(lo), np.log10(hi), 30)
    cs = ax.contourf(X, Y, logz, levels=levels, cmap="viridis")
    if lines:
        ax.contour(X, Y, logz, levels=levels[::3], colors="w", linewidths=0.4, alpha=0.6)
    ticks = matplotlib.ticker.MaxNLocator(6)
    fig.colorbar(cs, ax=ax, label=label, ticks=ticks,
                 format=matplotlib.ticker.FuncFormatter(lambda v, _: f"{10 ** v:.3g}"))


def _draw_paths(ax, paths):
    colors = matplotlib.colormaps["tab10"].colors
    for (name, p), c in zip(paths.items(), colors[1:] + colors[:1]):
        ax.plot(p[:, 0], p[:, 1], "-o", color=c, ms=2.5, lw=1.4, label=name)
        ax.plot(p[0, 0], p[0, 1], "s", color=c, ms=6, mec="k")
        ax.plot(p[-1, 0], p[-1, 1], "*", color=c, ms=11, mec="k")


def loss_landscape(model, X=None, y=None, **kwargs):
    """Contours of the loss on a plane through the weights, with the optimizer's path(s)
    (square: start, star: end).

    Parameters
    ----------
    model : a cgrad.Sequential (the landscape is computed by
        ``cgrad.landscape.loss_landscape(model, X, y, **kwargs)``) or a Landscape already
        computed.
    X, y : the data (for a model).
    **kwargs : passed to cgrad.landscape.loss_landscape (directions, trajectory,
        resolution, span, seed, loss, n_threads).

    Returns
    -------
    matplotlib.figure.Figure
    """
    if isinstance(model, Landscape):
        land = model
    else:
        if X is None or y is None:
            raise ValueError("loss_landscape needs X and y with a model")
        land = _compute_landscape(model, X, y, **kwargs)
    A, B = np.meshgrid(land.alphas, land.betas)
    fig = Figure(figsize=(6.4, 5), layout="constrained")
    ax = fig.subplots()
    _log_contourf(fig, ax, A, B, land.losses, "training loss")
    _draw_paths(ax, land.paths)
    ax.plot(0, 0, "+", color="r", ms=12, mew=2, label=f"centre ({land.center_loss:.3g})")
    if land.directions == "pca":
        e1, e2 = land.explained
        ax.set_xlabel(f"1st principal direction ({100 * e1:.1f}% of the path)")
        ax.set_ylabel(f"2nd principal direction ({100 * e2:.1f}%)")
        ax.set_title("loss along the principal directions of the weight trajectory")
    else:
        ax.set_xlabel("filter-normalised direction 1")
        ax.set_ylabel("filter-normalised direction 2")
        ax.set_title("loss along two random filter-normalised directions")
    ax.legend(fontsize="small", loc="upper right")
    return fig


def optimizer_curves(results, x_label="passes over the training data"):
    """The training loss of several optimizers (cgrad.compare_optimizers results) on
    one log-scale plot.

    Parameters
    ----------
    results : list of RunResult.
    x_label : what a pass is.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = Figure(figsize=(6.4, 4), layout="constrained")
    ax = fig.subplots()
    colors = matplotlib.colormaps["tab10"].colors
    for r, c in zip(results, colors[1:] + colors[:1]):
        ax.plot(r.passes, r.losses, "-o", ms=2.5, color=c, label=r.label)
    ax.set_yscale("log")
    ax.set_xlabel(x_label)
    ax.set_ylabel("full-batch training loss")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small")
    return fig


def toy_paths(surface, results, resolution=60):
    """Each optimizer's exact path over the contours of a 2-parameter surface
    (cgrad.toy), with the negative gradient field as arrows; beside it, f - min(f) per
    step.

    Parameters
    ----------
    surface : cgrad.toy.Surface.
    results : list of RunResult from compare_on_surface.
    resolution : contour grid points per axis.

    Returns
    -------
    matplotlib.figure.Figure
    """
    w0, w1 = np.meshgrid(np.linspace(*surface.xlim, resolution),
                         np.linspace(*surface.ylim, resolution))
    f = surface.value(w0, w1) - surface.minimum
    fig = Figure(figsize=(12, 4.8), layout="constrained")
    ax, ax_loss = fig.subplots(1, 2, width_ratios=[1.25, 1])
    _log_contourf(fig, ax, w0, w1, np.maximum(f, 1e-3), "f - min f", lines=False)
    q = slice(None, None, max(1, resolution // 15))
    g0, g1 = surface.grad(w0[q, q], w1[q, q])
    mag = np.hypot(g0, g1) + 1e-12          # directions only: the colours give the size
    ax.quiver(w0[q, q], w1[q, q], -g0 / mag, -g1 / mag, color="w", alpha=0.7,
              width=0.003, scale=30)
    _draw_paths(ax, {r.label: r.path for r in results})
    for m in surface.minimizers:
        ax.plot(*m, "x", color="r", ms=9, mew=2)
    ax.set_xlim(surface.xlim)
    ax.set_ylim(surface.ylim)
    ax.set_xlabel("w0" if surface.name == "linear" else "x")
    ax.set_ylabel("w1" if surface.name == "linear" else "y")
    ax.set_title(surface.formula, fontsize="medium")
    colors = matplotlib.colormaps["tab10"].colors
    for r, c in zip(results, colors[1:] + colors[:1]):
        gap = np.asarray(r.losses) - surface.minimum
        ax_loss.plot(r.passes, np.maximum(gap, 1e-16), color=c, label=r.label)
    ax_loss.set_yscale("log")
    ax_loss.set_xlabel("step (L-BFGS: function evaluations)")
    ax_loss.set_title("f - min f per step")
    ax_loss.legend(fontsize="small")
    ax_loss.grid(alpha=0.3, which="both")
    return fig


def _curve(label, curve, key, x):
    """(x values, y values) of one run of compare_curves."""
    if hasattr(curve, "history"):
        h, epochs = _history(curve)
        if key not in h:
            raise ValueError(f"the History of {label!r} has no {key!r} (it has "
                             f"{sorted(h)})")
        if x == "seconds":
            return np.cumsum(np.asarray(h["seconds"], dtype=float)), h[key]
        return epochs, h[key]
    if x == "seconds":
        raise ValueError(f"x='seconds' needs a History for {label!r} (the seconds of each "
                         f"epoch), got a {type(curve).__name__}")
    values = np.asarray(curve, dtype=float)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"the curve of {label!r} must be a History or a non-empty "
                         f"sequence of numbers, got shape {values.shape}")
    return np.arange(1, values.size + 1), values


def compare_curves(curves, key="loss", *, x="epoch", log=True, title=None, xlabel=None):
    """Several runs' curves on one axes: a colour per run, a line style per key (the
    first key solid, the next dashed, ...).

    Parameters
    ----------
    curves : dict
        {label: History (what ``fit`` returns) or a sequence of values, one per epoch or
        iteration (e.g. a cgrad.sklearn estimator's ``loss_curve_``)}.
    key : str or sequence of str, default="loss"
        The History keys to draw, e.g. ``("loss", "val_loss")``; a sequence of values is
        drawn once, with the first key's style.
    x : {"epoch", "seconds"}, default="epoch"
        The x axis: epochs (or the sequence's positions), or the training seconds so far
        (the History's cumulative ``seconds``).
    log : bool, default=True
        A log-scale y axis.
    title : str or None, default=None
        The axes' title (None: the keys).
    xlabel : str or None, default=None
        The x axis' label (None: "epoch" or "seconds of training").

    Returns
    -------
    matplotlib.figure.Figure
    """
    keys = [key] if isinstance(key, str) else list(key)
    if not curves or not keys:
        raise ValueError("compare_curves needs at least one curve and one key")
    if x not in ("epoch", "seconds"):
        raise ValueError(f"x must be 'epoch' or 'seconds', got {x!r}")
    fig = Figure(figsize=(6.4, 4), layout="constrained")
    ax = fig.subplots()
    colors = matplotlib.colormaps["tab10"].colors
    styles = ("-", "--", ":", "-.")
    for i, (label, curve) in enumerate(curves.items()):
        drawn = keys if hasattr(curve, "history") else keys[:1]
        for j, k in enumerate(drawn):
            xs, ys = _curve(label, curve, k, x)
            name = label if len(drawn) == 1 else f"{label} ({k})"
            ax.plot(xs, ys, styles[j % len(styles)], color=colors[i % len(colors)],
                    label=name)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel or ("epoch" if x == "epoch" else "seconds of training"))
    ax.set_title(title or ", ".join(keys))
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small")
    return fig


def _bars(ax, rows, series, cmap, title):
    names = [s for s in series if s in rows]
    meds = [rows[s]["median"] for s in names]
    lo = [rows[s]["median"] - rows[s]["min"] for s in names]
    hi = [rows[s]["max"] - rows[s]["median"] for s in names]
    ax.bar(range(len(names)), meds, yerr=[lo, hi], capsize=3,
           color=[cmap(series.index(s) % 20) for s in names])
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=60, ha="right", fontsize=8)
    ax.set_yscale("log")  # peers differ by 100x: a linear axis hides the fast ones
    ax.set_title(title)
    ax.set_ylabel("seconds / epoch (median, min-max; log)")


def benchmark_results(rows):
    """Seconds per epoch of a ``cgrad bench`` run (its results.json's ``results``): one
    bar chart per (workload, optimizer), a bar per implementation and thread count
    (median, with the min-max range), on a log scale.

    Parameters
    ----------
    rows : list of dict
        The result rows; rows whose ``status`` is not "ok" are left out.

    Returns
    -------
    matplotlib.figure.Figure
    """
    ok = [r for r in rows if r.get("status") == "ok"]
    if not ok:
        raise ValueError("no successful benchmark row to draw (every status is not 'ok')")
    groups = list(dict.fromkeys(f"{r['workload']} {r['optimizer']}" for r in ok))
    series = list(dict.fromkeys(f"{r['impl']} t{r['threads']}" for r in ok))
    fig = Figure(figsize=(max(6, 4.5 * len(groups)), 4.5), layout="constrained")
    for ax, g in zip(fig.subplots(1, len(groups), squeeze=False)[0], groups):
        by_series = {f"{r['impl']} t{r['threads']}": r for r in ok
                     if f"{r['workload']} {r['optimizer']}" == g}
        _bars(ax, by_series, series, matplotlib.colormaps["tab20"], g)
    return fig


def _save(fig, folder, name, dpi):
    path = os.path.join(folder, name)
    fig.savefig(path, dpi=dpi)
    return path


def save_training_plots(folder, model, history, X, y, *, loss="auto", trajectory=None,
                        resolution=31, max_rows=2000, seed=0, dpi=100):
    """Write curves.png, grad_norms.png and landscape.png (and decision_regions.png for
    a classifier of 2-D data) into ``folder``.

    Parameters
    ----------
    folder : an existing folder.
    model : the trained model.
    history : its fit's History.
    X, y : the training data (the landscape and the decision regions are drawn over it).
    loss : the loss trained with (the landscape's; "auto": the model's default).
    trajectory : a WeightTrajectory of the fit: the landscape then lies along its
        principal directions with the path drawn; without one (or with fewer than 3
        snapshots) along random filter-normalised directions.
    resolution : landscape grid points per axis.
    max_rows : the landscape's loss is taken over at most this many rows (a fixed random
        subset): each of its resolution**2 points is one full-batch pass.
    seed : the row subset and the random directions.
    dpi : resolution of the PNG files.

    Returns
    -------
    list of the paths written.
    """
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{folder} is not a folder")
    written = [_save(training_curves(history), folder, "curves.png", dpi),
               _save(grad_norms(history), folder, "grad_norms.png", dpi)]
    X, y = np.asarray(X), np.asarray(y)
    rows = np.arange(len(X))
    if len(X) > max_rows:
        rows = np.sort(np.random.default_rng(seed).choice(len(X), max_rows, replace=False))
    pca = trajectory is not None and len(trajectory.weights) >= 3
    fig = loss_landscape(model, X[rows], y[rows], loss=loss, trajectory=trajectory,
                         directions="pca" if pca else "filter", resolution=resolution,
                         seed=seed)
    written.append(_save(fig, folder, "landscape.png", dpi))
    if X.ndim == 2 and X.shape[1] == 2 and model.n_inputs == 2 and (
            model.output == "softmax" or (model.output == "sigmoid" and model.n_outputs == 1)):
        written.append(_save(decision_regions(model, X, y), folder, "decision_regions.png",
                             dpi))
    return written
