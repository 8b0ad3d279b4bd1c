"""Losses: the reference against finite differences, the kernels against the reference,
extreme logits, thread-count independence and input validation."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from cgrad import _core, ops, reference as ref
from cgrad.losses import LOSSES, get_loss
from conftest import ATOL, DTYPES, RTOL, SHAPES, numeric_grad

# "softmax_ce_probs" is softmax_cross_entropy with 2-D probability targets.
CASES = ["mse", "mae", "bce_with_logits", "softmax_cross_entropy", "softmax_ce_probs",
         "hinge_multiclass", "hinge_binary"]
# SHAPES plus a single row / single column of every kind and a two-class problem
LOSS_SHAPES = SHAPES + [(1, 10), (1000, 1), (257, 2)]


def _fn(mod, case):
    return getattr(mod, "softmax_cross_entropy" if case == "softmax_ce_probs" else case)


def _inputs(r, case, shape, dtype, scale=3.0):
    """(output, target or labels) for a loss; targets in the loss's domain."""
    rows, cols = shape
    z = (r.standard_normal(shape) * scale).astype(dtype)
    if case in ("mse", "mae"):
        t = (r.standard_normal(shape) * scale).astype(dtype)
    elif case == "bce_with_logits":
        t = r.uniform(0, 1, shape).astype(dtype)
        t[r.uniform(size=shape) < 0.3] = 1.0           # some hard 0/1 targets too
        t[r.uniform(size=shape) < 0.3] = 0.0
    elif case == "softmax_ce_probs":
        t = r.uniform(0, 1, shape)
        t = (t / t.sum(axis=1, keepdims=True)).astype(dtype)
    elif case == "hinge_binary":
        t = np.where(r.uniform(size=shape) < 0.5, -1.0, 1.0).astype(dtype)
    else:
        t = r.integers(0, cols, rows)
    return z, t


def _away_from_kinks(case, z, t):
    """True if no element/row sits within 1e-3 of a point where the loss has a kink."""
    if case == "mae":
        return bool(np.all(np.abs(z - t) > 1e-3))
    if case == "hinge_binary":
        return bool(np.all(np.abs(1 - t * z) > 1e-3))
    if case == "hinge_multiclass":
        idx = np.arange(z.shape[0])
        rivals = z.copy()
        rivals[idx, t] = -np.inf
        top2 = np.sort(rivals, axis=1)[:, -2:]
        margin = 1 + top2[:, 1] - z[idx, t]
        return bool(np.all(np.abs(margin) > 1e-3) and np.all(top2[:, 1] - top2[:, 0] > 1e-3))
    return True


@pytest.mark.parametrize("case", CASES)
def test_reference_gradient_matches_finite_differences(case):
    r = np.random.default_rng(1)
    for _ in range(100):                   # redraw until clear of every kink
        z, t = _inputs(r, case, (5, 4), np.float64, scale=1.5)
        if _away_from_kinks(case, z, t):
            break
    f = _fn(ref, case)
    loss, grad = f(z, t)
    num = numeric_grad(lambda zz: f(zz, t)[0], z)
    assert np.any(grad != 0)
    assert_allclose(grad, num, rtol=1e-6, atol=1e-9)


def test_reference_values_by_hand():
    z = np.array([[0.0, 2.0], [1.0, -1.0]])
    t = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert_allclose(ref.mse(z, t)[0], (1 + 4 + 1 + 4) / 4)
    assert_allclose(ref.mae(z, t)[0], (1 + 2 + 1 + 2) / 4)
    lse = np.log(1 + np.exp(2.0))
    assert_allclose(ref.softmax_cross_entropy(z, np.array([0, 0]))[0],
                    (lse + np.log(1 + np.exp(-2.0))) / 2)
    # bce(z=0, t) = log 2 for any t
    assert_allclose(ref.bce_with_logits(np.zeros((2, 3)), np.full((2, 3), 0.3))[0], np.log(2))
    # row 0: rival 2 vs label 0 -> 1 + 2 - 0 = 3; row 1: rival -1 vs label 0 -> 1 - 1 - 1 < 0
    assert_allclose(ref.hinge_multiclass(z, np.array([0, 0]))[0], 3 / 2)
    assert_allclose(ref.hinge_binary(np.array([[0.5, -2.0]]), np.array([[1.0, 1.0]]))[0],
                    (0.5 + 3.0) / 2)


