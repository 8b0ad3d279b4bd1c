"""Optimizer step on the flat float32 parameter buffer: compiled kernel vs NumPy reference.

Sizes are the parameter counts of the project's workloads W1 (244,522) and W3 (1,863,690).
Run:  pytest benchmarks/bench_optim.py --benchmark-only
Each benchmark group holds the ops and reference timings of one optimizer and size side
by side; "ops" uses cgrad's default thread count (cgrad.get_num_threads()), "ops-1t" one
thread.
"""
import numpy as np
import pytest

from cgrad import ops, reference as ref

SIZES = {"W1": 244_522, "W3": 1_863_690}


def _buffers(n, k):
    rng = np.random.default_rng(0)
    p = rng.standard_normal(n).astype(np.float32)
    g = (rng.standard_normal(n) * 1e-2).astype(np.float32)
    return p, g, [np.zeros(n, dtype=np.float32) for _ in range(k)]


# impl -> (module, extra keyword arguments); "ops-1t" pins the kernel to one thread, which
# also gives a steadier number on a machine shared with other work.
IMPLS = {"ops": (ops, {}), "ops-1t": (ops, {"n_threads": 1}), "reference": (ref, {})}


def _adam(impl, p, g, state):
    mod, extra = IMPLS[impl]
    # t is kept fixed: each call is one step of the same cost
    mod.adam_step(p, g, state[0], state[1], lr=1e-3, t=10, **extra)


def _sgd(impl, p, g, state):
    mod, extra = IMPLS[impl]
    mod.sgd_step(p, g, state[0], lr=1e-3, momentum=0.9, t=10, **extra)


STEPS = {"adam_step": (_adam, 2), "sgd_step momentum=0.9": (_sgd, 1)}


@pytest.mark.parametrize("impl", list(IMPLS))
@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("step", list(STEPS))
def test_optimizer_step(benchmark, step, size, impl):
    fn, n_state = STEPS[step]
    benchmark.group = f"{step} {size} ({SIZES[size]:,} float32)"
    p, g, state = _buffers(SIZES[size], n_state)
    benchmark(fn, impl, p, g, state)
    assert np.isfinite(p).all()
