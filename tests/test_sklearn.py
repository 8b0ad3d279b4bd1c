"""cgrad.sklearn: scikit-learn's own estimator checks, the meta-estimators, and the
estimators against scikit-learn's MLP from the same initial weights (init='sklearn'
draws them from the same random_state stream)."""
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("scipy")

from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_digits, make_classification, make_multilabel_classification, \
    make_regression  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV, cross_val_score  # noqa: E402
from sklearn.neural_network import MLPClassifier as SkMLPClassifier  # noqa: E402
from sklearn.neural_network import MLPRegressor as SkMLPRegressor  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.class_weight import compute_sample_weight  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from cgrad.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(autouse=True)
def _one_thread():
    """These fits are tiny: one OpenMP thread (threadpoolctl, which cgrad follows) keeps
    them fast on a busy machine; n_threads= still overrides (the determinism test)."""
    from threadpoolctl import threadpool_limits
    with threadpool_limits(1, user_api="openmp"):
        yield


def _expected_failures(est):
    if est.solver in ("lbfgs", "cg"):
        return {}
    why = ("stochastic minibatch solver: a weight of 2 is not a repeated row (repeating rows "
           "changes the epoch's batches), as for scikit-learn's own MLP, whose suite runs this "
           "check with solver='lbfgs'; lbfgs/cg pass it (checked here)")
    return {"check_sample_weight_equivalence_on_dense_data": why,
            "check_sample_weight_equivalence_on_sparse_data": why}


# scikit-learn's suite runs its MLPs with max_iter=100; one thread keeps these tiny fits
# fast on a busy machine; the lbfgs instances in float64 (the weighted-vs-repeated-rows
# check compares at rtol=1e-7)
@parametrize_with_checks(
    [MLPClassifier(max_iter=100, n_threads=1), MLPRegressor(max_iter=100, n_threads=1),
     MLPClassifier((8,), solver="lbfgs", max_iter=100, n_threads=1, dtype="float64"),
     MLPRegressor(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=100, n_threads=1,
                  dtype="float64")],
    expected_failed_checks=_expected_failures)
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


# -- the same objective and steps as scikit-learn's, from the same start ------------------
def test_sgd_loss_curve_matches_sklearn_from_the_same_start(digits):
    """SGD with Nesterov momentum, the alpha penalty per batch (the last batch smaller),
    shuffled batches: scikit-learn's loss curve to float64 rounding."""
    X, y = digits
    kw = dict(hidden_layer_sizes=(32,), solver="sgd", learning_rate_init=0.05, max_iter=8,
              batch_size=150, alpha=1e-3, random_state=3)
    ours = MLPClassifier(dtype="float64", n_threads=1, **kw).fit(X[:1000], y[:1000])
    theirs = SkMLPClassifier(**kw).fit(X[:1000], y[:1000])
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-9)
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-9)
    assert ours.t_ == theirs.t_ and ours.n_iter_ == theirs.n_iter_


def test_lbfgs_reaches_sklearns_loss_from_the_same_start():
    X, y = make_classification(200, 10, n_informative=6, n_classes=3, random_state=0)
    theirs = SkMLPClassifier((10,), solver="lbfgs", max_iter=200, random_state=0).fit(X, y)
    ours = MLPClassifier((10,), solver="lbfgs", max_iter=200, random_state=0,
                         dtype="float64").fit(X, y)
    assert ours.loss_ <= theirs.loss_ * (1 + 1e-9)
    # float32: where L-BFGS stops near a loss of 5e-4 depends on the objective's rounding
    # (4.2e-4 on the avx2/avx512 paths, 5.2e-4 on generic); it must get as far as
    # scikit-learn to within 1e-4 of the loss it started from (a stalled fit is ~1e-2 off)
    ours32 = MLPClassifier((10,), solver="lbfgs", max_iter=200, random_state=0).fit(X, y)
    assert ours32.loss_ - theirs.loss_ <= 1e-4 * ours.loss_curve_[0]
    assert ours.n_iter_ <= 200 and len(ours.loss_curve_) == ours.n_iter_


