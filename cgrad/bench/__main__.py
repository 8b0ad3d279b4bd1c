"""``python -m cgrad.bench``: the same as ``cgrad bench``."""
from .cli import main

if __name__ == "__main__":      # importing the module (e.g. Sphinx's autosummary) runs nothing
    raise SystemExit(main(prog="python -m cgrad.bench"))
