"""GEMM blocking derived from the cache sizes (src/c/cache.c, dispatch.c derive_row).

The sizes are read once, at import, so each configuration runs in a fresh interpreter
with CGRAD_CACHE set.  MC and NC only choose which tiles are computed together; KC is
fixed per ISA, so every configuration must give the same bits."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from cgrad import _core

# Each ISA's blocks, cache sizes and a digest of packed GEMMs that cross every block
# edge (all transposes, both dtypes, 1 and 2 threads).
_PROBE = textwrap.dedent("""
    import hashlib, json
    import numpy as np
    from cgrad import _core, ops
    out = {"caches": _core.cache_sizes(), "isas": {}}
    for isa in _core.isa_supported():
        _core.set_isa(isa)
        h = hashlib.sha256()
        for dtype in (np.float32, np.float64):
            rng = np.random.default_rng(1)
            for ta in (False, True):
                for tb in (False, True):
                    M, N, K = 301, 1100, 900
                    A = rng.standard_normal((K, M) if ta else (M, K)).astype(dtype)
                    B = rng.standard_normal((N, K) if tb else (K, N)).astype(dtype)
                    for nt in (1, 2):
                        h.update(ops.gemm(A, B, ta, tb, n_threads=nt).tobytes())
        out["isas"][isa] = {"blocking": _core.gemm_blocking(), "digest": h.hexdigest()}
    print(json.dumps(out))
""")


def _probe(cache):
    env = dict(os.environ)
    env.pop("CGRAD_ISA", None)
    if cache is None:
        env.pop("CGRAD_CACHE", None)
    else:
        env["CGRAD_CACHE"] = cache
    proc = subprocess.run([sys.executable, "-c", _PROBE], env=env, cwd=os.path.expanduser("~"),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def probes():
    """Detected caches, tiny caches (blocks of one micro-panel), a small laptop core and
    huge caches (the tuned blocks)."""
    return {c: _probe(c) for c in (None, "1K,1K,1K", "32K,256K,2M", "64M,1G,1G")}


def test_cache_sizes_parse_suffixes():
    got = _probe("48K,2M,4M")["caches"]
    assert got == {"l1d": 48 << 10, "l2": 2 << 20, "l3": 4 << 20, "source": "CGRAD_CACHE",
                   "env_error": False}


@pytest.mark.parametrize("bad", ["1M", "32K,1M", "32K,1M,x", "32K,-1M,4M", "32K,1M,4M,"])
def test_malformed_cgrad_cache_is_reported_and_ignored(bad, probes):
    got = _probe(bad)
    assert got["caches"]["env_error"] is True
    assert got["caches"]["source"] != "CGRAD_CACHE"
    assert got["isas"] == probes[None]["isas"]        # the detected sizes are used


def test_blocks_fit_their_caches(probes):
    """MC x KC takes at most half of L2 and KC x NC at most the L3 share, unless the
    block is already a single micro-panel; huge caches keep the tuned (largest) blocks."""
    for cache, probe in probes.items():
        caches = probe["caches"]
        for isa, res in probe["isas"].items():
            for dtype, blk in res["blocking"].items():
                size = np.dtype(dtype).itemsize
                tuned = probes["64M,1G,1G"]["isas"][isa]["blocking"][dtype]
                assert blk["kc"] == tuned["kc"], (cache, isa, dtype)
                assert blk["mc"] % blk["mr"] == 0 and blk["nc"] % blk["nr"] == 0
                assert blk["mc"] <= tuned["mc"] and blk["nc"] <= tuned["nc"]
                if caches["l2"]:
                    assert (blk["mc"] * blk["kc"] * size <= caches["l2"] // 2
                            or blk["mc"] == blk["mr"]), (cache, isa, dtype, blk)
                if caches["l3"]:
                    assert (blk["kc"] * blk["nc"] * size <= caches["l3"]
                            or blk["nc"] == blk["nr"]), (cache, isa, dtype, blk)
    tiny = probes["1K,1K,1K"]["isas"]
    assert all(b["mc"] == b["mr"] and b["nc"] == b["nr"]
               for res in tiny.values() for b in res["blocking"].values())


def test_cache_sizes_do_not_change_the_bits(probes):
    """Every ISA gives the same bits whatever blocks the caches choose."""
    base = probes[None]["isas"]
    for cache, probe in probes.items():
        for isa, res in probe["isas"].items():
            assert res["digest"] == base[isa]["digest"], (cache, isa)
    small = probes["32K,256K,2M"]["isas"]
    assert any(small[i]["blocking"] != base[i]["blocking"] for i in base)  # really moved


def test_cache_sizes_in_this_process():
    c = _core.cache_sizes()
    assert set(c) == {"l1d", "l2", "l3", "source", "env_error"}
    assert c["source"] in ("CGRAD_CACHE", "sysfs", "sysconf", "unknown")
    if c["source"] == "unknown":
        assert c["l1d"] == c["l2"] == c["l3"] == 0
