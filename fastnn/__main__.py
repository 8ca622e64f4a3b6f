"""python -m fastnn: ``info`` (how this build runs), ``bench`` (time the kernels), ``course``.

    python -m fastnn info               # version, OpenMP, threads, SIMD path
    python -m fastnn bench              # every kernel: fast vs naive vs numpy
    python -m fastnn course             # the course's chapters, one script each
    python -m fastnn course 7 --fast    # run chapter 7's script (arguments pass through)
"""
import argparse
import sys
import textwrap

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
    return 0


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