def _tols(dtype, grad_ref):
    return dict(rtol=RTOL[dtype], atol=max(ATOL[dtype], RTOL[dtype] * np.abs(grad_ref).max()))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", LOSS_SHAPES)
@pytest.mark.parametrize("case", CASES)
def test_kernel_matches_reference(rng, case, shape, dtype):
    z, t = _inputs(rng, case, shape, dtype)
    t64 = t.astype(np.float64) if t.dtype.kind == "f" else t
    loss_ref, grad_ref = _fn(ref, case)(z.astype(np.float64), t64)
    loss, grad = _fn(ops, case)(z, t)
    assert isinstance(loss, float)
    assert grad.dtype == dtype and grad.shape == z.shape
    assert_allclose(loss, loss_ref, rtol=RTOL[dtype], atol=ATOL[dtype])
    assert_allclose(grad, grad_ref, **_tols(dtype, grad_ref))


@pytest.mark.parametrize("case", ["mse", "mae", "bce_with_logits", "hinge_binary"])
def test_elementwise_losses_take_1d_arrays(rng, case):
    z, t = _inputs(rng, case, (37, 1), np.float64)
    z, t = z.ravel(), t.ravel()
    loss, grad = _fn(ops, case)(z, t)
    loss_ref, grad_ref = _fn(ref, case)(z, t)
    assert grad.shape == (37,)
    assert_allclose(loss, loss_ref, rtol=1e-12)
    assert_allclose(grad, grad_ref, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_ce_labels_equal_one_hot(rng, dtype):
    z = (rng.standard_normal((257, 13)) * 4).astype(dtype)
    y = rng.integers(0, 13, 257)
    onehot = np.eye(13, dtype=dtype)[y]
    l1, g1 = ops.softmax_cross_entropy(z, y)
    l2, g2 = ops.softmax_cross_entropy(z, onehot)
    assert_allclose(l1, l2, rtol=1e-12)
    assert_allclose(g1, g2, rtol=1e-6 if dtype == np.float32 else 1e-12, atol=1e-12)
    lr1, gr1 = ref.softmax_cross_entropy(z, y)
    lr2, gr2 = ref.softmax_cross_entropy(z, onehot)
    assert_allclose(lr1, lr2, rtol=1e-6)
    assert_array_equal(gr1, gr2)


@pytest.mark.parametrize("dtype", DTYPES)
def test_extreme_logits_stay_finite(dtype):
    z = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [1e4, 1e4, -1e4]], dtype=dtype)
    y = np.array([1, 2, 0])
    loss, grad = ops.softmax_cross_entropy(z, y)
    # row 0: lse = 1e4, loss 2e4; row 1: log 3; row 2: log 2
    assert_allclose(loss, (2e4 + np.log(3) + np.log(2)) / 3, rtol=1e-6)
    assert np.isfinite(grad).all()
    assert_allclose(grad.sum(axis=1), 0, atol=1e-7)
    t = np.array([[1.0, 0.0, 0.5]] * 3, dtype=dtype)
    loss, grad = ops.bce_with_logits(z, t)
    # bce(z, t) = max(z, 0) - z t (+ log 2 at z = 0): 0 when right, 1e4 when wrong
    expected = np.array([[0, 0, np.log(2)], [1e4, 0, 0.5e4], [0, 1e4, 0.5e4]])
    assert np.isfinite(grad).all()
    assert_allclose(loss, expected.mean(), rtol=1e-6)


@pytest.mark.parametrize("lo", [-30.0, 3.0, 15.0])
def test_bce_small_losses_keep_relative_accuracy(lo):
    """Confident, correct predictions: every term is log1p(exp(-|z|)), the part computed
    by a series for small exp(-|z|) and by log(1 + e) above; both must stay accurate."""
    z = np.linspace(lo, 30.0, 4001).astype(np.float32)
    z = np.where(np.arange(z.size) % 2, z, -z).astype(np.float32).reshape(-1, 1)
    t = (z > 0).astype(np.float32)
    loss, grad = ops.bce_with_logits(z, t)
    loss_ref, grad_ref = ref.bce_with_logits(z.astype(np.float64), t.astype(np.float64))
    assert loss > 0
    assert_allclose(loss, loss_ref, rtol=2e-6)
    assert_allclose(grad, grad_ref, rtol=1e-5, atol=1e-30)


