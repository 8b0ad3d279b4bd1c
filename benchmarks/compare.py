"""``python -m benchmarks.compare ...``: the peer comparison, now :mod:`cgrad.bench`
(``cgrad bench ...`` from an installed cgrad); kept for the commands in RESULTS.md.
The benchmarks package puts an installed cgrad ahead of the checkout's folder."""
from cgrad.bench import main

if __name__ == "__main__":
    raise SystemExit(main(prog="python -m benchmarks.compare"))
