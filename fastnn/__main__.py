"""python -m fastnn: ``info`` (how this build runs), ``bench`` (time the kernels),
``profile`` (where a training step's time goes), ``course``.

    python -m fastnn info               # version, OpenMP, threads, SIMD path
    python -m fastnn bench              # every kernel: fast vs naive vs numpy
    python -m fastnn profile            # the demo CNN's training step, step by step
    python -m fastnn course             # the course's chapters, one script each
    python -m fastnn course 7 --fast    # run chapter 7's script (arguments pass through)
"""
import argparse
import sys
import textwrap

import numpy as np

from . import bench, course
from .runtime import build_info, set_num_threads


def main(argv=None):
    # the docstring is reST (``info``); --help is read in a terminal, without the markup
    parser = argparse.ArgumentParser(prog="python -m fastnn",
                                     description=__doc__.replace("``", ""),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
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
    profiling = commands.add_parser(
        "profile", help="time each step of the demo CNN's training step",
        description="Trains the demo CNN (Conv2D 32 relu, max pool, Conv2D 64 relu, max pool, "
                    "Dropout, Dense 10 softmax; Adam) on random 28x28 images and prints "
                    "model.profile(): ms, %% and GFLOP/s of every step of its plan.")
    profiling.add_argument("--batch-size", type=int, default=128, help="default 128")
    profiling.add_argument("--steps", type=int, default=20,
                           help="timed training steps (default 20)")
    profiling.add_argument("--warmup", type=int, default=3,
                           help="untimed steps first (default 3)")
    profiling.add_argument("--threads", type=int, help="OpenMP threads (default: all cores)")
    profiling.add_argument("--no-fuse", action="store_true",
                           help="compile(fuse=False): every layer's plain steps")
    lessons = commands.add_parser(
        "course", help="the course's chapters: list them, or run one's script",
        description="Without a chapter: list the chapters.  With one: run its script; "
                    "what follows the number goes to the script (--fast, --out DIR, --help).")
    lessons.add_argument("chapter", type=int, nargs="?", help="the chapter to run (3-31)")
    lessons.add_argument("script_args", nargs=argparse.REMAINDER,
                         help="the script's arguments, e.g. --fast or --out DIR")
    args = parser.parse_args(argv)

    if args.command == "course":
        return run_course(lessons, args.chapter, args.script_args)
    if getattr(args, "threads", None):
        set_num_threads(args.threads)
    for key, value in build_info().items():
        print(f"{key:>16}: {value}")
    if args.command == "bench":
        print()
        return bench.run(tuple(args.impl or ("numpy", "fast", "naive")), args.seconds,
                         args.match)
    if args.command == "profile":
        print()
        print(profile_demo_cnn(args.batch_size, args.steps, args.warmup, not args.no_fuse))
    return 0


def profile_demo_cnn(batch_size, steps, warmup, fuse=True):
    """The profile of the demo CNN (``make demo``'s) on random images and labels."""
    from .layers import Conv2D, Dense, Dropout, Flatten, MaxPooling2D
    from .models import Sequential

    model = Sequential([Conv2D(32, 3, activation="relu", input_shape=(28, 28, 1)),
                        MaxPooling2D(2), Conv2D(64, 3, activation="relu"), MaxPooling2D(2),
                        Flatten(), Dropout(0.5), Dense(10, activation="softmax")],
                       name="demo_cnn")
    model.compile("adam", "sparse_categorical_crossentropy", fuse=fuse)
    rng = np.random.default_rng(0)
    x = rng.random((4 * batch_size, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, len(x))
    return model.profile(x, y, batch_size=batch_size, steps=steps, warmup=warmup)


def run_course(parser, number, script_args):
    """Lists the chapters (``number`` is None) or runs chapter ``number``'s script."""
    if number is None:
        list_chapters()
        return 0
    try:
        chapter = course.chapter(number)
    except ValueError as error:
        parser.error(str(error))
    print(f"Chapter {chapter.number}: {chapter.title}  ({chapter.path})")
    chapter.run(script_args)
    return 0


def list_chapters():
    print(f"The course, one script per chapter: python -m fastnn course N [--fast] [--out DIR]\n"
          f"runs chapter N (--fast: seconds; pictures go to ./{course.OUTPUT_FOLDER} or DIR).\n")
    for chapter in course.chapters():
        print(f"{chapter.number:>3}  {chapter.title}")
        print(textwrap.fill(chapter.summary, width=79, initial_indent=" " * 5,
                            subsequent_indent=" " * 5))


if __name__ == "__main__":
    sys.exit(main())
