"""cgrad.Sequential against torch.nn.Sequential in float64: ten full-batch steps of cgrad's
fused fit against torch's own training loop from the same weights (torch Linear weight =
W.T), BatchNorm1d's gamma/beta and running statistics included.  Dropout: the torch side
multiplies by cgrad's documented masks (dropout_step_seed + dropout_mask), not nn.Dropout."""
import numpy as np
import pytest
from numpy.testing import assert_allclose

import cgrad
from cgrad import optim, reference as ref

N, D, H = 48, 6, 16
P = 0.3
MOMENTUM, EPS = 0.2, 1e-4


def _problem(rng, k, regression):
    X = rng.standard_normal((N, D)) * 1.5 + 0.5
    if regression:
        return X, np.stack([np.sin(X[:, 0]), X[:, 1] * X[:, 2]], axis=1)
    return X, (X @ rng.standard_normal((D, k))).argmax(axis=1).astype(np.int64)


def _cgrad_net(dropout, output, k):
    nn = cgrad.nn
    layers = [nn.Dense(H), nn.BatchNorm1d(momentum=MOMENTUM, eps=EPS), nn.Activation("relu")]
    layers += [nn.Dropout(P)] if dropout else []
    return cgrad.Sequential(D, layers + [nn.Dense(k)], output=output, dtype="float64", seed=0)


def _split(specs, flat, kinds):
    """The arrays of ``flat`` in layer order: dense W (n_in, n_out) and b, or two vectors
    of n per batchnorm; only the layers whose kind is in ``kinds``."""
    out, off = [], 0
    for s in specs:
        if s["kind"] in kinds:
            shapes = ([(s["n_in"], s["n_out"]), (s["n_out"],)] if s["kind"] == "dense"
                      else [(s["n"],), (s["n"],)])
            for shape in shapes:
                size = int(np.prod(shape))
                out.append(flat[off:off + size].reshape(shape))
                off += size
    assert off == flat.size
    return out


def _torch_twin(torch, model, dropout):
    """(net, mask layer or None) with the model's weights and running statistics."""
    class MaskedDropout(torch.nn.Module):
        """x * where(keep, 1/(1-p), 0) with ``keep`` set before each step; eval: x."""
        factor = None

        def forward(self, x):
            return x * self.factor if self.training else x

    specs = model.specs()
    W1, b1, gamma, beta, W2, b2 = _split(specs, model.flat_params, ("dense", "batchnorm"))
    rm, rv = _split(specs, model.flat_buffers, ("batchnorm",))
    lin1, lin2 = torch.nn.Linear(D, H), torch.nn.Linear(H, W2.shape[1])
    bn = torch.nn.BatchNorm1d(H, momentum=MOMENTUM, eps=EPS)
    mask = MaskedDropout() if dropout else None
    net = torch.nn.Sequential(lin1, bn, torch.nn.ReLU(), *([mask] if dropout else []), lin2)
    net = net.double()
    with torch.no_grad():
        for t, a in ((lin1.weight, W1.T), (lin1.bias, b1), (bn.weight, gamma), (bn.bias, beta),
                     (bn.running_mean, rm), (bn.running_var, rv), (lin2.weight, W2.T),
                     (lin2.bias, b2)):
            t.copy_(torch.from_numpy(np.ascontiguousarray(a)))
    return net, mask, (lin1, bn, lin2)


def _torch_flat(lin1, bn, lin2):
    """torch's parameters and buffers in cgrad's flat layouts."""
    a = [lin1.weight.T, lin1.bias, bn.weight, bn.bias, lin2.weight.T, lin2.bias]
    params = np.concatenate([t.detach().numpy().ravel() for t in a])
    buffers = np.concatenate([bn.running_mean.numpy(), bn.running_var.numpy()])
    return params, buffers


def _close(got, want, what):
    assert_allclose(got, want, rtol=1e-8, atol=1e-8 * np.abs(want).max(), err_msg=what)


@pytest.mark.parametrize("regression,opt_name,dropout", [
    (False, "sgd", False), (False, "adam", False), (False, "sgd", True), (False, "adam", True),
    (True, "adam", True)])
def test_fit_matches_a_torch_training_loop(rng, regression, opt_name, dropout):
    torch = pytest.importorskip("torch")
    k = 2 if regression else 3
    X, y = _problem(rng, k, regression)
    model = _cgrad_net(dropout, "identity" if regression else "softmax", k)
    net, mask, (lin1, bn, lin2) = _torch_twin(torch, model, dropout)
    start, params0 = model.step_count, model.flat_params.copy()
    drop_index = next((i for i, s in enumerate(model.specs()) if s["kind"] == "dropout"), None)
    assert (drop_index is not None) == dropout

    if opt_name == "sgd":
        opt = optim.SGD(lr=0.1, momentum=0.9)
        topt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    else:
        opt = optim.Adam(lr=1e-2)
        topt = torch.optim.Adam(net.parameters(), lr=1e-2)
    model.fit(X, y, loss="mse" if regression else "auto", optimizer=opt, epochs=10,
              batch_size=None, shuffle=False, verbose=0)
    assert model.step_count == start + 10

    loss_fn = torch.nn.MSELoss() if regression else torch.nn.CrossEntropyLoss()
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    net.train()
    for step in range(start, start + 10):
        if dropout:
            keep = ref.dropout_mask((N, H), P, ref.dropout_step_seed(model.dropout_seed, step,
                                                                     drop_index))
            mask.factor = torch.from_numpy(np.where(keep, 1.0 / (1.0 - P), 0.0))
        topt.zero_grad()
        loss_fn(net(Xt), yt).backward()
        topt.step()

    params, buffers = _torch_flat(lin1, bn, lin2)
    assert not np.allclose(params, params0, rtol=1e-3)
    _close(model.flat_params, params, "weights, gamma, beta")
    _close(model.flat_buffers, buffers, "running_mean, running_var")
    model.eval()
    net.eval()
    with torch.no_grad():
        want = net(Xt).numpy()
    _close(model.forward(X), want, "eval-mode output")
