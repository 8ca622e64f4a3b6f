"""Matrix multiplication, the kernel under Dense layers and convolutions."""
import numpy as np

from . import reference
from ._native import native
from .activation import activation_code
from .validation import as_float32, check_impl


def matmul(a, b, transpose_a=False, transpose_b=False, bias=None, impl="fast", activation=None,
           alpha=None):
    """C = op(a) · op(b) (+ bias), where op transposes its matrix when asked.

    Backward passes need the transposed products: for y = x·W,
    dW = xᵀ·dy (``transpose_a=True``) and dx = dy·Wᵀ (``transpose_b=True``).

    Args:
        a: 2-D array, (m, k), or (k, m) with ``transpose_a``.
        b: 2-D array, (k, n), or (n, k) with ``transpose_b``.
        bias: optional (n,) array added to every row of C, inside the
            kernel (a Dense layer's x·W + b in one call).
        impl: "fast" (blocked C + OpenMP), "naive" (three C loops) or
            "numpy" (``a @ b``).
        activation: None, "relu", or an activation whose derivative its
            output determines (tanh, sigmoid, elu, ...: ``activation_code``),
            applied to each tile of C as the kernel stores it -- a Dense
            layer's whole forward pass in one call, with the bits of a
            separate ``activation`` pass over C.
        alpha: elu's alpha or leaky_relu's slope (default: Keras's).

    Returns:
        float32 array of shape (m, n).
    """
    check_impl("matmul", impl)
    code, alpha = activation_code("matmul", activation, alpha)
    a = as_float32("matmul", "a", a, ("rows", "columns"))
    b = as_float32("matmul", "b", b, ("rows", "columns"))
    m, k = a.shape[::-1] if transpose_a else a.shape
    k_b, n = b.shape[::-1] if transpose_b else b.shape
    if k != k_b:
        raise ValueError(
            f"matmul: op(a) has {k} columns but op(b) has {k_b} rows "
            f"(a {a.shape}{', transposed' if transpose_a else ''}; "
            f"b {b.shape}{', transposed' if transpose_b else ''})")
    if bias is not None:
        bias = as_float32("matmul", "bias", bias, ("columns",))
        if bias.shape != (n,):
            raise ValueError(f"matmul: bias must have shape ({n},) (one value per column "
                             f"of C), got {bias.shape}")
    if impl == "numpy" or k == 0:  # (k == 0: an empty sum)
        c = reference.matmul(a, b, transpose_a, transpose_b)
        c = c if bias is None else c + bias
        return reference.epilogue(activation, c, alpha)
    c = np.empty((m, n), np.float32)
    if c.size:
        native.matmul(a, b, bias, c, m, n, k, bool(transpose_a), bool(transpose_b),
                      code, alpha, impl == "naive")
    return c
