"""Every chapter example runs with ``--fast`` and exits cleanly (issue: one example per chapter).

Each script in ``examples/`` is run in its own interpreter, as a learner
would run it, with pictures written to a temporary folder.  Scripts that
read Fashion-MNIST are marked ``real_data`` by their use of the dataset.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
CHAPTER_SCRIPTS = sorted(EXAMPLES.glob("ch[0-9][0-9]_*.py"))


@pytest.mark.parametrize("script", CHAPTER_SCRIPTS, ids=lambda p: p.stem)
def test_example_runs_fast(script, tmp_path):
    env = dict(os.environ, MPLBACKEND="Agg")
    result = subprocess.run([sys.executable, str(script), "--fast", "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=180, env=env, cwd=tmp_path)
    assert result.returncode == 0, f"{script.name} failed:\n{result.stdout}\n{result.stderr}"
    assert result.stdout.strip(), f"{script.name} printed nothing"
    for picture in tmp_path.glob("*.png"):
        assert picture.stat().st_size > 1000, f"{picture.name} is (nearly) empty"


def test_every_chapter_has_an_example():
    chapters = {int(p.name[2:4]) for p in CHAPTER_SCRIPTS}
    assert set(range(3, 32)) <= chapters, f"missing chapters: {sorted(set(range(3, 32)) - chapters)}"


def test_examples_readme_lists_every_script():
    readme = (EXAMPLES / "README.md").read_text(encoding="utf-8")
    missing = [p.name for p in CHAPTER_SCRIPTS if p.name not in readme]
    assert not missing, f"examples/README.md does not mention {missing}"
