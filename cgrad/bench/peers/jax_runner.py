"""``jax-step`` (``jax.jit`` of one step) and ``jax-scan`` (the epoch as one ``lax.scan``)."""
import os
import warnings

import numpy as np

from ..workloads import ADAM_BETAS, ADAM_EPS, BN_EPS, BN_MOMENTUM, layer_params
from .base import Runner, batches, metrics


def _batch_norm(jax, jnp, x, stat, layer, train):
    """BatchNorm1d on x: batch statistics and their running update in training (as
    torch.nn.BatchNorm1d), else the running ones; returns (y, new running stats)."""
    rm, rv = stat
    if train:
        mean = jnp.mean(x, axis=0)
        var = jnp.mean(jnp.square(x - mean), axis=0)   # biased, normalises
        n = x.shape[0]
        stat = ((1 - BN_MOMENTUM) * rm + BN_MOMENTUM * mean,
                (1 - BN_MOMENTUM) * rv + BN_MOMENTUM * var * (n / (n - 1)))  # unbiased
    else:
        mean, var = rm, rv
    return (x - mean) * jax.lax.rsqrt(var + BN_EPS) * layer[2] + layer[3], stat


def _make_forward(jax, jnp, *, act, bn, p_drop):
    """forward(params, stats, x, train, key) -> (output, running statistics after x).

    params: per layer (W, b), or (W, b, gamma, beta) for a batch-norm hidden layer;
    stats: per such layer (running mean, running var), [] without batch norm; dropout
    with ``key`` in training."""
    def forward(params, stats, x, train, key=None):
        new_stats = []
        for i, layer in enumerate(params):
            x = x @ layer[0] + layer[1]
            if i == len(params) - 1:
                break
            if bn:
                x, st = _batch_norm(jax, jnp, x, stats[i], layer, train)
                new_stats.append(st)
            x = act(x)
            if train and p_drop > 0:
                keep = jax.random.bernoulli(jax.random.fold_in(key, i), 1.0 - p_drop, x.shape)
                x = jnp.where(keep, x / (1.0 - p_drop), 0.0)
        return x, new_stats
    return forward


def _update(jax, jnp, *, opt, lr, mom, params, state, g):
    """The optimizer step (hand-written SGD with momentum / Adam): (params, state)."""
    tmap = jax.tree_util.tree_map
    if opt == "sgd":
        buf = tmap(lambda b_, g_: mom * b_ + g_, state, g)
        return tmap(lambda p, b_: p - lr * b_, params, buf), buf
    b1, b2 = ADAM_BETAS
    m, v, t = state
    t = t + 1.0
    m = tmap(lambda m_, g_: b1 * m_ + (1 - b1) * g_, m, g)
    v = tmap(lambda v_, g_: b2 * v_ + (1 - b2) * g_ * g_, v, g)
    stepsize = lr / (1 - b1 ** t)
    sqrt_bc2 = jnp.sqrt(1 - b2 ** t)
    params = tmap(lambda p, m_, v_: p - stepsize * m_ / (jnp.sqrt(v_) / sqrt_bc2 + ADAM_EPS),
                  params, m, v)
    return params, (m, v, t)


def _make_step(jax, jnp, forward, *, task, opt, lr, mom, bn, p_drop):
    """step(params, state, aux, X, Y, idx) -> (params, state, aux); aux: (running
    statistics, dropout key), both () for a plain network."""
    def loss_fn(params, stats, x, y, key):
        z, stats = forward(params, stats, x, True, key)
        if task == "classification":
            logp = jax.nn.log_softmax(z)
            return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1)), stats
        return jnp.mean((z - y) ** 2), stats

    def step(params, state, aux, X, Y, idx):
        stats, key = aux
        if p_drop > 0:
            key, sub = jax.random.split(key)
        else:
            sub = None
        g, stats = jax.grad(loss_fn, has_aux=True)(params, stats, X[idx], Y[idx], sub)
        stats = stats if bn else ()
        params, state = _update(jax, jnp, opt=opt, lr=lr, mom=mom, params=params, state=state, g=g)
        return params, state, (stats, key)
    return step


class JaxRunner(Runner):
    """JAX on the CPU, one jitted step per batch (``scan``: one jitted epoch); the
    thread count follows the process's CPU affinity."""
    scan = False
    layers = True
    requires = ("jax",)

    def setup(self):
        """Jit the step / epoch and the eval forward; params, optimizer state, aux."""
        import jax
        import jax.numpy as jnp
        self.jax, self.jnp = jax, jnp
        self.notes.append(f"jax {jax.__version__} devices={jax.devices()} "
                          f"cpus_visible={len(os.sched_getaffinity(0))}")
        act = jax.nn.relu if self.act == "relu" else jnp.tanh
        forward = _make_forward(jax, jnp, act=act, bn=self.bn, p_drop=self.p_drop)
        step = _make_step(jax, jnp, forward, task=self.task, opt=self.opt, lr=self.lr,
                          mom=self.mom, bn=self.bn, p_drop=self.p_drop)

        def epoch_scan(params, state, aux, X, Y, batch_idx):
            def body(carry, idx):
                return step(*carry, X, Y, idx), None
            return jax.lax.scan(body, (params, state, aux), batch_idx)[0]

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.step = jax.jit(step, donate_argnums=(0, 1, 2))
            self.epoch_scan = jax.jit(epoch_scan, donate_argnums=(0, 1, 2))
        self.forward = jax.jit(lambda params, stats, x: forward(params, stats, x, False)[0])
        self._init_state()
        self.X = jnp.asarray(self.Xtr)
        self.Y = jnp.asarray(self.ytr.astype(np.int32) if self.task == "classification" else self.ytr)

    def _init_state(self):
        jax, jnp = self.jax, self.jnp
        self.params = [tuple(jnp.asarray(a) for a in p)
                       for p in layer_params(self.init, len(self.sizes) - 1, self.bn)]
        zeros = jax.tree_util.tree_map(jnp.zeros_like, self.params)
        if self.opt == "sgd":
            self.state = zeros
        else:
            self.state = (zeros, jax.tree_util.tree_map(jnp.zeros_like, self.params),
                          jnp.asarray(0.0, dtype=jnp.float32))
        stats = ([(jnp.zeros(n, jnp.float32), jnp.ones(n, jnp.float32)) for n in self.sizes[1:-1]]
                 if self.bn else ())
        self.aux = (stats, jax.random.PRNGKey(self.seed) if self.p_drop > 0 else ())

    def epoch(self, e):
        """Train epoch ``e`` on the shared permutation (the partial batch as one more step)."""
        full, rest = batches(self.perm(e).astype(np.int32), self.B)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            carry = (self.params, self.state, self.aux)
            if self.scan:
                carry = self.epoch_scan(*carry, self.X, self.Y, self.jnp.asarray(full))
            else:
                for idx in full:
                    carry = self.step(*carry, self.X, self.Y, idx)
            if len(rest):
                carry = self.step(*carry, self.X, self.Y, rest)
            self.params, self.state, self.aux = carry
        self.jax.block_until_ready((self.params, self.aux))

    def evaluate(self):
        """Test loss (and accuracy) with the running statistics, no dropout."""
        Z = np.asarray(self.forward(self.params, self.aux[0] if self.bn else [],
                                    self.jnp.asarray(self.Xte)))
        return metrics(Z, self.yte, self.task)


class JaxScanRunner(JaxRunner):
    """``jax-scan``: the whole epoch as one jitted ``lax.scan`` over the batch indices."""
    scan = True
