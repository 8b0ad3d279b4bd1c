"""``cgrad bench`` / ``python -m cgrad.bench``: argument parsing and the run itself."""
import argparse
import importlib.util
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from . import peak as _peak
from . import sklearn_table as _sk
from .inference import inference_rows
from .peers import IMPLS, REQUIRES, RUNNERS
from .report import add_ratios, package_versions, summarize, write_reports
from .scheduler import available_cpus, run_group
from .workloads import (LR, MOMENTUM, QUICK_TEST, QUICK_TRAIN, data_id, extra_layers,
                        initial_weights, load_arrays, select_workloads, workload_lr)

__all__ = ["main", "parse_args", "parse_threads"]

_GROUP_BY = {"workload": "(workload, optimizer, threads)", "threads": "threads",
             "all": "run (one group)"}
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])   # the folder holding cgrad/


def _add_selection_args(p):
    p.add_argument("--workloads", default=None,
                   help="comma-separated: W1,W2,W3,W1bn,W4 (or mnist,tiny,wide,mnist-bn,"
                        "mnist1d); default all, "
                        "or only the custom one when --sizes is given")
    p.add_argument("--impls", default=",".join(IMPLS), help=f"comma-separated from {IMPLS}")
    p.add_argument("--threads", default=None, help="comma-separated thread counts (default 1,ncpu)")
    p.add_argument("--repeats", type=int, default=None,
                   help="timed epochs per cell after one warm-up (default 3; W3: 2; --quick: 1)")
    p.add_argument("--quick", action="store_true",
                   help=f"{QUICK_TRAIN} training / {QUICK_TEST} test samples and 1 repeat")
    p.add_argument("--samples", type=int, default=None, help="use only the first N training samples")
    p.add_argument("--optimizer", default=None,
                   help="adam and/or sgd (comma-separated): overrides the workloads' optimizers")
    p.add_argument("--out", default="bench_results", help="output folder (results.md/.json/.png)")
    inf = p.add_mutually_exclusive_group()
    inf.add_argument("--inference", action="store_true",
                     help="after the training comparison, also time inference of the selected "
                          "plain-MLP workloads: cgrad decision_function / predict vs torch "
                          "(inference_mode) and onnxruntime (each skipped with a note when not "
                          "installed; --impls does not apply) on the same weights, batches 1, "
                          "32 and 10,000, at --threads; its table follows the training table")
    inf.add_argument("--inference-only", action="store_true",
                     help="time inference as --inference does, without the training "
                          "comparison; random MNIST-like rows stand in, with a note, when "
                          "MNIST is absent (the training comparison stops instead)")


def _add_custom_args(p):
    p.add_argument("--sizes", default=None,
                   help="a custom workload: layer sizes, input first, e.g. 784,512,10")
    p.add_argument("--data", default=None,
                   help="the custom workload's data: mnist, digits (the embedded 8x8 digits), "
                        "mnist1d (generated, cgrad.bench.mnist1d), "
                        "synthetic (regression) or FILE.npz / FILE.csv (classification when "
                        "the labels are integers; 20%% held out for the test score); default "
                        "mnist for 784 inputs, else synthetic")
    p.add_argument("--layers", default=None,
                   help="the custom workload's extra layers: bn (a BatchNorm1d after every "
                        "hidden Linear) and/or dropout=P (after every hidden activation), "
                        "e.g. bn,dropout=0.2 (W1bn's)")
    p.add_argument("--batch", type=int, default=64, help="custom workload batch size")
    p.add_argument("--activation", default="relu", choices=["relu", "tanh"],
                   help="custom workload hidden activation")
    p.add_argument("--data-dir", default=None,
                   help="folder with the MNIST IDX files (default $CGRAD_DATA, then ~/.cache/cgrad)")
    p.add_argument("--download", action="store_true", help="download MNIST when it is missing")


