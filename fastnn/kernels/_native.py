"""The compiled C kernels, or a clear error saying how to build them.

Before the extension loads its OpenMP runtime, ``OMP_WAIT_POLICY`` defaults
to ``PASSIVE`` (a value the user set is kept): threads between two parallel
kernels then sleep instead of spinning.  Alone on the machine that costs
little (within the run-to-run noise of a training step); when two programs
share the 2 cores, spinning threads steal the other's time, and two
trainings of the demo CNN at once reached 1,711 images/s together with
spinning against 4,002 with sleeping.
"""
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

try:
    from .. import _ckernels as native
except ImportError as err:  # pragma: no cover - depends on the installation
    raise ImportError(
        "fastnn's C extension (fastnn._ckernels) is not built. From a source "
        "checkout run `make build` (or `pip install -e .`); "
        f"the import failed with: {err}") from err

__all__ = ["native"]
