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
    assert info["simd"] in ("avx2", "generic")


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


@pytest.mark.parametrize("given, expected", [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_omp_wait_policy_defaults_to_passive_but_a_user_setting_wins(given, expected):
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if given is not None:
        env["OMP_WAIT_POLICY"] = given
    code = "import os, fastnn; print(os.environ['OMP_WAIT_POLICY'])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=env, check=True)
    assert result.stdout.strip() == expected
