"""The README's Python examples run as written (so they cannot rot)."""
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_examples_run(tmp_path, monkeypatch):
    if not README.exists():
        pytest.skip("README.md is not next to the tests (installed test tree)")
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) >= 2
    monkeypatch.chdir(tmp_path)          # the example saves a model file
    ns = {}
    for code in blocks:
        if "cgrad.sklearn" in code:
            continue                     # the optional extra: tests/test_sklearn.py runs it
        exec(compile(code, str(README), "exec"), ns)
    assert ns["model"].evaluate(ns["X_te"], ns["y_te"])["accuracy"] > 0.9
    assert (tmp_path / "digits-model.npz").exists()


def sklearn_blocks():
    """The README's code blocks that use cgrad.sklearn (tests/test_sklearn.py runs them)."""
    if not README.exists():
        return []
    return [b for b in re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
            if "cgrad.sklearn" in b]
