"""The kernels give the same bits when OpenMP grants a smaller team than they asked for.

A kernel asks for ``num_threads(n)``, but the runtime may grant fewer:
``OMP_DYNAMIC=true`` lets it shrink teams when the machine is busy, and
``OMP_THREAD_LIMIT=1`` caps every team at one thread.  A kernel that sized
per-thread buffers of partial sums for n threads and added all n up would
then add buffers no thread wrote (garbage: NaN, or numbers off by whole
units), and often not on the first call but on a later one, whose scratch
memory is recycled.  These settings are read once, when the OpenMP runtime
starts, so each runs in a fresh process: tests/kernels/threaded_cases.py as a
script computes every case twice at ``set_num_threads(2)`` on each SIMD
path, and this process compares the results bit for bit with the same
computation here (full teams of 2) and with the float64 references.
``OMP_NUM_THREADS=1`` with ``set_num_threads(2)`` checks that fastnn's own
setting is the one the kernels follow.
"""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastnn
from fastnn.runtime import runnable_simd_paths

import threaded_cases
from threaded_cases import CALLS, CASES, outputs_of, run_all, same_bits

ENVIRONMENTS = {
    "OMP_DYNAMIC=true": {"OMP_DYNAMIC": "true"},
    "OMP_THREAD_LIMIT=1": {"OMP_THREAD_LIMIT": "1"},
    "OMP_NUM_THREADS=1": {"OMP_NUM_THREADS": "1"},
}
# what the child must not inherit from this process's environment
OPENMP_SETTINGS = ("OMP_DYNAMIC", "OMP_THREAD_LIMIT", "OMP_NUM_THREADS", "FASTNN_SIMD")


@pytest.fixture(scope="module")
def full_teams():
    """Every case at 2 threads, twice, in this process: teams of 2."""
    if not fastnn.runtime.native.openmp_enabled():
        pytest.skip("built without OpenMP: there are no teams")
    before = fastnn.get_num_threads()
    try:
        yield run_all(threads=2)
    finally:
        fastnn.set_num_threads(before)


def run_in_fresh_process(settings, out):
    """tests/kernels/threaded_cases.py in a new interpreter with ``settings`` in its
    environment and this process's fastnn first on its path; its results."""
    package_root = str(Path(fastnn.__file__).resolve().parent.parent)
    env = {k: v for k, v in os.environ.items() if k not in OPENMP_SETTINGS}
    env.update(settings)
    env["PYTHONPATH"] = os.pathsep.join(
        [package_root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
    script = Path(threaded_cases.__file__).resolve()
    child = subprocess.run([sys.executable, str(script), str(out)], env=env,
                           capture_output=True, text=True, timeout=300)
    assert child.returncode == 0, child.stderr
    with np.load(out) as results:
        return dict(results)


def runs():
    """(SIMD path, call, case) of every run."""
    return [(simd, call, case) for simd in runnable_simd_paths() for call in CALLS
            for case in CASES]


@pytest.mark.parametrize("settings", ENVIRONMENTS.values(), ids=list(ENVIRONMENTS))
def test_smaller_teams_give_the_bits_of_full_teams(settings, full_teams, tmp_path):
    child = run_in_fresh_process(settings, tmp_path / "results.npz")
    assert int(child.pop("threads")) == 2, "set_num_threads(2) did not hold in the child"
    assert child.keys() == full_teams.keys()
    wrong, differ = [], []
    for simd, call, case in runs():
        outputs, what = outputs_of(child, simd, call, case), f" [{simd}, call {call}]"
        try:
            case.check(outputs, what)
        except AssertionError as err:  # keep which output, and by how much
            wrong.append(" ".join(line for line in str(err).splitlines()
                                  if case.name in line or line.startswith("Max abs")
                                  or "location mismatch" in line))
        if not same_bits(outputs, outputs_of(full_teams, simd, call, case)):
            differ.append(case.name + what)
    assert not wrong, "wrong against float64:\n" + "\n".join(wrong)
    assert not differ, "other bits than full teams of 2:\n" + "\n".join(differ)


def test_full_teams_agree_with_float64_and_with_themselves(full_teams):
    """The yardstick is right: every case, both calls the same bits."""
    for simd, call, case in runs():
        outputs = outputs_of(full_teams, simd, call, case)
        case.check(outputs, f" [{simd}, call {call}, in process]")
        assert same_bits(outputs, outputs_of(full_teams, simd, CALLS[0], case))
