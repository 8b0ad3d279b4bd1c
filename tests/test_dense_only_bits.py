"""A Dense-only network trains to bitwise the same weights as before the layer table.

The digests were computed with the fused loop of the last release without a layer table
(git b274b0f^, "dense + activation" hard-wired), on every ISA path of an AVX-512 machine,
at 2 threads; the same configurations through today's layer table must give the same
bytes at 1 and 2 threads.  They cover Adam/SGD (Nesterov, L1, L2, clipping by value and
norm)/RMSprop (centered, momentum)/Adagrad, float32 and float64, relu/tanh/elu/leaky_relu,
the sparse input and hidden paths, sigmoid and identity outputs, mini- and full-batch.
(Weights are drawn with NumPy's Generator, whose streams NumPy keeps stable in practice.)
"""
import hashlib
import platform

import numpy as np
import pytest

import cgrad
from cgrad import _core
from cgrad.datasets import load_digits

DIGESTS = {
    "generic": {"adam_relu_f32": "d4fd13eba7722d79", "sgd_tanh_f64_l2_clip": "73e5874e6c4bc9f6",
                "sparse_true_relu": "7a2b9a990d0f0b5c", "rmsprop_sigmoid_out": "d577e223a7c7cb84",
                "adagrad_fullbatch_id": "46ec3e52a3ca287a"},
    "avx2": {"adam_relu_f32": "6a5a3203749d98df", "sgd_tanh_f64_l2_clip": "9677123da207729f",
             "sparse_true_relu": "c3f6ad379f7a30fd", "rmsprop_sigmoid_out": "d99af928a7829c87",
             "adagrad_fullbatch_id": "4f6fed7e8105249d"},
    "avx512": {"adam_relu_f32": "6a5a3203749d98df", "sgd_tanh_f64_l2_clip": "9677123da207729f",
               "sparse_true_relu": "c3f6ad379f7a30fd", "rmsprop_sigmoid_out": "d99af928a7829c87",
               "adagrad_fullbatch_id": "eaf0afe1550cb94a"},
}


def _configs():
    X, y = load_digits()
    X, y = X[:600], y[:600]
    r = np.random.default_rng(1)
    Xs = (r.random((300, 100)) * (r.random((300, 100)) < 0.2)).astype(np.float32)
    ys = r.integers(0, 10, 300)
    Xr = r.standard_normal((257, 5))
    yr = np.stack([np.sin(Xr[:, 0]), Xr[:, 1] > 0], 1)
    return {
        "adam_relu_f32": (dict(layer_sizes=[64, 32, 16, 10], activation="relu", seed=0), X, y,
                          dict(optimizer=cgrad.optim.Adam(lr=1e-3), epochs=2, batch_size=32)),
        "sgd_tanh_f64_l2_clip": (
            dict(layer_sizes=[64, 20, 10], activation="tanh", dtype="float64", seed=3), X, y,
            dict(optimizer=cgrad.optim.SGD(lr=0.05, momentum=0.9, nesterov=True), epochs=2,
                 batch_size=50, l2=1e-3, l1=1e-4, clip_norm=1.0, clip_value=0.5)),
        "sparse_true_relu": (dict(layer_sizes=[100, 64, 32, 10], activation="relu", seed=5),
                             Xs, ys, dict(optimizer="adam", epochs=2, batch_size=64,
                                          sparse=True)),
        "rmsprop_sigmoid_out": (
            dict(layer_sizes=[5, 16, 2], activation="elu", output="sigmoid", seed=7),
            Xr.astype(np.float32), (yr > 0.3).astype(np.float32),
            dict(optimizer=cgrad.optim.RMSprop(lr=1e-2, momentum=0.5, centered=True),
                 epochs=3, batch_size=16)),
        "adagrad_fullbatch_id": (
            dict(layer_sizes=[5, 8, 2], activation="leaky_relu", output="identity", seed=9),
            Xr.astype(np.float32), yr.astype(np.float32),
            dict(optimizer=cgrad.optim.Adagrad(lr=0.1), epochs=4, batch_size=None)),
    }


@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("name", sorted(DIGESTS["generic"]))
def test_dense_only_weights_are_the_bytes_of_the_hard_wired_loop(isa, name, n_threads):
    if platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip("the digests are x86-64 bytes: GCC fuses the portable kernels' "
                    "multiply-adds on other machines (aarch64), and neon has its own kernels")
    mk, X, y, fk = _configs()[name]
    m = cgrad.MLP(**mk)
    m.fit(X, y, verbose=0, n_threads=n_threads, **fk)
    assert hashlib.sha256(m.flat_params.tobytes()).hexdigest()[:16] == DIGESTS[isa][name]
    assert _core.isa_selected() == isa
