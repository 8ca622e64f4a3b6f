"""What every chapter script shares: its command line and where its pictures go.

A chapter script takes ``--fast`` (small data and few epochs, so it finishes
in seconds; the numbers it prints are then only a sketch) and ``--out DIR``
(``--output`` is the same option), the folder for its pictures.  By default
the pictures go to ``fastnn-course-output/`` in the current working
directory: a folder the learner can see, never the installed package.
"""
import argparse
from pathlib import Path

OUTPUT_FOLDER = "fastnn-course-output"


def arguments(doc, fast, pictures=True, argv=None):
    """Parses a chapter script's command line.

    Args:
        doc: the script's docstring; its first line describes the script in
            ``--help``.
        fast: what ``--fast`` changes in this script (its help text).
        pictures: whether the script draws.  If it does, the folder for the
            pictures is printed first, so the learner knows where to look.
        argv: the arguments; ``None`` reads ``sys.argv[1:]``.

    Returns:
        An ``argparse.Namespace`` with ``fast`` (bool) and ``out`` (an absolute
        ``pathlib.Path``; the folder is created when the first picture is saved).
    """
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help=fast)
    parser.add_argument("--out", "--output", type=Path, default=Path(OUTPUT_FOLDER),
                        help=(f"folder for the pictures (default: ./{OUTPUT_FOLDER})" if pictures
                              else "folder for pictures (this chapter draws none)"))
    args = parser.parse_args(argv)
    args.out = args.out.resolve()
    if pictures:
        print(f"Pictures go to {args.out}")
    return args
