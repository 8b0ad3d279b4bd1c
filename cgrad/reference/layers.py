"""NumPy reference: a network as a table of layers (cgrad.Sequential), forward and backward.

::

    specs: one dict per layer, in order (``model.specs()``):
        {"kind": "dense", "n_in", "n_out", "activation", "alpha"}   y = act(x @ W + b)
        {"kind": "activation", "n", "activation", "alpha"}          y = act(x)
        {"kind": "dropout", "n", "p"}                               inverted dropout
        {"kind": "batchnorm", "n", "momentum", "eps"}               torch.nn.BatchNorm1d
    params (flat): layer by layer; dense: W (n_in*n_out, row-major (n_in, n_out)) then b (n_out);
        batchnorm: gamma (n) then beta (n); other kinds own nothing.  grads: the same layout.
    buffers (flat): per batchnorm, running_mean (n) then running_var (n); updated in place by
        a training-mode forward (torch momentum, unbiased variance).  None if there is no
        batchnorm.

    dropout_step_seed(seed, step, index) = sm(seed ^ sm(step * 256 + index))   (mod 2^64)
        sm: the splitmix64 output function; the seed of the dropout mask of layer ``index``
        at training step ``step``: keep = dropout_mask((N, n), p, dropout_step_seed(...)).
    network_forward(specs, params, buffers, x, *, training=True, seed=0, step=0) -> (out, cache)
    network_backward(specs, params, cache, dout) -> (dx, grads)      (grads: params' layout)
        Eval mode (training=False): batchnorm uses the running statistics (its backward is
        then the fixed affine map), dropout is the identity.

Computed in the dtype of the inputs; tests pass float64 to get the truth.
"""
import numpy as np

from .activations import ACTIVATIONS
from .dense import linear_act_backward, linear_act_forward
from .norm import batchnorm_backward, batchnorm_forward, dropout_backward, dropout_forward

__all__ = ["dropout_step_seed", "network_forward", "network_backward"]

_MASK64 = 2 ** 64 - 1


def _sm(z):
    """splitmix64 output function on a Python int, mod 2^64."""
    z = (z + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def dropout_step_seed(seed, step, index):
    """Seed of the dropout mask of layer `index` at training step `step`.

    Parameters
    ----------
    seed : int
        The model's dropout seed.
    step : int
        Training step.
    index : int
        Position of the dropout layer in the network.

    Returns
    -------
    int
        ``sm(seed ^ sm(step * 256 + index))`` modulo 2**64 (the module docstring defines ``sm``).
    """
    return _sm((int(seed) & _MASK64) ^ _sm((int(step) * 256 + int(index)) & _MASK64))


def _shapes(s):
    """Shapes of what a layer owns in the flat arrays: dense (W, b), batchnorm 2 x (n,)."""
    if s["kind"] == "dense":
        return [(s["n_in"], s["n_out"]), (s["n_out"],)]
    return [(s["n"],), (s["n"],)] if s["kind"] == "batchnorm" else []


def _views(specs, flat, kinds):
    """Per layer, views of ``flat`` with its _shapes if its kind is in ``kinds``, else ()."""
    shapes = [_shapes(s) if s["kind"] in kinds else [] for s in specs]
    need = sum(int(np.prod(shape)) for layer in shapes for shape in layer)
    if need != flat.size:
        raise ValueError(f"the specs need {need} values, the flat array has {flat.size}")
    out, off = [], 0
    for layer in shapes:
        views = []
        for shape in layer:
            size = int(np.prod(shape))
            views.append(flat[off:off + size].reshape(shape))
            off += size
        out.append(tuple(views))
    return out


def _act(s):
    fwd, bwd, takes_alpha = ACTIVATIONS[s["activation"]]
    extra = (s["alpha"],) if takes_alpha and s.get("alpha") is not None else ()
    return fwd, bwd, extra


def network_forward(specs, params, buffers, x, *, training=True, seed=0, step=0):
    """Forward pass of a network given as a table of layers.

    Parameters
    ----------
    specs : list of dict
        One dict per layer (``model.specs()``; the module docstring lists the keys).
    params : ndarray, 1-D
        All parameters, flat, in the layout of the module docstring.
    buffers : ndarray, 1-D, or None
        Batch-norm running statistics, flat; updated in place by a training-mode forward.
        None if there is no batch-norm layer.
    x : ndarray, shape (N, n_in)
        Input.
    training : bool, default=True
        Training mode (dropout active, batch statistics) or eval mode.
    seed : int, default=0
        Dropout seed (see `dropout_step_seed`).
    step : int, default=0
        Training step, for the dropout seeds.

    Returns
    -------
    out : ndarray
        The network's output.
    cache : list
        Per layer, what `network_backward` needs.

    Raises
    ------
    ValueError
        If the flat arrays do not fit `specs`, or a layer kind is unknown.
    """
    params_v = _views(specs, params, ("dense", "batchnorm"))
    buffers_v = _views(specs, np.empty(0, x.dtype) if buffers is None else buffers,
                       ("batchnorm",))
    cache = []
    for index, (s, pv, bv) in enumerate(zip(specs, params_v, buffers_v)):
        kind = s["kind"]
        if kind == "dense":
            z, y = linear_act_forward(x, *pv, s["activation"], s.get("alpha"))
            cache.append((x, z, y))
        elif kind == "activation":
            fwd, _, extra = _act(s)
            y = fwd(x, *extra)
            cache.append((x, y))
        elif kind == "dropout":
            dseed = dropout_step_seed(seed, step, index) if training else None
            y = dropout_forward(x, s["p"], dseed) if training else x.copy()
            cache.append(dseed)
        elif kind == "batchnorm":
            y, bn = batchnorm_forward(x, *pv, *bv, training=training, momentum=s["momentum"],
                                      eps=s["eps"])
            cache.append(bn)
        else:
            raise ValueError(f"unknown layer kind {kind!r}")
        x = y
    return x, cache


def network_backward(specs, params, cache, dout):
    """Backward pass of `network_forward`.

    Parameters
    ----------
    specs : list of dict
        The forward's layer table.
    params : ndarray, 1-D
        The forward's flat parameters.
    cache : list
        The forward's cache.
    dout : ndarray
        Gradient with respect to the network's output.

    Returns
    -------
    dx : ndarray
        Gradient with respect to the input.
    grads : ndarray, 1-D
        Gradients with respect to `params`, in their layout.
    """
    params_v = _views(specs, params, ("dense", "batchnorm"))
    grads = np.zeros_like(params)
    grads_v = _views(specs, grads, ("dense", "batchnorm"))
    d = dout
    for s, pv, gv, c in reversed(list(zip(specs, params_v, grads_v, cache))):
        kind = s["kind"]
        if kind == "dense":
            x, z, y = c
            d, gv[0][...], gv[1][...] = linear_act_backward(d, z, y, x, pv[0], s["activation"],
                                                            s.get("alpha"))
        elif kind == "activation":
            _, bwd, extra = _act(s)
            d = bwd(d, *c, *extra)
        elif kind == "dropout":
            d = d.copy() if c is None else dropout_backward(d, s["p"], c)
        elif c.training:
            d, gv[0][...], gv[1][...] = batchnorm_backward(d, c)
        else:                                   # eval: y = gamma * (x - mean) * invstd + beta
            xhat = (c.x - c.mean) * c.invstd
            gv[0][...], gv[1][...] = (d * xhat).sum(axis=0), d.sum(axis=0)
            d = d * c.gamma * c.invstd
    return d, grads