def _add_sklearn_args(p):
    skl = p.add_mutually_exclusive_group()
    skl.add_argument("--sklearn", action="store_true",
                     help="after the training comparison (and --inference), also time "
                          "cgrad.sklearn.MLPClassifier against scikit-learn's on "
                          "--sklearn-workloads: the same hyperparameters and random_state, "
                          "fits interleaved round by round, at --threads; skipped with a note "
                          "when scikit-learn is not installed")
    skl.add_argument("--sklearn-only", action="store_true",
                     help="time the scikit-learn estimators as --sklearn does, without the "
                          "training comparison")
    p.add_argument("--sklearn-workloads", default=",".join(_sk.DEFAULT_WORKLOADS),
                   help=f"comma-separated from {list(_sk.WORKLOADS)} (default "
                        f"{','.join(_sk.DEFAULT_WORKLOADS)}); MNIST's are skipped with a "
                        "note when the files are missing")
    p.add_argument("--sklearn-rounds", type=int, default=None,
                   help=f"fits per estimator and cell (default {_sk.ROUNDS}; --quick "
                        f"{_sk.QUICK_ROUNDS}, and MNIST's first {QUICK_TRAIN} / {QUICK_TEST} "
                        "rows)")


def _add_run_args(p):
    p.add_argument("--peak", type=float, default=None,
                   help="peak GFLOP/s of one thread (scaled by threads); default: measure (cached)")
    p.add_argument("--epochs-accuracy", type=int, default=None,
                   help="train this many epochs in total (untimed beyond the repeats) before "
                        "scoring the test set: the accuracy-parity check")
    p.add_argument("--lr", type=float, default=None,
                   help=f"learning rate (default {LR}, unless the workload has its own: W4)")
    p.add_argument("--momentum", type=float, default=MOMENTUM, help="SGD momentum")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--settle", type=float, default=0.5,
                   help="seconds of pause before each epoch of an interleaved group, so the "
                        "previous worker's spinning thread pools go idle (default 0.5)")
    p.add_argument("--cell-timeout", type=float, default=3600.0,
                   help="seconds allowed for each action of a cell process (setup, warm-up, one "
                        "timed epoch, the final epochs + evaluation)")
    p.add_argument("--sequential", action="store_true",
                   help="run the cells one after the other instead of interleaving the cells "
                        "of each (workload, optimizer, threads) group epoch by epoch")
    p.add_argument("--group-by", default="workload", choices=list(_GROUP_BY),
                   help="which cells are interleaved with each other: 'workload' (default) "
                        "those of one (workload, optimizer, threads); 'threads' every cell "
                        "of one thread count, across workloads and optimizers; 'all' every "
                        "cell in one group")


def parse_args(argv, prog="cgrad bench"):
    """The parsed command line (see ``cgrad bench --help``)."""
    p = argparse.ArgumentParser(prog=prog, description="Train the same MLP with cgrad and its "
                                "peers; print and save a comparison table.  --inference adds "
                                "an inference table (cgrad vs torch and onnxruntime) after the "
                                "training one, --sklearn a table of cgrad.sklearn's estimators "
                                "vs scikit-learn's; --inference-only / --sklearn-only leave "
                                "the training comparison out.")
    _add_selection_args(p)
    _add_custom_args(p)
    _add_sklearn_args(p)
    _add_run_args(p)
    return p.parse_args(argv)


def parse_threads(spec):
    """The thread counts of a comma-separated list.

    Parameters
    ----------
    spec : str, e.g. ``"1,2"``.

    Returns
    -------
    list of int.

    Raises
    ------
    SystemExit
        When an entry is not an integer or not positive.
    """
    try:
        threads = [int(t) for t in spec.split(",")]
    except ValueError:
        raise SystemExit(f"--threads needs comma-separated integers, got {spec!r}") from None
    if min(threads) < 1:
        raise SystemExit("--threads must be positive")
    return threads


def _check_args(a):
    """(implementations, thread counts, CPUs available), or SystemExit naming the problem."""
    if a.sequential and a.group_by != "workload":
        raise SystemExit("--sequential runs every cell on its own: it takes no --group-by")
    impls = [i.strip() for i in a.impls.split(",") if i.strip()]
    bad = [i for i in impls if i not in IMPLS]
    if bad:
        raise SystemExit(f"unknown implementation(s) {bad}; choose from {IMPLS}")
    ncpu = available_cpus()
    threads = parse_threads(a.threads) if a.threads else sorted({1, ncpu})
    if a.batch < 1:
        raise SystemExit("--batch must be positive")
    if a.sklearn_rounds is not None and a.sklearn_rounds < 1:
        raise SystemExit("--sklearn-rounds must be positive")
    return impls, threads, ncpu


