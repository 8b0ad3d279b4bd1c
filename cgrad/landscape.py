"""The loss landscape: the training loss on a 2-D plane through the trained weights.

Two ways to choose the plane (Li et al. 2018, "Visualizing the Loss Landscape of Neural
Nets"):

- ``directions="filter"``: two random Gaussian directions, filter-normalised: in every
  Dense weight matrix (IN, OUT) each output unit's column of the direction is scaled to
  the norm of the same column of the weights, so a step of 1 moves every unit by its own
  size (this removes the scale invariance of ReLU networks that makes unnormalised
  plots misleading).  Biases and BatchNorm1d's gamma/beta get a zero direction, as the
  authors' code does with ``--xignore biasbn`` (the setting of its example commands).
- ``directions="pca"``: the two principal directions of a recorded weight trajectory
  (``cgrad.callbacks.WeightTrajectory``) around the centre, over all parameters (biases
  included): the plane in which the optimizer's path varies most; random directions in
  high dimension are nearly orthogonal to the path, which then barely moves in
  their plane (the paper's section 7).

Every grid point is one compiled full-batch evaluation (``Trainer.objective``) on a copy
of the network; the model itself is never modified.
"""
from dataclasses import dataclass, field

import numpy as np

from . import nn
from ._objective import FullBatchObjective
from ._validation import positive_int

__all__ = ["Landscape", "loss_landscape", "filter_normalized_direction", "pca_directions"]

DIRECTIONS = ("filter", "pca")


@dataclass
class Landscape:
    """A 2-D slice of the loss: ``losses[j, i]`` is the loss at
    ``center + alphas[i] * d1 + betas[j] * d2``.

    Parameters
    ----------
    alphas, betas : 1-D arrays, the grid coordinates along ``d1`` and ``d2``.
    losses : (len(betas), len(alphas)) array.
    center : the flat parameters at (0, 0).
    center_loss : the loss there.
    d1, d2 : the flat directions (float64).
    directions : "filter" or "pca".
    paths : {name: (k, 2) array}, each trajectory projected onto the plane.
    explained : for "pca", the fraction of the trajectories' variance along d1 and d2.
    """

    alphas: np.ndarray
    betas: np.ndarray
    losses: np.ndarray
    center: np.ndarray
    center_loss: float
    d1: np.ndarray
    d2: np.ndarray
    directions: str
    paths: dict = field(default_factory=dict)
    explained: tuple = None


def filter_normalized_direction(model, rng):
    """A random direction in parameter space, filter-normalised to ``model``'s weights.

    Parameters
    ----------
    model : cgrad.Sequential.
    rng : numpy.random.Generator.

    Returns
    -------
    (n_params,) float64 array: for each Dense weight W (IN, OUT), Gaussian columns scaled
    to ``||W[:, j]||``; zero for biases and BatchNorm1d parameters.
    """
    d = np.zeros(model.n_params)
    off = 0
    for layer in model.layers:
        k = layer.n_params()
        if isinstance(layer, nn.Dense):
            W = layer.W.astype(np.float64)
            g = rng.standard_normal(W.shape)
            norms = np.linalg.norm(g, axis=0)
            g *= np.linalg.norm(W, axis=0) / np.where(norms > 0, norms, 1.0)
            d[off:off + W.size] = g.reshape(-1)
        off += k
    return d


def pca_directions(trajectories, center):
    """The two principal directions of the weight snapshots around ``center``.

    Parameters
    ----------
    trajectories : list of (k_i, n_params) arrays of flat parameters.
    center : (n_params,) array.

    Returns
    -------
    (d1, d2, (explained_1, explained_2)): unit float64 directions and the fraction of the
    snapshots' variance along each.
    """
    M = np.concatenate([np.asarray(t, dtype=np.float64) for t in trajectories]) - center
    if M.shape[0] < 3:
        raise ValueError(f"PCA directions need at least 3 weight snapshots, got {M.shape[0]}")
    M = M - M.mean(axis=0)
    _, s, vt = np.linalg.svd(M, full_matrices=False)
    var = s ** 2
    total = var.sum()
    if var[1] <= 0:
        raise ValueError("the weight snapshots do not span a plane (fewer than 2 distinct "
                         "directions of change)")
    return vt[0], vt[1], (float(var[0] / total), float(var[1] / total))


def _project(path, center, d1, d2):
    """Least-squares coordinates of each snapshot on the plane (exact projections when the
    directions are orthonormal, as PCA's are)."""
    D = np.stack([d1, d2], axis=1)
    coords, *_ = np.linalg.lstsq(D, (np.asarray(path, np.float64) - center).T, rcond=None)
    return coords.T


