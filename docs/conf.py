"""Sphinx configuration: numpydoc API pages, MyST guide pages and a sphinx-gallery of
examples executed at build time (`python -m sphinx -W -b html docs docs/_build/html`)."""
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# `python -m sphinx` run from the checkout puts the checkout first on sys.path, where
# cgrad/ has no compiled modules: drop it so the installed package is the one documented.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT]
import cgrad  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent / "_ext"))
# The gallery's networks are small: one thread is the fastest setting for them and keeps
# the build's run time steady on a shared machine.
cgrad.set_num_threads(1)

project = "cgrad"
author = "the cgrad developers"
copyright = "2026, the cgrad developers"
release = cgrad.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py",
                    "auto_examples/*.zip", "auto_examples/*.json", "auto_examples/*.md5",
                    "auto_examples/*.pickle", "sg_execution_times.rst"]
myst_heading_anchors = 3
myst_enable_extensions = ["dollarmath"]

autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
numpydoc_show_class_members = False       # the class pages list members through autodoc
numpydoc_class_members_toctree = False
numpydoc_validation_checks = set()        # tests/test_docstrings.py validates instead

html_theme = "pydata_sphinx_theme"
html_title = f"cgrad {release}"
html_theme_options = {"navigation_with_keys": False, "show_prev_next": False}
html_static_path = []



def _skip_member(app, what, name, obj, skip, options):
    # scikit-learn's metadata-routing setters (set_fit_request, ...) are generated on every
    # estimator and documented by scikit-learn, in terms of its own glossary
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_member)


# The gallery runs every example when the docs build: a failing example fails the build.
# Examples use the Agg backend and stay on the machine's threads (no network).
os.environ.setdefault("MPLBACKEND", "Agg")
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "matplotlib_animations": False,
    "image_scrapers": ("cgrad_gallery.figures",),
    "reset_modules": ("matplotlib",),
    "show_memory": False,
    "plot_gallery": "True",
}
