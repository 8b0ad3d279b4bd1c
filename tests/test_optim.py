"""Optimizer steps: the reference against torch.optim itself (when torch imports) and
against hand-worked numbers, the kernels against the reference over 10 steps, thread-count
independence and input validation."""
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from cgrad import ops, reference as ref

# Option sets in torch.optim's own keyword names; "adamw" is torch.optim.AdamW, which is
# our adam_step(decoupled=True).  Every option of every optimizer appears at least once.
CASES = [
    ("sgd", dict(lr=0.1)),
    ("sgd", dict(lr=0.1, weight_decay=0.05)),
    ("sgd", dict(lr=0.1, momentum=0.9)),
    ("sgd", dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.05)),
    ("sgd", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("sgd", dict(lr=0.05, momentum=0.5, nesterov=True, weight_decay=0.05)),
    ("adam", dict(lr=0.01)),
    ("adam", dict(lr=0.01, weight_decay=0.05)),
    ("adam", dict(lr=0.01, amsgrad=True)),
    ("adam", dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.05, amsgrad=True)),
    ("adamw", dict(lr=0.01, weight_decay=0.05)),
    ("adamw", dict(lr=0.02, betas=(0.5, 0.9), weight_decay=0.1, amsgrad=True)),
    ("rmsprop", dict(lr=0.01)),
    ("rmsprop", dict(lr=0.01, alpha=0.9, weight_decay=0.05)),
    ("rmsprop", dict(lr=0.01, momentum=0.9)),
    ("rmsprop", dict(lr=0.01, centered=True)),
    ("rmsprop", dict(lr=0.005, alpha=0.9, eps=1e-6, centered=True, momentum=0.5,
                     weight_decay=0.05)),
    ("adagrad", dict(lr=0.1)),
    ("adagrad", dict(lr=0.1, lr_decay=0.05)),
    ("adagrad", dict(lr=0.1, lr_decay=0.1, weight_decay=0.05, initial_accumulator_value=0.5,
                     eps=1e-8)),
]
IDS = [f"{name}-" + "-".join(f"{k}={v}" for k, v in kw.items()) for name, kw in CASES]
LENGTHS = [1, 3, 17, 1000, 100003]
STEPS = 10


def _state(name, kw, n, dtype):
    """The state buffers our API needs for one torch option set, initialised as torch does."""
    z = lambda: np.zeros(n, dtype=dtype)  # noqa: E731
    if name == "sgd":
        return {"buf": z() if kw.get("momentum", 0) != 0 else None}
    if name in ("adam", "adamw"):
        return {"m": z(), "v": z(), "vmax": z() if kw.get("amsgrad") else None}
    if name == "rmsprop":
        return {"square_avg": z(),
                "momentum_buf": z() if kw.get("momentum", 0) > 0 else None,
                "grad_avg": z() if kw.get("centered") else None}
    return {"state_sum": np.full(n, kw.get("initial_accumulator_value", 0.0), dtype=dtype)}


def _step(mod, name, kw, p, g, s, t, **extra):
    """One step of ``mod`` (cgrad.ops or cgrad.reference) with torch's options ``kw``."""
    kw = {k: v for k, v in kw.items()
          if k not in ("amsgrad", "centered", "initial_accumulator_value")}
    if name == "sgd":
        return mod.sgd_step(p, g, s["buf"], t=t, **kw, **extra)
    if name in ("adam", "adamw"):
        return mod.adam_step(p, g, s["m"], s["v"], s["vmax"], t=t, decoupled=name == "adamw",
                             **kw, **extra)
    if name == "rmsprop":
        return mod.rmsprop_step(p, g, s["square_avg"], s["momentum_buf"], s["grad_avg"], **kw,
                                **extra)
    return mod.adagrad_step(p, g, s["state_sum"], t=t, **kw, **extra)


def _problem(rng, n, dtype, steps=STEPS):
    """Initial parameters and a fresh random gradient per step."""
    p0 = rng.standard_normal(n).astype(dtype)
    grads = [rng.standard_normal(n).astype(dtype) for _ in range(steps)]
    return p0, grads


