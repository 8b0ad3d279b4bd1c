"""
L-BFGS and conjugate gradient against first-order methods
=========================================================

On a small data set the full-batch gradient is cheap, and quasi-Newton (L-BFGS) and
nonlinear conjugate gradient methods use it well: they pick each step's length by a line
search and, L-BFGS, bend the direction with a curvature estimate built from past
gradients. Stochastic first-order methods take many cheap noisy steps instead.
"""
import time
import warnings

from sklearn.exceptions import ConvergenceWarning

import cgrad.plot
from cgrad.datasets import load_digits, train_val_test_split
from cgrad.sklearn import MLPClassifier

X, y = load_digits()
X_train, _, X_test, y_train, _, y_test = train_val_test_split(X, y, val=0.0, test=0.25,
                                                              stratify=True, seed=0)

# %%
# The same network (one hidden layer of 32) and the same initial weights
# (``random_state``), 100 iterations each: an iteration of L-BFGS or CG is one line
# search over the whole training set, one of Adam or SGD an epoch of mini-batches of 32.
solvers = {"L-BFGS": dict(solver="lbfgs"), "CG": dict(solver="cg"),
           "Adam": dict(solver="adam", learning_rate_init=1e-3, batch_size=32),
           "SGD+momentum": dict(solver="sgd", learning_rate_init=0.02, batch_size=32)}
curves = {}
for name, params in solvers.items():
    est = MLPClassifier((32,), max_iter=100, tol=0.0, n_iter_no_change=100, random_state=0,
                        **params)
    t0 = time.perf_counter()
    with warnings.catch_warnings():     # a fixed budget: every solver ends on max_iter
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X_train, y_train)
    seconds = time.perf_counter() - t0
    curves[name] = est.loss_curve_
    print(f"{name:12s}: {est.n_iter_:3d} iterations in {seconds:.2f} s, final loss "
          f"{est.loss_:.2e}, test accuracy {est.score(X_test, y_test):.3f}")

# %%
# The training loss (scikit-learn's objective, including its small L2 term ``alpha``)
# per iteration.
fig = cgrad.plot.compare_curves(curves, key="loss",
                                xlabel="iteration (L-BFGS, CG) or epoch (Adam, SGD)")
