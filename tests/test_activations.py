"""Activations: the reference against finite differences, the kernels against the
reference, thread-count independence and input validation."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from cgrad import _core, ops, reference as ref
from conftest import ATOL, DTYPES, RTOL, SHAPES, numeric_grad

NAMES = list(ref.ACTIVATIONS)


def _pair(mod, name):
    return getattr(mod, f"{name}_forward"), getattr(mod, f"{name}_backward")


def _inputs(rng, shape, dtype):
    z = rng.standard_normal(shape) * 3
    dy = rng.standard_normal(shape)
    return z.astype(dtype), dy.astype(dtype)


@pytest.mark.parametrize("name", NAMES)
def test_reference_backward_matches_finite_differences(rng, name):
    """d/dz sum(dy * f(z)) by central differences, float64."""
    fwd, bwd = _pair(ref, name)
    z = rng.standard_normal((4, 6)) * 2
    if name in ("relu", "leaky_relu", "elu"):
        z[np.abs(z) < 1e-3] = 0.5      # keep away from the kink
    dy = rng.standard_normal(z.shape)
    num = numeric_grad(lambda zz: np.sum(dy * fwd(zz)), z)
    assert_allclose(bwd(dy, z, fwd(z)), num, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", NAMES)
def test_kernel_matches_reference(rng, name, shape, dtype):
    z, dy = _inputs(rng, shape, dtype)
    f_ref, b_ref = _pair(ref, name)
    f_k, b_k = _pair(ops, name)
    z64, dy64 = z.astype(np.float64), dy.astype(np.float64)
    y_ref = f_ref(z64)
    y = f_k(z)
    assert y.dtype == dtype
    assert_allclose(y, y_ref, rtol=RTOL[dtype], atol=ATOL[dtype])
    # backward from the kernel's own forward output, as training does
    dz = b_k(dy, z, y)
    assert_allclose(dz, b_ref(dy64, z64, y.astype(np.float64)), rtol=RTOL[dtype],
                    atol=ATOL[dtype] * 10)


@pytest.mark.parametrize("name,alpha", [("leaky_relu", 0.2), ("elu", 0.5)])
def test_alpha_is_used(rng, name, alpha):
    z, dy = _inputs(rng, (7, 9), np.float64)
    f_ref, b_ref = _pair(ref, name)
    f_k, b_k = _pair(ops, name)
    y = f_k(z, alpha)
    assert_allclose(y, f_ref(z, alpha), rtol=1e-12)
    assert_allclose(b_k(dy, z, y, alpha), b_ref(dy, z, y, alpha), rtol=1e-12)
    assert not np.allclose(y, f_ref(z)), "alpha must change the result"


@pytest.mark.parametrize("name", NAMES)
def test_one_and_two_threads_are_bitwise_equal(rng, name):
    z, dy = _inputs(rng, (2100, 257), np.float32)    # above every parallel threshold (relu: 262144 elements)
    f, b = _pair(ops, name)
    y1, y2 = f(z, n_threads=1), f(z, n_threads=2)
    assert_array_equal(y1, y2)
    assert_array_equal(b(dy, z, y1, n_threads=1), b(dy, z, y1, n_threads=2))


@pytest.mark.parametrize("name", ["relu", "tanh", "softmax", "gelu"])
def test_in_place(rng, name):
    z, dy = _inputs(rng, (33, 17), np.float64)
    f, b = _pair(ops, name)
    y = f(z)
    zz = z.copy()
    assert f(zz, out=zz) is zz
    assert_array_equal(zz, y)
    dz = b(dy, z, y)
    dd = dy.copy()
    b(dd, z, y, out=dd)
    assert_array_equal(dd, dz)


def test_one_dimensional_input(rng):
    z = rng.standard_normal(17)
    assert_allclose(ops.softmax_forward(z), ref.softmax_forward(z), rtol=1e-12)
    assert_allclose(ops.sigmoid_forward(z), ref.sigmoid_forward(z), rtol=1e-12)


@settings(max_examples=60, deadline=None)
@given(rows=st.integers(1, 40), cols=st.integers(1, 40), scale=st.sampled_from([1e-3, 1, 30, 1e4]),
       name=st.sampled_from(NAMES), seed=st.integers(0, 2**31 - 1))
def test_property_random_shapes_and_extreme_values(rows, cols, scale, name, seed):
    r = np.random.default_rng(seed)
    z = (r.standard_normal((rows, cols)) * scale)
    dy = r.standard_normal((rows, cols))
    f_ref, b_ref = _pair(ref, name)
    f_k, b_k = _pair(ops, name)
    with np.errstate(over="ignore", invalid="ignore"):
        y_ref = f_ref(z)
        y = f_k(z)
        assert np.isfinite(y).all(), "stable activations never overflow"
        assert_allclose(y, y_ref, rtol=1e-10, atol=1e-300)
        # softmax's backward cancels (dy - sum(dy*y)); judge it on the gradient's scale
        assert_allclose(b_k(dy, z, y), b_ref(dy, z, y), rtol=1e-10,
                        atol=1e-13 * np.abs(dy).max())


def test_softmax_rows_sum_to_one_for_huge_logits():
    z = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]], dtype=np.float32)
    y = ops.softmax_forward(z)
    assert np.isfinite(y).all()
    assert_allclose(y.sum(axis=1), 1, rtol=1e-6)


@pytest.mark.parametrize("bad,exc,msg", [
    ([[1.0, 2.0]], TypeError, "z must be a numpy.ndarray"),
    (np.ones((2, 3), dtype=np.int64), TypeError, "z must have dtype float32 or float64"),
    (np.ones((4, 6))[:, ::2], ValueError, "z must be C-contiguous"),
    (np.ones((2, 3, 4)), ValueError, "z must be 1-D or 2-D"),
])
def test_bad_input_is_named(bad, exc, msg):
    with pytest.raises(exc, match=msg):
        ops.relu_forward(bad)


def test_backward_bad_shapes_and_mixed_dtypes_are_named():
    z = np.ones((3, 4))
    with pytest.raises(ValueError, match="y has shape"):
        ops.tanh_backward(np.ones((3, 4)), z, np.ones((4, 3)))
    with pytest.raises(TypeError, match="z has dtype float32, expected float64"):
        ops.tanh_backward(np.ones((3, 4)), z.astype(np.float32), z)
    with pytest.raises(ValueError, match="out has shape"):
        ops.relu_forward(z, out=np.empty((3, 5)))
    with pytest.raises(ValueError, match="n_threads must be >= 1"):
        ops.relu_forward(z, n_threads=0)


def test_gelu_is_the_tanh_form():
    """The kernels compute z*sigmoid(2u), which equals 0.5 z (1 + tanh u) exactly."""
    z = np.linspace(-6, 6, 101)
    u = np.sqrt(2 / np.pi) * (z + 0.044715 * z ** 3)
    assert_allclose(ops.gelu_forward(z), 0.5 * z * (1 + np.tanh(u)), rtol=1e-12, atol=1e-15)


def test_codes_come_from_the_compiled_table():
    """ops reads the activation codes from _core (no second copy), for every activation
    the reference has."""
    assert ops.ACTIVATION_CODES is _core.ACTIVATION_CODES
    assert set(_core.ACTIVATION_CODES) == set(NAMES)
