"""The compiled Network and Trainer refuse inconsistent arguments instead of reading out of
bounds (they are internal, but Python can reach them)."""
import numpy as np
import pytest

from cgrad import _core

SPECS = [{"kind": "dense", "n_out": 4, "act": 1, "alpha": 0.0},
         {"kind": "dense", "n_out": 2, "act": 0, "alpha": 0.0}]


def _network(specs=SPECS, n=26, dtype=np.float32, n_buffers=0, n_inputs=3):
    return _core.Network(n_inputs, specs, np.zeros(n, dtype), np.zeros(n, dtype),
                         np.zeros(n_buffers, dtype), 0)


def _trainer(**over):
    dtype = over.pop("dtype", np.float32)
    net = over.pop("network", None) or _network(dtype=dtype)
    args = dict(X=np.zeros((10, 3), dtype), Yf=None, Yi=np.zeros(10, np.int64), batch=4,
                loss=3, opt={"kind": "adam", "lr": 1e-3, "t": 0, "beta1": 0.9,
                             "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.0,
                             "decoupled": False,
                             "states": (np.zeros(26, dtype), np.zeros(26, dtype), None)},
                reg={}, ftz=True)
    args.update(over)
    return _core.Trainer(net, args.pop("X"), **args)


def test_a_valid_trainer_runs_and_checks_its_batch_range():
    t = _trainer()
    res = t.run(0, 3, 1)
    assert res["stats"][1] == 10 and res["stats"][4] == 3       # rows seen, steps taken
    assert len(res["layer_norms"]) == 2 and res["sampled"] == 1  # per Dense; the first step
    assert res["stop"] is None and res["skipped"] == 0
    with pytest.raises(ValueError, match="must be >= 0"):
        t.run(-1, 1, 1)
    with pytest.raises(ValueError, match="past the last batch"):
        t.run(3, 1, 1)
    assert t.run(3, 0, 1)["stats"][4] == 0          # nothing to do is fine


@pytest.mark.parametrize("over,exc,msg", [
    ({"Yi": np.full(10, 7, np.int64)}, ValueError, r"labels must be in \[0, 2\)"),
    ({"Yi": np.full(10, -1, np.int64)}, ValueError, "labels must be in"),
    ({"Yi": None}, ValueError, "need float targets"),
    ({"X": np.zeros((10, 4), np.float32)}, ValueError, r"X must be C-contiguous \(n, IN\)"),
    ({"loss": 42}, ValueError, "unknown loss code"),
    ({"opt": {"kind": "adam", "lr": 1e-3, "beta1": 0.9, "beta2": 0.9, "eps": 1e-8,
              "weight_decay": 0.0, "decoupled": False}}, ValueError, "needs state 0"),
    ({"opt": {"kind": "sgd", "lr": 0.1, "momentum": 0.9, "dampening": 0.0,
              "weight_decay": 0.0, "nesterov": False}}, ValueError, "needs state 0"),
    ({"opt": {"kind": "sgd", "lr": 0.1}}, ValueError, "needs 'momentum'"),
    ({"opt": {"kind": "lbfgs", "lr": 0.1}}, ValueError, "unknown optimizer kind"),
    ({"batch": 0}, ValueError, "batch must be >= 1"),
])
def test_inconsistent_arguments_are_refused(over, exc, msg):
    with pytest.raises(exc, match=msg):
        _trainer(**over)


@pytest.mark.parametrize("kw,msg", [
    ({"specs": [{"kind": "dense", "n_out": 4, "act": 99, "alpha": 0.0}], "n": 16},
     "unknown activation code"),
    ({"specs": [{"kind": "conv"}]}, "unknown layer kind"),
    ({"specs": []}, "at least one layer"),
    ({"n": 25}, "flat parameter buffer holds 25 values, the layers need 26"),
    ({"specs": [{"kind": "batchnorm", "momentum": 0.1, "eps": 1e-5}], "n": 6,
      "n_buffers": 5}, "running statistics holds 5 values, the layers need 6"),
    ({"n_inputs": 0}, "at least one input"),
])
def test_inconsistent_layer_tables_are_refused(kw, msg):
    with pytest.raises(ValueError, match=msg):
        _network(**kw)


