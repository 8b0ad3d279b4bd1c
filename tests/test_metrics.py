"""Metrics: hand-worked values, scikit-learn cross-checks (when importable), score
matrices, and input validation."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from cgrad import metrics as M

# 3 classes; hand-worked confusion matrix below
Y_TRUE = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2, 1])
Y_PRED = np.array([0, 1, 0, 1, 2, 2, 2, 0, 2, 1])
CM = np.array([[2, 1, 0],
               [0, 2, 1],
               [1, 0, 3]])


def _sk():
    return pytest.importorskip("sklearn.metrics")


def test_hand_worked_classification():
    assert_array_equal(M.confusion_matrix(Y_TRUE, Y_PRED), CM)
    assert M.accuracy(Y_TRUE, Y_PRED) == 0.7
    p = np.array([2 / 3, 2 / 3, 3 / 4])       # column-wise: tp / predicted
    r = np.array([2 / 3, 2 / 3, 3 / 4])       # row-wise: tp / support
    assert_allclose(M.precision(Y_TRUE, Y_PRED, average=None), p, rtol=1e-15)
    assert_allclose(M.recall(Y_TRUE, Y_PRED, average=None), r, rtol=1e-15)
    assert_allclose(M.f1(Y_TRUE, Y_PRED, average=None), 2 * p * r / (p + r), rtol=1e-15)
    assert M.precision(Y_TRUE, Y_PRED) == pytest.approx(np.mean(p), rel=1e-15)
    support = np.array([3, 3, 4])
    assert M.recall(Y_TRUE, Y_PRED, average="weighted") == pytest.approx(
        np.sum(r * support) / 10, rel=1e-15)


def test_asymmetric_precision_recall():
    # class 1 is never predicted: precision 0 by zero_division=0, recall 0
    y_true, y_pred = [0, 1, 1, 2], [0, 0, 2, 2]
    assert_allclose(M.precision(y_true, y_pred, average=None), [0.5, 0.0, 0.5])
    assert_allclose(M.recall(y_true, y_pred, average=None), [1.0, 0.0, 1.0])
    assert_allclose(M.f1(y_true, y_pred, average=None), [2 / 3, 0.0, 2 / 3])


def test_score_matrix_is_argmaxed(rng):
    scores = rng.standard_normal((50, 4))
    y_true = rng.integers(0, 4, 50)
    labels = scores.argmax(1)
    assert M.accuracy(y_true, scores) == M.accuracy(y_true, labels)
    assert_array_equal(M.confusion_matrix(y_true, scores), M.confusion_matrix(y_true, labels))
    assert M.f1(y_true, scores) == M.f1(y_true, labels)
    # the width of the score matrix fixes the class count even if a class never wins
    probs = np.tile([0.7, 0.2, 0.1], (4, 1))
    assert M.confusion_matrix([0, 0, 1, 1], probs).shape == (3, 3)


def test_n_classes_pads_and_absent_classes_leave_macro():
    cm = M.confusion_matrix([0, 1], [0, 1], n_classes=4)
    assert cm.shape == (4, 4) and cm.sum() == 2 and cm[0, 0] == 1 and cm[1, 1] == 1
    # classes 2 and 3 occur nowhere: 0 in per-class arrays, excluded from macro
    assert_array_equal(M.recall([0, 1], [0, 1], average=None, n_classes=4), [1, 1, 0, 0])
    assert M.recall([0, 1], [0, 1], n_classes=4) == 1.0
    with pytest.raises(ValueError, match="n_classes=2 but labels up to 2"):
        M.confusion_matrix([0, 2], [0, 1], n_classes=2)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 60), k=st.integers(1, 6), seed=st.integers(0, 10_000))
def test_matches_sklearn(n, k, seed):
    skm = _sk()
    rng = np.random.default_rng(seed)
    y_true, y_pred = rng.integers(0, k, n), rng.integers(0, k, n)
    labels = np.arange(max(y_true.max(), y_pred.max()) + 1)
    assert M.accuracy(y_true, y_pred) == pytest.approx(skm.accuracy_score(y_true, y_pred))
    assert_array_equal(M.confusion_matrix(y_true, y_pred),
                       skm.confusion_matrix(y_true, y_pred, labels=labels))
    present = np.union1d(y_true, y_pred)
    for ours, theirs in ((M.precision, skm.precision_score), (M.recall, skm.recall_score),
                         (M.f1, skm.f1_score)):
        for avg in ("macro", "weighted"):
            assert ours(y_true, y_pred, average=avg) == pytest.approx(
                theirs(y_true, y_pred, average=avg, zero_division=0), rel=1e-12, abs=1e-15)
        assert_allclose(ours(y_true, y_pred, average=None)[present],
                        theirs(y_true, y_pred, average=None, zero_division=0), rtol=1e-12)


def test_summary_matches_classification_report(rng):
    skm = _sk()
    y_true = rng.integers(0, 5, 200)
    y_pred = np.where(rng.random(200) < 0.6, y_true, rng.integers(0, 5, 200))
    y_pred[y_pred == 4] = 3                                 # class 4: never predicted
    ours = M.summary(y_true, y_pred)
    theirs = skm.classification_report(y_true, y_pred, output_dict=True, zero_division=0)
    assert ours.keys() == theirs.keys()
    assert ours["accuracy"] == pytest.approx(theirs["accuracy"])
    for key in ours:
        if key != "accuracy":
            assert ours[key].keys() == theirs[key].keys()
            for m in ours[key]:
                assert ours[key][m] == pytest.approx(theirs[key][m], rel=1e-12, abs=1e-15)


def test_regression_hand_worked():
    y, p = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.5, 2.0, 2.0, 5.0])
    assert M.mean_squared_error(y, p) == pytest.approx((0.25 + 0 + 1 + 1) / 4)
    assert M.mean_absolute_error(y, p) == pytest.approx((0.5 + 0 + 1 + 1) / 4)
    assert M.r2_score(y, p) == pytest.approx(1 - 2.25 / 5.0)
    assert M.r2_score(y, y) == 1.0
    # constant target: 1 if exact, else 0 (sklearn force_finite)
    assert M.r2_score([2.0, 2.0], [2.0, 2.0]) == 1.0
    assert M.r2_score([2.0, 2.0], [2.0, 3.0]) == 0.0
    # (n,) against (n, 1) is one output
    assert M.mean_squared_error(y, p[:, None]) == M.mean_squared_error(y, p)


def test_regression_matches_sklearn(rng):
    skm = _sk()
    for shape in [(40,), (40, 3)]:
        y = rng.standard_normal(shape)
        p = y + 0.3 * rng.standard_normal(shape)
        if len(shape) == 2:
            y[:, 1] = 1.5                                  # a constant output column
        assert M.mean_squared_error(y, p) == pytest.approx(skm.mean_squared_error(y, p))
        assert M.mean_absolute_error(y, p) == pytest.approx(skm.mean_absolute_error(y, p))
        assert M.r2_score(y, p) == pytest.approx(skm.r2_score(y, p))


@pytest.mark.parametrize("fn", [M.accuracy, M.confusion_matrix, M.precision, M.summary])
def test_classification_input_errors(fn):
    with pytest.raises(ValueError, match="3 samples but y_pred has 2"):
        fn([0, 1, 1], [0, 1])
    with pytest.raises(ValueError, match="empty"):
        fn([], [])
    with pytest.raises(ValueError, match="negative"):
        fn([0, -1], [0, 1])
    with pytest.raises(TypeError, match="y_pred must hold integer"):
        fn([0, 1], [0.5, 1.0])
    with pytest.raises(ValueError, match="y_true must be 1-D"):
        fn(np.zeros((2, 2), int), [0, 1])
    with pytest.raises(ValueError, match="one column"):
        fn([0, 1], np.zeros((2, 1)))
    with pytest.raises(ValueError, match="NaN"):
        fn([0, 1], np.array([[0.1, np.nan], [0.5, 0.5]]))


def test_average_must_be_known():
    with pytest.raises(ValueError, match="average must be one of"):
        M.f1([0, 1], [0, 1], average="micro")


def test_integral_float_labels_are_accepted():
    assert M.accuracy(np.array([0.0, 1.0, 2.0]), np.array([0, 1, 1])) == pytest.approx(2 / 3)


@pytest.mark.parametrize("fn", [M.mean_squared_error, M.mean_absolute_error, M.r2_score])
def test_regression_input_errors(fn):
    with pytest.raises(ValueError, match="y_true has shape"):
        fn([1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="NaN or inf"):
        fn([1.0, np.inf], [1.0, 2.0])
    with pytest.raises(ValueError, match="empty"):
        fn([], [])
    with pytest.raises(TypeError, match="numeric"):
        fn(["a", "b"], [1.0, 2.0])
