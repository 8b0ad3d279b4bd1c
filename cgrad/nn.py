"""Layers as data: the kinds a ``cgrad.Sequential`` network is made of.

A layer object only describes itself (kind, sizes, hyperparameters) and, once a model is
built from it, holds NumPy views of its parameters in the model's flat buffers.  The
compiled core runs the network from the table these descriptions make
(``src/layers.pxi``): one forward and one backward per kind, walked by ``fit``, the step
API and inference alike::

    Dense(n_out, activation="identity")   z = x @ W + b; y = act(z)   W: (IN, OUT)
    Activation(name)                      y = act(x)
    Dropout(p)                            y = x * keep / (1 - p) in training; y = x in eval
    BatchNorm1d(momentum=0.1, eps=1e-5)   y = gamma * (x - mean) / sqrt(var + eps) + beta
                                          (batch statistics in training, running ones in
                                          eval; torch.nn.BatchNorm1d's momentum semantics)

Parameter layout in the flat buffers, layer by layer: Dense ``W`` (IN*OUT) then ``b``
(OUT); BatchNorm1d ``gamma`` then ``beta``.  BatchNorm1d's ``running_mean`` and
``running_var`` live in the model's ``flat_buffers``.
"""
import numpy as np

from ._validation import positive_int
from .ops.activations import ACTIVATION_CODES, DEFAULT_ALPHA

__all__ = ["Layer", "Dense", "Activation", "Dropout", "BatchNorm1d", "from_spec"]


def _activation(name, alpha):
    if name not in ACTIVATION_CODES:
        raise ValueError(f"unknown activation {name!r}; expected one of "
                         f"{sorted(ACTIVATION_CODES)}")
    alpha = DEFAULT_ALPHA.get(name, 0.0) if alpha is None else float(alpha)
    if not np.isfinite(alpha):
        raise ValueError(f"alpha must be finite, got {alpha}")
    return name, alpha


def _float_in(name, v, lo, hi, hi_open=True):
    try:
        v = float(v)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number, got {type(v).__name__}") from None
    if not (lo <= v and (v < hi if hi_open else v <= hi)):
        raise ValueError(f"{name} must be in [{lo}, {hi}{')' if hi_open else ']'}, got {v}")
    return v


class Layer:
    """Base: ``kind``; ``n_in``/``n_out`` once built into a model."""

    kind = None
    n_in = n_out = None

    def _build(self, n_in):
        """Fix the input width; returns the output width."""
        self.n_in = n_in
        self.n_out = n_in
        return self.n_out

    def n_params(self):
        """Number of parameters the layer owns in the model's flat buffer.

        Returns
        -------
        int
            0 for a layer without parameters.
        """
        return 0

    def _bind(self, params, grads, buffers):
        """Take views of this layer's parameters (params/grads: its slice of the flat
        buffers; buffers: its slice of the running statistics)."""

    def spec(self):
        """The layer as plain data (what save() stores and the reference runs).

        Returns
        -------
        dict
            ``{"kind": kind, "n": n_in}``; subclasses add their hyperparameters.
        """
        return {"kind": self.kind, "n": self.n_in}

    def _compiled(self):
        """The record the compiled table is built from (activation codes, not names)."""
        return {"kind": self.kind}

    def _args(self):
        return ""

    def __repr__(self):
        return f"{type(self).__name__}({self._args()})"


class Dense(Layer):
    """Fully connected: ``y = act(x @ W + b)``; W (IN, OUT), b (OUT,).

    Parameters
    ----------
    n_out : int
        Output width, >= 1.
    activation : str, default="identity"
        Activation name, a key of `cgrad.ops.ACTIVATION_CODES` except ``"softmax"`` (which
        belongs to the model's output).
    alpha : float or None, default=None
        Parameter of ``"leaky_relu"`` (default 0.01) and ``"elu"`` (default 1.0); ignored
        (stored as 0.0) by the others.

    Raises
    ------
    TypeError
        If `n_out` is not an int.
    ValueError
        If `n_out` < 1, the activation is unknown or ``"softmax"``, or `alpha` is not finite.
    """

    kind = "dense"

    def __init__(self, n_out, activation="identity", alpha=None):
        self.units = positive_int("n_out", n_out)
        self.activation, self.alpha = _activation(activation, alpha)
        if activation == "softmax":
            raise ValueError("softmax belongs to the output (Sequential(output='softmax')), "
                             "not to a hidden layer")
        self.W = self.b = self.dW = self.db = None

    def _build(self, n_in):
        self.n_in, self.n_out = n_in, self.units
        return self.n_out

    def n_params(self):
        """Number of parameters the layer owns in the model's flat buffer.

        Returns
        -------
        int
            ``n_in * n_out + n_out`` (W and b).
        """
        return self.n_in * self.n_out + self.n_out

    def _bind(self, params, grads, buffers):
        k = self.n_in * self.n_out
        self.W, self.b = params[:k].reshape(self.n_in, self.n_out), params[k:]
        self.dW, self.db = grads[:k].reshape(self.n_in, self.n_out), grads[k:]

    def spec(self):
        """The layer as plain data (what save() stores and the reference runs).

        Returns
        -------
        dict
            Keys ``"kind"`` (``"dense"``), ``"n_in"``, ``"n_out"``, ``"activation"``, ``"alpha"``;
            the sizes are None until the layer is built into a model.
        """
        return {"kind": "dense", "n_in": self.n_in, "n_out": self.n_out,
                "activation": self.activation, "alpha": self.alpha}

    def _compiled(self):
        return {"kind": "dense", "n_out": self.units, "act": ACTIVATION_CODES[self.activation],
                "alpha": self.alpha}

    def _args(self):
        act = "" if self.activation == "identity" else f", activation={self.activation!r}"
        return f"{self.units}{act}"


