"""The course's chapter scripts (fastnn/course/chNN_*.py) and ``python -m fastnn course``.

Every script runs with ``--fast`` in its own interpreter, as a learner runs
it from a clone (``python fastnn/course/chNN_<topic>.py``), pictures written to
a temporary folder.  ``python -m fastnn course`` must list chapters 3-31 with
each script's own title, run one with the arguments that follow the number,
and put its pictures where the learner can see them.
"""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from fastnn import course

ROOT = Path(__file__).resolve().parents[2]
COURSE = ROOT / "fastnn" / "course"
CHAPTER_SCRIPTS = sorted(COURSE.glob("ch[0-9][0-9]_*.py"))
ENV = dict(os.environ, MPLBACKEND="Agg")


def python(*args, cwd):
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True,
                          timeout=180, env=ENV, cwd=cwd)


def first_docstring_line(script):
    """'Chapter 07: How a neural network learns — epochs, ...' read as plain text."""
    line = script.read_text(encoding="utf-8").splitlines()[0]
    assert line.startswith('"""Chapter '), f"{script.name} starts {line[:40]!r}"
    return line[3:]


@pytest.mark.parametrize("script", CHAPTER_SCRIPTS, ids=lambda p: p.stem)
def test_chapter_script_runs_fast(script, tmp_path):
    result = python(script, "--fast", "--out", tmp_path, cwd=tmp_path)
    assert result.returncode == 0, f"{script.name} failed:\n{result.stdout}\n{result.stderr}"
    assert result.stdout.strip(), f"{script.name} printed nothing"
    for picture in tmp_path.glob("*.png"):
        assert picture.stat().st_size > 1000, f"{picture.name} is (nearly) empty"


def test_every_chapter_has_a_script():
    assert sorted(int(p.name[2:4]) for p in CHAPTER_SCRIPTS) == list(range(3, 32))


def test_course_readme_lists_every_script():
    readme = (COURSE / "README.md").read_text(encoding="utf-8")
    missing = [p.name for p in CHAPTER_SCRIPTS if p.name not in readme]
    assert not missing, f"fastnn/course/README.md does not mention {missing}"


def test_course_lists_every_chapter_with_its_title(tmp_path):
    result = python("-m", "fastnn", "course", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    listed = re.findall(r"^ *(\d+)  (.+)$", result.stdout, re.M)
    assert [int(number) for number, _ in listed] == list(range(3, 32)), result.stdout
    flat = " ".join(result.stdout.split())
    for (number, title), script in zip(listed, CHAPTER_SCRIPTS):
        heading, summary = first_docstring_line(script).split(" — ", 1)
        assert heading == f"Chapter {int(number):02d}: {title}"
        assert summary.rstrip(".") in flat, f"chapter {number}'s summary is not listed"


def test_course_runs_a_chapter_with_pictures_in_the_working_directory(tmp_path):
    pytest.importorskip("matplotlib")
    result = python("-m", "fastnn", "course", "5", "--fast", cwd=tmp_path)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert result.stdout.startswith("Chapter 5: Activation functions")
    assert "=== 5.2 Sigmoid, tanh and ReLU" in result.stdout
    folder = tmp_path / "fastnn-course-output"
    assert f"Pictures go to {folder}" in result.stdout
    assert (folder / "ch05_activations.png").stat().st_size > 1000
    assert not (COURSE / "output").exists() and not (COURSE / "fastnn-course-output").exists()


def test_course_passes_the_arguments_after_the_number_to_the_script(tmp_path):
    pytest.importorskip("matplotlib")
    result = python("-m", "fastnn", "course", "5", "--fast", "--out", "pictures", cwd=tmp_path)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert (tmp_path / "pictures" / "ch05_activations.png").is_file()
    assert not (tmp_path / "fastnn-course-output").exists()
    shown = python("-m", "fastnn", "course", "7", "--help", cwd=tmp_path)
    assert shown.returncode == 0 and "fewer extra epochs in part 5" in shown.stdout


def test_script_run_from_a_clone_puts_pictures_in_the_working_directory(tmp_path):
    pytest.importorskip("matplotlib")
    result = python(COURSE / "ch05_activation_functions.py", "--fast", cwd=tmp_path)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert (tmp_path / "fastnn-course-output" / "ch05_activations.png").is_file()


@pytest.mark.parametrize("number", ["2", "32", "0"])
def test_course_refuses_a_chapter_it_does_not_have(number, tmp_path):
    result = python("-m", "fastnn", "course", number, "--fast", cwd=tmp_path)
    assert result.returncode == 2
    assert f"the course has no chapter {number}: its chapters are 3-31" in result.stderr


def test_a_script_without_its_chapter_line_is_named(tmp_path, monkeypatch):
    (tmp_path / "ch08_loss.py").write_text('"""Loss functions."""\n', encoding="utf-8")
    monkeypatch.setattr(course.contents, "HERE", tmp_path)
    expected = (r"ch08_loss\.py: the docstring must start with the line "
                r"'Chapter 08: <Title> — .*not 'Loss functions\.'")
    with pytest.raises(RuntimeError, match=expected):
        course.chapters()
