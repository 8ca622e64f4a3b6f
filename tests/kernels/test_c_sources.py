"""The C kernels are plain, warning-free C11 with no dependency on Python."""
import re
import shutil
import subprocess
from pathlib import Path

import pytest

CSRC = Path(__file__).resolve().parents[2] / "csrc"
C_FILES = sorted(CSRC.glob("*.c"))
FLAGS = ["-std=c11", "-O3", "-Wall", "-Wextra", "-Werror", "-fopenmp"]


def test_sources_exist():
    assert {"gemm.c", "conv2d.c", "pool2d.c", "runtime.c"} <= {p.name for p in C_FILES}
    assert (CSRC / "fastnn.h").exists()


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed")
@pytest.mark.parametrize("source", C_FILES, ids=lambda p: p.name)
def test_compiles_without_warnings(source, tmp_path):
    result = subprocess.run(
        ["gcc", *FLAGS, "-I", str(CSRC), "-c", str(source), "-o", str(tmp_path / "out.o")],
        capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("path", sorted(CSRC.iterdir()), ids=lambda p: p.name)
def test_no_python_headers(path):
    text = path.read_text(errors="replace")
    assert not re.search(r'#\s*include\s*[<"]Python\.h[>"]', text)
