"""Test accuracy of W1 with and without BatchNorm1d + Dropout, cgrad and PyTorch, one run.

MNIST 784-256-128-64-10, ReLU, softmax cross-entropy, Adam 1e-3, batch 128, 5 epochs
(default), for:

- ``cgrad plain``: ``cgrad.MLP(sizes)`` (workload W1 of ``cgrad bench``);
- ``cgrad bn+dropout``: ``cgrad.MLP(sizes, batch_norm=True, dropout=0.2)`` (W1bn);
- ``torch bn+dropout``: ``nn.Sequential`` of Linear -> BatchNorm1d -> ReLU -> Dropout(0.2)
  per hidden layer, from the same initial weights as cgrad's W1bn model;
- with ``--impls``, also ``torch`` plain and ``jax-scan`` (either network).

The networks are the comparison runner's own (``cgrad.bench.peers.RUNNERS``: the same
builders, initial weights and per-epoch shuffles as ``cgrad bench``), run here one
after the other in this process; nothing is timed.  The test set is scored in eval mode
(running statistics, no dropout) after every epoch.  cgrad's plain and BN models drawn
from one seed have the same Dense weights (BatchNorm1d draws nothing), so all three start
from the same W.

    python -m benchmarks.accuracy_bn                       # seed 0, 5 epochs
    python -m benchmarks.accuracy_bn --seeds 0,1,2 --impls cgrad,torch,jax-scan
"""
import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from cgrad.bench.peers import RUNNERS
from cgrad.bench.workloads import (LR, MOMENTUM, WORKLOADS as BENCH_WORKLOADS,
                                     initial_weights, layer_params, load_arrays)

WORKLOADS = ("W1", "W1bn")


def _cell(w, impl, seed, threads):
    return dict(workload=w, optimizer="adam", lr=LR["adam"], momentum=MOMENTUM,
                impl=impl, threads=threads, seed=seed)


def run_one(w, impl, seed, data, init, epochs, threads):
    """Train one (workload, implementation) for ``epochs``; the test metrics after each."""
    runner = RUNNERS[impl](_cell(w, impl, seed, threads), data, init)
    runner.setup()
    curve = []
    t0 = time.perf_counter()
    for e in range(epochs):
        runner.epoch(e)
        curve.append(runner.evaluate())
    return {"curve": curve, "seconds": time.perf_counter() - t0, "notes": runner.notes}


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.accuracy_bn", description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--seeds", default="0", help="comma-separated seeds (initial weights, shuffles, masks)")
    p.add_argument("--impls", default="cgrad,torch",
                   help="from cgrad, torch, jax-scan; cgrad runs both networks, the peers "
                        "run W1bn (and W1 too with --peer-plain)")
    p.add_argument("--peer-plain", action="store_true", help="the peers also train the plain W1 network")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--samples", type=int, default=None, help="train on the first N images only (smoke runs)")
    p.add_argument("--data-dir", default=None,
                   help="folder with the MNIST IDX files (default $CGRAD_DATA, then ~/.cache/cgrad)")
    p.add_argument("--out", default=None, help="write the results as JSON here")
    a = p.parse_args(argv)
    import cgrad
    cgrad.set_num_threads(a.threads)
    data = load_arrays(BENCH_WORKLOADS["W1"], data_dir=a.data_dir, n_train=a.samples)
    seeds = [int(s) for s in a.seeds.split(",")]
    impls = [i.strip() for i in a.impls.split(",") if i.strip()]
    runs = []                                         # (label, workload key, impl)
    for impl in impls:
        for key in WORKLOADS:
            if impl == "cgrad" or key == "W1bn" or a.peer_plain:
                runs.append((f"{impl} {'bn+dropout' if key == 'W1bn' else 'plain'}", key, impl))
    results = {label: [] for label, _, _ in runs}
    for seed in seeds:
        inits = {}
        for key in WORKLOADS:
            inits[key] = initial_weights(BENCH_WORKLOADS[key], seed)
        plain_W, bn_W = inits["W1"][0::2], layer_params(inits["W1bn"], 4, True)
        assert all(np.array_equal(a_, b_[0]) for a_, b_ in zip(plain_W, bn_W)), "different W"
        for label, key, impl in runs:
            r = run_one(BENCH_WORKLOADS[key], impl, seed, data, inits[key], a.epochs, a.threads)
            r["seed"] = seed
            results[label].append(r)
            acc = " ".join(f"{m['accuracy']:.4f}" for m in r["curve"])
            print(f"seed {seed} {label:18s} test accuracy by epoch: {acc}  ({r['seconds']:.1f} s)",
                  flush=True)
    lines = [f"MNIST 784-256-128-64-10, Adam 1e-3, batch 128, {a.epochs} epochs, "
             f"{a.threads} thread(s), seeds {a.seeds}; test set scored in eval mode", "",
             "| " + " | ".join(["network"] + [f"acc seed {s}" for s in seeds]
                                + (["mean"] if len(seeds) > 1 else [])
                                + [f"test loss seed {seeds[0]}"]) + " |",
             "|---|" + "---|" * (len(seeds) + (1 if len(seeds) > 1 else 0) + 1)]
    for label, rs in results.items():
        accs = [r["curve"][-1]["accuracy"] for r in rs]
        row = f"| {label} | " + " | ".join(f"{x:.4f}" for x in accs)
        if len(seeds) > 1:
            row += f" | {statistics.mean(accs):.4f}"
        row += f" | {rs[0]['curve'][-1]['loss']:.4f} |"
        lines.append(row)
    print()
    print("\n".join(lines))
    if a.out:
        Path(a.out).write_text(json.dumps({"command": "python -m benchmarks.accuracy_bn "
                                           + " ".join(argv if argv is not None else sys.argv[1:]),
                                           "results": results, "table": lines}, indent=1, default=str))
    return {label: [r["curve"][-1]["accuracy"] for r in rs] for label, rs in results.items()}


if __name__ == "__main__":
    main()
