"""Where a cgrad W1bn epoch goes: ``fit(profile=True)``'s phases, W1 against W1bn.

Trains, in one process and interleaved epoch by epoch (so the machine's phases hit every
variant alike), cgrad models of MNIST 784-256-128-64-10 (ReLU, Adam 1e-3, batch 128):

- ``plain``: ``MLP(sizes)`` (W1);
- ``bn+dropout``: ``MLP(sizes, batch_norm=True, dropout=0.2)`` (W1bn);
- ``bn``: ``MLP(sizes, batch_norm=True)``; ``dropout``: ``MLP(sizes, dropout=0.2)``
  (which of the two costs what);

and prints, per variant, the median over the timed epochs of the epoch's seconds and of
each phase of the History (``time_gather``, ``time_forward``, ``time_loss``,
``time_backward``, ``time_clip_norm``: the per-layer gradient norms the History records,
``time_update``: Adam), and each median's ratio to ``plain``'s.  One warm-up epoch per
variant is not counted.

    python -m benchmarks.profile_bn --threads 1 --epochs 7
"""
import argparse
import statistics
import time

from cgrad.datasets import load_mnist

SIZES = [784, 256, 128, 64, 10]
VARIANTS = {"plain": {}, "bn+dropout": {"batch_norm": True, "dropout": 0.2},
            "bn": {"batch_norm": True}, "dropout": {"dropout": 0.2}}
PHASES = ("seconds", "time_gather", "time_forward", "time_loss", "time_backward",
          "time_clip_norm", "time_update")


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.profile_bn", description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--epochs", type=int, default=7, help="timed epochs per variant (after 1 warm-up)")
    p.add_argument("--variants", default=",".join(VARIANTS), help=f"from {list(VARIANTS)}")
    p.add_argument("--settle", type=float, default=0.3, help="seconds of pause before each epoch")
    p.add_argument("--samples", type=int, default=None, help="train on the first N images only")
    p.add_argument("--data-dir", default=None,
                   help="folder with the MNIST IDX files (default $CGRAD_DATA, then ~/.cache/cgrad)")
    a = p.parse_args(argv)
    import cgrad
    cgrad.set_num_threads(a.threads)
    X, y = load_mnist(a.data_dir, kind="train")
    if a.samples:
        X, y = X[:a.samples], y[:a.samples]
    names = [v.strip() for v in a.variants.split(",")]
    models = {v: cgrad.MLP(SIZES, seed=0, **VARIANTS[v]) for v in names}
    opts = {v: cgrad.optim.Adam(lr=1e-3) for v in names}
    logs = {v: [] for v in names}
    for e in range(a.epochs + 1):
        order = names[e % len(names):] + names[:e % len(names)]     # rotated every epoch
        for v in order:
            time.sleep(a.settle)
            h = models[v].fit(X, y, optimizer=opts[v], epochs=1, batch_size=128, verbose=0,
                              profile=True, seed=e)
            if e > 0:
                logs[v].append({k: h.history[k][0] for k in PHASES})
    med = {v: {k: statistics.median(d[k] for d in logs[v]) for k in PHASES} for v in names}
    base = med.get("plain")
    head = ["variant"] + [k.replace("time_", "") for k in PHASES]
    lines = [f"cgrad {'-'.join(map(str, SIZES))}, Adam, batch 128, {a.threads} thread(s), "
             f"median of {a.epochs} epochs, seconds (x plain)", "",
             "| " + " | ".join(head) + " |", "|---|" + "---|" * len(PHASES)]
    for v in names:
        cells = [f"{med[v][k]:.3f}" + (f" ({med[v][k] / base[k]:.2f}x)" if base and v != "plain"
                                       and base[k] > 0 else "") for k in PHASES]
        lines.append(f"| {v} | " + " | ".join(cells) + " |")
    if base:
        lines += ["", "extra seconds per epoch over plain:"]
        for v in names:
            if v != "plain":
                lines.append(f"- {v}: " + ", ".join(f"{k.replace('time_', '')} "
                                                   f"{med[v][k] - base[k]:+.3f}" for k in PHASES))
    print("\n".join(lines))
    return med


if __name__ == "__main__":
    main()