@pytest.mark.parametrize("solver", ["lbfgs", "sgd"])
def test_sample_weight_matches_sklearn(digits, solver):
    """Row weights (the step-API path, loss on the host) give scikit-learn's weighted fit."""
    X, y = digits
    sw = np.random.default_rng(0).uniform(0.2, 2.0, 600)
    kw = dict(hidden_layer_sizes=(16,), solver=solver, max_iter=10, random_state=0,
              learning_rate_init=0.05)
    ours = MLPClassifier(dtype="float64", n_threads=1, **kw).fit(X[:600], y[:600], sw)
    theirs = SkMLPClassifier(**kw).fit(X[:600], y[:600], sample_weight=sw)
    np.testing.assert_allclose(ours.loss_, theirs.loss_, rtol=1e-8)


def test_regressors_and_multilabel_match_sklearn():
    X, y = make_regression(150, 6, n_targets=2, noise=1.0, random_state=0)
    y = y / 100
    kw = dict(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=30, random_state=0)
    ours = MLPRegressor(dtype="float64", **kw).fit(X, y[:, 0])
    theirs = SkMLPRegressor(**kw).fit(X, y[:, 0])
    np.testing.assert_allclose(ours.loss_, theirs.loss_, rtol=1e-8)
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-6, atol=1e-8)
    yp = np.abs(y[:, 0]) * 3
    ours = MLPRegressor(loss="poisson", dtype="float64", **kw).fit(X, yp)
    theirs = SkMLPRegressor(loss="poisson", **kw).fit(X, yp)
    assert ours.out_activation_ == "exp"
    np.testing.assert_allclose(ours.loss_, theirs.loss_, rtol=1e-8)
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-6)
    Xm, Ym = make_multilabel_classification(150, 8, n_classes=4, random_state=0)
    ours = MLPClassifier(dtype="float64", **kw).fit(Xm, Ym)
    theirs = SkMLPClassifier(**kw).fit(Xm, Ym)
    assert ours.out_activation_ == "logistic" and ours.n_outputs_ == 4
    np.testing.assert_allclose(ours.loss_, theirs.loss_, rtol=1e-8)
    np.testing.assert_array_equal(ours.predict(Xm), theirs.predict(Xm))
    np.testing.assert_allclose(ours.predict_proba(Xm), theirs.predict_proba(Xm), rtol=1e-6)


@pytest.mark.parametrize("weighted", [False, True])
def test_full_batch_objective_gradient(weighted):
    """The objective lbfgs/cg minimise: its gradient against central differences, through
    the compiled Trainer.objective (unweighted) and the host-loss path (weighted)."""
    X, y = make_classification(40, 5, n_informative=3, n_classes=3, random_state=1)
    est = MLPClassifier((6,), solver="lbfgs", alpha=0.3, l1=0.01, activation="tanh",
                        max_iter=1, random_state=0, dtype="float64").fit(X, y)
    T = est._label_binarizer.transform(y).astype(bool)
    sw = np.random.default_rng(1).uniform(0.5, 2.0, 40) if weighted else None
    fun, _ = est._objective(np.ascontiguousarray(X), T, sw)
    x0 = est.model_.flat_params.copy()
    f0, g = fun(x0)
    num = np.empty_like(x0)
    for i in range(x0.size):
        e = np.zeros_like(x0)
        e[i] = 1e-6
        num[i] = (fun(x0 + e)[0] - fun(x0 - e)[0]) / 2e-6
    np.testing.assert_allclose(g, num, rtol=1e-5, atol=1e-7)


def test_digits_accuracy_adam_sgd_cg(digits):
    X, y = digits
    for est in (MLPClassifier((64,), learning_rate_init=0.01, max_iter=20, random_state=0),
                MLPClassifier((64,), solver="sgd", learning_rate_init=0.1, max_iter=20,
                              random_state=0),
                MLPClassifier((64,), solver="cg", max_iter=100, random_state=0)):
        assert est.fit(X[:1300], y[:1300]).score(X[1300:], y[1300:]) > 0.9, est.solver