def _skipped(impls):
    """{impl: why} for the implementations whose packages are missing."""
    out = {}
    for impl in impls:
        missing = [p for p in REQUIRES[impl] if importlib.util.find_spec(p) is None]
        if missing:
            out[impl] = f"{missing[0]} not installed"
    return out


def _env_notes(impls):
    if not any(i.startswith("numpy") or i == "sklearn" for i in impls):
        return []
    notes = []
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        was = os.environ.get(var)
        notes.append(f"{var} unset in the NumPy/scikit-learn cell processes"
                     + (f" (was {was!r}: it slows OpenBLAS here)" if was is not None else " (was not set)"))
    return notes


def _ftz_notes(helper, impls, skipped):
    if helper is not None:
        return ["numpy: MXCSR FTZ+DAZ set in the cell process before NumPy loads "
                "(OpenBLAS threads inherit it); numpy-noftz: the same loop without"]
    if "numpy-noftz" in impls and "numpy" in impls:
        skipped["numpy-noftz"] = "same as numpy (FTZ/DAZ unavailable)"
    return ["no C compiler / not x86: FTZ/DAZ cannot be set for NumPy and the peak is not measured"]


def _peaks(a, threads, helper, notes):
    """{threads: peak GFLOP/s}: --peak, else measured (cached), else {}."""
    if a.peak:
        notes.append(f"peak given by --peak: {a.peak} GFLOP/s per thread")
        return {n: a.peak * n for n in threads}
    lib = _peak.load_helper(helper) if helper else None
    measured = _peak.peak_gflops(sorted({1, *threads})) if lib is not None else {}
    if not measured:
        return {}
    notes.append("measured float32 FMA peak (cgrad.bench.peak, cached in "
                 f"{_peak.CACHE_FILE}): " + ", ".join(f"{n} thr {g:.1f}" for n, g in measured.items())
                 + " GFLOP/s; % peak uses max(n-thread measure, n x 1-thread measure), because on a "
                 "shared machine the n-thread probe rarely gets n free cores")
    return {n: max(measured[n], n * measured[1]) for n in threads}


_FIXED_NOTES = [
    "GFLOP/s = (6 * sum(in*out) - 2 * in_0*out_0) * samples / seconds (2 forward + 4 backward "
    "flops per weight per sample, less the first layer's input gradient nobody computes)",
    "threads: each cell runs in its own process pinned to its first n CPUs; JAX's thread "
    "count follows that affinity (+ --xla_cpu_multi_thread_eigen=false at 1 thread)",
    "machine shared with other jobs: timings are noisy; compare ratios within one run"]
_SPARSE_NOTE = ("cgrad: fit(sparse='auto'): where the input is mostly exact zeros (MNIST: 81%) "
                "the first layer's forward pass and weight gradient skip them, with the same "
                "result bits as cgrad-dense (sparse=False); its GFLOP/s and % peak count "
                "the dense model's flops, so they are effective rates there")


def _prepare_workload(w, a, wd, cache):
    """Write the workload's data (once per data set) and initial weights to ``wd``;
    return (training rows, timed repeats)."""
    w["data_id"] = data_id(w)
    path = wd / f"data_{w['data_id']}.npz"
    if w["data_id"] not in cache:
        Xtr, ytr, Xte, yte = load_arrays(
            w, data_dir=a.data_dir, download=a.download, seed=a.seed,
            n_train=QUICK_TRAIN if a.quick else a.samples, n_test=QUICK_TEST if a.quick else None)
        np.savez(path, Xtr=Xtr, ytr=ytr, Xte=Xte, yte=yte)
        cache[w["data_id"]] = len(Xtr)
    np.savez(wd / f"init_{w['key']}.npz", *initial_weights(w, a.seed))
    repeats = 1 if a.quick and a.repeats is None else (a.repeats or w["repeats"])
    return cache[w["data_id"]], repeats


