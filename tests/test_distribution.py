"""The package as a user gets it: the sdist and the wheel, built, read and installed.

``python -m build`` makes the sdist from a clean copy of this work tree (the
files git tracks or would track: none of an in-place build's leftovers), then
the wheel from that sdist, as pip does.  Their contents are checked against
the work tree's own file list.  Each is then installed into a fresh virtual
environment that holds nothing but numpy (and, for the sdist, its build
requirements): there the package must import from that environment, ``python
-m fastnn info`` and ``python -m fastnn course`` must run, and the example of
the PyPI page (docs/pypi.md) must train its model.

Offline and bounded (about 1.5 minutes on 2 cores, most of it compiling):
  - the builds use this environment's setuptools and Cython (``--no-isolation``):
    an isolated build would download both into a new environment for each of
    its steps, which costs time and needs the network;
  - the fresh environments get numpy (and setuptools and Cython) as links to
    this environment's copies instead of downloads;
  - the two compilations -- the wheel, and pip building the sdist it
    installs -- run at the same time.
``make dist-check`` runs this file alone; ``pytest -m 'not slow'`` skips it.
"""
import email
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 600
# For the fresh environments: no PYTHONPATH, so nothing of this work tree leaks in.
ENV = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTHONHOME")}
ENV.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1", MPLBACKEND="Agg")


def work_tree_files():
    """The files of a clean checkout of this work tree, with its uncommitted edits."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                                 "--exclude-standard"], cwd=ROOT, capture_output=True,
                                check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("builds from a clean copy of a git work tree; this is none")
    return sorted(p for p in listed.decode().split("\0") if p and (ROOT / p).is_file())


def start(command, log, cwd=None):
    """Starts ``command`` with its output going to the file ``log``."""
    with open(log, "w") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=ENV, cwd=cwd)


def finish(process, log):
    """Waits for ``process``; fails showing the end of its ``log``."""
    returncode = process.wait(timeout=TIMEOUT)
    lines = Path(log).read_text(errors="replace").splitlines()
    assert returncode == 0, f"{' '.join(map(str, process.args))} failed:\n" + "\n".join(lines[-40:])


def run(command, log, cwd=None):
    finish(start(command, log, cwd), log)


def fresh_venv(folder, distributions):
    """A new virtual environment without pip, holding only ``distributions`` of this one.

    Each distribution is linked, not copied: its top-level folders and files
    (as its RECORD lists them) appear in the new site-packages as symlinks.
    """
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True,
                   env=ENV, timeout=TIMEOUT)
    python = folder / "bin" / "python"
    where = "import sysconfig; print(sysconfig.get_path('purelib'))"
    site = Path(subprocess.run([str(python), "-c", where], capture_output=True, text=True,
                               check=True, env=ENV).stdout.strip())
    for name in distributions:
        distribution = importlib.metadata.distribution(name)
        top_level = {Path(f).parts[0] for f in distribution.files} - {"..", "__pycache__"}
        for entry in top_level:
            (site / entry).symlink_to(distribution.locate_file(entry))
    return python


def pip_install(python, archive):
    """pip of this environment installing ``archive`` into the one of ``python``: nothing else."""
    return [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
            "--no-index", "--no-build-isolation", "--no-cache-dir", str(archive)]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The sdist, the wheel, and a fresh environment with each installed."""
    tmp = tmp_path_factory.mktemp("dist")
    source, dist, logs = tmp / "source", tmp / "dist", tmp / "logs"
    logs.mkdir()
    for name in work_tree_files():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    run([sys.executable, "-m", "build", "--sdist", "--no-isolation", "--outdir", str(dist),
         str(source)], logs / "sdist.log")
    (sdist,) = dist.glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        # the "data" filter (no links or paths out of the folder) where Python has it
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        archive.extractall(tmp / "unpacked", **safe)
    (unpacked,) = (tmp / "unpacked").iterdir()

    from_sdist = fresh_venv(tmp / "venv-sdist", ["numpy", "setuptools", "Cython"])
    wheel_build = start([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir",
                         str(dist), str(unpacked)], logs / "wheel.log")
    sdist_install = start(pip_install(from_sdist, sdist), logs / "install-sdist.log", cwd=tmp)
    finish(wheel_build, logs / "wheel.log")
    finish(sdist_install, logs / "install-sdist.log")

    (wheel,) = dist.glob("*.whl")
    from_wheel = fresh_venv(tmp / "venv-wheel", ["numpy"])
    run(pip_install(from_wheel, wheel), logs / "install-wheel.log", cwd=tmp)
    return {"sdist": sdist, "wheel": wheel, "tmp": tmp,
            "venvs": {"wheel": from_wheel, "sdist": from_sdist}}


