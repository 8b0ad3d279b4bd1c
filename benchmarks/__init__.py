"""The checkout's benchmark scripts (``python -m benchmarks.NAME``).

``python -m benchmarks.NAME`` from a checkout puts the checkout first on sys.path, where
cgrad/ has no compiled core unless it was built in place: move it last so an installed
cgrad wins (an editable install finds its build either way).
"""
import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if not any(n.startswith("_core") for n in os.listdir(os.path.join(_ROOT, "cgrad"))):
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _ROOT] + [_ROOT]