def _run(mod, name, kw, p0, grads, dtype, **extra):
    p = p0.astype(dtype)
    s = _state(name, kw, p.size, dtype)
    for t, g in enumerate(grads, start=1):
        assert _step(mod, name, kw, p, g.astype(dtype), s, t, **extra) is None
    return p, s


def _assert_close(a, b, rtol, atol, what):
    assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=what)


# ------------------------------------------------------------------ reference vs torch
@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("name,kw", CASES, ids=IDS)
def test_reference_matches_torch_optim(rng, name, kw, foreach):
    """Ten steps of torch.optim.<X> in float64 (p.grad set by hand each step) against the
    NumPy reference: the proof that our rules are PyTorch's."""
    torch = pytest.importorskip("torch")
    p0, grads = _problem(rng, 257, np.float64)
    param = torch.nn.Parameter(torch.from_numpy(p0.copy()))
    cls = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW,
           "rmsprop": torch.optim.RMSprop, "adagrad": torch.optim.Adagrad}[name]
    opt_kw = dict(kw)
    if name == "adamw":
        opt_kw.setdefault("weight_decay", 0.0)      # torch's AdamW default is 0.01
    opt = cls([param], foreach=foreach, **opt_kw)
    for g in grads:
        param.grad = torch.from_numpy(g.copy())
        opt.step()
    p_ref, s_ref = _run(ref, name, kw, p0, grads, np.float64)
    assert not np.allclose(p_ref, p0), "the steps must move the parameters"
    _assert_close(param.detach().numpy(), p_ref, 1e-12, 1e-14, "parameters")
    tstate = opt.state[param]
    torch_names = {"buf": "momentum_buffer", "m": "exp_avg", "v": "exp_avg_sq",
                   "vmax": "max_exp_avg_sq", "square_avg": "square_avg",
                   "momentum_buf": "momentum_buffer", "grad_avg": "grad_avg",
                   "state_sum": "sum"}
    for k, a in s_ref.items():
        if a is not None:
            _assert_close(tstate[torch_names[k]].numpy(), a, 1e-12, 1e-14, k)


# ------------------------------------------------------------------ hand-worked steps
def test_sgd_single_step_by_hand():
    # g' = g + 0.1*p = [0.5 + 0.1, 0.25 - 0.2] = [0.6, 0.05];  t == 1 so buf = g';
    # p -= 0.1 * buf  ->  [1 - 0.06, -2 - 0.005]
    for mod in (ref, ops):
        p = np.array([1.0, -2.0])
        g = np.array([0.5, 0.25])
        buf = np.zeros(2)
        mod.sgd_step(p, g, buf, lr=0.1, momentum=0.9, weight_decay=0.1, t=1)
        assert_allclose(buf, [0.6, 0.05], rtol=1e-15)
        assert_allclose(p, [0.94, -2.005], rtol=1e-15)
        # second step, nesterov: g' = [0.5 + 0.094, 0.25 - 0.2005] = [0.594, 0.0495];
        # buf = 0.9*[0.6, 0.05] + g' = [1.134, 0.0945];  d = g' + 0.9*buf = [1.6146, 0.13455]
        mod.sgd_step(p, g, buf, lr=0.1, momentum=0.9, weight_decay=0.1, nesterov=True, t=2)
        assert_allclose(buf, [1.134, 0.0945], rtol=1e-14)
        assert_allclose(p, [0.94 - 0.16146, -2.005 - 0.013455], rtol=1e-14)


