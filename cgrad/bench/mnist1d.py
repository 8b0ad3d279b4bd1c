"""MNIST-1D (Greydanus 2020, "Scaling down deep learning"), generated here with NumPy
only, deterministic from a seed: W4's data.

Each sample is one of ten 12-point digit templates, transformed in the order of the
reference generator (the ``mnist1d`` package, whose documented defaults are used):

1. append a random run of zeros (``padding`` points, uniform in [36, 60]) and resample
   the padded signal linearly to 12 + 60 = 72 points (so the digit's width varies);
2. scale the amplitude by ``1 + scale_coeff * (u - 1/2)``;
3. roll it right by a random 0 .. ``max_translation - 1`` points;
4. fill the points that are exactly zero (the padding) with correlated noise (iid normal
   times ``corr_noise_scale``, smoothed by a Gaussian of sigma 2), then add iid normal
   noise times ``iid_noise_scale`` everywhere;
5. shear: subtract ``shear_scale * (u - 1/2)`` times a ramp from -1/2 to 1/2;
6. resample linearly to ``length`` = 40 points.

The set (``n_samples / 10`` samples per class, shuffled) is standardised by its global
mean and standard deviation, then split into the first ``train_split`` for training and
the rest for testing (4000 / 1000 by default).  The random streams differ from the
package's (``numpy.random.default_rng`` here), so the signals match it in distribution,
not bit for bit.
"""
import numpy as np

__all__ = ["TEMPLATES", "DEFAULTS", "make_mnist1d"]

# The ten digit outlines (12 points each), before normalisation; rows are labels 0..9.
TEMPLATES = np.array([
    [5, 6, 6.5, 6.75, 7, 7, 7, 7, 6.75, 6.5, 6, 5],
    [5, 3, 3, 3.4, 3.8, 4.2, 4.6, 5, 5.4, 5.8, 5, 5],
    [5, 6, 6.5, 6.5, 6, 5.25, 4.75, 4, 3.5, 3.5, 4, 5],
    [5, 6, 6.5, 6.5, 6, 5, 5, 6, 6.5, 6.5, 6, 5],
    [5, 4.4, 3.8, 3.2, 2.6, 2.6, 5, 5, 5, 5, 5, 5],
    [5, 3, 3, 3, 3, 5, 6, 6.5, 6.5, 6, 4.5, 5],
    [5, 4, 3.5, 3.25, 3, 3, 3, 3, 3.25, 3.5, 4, 5],
    [5, 7, 7, 6.6, 6.2, 5.8, 5.4, 5, 4.6, 4.2, 5, 5],
    [5, 4, 3.5, 3.5, 4, 5, 5, 4, 3.5, 3.5, 4, 5],
    [5, 4, 3.5, 3.5, 4, 5, 5, 5, 5, 4.7, 4.3, 5],
])

DEFAULTS = dict(n_samples=5000, train_split=0.8, padding=(36, 60), scale_coeff=0.4,
                max_translation=48, corr_noise_scale=0.25, iid_noise_scale=2e-2,
                shear_scale=0.75, length=40, seed=42)

_EPS = 1e-8          # lifts the template off zero: only the padding counts as empty
_SMOOTH_SIGMA = 2.0  # the correlated noise's Gaussian filter


def _normalised_templates():
    """Zero mean, unit spread, then shifted so each digit starts (and ends) at 0, / 6."""
    x = TEMPLATES - TEMPLATES.mean(axis=1, keepdims=True)
    x = x / x.std(axis=1, keepdims=True)
    return (x - x[:, :1]) / 6.0


def _resample(x, n):
    """Linear interpolation of ``x`` onto ``n`` evenly spaced points over the same span."""
    return np.interp(np.linspace(0.0, 1.0, n), np.linspace(0.0, 1.0, len(x)), x)


def _gaussian_smooth(x, sigma):
    """Convolution with a normalised Gaussian (radius 4 sigma), edges mirrored
    (``d c b a | a b c d``)."""
    r = int(4.0 * sigma + 0.5)
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    return np.convolve(np.pad(x, r, mode="symmetric"), k / k.sum(), mode="valid")


def _transform(x, rng, p):
    """One sample from the normalised template ``x`` (steps 1-6 of the module doc)."""
    lo, hi = p["padding"]
    x = np.concatenate([x + _EPS, np.zeros(lo + int(rng.random() * (hi - lo + 1)))])
    x = _resample(x, len(TEMPLATES[0]) + hi)
    x = x * (1.0 + p["scale_coeff"] * (rng.random() - 0.5))
    x = np.roll(x, int(rng.integers(p["max_translation"])))
    corr = _gaussian_smooth(p["corr_noise_scale"] * rng.standard_normal(len(x)), _SMOOTH_SIGMA)
    x = np.where(x != 0, x, corr) + p["iid_noise_scale"] * rng.standard_normal(len(x))
    x = x - p["shear_scale"] * (rng.random() - 0.5) * np.linspace(-0.5, 0.5, len(x))
    return _resample(x, p["length"])


def _check(p):
    unknown = sorted(set(p) - set(DEFAULTS))
    if unknown:
        raise TypeError(f"make_mnist1d: unknown argument(s) {unknown}; known: {sorted(DEFAULTS)}")
    n_cls = len(TEMPLATES)
    if int(p["n_samples"]) < 2 * n_cls:
        raise ValueError(f"make_mnist1d: n_samples must be at least {2 * n_cls}, "
                         f"got {p['n_samples']}")
    if not 0.0 < p["train_split"] < 1.0:
        raise ValueError(f"make_mnist1d: train_split must be in (0, 1), got {p['train_split']}")
    lo, hi = p["padding"]
    if not 0 <= lo <= hi:
        raise ValueError("make_mnist1d: padding must be (low, high) with 0 <= low <= high, "
                         f"got {p['padding']}")
    if int(p["max_translation"]) < 1 or int(p["length"]) < 2:
        raise ValueError("make_mnist1d: max_translation must be >= 1 and length >= 2")


def make_mnist1d(**kwargs):
    """The MNIST-1D data set (see the module doc for the steps).

    Parameters
    ----------
    **kwargs : overrides of :data:`DEFAULTS`: ``n_samples`` (5000), ``train_split``
        (0.8), ``padding`` ((36, 60)), ``scale_coeff`` (0.4), ``max_translation`` (48),
        ``corr_noise_scale`` (0.25), ``iid_noise_scale`` (0.02), ``shear_scale`` (0.75),
        ``length`` (40), ``seed`` (42).

    Returns
    -------
    (X_train, y_train, X_test, y_test) : X float32 of shape (rows, length), y int64
        labels 0..9; the same arrays for the same arguments.
    """
    p = dict(DEFAULTS, **kwargs)
    _check(p)
    rng = np.random.default_rng(p["seed"])
    templates = _normalised_templates()
    per_class = int(p["n_samples"]) // len(templates)
    X = np.stack([_transform(t, rng, p) for t in templates for _ in range(per_class)])
    y = np.repeat(np.arange(len(templates), dtype=np.int64), per_class)
    order = rng.permutation(len(y))
    X, y = X[order], y[order]
    X = ((X - X.mean()) / X.std()).astype(np.float32)
    split = int(len(y) * p["train_split"])
    return X[:split], y[:split], X[split:], y[split:]
