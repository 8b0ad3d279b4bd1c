"""The ``cgrad`` command: ``cgrad info`` (build and thread configuration)."""
import argparse
import sys


def _cmd_info(args):
    from . import show_config

    show_config()
    return 0


def build_parser():
    p = argparse.ArgumentParser(prog="cgrad", description="cgrad: fast MLP training on the CPU.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sp = sub.add_parser("info", help="print version, compiler, OpenMP, threads and SIMD level")
    sp.set_defaults(func=_cmd_info)
    return p


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
