"""Threads and build facts of the C kernels.

``set_num_threads(n)`` caps the OpenMP threads every kernel uses; the
default is ``OMP_NUM_THREADS`` if set, else all cores.  ``build_info()`` is
what ``python -m fastnn info`` prints.
"""
import numbers
import os
import platform

from ._version import __version__
from .kernels._native import native


def set_num_threads(n):
    """Use ``n`` threads (an int >= 1) in the parallel kernels."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"set_num_threads: n must be an int >= 1, got {n!r}")
    native.set_num_threads(int(n))


def get_num_threads():
    """Threads the parallel kernels use (1 without OpenMP)."""
    return native.get_num_threads() if native.openmp_enabled() else 1


SIMD_PATHS = ("avx2", "generic")


def set_simd_path(name):
    """Make the fast kernels use the "avx2" or the "generic" (SSE2/NEON) code.

    For benchmarks that measure what vector instructions bring; normally the
    fastest path this CPU supports is chosen at start-up (the environment
    variable FASTNN_SIMD=generic forces the generic one).
    """
    if name not in SIMD_PATHS:
        raise ValueError(f"set_simd_path: name must be one of {SIMD_PATHS}, got {name!r}")
    if not native.set_simd_path(name):
        raise ValueError(f"set_simd_path: this CPU cannot run the {name!r} path")


def get_simd_path():
    """The instruction-set path the fast kernels dispatch to."""
    return native.simd_path()


def build_info():
    """Version, OpenMP, threads and the SIMD path the kernels dispatch to."""
    return {
        "version": __version__,
        "openmp": native.openmp_enabled(),
        "threads": get_num_threads(),
        "simd": get_simd_path(),
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "(unset)"),
    }
