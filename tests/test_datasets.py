"""Data sets: MNIST IDX parsing and lookup (real files from the shared data folder and
small synthetic IDX files for the error paths), the embedded digits, splits, CSV/NPZ."""
import gzip
import hashlib
import shutil

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from numpy.testing import assert_array_equal

from cgrad import datasets
from cgrad.datasets import (load_csv, load_digits, load_mnist, load_npz,
                            train_val_test_split)
from conftest import require_mnist

TRAIN_FIRST = [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
TEST_FIRST = [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
IMG, LAB = datasets.MNIST_FILES["test"]


@pytest.fixture(scope="module")
def mnist():
    """The full MNIST, parsed once for this module (the library caches nothing)."""
    d = require_mnist()
    return load_mnist(d)


@pytest.fixture
def no_env(monkeypatch, tmp_path):
    """Point CGRAD_DATA and the user cache at empty folders."""
    monkeypatch.setenv("CGRAD_DATA", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path


def _idx_bytes(arr, magic=None):
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    magic = (0x0800 | arr.ndim) if magic is None else magic
    head = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in arr.shape)
    return head + arr.tobytes()


def _write_split(folder, images, labels, gz=True, img_magic=None, lab_magic=None):
    folder.mkdir(parents=True, exist_ok=True)
    for name, arr, magic in ((IMG, images, img_magic), (LAB, labels, lab_magic)):
        data = _idx_bytes(arr, magic)
        if gz:
            (folder / (name + ".gz")).write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)
    return folder


def _small(rng, n=5):
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n)


# ---------------------------------------------------------------------------- MNIST, real
def test_mnist_shapes_labels_and_range(mnist):
    (Xtr, ytr), (Xte, yte) = mnist
    assert Xtr.shape == (60000, 784) and Xte.shape == (10000, 784)
    assert Xtr.dtype == np.float32 and ytr.dtype == np.int64 and yte.dtype == np.int64
    assert ytr[:10].tolist() == TRAIN_FIRST
    assert yte[:10].tolist() == TEST_FIRST
    for X, y in mnist:
        assert X.min() == 0.0 and X.max() == 1.0
        assert set(np.unique(y)) == set(range(10))
        assert X.flags.writeable and X.flags.c_contiguous
    # pixels are k/255 exactly as float32 would round them
    assert_array_equal(np.round(Xte[:100] * 255) / np.float32(255), Xte[:100])


def test_mnist_kind_flatten_scale_dtype(mnist_dir, mnist):
    X, y = load_mnist(mnist_dir, kind="test", scale=False, flatten=False, dtype="uint8")
    assert X.shape == (10000, 28, 28) and X.dtype == np.uint8
    assert_array_equal(y, mnist[1][1])
    assert_array_equal(X.reshape(10000, -1) / np.float32(255), mnist[1][0])
    X64, _ = load_mnist(mnist_dir, kind="test", dtype=np.float64)
    assert X64.dtype == np.float64 and X64.max() == 1.0
    with pytest.raises(ValueError, match="kind"):
        load_mnist(mnist_dir, kind="val")
    with pytest.raises(ValueError, match="floating dtype"):
        load_mnist(mnist_dir, kind="test", dtype="uint8")


def test_mnist_raw_uncompressed_copy(mnist_dir, mnist, tmp_path):
    for name in (IMG, LAB):
        with gzip.open(mnist_dir / (name + ".gz")) as src:
            (tmp_path / name).write_bytes(src.read())
    X, y = load_mnist(tmp_path, kind="test")
    assert_array_equal(X, mnist[1][0])
    assert_array_equal(y, mnist[1][1])


