"""Every file, folder and ``make`` target the documentation names exists.

A table of files is true the day it is written; this keeps it true.  The
documents are README.md, docs/*.md, examples/README.md and
fastnn/course/README.md, and what counts as a name is:

- a link's target, ``[text](docs/plan.md)``, relative to the document;
- a path from the top of the repository, in a table, backticks, a code
  block or prose: ``csrc/gemm.c``, ``fastnn/io/``, ``tests/test_faults.py``
  (a pattern such as ``fastnn/course/ch*.py`` must match at least one file;
  one with a placeholder, ``fastnn/course/<script>``, is not checked);
- a bare file name, ``gemm.c`` or ``test_faults.py``: C sources live in
  ``csrc/``, any other name must be a file somewhere in the repository (a
  file of another project is named with its folder, ``torch/nn/modules/rnn.py``,
  and is not checked);
- ``make X`` in backticks or a code block: the Makefile has a target X.

A path that ``.gitignore`` lists is something the code writes
(``examples/output/``): it need not exist in a fresh clone.

Only what the documents name is checked: a new file that no document
mentions yet is not an error here.
"""
import fnmatch
import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = ["README.md", *sorted(p.relative_to(ROOT).as_posix()
                                  for p in (ROOT / "docs").glob("*.md")),
             "examples/README.md", "fastnn/course/README.md"]
TOP_FOLDERS = ("csrc", "fastnn", "benchmarks", "tests", "examples", "docs")

LINK = re.compile(r"\]\(([^)\s]+)\)")
PATH = re.compile(r"(?<![\w./~$-])(?:\./)?((?:%s)/[\w./*?<>{}-]*)" % "|".join(TOP_FOLDERS))
BARE_NAME = re.compile(r"(?<![\w/.$*-])([\w-]+\.(?:c|h|py|pyx|md))(?![\w/])")
MAKE = re.compile(r"(?:^|[\s`;&(])make ([a-z][\w-]*)", re.M)
CODE = re.compile(r"```[^\n]*\n.*?```|`[^`\n]+`", re.S)


def line_of(text, offset):
    return text.count("\n", 0, offset) + 1


def repository_file_names():
    """The names of all files under the repository's top, without the
    folders that builds and tools make (hidden ones, build/, dist/)."""
    names = set()
    for folder, subfolders, files in os.walk(ROOT):
        subfolders[:] = [s for s in subfolders
                         if not s.startswith(".") and s not in ("build", "dist", "__pycache__")
                         and not s.endswith(".egg-info")]
        names.update(files)
    return names


def ignored_patterns():
    lines = (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def is_ignored(path, patterns):
    """Whether .gitignore keeps ``path`` (a repository path) out of commits."""
    path = path.rstrip("/")
    for pattern in patterns:
        bare = pattern.strip("/")
        if fnmatch.fnmatch(path, bare) or ("/" not in bare
                                           and fnmatch.fnmatch(path.rpartition("/")[2], bare)):
            return True
    return False


def makefile_targets(makefile):
    targets = set()
    for match in re.finditer(r"^([\w. -]+?)\s*:(?!=)", makefile.read_text(encoding="utf-8"),
                             re.M):
        targets.update(match.group(1).split())
    return targets


def problems_in(text, document, root=ROOT, file_names=None, targets=None, ignored=()):
    """What ``text`` (the document at ``root / document``) names that does not
    exist, one "line N: ..." string each."""
    file_names = repository_file_names() if file_names is None else file_names
    targets = makefile_targets(root / "Makefile") if targets is None else targets
    here = (root / document).parent
    found = []

    def exists(path):
        if any(c in path for c in "<>{}"):
            return True                                     # a placeholder
        if any(c in path for c in "*?["):
            return any(root.glob(path.rstrip("/"))) or is_ignored(path, ignored)
        return (root / path).exists() or is_ignored(path, ignored)

    for match in LINK.finditer(text):
        target = match.group(1).partition("#")[0]
        if target and not re.match(r"[a-z]+:", target):
            path = os.path.relpath(here / target, root)
            if path.startswith("..") or not exists(Path(path).as_posix()):
                found.append(f"line {line_of(text, match.start())}: link to {target}, "
                             f"but there is no {Path(path).as_posix()}")
    # a link's target is checked above, as a link: blank it out (same length, same lines)
    text = LINK.sub(lambda match: " " * len(match.group(0)), text)
    for match in PATH.finditer(text):
        path = match.group(1).rstrip(".,:;")
        if not exists(path):
            found.append(f"line {line_of(text, match.start())}: {path} does not exist")
    for match in BARE_NAME.finditer(text):
        name = match.group(1)
        known = ((root / "csrc" / name).exists() if name.endswith((".c", ".h"))
                 else name in file_names or (here / name).exists())
        if not known:
            where = "csrc/" if name.endswith((".c", ".h")) else "the repository"
            found.append(f"line {line_of(text, match.start())}: {name} is not a file in {where}")
    for code in CODE.finditer(text):
        for match in MAKE.finditer(code.group(0)):
            if match.group(1) not in targets:
                found.append(f"line {line_of(text, code.start() + match.start(1))}: "
                             f"'make {match.group(1)}', but the Makefile has no target "
                             f"{match.group(1)!r}")
    return found


def test_the_checker_finds_wrong_names_and_only_those():
    text = ("| `csrc/gemm.c` | `gemm.c`, `csrc/`, [the tour](docs/kernels.md#files), "
            "`torch/nn/modules/rnn.py`, `keras/src/tests/x.py` |\n"
            "| `csrc/nosuch.c` | `nosuch.c`, `tests/test_nosuch.py` (`test_nosuch.py`), "
            "[gone](docs/gone.md) |\n"
            "```\nmake demo      # fine\nmake nosuch\n```\n"
            "`fastnn/course/ch0?_*.py`, `fastnn/course/<script>`, `examples/output/`; "
            "to make sure\n"
            "`fastnn/course/ch9?_*.py`\n")
    found = problems_in(text, "README.md", ignored=ignored_patterns())
    assert found == ["line 2: link to docs/gone.md, but there is no docs/gone.md",
                     "line 2: csrc/nosuch.c does not exist",
                     "line 2: tests/test_nosuch.py does not exist",
                     "line 8: fastnn/course/ch9?_*.py does not exist",
                     "line 2: nosuch.c is not a file in csrc/",
                     "line 2: test_nosuch.py is not a file in the repository",
                     "line 5: 'make nosuch', but the Makefile has no target 'nosuch'"]


def test_the_makefile_targets_are_read():
    assert {"demo", "test", "bench-zoo", "dist-check", "help"} <= makefile_targets(
        ROOT / "Makefile")


@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_name_in_the_document_exists(document):
    text = (ROOT / document).read_text(encoding="utf-8")
    found = problems_in(text, document, ignored=ignored_patterns())
    assert not found, f"{document} names what is not there:\n  " + "\n  ".join(found)
