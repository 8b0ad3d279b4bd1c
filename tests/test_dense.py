"""Dense layer: the reference against finite differences, the kernels (plain and with a
fused activation) against the reference, accumulation rules, thread-count independence
and input validation."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from cgrad import ops, reference as ref
from conftest import DTYPES, RTOL

# (N, IN, OUT): edge sizes, the W1 MNIST layers and a shape above the parallel threshold.
LAYERS = [(1, 1, 1), (3, 17, 33), (17, 33, 3), (33, 3, 17), (257, 129, 65),
          (128, 784, 256), (128, 64, 10), (1000, 257, 33)]
ACTS = ["identity", "relu", "leaky_relu", "sigmoid", "tanh", "softmax", "elu", "gelu"]


def _layer(rng, N, IN, OUT, dtype):
    x = rng.standard_normal((N, IN)).astype(dtype)
    W = (rng.standard_normal((IN, OUT)) / np.sqrt(IN)).astype(dtype)
    b = rng.standard_normal(OUT).astype(dtype)
    dz = rng.standard_normal((N, OUT)).astype(dtype)
    return x, W, b, dz


def _f64(*arrays):
    return [a.astype(np.float64) for a in arrays]


def _tol(dtype, K):
    return dict(rtol=RTOL[dtype], atol=RTOL[dtype] * np.sqrt(K))


def test_reference_backward_matches_finite_differences(rng):
    """d/dp sum(g * (x @ W + b)) for p in x, W, b, float64 central differences."""
    x, W, b, g = _layer(rng, 4, 5, 3, np.float64)
    dx, dW, db = ref.linear_backward(g, x, W)
    eps = 1e-6
    for p, grad in ((x, dx), (W, dW), (b, db)):
        num = np.empty_like(p)
        for idx in np.ndindex(p.shape):
            old = p[idx]
            p[idx] = old + eps
            fp = np.sum(g * ref.linear_forward(x, W, b))
            p[idx] = old - eps
            fm = np.sum(g * ref.linear_forward(x, W, b))
            p[idx] = old
            num[idx] = (fp - fm) / (2 * eps)
        assert_allclose(grad, num, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("N,IN,OUT", LAYERS)
def test_linear_pair_matches_reference(rng, N, IN, OUT, dtype):
    x, W, b, dz = _layer(rng, N, IN, OUT, dtype)
    z = ops.linear_forward(x, W, b)
    assert z.dtype == dtype
    assert_allclose(z, ref.linear_forward(*_f64(x, W, b)), **_tol(dtype, IN))
    assert_allclose(ops.linear_forward(x, W), ref.linear_forward(*_f64(x, W)), **_tol(dtype, IN))
    dx, dW, db = ops.linear_backward(dz, x, W)
    rdx, rdW, rdb = ref.linear_backward(*_f64(dz, x, W))
    assert_allclose(dx, rdx, **_tol(dtype, OUT))
    assert_allclose(dW, rdW, **_tol(dtype, N))
    assert_allclose(db, rdb, **_tol(dtype, N))


@pytest.mark.parametrize("dtype", DTYPES)
def test_backward_accumulates_parameter_gradients(rng, dtype):
    x, W, b, dz = _layer(rng, 70, 40, 30, dtype)
    dW0 = rng.standard_normal(W.shape).astype(dtype)
    db0 = rng.standard_normal(b.shape).astype(dtype)
    dW, db = dW0.copy(), db0.copy()
    dx = np.full(x.shape, np.nan, dtype)                # overwritten, never read
    _, rdW, rdb = ref.linear_backward(*_f64(dz, x, W))
    out = ops.linear_backward(dz, x, W, dW=dW, db=db, out=dx)
    assert out[0] is dx and out[1] is dW and out[2] is db
    assert_allclose(dW, dW0 + rdW, **_tol(dtype, 70))
    assert_allclose(db, db0 + rdb, **_tol(dtype, 70))
    assert np.isfinite(dx).all()


def test_first_layer_skips_dx(rng):
    x, W, b, dz = _layer(rng, 9, 8, 7, np.float64)
    dx, dW, db = ops.linear_backward(dz, x, W, need_dx=False)
    assert dx is None
    assert_allclose(dW, x.T @ dz, rtol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("N,IN,OUT", [(3, 17, 33), (257, 129, 65), (128, 64, 10)])
def test_fused_activation_matches_reference(rng, act, N, IN, OUT, dtype):
    x, W, b, dy = _layer(rng, N, IN, OUT, dtype)
    z, y = ops.linear_act_forward(x, W, b, act)
    rz, ry = ref.linear_act_forward(*_f64(x, W, b), act)
    assert_allclose(z, rz, **_tol(dtype, IN))
    assert_allclose(y, ry, **_tol(dtype, IN))
    dx, dW, db = ops.linear_act_backward(dy, z, y, x, W, act)
    rdx, rdW, rdb = ref.linear_act_backward(*_f64(dy, z, y, x, W), act)
    assert_allclose(dx, rdx, **_tol(dtype, OUT))
    assert_allclose(dW, rdW, **_tol(dtype, N))
    assert_allclose(db, rdb, **_tol(dtype, N))


def test_fused_activation_alpha_is_used(rng):
    x, W, b, dy = _layer(rng, 20, 10, 8, np.float64)
    z, y = ops.linear_act_forward(x, W, b, "leaky_relu", alpha=0.3)
    assert_allclose(y, ref.linear_act_forward(x, W, b, "leaky_relu", 0.3)[1], rtol=1e-12)
    assert not np.allclose(y, ref.linear_act_forward(x, W, b, "leaky_relu")[1])


@pytest.mark.parametrize("act", ["identity", "relu", "tanh", "softmax"])
@pytest.mark.parametrize("N,IN,OUT", [(1000, 257, 33), (128, 784, 256)])
def test_one_and_two_threads_are_bitwise_equal(rng, act, N, IN, OUT):
    x, W, b, dy = _layer(rng, N, IN, OUT, np.float32)
    runs = []
    for nt in (1, 2):
        z, y = ops.linear_act_forward(x, W, b, act, n_threads=nt)
        grads = ops.linear_act_backward(dy, z, y, x, W, act, n_threads=nt)
        runs.append((z, y) + grads)
    for a1, a2 in zip(*runs):
        assert_array_equal(a1, a2)


@settings(max_examples=40, deadline=None)
@given(N=st.integers(1, 60), IN=st.integers(1, 60), OUT=st.integers(1, 60),
       act=st.sampled_from(ACTS), seed=st.integers(0, 2**31 - 1))
def test_property_random_layers(N, IN, OUT, act, seed):
    r = np.random.default_rng(seed)
    x, W, b, dy = _layer(r, N, IN, OUT, np.float64)
    z, y = ops.linear_act_forward(x, W, b, act)
    rz, ry = ref.linear_act_forward(x, W, b, act)
    assert_allclose(y, ry, rtol=1e-10, atol=1e-12)
    for got, want in zip(ops.linear_act_backward(dy, z, y, x, W, act),
                         ref.linear_act_backward(dy, z, y, x, W, act)):
        assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_bad_input_is_named():
    x, W, b = np.ones((4, 5)), np.ones((5, 3)), np.ones(3)
    with pytest.raises(ValueError, match="W has shape \\(4, 3\\), expected \\(5, \\*\\) to match x's 5 columns"):
        ops.linear_forward(x, np.ones((4, 3)), b)
    with pytest.raises(ValueError, match="b has shape \\(4,\\), expected \\(3,\\)"):
        ops.linear_forward(x, W, np.ones(4))
    with pytest.raises(TypeError, match="W has dtype float32, expected float64"):
        ops.linear_forward(x, W.astype(np.float32), b)
    with pytest.raises(ValueError, match="out has shape"):
        ops.linear_forward(x, W, b, out=np.empty((4, 4)))
    with pytest.raises(ValueError, match="dz has shape \\(4, 2\\), expected \\(4, 3\\)"):
        ops.linear_backward(np.ones((4, 2)), x, W)
    with pytest.raises(ValueError, match="dW has shape"):
        ops.linear_backward(np.ones((4, 3)), x, W, dW=np.ones((3, 5)))
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        ops.linear_act_forward(x, W, b, "swish")
    with pytest.raises(ValueError, match="x must be C-contiguous"):
        ops.linear_forward(np.ones((5, 4)).T, W, b)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ["relu", "sigmoid", "tanh"])
@pytest.mark.parametrize("N,IN,OUT", [(128, 784, 256), (1000, 257, 33), (512, 1100, 70),
                                      (300, 5, 40), (64, 200, 3), (37, 70, 90)])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_derivative_applied_while_packing_gives_the_separate_pass_bits(
        rng, act, N, IN, OUT, dtype, n_threads):
    """With its own dz buffer, linear_act_backward applies act' while the weight-gradient
    GEMM packs dZ (packed shapes: multi-slice K, grids of 1 or 2 rows, edge panels) or
    right before the GEMM (no-pack and narrow shapes).  Everything must equal, bit for
    bit, the separate derivative pass (dz written over dy), and dy must be untouched."""
    from cgrad import _core
    from cgrad.ops.activations import ACTIVATION_CODES
    code = ACTIVATION_CODES[act]
    x, W, b, dy = _layer(rng, N, IN, OUT, dtype)
    z, y = ops.linear_act_forward(x, W, b, act)
    if act == "relu":
        y[:, ::7] = 0                                 # exact zeros: the > 0 test
    outs = []
    for separate in (False, True):
        d = dy.copy()
        dW, db = np.zeros((IN, OUT), dtype), np.zeros(OUT, dtype)
        dx = np.full((N, IN), np.nan, dtype)
        dz = np.full((N, OUT), np.nan, dtype) if separate else None
        _core.linear_act_backward(code, 0.0, d, z, y, d if dz is None else dz, x, W, dW, db,
                                  dx, True, n_threads)
        if separate:
            assert_array_equal(d, dy)                 # dy is only read
        outs.append((dz if separate else d, dW, db, dx))
    for a, b_ in zip(*outs):
        assert_array_equal(a.view(np.uint8), b_.view(np.uint8))
    assert np.any(outs[1][1] != 0)
