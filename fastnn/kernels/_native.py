"""The compiled C kernels, or a clear error saying how to build them.

Before the extension loads its OpenMP runtime, fastnn picks how its idle
threads wait between two parallel kernels, unless the user named a policy
(``OMP_WAIT_POLICY``, kept as given): ``OMP_WAIT_POLICY=PASSIVE`` with
``GOMP_SPINCOUNT=10000`` -- a thread spins about 0.1 ms for the next
kernel, then sleeps.  The trade-off, measured on the 2-core Zen 4 (medians
of alternating rounds):

- libgomp's default (spin about 3 ms): when two programs share the cores,
  spinning threads steal the other's time -- two demo CNN trainings at once
  reached 1,711 images/s together, against 4,002 sleeping at once;
- sleeping at once (spin 0): a training step's next kernel then wakes the
  other thread, 5-15 us late and often on the waking thread's own core, so
  alone on the machine the zoo's nets trained 1.15x slower (geometric mean
  of five; the demo CNN 1.24x) than with the 0.1 ms spin;
- the 0.1 ms spin: the fast one alone; two trainings at once 0.67x of
  sleeping's total, one beside two busy loops 0.64x.  A script that shares
  its cores with another busy one can set ``GOMP_SPINCOUNT=0`` (or
  ``OMP_WAIT_POLICY``) itself; docs/performance.md, "Sharing the cores".
"""
import os

if "OMP_WAIT_POLICY" not in os.environ:
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    os.environ.setdefault("GOMP_SPINCOUNT", "10000")

try:
    from .. import _ckernels as native
except ImportError as err:  # pragma: no cover - depends on the installation
    raise ImportError(
        "fastnn's C extension (fastnn._ckernels) is not built. From a source "
        "checkout run `make build` (or `pip install -e .`); "
        f"the import failed with: {err}") from err

__all__ = ["native"]