# -- scikit-learn's machinery ---------------------------------------------------------------
def test_pipeline_search_cv_clone_params(digits):
    X, y = digits
    X, y = X[:400], y[:400]
    pipe = make_pipeline(StandardScaler(), MLPClassifier((16,), max_iter=10, random_state=0,
                                                         learning_rate_init=0.02))
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.5
    grid = GridSearchCV(pipe, {"mlpclassifier__alpha": [1e-4, 1e-2],
                               "mlpclassifier__solver": ["adam", "lbfgs"]}, cv=2).fit(X, y)
    assert set(grid.best_params_) == {"mlpclassifier__alpha", "mlpclassifier__solver"}
    rnd = RandomizedSearchCV(MLPClassifier((8,), max_iter=3), {"alpha": [1e-4, 1e-3, 1e-2]},
                             n_iter=2, cv=2, random_state=0).fit(X, y)
    assert rnd.best_estimator_.n_iter_ == 3
    est = MLPClassifier((8,), dropout=0.1, class_weight="balanced", n_restarts=2)
    params = est.get_params()
    assert params["dropout"] == 0.1 and params["activation"] == "relu"
    assert clone(est).get_params() == params
    est.set_params(alpha=0.5, hidden_layer_sizes=(4, 4))
    assert est.alpha == 0.5 and est.hidden_layer_sizes == (4, 4)


def test_pickle_round_trip_and_partial_fit(digits):
    X, y = digits
    est = MLPClassifier((16,), random_state=0, max_iter=3)
    for _ in range(2):
        est.partial_fit(X[:300], y[:300], classes=np.arange(10))
    copy = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(copy.predict_proba(X), est.predict_proba(X))
    assert [c.shape for c in copy.coefs_] == [(64, 16), (16, 10)]
    copy.partial_fit(X[300:600], y[300:600])          # optimizer state survives the pickle
    est.partial_fit(X[300:600], y[300:600])
    np.testing.assert_array_equal(copy.predict_proba(X), est.predict_proba(X))
    assert copy.loss_curve_ == est.loss_curve_ and len(est.loss_curve_) == 3
    est.coefs_[0][:] = 0                              # coefs_ are the network's weights
    assert np.all(est.model_.W[0] == 0)
    with pytest.raises(AttributeError):
        MLPClassifier(solver="lbfgs").partial_fit


def test_feature_names_and_set_output(digits):
    pd = pytest.importorskip("pandas")
    X, y = digits
    df = pd.DataFrame(X[:200], columns=[f"px{i}" for i in range(64)])
    pipe = make_pipeline(StandardScaler().set_output(transform="pandas"),
                         MLPClassifier((8,), max_iter=3, random_state=0)).fit(df, y[:200])
    np.testing.assert_array_equal(pipe[-1].feature_names_in_, df.columns)
    assert pipe.predict(df).shape == (200,)


# -- cgrad's extras -------------------------------------------------------------------------
def test_early_stopping_validation_curves_and_record_validation(digits):
    X, y = digits
    kw = dict(hidden_layer_sizes=(16,), max_iter=15, random_state=0, learning_rate_init=0.01)
    ours = MLPClassifier(early_stopping=True, dtype="float64", **kw).fit(X, y)
    theirs = SkMLPClassifier(early_stopping=True, **kw).fit(X, y)
    np.testing.assert_allclose(ours.validation_scores_, theirs.validation_scores_, atol=0.02)
    assert ours.best_validation_score_ == max(ours.validation_scores_)
    assert ours.best_loss_ is None and len(ours.validation_loss_curve_) == ours.n_iter_
    rec = MLPClassifier(record_validation=True, **kw).fit(X, y)
    assert len(rec.validation_scores_) == len(rec.validation_loss_curve_) == rec.n_iter_
    assert rec.validation_loss_curve_[-1] < rec.validation_loss_curve_[0]


