"""``sklearn``: ``MLPClassifier`` / ``MLPRegressor`` ``partial_fit``, one epoch per call."""
import warnings

import numpy as np

from ..workloads import ADAM_BETAS, ADAM_EPS
from .base import Runner, metrics


class SklearnRunner(Runner):
    """scikit-learn's MLP from the shared initial weights (through its ``_init_coef``),
    ``alpha=0``, constant lr, no Nesterov, BLAS threads limited by ``threadpoolctl``."""
    requires = ("sklearn", "threadpoolctl")

    def setup(self):
        """BLAS threads, the estimator with the shared weights."""
        from threadpoolctl import threadpool_limits
        from sklearn.neural_network import MLPClassifier, MLPRegressor
        self._limits = threadpool_limits(limits=self.n_threads, user_api="blas")
        cls = MLPClassifier if self.task == "classification" else MLPRegressor
        lr = self.lr
        if self.task == "regression" and self.opt == "sgd":
            # sklearn's squared error is mean((y - p)^2) / 2: double the step to match MSE.
            lr = 2 * self.lr
            self.notes.append("sgd lr doubled: sklearn's squared_error is MSE/2")
        self.model = cls(hidden_layer_sizes=tuple(self.sizes[1:-1]), activation=self.act,
                         solver=self.opt, alpha=0.0, batch_size=self.B,
                         learning_rate="constant", learning_rate_init=lr,
                         momentum=self.mom, nesterovs_momentum=False,
                         beta_1=ADAM_BETAS[0], beta_2=ADAM_BETAS[1], epsilon=ADAM_EPS,
                         shuffle=True, random_state=self.seed, tol=0.0,
                         n_iter_no_change=10 ** 9, max_iter=1)
        init = [np.array(w) for w in self.init]
        layer = iter(range(len(init) // 2))

        def shared_init(fan_in, fan_out, dtype):  # same initial weights as everyone
            i = next(layer)
            return init[2 * i].astype(dtype), init[2 * i + 1].astype(dtype)
        self.model._init_coef = shared_init
        y = self.ytr
        self.y = y.ravel() if (self.task == "regression" and y.shape[1] == 1) else y
        self.classes = np.arange(self.sizes[-1]) if self.task == "classification" else None

    def epoch(self, e):
        """One ``partial_fit`` pass (scikit-learn shuffles internally)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if self.classes is not None:
                self.model.partial_fit(self.Xtr, self.y, classes=self.classes)
            else:
                self.model.partial_fit(self.Xtr, self.y)

    def evaluate(self):
        """Test loss (and accuracy)."""
        if self.task == "classification":
            P = np.clip(self.model.predict_proba(self.Xte), 1e-30, None)
            return {"loss": float(-np.log(P[np.arange(len(self.yte)), self.yte]).mean()),
                    "accuracy": float((P.argmax(axis=1) == self.yte).mean())}
        Z = self.model.predict(self.Xte).reshape(self.yte.shape)
        return metrics(Z, self.yte, self.task)
