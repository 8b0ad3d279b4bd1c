"""Lockstep interleaving: the cells compared with each other run side by side.

The machine this runs on is shared and its speed drifts in phases of tens of seconds,
so two cells timed a minute apart mostly compare the phases.  A group's worker
processes therefore all start at once (data loading and setup overlap, untimed), then
the parent drives them so that only one computes at a time, the others blocked reading
their stdin: each one's warm-up epoch in turn, then ``repeats`` rounds of one timed
epoch per worker, the order rotated by one every round (:func:`round_order`), then each
one's final phase.  Commands go down each worker's stdin, replies come back on a
private pipe; a worker that raises, dies or times out is killed and becomes an error
row while the rest of its group goes on.  Workers are new processes
(``subprocess.Popen``), never forks of this one.
"""
import json
import os
import select
import subprocess
import time
from pathlib import Path

from .worker import cell_env, worker_command

__all__ = ["available_cpus", "round_order", "lockstep_schedule", "run_group"]


def available_cpus():
    """The CPUs this process may run on (its affinity where the OS has one).

    Returns
    -------
    int: at least 1.
    """
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def round_order(n, r):
    """Worker order of timed round ``r`` among ``n`` workers.

    Parameters
    ----------
    n : workers in the group.
    r : the round (0-based).

    Returns
    -------
    list: 0..n-1 rotated left by r, so over n consecutive rounds every worker runs once
    in every position (none always first, right after another's warm-up, or always last).
    """
    return [(r + k) % n for k in range(n)] if n else []


def lockstep_schedule(n, repeats):
    """The parent's actions for one group, in order.

    Parameters
    ----------
    n : workers in the group.
    repeats : timed epochs per worker, or a list with one count per worker (a group
        across workloads, ``--group-by``): a worker sits out the rounds past its count.

    Returns
    -------
    list of (command, worker index): each worker's warm-up in turn, the timed rounds in
    :func:`round_order`, then each worker's final phase in turn.
    """
    reps = list(repeats) if isinstance(repeats, (list, tuple)) else [repeats] * n
    plan = [("warmup", i) for i in range(n)]
    for r in range(max(reps, default=0)):
        plan += [("epoch", i) for i in round_order(n, r) if r < reps[i]]
    return plan + [("final", i) for i in range(n)]


class WorkerFailed(Exception):
    """A worker did not answer as expected (timed out, exited, or reported an error)."""