def test_non_float_parameters_are_refused():
    with pytest.raises(TypeError, match="float32 or float64"):
        _network(dtype=np.int16)


def test_adjacent_dense_and_activation_run_as_one_record():
    specs = [{"kind": "dense", "n_out": 4, "act": 0, "alpha": 0.0},
             {"kind": "activation", "act": 4, "alpha": 0.0},
             {"kind": "activation", "act": 1, "alpha": 0.0},
             {"kind": "dense", "n_out": 2, "act": 0, "alpha": 0.0}]
    table = _network(specs).table()
    assert [(r["kind"], r["index"], r["act"]) for r in table] == [
        ("dense", 0, 4), ("activation", 2, 1), ("dense", 3, 0)]


def test_a_training_step_allocates_nothing_and_the_counter_sees_a_fallback(rng):
    """After one warm-up fit (GEMM pack buffers grow to their size), further steps make no
    heap allocation, whatever the layers (BatchNorm1d, Dropout, sparse paths, penalties,
    clipping).  The counter is live: a gradient of more than 4M values sums its chunk
    partials on the heap, one counted allocation per norm."""
    import cgrad
    X = (rng.random((300, 100)) * (rng.random((300, 100)) < 0.2)).astype(np.float32)
    y = rng.integers(0, 10, 300)
    m = cgrad.MLP([100, 64, 32, 10], batch_norm=True, dropout=0.2, seed=0)
    kw = dict(epochs=1, batch_size=64, verbose=0, sparse=True, l1=1e-4, l2=1e-3,
              clip_norm=1.0, clip_value=1.0)
    for over in ({}, {"batch_size": None, "sparse": False}):
        m.fit(X, y, **dict(kw, **over))                    # warm-up
        before = _core.alloc_count()
        m.fit(X, y, **dict(kw, epochs=2, **over))
        assert _core.alloc_count() == before, over
    big = cgrad.MLP([2100, 2000], output="identity", seed=0)
    big.fit(rng.random((4, 2100)), rng.random((4, 2000)), epochs=1, batch_size=2, verbose=0)
    before = _core.alloc_count()
    big.fit(rng.random((4, 2100)), rng.random((4, 2000)), epochs=1, batch_size=2, verbose=0)
    assert _core.alloc_count() > before


@pytest.mark.parametrize("profile", [False, True])
def test_per_layer_gradient_norms_are_those_of_each_layers_gradient(rng, profile):
    """One full-batch step: the History's per-layer norms are the norms of each
    parameterised layer's gradient (W and b; gamma and beta), which make up the global
    norm.  Over several steps, profiling samples every step, else every 16th."""
    import cgrad
    from cgrad import nn
    X, y = rng.standard_normal((40, 6)), rng.integers(0, 3, 40)
    m = cgrad.Sequential(6, [nn.Dense(5), nn.BatchNorm1d(), nn.Activation("tanh"),
                             nn.Dense(3)], dtype="float64", seed=0)
    h = m.fit(X, y, epochs=1, batch_size=None, verbose=0, optimizer="sgd", profile=profile)
    spans = [(0, 35), (35, 45), (45, 63)]
    want = [np.linalg.norm(m.flat_grads[a:b]) for a, b in spans]
    np.testing.assert_allclose(h["grad_norm_layers"][0], want, rtol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(want), h["grad_norm"][0], rtol=1e-12)
    h = m.fit(X, y, epochs=1, batch_size=2, verbose=0, optimizer="sgd", profile=profile)
    assert len(h["grad_norm_layers"][0]) == 3 and min(h["grad_norm_layers"][0]) > 0


