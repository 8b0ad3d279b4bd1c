"""The package under test is the installed, compiled one, with OpenMP and a thread pool
that threadpoolctl can see and limit."""
import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import cgrad
from cgrad import _core

REPO = Path(__file__).resolve().parents[1]
# A build with -Ccmake.define.CGRAD_OPENMP=OFF is serial; CI builds one and sets
# CGRAD_EXPECT_SERIAL=1 there, so the default build can never lose OpenMP unnoticed.
SERIAL = os.environ.get("CGRAD_EXPECT_SERIAL") == "1"
needs_openmp = pytest.mark.skipif(not cgrad.openmp_enabled(), reason="serial build (CGRAD_OPENMP=OFF)")


def test_compiled_core_is_a_built_extension():
    assert Path(_core.__file__).suffix in (".so", ".pyd")
    # The source tree holds no compiled module: the extension must come from an install
    # (site-packages, or the redirecting editable install's build output), never src/.
    assert not Path(_core.__file__).resolve().is_relative_to(REPO / "src")
    assert not list((REPO / "cgrad").glob("_core*.so"))


def test_openmp_enabled_and_reported():
    info = _core.build_info()
    assert cgrad.openmp_enabled() is info["openmp"]
    if SERIAL:
        assert not info["openmp"] and info["openmp_version"] == 0
        return
    assert info["openmp"], "the default build must use OpenMP"
    assert info["openmp_version"] >= 201107
    assert info["build_type"] == "Release"


def test_show_config_lists_version_compiler_openmp_threads_simd():
    buf = io.StringIO()
    cgrad.show_config(file=buf)
    text = buf.getvalue()
    assert f"cgrad {cgrad.__version__}" in text
    for key in ("compiler", "openmp", "threads", "simd"):
        assert key in text
    assert ("OpenMP" in text) == cgrad.openmp_enabled()
    assert f"threads       {cgrad.get_num_threads()}" in text
    assert cgrad._config.config()["cython"] not in ("", "unknown")


@needs_openmp
def test_set_num_threads_round_trip():
    before = cgrad.get_num_threads()
    try:
        cgrad.set_num_threads(1)
        assert cgrad.get_num_threads() == 1
        cgrad.set_num_threads(3)
        assert cgrad.get_num_threads() == 3
    finally:
        cgrad.set_num_threads(before)
    with pytest.raises(ValueError, match="n must be >= 1"):
        cgrad.set_num_threads(0)
    with pytest.raises(TypeError, match="n must be an int"):
        cgrad.set_num_threads(2.0)


def _gomp_of_core():
    """Path of the OpenMP runtime that _core is linked against (from /proc/self/maps)."""
    with open("/proc/self/maps") as f:
        libs = {line.split()[-1] for line in f if "gomp" in line or "libomp" in line}
    return {os.path.realpath(p) for p in libs}


@needs_openmp
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/maps")
def test_threadpoolctl_sees_and_limits_our_pool():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    ours = _gomp_of_core()
    assert ours, "no OpenMP runtime mapped into the process"
    info = [i for i in threadpoolctl.threadpool_info() if i["user_api"] == "openmp"]
    assert {os.path.realpath(i["filepath"]) for i in info} & ours
    before = cgrad.get_num_threads()
    with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
        assert cgrad.get_num_threads() == 1
    assert cgrad.get_num_threads() == before           # the limit is lifted again


def test_omp_num_threads_is_honoured():
    code = "import cgrad; print(cgrad.get_num_threads())"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, cwd="/", check=True)
    assert out.stdout.strip() == "1"


def test_isa_selection_and_override():
    avail = _core.isa_supported()
    assert avail[0] == "generic"
    assert _core.isa_selected() in avail
    before = _core.isa_selected()
    try:
        for isa in avail:
            _core.set_isa(isa)
            assert _core.isa_selected() == isa
        with pytest.raises(ValueError, match="isa must be one of"):
            _core.set_isa("sse9")
    finally:
        _core.set_isa(before)
    code = "from cgrad import _core; print(_core.isa_selected())"
    env = dict(os.environ, CGRAD_ISA="generic")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, cwd="/", check=True)
    assert out.stdout.strip() == "generic"


def test_cli_info_runs():
    out = subprocess.run([sys.executable, "-m", "cgrad", "info"], capture_output=True,
                         text=True, cwd="/", check=True)
    assert ("openmp        yes" if cgrad.openmp_enabled() else "openmp        no") in out.stdout
    assert "threads" in out.stdout


def test_source_tree_import_gives_a_clear_error(tmp_path):
    """Importing the bare source folder (no compiled core) must say what is wrong."""
    code = f"import sys; sys.path.insert(0, {str(REPO)!r}); import cgrad"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=tmp_path)
    if out.returncode == 0:
        # a redirecting editable install maps cgrad._core to the build output: fine
        pytest.skip("the source tree is an editable install here; nothing to shadow")
    assert "compiled core" in out.stderr


def test_kernel_result_is_numpy_float():
    y = cgrad.ops.relu_forward(np.array([[-1.0, 2.0]], dtype=np.float32))
    assert y.dtype == np.float32 and y.tolist() == [[0.0, 2.0]]


def test_thread_fp_modes_reports_each_team_thread():
    modes = _core.thread_fp_modes(2)
    assert len(modes) == 2
    tids = sorted(m >> 24 for m in modes)
    assert tids == ([0, 1] if cgrad.openmp_enabled() else [0, 0])
    control = 0xFFC0          # MXCSR control bits (the low 6 are sticky exception flags)
    assert all((m & control) == (modes[0] & control) for m in modes)
    if _core.ftz_daz_bits():  # outside fit, FTZ/DAZ are off in every thread (fit restores)
        assert not any(m & _core.ftz_daz_bits() for m in modes)


def test_version_is_written_in_one_place():
    # pyproject.toml reads the version from cgrad/__init__.py (scikit-build-core's regex
    # provider): the installed metadata and `cgrad info` must show that same string.
    from importlib.metadata import version

    assert version("cgrad") == cgrad.__version__
    pyproject = (REPO / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject and "\nversion =" not in pyproject
    changelog = (REPO / "CHANGELOG.md")
    if changelog.exists():           # a wheel test runs without the source tree's files
        assert f"## [{cgrad.__version__}]" in changelog.read_text()
