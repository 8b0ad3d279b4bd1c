"""Two-parameter loss surfaces on which every optimizer's exact path can be drawn.

- ``linear``: the linear-regression cost J(w0, w1) = 1/(2n) sum_i (w0 + w1 x_i - y_i)^2
  over a small fixed synthetic data set (y = 1 + 2 x + noise, x in [0, 3]): the convex,
  elongated bowl the gradient-descent literature opens with (the inputs are not centred,
  so w0 and w1 are coupled and the valley is narrow).
- ``saddle``: f(x, y) = x^4/4 - x^2/2 + y^2/2, non-convex, with a saddle point at (0, 0)
  and two minima f(+-1, 0) = -1/4; started near the saddle's ridge, an optimizer shows
  how long it lingers there before falling to one side.

Each optimizer runs its own update rule on the 2-element parameter vector: cgrad's
optimizer classes attach to ``Point`` (a 2-parameter stand-in for a model) and step from
the exact gradient.
"""
from dataclasses import dataclass

import numpy as np

from . import _core

__all__ = ["Surface", "Point", "linear_regression", "saddle", "SURFACES", "get_surface"]


@dataclass(frozen=True)
class Surface:
    """A function of two parameters with its gradient and a suggested view.

    Parameters
    ----------
    name, formula : str.
    value : f(w0, w1) -> array, broadcasting over array arguments.
    grad : (w0, w1) -> (df/dw0, df/dw1), broadcasting.
    start : the starting point (w0, w1).
    xlim, ylim : the plotted ranges.
    minimum : the smallest value of f.
    minimizers : the points where f is smallest.
    """

    name: str
    formula: str
    value: object
    grad: object
    start: tuple
    xlim: tuple
    ylim: tuple
    minimum: float
    minimizers: tuple


def linear_regression(n=20, seed=0):
    """The mean-squared-error cost of y = w0 + w1 x on ``n`` synthetic points.

    Parameters
    ----------
    n : int, number of data points.
    seed : int, the noise.

    Returns
    -------
    Surface
    """
    rng = np.random.default_rng(seed)
    x = np.linspace(0.0, 3.0, n)
    y = 1.0 + 2.0 * x + rng.normal(0.0, 0.5, n)
    mx, mxx, my, mxy, myy = x.mean(), (x * x).mean(), y.mean(), (x * y).mean(), (y * y).mean()

    def value(w0, w1):
        return 0.5 * (w0 * w0 + 2 * w0 * w1 * mx + w1 * w1 * mxx
                      - 2 * w0 * my - 2 * w1 * mxy + myy)

    def grad(w0, w1):
        return w0 + w1 * mx - my, w0 * mx + w1 * mxx - mxy

    best = np.linalg.solve([[1.0, mx], [mx, mxx]], [my, mxy])
    return Surface("linear", "J(w0, w1) = 1/(2n) sum (w0 + w1 x_i - y_i)^2", value, grad,
                   start=(-3.0, -1.0), xlim=(-4.0, 6.0), ylim=(-2.0, 5.0),
                   minimum=float(value(*best)), minimizers=(tuple(best),))


def saddle():
    """f(x, y) = x^4/4 - x^2/2 + y^2/2: a saddle at (0, 0), minima at (+-1, 0).

    Returns
    -------
    Surface
    """
    def value(x, y):
        return 0.25 * x ** 4 - 0.5 * x ** 2 + 0.5 * y ** 2

    def grad(x, y):
        return x ** 3 - x, y

    return Surface("saddle", "f(x, y) = x^4/4 - x^2/2 + y^2/2", value, grad,
                   start=(0.02, 1.5), xlim=(-1.8, 1.8), ylim=(-1.7, 1.7), minimum=-0.25,
                   minimizers=((-1.0, 0.0), (1.0, 0.0)))


SURFACES = {"linear": linear_regression, "saddle": saddle}


def get_surface(name):
    """The Surface called ``name``.

    Parameters
    ----------
    name : 'linear' or 'saddle'.

    Returns
    -------
    Surface
    """
    try:
        return SURFACES[name]()
    except KeyError:
        raise ValueError(f"unknown toy surface {name!r}; expected one of "
                         f"{sorted(SURFACES)}") from None


class Point:
    """Two parameters in the flat-buffer shape cgrad's optimizers attach to (they need a
    model's ``flat_params`` and ``flat_grads`` only).

    Parameters
    ----------
    w : the starting (w0, w1).
    """

    def __init__(self, w):
        self.flat_params = _core.aligned_full(2, np.float64, 0)
        self.flat_grads = _core.aligned_full(2, np.float64, 0)
        self.flat_params[:] = w
