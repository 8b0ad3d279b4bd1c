"""The scikit-learn table of the peer comparison (``cgrad bench --sklearn`` /
``--sklearn-only``, :mod:`cgrad.bench.sklearn_table`) and its checkout script
``python -m benchmarks.sklearn_compare``.

Fast: digits only (MNIST's rows are skipped through a missing data folder), one round,
and the digits fits cut to a few iterations through the workload table."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_cgrad_without

from cgrad import bench
from cgrad.bench import report, sklearn_table

REPO = Path(__file__).resolve().parents[1]
MAX_ITER = 15


@pytest.fixture
def short_digits(monkeypatch):
    """digits-adam and digits-lbfgs stopped after MAX_ITER iterations (a test-only
    shortening of the workload table; the hyperparameters are otherwise the same)."""
    pytest.importorskip("sklearn")
    for w in ("digits-adam", "digits-lbfgs"):
        spec = sklearn_table.WORKLOADS[w]
        monkeypatch.setitem(sklearn_table.WORKLOADS, w,
                            dict(spec, params=dict(spec["params"], max_iter=MAX_ITER)))


def _md_rows(md):
    """{(workload, threads, impl): [cells]} of the section's table in results.md."""
    section = md.split("## scikit-learn estimators", 1)[1].split("Notes:", 1)[0]
    rows = [[c.strip() for c in line.strip("|").split("|")]
            for line in section.splitlines() if line.startswith("| ")]
    assert rows[0] == report._SKLEARN_HEAD
    return {(r[0], int(r[1]), r[2]): r[3:] for r in rows[1:]}


def _check_ok_row(row, cells):
    """An ok row's numbers, and its Markdown cells agreeing with them."""
    assert row["rounds"] == 1 and row["fit_times_s"] == [row["fit_s"]] == [row["fit_min_s"]]
    assert 1 <= row["n_iter"] <= MAX_ITER
    assert row["ms_per_iter"] == pytest.approx(1e3 * row["fit_s"] / row["n_iter"])
    assert 0.5 < row["test_accuracy"] <= 1.0
    assert row["predict_rows"] == 50 * row["n_test"]
    assert row["predict_rows_per_s"] == pytest.approx(row["predict_rows"] / row["predict_s"])
    assert cells == [f"{row['fit_s']:.3f}", f"{row['fit_min_s']:.3f}", str(row["n_iter"]),
                     f"{row['ms_per_iter']:.2f}", f"{row['speedup']:.2f}x",
                     f"{row['test_accuracy']:.4f}", f"{row['predict_rows_per_s']:,.0f}"]


def test_sklearn_only_quick_run(tmp_path, short_digits, monkeypatch):
    """``--sklearn-only``: no training table and no PNG; one row per (workload, threads,
    implementation) with the speed-up and accuracy filled in and results.json agreeing
    with results.md; MNIST's rows skipped with a note (no files), and so are thread
    counts above the CPUs; an OpenBLAS variable in the environment gets a note; the
    training's notes stay out."""
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    monkeypatch.delenv("OPENBLAS_L2_SIZE", raising=False)
    out = tmp_path / "out"
    assert bench.main(["--sklearn-only", "--quick", "--threads", "1,4096",
                       "--sklearn-workloads", "digits-adam,digits-lbfgs,mnist-adam",
                       "--data-dir", str(tmp_path / "nowhere"), "--out", str(out)]) == 0
    doc = json.loads((out / "results.json").read_text())
    md = (out / "results.md").read_text()
    assert doc["results"] == [] and "inference" not in doc and not (out / "results.png").exists()
    assert "| workload | opt | impl |" not in md
    sec = doc["sklearn"]
    assert sec["rounds"] == 1 and sec["threads"] == [1, 4096] and sec["skipped"] is None
    assert len(sec["load_before"]) == len(sec["load_after"]) == 3
    assert sec["summary"].startswith("1 interleaved round per cell (median), threads 1,4096; "
                                     "load average (1, 5, 15 min) ")
    assert sec["summary"] + ":" in md
    cells = _md_rows(md)
    rows = {(r["workload"], r["threads"], r["impl"]): r for r in sec["rows"]}
    assert list(rows) == list(cells) == [
        (w, n, i) for w in ("digits-adam", "digits-lbfgs", "mnist-adam") for n in (1, 4096)
        for i in sklearn_table.IMPLS]
    for w in ("digits-adam", "digits-lbfgs"):
        sk, cg = rows[w, 1, "scikit-learn"], rows[w, 1, "cgrad"]
        assert sk["status"] == cg["status"] == "ok"
        assert sk["speedup"] == 1.0
        assert cg["speedup"] == pytest.approx(sk["fit_s"] / cg["fit_s"])
        assert sk["params"]["solver"] == w.split("-")[1]
        assert (cg["n_train"], cg["n_test"]) == (1347, 450)
        for r in (sk, cg):
            _check_ok_row(r, cells[w, 1, r["impl"]])
        assert rows[w, 4096, "cgrad"]["reason"].startswith("only ")
    for impl in sklearn_table.IMPLS:
        assert rows["mnist-adam", 1, impl]["status"] == "skipped"
        assert cells["mnist-adam", 1, impl][0] == ("skipped: MNIST files not found (--data-dir "
                                                   "DIR, $CGRAD_DATA or --download)")
    notes = doc["meta"]["notes"]
    assert any(n.startswith("scikit-learn estimators: skipped mnist: MNIST files not found")
               for n in notes)
    assert any("--quick: MNIST's first 4,096" in n for n in notes)
    assert not any("OPENBLAS_CORETYPE unset" in n for n in notes)   # the training's note
    assert [n for n in notes if "OPENBLAS" in n] == [
        "scikit-learn estimators: OPENBLAS_CORETYPE='Haswell' in the bench process, where "
        "scikit-learn's fits run: it can slow OpenBLAS (env -u OPENBLAS_CORETYPE cgrad bench ...)"]


