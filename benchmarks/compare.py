"""``python -m benchmarks.compare ...``: the peer comparison, now :mod:`cgrad.bench`
(``cgrad bench ...`` from an installed cgrad); kept for the commands in RESULTS.md."""
import os
import sys

# `python -m benchmarks.compare` from a checkout puts the checkout first on sys.path, where
# cgrad/ has no compiled core: move it last so an installed cgrad wins (an editable
# install finds its build either way).
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if not any(n.startswith("_core") for n in os.listdir(os.path.join(_ROOT, "cgrad"))):
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _ROOT] + [_ROOT]

from cgrad.bench import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main(prog="python -m benchmarks.compare"))
