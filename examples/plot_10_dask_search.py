"""
A hyperparameter search on a Dask cluster
=========================================

A grid search trains one model per setting and cross-validation fold: independent fits
that a cluster runs side by side. ``cgrad.sklearn.MLPClassifier`` is a scikit-learn
estimator, so ``GridSearchCV`` runs it on a ``dask.distributed`` cluster through joblib's
Dask backend; here a local cluster of two single-threaded worker processes.
"""
import time

import joblib
import numpy as np
from dask.distributed import Client, LocalCluster
from sklearn.model_selection import GridSearchCV

import cgrad.plot
from cgrad.datasets import load_digits, train_val_test_split
from cgrad.sklearn import MLPClassifier

X, y = load_digits()
X_train, _, X_test, y_train, _, y_test = train_val_test_split(X, y, val=0.0, test=0.25,
                                                              stratify=True, seed=0)

# %%
# Two worker processes with one thread each, on this machine only, no dashboard.
t0 = time.perf_counter()
cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                       host="127.0.0.1", dashboard_address=None)
client = Client(cluster)
print(f"cluster up in {time.perf_counter() - t0:.1f} s: "
      f"{len(client.scheduler_info()['workers'])} workers")

# %%
# Hidden layer width by L2 strength (``alpha``), 3-fold cross-validation: 18 fits, each
# on a worker.
grid = {"hidden_layer_sizes": [(16,), (64,), (64, 32)], "alpha": [1e-4, 1e-2]}
search = GridSearchCV(MLPClassifier(learning_rate_init=0.01, max_iter=60, early_stopping=True,
                                    random_state=0), grid, cv=3, n_jobs=-1)
t0 = time.perf_counter()
with joblib.parallel_config(backend="dask"):
    search.fit(X_train, y_train)
print(f"{len(search.cv_results_['params'])} settings x 3 folds in "
      f"{time.perf_counter() - t0:.1f} s")
for params, mean, std in zip(search.cv_results_["params"],
                             search.cv_results_["mean_test_score"],
                             search.cv_results_["std_test_score"]):
    print(f"{params}: accuracy {mean:.3f} +- {std:.3f}")
best = search.best_estimator_
print(f"best {search.best_params_}: test accuracy {best.score(X_test, y_test):.3f}")

client.close()
cluster.close()

# %%
# The best setting's refit on all the training rows: its training loss (scikit-learn's
# objective, the ``alpha`` penalty included, averaged over the epoch's mini-batches) and
# its loss on the early-stopping split, per epoch.
fig = cgrad.plot.compare_curves({"training loss": best.loss_curve_,
                                 "validation loss": best.validation_loss_curve_},
                                title=f"best: {search.best_params_}")
print(f"refit stopped after {best.n_iter_} epochs; lowest validation loss "
      f"{np.min(best.validation_loss_curve_):.4f}")