def test_hinge_multiclass_ties_and_single_column():
    z = np.array([[1.0, 3.0, 3.0], [0.0, 0.0, 0.0]])
    loss, grad = ops.hinge_multiclass(z, np.array([0, 2]))
    assert_allclose(loss, (3.0 + 1.0) / 2)
    assert_array_equal(grad, [[-0.5, 0.5, 0.0], [0.5, 0.0, -0.5]])   # first argmax on ties
    assert_array_equal(ref.hinge_multiclass(z, np.array([0, 2]))[1], grad)
    loss, grad = ops.hinge_multiclass(np.ones((4, 1)), np.zeros(4, dtype=int))
    assert loss == 0.0 and not grad.any()


def test_mae_and_hinge_subgradient_at_kink_is_zero():
    z = np.array([[1.0, 2.0]])
    _, g = ops.mae(z, z.copy())
    assert not g.any()
    _, g = ops.hinge_binary(np.array([[1.0, -1.0]]), np.array([[1.0, -1.0]]))
    assert not g.any()


@settings(max_examples=80, deadline=None)
@given(rows=st.integers(1, 40), cols=st.integers(1, 40),
       scale=st.sampled_from([1e-3, 1.0, 30.0, 1e4]), case=st.sampled_from(CASES),
       dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**31 - 1))
def test_property_random_shapes_and_extreme_values(rows, cols, scale, case, dtype, seed):
    z, t = _inputs(np.random.default_rng(seed), case, (rows, cols), dtype, scale)
    t64 = t.astype(np.float64) if t.dtype.kind == "f" else t
    loss, grad = _fn(ops, case)(z, t)
    assert np.isfinite(loss) and np.isfinite(grad).all()
    loss_ref, grad_ref = _fn(ref, case)(z.astype(np.float64), t64)
    rtol = 1e-10 if dtype == np.float64 else 1e-4
    tiny = float(np.finfo(dtype).tiny)      # exp(-|z|) underflows in dtype below this
    assert_allclose(loss, loss_ref, rtol=rtol, atol=tiny)
    assert_allclose(grad, grad_ref, rtol=rtol, atol=rtol * np.abs(grad_ref).max() + tiny)


@pytest.mark.parametrize("shape", [(20000, 10), (3000, 100)])   # the second: > 64 chunks
@pytest.mark.parametrize("case", CASES)
def test_one_and_two_threads_are_bitwise_equal(rng, case, shape):
    z, t = _inputs(rng, case, shape, np.float32)
    f = _fn(ops, case)
    l1, g1 = f(z, t, n_threads=1)
    l2, g2 = f(z, t, n_threads=2)
    assert l1 == l2
    assert_array_equal(g1, g2)


@pytest.mark.parametrize("case", CASES)
def test_value_only_and_dout_buffer(rng, case):
    z, t = _inputs(rng, case, (33, 7), np.float64)
    loss, grad = _fn(ops, case)(z, t)
    d = np.full_like(z, np.nan)
    loss2, d2 = _fn(ops, case)(z, t, dout=d)
    assert d2 is d and loss2 == loss
    assert_array_equal(d, grad)
    code = ops.LOSS_CODES["softmax_cross_entropy" if case == "softmax_ce_probs" else case]
    labels = t if t.dtype.kind == "i" else None
    target = None if labels is not None else t
    assert _core.loss_value_grad(code, z, target, labels, None, 1) == loss