def test_adam_single_step_by_hand():
    # t == 1: m = 0.1*g, v = 0.001*g^2, m_hat = g, v_hat = g^2, so
    # p -= lr * g / (|g| + eps): for g = 0.5, 0.5/0.50000001 = 1 - 2e-8 (+4e-16);
    # for g = -2, -2/2.00000001 = -(1 - 5e-9) (+2.5e-17).
    for mod in (ref, ops):
        p = np.array([1.0, 1.0])
        g = np.array([0.5, -2.0])
        m, v = np.zeros(2), np.zeros(2)
        mod.adam_step(p, g, m, v, lr=0.1, t=1)
        assert_allclose(m, [0.05, -0.2], rtol=1e-15)
        assert_allclose(v, [0.00025, 0.004], rtol=1e-12)
        assert_allclose(p, [0.900000002, 1.0999999995], rtol=0, atol=1e-15)
        # AdamW: p first decays by 1 - lr*wd = 0.99, then the same step
        p = np.array([1.0, 1.0])
        m, v = np.zeros(2), np.zeros(2)
        mod.adam_step(p, g, m, v, lr=0.1, weight_decay=0.1, decoupled=True, t=1)
        assert_allclose(p, [0.890000002, 1.0899999995], rtol=0, atol=1e-15)


# ---------------------------------------------------------------- kernel vs reference
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", LENGTHS)
@pytest.mark.parametrize("name,kw", CASES, ids=IDS)
def test_kernel_matches_reference(rng, name, kw, n, dtype):
    """Ten steps with fresh gradients; the float64 reference is the truth for both dtypes."""
    p0, grads = _problem(rng, n, dtype)
    p_k, s_k = _run(ops, name, kw, p0, grads, dtype)
    p_r, s_r = _run(ref, name, kw, p0, grads, np.float64)
    assert p_k.dtype == dtype
    rtol, atol = (1e-12, 1e-13) if dtype == np.float64 else (1e-5, 1e-6)
    _assert_close(p_k, p_r, rtol, atol, "parameters")
    for k, a in s_r.items():
        if a is not None:
            assert s_k[k].dtype == dtype
            _assert_close(s_k[k], a, rtol, atol * max(1.0, np.abs(a).max()), k)


@pytest.mark.parametrize("name,kw", CASES, ids=IDS)
def test_one_and_two_threads_are_bitwise_equal(rng, name, kw):
    p0, grads = _problem(rng, 100003, np.float32, steps=3)     # above the threshold
    p1, s1 = _run(ops, name, kw, p0, grads, np.float32, n_threads=1)
    p2, s2 = _run(ops, name, kw, p0, grads, np.float32, n_threads=2)
    assert_array_equal(p1, p2)
    for k in s1:
        if s1[k] is not None:
            assert_array_equal(s1[k], s2[k])


@pytest.mark.parametrize("name,kw", CASES, ids=IDS)
def test_gradient_is_not_written_and_may_be_read_only(rng, name, kw):
    p0, (g,) = _problem(rng, 33, np.float64, steps=1)
    g.flags.writeable = False
    g_before = g.copy()
    p = p0.copy()
    _step(ops, name, kw, p, g, _state(name, kw, 33, np.float64), 1)
    assert_array_equal(g, g_before)
    assert not np.array_equal(p, p0)


def test_any_shape_is_updated_as_the_flat_buffer(rng):
    p0, (g,) = _problem(rng, 12 * 7, np.float64, steps=1)
    p2, g2 = p0.reshape(12, 7).copy(), g.reshape(12, 7)
    m2, v2 = np.zeros((12, 7)), np.zeros((12, 7))
    ops.adam_step(p2, g2, m2, v2, lr=0.01, t=1)
    p1, m1, v1 = p0.copy(), np.zeros(84), np.zeros(84)
    ops.adam_step(p1, g, m1, v1, lr=0.01, t=1)
    assert_array_equal(p2.ravel(), p1)
    assert_array_equal(m2.ravel(), m1)


def test_empty_buffers_are_a_no_op():
    p = np.empty(0, dtype=np.float32)
    ops.sgd_step(p, p.copy(), p.copy(), lr=0.1, momentum=0.9, t=1)
    ops.adam_step(p, p.copy(), p.copy(), p.copy(), t=1)


