"""Activations and the dense layer: compiled kernels vs the NumPy reference, float32,
at MLP-sized shapes (W1: batch 128, 784-256-128-64-10; W2: batch 32, 64 wide).

    OMP_NUM_THREADS=1 pytest benchmarks/bench_kernels.py --benchmark-only --benchmark-group-by=group

Each (kernel, shape) group holds both implementations, so the table shows them side by
side.  The compiled call writes into a preallocated buffer, as the training loop does;
the reference allocates, as NumPy code would.  (Losses, optimizers, batch norm/dropout
and vector math have their own files next to this one.)
"""
import numpy as np
import pytest

from cgrad import ops, reference as ref

ACT_SHAPES = [(32, 64), (128, 256), (1024, 256)]
# (N, IN, OUT): W1 layers at batch 128, a W2 hidden layer at batch 32, a W3 layer
DENSE_SHAPES = [(128, 784, 256), (128, 256, 128), (128, 64, 10), (32, 64, 64),
                (256, 1024, 1024)]


@pytest.mark.parametrize("impl", ["cgrad", "numpy"])
@pytest.mark.parametrize("shape", ACT_SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("name", ["relu", "tanh", "sigmoid", "gelu", "softmax"])
def test_activation_forward_backward(benchmark, name, shape, impl):
    r = np.random.default_rng(0)
    z = r.standard_normal(shape).astype(np.float32)
    dy = r.standard_normal(shape).astype(np.float32)
    benchmark.group = f"{name} fwd+bwd {shape[0]}x{shape[1]}"
    if impl == "cgrad":
        f, b = getattr(ops, f"{name}_forward"), getattr(ops, f"{name}_backward")
        y, dz = np.empty_like(z), np.empty_like(z)

        def run():
            f(z, out=y)
            b(dy, z, y, out=dz)
    else:
        f, b = getattr(ref, f"{name}_forward"), getattr(ref, f"{name}_backward")

        def run():
            b(dy, z, f(z))
    benchmark(run)


@pytest.mark.parametrize("impl", ["cgrad", "numpy"])
@pytest.mark.parametrize("shape", DENSE_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_linear_forward_backward(benchmark, shape, impl):
    N, IN, OUT = shape
    r = np.random.default_rng(0)
    x, W = r.standard_normal((N, IN)).astype(np.float32), r.standard_normal((IN, OUT)).astype(np.float32)
    b, dz = r.standard_normal(OUT).astype(np.float32), r.standard_normal((N, OUT)).astype(np.float32)
    benchmark.group = f"linear fwd+bwd {N}x{IN}x{OUT}"
    if impl == "cgrad":
        z, dx = np.empty((N, OUT), np.float32), np.empty((N, IN), np.float32)
        dW, db = np.zeros_like(W), np.zeros_like(b)

        def run():
            ops.linear_forward(x, W, b, out=z)
            ops.linear_backward(dz, x, W, dW=dW, db=db, out=dx)
    else:
        def run():
            ref.linear_forward(x, W, b)
            ref.linear_backward(dz, x, W)
    benchmark(run)


# The sparse path (src/sparse.pxi) against the dense kernels on one layer: the forward
# pass (ReLU epilogue) and the weight gradient, input `density` non-zero (MNIST pixels:
# 0.19; a ReLU output: 0.3-0.5).  The sparse calls include compressing x (and, for the
# weight gradient, its transpose), as the training loop pays them.
SPARSE_SHAPES = [(128, 784, 256), (256, 1024, 1024)]


@pytest.mark.parametrize("impl", ["sparse", "dense"])
@pytest.mark.parametrize("density", [0.19, 0.4, 0.6])
@pytest.mark.parametrize("shape", SPARSE_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_sparse_vs_dense_layer(benchmark, shape, density, impl):
    from cgrad import _core
    N, IN, OUT = shape
    r = np.random.default_rng(0)
    x = (r.standard_normal((N, IN)) * (r.random((N, IN)) < density)).astype(np.float32)
    W, b = r.standard_normal((IN, OUT)).astype(np.float32), r.standard_normal(OUT).astype(np.float32)
    dz = r.standard_normal((N, OUT)).astype(np.float32)
    z, y = np.empty((N, OUT), np.float32), np.empty((N, OUT), np.float32)
    dW, db = np.empty_like(W), np.empty_like(b)
    relu = 1
    benchmark.group = f"layer fwd+dW {N}x{IN}x{OUT} density {density}"
    if impl == "sparse":
        def run():
            _core.sparse_linear_act_forward(relu, 0.0, x, W, b, z, y, 1)
            _core.sparse_linear_weight_grad(x, dz, dW, db, 1)
    else:
        def run():
            _core.linear_act_forward(relu, 0.0, x, W, b, z, y, 1)
            _core.linear_backward(dz, x, W, dW, db, None, False, 1)
    benchmark(run)