def _skip_reason(w, impl, n, ctx):
    if impl in ctx["skipped"]:
        return ctx["skipped"][impl]
    if n > ctx["ncpu"]:
        return f"only {ctx['ncpu']} CPUs available"
    if extra_layers(w) and not RUNNERS[impl].layers:
        return f"the {impl} runner has no " + " / ".join(extra_layers(w)) + " layers"
    return None


def _cell(row, w, a, ctx):
    """What a worker process needs to run the cell of ``row`` (see cgrad.bench.worker)."""
    cpus, n = ctx["cpus"], row["threads"]
    return dict(workload=w, optimizer=row["optimizer"], lr=row["lr"], momentum=a.momentum,
                impl=row["impl"], threads=n, repeats=row["repeats"],
                epochs_total=a.epochs_accuracy or 0, seed=a.seed, workdir=str(ctx["wd"]),
                root=_PACKAGE_ROOT, peak_path=_peak.__file__, helper_lib=ctx["helper"],
                ftz=(row["impl"] == "numpy" and ctx["helper"] is not None),
                cpus=cpus[:n] if cpus and n < len(cpus) else None)


def _prepare_data(a, wls, wd):
    """[(workload, training rows, repeats)] with every data set and initial weights
    written to ``wd``; a missing or bad data file stops the run here, before any cell."""
    cache = {}
    try:
        return [(w, *_prepare_workload(w, a, wd, cache)) for w in wls]
    except FileNotFoundError as exc:
        raise SystemExit(f"cgrad bench: {exc}\nHere: --data-dir DIR, $CGRAD_DATA or --download.") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SystemExit(f"cgrad bench: {exc}") from None


def _plan(a, prepared, impls, threads, ctx):
    """(result rows, {group key: [(row, cell)]}, {workload: repeats}); skipped rows get
    their reason here."""
    results, groups, rounds = [], {}, {}
    for w, n_train, repeats in prepared:
        rounds[w["key"]] = repeats
        for opt in w["optimizers"]:
            lr = a.lr if a.lr is not None else workload_lr(w, opt)
            for impl in impls:
                for n in threads:
                    row = dict(workload=w["key"], workload_name=w["name"], sizes=w["sizes"],
                               batch=w["batch"], optimizer=opt, lr=lr,
                               momentum=a.momentum if opt == "sgd" else None, impl=impl,
                               threads=n, n_train=n_train, repeats=repeats, init="cgrad.MLP(seed)")
                    results.append(row)
                    why = _skip_reason(w, impl, n, ctx)
                    if why:
                        row.update(status="skipped", reason=why)
                        continue
                    key = ((w["key"], opt, impl, n) if a.sequential
                           else {"workload": (w["key"], opt, n), "threads": (n,), "all": ()}[a.group_by])
                    groups.setdefault(key, []).append((row, _cell(row, w, a, ctx)))
    return results, groups, rounds


def _schedule_note(a, rounds):
    if a.sequential:
        return "cells ran one after the other (--sequential), each in its own process"
    return (f"the cells of each {_GROUP_BY[a.group_by]} group ran interleaved: their "
            "processes set up together, then one epoch at a time (warm-ups in turn, timed "
            "epochs round-robin with the order rotated every round, so the same machine "
            "phases hit every implementation); rounds: "
            + ", ".join(f"{k} {r}" for k, r in rounds.items())
            + f"; {a.settle:g} s pause before each epoch (--settle) so the previous "
              "worker's spinning thread pools go idle")


def _print_row(row):
    w, opt, impl, n = row["workload"], row["optimizer"], row["impl"], row["threads"]
    if row["status"] != "ok":
        print(f"{w} {opt:4s} {impl:11s} t{n}: {row['status']}: {row.get('error')}", flush=True)
        return
    t = row["test"]
    score = f"acc {t['accuracy']:.4f}" if "accuracy" in t else f"mse {t['loss']:.4g}"
    print(f"{w} {opt:4s} {impl:11s} t{n}: {row['median']:8.3f} s/epoch "
          f"[{row['min']:.3f}-{row['max']:.3f}] {row['gflops']:7.2f} GFLOP/s  {score}", flush=True)