def test_bad_input_is_named():
    z = np.zeros((3, 4))
    y = np.array([0, 1, 2])
    with pytest.raises(ValueError, match="labels has labels in"):
        ops.softmax_cross_entropy(z, np.array([0, 4, 1]))
    with pytest.raises(ValueError, match="labels has labels in"):
        ops.hinge_multiclass(z, np.array([-1, 0, 1]))
    with pytest.raises(ValueError, match="labels has 2 labels, expected 3"):
        ops.softmax_cross_entropy(z, y[:2])
    with pytest.raises(TypeError, match="labels must hold integer"):
        ops.hinge_multiclass(z, np.array([0.5, 1, 2]))
    with pytest.raises(ValueError, match="target has shape"):
        ops.mse(z, np.zeros((4, 3)))
    with pytest.raises(ValueError, match="target has shape"):
        ops.softmax_cross_entropy(z, np.zeros((3, 5)))
    with pytest.raises(TypeError, match="target must have dtype float32 or float64"):
        ops.mse(z, np.zeros((3, 4), dtype=np.int64))
    with pytest.raises(TypeError, match="target must have dtype float32 or float64"):
        ops.softmax_cross_entropy(z, np.eye(4, dtype=np.int64)[y])
    with pytest.raises(TypeError, match="target has dtype float32, expected float64"):
        ops.mae(z, np.zeros((3, 4), dtype=np.float32))
    with pytest.raises(TypeError, match="out must have dtype"):
        ops.mse(np.zeros((3, 4), dtype=np.int32), z)
    with pytest.raises(ValueError, match="logits must be 2-D"):
        ops.softmax_cross_entropy(np.zeros(4), np.array([1]))
    with pytest.raises(ValueError, match="out is empty"):
        ops.mse(np.zeros((0, 4)), np.zeros((0, 4)))
    with pytest.raises(ValueError, match="out must be C-contiguous"):
        ops.mse(np.zeros((4, 6))[:, ::2], z)
    with pytest.raises(ValueError, match=r"target must lie in \[0, 1\]"):
        ops.bce_with_logits(z, np.full((3, 4), 1.5))
    with pytest.raises(ValueError, match="target must hold -1 or \\+1"):
        ops.hinge_binary(z, np.zeros((3, 4)))
    with pytest.raises(ValueError, match="dout has shape"):
        ops.mse(z, z.copy(), dout=np.empty((4, 3)))
    with pytest.raises(ValueError, match="dout must not share memory"):
        ops.mse(z, z.copy(), dout=z)
    with pytest.raises(ValueError, match="n_threads must be >= 1"):
        ops.mse(z, z.copy(), n_threads=0)


def test_core_wrapper_never_trusts_its_input():
    """The _core entry point itself refuses what would read out of bounds."""
    z = np.zeros((3, 4))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 4\)"):
        _core.loss_value_grad(3, z, None, np.array([0, 9, 1]), None, 1)
    with pytest.raises(ValueError, match="labels has 2 entries"):
        _core.loss_value_grad(4, z, None, np.array([0, 1]), None, 1)
    with pytest.raises(ValueError, match="needs target"):
        _core.loss_value_grad(0, z, None, None, None, 1)
    with pytest.raises(ValueError, match="needs target or labels"):
        _core.loss_value_grad(3, z, None, None, None, 1)
    with pytest.raises(ValueError, match="unknown loss code 6"):
        _core.loss_value_grad(6, z, z, None, None, 1)
    with pytest.raises(ValueError, match="dout must not alias"):
        _core.loss_value_grad(0, z, z.copy(), None, z, 1)
    with pytest.raises(ValueError, match="target has shape"):
        _core.loss_value_grad(0, z, np.zeros((3, 3)), None, None, 1)


def test_one_name_per_loss_from_the_compiled_table():
    """_core.LOSS_CODES is the one table: ops, the Loss classes and the reference use its
    names, and the other names users know a loss by still resolve to the same class."""
    assert ops.LOSS_CODES is _core.LOSS_CODES
    assert set(ref.LOSSES) == set(_core.LOSS_CODES)
    classes = set(LOSSES.values())
    assert sorted(cls.name for cls in classes) == sorted(_core.LOSS_CODES)
    for name, cls in LOSSES.items():
        loss = get_loss(name)
        assert type(loss) is cls and loss.code == _core.LOSS_CODES[cls.name], name
    for alias, name in [("bce", "bce_with_logits"), ("binary_cross_entropy", "bce_with_logits"),
                        ("cross_entropy", "softmax_cross_entropy"),
                        ("hinge", "hinge_multiclass"), ("binary_hinge", "hinge_binary")]:
        assert get_loss(alias).name == name
