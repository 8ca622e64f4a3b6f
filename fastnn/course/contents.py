"""The course's table of contents: which chapter scripts there are, and running one.

A chapter script is a module ``chNN_<topic>.py`` in this package whose
docstring starts with one line ``Chapter NN: <Title> — <what it shows>.``
That line is the whole table of contents: ``chapters()`` reads it from the
source without running the script, and the script's ``--help`` shows it.
``chapter(7).run(["--fast"])`` runs a script as ``python -m fastnn course 7
--fast`` does.
"""
import ast
import re
import runpy
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIRST_LINE = re.compile(r"Chapter (\d\d): (.+?) — (.+)")


@dataclass(frozen=True)
class Chapter:
    """One chapter's script: its number, title, one-line summary and file."""
    number: int
    title: str
    summary: str
    path: Path

    @property
    def module(self):
        """The script's module name, e.g. ``fastnn.course.ch07_learning_in_epochs``."""
        return f"{__package__}.{self.path.stem}"

    def run(self, argv=()):
        """Runs the script in this process, as ``python chNN_<topic>.py *argv`` would."""
        saved = sys.argv
        sys.argv = [str(self.path), *argv]
        try:
            runpy.run_module(self.module, run_name="__main__", alter_sys=True)
        finally:
            sys.argv = saved


def chapters():
    """Every chapter script in this package, in chapter order.

    Raises:
        RuntimeError: a script's docstring does not start with the
            ``Chapter NN: <Title> — <what it shows>.`` line of its own number.
    """
    found = []
    for path in sorted(HERE.glob("ch[0-9][0-9]_*.py")):
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        first_line = doc.partition("\n")[0]
        match = FIRST_LINE.fullmatch(first_line)
        if match is None or match[1] != path.name[2:4]:
            raise RuntimeError(f"{path}: the docstring must start with the line "
                               f"'Chapter {path.name[2:4]}: <Title> — <what the script shows>.', "
                               f"not {first_line!r}")
        found.append(Chapter(int(match[1]), match[2], match[3].rstrip("."), path))
    return found


def chapter(number):
    """The script of chapter ``number``.

    Raises:
        ValueError: the course has no chapter ``number``.
    """
    by_number = {found.number: found for found in chapters()}
    if number not in by_number:
        raise ValueError(f"the course has no chapter {number}: its chapters are "
                         f"{min(by_number)}-{max(by_number)} (python -m fastnn course lists them)")
    return by_number[number]
