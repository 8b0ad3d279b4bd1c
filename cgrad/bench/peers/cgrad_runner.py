"""``cgrad`` and ``cgrad-dense``: ``cgrad.MLP.fit`` one epoch at a time."""
import numpy as np

from ..workloads import mlp_layer_kw
from .base import Runner


class CgradRunner(Runner):
    """``fit(sparse='auto')`` (``cgrad``) or ``fit(sparse=False)`` (``cgrad-dense``: every
    multiply of the first layer done), a new shuffle seed every epoch."""
    layers = True

    def setup(self):
        """Build the MLP from the shared weights and the optimizer."""
        import cgrad
        from cgrad._config import config
        cgrad.set_num_threads(self.n_threads)
        c = config()
        self.notes.append(f"SIMD {c['simd_selected']}"
                          + (f" (CGRAD_ISA={c['cgrad_isa_env']})" if c["cgrad_isa_env"] else ""))
        self.m = cgrad.MLP(self.sizes, activation=self.act,
                           output="softmax" if self.task == "classification" else "identity",
                           dtype="float32", seed=self.seed, **mlp_layer_kw(self.cell["workload"]))
        self.m.set_weights([np.array(w) for w in self.init])
        self.optimizer = (cgrad.optim.Adam(lr=self.lr) if self.opt == "adam"
                          else cgrad.optim.SGD(lr=self.lr, momentum=self.mom))
        self.loss = "softmax_cross_entropy" if self.task == "classification" else "mse"
        self.sparse = "auto" if self.impl == "cgrad" else False

    def epoch(self, e):
        """Train epoch ``e``."""
        self.m.fit(self.Xtr, self.ytr, loss=self.loss, optimizer=self.optimizer, epochs=1,
                   batch_size=self.B, shuffle=True, verbose=0, seed=self.seed * 1000 + e,
                   sparse=self.sparse)

    def evaluate(self):
        """Test loss (and accuracy), eval mode."""
        r = self.m.evaluate(self.Xte, self.yte)
        return {k: float(v) for k, v in r.items() if k in ("loss", "accuracy")}