def sdist_names(built):
    """The sdist's files, without the top folder ``fastnn-<version>/``."""
    with tarfile.open(built["sdist"]) as archive:
        return {m.name.split("/", 1)[1] for m in archive.getmembers() if m.isfile()}


def wheel_names(built):
    with zipfile.ZipFile(built["wheel"]) as archive:
        return set(archive.namelist())


def wheel_metadata(built):
    with zipfile.ZipFile(built["wheel"]) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        return email.message_from_string(archive.read(name).decode("utf-8"))


# ---- what the archives hold ----------------------------------------------------------

def needed_by_a_build():
    """The work tree's files an sdist must carry, by git's own list."""
    tracked = work_tree_files()
    needed = ([p for p in tracked if re.fullmatch(r"csrc/[^/]+\.[ch]", p)]
              + [p for p in tracked if p.startswith("fastnn/") and p.endswith((".py", ".pyx"))]
              + ["setup.py", "pyproject.toml", "MANIFEST.in", "LICENSE", "docs/pypi.md"])
    assert any(p.endswith(".h") for p in needed) and "fastnn/_ckernels.pyx" in needed
    return set(needed)


def test_sdist_holds_what_a_build_needs(built):
    missing = sorted(needed_by_a_build() - sdist_names(built))
    assert not missing, f"the sdist lacks {missing}"


def test_sdist_holds_nothing_else(built):
    """No generated C, no compiled objects, no half of the test suite."""
    names = sdist_names(built) - needed_by_a_build()
    metadata = {"PKG-INFO", "setup.cfg", "README.md"}
    other = sorted(n for n in names - metadata if not n.startswith("fastnn.egg-info/"))
    assert not other, f"the sdist ships {other}"


def test_wheel_holds_the_package_the_extension_and_the_license(built):
    names = wheel_names(built)
    modules = [p for p in work_tree_files() if p.startswith("fastnn/") and p.endswith(".py")]
    assert "fastnn/course/ch07_learning_in_epochs.py" in modules
    missing = sorted(set(modules) - names)
    assert not missing, f"the wheel lacks {missing}"
    assert [n for n in names if re.fullmatch(r"fastnn/_ckernels\.[^/]*\.so", n)], sorted(names)
    (license_file,) = [n for n in names if n.endswith(".dist-info/licenses/LICENSE")]
    with zipfile.ZipFile(built["wheel"]) as archive:
        assert archive.read(license_file) == (ROOT / "LICENSE").read_bytes()


def test_wheel_holds_no_sources_of_the_extension(built):
    sources = sorted(n for n in wheel_names(built) if n.endswith((".c", ".h", ".pyx")))
    assert not sources, f"the wheel ships C or Cython sources: {sources}"
    outside = sorted(n for n in wheel_names(built)
                     if not n.startswith(("fastnn/", "fastnn-")))
    assert not outside, f"the wheel installs files outside the package: {outside}"