def test_mnist_found_through_cgrad_data(mnist_dir, mnist, monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("CGRAD_DATA", str(mnist_dir.parent))          # holds mnist/
    assert_array_equal(load_mnist(kind="test")[1], mnist[1][1])
    flat = tmp_path / "flat"                                           # files directly
    flat.mkdir()
    for name in (IMG, LAB):
        shutil.copy(mnist_dir / (name + ".gz"), flat)
    monkeypatch.setenv("CGRAD_DATA", str(flat))
    assert_array_equal(load_mnist(kind="test")[0], mnist[1][0])
    with pytest.raises(FileNotFoundError):                             # train files absent
        load_mnist(kind="train")


# ------------------------------------------------------------------ MNIST, lookup rules
def test_search_order(no_env, monkeypatch):
    env, cache = no_env / "env", no_env / "cache"
    assert datasets.mnist_search_dirs() == [env / "mnist", env, cache / "cgrad" / "mnist"]
    assert datasets.mnist_search_dirs(no_env / "x") == [no_env / "x"]
    monkeypatch.delenv("CGRAD_DATA")
    assert datasets.mnist_search_dirs() == [cache / "cgrad" / "mnist"]
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(no_env / "home"))
    assert datasets.mnist_search_dirs() == [no_env / "home" / ".cache" / "cgrad" / "mnist"]


def test_first_folder_holding_the_files_wins(no_env, rng):
    a, b = _small(rng), _small(rng)
    _write_split(no_env / "env", *a)                       # $CGRAD_DATA itself
    _write_split(no_env / "cache" / "cgrad" / "mnist", *b)
    assert_array_equal(load_mnist(kind="test")[1], a[1])
    _write_split(no_env / "env" / "mnist", *b, gz=False)   # $CGRAD_DATA/mnist comes first
    assert_array_equal(load_mnist(kind="test")[1], b[1])


def test_user_cache_is_searched(no_env, rng):
    images, labels = _small(rng)
    _write_split(no_env / "cache" / "cgrad" / "mnist", images, labels)
    X, y = load_mnist(kind="test", scale=False, dtype="uint8", flatten=False)
    assert_array_equal(X, images)
    assert_array_equal(y, labels)


def test_missing_files_error_lists_places_and_fix(no_env):
    with pytest.raises(FileNotFoundError) as err:
        load_mnist()
    msg = str(err.value)
    for d in datasets.mnist_search_dirs():
        assert str(d) in msg
    assert "download=True" in msg and "CGRAD_DATA" in msg and "path=" in msg
    with pytest.raises(FileNotFoundError, match=str(no_env / "nowhere")):
        load_mnist(no_env / "nowhere")


# ---------------------------------------------------------------- MNIST, IDX validation
@pytest.mark.parametrize("gz", [True, False])
def test_synthetic_idx_round_trip(tmp_path, rng, gz):
    images, labels = _small(rng, 7)
    _write_split(tmp_path, images, labels, gz=gz)
    X, y = load_mnist(tmp_path, kind="test")
    assert_array_equal(X, images.reshape(7, -1).astype(np.float32) / np.float32(255))
    assert_array_equal(y, labels)


def test_corrupted_magic_names_the_file(tmp_path, rng):
    _write_split(tmp_path, *_small(rng), img_magic=0x00000801 + 0x1000)
    with pytest.raises(ValueError, match=f"{IMG}.*magic"):
        load_mnist(tmp_path, kind="test")
    _write_split(tmp_path, *_small(rng), lab_magic=0x00000803)   # images header on labels
    with pytest.raises(ValueError, match=f"{LAB}.*magic"):
        load_mnist(tmp_path, kind="test")


def test_swapped_files_are_rejected(tmp_path, rng):
    images, labels = _small(rng)
    _write_split(tmp_path, images, labels, gz=False)
    (tmp_path / IMG).rename(tmp_path / "tmp")
    (tmp_path / LAB).rename(tmp_path / IMG)
    (tmp_path / "tmp").rename(tmp_path / LAB)
    with pytest.raises(ValueError, match="magic"):
        load_mnist(tmp_path, kind="test")


@pytest.mark.parametrize("cut", [2, 10, 1000])
def test_truncated_idx_names_the_file(tmp_path, rng, cut):
    _write_split(tmp_path, *_small(rng), gz=False)
    f = tmp_path / IMG
    f.write_bytes(f.read_bytes()[:-cut] if cut == 1000 else f.read_bytes()[:cut])
    with pytest.raises(ValueError, match=f"{IMG}.*truncated"):
        load_mnist(tmp_path, kind="test")


def test_trailing_bytes_rejected(tmp_path, rng):
    _write_split(tmp_path, *_small(rng), gz=False)
    with open(tmp_path / LAB, "ab") as fh:
        fh.write(b"\x00")
    with pytest.raises(ValueError, match=f"{LAB}.*trailing"):
        load_mnist(tmp_path, kind="test")


