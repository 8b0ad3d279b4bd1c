"""The peer comparison: train the same MLP on the same data with cgrad and its peers.

``cgrad bench`` (or ``python -m cgrad.bench``) runs every (workload, optimizer,
implementation, threads) cell, each in its own Python process (thread pools, CPU
affinity, FTZ/DAZ and environment variables must be set before a library loads), and
prints a Markdown table: seconds per epoch (median/min/max over ``--repeats`` epochs
after one warm-up epoch), samples/s, GFLOP/s, the fraction of the machine's measured
float32 FMA peak (:mod:`cgrad.bench.peak`), the ratio to cgrad (time_peer / time_cgrad,
> 1 means cgrad is faster) and the test accuracy or MSE after the epochs trained, so
nobody wins by computing less.  Saved to ``--out``: results.md, results.json and
results.png (matplotlib; skipped with a note when it is missing).

Modules: :mod:`~cgrad.bench.workloads` (W1, W1bn, W2, W3, the custom ``--sizes``
network, their data through :mod:`cgrad.datasets`), :mod:`~cgrad.bench.peers` (one
runner per implementation: cgrad, cgrad-dense, numpy, numpy-noftz, torch, jax-step,
jax-scan, sklearn; a missing package skips its cells with a note),
:mod:`~cgrad.bench.worker` (a cell's process), :mod:`~cgrad.bench.scheduler` (the
lockstep interleaving of the cells compared with each other),
:mod:`~cgrad.bench.report` (table, JSON, PNG), :mod:`~cgrad.bench.inference` (the
inference table of ``--inference`` / ``--inference-only``: cgrad against torch and
onnxruntime on the same weights), :mod:`~cgrad.bench.sklearn_table` (the table of
``--sklearn`` / ``--sklearn-only``: ``cgrad.sklearn.MLPClassifier`` against
scikit-learn's, fits interleaved in the bench process), :mod:`~cgrad.bench.cli` (``main``).

FLOP count: (6 * sum(in * out) - 2 * in_0 * out_0) * samples per epoch (W1: 63.1,
W3: 574.6, W2: 2.55 GFLOP per epoch).  Biases, activations, losses and the optimizer
are not counted; for ``cgrad`` on sparse input (which skips the multiplications by
zero) GFLOP/s and the peak fraction are effective rates, ``cgrad-dense`` gives the
executed rate.
"""
from .cli import main
from .peers import IMPLS
from .report import format_table
from .scheduler import lockstep_schedule, round_order, run_group
from .worker import run_cell
from .workloads import (WORKLOADS, epoch_flops, initial_weights, layer_params,
                        synthetic_regression)

__all__ = ["main", "WORKLOADS", "IMPLS", "epoch_flops", "format_table", "run_cell", "run_group",
           "round_order", "lockstep_schedule", "synthetic_regression", "initial_weights",
           "layer_params"]