def test_metadata(built):
    meta = wheel_metadata(built)
    version = re.search(r'__version__ = "(.+)"', (ROOT / "fastnn/_version.py").read_text())[1]
    assert (meta["Name"], meta["Version"]) == ("fastnn", version)
    assert meta["License-Expression"] == "MIT" and meta.get_all("License-File") == ["LICENSE"]
    assert meta["Author"] == "fastnn authors"
    assert [r for r in meta.get_all("Requires-Dist") if "extra ==" not in r] == ["numpy>=1.22"]
    classifiers = meta.get_all("Classifier")
    minimum = tuple(map(int, re.search(r">=(\d+)\.(\d+)", meta["Requires-Python"]).groups()))
    pythons = [tuple(map(int, c.rsplit(" ", 1)[1].split(".")))
               for c in classifiers if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)]
    assert pythons and min(pythons) == minimum, (pythons, minimum)
    for wanted in ("Operating System :: POSIX :: Linux", "Programming Language :: C",
                   "Topic :: Scientific/Engineering :: Artificial Intelligence",
                   "Intended Audience :: Education"):
        assert wanted in classifiers
    assert "deep learning" in meta["Keywords"].split(",")
    urls = meta.get_all("Project-URL")
    assert len(urls) >= 3 and all(u.split(", ", 1)[1].startswith("https://") for u in urls), urls


def test_long_description_is_the_standalone_pypi_page(built):
    meta = wheel_metadata(built)
    assert meta["Description-Content-Type"] == "text/markdown"
    page = (ROOT / "docs" / "pypi.md").read_text(encoding="utf-8")
    assert meta.get_payload().strip() == page.strip()


def test_pypi_page_links_nothing_relative():
    """PyPI shows the page outside the repository: a relative link or picture would break."""
    page = (ROOT / "docs" / "pypi.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)\s]+)", page) + re.findall(r"""src=["']([^"']+)""", page)
    relative = [t for t in targets if not re.match(r"https?://", t)]
    assert not relative, f"docs/pypi.md links {relative}: on PyPI only absolute URLs work"


# ---- the installed package -------------------------------------------------------------

def in_venv(built, kind, *args):
    done = subprocess.run([str(built["venvs"][kind]), *args], capture_output=True, text=True,
                          cwd=built["tmp"], env=ENV, timeout=TIMEOUT)
    assert done.returncode == 0, f"{kind} install: {args} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.mark.parametrize("kind", ["wheel", "sdist"])
def test_installed_package_imports_from_its_environment(built, kind):
    where = in_venv(built, kind, "-c", "import fastnn, fastnn._ckernels as c; "
                                       "print(fastnn.__file__); print(c.__file__)").split()
    venv = built["venvs"][kind].parent.parent
    assert all(Path(p).is_relative_to(venv) for p in where), (where, venv)


@pytest.mark.parametrize("kind", ["wheel", "sdist"])
def test_installed_package_runs_info(built, kind):
    out = in_venv(built, kind, "-m", "fastnn", "info")
    version = wheel_metadata(built)["Version"]
    assert re.search(rf"^\s*version: {re.escape(version)}$", out, re.M), out
    assert re.search(r"^\s*threads: \d+$", out, re.M), out


@pytest.mark.parametrize("kind", ["wheel", "sdist"])
def test_installed_package_trains_the_pypi_pages_model(built, kind):
    page = (ROOT / "docs" / "pypi.md").read_text(encoding="utf-8")
    example = re.search(r"## Train a model\n+```python\n(.*?)```", page, re.S)[1]
    printed = re.search(r"prints `(.+?)`", page)[1]
    assert in_venv(built, kind, "-c", example).strip() == printed


def test_installed_package_has_the_course(built):
    out = in_venv(built, "wheel", "-m", "fastnn", "course")
    listed = [int(n) for n in re.findall(r"^\s*(\d+)  \S", out, re.M)]
    assert listed == list(range(3, 32)), out
    out = in_venv(built, "wheel", "-m", "fastnn", "course", "4", "--fast")
    assert "4.1 Layer types" in out