def test_truncated_gzip_names_the_file(tmp_path, rng):
    _write_split(tmp_path, *_small(rng))
    f = tmp_path / (IMG + ".gz")
    f.write_bytes(f.read_bytes()[:-100])
    with pytest.raises(ValueError, match=f"{IMG}.gz.*gzip"):
        load_mnist(tmp_path, kind="test")


def test_label_count_must_match_image_count(tmp_path, rng):
    images, labels = _small(rng, 5)
    _write_split(tmp_path, images, labels[:4])
    with pytest.raises(ValueError, match="4 labels.*5 images"):
        load_mnist(tmp_path, kind="test")


# ------------------------------------------ MNIST download (local file:// mirrors only)
def _mirror(tmp_path, rng):
    """A local 'mirror' folder with the test split as .gz files and their sha256."""
    src = _write_split(tmp_path / "mirror", *_small(rng))
    hashes = {n: hashlib.sha256((src / (n + ".gz")).read_bytes()).hexdigest()
              for n in (IMG, LAB)}
    return src.as_uri() + "/", hashes


def test_download_verifies_and_renames_atomically(tmp_path, rng):
    url, hashes = _mirror(tmp_path, rng)
    dest = tmp_path / "dest"
    bad = (tmp_path / "absent").as_uri() + "/"               # first mirror fails: next one
    out = datasets._download(IMG, dest, mirrors=(bad, url), sha256=hashes[IMG])
    assert out == dest / (IMG + ".gz")
    assert out.read_bytes() == (tmp_path / "mirror" / (IMG + ".gz")).read_bytes()
    assert sorted(p.name for p in dest.iterdir()) == [IMG + ".gz"]   # no temp left


def test_download_checksum_mismatch_deletes_and_raises(tmp_path, rng):
    url, _ = _mirror(tmp_path, rng)
    dest = tmp_path / "dest"
    with pytest.raises(ValueError, match="checksum mismatch"):
        datasets._download(IMG, dest, mirrors=(url,), sha256="0" * 64)
    assert list(dest.iterdir()) == []
    with pytest.raises(OSError, match="any mirror"):
        datasets._download(IMG, dest, mirrors=((tmp_path / "absent").as_uri() + "/",),
                           sha256="0" * 64)
    assert list(dest.iterdir()) == []


def test_load_mnist_download_into_cache(no_env, rng, monkeypatch):
    url, hashes = _mirror(no_env, rng)
    monkeypatch.setattr(datasets, "MNIST_MIRRORS", (url,))
    monkeypatch.setattr(datasets, "MNIST_SHA256", hashes)
    X, y = load_mnist(kind="test", download=True)
    assert X.shape == (5, 784)
    assert (no_env / "cache" / "cgrad" / "mnist" / (LAB + ".gz")).is_file()
    assert_array_equal(load_mnist(kind="test")[1], y)         # now found without download


# ------------------------------------------------------------------------------ digits
def test_digits_shapes_labels_counts():
    X, y = load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float32
    assert y.shape == (1797,) and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    assert_array_equal(X * 16, np.round(X * 16))               # integers 0..16, /16
    assert y[:10].tolist() == list(range(10))
    counts = np.bincount(y)
    assert len(counts) == 10 and counts.sum() == 1797 and counts.min() >= 170
    Xi, yi = load_digits(scale=False, dtype="int64")
    assert Xi.dtype == np.int64 and Xi.max() == 16
    assert_array_equal(Xi / 16, X)
    assert_array_equal(yi, y)
    Xi[0, 0] = 99                                              # calls share nothing
    assert load_digits(scale=False)[0][0, 0] == 0
    with pytest.raises(ValueError, match="floating dtype"):
        load_digits(dtype="int32")


def test_digits_match_sklearn():
    skd = pytest.importorskip("sklearn.datasets")
    ref = skd.load_digits()
    X, y = load_digits(scale=False, dtype="float64")
    assert_array_equal(X, ref.data)
    assert_array_equal(y, ref.target)


# ------------------------------------------------------------------------------ splits
def _ids(n, d=3):
    """Rows whose first column is their index, to follow them through a split."""
    return np.repeat(np.arange(n, dtype=np.float64)[:, None], d, axis=1)


