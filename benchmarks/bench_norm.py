"""Batch norm (train forward + backward) and dropout forward: compiled ops vs the NumPy
reference, float32, side by side per shape.

    pytest benchmarks/bench_norm.py --benchmark-columns=median,iqr,ops
    (add --benchmark-group-by=group to see each op/shape pair as one table)
"""
import numpy as np
import pytest

from cgrad import ops, reference as ref

SHAPES = [(128, 256), (1024, 256)]
IMPLS = {"ops": ops, "reference": ref}


def _data(shape):
    r = np.random.default_rng(0)
    C = shape[1]
    x = r.standard_normal(shape).astype(np.float32)
    dy = r.standard_normal(shape).astype(np.float32)
    gamma, beta = np.ones(C, np.float32), np.zeros(C, np.float32)
    return x, dy, gamma, beta


@pytest.mark.parametrize("impl", list(IMPLS))
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_batchnorm_train_forward_backward(benchmark, shape, impl):
    mod = IMPLS[impl]
    x, dy, gamma, beta = _data(shape)
    rm, rv = np.zeros(shape[1], np.float32), np.ones(shape[1], np.float32)
    benchmark.group = f"batchnorm fwd+bwd {shape[0]}x{shape[1]}"

    def step():
        _, cache = mod.batchnorm_forward(x, gamma, beta, rm, rv)
        return mod.batchnorm_backward(dy, cache)

    dx, _, _ = benchmark(step)
    assert dx.shape == shape and np.isfinite(dx).all()


@pytest.mark.parametrize("impl", list(IMPLS))
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_dropout_forward(benchmark, shape, impl):
    mod = IMPLS[impl]
    x = _data(shape)[0]
    benchmark.group = f"dropout fwd {shape[0]}x{shape[1]}"
    y = benchmark(mod.dropout_forward, x, 0.5, 123)
    assert y.shape == shape
