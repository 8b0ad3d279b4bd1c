"""The ``cgrad`` command.

    cgrad train      train an MLP (default: the embedded UCI digits) and report test metrics
    cgrad optimizers race the optimizers on the digits or a 2-parameter toy surface
    cgrad info       print version, compiler, OpenMP, threads and SIMD level
    cgrad bench      the peer comparison (cgrad.bench): cgrad against NumPy, PyTorch, JAX, scikit-learn
"""
import argparse
import os
import sys
import time

from .compare_optimizers import OPTIMIZER_NAMES


def _int_list(text):
    try:
        vals = [int(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}")
    if not vals or min(vals) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return vals


def _name_list(text):
    names = [v for v in text.replace(" ", "").split(",") if v]
    bad = [n for n in names if n not in OPTIMIZER_NAMES]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"expected some of {','.join(OPTIMIZER_NAMES)}, "
                                         f"got {text!r}")
    return names


def _fraction(text):
    v = float(text)
    if not 0.0 <= v < 1.0:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1), got {text}")
    return v


def _cmd_info(args):
    from . import show_config

    show_config()
    return 0


def _load_data(args):
    """((X_tr, y_tr), (X_va, y_va), (X_te, y_te), name) for --data."""
    import numpy as np

    from . import datasets

    src = args.data
    if src == "digits":
        X, y = datasets.load_digits()
    elif src == "mnist":
        (X, y), (X_te, y_te) = datasets.load_mnist(args.data_dir)
        n_val = int(round(len(X) * args.val))
        X_tr, y_tr, X_va, y_va = X[:len(X) - n_val], y[:len(y) - n_val], X[len(X) - n_val:], y[len(y) - n_val:]
        return (X_tr, y_tr), (X_va, y_va), (X_te, y_te), "mnist"
    elif src.endswith(".npz"):
        X, y = datasets.load_npz(src)
    elif src.endswith(".csv") or src.endswith(".csv.gz"):
        X, y = datasets.load_csv(src)
    else:
        raise SystemExit(f"cgrad train: --data must be 'digits', 'mnist' or a .npz/.csv file, got {src!r}")
    classification = np.issubdtype(np.asarray(y).dtype, np.integer)
    X_tr, X_va, X_te, y_tr, y_va, y_te = datasets.train_val_test_split(
        X, y, val=args.val, test=args.test, stratify=classification, seed=args.seed)
    return (X_tr, y_tr), (X_va, y_va), (X_te, y_te), os.path.basename(src)


def _optimizer(args):
    from . import optim

    kw = {}
    if args.lr is not None:
        kw["lr"] = args.lr
    if args.weight_decay is not None:
        kw["weight_decay"] = args.weight_decay
    name = args.optimizer
    if name == "sgd":
        kw.update(momentum=args.momentum if args.momentum is not None else 0.9,
                  nesterov=args.nesterov)
    elif name in ("adam", "adamw"):
        kw.update(betas=(args.beta1, args.beta2), amsgrad=args.amsgrad)
    elif name == "rmsprop":
        if args.momentum is not None:
            kw["momentum"] = args.momentum
    return optim.get_optimizer(name, **kw)


def _plot_target(path, folder_only=False):
    """("dir", folder) when ``path`` is an existing folder or ends with a path separator
    (created if its parent exists), else ("file", path); a missing parent folder (or a
    file where ``folder_only``) raises."""
    ends_sep = path.endswith(os.sep) or (os.altsep is not None and path.endswith(os.altsep))
    if os.path.isdir(path) or ends_sep:
        folder = os.path.abspath(path)
        if not os.path.isdir(os.path.dirname(folder)):
            raise FileNotFoundError(f"--plot {path}: the folder {os.path.dirname(folder)} "
                                    "does not exist")
        os.makedirs(folder, exist_ok=True)
        return "dir", folder
    if folder_only:
        raise ValueError(f"--plot {path}: expected a folder (an existing one, or a path "
                         f"ending with {os.sep})")
    if not os.path.isdir(os.path.dirname(os.path.abspath(path))):
        raise FileNotFoundError(f"--plot {path}: the folder does not exist")
    return "file", path


def _check_plot_extra(command):
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print(f"cgrad {command}: --plot needs matplotlib, which is not installed: "
              "pip install 'cgrad[plot]' (or leave out --plot)", file=sys.stderr)
        return False
    return True


