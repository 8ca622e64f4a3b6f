"""Threads and build facts of the C kernels.

``set_num_threads(n)`` caps the OpenMP threads every kernel uses; the
default is ``OMP_NUM_THREADS`` if set, else all cores.  The thread count
changes how fast a kernel runs, never what it computes: every kernel gives
bit-identical results on 1, 2 or ``MAX_THREADS`` threads, and when the
OpenMP runtime grants fewer threads than asked for (``OMP_DYNAMIC``,
``OMP_THREAD_LIMIT``).  ``build_info()`` is what ``python -m fastnn info``
prints.

The kernels run on one of ``SIMD_PATHS``: AVX-512, AVX2 + FMA, or baseline
code (SSE2 or NEON), the best this CPU runs unless the environment variable
``FASTNN_SIMD`` or ``set_simd_path`` asks for a lower one.  The path changes
the speed, and the results only by float rounding.

A process forked after a parallel kernel ran (``os.fork``, or
``multiprocessing``'s default start method on Linux) runs every kernel on
one thread: GNU OpenMP's thread pool does not survive ``fork``, and a
parallel region in the child would wait forever for threads that are gone.
Use the ``"spawn"`` start method for children that should use all cores.
"""
import numbers
import os
import platform
import warnings

from ._version import __version__
from .kernels._native import native

MAX_THREADS = native.MAX_THREADS


def set_num_threads(n):
    """Use ``n`` threads (an int in 1..MAX_THREADS) in the parallel kernels."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or not 1 <= n <= MAX_THREADS:
        raise ValueError(f"set_num_threads: n must be an int in 1..{MAX_THREADS}, got {n!r}")
    if n > 1 and native.forked_after_parallel():
        warnings.warn("set_num_threads: this process was forked after fastnn's parallel "
                      "kernels had run, and OpenMP's threads do not survive fork, so its "
                      "kernels stay on one thread (same numbers, less speed); start it with "
                      "multiprocessing's 'spawn' method to use more", RuntimeWarning,
                      stacklevel=2)
    native.set_num_threads(int(n))


def get_num_threads():
    """Threads the parallel kernels use (1 without OpenMP, and in a process
    forked after they ran)."""
    return native.get_num_threads() if native.openmp_enabled() else 1


SIMD_PATHS = ("avx512", "avx2", "generic")


def set_simd_path(name):
    """Make the fast kernels use the "avx512", "avx2" or "generic" (SSE2/NEON) code.

    For benchmarks and tests that compare what vector instructions bring.
    Normally the fastest path this CPU runs is chosen on first use, or the one
    the environment variable ``FASTNN_SIMD`` names (see ``get_simd_path``).
    Kernels without an AVX-512 variant run their AVX2 one on the "avx512"
    path.  Every path computes the same results up to float rounding.
    """
    if name not in SIMD_PATHS:
        raise ValueError(f"set_simd_path: name must be one of {SIMD_PATHS}, got {name!r}")
    if not native.set_simd_path(name):
        raise ValueError(f"set_simd_path: this CPU cannot run the {name!r} path")


def runnable_simd_paths():
    """The paths of SIMD_PATHS this CPU can run, best first ("generic" always)."""
    before, paths = get_simd_path(), []
    for path in SIMD_PATHS:
        try:
            set_simd_path(path)
            paths.append(path)
        except ValueError:
            pass
    set_simd_path(before)
    return paths


def get_simd_path():
    """The instruction-set path the fast kernels dispatch to: one of SIMD_PATHS.

    By default the first of SIMD_PATHS this CPU runs.  ``FASTNN_SIMD=avx2``
    (or another of SIMD_PATHS) in the environment asks for that path instead;
    when the CPU cannot run it, or the name is none of them, the kernels keep
    the default and importing fastnn warns.
    """
    return native.simd_path()


def _warn_about_simd_environment():
    """The RuntimeWarning for a FASTNN_SIMD the kernels could not follow."""
    asked = os.environ.get("FASTNN_SIMD")
    if not asked:
        return
    used = get_simd_path()
    if asked == used:
        return
    reason = ("this CPU cannot run that path" if asked in SIMD_PATHS
              else f"FASTNN_SIMD must be one of {', '.join(SIMD_PATHS)}")
    warnings.warn(f"FASTNN_SIMD={asked!r} ignored: {reason}; the kernels use the "
                  f"{used!r} path, the fastest this CPU runs", RuntimeWarning, stacklevel=2)


_warn_about_simd_environment()


def build_info():
    """Version, OpenMP, threads, how idle threads wait (fastnn.kernels._native)
    and the SIMD path the kernels dispatch to."""
    return {
        "version": __version__,
        "openmp": native.openmp_enabled(),
        "threads": get_num_threads(),
        "simd": get_simd_path(),
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "(unset)"),
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "(unset)"),
        "GOMP_SPINCOUNT": os.environ.get("GOMP_SPINCOUNT", "(unset)"),
    }
