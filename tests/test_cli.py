"""The cgrad command line: the default main job, options, saving, plotting, errors."""
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import cgrad


def run(args, env=None, cwd="/"):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "cgrad"] + args, capture_output=True,
                          text=True, env=e, cwd=cwd)


def _metric(text, name):
    m = re.search(rf"{name} ([0-9.]+)", text)
    assert m, text
    return float(m.group(1))


def test_default_train_on_embedded_digits_reaches_96_percent():
    out = run(["train"])
    assert out.returncode == 0, out.stderr
    assert _metric(out.stdout, "test_accuracy") >= 0.96
    assert "epoch 30/30" in out.stderr and "val_accuracy" in out.stderr


def test_help_documents_the_options():
    out = run(["train", "--help"])
    assert out.returncode == 0
    for opt in ("--data", "--hidden", "--activation", "--optimizer", "--lr", "--schedule",
                "--batch-size", "--epochs", "--threads", "--seed", "--save", "--plot"):
        assert opt in out.stdout


def test_options_save_and_reload(tmp_path):
    path = tmp_path / "m.npz"
    out = run(["train", "--hidden", "32", "--activation", "tanh", "--optimizer", "sgd",
               "--lr", "0.05", "--momentum", "0.9", "--schedule", "cosine", "--epochs", "5",
               "--batch-size", "64", "--threads", "1", "--seed", "3", "--save", str(path),
               "--verbose", "0"])
    assert out.returncode == 0, out.stderr
    m = cgrad.load(path)
    assert m.layer_sizes == [64, 32, 10] and m.activation == "tanh"
    assert _metric(out.stdout, "test_accuracy") > 0.8


def test_dropout_and_batch_norm_options(tmp_path):
    path = tmp_path / "bn.npz"
    out = run(["train", "--hidden", "48", "--dropout", "0.2", "--batch-norm", "--epochs", "8",
               "--threads", "1", "--save", str(path), "--verbose", "0"])
    assert out.returncode == 0, out.stderr
    m = cgrad.load(path)
    assert [type(layer).__name__ for layer in m.layers] == [
        "Dense", "BatchNorm1d", "Activation", "Dropout", "Dense"]
    assert m.dropout == 0.2 and m.batch_norm and m.step_count > 0
    assert not np.array_equal(m.layers[1].running_var, np.ones(48))
    assert _metric(out.stdout, "test_accuracy") > 0.8
    bad = run(["train", "--dropout", "1.5"])
    assert bad.returncode != 0 and "fraction in [0, 1)" in bad.stderr


def test_user_npz_regression(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (400, 2))
    y = X[:, 0] * X[:, 1] + 0.5 * X[:, 0]
    np.savez(tmp_path / "reg.npz", X=X, y=y)
    out = run(["train", "--data", str(tmp_path / "reg.npz"), "--hidden", "32,32",
               "--activation", "tanh", "--epochs", "40", "--lr", "0.01", "--verbose", "0"])
    assert out.returncode == 0, out.stderr
    assert "test_r2" in out.stdout and _metric(out.stdout, "test_r2") > 0.8


def test_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    png = tmp_path / "curves.png"
    out = run(["train", "--epochs", "3", "--plot", str(png), "--verbose", "0"])
    assert out.returncode == 0, out.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_dir_writes_every_picture(tmp_path):
    pytest.importorskip("matplotlib")
    from matplotlib.image import imread
    folder = tmp_path / "pics"            # does not exist yet: the trailing separator says
    out = run(["train", "--epochs", "3", "--threads", "1", "--plot", f"{folder}{os.sep}",
               "--verbose", "0"])
    assert out.returncode == 0, out.stderr
    assert sorted(os.listdir(folder)) == ["curves.png", "grad_norms.png", "landscape.png"]
    for name in os.listdir(folder):
        assert (folder / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert imread(str(folder / name)).std() > 0.01
    rng = np.random.default_rng(0)               # 2-D classification: + decision regions
    X = rng.normal(size=(300, 2))
    np.savez(tmp_path / "blobs.npz", X=X, y=(X[:, 0] * X[:, 1] > 0).astype(np.int64))
    out = run(["train", "--data", str(tmp_path / "blobs.npz"), "--hidden", "16",
               "--epochs", "5", "--threads", "1", "--plot", str(folder), "--verbose", "0"])
    assert out.returncode == 0, out.stderr
    assert imread(str(folder / "decision_regions.png")).std() > 0.01
    out = run(["train", "--plot", str(tmp_path / "no" / "such" / "dir") + os.sep])
    assert out.returncode == 2 and "does not exist" in out.stderr


def test_plot_without_matplotlib_says_so_before_training(tmp_path):
    fake = tmp_path / "fake" / "matplotlib"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('no matplotlib here')\n")
    out = run(["train", "--plot", str(tmp_path / "x.png")],
              env={"PYTHONPATH": str(tmp_path / "fake")})
    assert out.returncode == 2
    assert "needs matplotlib" in out.stderr and "epoch" not in out.stderr


def test_bad_data_argument_is_reported():
    out = run(["train", "--data", "nosuch.txt"])
    assert out.returncode != 0 and "--data must be" in out.stderr
    out = run(["train", "--threads", "0"])
    assert out.returncode != 0 and "--threads" in out.stderr


def test_mnist_from_the_data_folder(mnist_dir):
    out = run(["train", "--data", "mnist", "--data-dir", str(mnist_dir), "--hidden", "64",
               "--epochs", "1", "--batch-size", "128", "--verbose", "0"])
    assert out.returncode == 0, out.stderr
    assert _metric(out.stdout, "test_accuracy") > 0.9


def test_bench_is_part_of_the_package(tmp_path):
    """``cgrad bench`` needs no source tree: its help and its argument checks work from
    any folder (tests/test_compare.py runs it end to end)."""
    out = run(["bench", "--help"], cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr
    for opt in ("--quick", "--workloads", "--impls", "--sizes", "--data", "--layers", "--out"):
        assert opt in out.stdout
    out = run(["bench", "--impls", "cgrad,nosuch"], cwd=str(tmp_path))
    assert out.returncode != 0 and "unknown implementation(s) ['nosuch']" in out.stderr
    assert not any(tmp_path.iterdir())


def test_a_missing_output_folder_is_reported_before_training(tmp_path):
    out = run(["train", "--save", str(tmp_path / "nope" / "m.npz")])
    assert out.returncode == 2 and "folder does not exist" in out.stderr
    assert "epoch" not in out.stderr
