"""vmath (src/c/vmath.h): float32 SIMD exp/tanh/sigmoid/log/gelu/elu, every ISA this
machine runs, against float64 NumPy over dense sweeps, plus special values, aliasing,
tails and bad input."""
import numpy as np
import pytest
from numpy.testing import assert_array_equal

from cgrad import _core

from conftest import ALL_ISAS as ISAS
SPEC = 3e-7                                   # max relative error, normal results
TINY = float(np.finfo(np.float32).tiny)      # smallest normal float32
FMAX = float(np.finfo(np.float32).max)
SUB_ULP = 2.0 ** -149                         # spacing of float32 subnormals


def apply(name, x, alpha=1.0):
    x = np.ascontiguousarray(x, dtype=np.float32)
    y = np.full_like(x, 12345.0)
    _core.vmath_apply(name, x, y, alpha)
    return y


def _both_signs(v):
    v = np.asarray(v, dtype=np.float32)
    return np.concatenate([v, -v])


SWEEP = np.linspace(-90, 90, 1_000_001, dtype=np.float32)
SMALL = _both_signs(np.geomspace(1e-38, 1.0, 200_001))       # relative accuracy near 0
SUBNORMAL = _both_signs(np.geomspace(1.5e-45, 1.1e-38, 2001))


def max_rel(y, ref, tol=None):
    """Max relative error of y over the elements whose float64 reference is a normal
    float32; asserts y is finite there.  With tol (array), max of error / tol."""
    m = (np.abs(ref) >= TINY) & (np.abs(ref) <= FMAX)
    assert m.sum() > 0
    assert np.all(np.isfinite(y[m]))
    err = np.abs(y[m].astype(np.float64) - ref[m]) / np.abs(ref[m])
    if tol is not None:
        err = err / tol[m]
    return err.max()


def test_exp(isa):
    x = np.concatenate([SWEEP, np.linspace(80, 89, 100_001, dtype=np.float32),
                        np.linspace(-104.5, -80, 100_001, dtype=np.float32), SMALL])
    y = apply("exp", x)
    ref = np.exp(x.astype(np.float64))
    assert max_rel(y, ref) <= SPEC
    assert not np.any(np.isnan(y))
    assert np.all(y[x > 88.7229] == np.inf)
    assert np.all(y[x < -103.98] == 0)
    sub = ref < TINY                                   # gradual underflow: within 1 ulp
    assert np.all(np.abs(y[sub] - ref[sub]) <= SUB_ULP)
    assert np.all(y[(x <= 88.72) & (x > -87.3)] > 0)


def test_tanh(isa):
    x = np.concatenate([SWEEP, np.linspace(-10, 10, 1_000_001, dtype=np.float32), SMALL])
    y = apply("tanh", x)
    ref = np.tanh(x.astype(np.float64))
    assert max_rel(y, ref) <= SPEC
    big = np.abs(x) > 9.02
    assert_array_equal(y[big], np.sign(x[big]))        # exactly +-1
    small = np.abs(x) < 1e-4                           # tanh(x) ~= x to < 4e-9
    assert np.all(np.abs(y[small] - x[small]) <= SPEC * np.abs(x[small]))
    ys = apply("tanh", SUBNORMAL)                      # no flush, no sign flip
    assert np.all(np.abs(ys - SUBNORMAL) <= SUB_ULP)
    assert np.all(np.abs(y) <= 1)


def test_sigmoid(isa):
    x = np.concatenate([SWEEP, np.linspace(-104, -80, 100_001, dtype=np.float32), SMALL])
    y = apply("sigmoid", x)
    x64 = x.astype(np.float64)
    ref = np.where(x64 >= 0, 1 / (1 + np.exp(-np.abs(x64))),
                   np.exp(-np.abs(x64)) / (1 + np.exp(-np.abs(x64))))
    assert max_rel(y, ref) <= SPEC                     # includes x down to -87.3
    assert not np.any(np.isnan(y))
    assert np.all((y >= 0) & (y <= 1))
    assert np.all(y[x > 17] == 1)


def test_log(isa):
    x = np.concatenate([np.geomspace(1e-45, 3.4e38, 1_000_001, dtype=np.float32),
                        np.linspace(0.5, 2, 1_000_001, dtype=np.float32),
                        np.float32(1) + np.arange(-2000, 2000, dtype=np.float32)
                        * np.float32(2.0 ** -24)])
    x = x[x > 0]
    y = apply("log", x)
    ref = np.log(x.astype(np.float64))
    nz = ref != 0
    assert max_rel(y[nz], ref[nz]) <= SPEC             # subnormal x included
    assert np.all(y[~nz] == 0)                         # log(1) == 0 exactly


def _gelu64(z):
    u = np.sqrt(2 / np.pi) * (z + 0.044715 * z ** 3)
    return z / (1 + np.exp(-2 * u)), u


def test_gelu(isa):
    z = np.concatenate([np.linspace(-13, 13, 1_000_001, dtype=np.float32), SMALL])
    y = apply("gelu", z)
    ref, u = _gelu64(z.astype(np.float64))
    # u is computed in float32 (up to five roundings without FMA), and exp(2u) turns an
    # absolute error of 2u into a relative one: allow |2u| * 5 * 2^-24 on top of the
    # spec where sigmoid(2u) ~= exp(2u) (z < 0); this is the formula's conditioning
    # (the libm version in activations.pxi has it too), not the vector math's error
    tol = SPEC + np.where(z < 0, np.abs(2 * u) * 5 * 2.0 ** -24, 0)
    assert max_rel(y, ref, tol / SPEC) <= SPEC