def test_split_default_sizes_disjoint_complete():
    X, y = _ids(1000), np.arange(1000) % 7
    parts = train_val_test_split(X, y)
    Xtr, Xva, Xte, ytr, yva, yte = parts
    assert (len(Xtr), len(Xva), len(Xte)) == (700, 150, 150)
    ids = np.concatenate([Xtr[:, 0], Xva[:, 0], Xte[:, 0]]).astype(int)
    assert_array_equal(np.sort(ids), np.arange(1000))
    for Xp, yp in ((Xtr, ytr), (Xva, yva), (Xte, yte)):
        assert_array_equal(yp, y[Xp[:, 0].astype(int)])       # rows stay paired
    assert not np.array_equal(Xtr[:, 0], np.arange(700))     # shuffled


def test_split_seed_reproducible_and_copies():
    X, y = _ids(200), np.arange(200) % 3
    a = train_val_test_split(X, y, seed=5)
    b = train_val_test_split(X, y, seed=5)
    c = train_val_test_split(X, y, seed=6)
    for u, v in zip(a, b):
        assert_array_equal(u, v)
    assert not np.array_equal(a[0], c[0])
    a[0][:] = -1
    a[3][:] = -1
    assert X.min() == 0 and y.min() == 0


def test_split_no_shuffle_keeps_order():
    X, y = _ids(20), np.arange(20)
    Xtr, Xva, Xte, *_ = train_val_test_split(X, y, val=0.25, test=0.1, shuffle=False)
    assert_array_equal(Xtr[:, 0], np.arange(13))
    assert_array_equal(Xva[:, 0], np.arange(13, 18))
    assert_array_equal(Xte[:, 0], np.arange(18, 20))


def test_split_stratified_keeps_proportions():
    y = np.repeat(np.arange(4), [500, 300, 150, 50])
    X = _ids(len(y))
    _, _, _, ytr, yva, yte = train_val_test_split(X, y, val=0.2, test=0.1, stratify=True)
    assert_array_equal(np.bincount(yte), [50, 30, 15, 5])
    assert_array_equal(np.bincount(yva), [100, 60, 30, 10])
    assert_array_equal(np.bincount(ytr), [350, 210, 105, 35])
    # an unstratified split of the same data is visibly off somewhere
    _, _, _, _, _, yte_u = train_val_test_split(X, y, val=0.2, test=0.1, seed=1)
    assert not np.array_equal(np.bincount(yte_u, minlength=4), [50, 30, 15, 5])


@settings(max_examples=60, deadline=None)
@given(counts=st.lists(st.integers(1, 40), min_size=1, max_size=6),
       val=st.floats(0.0, 0.45), test=st.floats(0.0, 0.45), seed=st.integers(0, 99))
def test_split_stratified_property(counts, val, test, seed):
    y = np.repeat(np.arange(len(counts)), counts)
    n = len(y)
    n_val, n_test = int(np.floor(val * n + 0.5)), int(np.floor(test * n + 0.5))
    if (val > 0 and n_val == 0) or (test > 0 and n_test == 0) or n - n_val - n_test < 1:
        with pytest.raises(ValueError):
            train_val_test_split(_ids(n), y, val=val, test=test, stratify=True, seed=seed)
        return
    Xtr, Xva, Xte, ytr, yva, yte = train_val_test_split(
        _ids(n), y, val=val, test=test, stratify=True, seed=seed)
    assert (len(yva), len(yte), len(ytr)) == (n_val, n_test, n - n_val - n_test)
    ids = np.concatenate([Xtr[:, 0], Xva[:, 0], Xte[:, 0]]).astype(int)
    assert_array_equal(np.sort(ids), np.arange(n))
    c = np.array(counts)
    for part, size in ((yva, n_val), (yte, n_test)):
        got = np.bincount(part, minlength=len(c))
        assert np.all(np.abs(got - c * size / n) < 1 + 1e-9)