def _axis(values, resolution, margin=0.15):
    """``resolution`` grid coordinates covering ``values`` and 0, widened on both sides by
    ``margin`` times their range."""
    lo, hi = min(values.min(), 0.0), max(values.max(), 0.0)
    pad = margin * (hi - lo) if hi > lo else 1.0
    return np.linspace(lo - pad, hi + pad, resolution)


def _trajectory_dict(trajectory):
    if trajectory is None:
        return {}
    if isinstance(trajectory, dict):
        items = trajectory.items()
    else:
        items = [("path", trajectory)]
    out = {}
    for name, t in items:
        t = np.asarray(getattr(t, "weights", t), dtype=np.float64)
        if t.ndim != 2 or t.shape[0] < 1:
            raise ValueError(f"trajectory {name!r} must be (snapshots, n_params), got shape "
                             f"{t.shape}")
        out[name] = t
    return out


def loss_landscape(model, X, y, *, loss="auto", directions="filter", trajectory=None,
                   resolution=41, span=None, seed=0, n_threads=None):
    """The training loss on a grid over a plane through ``model``'s current weights.

    Parameters
    ----------
    model : cgrad.Sequential (or MLP); its weights are the centre of the plane and are
        not modified.
    X, y : the data the loss is taken over (full batch).
    loss : loss name or "auto" (the model's default).
    directions : "filter" (random, filter-normalised) or "pca" (of ``trajectory``).
    trajectory : a WeightTrajectory, a (snapshots, n_params) array, or a dict of them by
        name (several optimizers' paths on one plane); projected onto the plane.  Needed
        for "pca".
    resolution : grid points per axis (41: 1681 evaluations).
    span : float or None: the grid covers [-span, span] on both axes; None: [-1, 1]
        for "filter" (widened to hold the paths) and the paths plus a margin for "pca".
    seed : seed of the random directions.
    n_threads : threads of each evaluation (None: cgrad.get_num_threads()).

    Returns
    -------
    Landscape
    """
    if directions not in DIRECTIONS:
        raise ValueError(f"directions must be one of {DIRECTIONS}, got {directions!r}")
    resolution = positive_int("resolution", resolution, minimum=2)
    if span is not None and not (np.isfinite(span) and span > 0):
        raise ValueError(f"span must be a finite number > 0, got {span}")
    paths = _trajectory_dict(trajectory)
    for name, t in paths.items():
        if t.shape[1] != model.n_params:
            raise ValueError(f"trajectory {name!r} has {t.shape[1]} parameters per snapshot, "
                             f"the model has {model.n_params}")
    if directions == "pca" and not paths:
        raise ValueError("directions='pca' needs a trajectory (cgrad.callbacks."
                         "WeightTrajectory recorded during fit)")
    objective = FullBatchObjective(model, X, y, loss=loss, n_threads=n_threads)
    center = model.flat_params.astype(np.float64)
    explained = None
    if directions == "filter":
        rng = np.random.default_rng(seed)
        d1, d2 = (filter_normalized_direction(model, rng) for _ in range(2))
    else:
        d1, d2, explained = pca_directions(list(paths.values()), center)
    coords = {name: _project(t, center, d1, d2) for name, t in paths.items()}
    alphas, betas = _grid_axes(coords, directions, resolution, span)
    losses = _evaluate_grid(objective, center, d1, d2, alphas, betas)
    return Landscape(alphas=alphas, betas=betas, losses=losses, center=center,
                     center_loss=objective(center.astype(model.dtype)), d1=d1, d2=d2,
                     directions=directions, paths=coords, explained=explained)


def _grid_axes(coords, directions, resolution, span):
    if span is not None:
        ax = np.linspace(-span, span, resolution)
        return ax, ax.copy()
    pts = np.concatenate(list(coords.values())) if coords else np.zeros((0, 2))
    if directions == "filter":
        pts = np.concatenate([pts, [[-1.0, -1.0], [1.0, 1.0]]])
        return _axis(pts[:, 0], resolution, 0.0), _axis(pts[:, 1], resolution, 0.0)
    return _axis(pts[:, 0], resolution), _axis(pts[:, 1], resolution)


def _evaluate_grid(objective, center, d1, d2, alphas, betas):
    """losses[j, i] at center + alphas[i] d1 + betas[j] d2: one compiled call each."""
    losses = np.empty((len(betas), len(alphas)))
    point = np.empty(center.shape, objective.dtype)
    for j, b in enumerate(betas):
        row = center + b * d2
        for i, a in enumerate(alphas):
            np.add(row, a * d1, out=point, casting="unsafe")
            losses[j, i] = objective(point)
    return losses
