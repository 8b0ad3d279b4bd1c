"""``python -m cgrad.bench``: the same as ``cgrad bench``."""
from .cli import main

raise SystemExit(main(prog="python -m cgrad.bench"))
