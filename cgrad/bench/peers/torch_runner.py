"""``torch``: an eager ``nn.Sequential`` with a fused (else foreach) optimizer."""
import numpy as np

from ..workloads import ADAM_BETAS, ADAM_EPS, BN_EPS, BN_MOMENTUM, layer_params
from .base import Runner, metrics


class TorchRunner(Runner):
    """PyTorch eager on the CPU: ``set_num_threads(n)``, ``set_flush_denormal(True)``,
    ``nn.BatchNorm1d`` / ``nn.Dropout`` in ``train()`` for the workloads that have them."""
    layers = True
    requires = ("torch",)

    def setup(self):
        """Threads, denormals, the network from the shared weights, loss and optimizer."""
        import torch
        self.torch = torch
        torch.set_num_threads(self.n_threads)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:
            pass
        if torch.set_flush_denormal(True):
            self.notes.append("set_flush_denormal(True)")
        torch.manual_seed(self.seed)            # the dropout masks
        self.model = torch.nn.Sequential(*self._layers())
        self.model.train()
        self.loss_fn = (torch.nn.CrossEntropyLoss() if self.task == "classification"
                        else torch.nn.MSELoss())
        self.optimizer = self._make_optimizer(self.model.parameters())
        self.X = torch.from_numpy(self.Xtr)
        self.y = torch.from_numpy(self.ytr)

    def _layers(self):
        torch = self.torch
        layers = []
        n_layers = len(self.sizes) - 1
        for i, p in enumerate(layer_params(self.init, n_layers, self.bn)):
            lin = torch.nn.Linear(self.sizes[i], self.sizes[i + 1])
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(p[0].T)))
                lin.bias.copy_(torch.from_numpy(p[1]))
            layers.append(lin)
            if i == n_layers - 1:
                break
            if self.bn:
                norm = torch.nn.BatchNorm1d(self.sizes[i + 1], eps=BN_EPS, momentum=BN_MOMENTUM)
                with torch.no_grad():
                    norm.weight.copy_(torch.from_numpy(p[2]))
                    norm.bias.copy_(torch.from_numpy(p[3]))
                layers.append(norm)
            layers.append(torch.nn.ReLU() if self.act == "relu" else torch.nn.Tanh())
            if self.p_drop > 0:
                layers.append(torch.nn.Dropout(self.p_drop))
        return layers

    def _make_optimizer(self, params):
        torch = self.torch
        params = list(params)

        def make(ps, **kw):
            if self.opt == "adam":
                return torch.optim.Adam(ps, lr=self.lr, betas=ADAM_BETAS, eps=ADAM_EPS, **kw)
            return torch.optim.SGD(ps, lr=self.lr, momentum=self.mom, **kw)
        try:  # probe fused support on CPU with a throw-away parameter
            probe = torch.zeros(4, requires_grad=True)
            probe.grad = torch.ones(4)
            make([probe], fused=True).step()
            self.notes.append(f"{self.opt} fused=True")
            return make(params, fused=True)
        except (RuntimeError, TypeError, ValueError) as exc:
            self.notes.append(f"{self.opt} foreach=True (fused unsupported: {str(exc)[:60]})")
            return make(params, foreach=True)

    def epoch(self, e):
        """Train epoch ``e`` on the shared permutation."""
        torch = self.torch
        idx_all = torch.from_numpy(self.perm(e))
        n, B = len(idx_all), self.B
        for s in range(0, n, B):
            idx = idx_all[s:s + B]
            self.optimizer.zero_grad(set_to_none=True)
            loss = self.loss_fn(self.model(self.X[idx]), self.y[idx])
            loss.backward()
            self.optimizer.step()

    def evaluate(self):
        """Test loss (and accuracy) in eval mode: running statistics, no dropout."""
        self.model.eval()
        with self.torch.no_grad():
            Z = self.model(self.torch.from_numpy(self.Xte)).numpy()
        self.model.train()
        return metrics(Z, self.yte, self.task)