class Activation(Layer):
    """Elementwise activation ``y = act(x)`` (fused into the Dense before it, if any).

    Parameters
    ----------
    name : str
        Activation name, a key of `cgrad.ops.ACTIVATION_CODES` except ``"softmax"``.
    alpha : float or None, default=None
        Parameter of ``"leaky_relu"`` (default 0.01) and ``"elu"`` (default 1.0); ignored
        (stored as 0.0) by the others.

    Raises
    ------
    ValueError
        If the activation is unknown or ``"softmax"``, or `alpha` is not finite.
    """

    kind = "activation"

    def __init__(self, name, alpha=None):
        self.activation, self.alpha = _activation(name, alpha)
        if name == "softmax":
            raise ValueError("softmax belongs to the output (Sequential(output='softmax'))")

    def spec(self):
        """The layer as plain data (what save() stores and the reference runs).

        Returns
        -------
        dict
            Keys ``"kind"`` (``"activation"``), ``"n"``, ``"activation"``, ``"alpha"``;
            the sizes are None until the layer is built into a model.
        """
        return {"kind": "activation", "n": self.n_in, "activation": self.activation,
                "alpha": self.alpha}

    def _compiled(self):
        return {"kind": "activation", "act": ACTIVATION_CODES[self.activation],
                "alpha": self.alpha}

    def _args(self):
        return repr(self.activation)


class Dropout(Layer):
    """Inverted dropout: in training, each element is kept with probability ``1 - p`` and
    scaled by ``1 / (1 - p)``; in eval mode the identity.  The mask is a pure function of
    (the model's dropout seed, the training step, the layer's position, the element), so
    it does not depend on the thread count and backward recomputes it.

    Parameters
    ----------
    p : float, default=0.5
        Drop probability, in [0, 1).

    Raises
    ------
    TypeError
        If `p` is not a number.
    ValueError
        If `p` is not in [0, 1).
    """

    kind = "dropout"

    def __init__(self, p=0.5):
        self.p = _float_in("p", p, 0.0, 1.0)

    def spec(self):
        """The layer as plain data (what save() stores and the reference runs).

        Returns
        -------
        dict
            Keys ``"kind"`` (``"dropout"``), ``"n"``, ``"p"``;
            the sizes are None until the layer is built into a model.
        """
        return {"kind": "dropout", "n": self.n_in, "p": self.p}

    def _compiled(self):
        return {"kind": "dropout", "p": self.p}

    def _args(self):
        return f"p={self.p}"


class BatchNorm1d(Layer):
    """Batch normalisation over the rows of a batch, with learnable ``gamma`` (init 1) and
    ``beta`` (init 0).  Training: batch mean and biased variance, and
    ``running = (1 - momentum) * running + momentum * batch`` (running_var from the
    unbiased variance), as torch.nn.BatchNorm1d.  Eval: the running statistics.

    Parameters
    ----------
    momentum : float, default=0.1
        Weight of the batch statistics in the running-statistics update, in [0, 1].
    eps : float, default=1e-5
        Added to the variance, > 0.

    Raises
    ------
    TypeError
        If `momentum` or `eps` is not a number.
    ValueError
        If `momentum` is not in [0, 1] or `eps` <= 0.
    """

    kind = "batchnorm"

    def __init__(self, momentum=0.1, eps=1e-5):
        self.momentum = _float_in("momentum", momentum, 0.0, 1.0, hi_open=False)
        self.eps = _float_in("eps", eps, 0.0, np.inf)
        if self.eps <= 0:
            raise ValueError(f"eps must be > 0, got {self.eps}")
        self.gamma = self.beta = self.dgamma = self.dbeta = None
        self.running_mean = self.running_var = None

    def n_params(self):
        """Number of parameters the layer owns in the model's flat buffer.

        Returns
        -------
        int
            ``2 * n_in`` (gamma and beta).
        """
        return 2 * self.n_in

    def _bind(self, params, grads, buffers):
        n = self.n_in
        self.gamma, self.beta = params[:n], params[n:]
        self.dgamma, self.dbeta = grads[:n], grads[n:]
        self.running_mean, self.running_var = buffers[:n], buffers[n:]

    def spec(self):
        """The layer as plain data (what save() stores and the reference runs).

        Returns
        -------
        dict
            Keys ``"kind"`` (``"batchnorm"``), ``"n"``, ``"momentum"``, ``"eps"``;
            the sizes are None until the layer is built into a model.
        """
        return {"kind": "batchnorm", "n": self.n_in, "momentum": self.momentum, "eps": self.eps}

    def _compiled(self):
        return {"kind": "batchnorm", "momentum": self.momentum, "eps": self.eps}

    def _args(self):
        return f"momentum={self.momentum}, eps={self.eps}"


def from_spec(spec):
    """The layer a ``spec()`` dict describes (load()).

    Parameters
    ----------
    spec : dict
        A dict returned by a layer's ``spec()``.

    Returns
    -------
    Layer
        A new, unbuilt layer with the spec's hyperparameters.

    Raises
    ------
    ValueError
        If ``spec["kind"]`` is not a known layer kind.
    """
    kind = spec.get("kind")
    if kind == "dense":
        return Dense(spec["n_out"], spec["activation"], spec["alpha"])
    if kind == "activation":
        return Activation(spec["activation"], spec["alpha"])
    if kind == "dropout":
        return Dropout(spec["p"])
    if kind == "batchnorm":
        return BatchNorm1d(spec["momentum"], spec["eps"])
    raise ValueError(f"unknown layer kind {kind!r}")