def test_momentum_zero_ignores_buf():
    p, g, buf = np.ones(4), np.full(4, 0.5), np.full(4, 7.0)
    ops.sgd_step(p, g, buf, lr=0.1, t=3)
    assert_array_equal(p, 0.95)
    assert_array_equal(buf, 7.0)


# --------------------------------------------------------------------------- bad input
def _adam_args(n=4, dtype=np.float64):
    return [np.ones(n, dtype), np.ones(n, dtype), np.zeros(n, dtype), np.zeros(n, dtype)]


@pytest.mark.parametrize("call,exc,msg", [
    (lambda a: ops.adam_step([1.0], *a[1:], t=1), TypeError, "p must be a numpy.ndarray"),
    (lambda a: ops.adam_step(a[0].astype(np.int64), *a[1:], t=1), TypeError,
     "p must have dtype float32 or float64"),
    (lambda a: ops.adam_step(a[0], a[1].astype(np.float32), *a[2:], t=1), TypeError,
     "g has dtype float32, expected float64"),
    (lambda a: ops.adam_step(*a[:2], np.zeros(5), a[3], t=1), ValueError, "m has shape"),
    (lambda a: ops.adam_step(*a[:3], np.zeros(8)[::2], t=1), ValueError,
     "v must be C-contiguous"),
    (lambda a: ops.adam_step(*a, np.zeros((2, 2)), t=1), ValueError, "vmax has shape"),
    (lambda a: ops.adam_step(*a[:3], a[2], t=1), ValueError, "v overlaps m"),
    (lambda a: ops.adam_step(a[0], a[0], *a[2:], t=1), ValueError, "g overlaps p"),
    (lambda a: ops.adam_step(*a, lr=-1.0, t=1), ValueError, "lr must be >= 0"),
    (lambda a: ops.adam_step(*a, lr=float("nan"), t=1), ValueError, "lr must be finite"),
    (lambda a: ops.adam_step(*a, lr="0.1", t=1), TypeError, "lr must be a real number"),
    (lambda a: ops.adam_step(*a, betas=(0.9, 1.0), t=1), ValueError,
     r"betas\[1\] must be < 1"),
    (lambda a: ops.adam_step(*a, betas=(-0.1, 0.9), t=1), ValueError,
     r"betas\[0\] must be >= 0"),
    (lambda a: ops.adam_step(*a, betas=0.9, t=1), TypeError, "betas must be a pair"),
    (lambda a: ops.adam_step(*a, eps=0.0, t=1), ValueError, "eps must be > 0"),
    (lambda a: ops.adam_step(*a, weight_decay=-1e-3, t=1), ValueError,
     "weight_decay must be >= 0"),
    (lambda a: ops.adam_step(*a, decoupled=1, t=1), TypeError, "decoupled must be a bool"),
    (lambda a: ops.adam_step(*a, t=0), ValueError, "t must be >= 1"),
    (lambda a: ops.adam_step(*a, t=1.0), TypeError, "t must be an int"),
    (lambda a: ops.adam_step(*a[:2], None, a[3], t=1), ValueError, "m is required"),
    (lambda a: ops.adam_step(*a, t=1, n_threads=0), ValueError, "n_threads must be >= 1"),
    (lambda a: ops.sgd_step(*a[:2], lr=0.1, momentum=0.9, t=1), ValueError,
     "buf is required when momentum != 0"),
    (lambda a: ops.sgd_step(*a[:3], lr=0.1, momentum=-0.5, t=1), ValueError,
     "momentum must be >= 0"),
    (lambda a: ops.sgd_step(*a[:3], lr=0.1, momentum=0.9, dampening=1.5, t=1), ValueError,
     "dampening must be <= 1"),
    (lambda a: ops.sgd_step(*a[:3], lr=0.1, nesterov=True, t=1), ValueError,
     "nesterov requires momentum > 0 and dampening == 0"),
    (lambda a: ops.sgd_step(*a[:3], lr=0.1, momentum=0.9, dampening=0.1, nesterov=True,
                            t=1), ValueError, "nesterov requires"),
    (lambda a: ops.sgd_step(*a[:3], lr=0.1, nesterov="yes", t=1), TypeError,
     "nesterov must be a bool"),
    (lambda a: ops.rmsprop_step(*a[:3], momentum=0.9), ValueError,
     "momentum_buf is required when momentum > 0"),
    (lambda a: ops.rmsprop_step(*a[:3], alpha=1.0), ValueError, "alpha must be < 1"),
    (lambda a: ops.rmsprop_step(*a[:3], None, np.zeros(3)), ValueError, "grad_avg has shape"),
    (lambda a: ops.adagrad_step(*a[:3], lr_decay=-0.1, t=1), ValueError,
     "lr_decay must be >= 0"),
    (lambda a: ops.adagrad_step(*a[:3], eps=-1.0, t=1), ValueError, "eps must be > 0"),
])
def test_bad_input_is_named_and_nothing_is_written(call, exc, msg):
    a = _adam_args()
    before = [x.copy() for x in a]
    with pytest.raises(exc, match=msg):
        call(a)
    for x, b in zip(a, before):
        assert_array_equal(x, b)


