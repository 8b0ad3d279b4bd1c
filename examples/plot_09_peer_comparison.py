"""
cgrad against PyTorch, JAX, NumPy and scikit-learn
==================================================

``cgrad bench`` trains the same MLP with cgrad and its peers, one epoch at a time in
turn, and saves its table as results.json; this example shows a saved run rather than
re-running it (that takes minutes). The run below was made on the project's shared
2-core machine (load average 2.4 to 3.1 while it ran, other jobs alongside), at one thread,
with ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` unset: compare the ratios within it,
not its seconds with another machine's.
"""
import json
from pathlib import Path

import cgrad.plot
from cgrad.bench import report

# sphinx-gallery runs an example from its own folder; a script run elsewhere finds the
# data next to this file
here = Path(__file__).parent if "__file__" in globals() else Path.cwd()
saved = json.loads((here / "data" / "bench_results.json").read_text())
meta, rows = saved["meta"], saved["results"]

# %%
# What was run, where, and with which versions.
print(meta["command"])
print(f"{meta['date']}, CPU {meta['cpu']} x{meta['cpus']}, Python {meta['python']}, "
      f"NumPy {meta['numpy']}, " + ", ".join(f"{k} {meta[k]}" for k in report.PEER_PACKAGES
                                             if k in meta))
for note in meta["notes"]:
    print("-", note)

# %%
# The table: seconds per epoch (median of the timed epochs, min, max), throughput, the
# ratio to cgrad's median in the same group, and the test score after the same epochs.
print(report.format_table(rows))

# %%
# Seconds per epoch, one panel per workload and optimizer (log scale: the peers differ
# by more than an order of magnitude on the tiny W2 network).
fig = cgrad.plot.benchmark_results(rows)