@pytest.mark.parametrize("alpha", [1.0, 0.5, 1.7])
def test_elu(isa, alpha):
    z = np.concatenate([SWEEP, SMALL])
    y = apply("elu", z, alpha)
    z64, a = z.astype(np.float64), float(np.float32(alpha))
    ref = np.where(z64 > 0, z64, a * np.expm1(np.minimum(z64, 0)))
    assert max_rel(y, ref) <= SPEC                     # small negative z: expm1 quality
    assert_array_equal(y[z > 0], z[z > 0])
    assert np.all(y[z < -20] == np.float32(-a))


SPECIAL = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0], dtype=np.float32)
EXPECTED = {          # f(nan), f(inf), f(-inf), f(0), f(-0)
    "exp": [np.nan, np.inf, 0.0, 1.0, 1.0],
    "tanh": [np.nan, 1.0, -1.0, 0.0, 0.0],
    "sigmoid": [np.nan, 1.0, 0.0, 0.5, 0.5],
    "log": [np.nan, np.inf, np.nan, -np.inf, -np.inf],
    "gelu": [np.nan, np.nan, np.nan, 0.0, 0.0],     # inf * sigmoid: z^3 overflows u
    "elu": [np.nan, np.inf, -1.0, 0.0, 0.0],
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_special_values(isa, name):
    y = apply(name, SPECIAL)
    exp = np.array(EXPECTED[name], dtype=np.float32)
    if name == "gelu":          # gelu(+inf) = inf * 1 = inf, gelu(-inf) = -inf * 0 = NaN
        exp[1] = np.inf
    assert_array_equal(y, exp)
    if name == "log":
        assert np.isnan(apply("log", np.array([-1.0, -1e-40, -3e38]))).all()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_in_place_and_tails_match(isa, name, rng):
    """out may be x; every length (vector tails, 256-element staging blocks) gives the
    same value for the same element, bitwise."""
    x = (rng.standard_normal(1000) * 4).astype(np.float32)
    if name == "log":
        x = np.abs(x) + np.float32(1e-3)
    full = apply(name, x, 0.7)
    for n in (1, 3, 7, 8, 15, 16, 17, 31, 33, 255, 256, 257, 513):
        assert_array_equal(apply(name, x[:n], 0.7), full[:n])
        for off in (1, 5):                             # unaligned starts
            assert_array_equal(apply(name, x[off:off + n], 0.7), full[off:off + n])
    inplace = x.copy()
    _core.vmath_apply(name, inplace, inplace, 0.7)
    assert_array_equal(inplace, full)


def test_isas_agree_closely():
    """The ISA paths are different builds of one formula: within 2 ulp of each other."""
    x = np.linspace(-20, 20, 100_001, dtype=np.float32)
    before = _core.isa_selected()
    try:
        res = {}
        for name in ISAS:
            if name in _core.isa_supported():
                _core.set_isa(name)
                res[name] = apply("tanh", x)
    finally:
        _core.set_isa(before)
    for name, y in res.items():
        ulps = np.abs(y.view(np.int32).astype(np.int64)
                      - res["generic"].view(np.int32).astype(np.int64))
        assert ulps.max() <= 2, name


def test_bad_input():
    x = np.zeros(4, dtype=np.float32)
    with pytest.raises(ValueError, match="name"):
        _core.vmath_apply("cos", x, x)
    with pytest.raises(ValueError, match="length"):
        _core.vmath_apply("exp", x, np.zeros(3, dtype=np.float32))
    with pytest.raises((ValueError, TypeError)):
        _core.vmath_apply("exp", x.astype(np.float64), x)
    _core.vmath_apply("exp", x[:0], x[:0])             # empty: a no-op


@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh"])
@pytest.mark.parametrize("in_place", [False, True])
@pytest.mark.parametrize("n", [1, 15, 17, 1000, 4099])
def test_derivative_loops_give_the_float32_formula_bits(isa, name, in_place, n):
    """float32 relu'/sigmoid'/tanh' from the output run as per-ISA vmath loops: products
    only, so every ISA must give exactly NumPy's float32 evaluation of the same formula
    (src/activations.pxi), in place (dz is dy, as in training) or not."""
    from cgrad.ops.activations import ACTIVATION_CODES
    rng = np.random.default_rng(n)
    z = rng.standard_normal((1, n)).astype(np.float32) * 4
    z[0, :3] = [0.0, -0.0, 9.5][:n] if n >= 3 else z[0, :3]
    y = {"relu": np.maximum(z, 0), "sigmoid": 1 / (1 + np.exp(-z)),
         "tanh": np.tanh(z)}[name].astype(np.float32)
    dy = rng.standard_normal((1, n)).astype(np.float32)
    one = np.float32(1)
    want = {"relu": np.where(y > 0, dy, np.float32(0)),
            "sigmoid": dy * y * (one - y),
            "tanh": dy * ((one - y) * (one + y))}[name]
    dz = dy.copy() if in_place else np.full_like(dy, np.nan)
    _core.activation_backward(ACTIVATION_CODES[name], 0.0, z, y, dz if in_place else dy, dz)
    assert_array_equal(dz.view(np.int32), want.astype(np.float32).view(np.int32))
