"""Shared fixtures and tolerance tables (sklearn style)."""
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

DTYPES = [np.float32, np.float64]
# Relative tolerance per dtype against a float64 reference; atol is scaled per test.
RTOL = {np.float32: 1e-4, np.float64: 1e-10}
ATOL = {np.float32: 1e-5, np.float64: 1e-12}
# Row/column counts that are not multiples of any tile size, plus sizes that cross the
# OpenMP threshold and the reduction chunk.
SIZES = [1, 3, 17, 33, 257, 1000]
SHAPES = [(1, 1), (3, 17), (17, 33), (33, 3), (257, 129), (1000, 257)]


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def run_cgrad_without(blocked, argv, cwd):
    """``cgrad ARGV`` in a new Python process run in ``cwd``, with the modules ``blocked``
    made unimportable (as on an install without them); the CompletedProcess (text)."""
    code = ("import sys; " + "".join(f"sys.modules[{m!r}] = " for m in blocked) + "None; "
            "from cgrad.cli import main; sys.exit(main(sys.argv[1:]))")
    return subprocess.run([sys.executable, "-c", code, *argv], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def data_dir():
    """Folder holding mnist/ and digits/: $CGRAD_DATA, else ../shared/data from the repo."""
    env = os.environ.get("CGRAD_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1].parent / "shared" / "data"


def require_mnist():
    """The MNIST folder, or a skip when it is truly absent.  CI sets CGRAD_REQUIRE_DATA=1:
    there a missing data set is a failure, not a silent skip."""
    d = data_dir() / "mnist"
    if not (d / "train-images-idx3-ubyte.gz").exists():
        msg = f"MNIST IDX files not found in {d} (set CGRAD_DATA to the data folder)"
        if os.environ.get("CGRAD_REQUIRE_DATA"):
            pytest.fail(msg)
        pytest.skip(msg)
    return d


@pytest.fixture
def mnist_dir():
    return require_mnist()


# The instruction sets of this machine's architecture: an x86-64 CPU without AVX-512
# skips its tests (worth seeing), but NEON is never a question on x86 nor AVX on arm64.
ALL_ISAS = (["generic", "neon"] if platform.machine().lower() in ("aarch64", "arm64")
            else ["generic", "avx2", "avx512"])


@pytest.fixture(params=ALL_ISAS)
def isa(request):
    """Run the test once per instruction set this machine supports (skip the others),
    restoring the selection afterwards."""
    from cgrad import _core
    if request.param not in _core.isa_supported():
        pytest.skip(f"{request.param} not available on this machine")
    before = _core.isa_selected()
    _core.set_isa(request.param)
    yield request.param
    _core.set_isa(before)


def numeric_grad(f, x, eps=1e-6):
    """Central finite differences of the scalar function f at x (float64), per element."""
    num = np.empty_like(x)
    for idx in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += eps
        xm[idx] -= eps
        num[idx] = (f(xp) - f(xm)) / (2 * eps)
    return num
