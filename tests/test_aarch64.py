"""GEMM on aarch64 without an aarch64 machine: tests/c/gemm_check.c linked with the C
kernels, both built by CMake (-DCGRAD_C_TESTS=ON: the package's own compile flags, no
Python) with Debian's cross compiler aarch64-linux-gnu-gcc and run under qemu-aarch64.
It checks the NEON and the portable micro-kernels against a float64 reference, the
no-pack path's bits against the packed path's, and 2 threads' bits against 1 thread's.
The same program built natively checks itself on this machine's ISAs.

Without the cross compiler or qemu (`apt-get install gcc-aarch64-linux-gnu qemu-user`)
the aarch64 test skips, unless CGRAD_REQUIRE_AARCH64=1 (CI), where it fails.  qemu says
nothing about speed: the NEON kernels' speed is untested on hardware.
"""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from cgrad import _core

REPO = Path(__file__).resolve().parents[1]
CROSS_CC = "aarch64-linux-gnu-gcc"
QEMU = "qemu-aarch64"
SYSROOT = Path("/usr/aarch64-linux-gnu")    # Debian's aarch64 libc, libgomp for qemu -L

# Minutes of compiling and of emulation; CI runs the file in a step of its own.
pytestmark = pytest.mark.slow


def _require(tools, paths=()):
    """Skip (or, with CGRAD_REQUIRE_AARCH64=1, fail) naming the missing tools/paths."""
    missing = [t for t in tools if shutil.which(t) is None]
    missing += [str(p) for p in paths if not Path(p).is_dir()]
    if missing:
        msg = (f"missing {', '.join(missing)} (Debian: apt-get install "
               f"gcc-aarch64-linux-gnu qemu-user)")
        if os.environ.get("CGRAD_REQUIRE_AARCH64") == "1":
            pytest.fail(f"CGRAD_REQUIRE_AARCH64=1 but {msg}")
        pytest.skip(msg)


def _build(name, *defines):
    """Configure and build gemm_check in build/c-tests/<name> (kept between runs, as the
    package's own build dir); returns the executable.  Release: pyproject.toml's build
    type, so the kernels get exactly the wheel's flags."""
    build = REPO / "build" / "c-tests" / name
    configure = ["cmake", "-S", str(REPO), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release",
                 "-DSKBUILD_PROJECT_NAME=cgrad", "-DCGRAD_C_TESTS=ON", *defines]
    for cmd in (configure, ["cmake", "--build", str(build), "--target", "gemm_check",
                            "-j", "2"]):
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        assert out.returncode == 0, f"{' '.join(cmd)} failed:\n{out.stdout}\n{out.stderr}"
    return build / "gemm_check"


def _check(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=1200, cwd="/")
    assert out.returncode == 0, f"{' '.join(cmd)}:\n{out.stdout}\n{out.stderr}"
    assert out.stdout.rstrip().endswith("OK: 0 failures"), out.stdout
    return out.stdout


def test_gemm_check_native_on_every_available_isa():
    """The harness on the kernels the Python suite already covers: it must pass here."""
    _require(["cmake"])
    stdout = _check([str(_build("native"))])
    for isa in _core.isa_supported():
        for dtype in ("float32", "float64"):
            assert f"{isa} {dtype}: row {isa} " in stdout, stdout


def test_gemm_check_aarch64_under_qemu():
    _require(["cmake", CROSS_CC, QEMU], [SYSROOT / "lib"])
    exe = _build("aarch64", "-DCMAKE_SYSTEM_NAME=Linux", "-DCMAKE_SYSTEM_PROCESSOR=aarch64",
                 f"-DCMAKE_C_COMPILER={CROSS_CC}")
    qemu = [QEMU, "-L", str(SYSROOT)]
    # neon by default (no run-time check on AArch64); CGRAD_ISA=generic forces the
    # portable kernels; avx2 is unavailable there.
    for env, want, rc in [([], "neon", 0), (["-E", "CGRAD_ISA=generic"], "generic", 0),
                          (["-E", "CGRAD_ISA=avx2"], "neon (CGRAD_ISA unknown", 1)]:
        out = subprocess.run(qemu + env + [str(exe), "--selected"], capture_output=True,
                             text=True, timeout=60, cwd="/")
        assert (out.returncode, out.stdout.startswith(want)) == (rc, True), out.stdout
    stdout = _check(qemu + [str(exe), "generic", "neon"])
    for isa in ("generic", "neon"):
        for dtype in ("float32", "float64"):
            assert f"{isa} {dtype}: row {isa} " in stdout, stdout
