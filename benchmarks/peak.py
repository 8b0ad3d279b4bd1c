"""``python -m benchmarks.peak``: the FMA peak probe, now :mod:`cgrad.bench.peak`."""
from cgrad.bench.peak import main

if __name__ == "__main__":
    raise SystemExit(main())
