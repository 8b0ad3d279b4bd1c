"""W4's data: cgrad.bench.mnist1d's MNIST-1D generator (shapes, balance, determinism,
its transformation steps, and agreement in distribution with the ``mnist1d`` package
when that is installed)."""
import importlib.util

import numpy as np
import pytest

from cgrad.bench import mnist1d


@pytest.fixture(scope="module")
def default_set():
    return mnist1d.make_mnist1d()


def test_shapes_dtypes_and_standardisation(default_set):
    Xtr, ytr, Xte, yte = default_set
    assert Xtr.shape == (4000, 40) and Xte.shape == (1000, 40)
    assert ytr.shape == (4000,) and yte.shape == (1000,)
    assert Xtr.dtype == np.float32 and ytr.dtype == np.int64
    X = np.concatenate([Xtr, Xte]).astype(np.float64)
    assert abs(X.mean()) < 1e-5 and abs(X.std() - 1.0) < 1e-5
    assert np.isfinite(X).all()


def test_labels_balanced_overall_and_shuffled(default_set):
    _, ytr, _, yte = default_set
    assert np.array_equal(np.bincount(np.concatenate([ytr, yte])), np.full(10, 500))
    # a shuffled split: every class in both parts, none far from its 10% share
    for y in (ytr, yte):
        counts = np.bincount(y, minlength=10) / len(y)
        assert counts.min() > 0.07 and counts.max() < 0.13
    assert (np.diff(ytr) != 0).mean() > 0.8           # not sorted by label


def test_deterministic_from_the_seed(default_set):
    again = mnist1d.make_mnist1d()
    assert all(np.array_equal(a, b) for a, b in zip(default_set, again))
    other = mnist1d.make_mnist1d(seed=7)
    assert not np.array_equal(default_set[0], other[0])


def test_options_and_bad_arguments():
    Xtr, ytr, Xte, yte = mnist1d.make_mnist1d(n_samples=200, train_split=0.5, length=64)
    assert Xtr.shape == (100, 64) and Xte.shape == (100, 64)
    with pytest.raises(TypeError, match="unknown argument"):
        mnist1d.make_mnist1d(noise=1.0)
    with pytest.raises(ValueError, match="train_split"):
        mnist1d.make_mnist1d(train_split=1.0)
    with pytest.raises(ValueError, match="n_samples"):
        mnist1d.make_mnist1d(n_samples=5)
    with pytest.raises(ValueError, match="padding"):
        mnist1d.make_mnist1d(padding=(10, 5))


def test_without_noise_or_randomness_a_sample_is_the_resampled_template():
    """With every random amplitude at zero and no padding or translation, a sample is
    the normalised template resampled to ``length`` points (before standardisation)."""
    t = mnist1d._normalised_templates()
    assert np.allclose(t[:, [0, -1]], 0) and np.allclose(t.std(axis=1), 1 / 6)  # start/end at 0
    p = dict(mnist1d.DEFAULTS, padding=(0, 0), scale_coeff=0.0, max_translation=1,
             corr_noise_scale=0.0, iid_noise_scale=0.0, shear_scale=0.0, length=23)
    x = mnist1d._transform(t[3], np.random.default_rng(0), p)
    ref = np.interp(np.linspace(0, 11, 23), np.arange(12), t[3] + mnist1d._EPS)
    np.testing.assert_allclose(x, ref, atol=1e-12)


def test_gaussian_smooth_matches_a_direct_sum():
    rng = np.random.default_rng(1)
    x = rng.standard_normal(30)
    y = mnist1d._gaussian_smooth(x, 2.0)
    k = np.exp(-0.5 * (np.arange(-8, 9) / 2.0) ** 2)
    k /= k.sum()

    def mirrored(i):
        return x[-i - 1] if i < 0 else (x[2 * len(x) - i - 1] if i >= len(x) else x[i])
    ref = [sum(k[j + 8] * mirrored(i + j) for j in range(-8, 9)) for i in range(len(x))]
    np.testing.assert_allclose(y, ref, atol=1e-12)
    assert np.allclose(mnist1d._gaussian_smooth(np.ones(20), 2.0), 1.0)


def _linear_fit(X, y):
    """Least-squares one-hot linear classifier (weights with a bias row)."""
    A = np.c_[X, np.ones(len(X))]
    return np.linalg.lstsq(A, np.eye(10)[y], rcond=None)[0]


def _linear_accuracy(W, X, y):
    return float(((np.c_[X, np.ones(len(X))] @ W).argmax(axis=1) == y).mean())


@pytest.mark.skipif(importlib.util.find_spec("mnist1d") is None
                    or importlib.util.find_spec("scipy") is None,
                    reason="the mnist1d package (and its scipy) is not installed: "
                           "no cross-check against the reference generator")
def test_agrees_in_distribution_with_the_mnist1d_package(default_set):
    """Ours and the package's generator (its own random streams, so only in distribution;
    both at their default seed 42): per-class mean signals correlate (as strongly as two
    seeds of the package itself: 0.69 .. 0.97 per class, 0.88 on average), each of our
    class means is nearest the package's same class, the spread per position agrees, and
    a linear classifier trained on either scores the same on both."""
    from mnist1d.data import get_dataset_args, make_dataset
    state = np.random.get_state()           # the package seeds NumPy's global generator
    try:
        ref = make_dataset(get_dataset_args())
    finally:
        np.random.set_state(state)
    Xr = np.concatenate([ref["x"], ref["x_test"]])
    yr = np.concatenate([ref["y"], ref["y_test"]])
    Xo = np.concatenate([default_set[0], default_set[2]]).astype(np.float64)
    yo = np.concatenate([default_set[1], default_set[3]])
    assert Xr.shape == Xo.shape
    mo = np.stack([Xo[yo == c].mean(axis=0) for c in range(10)])
    mr = np.stack([Xr[yr == c].mean(axis=0) for c in range(10)])
    corr = [np.corrcoef(mo[c], mr[c])[0, 1] for c in range(10)]
    assert min(corr) > 0.6 and np.mean(corr) > 0.85, corr
    nearest = [int(np.argmin(np.linalg.norm(mr - mo[c], axis=1))) for c in range(10)]
    assert nearest == list(range(10))
    np.testing.assert_allclose(Xo.std(axis=0), Xr.std(axis=0), rtol=0.1)
    w_ours, w_ref = _linear_fit(Xo[:4000], yo[:4000]), _linear_fit(Xr[:4000], yr[:4000])
    own, cross = _linear_accuracy(w_ours, Xo[4000:], yo[4000:]), _linear_accuracy(w_ours, Xr, yr)
    assert own > 0.15 and abs(own - cross) < 0.04, (own, cross)
    own, cross = _linear_accuracy(w_ref, Xr[4000:], yr[4000:]), _linear_accuracy(w_ref, Xo, yo)
    assert abs(own - cross) < 0.04, (own, cross)
