"""Data sets: the embedded digits, MNIST from IDX files, users' CSV/NPZ files, splits.

Nothing here caches arrays between calls: every loader reads its files again, so two
calls never share (or alias) memory.

MNIST lookup order (first folder that holds every needed file wins):

1. ``path`` if given (then only there);
2. ``$CGRAD_DATA/mnist``, then ``$CGRAD_DATA``;
3. the user cache ``$XDG_CACHE_HOME/cgrad/mnist`` (default ``~/.cache/cgrad/mnist``).

Each IDX file may be gzip-compressed (``train-images-idx3-ubyte.gz``) or raw
(``train-images-idx3-ubyte``); the content decides, not the name.  With
``download=True`` missing files are fetched into ``path`` (or the cache), checked
against the sha256 of the original ``.gz`` files, and renamed into place atomically.
"""
import csv
import gzip
import hashlib
import importlib.resources
import io
import os
import tempfile
import urllib.request
import zlib
from pathlib import Path

import numpy as np

__all__ = ["load_digits", "load_mnist", "mnist_search_dirs", "train_val_test_split",
           "load_csv", "load_npz"]

# ---------------------------------------------------------------------------------------
# MNIST (IDX)
# ---------------------------------------------------------------------------------------
MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
# sha256 of the ORIGINAL .gz files as published (the mirrors serve these bytes).
MNIST_SHA256 = {
    "train-images-idx3-ubyte": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaaea7f4cd7f4a1f0a",
}
MNIST_MIRRORS = (
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
)
_IDX_MAGIC = {"images": 0x00000803, "labels": 0x00000801}   # uint8 data, 3-D / 1-D
_GZIP_MAGIC = b"\x1f\x8b"


def _cache_dir():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "cgrad" / "mnist"


def mnist_search_dirs(path=None):
    """The folders :func:`load_mnist` looks in, in order.

    Parameters
    ----------
    path : str or os.PathLike or None, default=None
        A folder given to `load_mnist`: then only that folder is searched.

    Returns
    -------
    list of pathlib.Path
        ``[path]``, or ``$CGRAD_DATA/mnist`` and ``$CGRAD_DATA`` (if set), then the user cache.
    """
    if path is not None:
        return [Path(path)]
    dirs = []
    env = os.environ.get("CGRAD_DATA")
    if env:
        dirs += [Path(env) / "mnist", Path(env)]
    dirs.append(_cache_dir())
    return dirs


def _find_file(folder, name):
    """``folder/name.gz`` or ``folder/name``, whichever exists (gz first), else None."""
    for candidate in (folder / (name + ".gz"), folder / name):
        if candidate.is_file():
            return candidate
    return None


def _read_maybe_gzip(file):
    data = Path(file).read_bytes()
    if data[:2] != _GZIP_MAGIC:
        return data
    try:
        return gzip.decompress(data)
    except (EOFError, OSError, zlib.error) as exc:   # truncated or corrupted stream
        raise ValueError(f"{file}: corrupted or truncated gzip data ({exc})") from exc