class Worker:
    """The parent's handle on one cell process: started at construction (its setup then
    runs concurrently with its group's others), then one :meth:`ask` per action.

    Parameters
    ----------
    cell : the cell dict; its ``workdir`` receives the spec, result and output files.
    """

    def __init__(self, cell):
        wd = Path(cell["workdir"])
        tag = f"{cell['workload']['key']}_{cell['optimizer']}_{cell['impl']}_{cell['threads']}"
        r_fd, w_fd = os.pipe()
        self.cell = dict(cell, result_path=str(wd / f"result_{tag}.json"), report_fd=w_fd)
        spec_path = wd / f"cell_{tag}.json"
        spec_path.write_text(json.dumps(self.cell))
        self.out_paths = (wd / f"stdout_{tag}.txt", wd / f"stderr_{tag}.txt")
        self.fd, self.buf, self.result = r_fd, b"", None
        self.t0 = time.perf_counter()
        try:
            with open(self.out_paths[0], "w") as fo, open(self.out_paths[1], "w") as fe:
                self.proc = subprocess.Popen(
                    worker_command(spec_path), stdin=subprocess.PIPE, stdout=fo, stderr=fe,
                    env=cell_env(cell["impl"], cell["threads"]), pass_fds=(w_fd,), text=True)
        except BaseException:
            os.close(r_fd)
            raise
        finally:
            os.close(w_fd)  # the child's copy is the only writer: EOF when it exits

    def ask(self, cmd, timeout):
        """Send ``cmd`` (None: none, just wait for the next report); return the reply line."""
        if cmd is not None:
            try:
                self.proc.stdin.write(cmd + "\n")
                self.proc.stdin.flush()
            except OSError as exc:  # BrokenPipeError: the worker has exited
                raise WorkerFailed(f"cannot send {cmd!r}: {exc}") from None
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                raise WorkerFailed(f"timed out after {timeout} s"
                                   + (f" waiting for {cmd}" if cmd else " in setup"))
            chunk = os.read(self.fd, 4096)
            if not chunk:
                raise WorkerFailed("exited")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()

    def load_result(self):
        """The result JSON the worker wrote, or None."""
        try:
            return json.loads(Path(self.cell["result_path"]).read_text())
        except (OSError, ValueError):
            return None

    def finish(self, res):
        """Keep ``res`` (plus the wall time since start) as the result; close."""
        self.result = dict(res, wall_seconds=time.perf_counter() - self.t0)
        self.close()

    def _output_tail(self):
        for p in reversed(self.out_paths):
            try:
                tail = p.read_text(errors="replace").strip().splitlines()[-3:]
            except OSError:
                continue
            if tail:
                return tail
        return []

    def fail(self, why):
        """Kill the process; the result is its own error report, else ``why`` + stderr tail."""
        self.close(kill=True)
        res = self.load_result()
        if res is None or res.get("status") == "ok":
            tail = self._output_tail()
            res = {"status": "error", "error": f"cell process {why} (exit code {self.proc.returncode})"
                   + (": " + " | ".join(tail) if tail else "")}
        self.finish(res)

    def close(self, kill=False):
        """End the process (``kill``: at once, else wait up to 60 s) and the pipe."""
        if self.fd is None:
            return
        if kill and self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=None if kill else 60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self.fd)
        self.fd = None


_EXPECTED = {"warmup": "done", "epoch": "t", "final": "result"}


def _await_ready(workers, timeout):
    for w in workers:
        try:
            reply = w.ask(None, timeout)
            if reply != "ready":
                raise WorkerFailed(f"reported {reply!r} in setup")
        except WorkerFailed as exc:
            w.fail(str(exc))


def _act(w, cmd, timeout):
    """One scheduled action of worker ``w``: its reply, or None when it failed."""
    try:
        reply = w.ask(cmd, timeout)
        if reply.split(" ", 1)[0] != _EXPECTED[cmd]:
            raise WorkerFailed(f"reported {reply!r} after {cmd}")
    except WorkerFailed as exc:
        w.fail(str(exc))
        return None
    if cmd == "final":
        res = w.load_result()
        if res is None:
            w.fail("wrote no result")
        else:
            w.finish(res)
    return reply


def run_group(cells, timeout, trace=None, settle=0.0):
    """Run ``cells`` (compared with each other) in lockstep.

    Parameters
    ----------
    cells : cell dicts, each with its ``repeats``.
    timeout : seconds allowed for each worker action (setup, warm-up, one epoch, final
        phase); a worker that times out, dies or raises is killed and becomes an error
        row while the others go on.
    trace : a list receiving (command, worker index, reply) for every action answered.
    settle : seconds of pause before each warm-up and timed epoch: thread pools (OpenMP,
        OpenBLAS, Eigen) spin for a while after their last parallel region, and a
        2-thread epoch that starts while the previous worker's threads still spin on
        one of the cores pays for it.

    Returns
    -------
    list of result dicts, in the order of ``cells``.
    """
    workers = []
    try:
        for c in cells:
            workers.append(Worker(c))
        _await_ready(workers, timeout)
        for cmd, i in lockstep_schedule(len(workers), [c["repeats"] for c in cells]):
            if workers[i].result is not None:
                continue
            if settle > 0 and cmd in ("warmup", "epoch"):
                time.sleep(settle)
            reply = _act(workers[i], cmd, timeout)
            if reply is not None and trace is not None:
                trace.append((cmd, i, reply))
        return [w.result for w in workers]
    finally:
        for w in workers:
            w.close(kill=True)