def test_class_weight_is_sample_weight(digits):
    X, y = digits
    X, y = X[:300], y[:300]
    kw = dict(hidden_layer_sizes=(8,), max_iter=4, random_state=0, n_threads=1)
    a = MLPClassifier(class_weight="balanced", **kw).fit(X, y)
    b = MLPClassifier(**kw).fit(X, y, sample_weight=compute_sample_weight("balanced", y))
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    c = MLPClassifier(**kw).fit(X, y, sample_weight=np.ones(300))
    d = MLPClassifier(**kw).fit(X, y)                   # the compiled path
    np.testing.assert_allclose(c.predict_proba(X), d.predict_proba(X), rtol=1e-4, atol=1e-6)


def test_extras_dropout_batch_norm_clip_l1_schedule(digits):
    import cgrad
    X, y = digits
    X, y = X[:500], y[:500]
    for est in (MLPClassifier((32,), dropout=0.2, batch_norm=True, clip_norm=1.0, l1=1e-3,
                              max_iter=10, random_state=0, learning_rate_init=0.01),
                MLPClassifier((32,), solver="rmsprop", max_iter=5, random_state=0,
                              schedule=cgrad.schedules.StepDecay(0.01, 2, 0.5)),
                MLPClassifier((32,), solver="adamw", alpha=0.01, max_iter=5, random_state=0,
                              learning_rate_init=0.01),
                MLPClassifier((32,), solver="adagrad", max_iter=5, random_state=0,
                              learning_rate_init=0.05, init="he_uniform")):
        assert est.fit(X, y).score(X, y) > 0.8, est
    # batch_norm with lbfgs: the running statistics become the full data's, so predict
    # (eval mode) sees the network the objective saw
    est = MLPClassifier((16,), solver="lbfgs", batch_norm=True, max_iter=30,
                        random_state=0, dtype="float64").fit(X, y)
    z_eval = est.model_.decision_function(X)
    z_train = est.model_.train().forward(X)
    np.testing.assert_allclose(z_eval, z_train, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="dropout"):
        MLPClassifier(solver="lbfgs", dropout=0.1).fit(X, y)


def test_callbacks_stop_training(digits):
    import cgrad
    X, y = digits
    stop = cgrad.callbacks.EarlyStopping(monitor="loss", patience=0, min_delta=10.0)
    est = MLPClassifier((8,), max_iter=50, callbacks=[stop], random_state=0).fit(X, y)
    assert est.n_iter_ == 2 and stop.stopped_epoch == 1
    copy = pickle.loads(pickle.dumps(est))             # callbacks detached from the model
    np.testing.assert_array_equal(copy.predict(X), est.predict(X))
    assert clone(est).get_params()["callbacks"][0].patience == 0


def test_deterministic_any_thread_count(digits):
    X, y = digits
    kw = dict(hidden_layer_sizes=(32,), max_iter=3, deterministic=True)
    a = MLPClassifier(n_threads=1, **kw).fit(X, y)
    b = MLPClassifier(n_threads=2, **kw).fit(X, y)
    np.testing.assert_array_equal(a.model_.flat_params, b.model_.flat_params)


def test_restarts_in_loky_workers_after_training_in_the_parent(digits):
    """n_jobs=2 restarts run in loky worker processes after this process has already
    trained (OpenMP started): no fork after OpenMP, no hang."""
    X, y = digits
    X, y = X[:400], y[:400]
    MLPClassifier((8,), max_iter=2).fit(X, y)           # OpenMP threads now exist here
    est = MLPClassifier((8,), max_iter=5, n_restarts=3, n_jobs=2, random_state=0).fit(X, y)
    losses = est.restart_validation_losses_
    assert len(losses) == 3 and est.best_restart_ == int(np.argmin(losses))
    import os
    assert est.n_threads_ * 2 <= max(2, os.cpu_count())   # joblib's per-worker budget
    serial = MLPClassifier((8,), max_iter=5, n_restarts=3, random_state=0).fit(X, y)
    assert serial.restart_validation_losses_ == losses
    np.testing.assert_array_equal(serial.predict_proba(X), est.predict_proba(X))


