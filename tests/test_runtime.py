"""Thread count, build facts, and the GIL being released while C computes."""
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import fastnn
from fastnn.kernels import conv2d
from fastnn.runtime import SIMD_PATHS, get_simd_path, set_simd_path

pytestmark = pytest.mark.native


@pytest.mark.parametrize("n", [1, 2, 3, 7, 256])
def test_set_get_num_threads_round_trip(n, restore_threads):
    fastnn.set_num_threads(n)
    expected = n if fastnn.build_info()["openmp"] else 1
    assert fastnn.get_num_threads() == expected
    assert fastnn.build_info()["threads"] == expected


def test_numpy_integers_are_thread_counts(restore_threads):
    fastnn.set_num_threads(np.int64(1))
    assert fastnn.get_num_threads() == 1


def test_build_info():
    info = fastnn.build_info()
    assert {"version", "openmp", "threads", "simd"} <= set(info)
    assert info["version"] == fastnn.__version__
    assert isinstance(info["openmp"], bool)
    assert info["threads"] == fastnn.get_num_threads() >= 1
    assert info["simd"] in SIMD_PATHS


# ---- SIMD paths ---------------------------------------------------------------------

# What each path needs of the CPU, in the names of /proc/cpuinfo's flags.
PATH_FLAGS = {"avx512": {"avx512f", "avx512vl", "avx512bw", "avx512dq", "avx2", "fma"},
              "avx2": {"avx2", "fma"}, "generic": set()}