def test_read_only_parameters_are_rejected():
    p, g, m, v = _adam_args()
    p.flags.writeable = False
    with pytest.raises(ValueError, match="p must be writable"):
        ops.adam_step(p, g, m, v, t=1)
    p.flags.writeable = True
    m.flags.writeable = False
    with pytest.raises(ValueError, match="m must be writable"):
        ops.adam_step(p, g, m, v, t=1)


def test_core_wrappers_check_lengths_and_presence():
    from cgrad import _core

    p, g = np.ones(4), np.ones(4)
    with pytest.raises(ValueError, match="g has length 3, expected 4"):
        _core.optim_adagrad_step(p, g[:3], np.zeros(4), 0.1, 0.0, 0.0, 1e-10, 1)
    with pytest.raises(ValueError, match="buf is required"):
        _core.optim_sgd_step(p, g, None, 0.1, 0.9, 0.0, 0.0, False, 1)
    with pytest.raises(ValueError, match="vmax has length 2, expected 4"):
        _core.optim_adam_step(p, g, np.zeros(4), np.zeros(4), np.zeros(2), 1e-3, 0.9,
                              0.999, 1e-8, 0.0, False, 1)


@pytest.mark.parametrize("amsgrad", [False, True])
@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_adam_float32_on_every_instruction_set(amsgrad, weight_decay):
    """The float32 Adam block is compiled per ISA (src/c/optim_*.c): each matches the
    reference, and 1 and 2 threads agree bitwise on each."""
    from cgrad import _core

    r = np.random.default_rng(7)
    n = 100003
    p0 = r.standard_normal(n).astype(np.float32)
    grads = [r.standard_normal(n).astype(np.float32) for _ in range(3)]
    before = _core.isa_selected()
    try:
        for isa in _core.isa_supported():
            _core.set_isa(isa)
            results = []
            for nt in (1, 2):
                p, m, v = p0.copy(), np.zeros(n, np.float32), np.zeros(n, np.float32)
                vmax = np.zeros(n, np.float32) if amsgrad else None
                for t, g in enumerate(grads, start=1):
                    ops.adam_step(p, g, m, v, vmax, lr=1e-2, weight_decay=weight_decay, t=t,
                                  n_threads=nt)
                results.append(p)
            pr, mr, vr = p0.astype(np.float64), np.zeros(n), np.zeros(n)
            vmr = np.zeros(n) if amsgrad else None
            for t, g in enumerate(grads, start=1):
                ref.adam_step(pr, g.astype(np.float64), mr, vr, vmr, lr=1e-2,
                              weight_decay=weight_decay, t=t)
            np.testing.assert_allclose(results[0], pr, rtol=1e-5, atol=1e-6, err_msg=isa)
            np.testing.assert_array_equal(results[0], results[1], err_msg=isa)
    finally:
        _core.set_isa(before)
