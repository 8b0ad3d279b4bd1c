"""float32 tanh forward: cgrad per instruction set vs NumPy's np.tanh.

    OMP_NUM_THREADS=1 pytest benchmarks/bench_vmath.py --benchmark-only \\
        --benchmark-group-by=param:shape --benchmark-columns=min,median,rounds

cgrad-generic is the baseline-x86-64 (SSE2) build of the vector math, cgrad-avx2 /
cgrad-avx512 the per-ISA loops (src/c/vmath*.c), selected with _core.set_isa as
CGRAD_ISA would.  Run the same file against a build without vmath (before the change:
every cgrad row then times glibc's scalar tanhf) for the before/after comparison.
One thread: the elementwise kernels split only above PAR_MIN_WORK, and the machine is
shared.
"""
import numpy as np
import pytest

from cgrad import _core, ops

SHAPES = [(32, 64), (128, 256), (1024, 1024)]
IMPLS = ["numpy", "cgrad-generic", "cgrad-avx2", "cgrad-avx512"]


def _bench_on_isa(benchmark, impl, fn, *args, **kwargs):
    """benchmark(fn, ...) with the vmath ISA of impl ("cgrad-<isa>") selected."""
    isa = impl.split("-")[1]
    if isa not in _core.isa_supported():
        pytest.skip(f"{isa} not available on this machine")
    before = _core.isa_selected()
    _core.set_isa(isa)
    try:
        benchmark(fn, *args, **kwargs)
    finally:
        _core.set_isa(before)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_tanh_forward(benchmark, shape, impl):
    z = (np.random.default_rng(0).standard_normal(shape) * 2).astype(np.float32)
    out = np.empty_like(z)
    benchmark.group = f"tanh forward {shape[0]}x{shape[1]} float32"
    if impl == "numpy":
        benchmark(np.tanh, z, out=out)
        return
    _bench_on_isa(benchmark, impl, ops.tanh_forward, z, out=out, n_threads=1)
    np.testing.assert_allclose(out, np.tanh(z.astype(np.float64)), rtol=1e-6, atol=0)


KERNEL_IMPLS = ["cgrad-generic", "cgrad-avx2", "cgrad-avx512"]
NUMPY_KERNEL = {
    "tanh": lambda z, out: np.tanh(z, out=out),
    "sigmoid": lambda z, out: np.divide(1, np.add(1, np.exp(np.negative(z, out=out), out=out),
                                                  out=out), out=out),
    "exp": lambda z, out: np.exp(z, out=out),
}


@pytest.mark.parametrize("impl", ["numpy"] + KERNEL_IMPLS)
@pytest.mark.parametrize("name", sorted(NUMPY_KERNEL))
@pytest.mark.parametrize("shape", SHAPES[:2], ids=lambda s: f"{s[0]}x{s[1]}")
def test_vmath_kernel(benchmark, shape, name, impl):
    """The bare vmath kernel through _core.vmath_apply (no ops-level validation), the
    cost the fused training loop pays; numpy is np.tanh / np.exp / 1 / (1 + exp(-z))."""
    z = (np.random.default_rng(0).standard_normal(shape) * 2).astype(np.float32).ravel()
    out = np.empty_like(z)
    benchmark.group = f"vmath {name} {shape[0]}x{shape[1]} float32"
    if impl == "numpy":
        benchmark(NUMPY_KERNEL[name], z, out)
        return
    _bench_on_isa(benchmark, impl, _core.vmath_apply, name, z, out, 1.0)
    ref = NUMPY_KERNEL[name](z.astype(np.float64), np.empty(z.shape))
    np.testing.assert_allclose(out, ref, rtol=1e-6, atol=0)