@pytest.mark.parametrize("l1,l2", [(0.0, 0.0), (1e-3, 1e-2)])
def test_objective_value_and_gradient_match_central_differences(rng, l1, l2):
    """Trainer.objective(): the full-batch loss plus penalties, and its gradient in the
    flat gradient buffer (what L-BFGS needs), checked by central differences in float64
    on a network with a BatchNorm1d (batch statistics: the objective is a function of the
    parameters alone); nothing is updated."""
    import cgrad
    from cgrad import nn
    X, y = rng.standard_normal((25, 4)), rng.integers(0, 3, 25)
    m = cgrad.Sequential(4, [nn.Dense(6, "tanh"), nn.BatchNorm1d(momentum=0.0),
                             nn.Dense(3)], dtype="float64", seed=1)
    opt = cgrad.optim.SGD(m, lr=0.1)
    t = _core.Trainer(m._net, X, Yi=y.astype(np.int64), batch=25, loss=3,
                      opt=opt.fused_spec(), reg={"l1": l1, "l2": l2})
    p0 = m.flat_params.copy()
    value, loss = t.objective(1)
    grad = m.flat_grads.copy()
    np.testing.assert_array_equal(m.flat_params, p0)
    W = [d.W for d in m.dense_layers]
    want_pen = sum(0.5 * l2 * (w ** 2).sum() + l1 * np.abs(w).sum() for w in W)
    assert value == pytest.approx(loss + want_pen, rel=1e-12) and (l2 == 0) == (value == loss)
    for i in rng.choice(m.n_params, 12, replace=False):
        f = []
        for h in (1e-6, -1e-6):
            m.flat_params[:] = p0
            m.flat_params[i] += h
            f.append(t.objective(1)[0])
        assert grad[i] == pytest.approx((f[0] - f[1]) / 2e-6, rel=1e-5, abs=1e-8), i
    m.flat_params[:] = p0
    with pytest.raises(ValueError, match="needs batch >= the 25 samples"):
        _core.Trainer(m._net, X, Yi=y.astype(np.int64), batch=10, loss=3,
                      opt=opt.fused_spec(), reg={}).objective(1)


def test_sparse_true_with_a_non_dense_first_layer_gathers_dense_rows(rng):
    """sparse=True compresses a Dense first layer's every batch, so fit keeps no dense
    batch buffer then; a first layer of another kind still gets its dense rows."""
    import cgrad
    from cgrad import nn
    X = (rng.random((64, 20)) * (rng.random((64, 20)) < 0.2)).astype(np.float32)
    y = rng.integers(0, 3, 64)
    outs = []
    for sparse in (True, False):
        m = cgrad.Sequential(20, [nn.BatchNorm1d(), nn.Dense(8, "relu"), nn.Dense(3)], seed=0)
        m.fit(X, y, epochs=2, batch_size=32, verbose=0, sparse=sparse)
        outs.append(m.flat_params.copy())
    np.testing.assert_array_equal(outs[0], outs[1])


def test_a_trainer_refuses_to_run_after_a_later_one_reconfigured_its_network():
    net = _network()
    first = _trainer(network=net)
    _trainer(network=net, batch=2)
    with pytest.raises(RuntimeError, match="reconfigured this network"):
        first.run(0, 1, 1)


def test_penalty_strengths_settable_and_penalty_sum(rng):
    """l1/l2 can change between run() calls (a smaller last batch gets its own penalty)
    and penalty_sum adds each step's rows times its penalty at the weights it started
    from (lr 0: the weights never move, so every step's penalty is the same)."""
    import cgrad
    X, y = rng.standard_normal((10, 3)), rng.integers(0, 2, 10)
    m = cgrad.MLP([3, 4, 2], dtype="float64", seed=0)
    t = _core.Trainer(m._net, X, Yi=y.astype(np.int64), batch=4, loss=3,
                      opt=cgrad.optim.SGD(m, lr=0.0).fused_spec(), reg={"l2": 0.5})
    pen = sum(0.5 * (w ** 2).sum() for w in m.W)
    t.run(0, 2, 1)
    assert t.l2 == 0.5 and t.penalty_sum == pytest.approx(8 * 0.5 * pen, rel=1e-12)
    t.l2, t.l1 = 0.25, 0.1
    t.run(2, 1, 1)                                  # the last batch: 2 rows
    want = 2 * (0.25 * pen + 0.1 * sum(np.abs(w).sum() for w in m.W))
    assert t.penalty_sum == pytest.approx(want, rel=1e-12)
    with pytest.raises(ValueError, match="l2 must be >= 0"):
        t.l2 = -1.0
    with pytest.raises(ValueError, match="l1 must be >= 0"):
        t.l1 = float("nan")