def _cmd_train(args):
    import numpy as np

    import cgrad
    from . import callbacks as cb_mod

    if args.plot and not _check_plot_extra("train"):
        return 2
    if args.save and not os.path.isdir(os.path.dirname(os.path.abspath(args.save))):
        print(f"cgrad train: --save {args.save}: the folder does not exist", file=sys.stderr)
        return 2
    plot_kind, plot_path = _plot_target(args.plot) if args.plot else (None, None)
    if args.threads is not None:
        cgrad.set_num_threads(args.threads)
    t_load = time.perf_counter()
    (X_tr, y_tr), (X_va, y_va), (X_te, y_te), name = _load_data(args)
    classification = np.issubdtype(np.asarray(y_tr).dtype, np.integer)
    n_in = X_tr.shape[1]
    if classification:
        n_out = int(max(np.max(y) for y in (y_tr, y_va, y_te) if len(y))) + 1
        output, loss = "softmax", "softmax_cross_entropy"
    else:
        n_out = 1 if np.asarray(y_tr).ndim == 1 else y_tr.shape[1]
        output, loss = "identity", args.loss or "mse"
    if args.loss:
        loss = args.loss
    sizes = [n_in] + list(args.hidden) + [n_out]
    model = cgrad.MLP(sizes, activation=args.activation, output=output, init=args.init,
                      dtype=args.dtype, seed=args.seed, dropout=args.dropout,
                      batch_norm=args.batch_norm)
    callbacks = []
    if args.early_stopping:
        callbacks.append(cb_mod.EarlyStopping(monitor="val_loss", patience=args.early_stopping,
                                              restore_best_weights=True))
    trajectory = cb_mod.WeightTrajectory() if plot_kind == "dir" else None
    if trajectory is not None:          # after EarlyStopping: it records the restored weights
        callbacks.append(trajectory)
    sched = None
    if args.schedule != "constant":
        from .schedules import get_schedule
        opt = _optimizer(args)
        kw = {"cosine": {"t_max": args.epochs}, "step": {"step_size": max(1, args.epochs // 3)},
              "exponential": {"gamma": 0.95}, "plateau": {"patience": 3}}[args.schedule]
        sched = get_schedule(args.schedule, opt.lr, **kw)
    else:
        opt = _optimizer(args)
    print(f"cgrad {cgrad.__version__}: {name} ({len(X_tr)} train / {len(X_va)} validation / "
          f"{len(X_te)} test rows, loaded in {time.perf_counter() - t_load:.2f}s), "
          f"{cgrad.get_num_threads()} threads", file=sys.stderr)
    print(f"model {model!r}, optimizer {opt!r}, batch {args.batch_size}, {args.epochs} epochs",
          file=sys.stderr)
    t0 = time.perf_counter()
    hist = model.fit(X_tr, y_tr, loss=loss, optimizer=opt, epochs=args.epochs,
                     batch_size=args.batch_size, validation_data=(X_va, y_va) if len(X_va) else None,
                     callbacks=callbacks, clip_norm=args.clip_norm, l2=args.l2, l1=args.l1,
                     schedule=sched, verbose=args.verbose, seed=args.seed)
    secs = time.perf_counter() - t0
    res = model.evaluate(X_te, y_te, loss=loss)
    parts = "  ".join(f"test_{k} {v:.4f}" for k, v in res.items())
    print(f"trained {len(hist.epoch)} epochs in {secs:.2f}s; {parts}")
    if args.save:
        path = model.save(args.save, optimizer=opt)
        print(f"saved model to {path}", file=sys.stderr)
    if plot_kind is not None:
        _write_train_plots(plot_kind, plot_path, args, model=model, history=hist,
                           data=(X_tr, y_tr), loss=loss, trajectory=trajectory)
    return 0


def _write_train_plots(kind, path, args, *, model, history, data, loss, trajectory):
    """--plot FILE.png: the curves; --plot DIR/: every picture of cgrad.plot."""
    from . import plot

    if kind == "file":
        plot.training_curves(history).savefig(path, dpi=args.dpi)
        written = [path]
    else:
        written = plot.save_training_plots(path, model, history, *data, loss=loss,
                                           trajectory=trajectory, seed=args.seed,
                                           dpi=args.dpi)
    print(f"saved plots: {', '.join(written)}", file=sys.stderr)


def _cmd_optimizers(args):
    from . import compare_optimizers

    if args.plot and not _check_plot_extra("optimizers"):
        return 2
    if args.steps < 1:
        raise ValueError(f"--steps must be >= 1, got {args.steps}")
    plot_dir = _plot_target(args.plot, folder_only=True)[1] if args.plot else None
    if args.threads is not None:
        import cgrad
        cgrad.set_num_threads(args.threads)
    written = compare_optimizers.run(
        toy=args.toy, names=args.optimizers, epochs=args.epochs, steps=args.steps,
        hidden=args.hidden, batch_size=args.batch_size, target=args.target, seed=args.seed,
        plot_dir=plot_dir, dpi=args.dpi)
    if written:
        print(f"saved plots: {', '.join(written)}", file=sys.stderr)
    return 0


def _cmd_bench(argv):
    from .bench import main as bench_main

    return bench_main(argv)


def _add_optimizers_parser(sub):
    """The options of `cgrad optimizers` (cgrad.compare_optimizers.run does the work)."""
    op = sub.add_parser(
        "optimizers", help="race SGD, momentum, Nesterov, Adam, RMSprop, Adagrad and L-BFGS",
        description="Train the same network from the same initial weights with each "
                    "optimizer (default: the embedded digits, 64-32-10, 30 epochs) and "
                    "print final training loss, test accuracy, epochs to a target loss "
                    "and seconds; or, with --toy, run each optimizer's exact update rule "
                    "on a 2-parameter surface.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    op.add_argument("--toy", default=None, choices=["linear", "saddle"],
                    help="linear: the linear-regression cost J(w0, w1); saddle: "
                         "x^4/4 - x^2/2 + y^2/2 (saddle at 0, minima at (+-1, 0))")
    op.add_argument("--optimizers", type=_name_list, default=",".join(OPTIMIZER_NAMES),
                    help="comma-separated, some of the default ones")
    op.add_argument("--epochs", type=int, default=30, help="epochs (L-BFGS: iterations)")
    op.add_argument("--steps", type=int, default=100, help="steps on a --toy surface")
    op.add_argument("--hidden", type=_int_list, default=[32], help="hidden layer sizes")
    op.add_argument("--batch-size", type=int, default=32)
    op.add_argument("--target", type=float, default=None,
                    help="the loss to reach (default: 0.1; toy: the minimum plus 1%% of "
                         "the starting gap)")
    op.add_argument("--seed", type=int, default=0)
    op.add_argument("--threads", type=int, default=None, help="OpenMP threads")
    op.add_argument("--plot", default=None, metavar="DIR/",
                    help="write the loss curves and the paths on one landscape (toy: the "
                         "paths over the contours) as PNG files into this folder")
    op.add_argument("--dpi", type=int, default=100, help="resolution of the --plot pictures")
    op.set_defaults(func=_cmd_optimizers)


def build_parser():
    p = argparse.ArgumentParser(prog="cgrad", description="cgrad: fast MLP training on the CPU.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    sp = sub.add_parser("info", help="print version, compiler, OpenMP, threads and SIMD level")
    sp.set_defaults(func=_cmd_info)

    tp = sub.add_parser(
        "train", help="train an MLP and report test metrics (default: the embedded digits)",
        description="Train an MLP with cgrad's compiled loop and report per-epoch metrics and "
                    "the final test accuracy.  With no arguments: the embedded UCI digits, "
                    "64-128-64-10 ReLU, Adam, 30 epochs.  Classification when the labels are "
                    "integers (softmax cross-entropy), regression otherwise (MSE).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    tp.add_argument("--data", default="digits",
                    help="'digits' (embedded), 'mnist' (IDX files from --data-dir, $CGRAD_DATA or "
                         "the cache) or a .npz (X, y) / .csv (label last) file of yours")
    tp.add_argument("--data-dir", default=None, help="folder with the MNIST IDX files")
    tp.add_argument("--hidden", type=_int_list, default=[128, 64],
                    help="hidden layer sizes, comma-separated (input/output sizes come from the data)")
    tp.add_argument("--activation", default="relu",
                    choices=["relu", "leaky_relu", "tanh", "sigmoid", "elu", "gelu", "identity"])
    tp.add_argument("--dropout", type=_fraction, default=0.0, metavar="P",
                    help="dropout after every hidden layer (training only)")
    tp.add_argument("--batch-norm", action="store_true",
                    help="BatchNorm1d between every hidden layer and its activation")
    tp.add_argument("--init", default=None,
                    choices=["glorot_uniform", "glorot_normal", "he_uniform", "he_normal"],
                    help="weight initialisation (default: He for ReLU-like, else Glorot)")
    tp.add_argument("--loss", default=None,
                    choices=["softmax_cross_entropy", "hinge", "mse", "mae"],
                    help="loss (default: softmax_cross_entropy for labels, mse otherwise)")
    tp.add_argument("--optimizer", default="adam",
                    choices=["adam", "adamw", "sgd", "rmsprop", "adagrad"])
    tp.add_argument("--lr", type=float, default=None, help="learning rate (optimizer default)")
    tp.add_argument("--momentum", type=float, default=None, help="SGD (default 0.9) / RMSprop momentum")
    tp.add_argument("--nesterov", action="store_true", help="Nesterov momentum (SGD)")
    tp.add_argument("--beta1", type=float, default=0.9, help="Adam beta1")
    tp.add_argument("--beta2", type=float, default=0.999, help="Adam beta2")
    tp.add_argument("--amsgrad", action="store_true", help="AMSGrad variant of Adam")
    tp.add_argument("--weight-decay", type=float, default=None, help="optimizer weight decay")
    tp.add_argument("--schedule", default="constant",
                    choices=["constant", "step", "exponential", "cosine", "plateau"],
                    help="learning-rate schedule (per epoch)")
    tp.add_argument("--batch-size", type=int, default=32)
    tp.add_argument("--epochs", type=int, default=30)
    tp.add_argument("--l1", type=float, default=0.0, help="L1 penalty on the weights")
    tp.add_argument("--l2", type=float, default=0.0, help="L2 penalty on the weights")
    tp.add_argument("--clip-norm", type=float, default=None, help="clip gradients to this global L2 norm")
    tp.add_argument("--early-stopping", type=int, default=0, metavar="PATIENCE",
                    help="stop after PATIENCE epochs without val_loss improvement (0: off)")
    tp.add_argument("--val", type=_fraction, default=0.15, help="validation fraction")
    tp.add_argument("--test", type=_fraction, default=0.15,
                    help="test fraction (MNIST uses its own 10,000-image test set)")
    tp.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    tp.add_argument("--threads", type=int, default=None, help="OpenMP threads (default: all / OMP_NUM_THREADS)")
    tp.add_argument("--seed", type=int, default=0)
    tp.add_argument("--save", default=None, metavar="PATH.npz", help="save the trained model (+ optimizer state)")
    tp.add_argument("--plot", default=None, metavar="DIR/ or PATH.png",
                    help="a folder (existing, or ending with a path separator): write "
                         "curves.png, grad_norms.png, landscape.png (the loss around the "
                         "trained weights along the principal directions of the weight "
                         "path; over at most 2000 training rows) and, for 2-D data, "
                         "decision_regions.png; a .png file: the curves alone "
                         "(needs matplotlib)")
    tp.add_argument("--dpi", type=int, default=100, help="resolution of the --plot pictures")
    tp.add_argument("--verbose", type=int, default=1, choices=[0, 1, 2],
                    help="0 silent, 1 progress bar on a terminal, 2 one line per epoch")
    tp.set_defaults(func=_cmd_train)

    _add_optimizers_parser(sub)

    # `cgrad bench ARGS` hands ARGS to cgrad.bench (see main); listed for --help
    sub.add_parser("bench", help="compare cgrad with PyTorch, JAX, scikit-learn and NumPy "
                                 "(`cgrad bench --help`)")
    return p


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:           # its own options belong to the comparison runner
        return _cmd_bench(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    if getattr(args, "threads", None) is not None and args.threads < 1:
        parser.error("--threads must be >= 1")
    if getattr(args, "batch_size", 1) < 1 or getattr(args, "epochs", 1) < 0:
        parser.error("--batch-size must be >= 1 and --epochs >= 0")
    try:
        return args.func(args)
    except (ValueError, TypeError, FileNotFoundError, FloatingPointError) as exc:
        # bad data or options found while running: the message, not a traceback
        print(f"cgrad {argv[0]}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