def _parse_idx(file, kind):
    """Parse one IDX file of uint8 ``kind`` ("images" or "labels") into a read-only view."""
    data = _read_maybe_gzip(file)
    expected = _IDX_MAGIC[kind]
    if len(data) < 4:
        raise ValueError(f"{file}: truncated IDX file ({len(data)} bytes, no header)")
    magic = int.from_bytes(data[:4], "big")
    if magic != expected:
        raise ValueError(f"{file}: bad IDX magic number 0x{magic:08x}, expected "
                         f"0x{expected:08x} for MNIST {kind} (wrong or corrupted file)")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{file}: truncated IDX header ({len(data)} bytes, "
                         f"expected at least {header})")
    dims = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    size = int(np.prod(dims))
    if len(data) - header != size:
        what = "truncated" if len(data) - header < size else "has trailing bytes"
        raise ValueError(f"{file}: {what}: {len(data) - header} data bytes, expected "
                         f"{size} for shape {dims}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def _load_split(folder, split, scale, flatten, dtype):
    img_name, lab_name = MNIST_FILES[split]
    img_file, lab_file = _find_file(folder, img_name), _find_file(folder, lab_name)
    images = _parse_idx(img_file, "images")
    labels = _parse_idx(lab_file, "labels")
    if labels.shape[0] != images.shape[0]:
        raise ValueError(f"{lab_file} has {labels.shape[0]} labels but {img_file} has "
                         f"{images.shape[0]} images")
    if flatten:
        images = images.reshape(images.shape[0], -1)
    X = images.astype(dtype)                 # a fresh, writable array (never the buffer)
    if scale:
        X /= 255
    return X, labels.astype(np.int64)


def _holds(folder, names):
    return all(_find_file(folder, n) is not None for n in names)


def _download(name, folder, mirrors=None, sha256=None):
    """Fetch ``name.gz`` from the first mirror that answers into ``folder`` atomically.

    The bytes go to a temporary file in ``folder`` while their sha256 is computed, and
    are renamed to ``name.gz`` only if the hash matches; on a mismatch the temporary
    file is deleted and ValueError raised (a mirror serving other bytes is not retried).
    """
    mirrors = MNIST_MIRRORS if mirrors is None else mirrors
    sha256 = MNIST_SHA256[name] if sha256 is None else sha256
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / (name + ".gz")
    errors = []
    for mirror in mirrors:
        url = mirror + name + ".gz"
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=folder)
        try:
            digest = hashlib.sha256()
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as resp:
                while chunk := resp.read(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
        except OSError as exc:               # URLError, HTTPError, timeouts, disk errors
            os.unlink(tmp)
            errors.append(f"{url}: {exc}")
            continue
        except BaseException:
            os.unlink(tmp)
            raise
        if digest.hexdigest() != sha256:
            os.unlink(tmp)
            raise ValueError(f"checksum mismatch for {url}: sha256 {digest.hexdigest()}, "
                             f"expected {sha256}; the download was deleted")
        os.replace(tmp, target)              # atomic on one file system
        return target
    raise OSError(f"could not download {name}.gz from any mirror:\n  " + "\n  ".join(errors))


def load_mnist(path=None, *, kind="all", scale=True, flatten=True, dtype="float32",
               download=False):
    """Load MNIST from the canonical IDX files.

    Parameters
    ----------
    path : str or os.PathLike or None, default=None
        Folder holding the files; None: search ``$CGRAD_DATA/mnist``, ``$CGRAD_DATA``,
        then the user cache (see :func:`mnist_search_dirs`).
    kind : {"all", "train", "test"}, default="all"
        "all" -> ``((X_train, y_train), (X_test, y_test))``; "train" or "test" ->
        ``(X, y)`` of that split only (only its files are read).
    scale : bool, default=True
        Divide pixels by 255 into [0, 1] (``dtype`` must then be a float type).
    flatten : bool, default=True
        Images as (N, 784) rows, else (N, 28, 28).
    dtype : str or numpy.dtype, default="float32"
        dtype of X (e.g. "float32", "float64", or "uint8" with ``scale=False``).
    download : bool, default=False
        Fetch missing files from the canonical mirrors into ``path`` (or the user
        cache), verifying the sha256 of the original .gz files.

    Returns
    -------
    tuple
        ``(X, y)`` for one split, or ``((X_train, y_train), (X_test, y_test))``; X of
        ``dtype``, y int64 in 0..9.

    Raises
    ------
    FileNotFoundError
        When the files are absent and ``download`` is False (listing the folders
        searched).
    ValueError
        If `kind` is unknown, ``scale`` is asked with a non-float dtype, or a file is
        corrupted or truncated (naming the file), or a download's checksum mismatches.
    OSError
        If a download fails on every mirror.
    """
    if kind not in ("all", "train", "test"):
        raise ValueError(f"kind must be 'all', 'train' or 'test', got {kind!r}")
    dtype = np.dtype(dtype)
    if scale and dtype.kind != "f":
        raise ValueError(f"scale=True needs a floating dtype, got {dtype}")
    splits = ["train", "test"] if kind == "all" else [kind]
    names = [n for s in splits for n in MNIST_FILES[s]]
    dirs = mnist_search_dirs(path)
    folder = next((d for d in dirs if _holds(d, names)), None)
    if folder is None:
        if not download:
            listed = "\n  ".join(str(d) for d in dirs)
            raise FileNotFoundError(
                f"MNIST files {names} (.gz or raw) not found; searched:\n  {listed}\n"
                "Fix: pass path= to the folder holding them, set CGRAD_DATA to a folder "
                "with a mnist/ subfolder, or call load_mnist(download=True) to fetch "
                f"them into {dirs[0] if path is not None else _cache_dir()}.")
        folder = dirs[0] if path is not None else _cache_dir()
        for n in names:
            if _find_file(folder, n) is None:
                _download(n, folder)
    out = [_load_split(folder, s, scale, flatten, dtype) for s in splits]
    return tuple(out) if kind == "all" else out[0]


# ---------------------------------------------------------------------------------------
# Embedded digits
# ---------------------------------------------------------------------------------------
def load_digits(*, scale=True, dtype="float32"):
    """The UCI 8x8 handwritten digits shipped with cgrad: X (1797, 64), y int64 (1797,).

    Pixels are integers 0..16; ``scale`` divides them by 16 into [0, 1].

    Parameters
    ----------
    scale : bool, default=True
        Divide the pixels by 16 into [0, 1] (`dtype` must then be a float type).
    dtype : str or numpy.dtype, default="float32"
        dtype of X.

    Returns
    -------
    X : ndarray, shape (1797, 64)
        Pixels, of `dtype`.
    y : ndarray of int64, shape (1797,)
        Digit labels 0..9.

    Raises
    ------
    ValueError
        If `scale` is asked with a non-float `dtype`.

    Examples
    --------
    >>> from cgrad.datasets import load_digits
    >>> X, y = load_digits()
    >>> X.shape, y.shape
    ((1797, 64), (1797,))
    """
    dtype = np.dtype(dtype)
    if scale and dtype.kind != "f":
        raise ValueError(f"scale=True needs a floating dtype, got {dtype}")
    res = importlib.resources.files("cgrad") / "data" / "digits.csv.gz"
    with res.open("rb") as fh:
        table = np.loadtxt(io.TextIOWrapper(gzip.GzipFile(fileobj=fh), "ascii"),
                           delimiter=",", dtype=np.int64, ndmin=2)
    if table.shape[1] != 65:
        raise ValueError(f"embedded digits.csv.gz has {table.shape[1]} columns, expected 65")
    X = table[:, :64].astype(dtype)
    if scale:
        X /= 16
    return X, np.ascontiguousarray(table[:, 64])


# ---------------------------------------------------------------------------------------
# Splits
# ---------------------------------------------------------------------------------------
def _apportion(total, quotas, caps, rng):
    """Integer counts summing to ``total``, near ``quotas``, each <= its cap.

    Floors first, then +1 for the largest remainders (random tie-break) among entries
    with room left (largest-remainder method)."""
    counts = np.minimum(np.floor(quotas).astype(np.int64), caps)
    remainder = quotas - counts
    order = np.lexsort((rng.random(len(quotas)), -remainder))
    if total > caps.sum():
        raise ValueError(f"cannot place {total} rows in classes holding {caps.sum()}")
    while counts.sum() < total:          # one pass suffices unless caps bind
        for i in order:
            if counts.sum() == total:
                break
            if counts[i] < caps[i]:
                counts[i] += 1
    return counts


def _fraction(name, v):
    if isinstance(v, bool) or not isinstance(v, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name} must be a float fraction, got {type(v).__name__}")
    if not 0.0 <= v < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {v}")
    return float(v)


def train_val_test_split(X, y, *, val=0.15, test=0.15, stratify=False, seed=0,
                         shuffle=True):
    """Split into train/validation/test: ``(X_tr, X_va, X_te, y_tr, y_va, y_te)``.

    ``val`` and ``test`` are fractions of the rows (default 70/15/15); the counts are
    ``frac * n`` rounded half up, and a non-zero fraction must give at least one row.
    With ``stratify`` each class of ``y`` keeps its proportion in every part (within
    one row per class, by the largest-remainder rule).  ``shuffle=False`` keeps the row order
    (train, then val, then test; not allowed with ``stratify``).  The outputs are copies.

    Parameters
    ----------
    X : array_like
        Features, rows first.
    y : array_like
        Targets, one per row of `X` (1-D class labels when `stratify`).
    val : float, default=0.15
        Fraction of the rows for validation, in [0, 1).
    test : float, default=0.15
        Fraction of the rows for testing, in [0, 1); ``val + test < 1``.
    stratify : bool, default=False
        Keep each class's proportion in every part (needs `shuffle`).
    seed : int, default=0
        Seed of the shuffles.
    shuffle : bool, default=True
        Shuffle the rows; False keeps their order.

    Returns
    -------
    tuple of ndarray
        ``(X_tr, X_va, X_te, y_tr, y_va, y_te)``, copies.

    Raises
    ------
    TypeError
        If a fraction is not a number.
    ValueError
        If a fraction is out of range or gives no rows, no training rows are left, the
        row counts differ, or `stratify` comes without `shuffle` or with non-1-D `y`.
    """
    val, test = _fraction("val", val), _fraction("test", test)
    if val + test >= 1.0:
        raise ValueError(f"val + test must be < 1 to leave training rows, got {val + test}")
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim == 0 or y.ndim == 0:
        raise ValueError("X and y must have at least one dimension (rows first)")
    n = X.shape[0]
    if y.shape[0] != n:
        raise ValueError(f"X has {n} rows but y has {y.shape[0]}")
    n_val, n_test = int(np.floor(val * n + 0.5)), int(np.floor(test * n + 0.5))  # half up
    for name, frac, count in (("val", val, n_val), ("test", test, n_test)):
        if frac > 0 and count == 0:
            raise ValueError(f"{name}={frac} of {n} rows gives no rows; use more data or a "
                             "larger fraction")
    if n - n_val - n_test < 1:
        raise ValueError(f"{n} rows leave no training rows with val={val}, test={test}")
    if stratify and not shuffle:
        raise ValueError("stratify=True requires shuffle=True")
    rng = np.random.default_rng(seed)

    if not stratify:
        idx = rng.permutation(n) if shuffle else np.arange(n)
        parts = np.split(idx, [n - n_val - n_test, n - n_test])
    else:
        if y.ndim != 1:
            raise ValueError(f"stratify needs 1-D class labels y, got shape {y.shape}")
        classes, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
        n_te_c = _apportion(n_test, counts * n_test / n, counts, rng)
        n_va_c = _apportion(n_val, counts * n_val / n, counts - n_te_c, rng)
        parts = [[], [], []]
        for c in range(len(classes)):
            members = rng.permutation(np.flatnonzero(inverse == c))
            a, b = counts[c] - n_va_c[c] - n_te_c[c], counts[c] - n_te_c[c]
            for part, chunk in zip(parts, np.split(members, [a, b])):
                part.append(chunk)
        # shuffle within each part so classes are interleaved
        parts = [rng.permutation(np.concatenate(p)) for p in parts]
    tr, va, te = parts
    return X[tr], X[va], X[te], y[tr], y[va], y[te]


# ---------------------------------------------------------------------------------------
# Users' own files
# ---------------------------------------------------------------------------------------
def _target_array(y, source):
    """y as int64 when every value is an integer, else float64."""
    y = np.asarray(y)
    if y.dtype.kind in "iub":
        return y.astype(np.int64)
    if y.dtype.kind != "f":
        raise TypeError(f"{source}: target must be numeric, got dtype {y.dtype}")
    if y.size and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
        return y.astype(np.int64)
    return y.astype(np.float64)


def _is_number(s):
    try:
        float(s)
    except ValueError:
        return False
    return True


def _open_text(path):
    path = Path(path)
    with open(path, "rb") as fh:
        gz = fh.read(2) == _GZIP_MAGIC
    return gzip.open(path, "rt", newline="") if gz else open(path, newline="")


def load_csv(path, *, target=-1, delimiter=",", skip_header="auto", dtype="float32"):
    """Read a numeric table (optionally .gz) into ``(X, y)``.

    Parameters
    ----------
    path : str or os.PathLike
        The file, plain or gzip-compressed.
    target : int or str, default=-1
        Column of y: an index (negative counts from the end) or a header name.
    delimiter : str, default=","
        Field separator.
    skip_header : bool or "auto", default="auto"
        Skip the first line; "auto": skip it if any of its fields is not a number.
    dtype : str or numpy.dtype, default="float32"
        dtype of X.

    Returns
    -------
    X : ndarray, shape (n_rows, n_columns - 1)
        The other columns, of `dtype`.
    y : ndarray
        The target column, int64 when all values are integers, else float64.

    Raises
    ------
    ValueError
        If the file has no data rows, fewer than 2 columns, ragged rows or non-numeric
        fields, or `target` / `skip_header` is invalid.
    TypeError
        If `target` is neither an int nor a str.
    """
    if skip_header not in (True, False, "auto"):
        raise ValueError(f"skip_header must be True, False or 'auto', got {skip_header!r}")
    with _open_text(path) as fh:
        rows = [r for r in csv.reader(fh, delimiter=delimiter) if r and any(f.strip() for f in r)]
    if not rows:
        raise ValueError(f"{path}: no data rows")
    if len(rows[0]) < 2:
        raise ValueError(f"{path}: needs at least 2 columns (features and target), "
                         f"got {len(rows[0])} (wrong delimiter {delimiter!r}?)")
    header = None
    if skip_header is True or (skip_header == "auto"
                               and not all(_is_number(f) for f in rows[0])):
        header, rows = [f.strip() for f in rows[0]], rows[1:]
    if not rows:
        raise ValueError(f"{path}: no data rows after the header")
    width = len(rows[0])
    for i, r in enumerate(rows):
        if len(r) != width:
            line = i + 1 + (header is not None)
            raise ValueError(f"{path}: line {line} has {len(r)} fields, expected {width}")
    if isinstance(target, str):
        if header is None or target not in header:
            raise ValueError(f"{path}: target column {target!r} not in header {header}")
        target = header.index(target)
    if isinstance(target, bool) or not isinstance(target, (int, np.integer)):
        raise TypeError(f"target must be a column index or name, got {type(target).__name__}")
    if not -width <= target < width:
        raise ValueError(f"{path}: target column {target} out of range for {width} columns")
    try:
        table = np.array(rows, dtype=np.float64)
    except ValueError as exc:
        raise ValueError(f"{path}: non-numeric field ({exc})") from exc
    t = target % width
    X = np.delete(table, t, axis=1).astype(dtype)
    return X, _target_array(table[:, t], str(path))


def load_npz(path, *, dtype="float32"):
    """Read ``(X, y)`` from a .npz holding arrays ``X`` and ``y`` (or ``x`` and ``y``).

    y is int64 when all its values are integers, else float64; X has ``dtype``
    (None keeps the stored dtype).

    Parameters
    ----------
    path : str or os.PathLike
        The .npz file.
    dtype : str or numpy.dtype or None, default="float32"
        dtype of X; None keeps the stored one.

    Returns
    -------
    X : ndarray
        Features.
    y : ndarray
        Targets, int64 when all values are integers, else float64.

    Raises
    ------
    KeyError
        If the file lacks ``X``/``x`` or ``y``.
    ValueError
        If X and y do not have the same number of rows.
    TypeError
        If X or y is not numeric.
    """
    with np.load(path, allow_pickle=False) as f:
        keys = list(f.keys())
        xkey = next((k for k in ("X", "x") if k in keys), None)
        if xkey is None or "y" not in keys:
            raise KeyError(f"{path}: expected arrays 'X' (or 'x') and 'y', found {keys}")
        X, y = f[xkey], f["y"]
    if X.ndim == 0 or y.ndim == 0 or X.shape[0] != y.shape[0]:
        raise ValueError(f"{path}: X has shape {X.shape} and y {y.shape}; "
                         "they need the same number of rows")
    if X.dtype.kind not in "iubf":
        raise TypeError(f"{path}: X must be numeric, got dtype {X.dtype}")
    return (X if dtype is None else X.astype(dtype)), _target_array(y, str(path))
