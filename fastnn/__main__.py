"""``python -m fastnn info`` (how this build runs) and ``python -m fastnn bench``."""
import argparse
import sys

from . import bench
from .runtime import build_info, set_num_threads


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m fastnn", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("info", help="version, OpenMP, threads, SIMD path")
    timing = commands.add_parser("bench", help="time every kernel: fast vs naive vs numpy")
    timing.add_argument("--threads", type=int, help="OpenMP threads (default: all cores)")
    timing.add_argument("--impl", action="append", choices=("numpy", "fast", "naive"),
                        help="only these implementations (repeatable)")
    timing.add_argument("--seconds", type=float, default=0.2,
                        help="minimum timing per measurement (default 0.2)")
    timing.add_argument("--match", default="",
                        help="only kernels whose name contains this text")
    args = parser.parse_args(argv)

    if getattr(args, "threads", None):
        set_num_threads(args.threads)
    for key, value in build_info().items():
        print(f"{key:>16}: {value}")
    if args.command == "bench":
        print()
        return bench.run(tuple(args.impl or ("numpy", "fast", "naive")), args.seconds,
                         args.match)
    return 0


if __name__ == "__main__":
    sys.exit(main())