@pytest.mark.parametrize("kw,match", [
    (dict(val=0.5, test=0.5), "val \\+ test"),
    (dict(val=-0.1), "val must be in"),
    (dict(test=1.0), "test must be in"),
    (dict(val=0.001), "gives no rows"),
    (dict(stratify=True, shuffle=False), "shuffle"),
])
def test_split_rejects_bad_arguments(kw, match):
    with pytest.raises(ValueError, match=match):
        train_val_test_split(_ids(100), np.arange(100) % 2, **kw)


def test_split_rejects_mismatched_lengths_and_types():
    with pytest.raises(ValueError, match="100 rows but y has 99"):
        train_val_test_split(_ids(100), np.zeros(99))
    with pytest.raises(TypeError, match="val"):
        train_val_test_split(_ids(100), np.zeros(100), val="0.1")
    with pytest.raises(ValueError, match="no training rows"):
        train_val_test_split(_ids(2), np.zeros(2), val=0.3, test=0.45)


# ---------------------------------------------------------------------------- CSV, NPZ
@pytest.mark.parametrize("header", [True, False])
@pytest.mark.parametrize("gz", [True, False])
def test_csv_round_trip_classification(tmp_path, rng, header, gz):
    X = rng.standard_normal((30, 4)).round(6)
    y = rng.integers(0, 3, 30)
    f = tmp_path / ("d.csv.gz" if gz else "d.csv")
    np.savetxt(f, np.column_stack([X, y]), delimiter=",", fmt="%.6f",
               header="a,b,c,d,label" if header else "", comments="")
    Xl, yl = load_csv(f)
    assert Xl.dtype == np.float32 and yl.dtype == np.int64
    assert_array_equal(Xl, X.astype(np.float32))
    assert_array_equal(yl, y)


def test_csv_target_column_delimiter_and_float_target(tmp_path, rng):
    X = rng.standard_normal((10, 3)).round(4)
    t = rng.standard_normal(10).round(4)
    f = tmp_path / "r.tsv"
    np.savetxt(f, np.column_stack([t, X]), delimiter="\t", fmt="%.4f",
               header="price\tx1\tx2\tx3", comments="")
    for target in (0, "price", -4):
        Xl, yl = load_csv(f, target=target, delimiter="\t", dtype="float64")
        assert yl.dtype == np.float64
        assert_array_equal(yl, t)
        assert_array_equal(Xl, X)
    with pytest.raises(ValueError, match="'nope' not in header"):
        load_csv(f, target="nope", delimiter="\t")
    with pytest.raises(ValueError, match="out of range"):
        load_csv(f, target=4, delimiter="\t")
    with pytest.raises(ValueError, match="non-numeric"):      # header read as data
        load_csv(f, delimiter="\t", skip_header=False)


def test_csv_bad_files(tmp_path):
    f = tmp_path / "bad.csv"
    f.write_text("1,2,3\n4,5\n")
    with pytest.raises(ValueError, match="line 2 has 2 fields"):
        load_csv(f)
    f.write_text("1;2;3\n")
    with pytest.raises(ValueError, match="delimiter"):
        load_csv(f)
    f.write_text("a,b\n")
    with pytest.raises(ValueError, match="no data rows"):
        load_csv(f)


@pytest.mark.parametrize("xkey", ["X", "x"])
def test_npz_round_trip(tmp_path, rng, xkey):
    X = rng.standard_normal((12, 5))
    f = tmp_path / "d.npz"
    np.savez(f, **{xkey: X, "y": np.arange(12.0) % 3})        # integral floats -> int
    Xl, yl = load_npz(f)
    assert Xl.dtype == np.float32 and yl.dtype == np.int64
    assert_array_equal(Xl, X.astype(np.float32))
    assert_array_equal(yl, np.arange(12) % 3)
    np.savez(f, X=X, y=np.linspace(0, 1, 12))
    assert load_npz(f, dtype=None)[1].dtype == np.float64
    assert load_npz(f, dtype="float64")[0].dtype == np.float64


def test_npz_errors(tmp_path):
    f = tmp_path / "d.npz"
    np.savez(f, data=np.zeros((3, 2)), target=np.zeros(3))
    with pytest.raises(KeyError, match="'data', 'target'"):
        load_npz(f)
    np.savez(f, X=np.zeros((3, 2)), y=np.zeros(4))
    with pytest.raises(ValueError, match="same number of rows"):
        load_npz(f)