def test_sklearn_after_training_without_scikit_learn(tmp_path):
    """``--sklearn`` after the training comparison, as from a wheel without scikit-learn
    (its import blocked): the training table as ever, then the section saying why it was
    skipped; exit status 0."""
    work, out = tmp_path / "empty", tmp_path / "bench"
    work.mkdir()
    r = run_cgrad_without(("sklearn",), ["bench", "--sklearn", "--quick", "--workloads", "W2",
                                         "--impls", "cgrad", "--threads", "1", "--out", str(out)],
                          cwd=work)
    assert r.returncode == 0, r.stderr
    doc = json.loads((out / "results.json").read_text())
    assert [(t["impl"], t["status"]) for t in doc["results"]] == [("cgrad", "ok")]
    assert doc["sklearn"]["rows"] == [] and "scikit-learn" in doc["sklearn"]["skipped"]
    md = (out / "results.md").read_text()
    assert "| W2 tiny | sgd | cgrad | 1 |" in md
    skipped = md.split("## scikit-learn estimators\n\n", 1)[1].splitlines()[0]
    assert skipped.startswith("Skipped: cgrad.sklearn needs scikit-learn")
    assert 'pip install "cgrad[sklearn]"' in skipped
    assert any(n.startswith("scikit-learn estimators: skipped: ") for n in doc["meta"]["notes"])
    assert "## scikit-learn estimators" in r.stdout


def test_format_sklearn_table_hand_made():
    base = dict(workload="digits-adam", threads=1, predict_rows=22500)
    rows = [dict(base, impl="scikit-learn", status="ok", fit_s=0.9071, fit_min_s=0.7634,
                 n_iter=200, ms_per_iter=4.5355, speedup=1.0, test_accuracy=0.98,
                 predict_rows_per_s=656696.4),
            dict(base, impl="cgrad", status="skipped", reason="only 1 CPUs available")]
    lines = report.format_sklearn_table(rows).splitlines()
    assert lines[0] == ("| workload | thr | impl | fit s (median) | min | n_iter_ | ms/iter | "
                        "speed-up | test acc | predict rows/s |")
    assert lines[2] == ("| digits-adam | 1 | scikit-learn | 0.907 | 0.763 | 200 | 4.54 | 1.00x "
                        "| 0.9800 | 656,696 |")
    assert lines[3] == ("| digits-adam | 1 | cgrad | skipped: only 1 CPUs available "
                        "|  |  |  |  |  |  |")


@pytest.mark.parametrize("argv, message", [
    (["--sklearn", "--sklearn-workloads", "digits-adam,cifar"], "unknown scikit-learn workload"),
    (["--sklearn-only", "--sklearn-workloads", ","], "unknown scikit-learn workload"),
    (["--sklearn-only", "--sklearn-rounds", "0"], "--sklearn-rounds must be positive"),
    (["--sklearn-only", "--threads", "1,x"], "--threads needs comma-separated integers")])
def test_bad_sklearn_arguments_stop_before_any_work(tmp_path, argv, message):
    out = tmp_path / "out"
    with pytest.raises(SystemExit, match=message):
        bench.main(argv + ["--out", str(out)])
    assert not out.exists()


def test_sklearn_and_sklearn_only_exclude_each_other(tmp_path, capsys):
    with pytest.raises(SystemExit):
        bench.main(["--sklearn", "--sklearn-only", "--out", str(tmp_path / "out")])
    assert "not allowed with argument" in capsys.readouterr().err


def test_checkout_script_prints_the_table(tmp_path):
    """``python -m benchmarks.sklearn_compare`` (RESULTS.md's command) from a checkout:
    the summary line and the table, through cgrad.bench.sklearn_table."""
    pytest.importorskip("sklearn")
    code = (f"import runpy, sys; sys.path.insert(0, {str(REPO)!r}); "
            "sys.argv[1:] = ['--rounds', '1', '--threads', '1', '--workloads', 'digits-lbfgs']; "
            "runpy.run_module('benchmarks.sklearn_compare', run_name='__main__')")
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("1 interleaved round per cell (median), threads 1; load average")
    assert lines[2].startswith("| workload | thr | impl | fit s (median) |")
    assert lines[4].startswith("| digits-lbfgs | 1 | scikit-learn | ")
    assert lines[5].startswith("| digits-lbfgs | 1 | cgrad | ")