def paths_this_cpu_runs():
    """SIMD_PATHS this CPU runs according to /proc/cpuinfo (Linux on x86), best first."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next(set(line.split(":", 1)[1].split()) for line in f
                         if line.startswith("flags"))
    except (OSError, StopIteration):
        pytest.skip("needs the x86 flags of /proc/cpuinfo")
    return [path for path in SIMD_PATHS if PATH_FLAGS[path] <= flags]


def path_in_fresh_process(fastnn_simd):
    """(path, warnings) of a new interpreter importing fastnn with the environment
    variable FASTNN_SIMD set to ``fastnn_simd`` (None: unset)."""
    env = {k: v for k, v in os.environ.items() if k != "FASTNN_SIMD"}
    if fastnn_simd is not None:
        env["FASTNN_SIMD"] = fastnn_simd
    code = ("import warnings\n"
            "with warnings.catch_warnings(record=True) as caught:\n"
            "    warnings.simplefilter('always')\n"
            "    import fastnn\n"
            "print(fastnn.build_info()['simd'])\n"
            "for w in caught:\n"
            "    print(w.category.__name__, w.message)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True).stdout.splitlines()
    return out[0], out[1:]


def test_the_default_path_is_the_best_this_cpu_runs():
    assert path_in_fresh_process(None) == (paths_this_cpu_runs()[0], [])


def test_python_m_fastnn_info_shows_the_path():
    out = subprocess.run([sys.executable, "-m", "fastnn", "info"], capture_output=True,
                         text=True, check=True).stdout
    assert f"simd: {get_simd_path()}" in out


def test_python_m_fastnn_help_is_plain_text():
    """The docstring it shows is reST: its ``literal`` markup must not reach the terminal."""
    out = subprocess.run([sys.executable, "-m", "fastnn", "--help"], capture_output=True,
                         text=True, check=True).stdout
    assert "python -m fastnn: info (how this build runs), bench (time the kernels)" in out
    assert "`" not in out


@pytest.mark.parametrize("path", SIMD_PATHS)
def test_set_simd_path_takes_each_path_this_cpu_runs_and_refuses_others(path):
    before = get_simd_path()
    try:
        if path in paths_this_cpu_runs():
            set_simd_path(path)
            assert get_simd_path() == path
        else:
            with pytest.raises(ValueError, match=f"this CPU cannot run the '{path}' path"):
                set_simd_path(path)
            assert get_simd_path() == before
    finally:
        set_simd_path(before)


def test_set_simd_path_names_the_paths_it_knows():
    with pytest.raises(ValueError, match=r"one of \('avx512', 'avx2', 'generic'\), got 'sse'"):
        set_simd_path("sse")


@pytest.mark.parametrize("path", SIMD_PATHS)
def test_environment_variable_chooses_a_path_or_warns(path):
    runs = paths_this_cpu_runs()
    if path in runs:
        assert path_in_fresh_process(path) == (path, [])
    else:
        used, warned = path_in_fresh_process(path)
        assert used == runs[0]
        assert warned == [f"RuntimeWarning FASTNN_SIMD={path!r} ignored: this CPU cannot "
                          f"run that path; the kernels use the {runs[0]!r} path, the fastest "
                          "this CPU runs"]


@pytest.mark.parametrize("name", ["AVX2", "sse4", "avx2 "])
def test_environment_variable_naming_no_path_warns(name):
    best = paths_this_cpu_runs()[0]
    used, warned = path_in_fresh_process(name)
    assert used == best
    assert warned == [f"RuntimeWarning FASTNN_SIMD={name!r} ignored: FASTNN_SIMD must be one "
                      f"of avx512, avx2, generic; the kernels use the {best!r} path, the "
                      "fastest this CPU runs"]


def test_an_empty_environment_variable_is_unset():
    assert path_in_fresh_process("") == (paths_this_cpu_runs()[0], [])


# ---- the GIL ----------------------------------------------------------------------

def longest_stall(work):
    """Run ``work`` in a thread; the longest time this thread could not run Python.

    While ``work`` holds the GIL, the loop below cannot take a single step,
    so the longest gap between its steps is about the duration of ``work``.
    """
    done = threading.Event()

    def worker():
        work()
        done.set()

    thread = threading.Thread(target=worker)
    last = time.perf_counter()
    stall = 0.0
    thread.start()
    while not done.is_set():
        now = time.perf_counter()
        stall, last = max(stall, now - last), now
    thread.join()
    return stall


def timed(work):
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs a second core")
def test_conv2d_releases_the_gil(restore_threads):
    fastnn.set_num_threads(1)  # leave one core to this thread
    rng = np.random.default_rng(0)
    w = rng.uniform(-1, 1, (3, 3, 64, 64)).astype(np.float32)
    batch = 1
    while True:  # a convolution of at least 0.1 s
        x = rng.uniform(-1, 1, (batch, 48, 48, 64)).astype(np.float32)
        duration = timed(lambda: conv2d(x, w, impl="fast"))
        if duration >= 0.1 or batch >= 256:
            break
        batch *= 2

    # Control: a C loop that keeps the GIL stalls this thread for its whole run.
    n = 10**6
    while timed(lambda: sum(range(n))) < 0.1 and n < 10**9:
        n *= 2
    assert longest_stall(lambda: sum(range(n))) > 0.05

    # The convolution lets this thread run: no stall beyond a fraction of it
    # (best of three, in case the machine is busy).
    stalls = []
    while len(stalls) < 3 and min(stalls, default=duration) >= duration / 4:
        stalls.append(longest_stall(lambda: conv2d(x, w, impl="fast")))
    assert min(stalls) < duration / 4, (stalls, duration)


@pytest.mark.parametrize("given, expected", [
    ({}, "PASSIVE 10000"),                                  # fastnn's default: a short spin
    ({"GOMP_SPINCOUNT": "0"}, "PASSIVE 0"),                 # the user's spin count wins
    ({"OMP_WAIT_POLICY": "ACTIVE"}, "ACTIVE None"),         # a named policy: left alone
    ({"OMP_WAIT_POLICY": "PASSIVE"}, "PASSIVE None"),
])
def test_wait_policy_defaults_to_a_short_spin_but_a_user_setting_wins(given, expected):
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env.update(given)
    code = ("import os, fastnn; "
            "print(os.environ['OMP_WAIT_POLICY'], os.environ.get('GOMP_SPINCOUNT'))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=env, check=True)
    assert result.stdout.strip() == expected


def test_runnable_simd_paths_lists_what_set_simd_path_accepts():
    """Best first, "generic" always, each one settable, and the path in use is kept."""
    before = get_simd_path()
    paths = fastnn.runtime.runnable_simd_paths()
    assert get_simd_path() == before
    assert paths[-1] == "generic" and paths == [p for p in SIMD_PATHS if p in paths]
    assert before in paths
    for path in SIMD_PATHS:
        if path not in paths:
            with pytest.raises(ValueError, match="cannot run"):
                set_simd_path(path)
    set_simd_path(before)
