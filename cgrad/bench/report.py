"""The comparison's outputs: per-row statistics, the Markdown table, results.json and
results.png (matplotlib; skipped with a note when it is not installed)."""
import importlib.util
import json
import math
import statistics
from importlib.metadata import PackageNotFoundError, version

from .workloads import epoch_flops

__all__ = ["format_table", "format_inference_table", "format_sklearn_table", "sklearn_markdown",
           "summarize", "add_ratios", "plot", "write_reports", "package_versions",
           "PEER_PACKAGES"]

# import name -> distribution name, the versions recorded in the report
PEER_PACKAGES = {"cgrad": "cgrad", "torch": "torch", "jax": "jax", "sklearn": "scikit-learn",
                 "onnxruntime": "onnxruntime"}


def _fmt(x, spec):
    return "n/a" if x is None or (isinstance(x, float) and not math.isfinite(x)) else format(x, spec)


def _seconds(x):
    """At least 3 decimals and 3 significant digits: W4's epochs take milliseconds."""
    if x is None or not math.isfinite(x) or x <= 0:
        return _fmt(x, ".3f")
    return format(x, f".{max(3, 2 - math.floor(math.log10(x)))}f")


def _row_cells(r):
    t = r["test"]
    test = f"acc {t['accuracy']:.4f}" if "accuracy" in t else f"mse {t['loss']:.4g}"
    pk = r.get("peak_fraction")
    return [_seconds(r["median"]), _seconds(r["min"]), _seconds(r["max"]),
            _fmt(r["samples_per_s"], ",.0f"), _fmt(r["gflops"], ".2f"),
            "n/a" if pk is None else f"{100 * pk:.1f}%",
            _fmt(r.get("ratio_to_cgrad"), ".2f"), str(r.get("epochs_trained", "")), test]


