"""Every public name of cgrad has a numpydoc docstring that matches its signature.

The API reference (docs/) is generated from these docstrings, so a public function,
class, method or property without one, a parameter left undocumented, a documented
parameter the signature does not have, or a section numpydoc does not know, is a
defect in the reference.  Each public name is one test, named by its import path.
"""
import importlib
import inspect
import sys
import warnings

import pytest
from numpydoc.validate import validate

# Modules whose public names are documented: one line per module.  A module maps to the
# optional dependencies that must import for it to be checked (empty: always checked).
MODULES = {
    "cgrad": (),
    "cgrad.nn": (),
    "cgrad.optim": (),
    "cgrad.losses": (),
    "cgrad.callbacks": (),
    "cgrad.datasets": (),
    "cgrad.metrics": (),
    "cgrad.schedules": (),
    "cgrad.ops": (),
    "cgrad.reference": (),
    "cgrad.onnx": (),
    "cgrad.model": (),
    "cgrad.sklearn": ("sklearn", "scipy"),
    "cgrad.bench": (),
    "cgrad.bench.inference": (),
    "cgrad.bench.sklearn_table": (),
    "cgrad.landscape": (),
    "cgrad.plot": ("matplotlib",),
    "cgrad.toy": (),
    "cgrad.compare_optimizers": (),
}
# What each name is checked for: GL08 no docstring, PR01 a parameter not documented,
# PR02 a documented parameter the signature lacks, GL06 a section numpydoc does not know.
FAILING_CODES = ("GL08", "PR01", "PR02", "GL06")


def _public_names(module):
    """The module's ``__all__``, else its names not starting with "_" defined in it (or,
    for a package, in one of its submodules)."""
    if hasattr(module, "__all__"):
        return list(module.__all__)
    def defined_here(obj):
        where = getattr(obj, "__module__", None) or ""
        return where == module.__name__ or where.startswith(module.__name__ + ".")

    return [name for name, obj in vars(module).items()
            if not name.startswith("_") and not inspect.ismodule(obj) and defined_here(obj)]


def _members(cls):
    """Public methods and properties defined in the class itself (not inherited), with
    methods behind descriptors such as scikit-learn's ``available_if``; not the methods
    a base class generates (scikit-learn's ``set_fit_request``: not cgrad's code)."""
    names = []
    for name, obj in vars(cls).items():
        code = obj.fget if isinstance(obj, property) else getattr(cls, name, None)
        if (not name.startswith("_") and (isinstance(obj, property) or inspect.isroutine(code))
                and (getattr(code, "__module__", None) or "").startswith("cgrad")):
            names.append(name)
    return names


def public_api():
    """(import path, skip reason or None) for every documented public name, each object
    once (its first path in MODULES order), modules, functions, classes and members."""
    paths, seen = [], set()

    def add(path, obj):
        if id(obj) in seen:
            return
        seen.add(id(obj))
        paths.append((path, None))
        if inspect.isclass(obj):
            for name in _members(obj):
                paths.append((f"{path}.{name}", None))

    for modname, requires in MODULES.items():
        try:
            for dependency in requires:
                importlib.import_module(dependency)
        except ImportError as exc:
            paths.append((modname, f"optional dependency missing: {exc}"))
            continue
        module = importlib.import_module(modname)
        add(modname, module)
        for name in _public_names(module):
            obj = getattr(module, name)
            if inspect.ismodule(obj) or inspect.isclass(obj) or inspect.isroutine(obj):
                add(f"{modname}.{name}", obj)
    return paths


API = public_api()


def test_public_api_is_not_empty():
    checked = [path for path, skip in API if skip is None]
    assert len(checked) > 100, checked
    assert "cgrad.Sequential.fit" in checked and "cgrad.nn.Dense" in checked


@pytest.mark.parametrize(
    "path", [pytest.param(path, marks=pytest.mark.skip(reason=skip) if skip else ())
             for path, skip in API],
    ids=[path for path, _ in API])
def test_numpydoc(path):
    if inspect.ismodule(sys.modules.get(path)):
        # numpydoc cannot place a module without a def/class in it (StopIteration): a
        # module needs its docstring, which has no Parameters to check.
        assert inspect.getdoc(sys.modules[path]), f"GL08: module {path} has no docstring"
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = validate(path)
    problems = [f"{code}: {msg}" for code, msg in result["errors"] if code in FAILING_CODES]
    problems += [f"numpydoc: {w.message}" for w in caught if "Unknown section" in str(w.message)]
    assert not problems, f"{path} ({result['file']}:{result['file_line']}):\n" + "\n".join(problems)
