"""The compiled C kernels, or a clear error saying how to build them."""
try:
    from .. import _ckernels as native
except ImportError as err:  # pragma: no cover - depends on the installation
    raise ImportError(
        "fastnn's C extension (fastnn._ckernels) is not built. From a source "
        "checkout run `make build` (or `pip install -e .`); "
        f"the import failed with: {err}") from err

__all__ = ["native"]