def format_table(results):
    """Markdown table of result rows.

    Parameters
    ----------
    results : row dicts as stored in results.json.

    Returns
    -------
    str: one line per row; a skipped or failed row carries its reason.  ``ep`` is the
    number of epochs trained before the test score (1 warm-up + the timed repeats, or
    ``--epochs-accuracy``).
    """
    head = ["workload", "opt", "impl", "thr", "s/epoch med", "min", "max", "samples/s",
            "GFLOP/s", "% peak", "peer/cgrad", "ep", "test"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        pre = [f"{r['workload']} {r['workload_name']}", r["optimizer"], r["impl"], str(r["threads"])]
        if r["status"] != "ok":
            msg = r.get("error") or r.get("reason") or r["status"]
            lines.append("| " + " | ".join(pre + [f"{r['status']}: {msg}"[:120]] + [""] * 8) + " |")
        else:
            lines.append("| " + " | ".join(pre + _row_cells(r)) + " |")
    return "\n".join(lines)


def _fmt_latency(s):
    return f"{s * 1e6:,.1f} us" if s < 1e-3 else f"{s * 1e3:,.2f} ms"


def _inference_cell(r):
    if r is None:
        return ""
    if r["status"] != "ok":
        return f"{r['status']}: {r.get('error') or r.get('reason')}"[:60]
    return f"{_fmt_latency(r['latency_s'])}, {r['rows_per_s']:,.0f}/s"


def format_inference_table(rows):
    """Markdown table of inference rows, one line per (workload, batch, threads).

    Parameters
    ----------
    rows : row dicts of :func:`cgrad.bench.inference.inference_rows`.

    Returns
    -------
    str: per implementation the median latency of one call and the throughput (rows/s);
    a skipped or failed one carries its reason; the last column is cgrad
    decision_function's latency over the fastest peer's (< 1: cgrad faster).
    """
    impls = list(dict.fromkeys(r["impl"] for r in rows))
    cells = {}
    for r in rows:
        cells.setdefault((r["workload"], r["workload_name"], r["batch"], r["threads"]), {})[r["impl"]] = r
    head = ["workload", "batch", "thr", *impls, "d_f / best peer"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (key, name, batch, n), by_impl in cells.items():
        df = by_impl.get("cgrad decision_function") or {}
        lines.append("| " + " | ".join([f"{key} {name}", f"{batch:,}", str(n)]
                                       + [_inference_cell(by_impl.get(i)) for i in impls]
                                       + [_fmt(df.get("ratio_to_best_peer"), ".2f")]) + " |")
    return "\n".join(lines)


_SKLEARN_HEAD = ["workload", "thr", "impl", "fit s (median)", "min", "n_iter_", "ms/iter",
                 "speed-up", "test acc", "predict rows/s"]


def format_sklearn_table(rows):
    """Markdown table of the scikit-learn estimators' rows.

    Parameters
    ----------
    rows : row dicts of :func:`cgrad.bench.sklearn_table.sklearn_section`.

    Returns
    -------
    str: one line per (workload, threads, implementation): median and minimum fit
    seconds, ``n_iter_``, milliseconds per iteration, the speed-up (scikit-learn's median
    fit seconds over the row's), test accuracy and predict rows/s; a skipped row carries
    its reason.
    """
    lines = ["| " + " | ".join(_SKLEARN_HEAD) + " |", "|" + "---|" * len(_SKLEARN_HEAD)]
    for r in rows:
        cells = [r["workload"], str(r["threads"]), r["impl"]]
        if r["status"] != "ok":
            cells += [f"{r['status']}: {r.get('reason')}"[:120]] + [""] * 6
        else:
            cells += [f"{r['fit_s']:.3f}", f"{r['fit_min_s']:.3f}", str(r["n_iter"]),
                      f"{r['ms_per_iter']:.2f}", f"{r['speedup']:.2f}x",
                      f"{r['test_accuracy']:.4f}", f"{r['predict_rows_per_s']:,.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def sklearn_markdown(section):
    """The "scikit-learn estimators" section of results.md.

    Parameters
    ----------
    section : the dict of :func:`cgrad.bench.sklearn_table.sklearn_section`.

    Returns
    -------
    list of str: the heading, a blank line, then the line saying what was measured
    (rounds, threads, load average before and after) and the table, or the reason the
    table was skipped; a blank line last.
    """
    if section["skipped"]:
        return ["## scikit-learn estimators", "", f"Skipped: {section['skipped']}", ""]
    return ["## scikit-learn estimators", "", section["summary"] + ":", "",
            format_sklearn_table(section["rows"]), ""]


def summarize(row, peaks):
    """Add median/min/max seconds, samples/s, GFLOP/s and the peak fraction to ``row``.

    Parameters
    ----------
    row : an ok row (``times``, ``n_train``, ``sizes``, ``threads``).
    peaks : {threads: peak GFLOP/s}; a missing entry gives a None peak fraction.

    Returns
    -------
    the same dict.
    """
    ts, n_train = row["times"], row["n_train"]
    med = statistics.median(ts)
    row.update(median=med, min=min(ts), max=max(ts), samples_per_s=n_train / med,
               gflops=epoch_flops(row["sizes"], n_train) / med / 1e9)
    pk = peaks.get(row["threads"])
    row["peak_fraction"] = row["gflops"] / pk if pk else None
    return row


def add_ratios(results):
    """``ratio_to_cgrad`` of every row: its median over cgrad's of the same (workload,
    optimizer, threads) in this run (None without both)."""
    by_key = {(r["workload"], r["optimizer"], r["threads"]): r for r in results
              if r["impl"] == "cgrad" and r["status"] == "ok"}
    for r in results:
        c = by_key.get((r["workload"], r["optimizer"], r["threads"]))
        r["ratio_to_cgrad"] = (r["median"] / c["median"]) if (c and r["status"] == "ok") else None


def plot(results, path):
    """Bar chart of seconds per epoch, one panel per (workload, optimizer)
    (``cgrad.plot.benchmark_results``).

    Parameters
    ----------
    results : row dicts.
    path : the PNG to write.

    Returns
    -------
    None when written, else a note saying why not (matplotlib missing, no ok row).
    """
    if importlib.util.find_spec("matplotlib") is None:
        return (f"{path.name} skipped: matplotlib is not installed "
                "(pip install matplotlib, or cgrad[plot])")
    if not any(r["status"] == "ok" for r in results):
        return f"{path.name} skipped: no successful cell"
    from ..plot import benchmark_results
    benchmark_results(results).savefig(path, dpi=110)
    return None


def package_versions():
    """{import name: installed version} of cgrad and the installed peers."""
    out = {}
    for mod, dist in PEER_PACKAGES.items():
        if importlib.util.find_spec(mod) is not None:
            try:
                out[mod] = version(dist)
            except PackageNotFoundError:
                out[mod] = "?"
    return out


def write_reports(out, results, meta, inference=None, sklearn=None):
    """Write results.md, results.json and results.png into the folder ``out``.

    Parameters
    ----------
    out : pathlib.Path of an existing folder.
    results : training row dicts ([] when the run timed only ``inference`` and/or
        ``sklearn``: no training table, no PNG).
    meta : run metadata (``command``, ``date``, ``cpu``, ``cpus``, ``python``,
        ``numpy``, package versions, ``notes``); the plot's note, if any, is added.
    inference : inference row dicts (:func:`format_inference_table`) or None: their
        table follows the training table, under "## Inference", and results.json
        holds them under ``"inference"``.
    sklearn : the scikit-learn section (:func:`sklearn_markdown`) or None: it follows,
        under "## scikit-learn estimators", and results.json holds it under
        ``"sklearn"``.

    Returns
    -------
    (list of str, list of str): the Markdown report's lines; the names of the files
    written (a results.png left from an earlier run is removed when none is drawn).
    """
    written = ["results.md", "results.json", "results.png"]
    training = bool(results) or (inference is None and sklearn is None)
    plot_note = (plot(results, out / "results.png") if training
                 else "results.png skipped: it shows training times, and this run timed "
                      "no training")
    if plot_note:
        meta["notes"].append(plot_note)
        (out / "results.png").unlink(missing_ok=True)
        written.pop()
    cell_notes = sorted({f"{r['impl']}: {n}" for r in results for n in r.get("notes", [])})
    md = [f"# cgrad peer comparison ({meta['date']})", "", f"`{meta['command']}`", "",
          f"CPU: {meta['cpu']} x{meta['cpus']}; Python {meta['python']}, NumPy {meta['numpy']}"
          + "".join(f", {k} {meta[k]}" for k in PEER_PACKAGES if k in meta), ""]
    md += [format_table(results), ""] if training else []
    md += ["## Inference", "", format_inference_table(inference), ""] if inference else []
    md += sklearn_markdown(sklearn) if sklearn is not None else []
    md += ["Notes:", *[f"- {n}" for n in meta["notes"] + cell_notes]]
    (out / "results.md").write_text("\n".join(md) + "\n")
    doc = {"meta": meta, "results": results}
    doc.update({"inference": inference} if inference is not None else {})
    doc.update({"sklearn": sklearn} if sklearn is not None else {})
    (out / "results.json").write_text(json.dumps(doc, indent=1, default=str))
    return md, written