def test_import_error_names_the_extra(tmp_path):
    code = ("import sys; sys.modules['sklearn'] = None\n"
            "try:\n    import cgrad.sklearn\nexcept ImportError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, cwd=tmp_path)      # not the source tree's cgrad/
    assert 'pip install "cgrad[sklearn]"' in out.stdout, out.stdout + out.stderr


def test_parameter_errors():
    X, y = np.zeros((10, 2)), np.arange(10) % 2
    for bad in (dict(solver="newton"), dict(activation="softmax"), dict(alpha=-1),
                dict(hidden_layer_sizes=(0,)), dict(dtype="float16"), dict(n_restarts=0),
                dict(batch_size=0), dict(max_iter=0)):
        with pytest.raises(ValueError):
            MLPClassifier(**bad).fit(X, y)
    with pytest.raises(ValueError, match="early_stopping"):
        MLPClassifier(early_stopping=True).partial_fit(X, y, classes=[0, 1])


def test_guide_sklearn_block_runs(tmp_path, monkeypatch):
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    try:
        from test_readme import sklearn_blocks
    finally:
        sys.path.pop(0)
    blocks = sklearn_blocks()
    if not blocks:
        pytest.skip("docs/guide/sklearn.md is not next to the tests (installed test tree)")
    monkeypatch.chdir(tmp_path)
    ns = {}
    for code in blocks:
        exec(compile(code, "docs/guide/sklearn.md", "exec"), ns)
    assert ns["clf"].score(ns["X_test"], ns["y_test"]) > 0.9
    assert ns["search"].score(ns["X_test"], ns["y_test"]) > 0.9


def _worker_fit(X, y):
    import os

    import cgrad
    est = MLPClassifier((16,), max_iter=2, random_state=0).fit(X, y)
    return os.environ.get("OMP_NUM_THREADS"), cgrad.get_num_threads(), est.n_threads_


def test_grid_search_and_restarts_on_a_dask_cluster(digits):
    """A real LocalCluster on 127.0.0.1 (2 worker processes, 1 thread each, no dashboard):
    GridSearchCV and n_restarts through joblib's Dask backend, and inside a worker cgrad
    keeps to the worker's budget (Dask starts workers with OMP_NUM_THREADS=1)."""
    pytest.importorskip("distributed")
    import joblib
    from dask.distributed import Client, LocalCluster
    X, y = digits
    X, y = X[:300], y[:300]
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        assert client.submit(_worker_fit, X, y).result(timeout=120) == ("1", 1, 1)
        with joblib.parallel_config(backend="dask"):
            grid = GridSearchCV(MLPClassifier((8,), max_iter=3, random_state=0),
                                {"alpha": [1e-4, 1e-2]}, cv=2, n_jobs=-1).fit(X, y)
            est = MLPClassifier((8,), max_iter=3, n_restarts=2, n_jobs=-1,
                                random_state=0).fit(X, y)
    assert len(grid.cv_results_["mean_test_score"]) == 2
    serial = MLPClassifier((8,), max_iter=3, n_restarts=2, random_state=0).fit(X, y)
    assert est.restart_validation_losses_ == serial.restart_validation_losses_


def test_schedule_runs_across_partial_fit_calls(digits):
    import cgrad
    X, y = digits
    lrs = []
    est = MLPClassifier((8,), schedule=cgrad.schedules.StepDecay(0.01, 1, 0.5),
                        callbacks=[lambda epoch, logs: lrs.append(logs["lr"])], random_state=0)
    for _ in range(3):
        est.partial_fit(X[:200], y[:200], classes=np.arange(10))
    assert lrs == pytest.approx([0.01, 0.005, 0.0025])
    lrs.clear()
    est.set_params(max_iter=2).fit(X[:200], y[:200])          # fit starts the schedule anew
    assert lrs == pytest.approx([0.01, 0.005])
