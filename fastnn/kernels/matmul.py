"""Matrix multiplication, the kernel under Dense layers and convolutions."""
import numpy as np

from . import reference
from ._native import native
from .validation import as_float32, check_impl


def matmul(a, b, transpose_a=False, transpose_b=False, impl="fast"):
    """C = op(a) · op(b), where op transposes its matrix when asked.

    Backward passes need the transposed products: for y = x·W,
    dW = xᵀ·dy (``transpose_a=True``) and dx = dy·Wᵀ (``transpose_b=True``).

    Args:
        a: 2-D array, (m, k), or (k, m) with ``transpose_a``.
        b: 2-D array, (k, n), or (n, k) with ``transpose_b``.
        impl: "fast" (blocked C + OpenMP), "naive" (three C loops) or
            "numpy" (``a @ b``).

    Returns:
        float32 array of shape (m, n).
    """
    check_impl("matmul", impl)
    a = as_float32("matmul", "a", a, ("rows", "columns"))
    b = as_float32("matmul", "b", b, ("rows", "columns"))
    m, k = a.shape[::-1] if transpose_a else a.shape
    k_b, n = b.shape[::-1] if transpose_b else b.shape
    if k != k_b:
        raise ValueError(
            f"matmul: op(a) has {k} columns but op(b) has {k_b} rows "
            f"(a {a.shape}{', transposed' if transpose_a else ''}; "
            f"b {b.shape}{', transposed' if transpose_b else ''})")
    if impl == "numpy":
        return reference.matmul(a, b, transpose_a, transpose_b)
    if k == 0:  # an empty sum
        return np.zeros((m, n), np.float32)
    c = np.empty((m, n), np.float32)
    if c.size:
        native.matmul(a.reshape(-1), b.reshape(-1), c.reshape(-1), m, n, k,
                      bool(transpose_a), bool(transpose_b), impl == "naive")
    return c