def _run_groups(a, groups, peaks):
    for members in groups.values():
        res = run_group([c for _, c in members], a.cell_timeout, settle=a.settle)
        for (row, _), r in zip(members, res):
            row.update(r)
            if row["status"] == "ok":
                summarize(row, peaks)
            _print_row(row)


def _meta(a, *, command, ncpu, peaks, notes):
    meta = {"command": command,
            "date": time.strftime("%Y-%m-%d %H:%M:%S"), "python": sys.version.split()[0],
            "numpy": np.__version__, "platform": platform.platform(), "cpu": _peak.cpu_model(),
            "cpus": ncpu, "peak_gflops": {str(k): v for k, v in peaks.items()},
            "quick": a.quick, "notes": notes}
    meta.update(package_versions())
    return meta


def _train(a, wls, wd, *, impls, threads, ncpu):
    """The training comparison: (result rows, {threads: peak}, notes)."""
    prepared = _prepare_data(a, wls, wd)
    skipped = _skipped(impls)
    notes = _env_notes(impls)
    helper = _peak.build_helper(wd)
    notes += _ftz_notes(helper, impls, skipped)
    peaks = _peaks(a, threads, helper, notes)
    notes += _FIXED_NOTES[:1] + ([_SPARSE_NOTE] if "cgrad" in impls else []) + _FIXED_NOTES[1:]
    ctx = dict(wd=wd, helper=helper, skipped=skipped, ncpu=ncpu,
               cpus=sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None)
    results, groups, rounds = _plan(a, prepared, impls, threads, ctx)
    notes.append(_schedule_note(a, rounds))
    _run_groups(a, groups, peaks)
    notes += [f"skipped {impl}: {why}" for impl, why in skipped.items()]
    add_ratios(results)
    return results, peaks, notes


def _extra_tables(a, wls, sk_names, *, threads, ncpu, notes):
    """(inference rows, scikit-learn section), None where not asked for; their notes
    are appended to ``notes``."""
    inference = sklearn = None
    if a.inference or a.inference_only:
        inference, more = inference_rows(wls, threads=threads, quick=a.quick, ncpu=ncpu,
                                         data_dir=a.data_dir, download=a.download, seed=a.seed)
        notes += more
    if a.sklearn or a.sklearn_only:
        sklearn, more = _sk.sklearn_section(sk_names, threads=threads, ncpu=ncpu,
                                        rounds=a.sklearn_rounds, quick=a.quick,
                                        data_dir=a.data_dir, download=a.download)
        notes += more
    return inference, sklearn


def _run(a, argv, prog, wd):
    impls, threads, ncpu = _check_args(a)
    wls = select_workloads(a)
    sk_names = _sk.parse_workloads(a.sklearn_workloads)
    results, peaks, notes = (([], {}, []) if a.inference_only or a.sklearn_only
                             else _train(a, wls, wd, impls=impls, threads=threads, ncpu=ncpu))
    inference, sklearn = _extra_tables(a, wls, sk_names, threads=threads, ncpu=ncpu, notes=notes)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    md, written = write_reports(out, results, _meta(a, command=f"{prog} " + " ".join(argv),
                                                    ncpu=ncpu, peaks=peaks, notes=notes),
                                inference=inference, sklearn=sklearn)
    print()
    print("\n".join(md[4:]))
    print(f"\nsaved {', '.join(written)} in {out}")
    return 0


def main(argv=None, prog="cgrad bench"):
    """Run the comparison.

    Parameters
    ----------
    argv : the arguments (default ``sys.argv[1:]``); see ``cgrad bench --help``.
    prog : the command's name in the help text and in the report.

    Returns
    -------
    int: 0 (bad arguments raise SystemExit with the problem, before any work).
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    a = parse_args(argv, prog)
    wd = Path(tempfile.mkdtemp(prefix="cgrad-bench-"))
    try:
        return _run(a, argv, prog, wd)
    finally:
        shutil.rmtree(wd, ignore_errors=True)
