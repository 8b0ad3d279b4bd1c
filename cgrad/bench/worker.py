"""A cell worker: one (workload, optimizer, implementation, threads) cell in its own
Python process, started with ``subprocess`` (never a fork: the parent may have started
OpenMP), driven one action at a time by :mod:`cgrad.bench.scheduler`."""
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from .peers import RUNNERS

__all__ = ["Cell", "run_cell", "cell_main", "worker_command", "cell_env"]


class Cell:
    """One cell in this process: construction loads the data and sets the runner up;
    then :meth:`warmup`, :meth:`timed_epoch` (``repeats`` times) and :meth:`finish`
    (untimed epochs up to ``epochs_total``, then the test score).

    Parameters
    ----------
    cell : the cell dict; its ``workdir`` holds ``data_<id>.npz`` and ``init_<key>.npz``.
    """

    def __init__(self, cell):
        wd = Path(cell["workdir"])
        w = cell["workload"]
        d = np.load(wd / f"data_{w['data_id']}.npz")
        data = (d["Xtr"], d["ytr"], d["Xte"], d["yte"])
        init_npz = np.load(wd / f"init_{w['key']}.npz")
        init = [init_npz[f"arr_{i}"] for i in range(len(init_npz.files))]
        self.cell = cell
        self.runner = RUNNERS[cell["impl"]](cell, data, init)
        self.runner.setup()
        self.epochs, self.times = 0, []

    def warmup(self):
        """Epoch 0, untimed: compiles (jax), allocates, fills caches."""
        self.runner.epoch(0)
        self.epochs = 1

    def timed_epoch(self):
        """One timed epoch; returns (seconds, (start, end) on the system-wide monotonic clock)."""
        m0, t0 = time.monotonic(), time.perf_counter()
        self.runner.epoch(self.epochs)
        dt = time.perf_counter() - t0
        self.epochs += 1
        self.times.append(dt)
        return dt, (m0, time.monotonic())

    def finish(self):
        """Train untimed up to ``epochs_total`` epochs, score the test set; the result dict."""
        while self.epochs < self.cell.get("epochs_total", 0):
            self.runner.epoch(self.epochs)
            self.epochs += 1
        metrics = self.runner.evaluate()
        return {"times": self.times, "epochs_trained": self.epochs, "test": metrics,
                "notes": self.runner.notes}


def run_cell(cell):
    """Run one cell in this process.

    Parameters
    ----------
    cell : the cell dict (see :class:`Cell`).

    Returns
    -------
    dict: ``times`` (seconds per timed epoch), ``epochs_trained``, ``test``, ``notes``.
    """
    c = Cell(cell)
    c.warmup()
    for _ in range(cell["repeats"]):
        c.timed_epoch()
    return c.finish()


def _error_result(exc):
    import traceback
    return {"status": "error", "error": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc()[-2000:]}


def _serve(c, report, write_result):
    """Answer the parent's commands until ``final`` (see :func:`cell_main`)."""
    while True:
        cmd = sys.stdin.readline().strip()
        if cmd == "warmup":
            c.warmup()
            report("done")
        elif cmd == "epoch":
            dt, (m0, m1) = c.timed_epoch()
            report(f"t {dt!r} {m0!r} {m1!r}")
        elif cmd == "final":
            write_result(dict(c.finish(), status="ok"))
            report("result")
            return
        else:  # "" is end of input: the parent has gone
            raise RuntimeError(f"unexpected command {cmd!r}")


def cell_main(spec_path):
    """Entry point of a cell worker process: spec JSON in, then one command per line on
    stdin, each answered by one line on the report pipe (fd ``cell["report_fd"]``):

    ======== ================================ ===========================================
    command  action                           report
    ======== ================================ ===========================================
    (none)   load data, set the runner up     ``ready``
    warmup   the untimed warm-up epoch        ``done``
    epoch    one timed epoch                  ``t SECONDS START END`` (START/END: monotonic)
    final    extra epochs, evaluate, write    ``result`` (the result JSON is written)
             the result JSON
    ======== ================================ ===========================================

    Any exception writes an error result JSON and reports ``error``, then the worker exits.
    The report pipe is private: libraries print on stdout/stderr, which go to files.

    Parameters
    ----------
    spec_path : the cell's JSON spec (written by the scheduler).
    """
    cell = json.loads(Path(spec_path).read_text())
    fd = cell["report_fd"]
    os.set_inheritable(fd, False)  # not into processes a library may start
    rep = os.fdopen(fd, "w", buffering=1)

    def report(msg):
        rep.write(msg + "\n")
        rep.flush()

    def write_result(res):
        Path(cell["result_path"]).write_text(json.dumps(res))

    try:
        c = Cell(cell)
        report("ready")
        _serve(c, report, write_result)
    except Exception as exc:  # reported in the table, not fatal for the whole run
        write_result(_error_result(exc))
        report("error")


# The worker's first lines run before NumPy loads: CPU affinity, then FTZ/DAZ through
# peak.py loaded by file path (importing cgrad would import NumPy first).
_BOOTSTRAP = r"""
import importlib.util, json, os, sys
spec_path = sys.argv[1]
cell = json.load(open(spec_path))
del sys.path[0]                    # not the caller's folder: the parent's cgrad wins ...
sys.path.append(cell["root"])      # ... found where the parent found it
if cell.get("cpus"):
    os.sched_setaffinity(0, cell["cpus"])
if cell.get("ftz"):
    spec = importlib.util.spec_from_file_location("_cgrad_bench_peak", cell["peak_path"])
    peak = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(peak)
    peak.set_ftz_daz(True, lib=peak.load_helper(cell["helper_lib"]))
from cgrad.bench import worker     # imports numpy: BLAS threads inherit MXCSR from here
worker.cell_main(spec_path)
"""


def worker_command(spec_path):
    """The argv that starts a worker process for the cell spec at ``spec_path``."""
    return [sys.executable, "-c", _BOOTSTRAP, str(spec_path)]


def cell_env(impl, threads):
    """The worker's environment: thread-count variables for every library, JAX on the
    CPU (one Eigen thread at 1 thread), OpenBLAS tuning variables unset for NumPy and
    scikit-learn (they slow OpenBLAS here).

    Parameters
    ----------
    impl : the implementation's name.
    threads : the cell's thread count.

    Returns
    -------
    dict: a copy of ``os.environ`` with those changes.
    """
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    env.setdefault("JAX_PLATFORMS", "cpu")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if impl.startswith("jax"):
        flags = env.get("XLA_FLAGS", "")
        if threads == 1:
            flags += " --xla_cpu_multi_thread_eigen=false"
        env["XLA_FLAGS"] = flags.strip()
    if impl.startswith("numpy") or impl == "sklearn":
        for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
            env.pop(var, None)
    return env
