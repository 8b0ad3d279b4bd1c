"""The README's and the user guide's Python examples run as written (so they cannot rot)."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
GUIDE_PAGES = sorted([ROOT / "docs" / "getting_started.md", *(ROOT / "docs" / "guide").glob("*.md")])


def python_blocks(path):
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


def test_readme_python_examples_run(tmp_path, monkeypatch):
    if not README.exists():
        pytest.skip("README.md is not next to the tests (installed test tree)")
    blocks = python_blocks(README)
    assert blocks, "the README lost its example"
    monkeypatch.chdir(tmp_path)          # the example saves a model file
    ns = {}
    for code in blocks:
        if "cgrad.sklearn" in code:
            continue                     # the optional extra: tests/test_sklearn.py runs it
        exec(compile(code, str(README), "exec"), ns)
    assert ns["model"].evaluate(ns["X_te"], ns["y_te"])["accuracy"] > 0.9
    assert (tmp_path / "digits-model.npz").exists()


@pytest.mark.parametrize("page", GUIDE_PAGES, ids=lambda p: p.name)
def test_guide_python_examples_run(page, tmp_path, monkeypatch):
    """Each page's blocks run in order in one namespace, in an empty folder."""
    blocks = python_blocks(page)
    if any("cgrad.sklearn" in b for b in blocks):
        pytest.importorskip("sklearn", reason="the page shows the optional sklearn extra")
    monkeypatch.chdir(tmp_path)
    ns = {}
    for code in blocks:
        exec(compile(code, str(page), "exec"), ns)


def test_every_guide_page_is_found():
    if not README.exists():
        pytest.skip("the docs are not next to the tests (installed test tree)")
    names = {p.name for p in GUIDE_PAGES}
    assert {"getting_started.md", "models.md", "training.md", "optimizers.md"} <= names


SKLEARN_PAGE = ROOT / "docs" / "guide" / "sklearn.md"


def sklearn_blocks():
    """The scikit-learn guide page's code blocks (tests/test_sklearn.py runs them and
    checks their scores)."""
    if not SKLEARN_PAGE.exists():
        return []
    return [b for b in python_blocks(SKLEARN_PAGE) if "cgrad.sklearn" in b]
