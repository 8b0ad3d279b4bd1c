"""Loss kernels vs the NumPy reference (value + gradient in one call), float32.

    pytest benchmarks/bench_losses.py --benchmark-only --benchmark-group-by=param:loss,param:shape

Each (loss, shape) pair is timed for both implementations, so the table shows them side
by side.  On a busy machine prefix OMP_NUM_THREADS=1: a 2-thread region whose second
thread is descheduled waits a whole time slice (medians of 15-25 ms were seen at
60000x10 with a load of 5 on 2 cores, for every kernel including relu).  The ops call uses cgrad's default thread count and a preallocated dout (as the
training loop does); the reference allocates, as NumPy code would.
"""
import numpy as np
import pytest

from cgrad import ops, reference as ref

SHAPES = [(128, 10), (1024, 10), (60000, 10)]


def _args(loss, shape):
    r = np.random.default_rng(0)
    z = (r.standard_normal(shape) * 3).astype(np.float32)
    if loss == "softmax_cross_entropy":
        return z, r.integers(0, shape[1], shape[0])
    return z, r.standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("impl", ["cgrad", "numpy"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("loss", ["softmax_cross_entropy", "mse"])
def test_loss_value_and_grad(benchmark, loss, shape, impl):
    z, t = _args(loss, shape)
    benchmark.group = f"{loss} {shape[0]}x{shape[1]} float32"
    if impl == "cgrad":
        dout = np.empty_like(z)
        fn = getattr(ops, loss)
        value, grad = benchmark(fn, z, t, dout=dout)
    else:
        value, grad = benchmark(getattr(ref, loss), z, t)
    assert np.isfinite(value) and grad.shape == z.shape
