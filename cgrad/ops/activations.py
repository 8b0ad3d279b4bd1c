"""Compiled activations with the signatures of cgrad.reference.activations.

forward(z[, alpha], out=None, n_threads=None) -> y
backward(dy, z, y[, alpha], out=None, n_threads=None) -> dz
Inputs are 1-D or 2-D C-contiguous float32/float64 arrays of one dtype (softmax works
along the last axis).  ``out`` may be ``z`` (forward) or ``dy`` (backward) for in-place.
"""
import numpy as np

from .. import _core
from .._validation import float_array, n_threads_arg, same_shape, writable

ACTIVATION_CODES = _core.ACTIVATION_CODES     # name -> compiled code
DEFAULT_ALPHA = {"leaky_relu": 0.01, "elu": 1.0}

__all__ = ["ACTIVATION_CODES", "ACTIVATIONS", "activation_code"]


def activation_code(name):
    """The compiled code of an activation.

    Parameters
    ----------
    name : str
        Activation name, a key of `ACTIVATION_CODES`.

    Returns
    -------
    int
        Its code.

    Raises
    ------
    ValueError
        If `name` is not a known activation.
    """
    try:
        return ACTIVATION_CODES[name]
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; expected one of "
                         f"{sorted(ACTIVATION_CODES)}") from None


def _as2d(a):
    return a.reshape(1, -1) if a.ndim == 1 else a


def _out(name, out, like):
    if out is None:
        return np.empty_like(like)
    float_array(name, out, dtype=like.dtype, allow_empty=True)
    writable(name, out)
    return same_shape(name, out, like.shape)


def _forward(name, z, alpha, out, n_threads):
    float_array("z", z, allow_empty=True)
    if z.ndim not in (1, 2):
        raise ValueError(f"z must be 1-D or 2-D, got shape {z.shape}")
    y = _out("out", out, z)
    _core.activation_forward(ACTIVATION_CODES[name], alpha, _as2d(z), _as2d(y),
                             n_threads_arg(n_threads))
    return y


def _backward(name, dy, z, y, alpha, out, n_threads):
    float_array("dy", dy, allow_empty=True)
    if dy.ndim not in (1, 2):
        raise ValueError(f"dy must be 1-D or 2-D, got shape {dy.shape}")
    for arg, a in (("z", z), ("y", y)):
        float_array(arg, a, dtype=dy.dtype, allow_empty=True)
        same_shape(arg, a, dy.shape)
    dz = _out("out", out, dy)
    _core.activation_backward(ACTIVATION_CODES[name], alpha, _as2d(z), _as2d(y), _as2d(dy),
                              _as2d(dz), n_threads_arg(n_threads))
    return dz


_ALPHA_DOC = """alpha : float, default={default}
    The activation's parameter.
"""
_FORWARD_DOC = """Compiled {name} forward; see cgrad.reference.{name}_forward.

Parameters
----------
z : ndarray
    Pre-activations, 1-D or 2-D, C-contiguous float32 or float64.
{alpha}out : ndarray or None, default=None
    Output buffer of the shape and dtype of `z` (may be `z`); None: a new array.
n_threads : int or None, default=None
    OpenMP threads; None: `cgrad.get_num_threads`.

Returns
-------
ndarray
    ``y`` (`out` if given).

Raises
------
TypeError
    If an array is not a float32/float64 ndarray, or the dtypes differ.
ValueError
    If an array has a bad shape or layout, or `out` is read-only.
"""
_BACKWARD_DOC = """Compiled {name} backward; see cgrad.reference.{name}_backward.

Parameters
----------
dy : ndarray
    Gradient with respect to the output, 1-D or 2-D, C-contiguous float32 or float64.
z : ndarray
    The forward's input, the shape and dtype of `dy`.
y : ndarray
    The forward's output, the shape and dtype of `dy`.
{alpha}out : ndarray or None, default=None
    Buffer for ``dz``, the shape and dtype of `dy` (may be `dy`); None: a new array.
n_threads : int or None, default=None
    OpenMP threads; None: `cgrad.get_num_threads`.

Returns
-------
ndarray
    ``dz`` (`out` if given).

Raises
------
TypeError
    If an array is not a float32/float64 ndarray, or the dtypes differ.
ValueError
    If an array has a bad shape or layout, or `out` is read-only.
"""


def _make(name):
    if name in DEFAULT_ALPHA:
        default = DEFAULT_ALPHA[name]

        def forward(z, alpha=default, out=None, n_threads=None):
            return _forward(name, z, float(alpha), out, n_threads)

        def backward(dy, z, y, alpha=default, out=None, n_threads=None):
            return _backward(name, dy, z, y, float(alpha), out, n_threads)
    else:
        def forward(z, out=None, n_threads=None):
            return _forward(name, z, 0.0, out, n_threads)

        def backward(dy, z, y, out=None, n_threads=None):
            return _backward(name, dy, z, y, 0.0, out, n_threads)
    forward.__name__, backward.__name__ = f"{name}_forward", f"{name}_backward"
    alpha_doc = _ALPHA_DOC.format(default=DEFAULT_ALPHA[name]) if name in DEFAULT_ALPHA else ""
    forward.__doc__ = _FORWARD_DOC.format(name=name, alpha=alpha_doc)
    backward.__doc__ = _BACKWARD_DOC.format(name=name, alpha=alpha_doc)
    return forward, backward


ACTIVATIONS = {}
for _name in ACTIVATION_CODES:
    _f, _b = _make(_name)
    globals()[_f.__name__], globals()[_b.__name__] = _f, _b
    ACTIVATIONS[_name] = (_f, _b, _name in DEFAULT_ALPHA)
    __all__ += [_f.__name__, _b.__name__]
del _name, _f, _b
