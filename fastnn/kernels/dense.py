"""A Dense layer's backward pass as one kernel (course, chapters 4 and 26).

For y = act(x · W + b) with x (m, k) and W (k, n), backpropagation needs

    dz = dLoss/dy · act'(z)      (for ReLU: dy where y > 0, else 0;
                                  for sigmoid: dy · y(1 − y), from y alone)
    dW = xᵀ · dz                 the weight gradient, (k, n)
    db = Σ over rows of dz       the bias gradient, (n,)
    dx = dz · Wᵀ                 the gradient passed down, (m, k)

Each is a kernel of its own (``relu_backward``, ``activation_backward``,
``matmul``); this one runs all of them in a single call (csrc/dense.c), the
GIL released once.  On a small model that is the difference that counts:
the course's MLP takes longer to call five kernels per layer than to run them.
"""
import numpy as np

from . import reference
from ._native import native
from .activation import activation_code
from .validation import as_float32, check_impl, check_shape


def dense_backward(x, w, dy, y=None, compute_dx=True, impl="fast", activation="relu",
                   alpha=None):
    """(dx, dW, db) of y = act(x · w + b) from dy = dLoss/dy.

    Args:
        x: the layer's input, (m, k).
        w: its kernel, (k, n).
        dy: dLoss/dy, (m, n).
        y: None when dy is dLoss/dz already (no activation, or one whose
            backward pass ran elsewhere); else the layer's output, (m, n),
            from which ``activation``'s derivative is computed.
        compute_dx: False skips dx (the first layer of a model) and returns None for it.
        impl: "fast" (blocked GEMM, OpenMP), "naive" (textbook loops) or "numpy".
        activation: with y, "relu" (its derivative is y > 0) or an elementwise
            activation of ``kernels.activation`` whose derivative y determines
            (tanh, sigmoid, elu, selu, softplus, softsign, hard_sigmoid,
            leaky_relu, exponential; not silu or gelu_tanh, which read z).
        alpha: elu's alpha or leaky_relu's slope (default: Keras's), as in
            ``kernels.activation_backward``.

    Returns:
        (dx or None, dW, db): float32 arrays of shapes (m, k), (k, n), (n,).
    """
    check_impl("dense_backward", impl)
    code, alpha = activation_code("dense_backward", activation, alpha, none=False)
    x = as_float32("dense_backward", "x", x, ("rows", "features"))
    w = as_float32("dense_backward", "w", w, ("features", "units"))
    dy = as_float32("dense_backward", "dy", dy, ("rows", "units"))
    (m, k), n = x.shape, w.shape[1]
    if w.shape[0] != k:
        raise ValueError(f"dense_backward: w has {w.shape[0]} rows but x has {k} features "
                         f"(x {x.shape}, w {w.shape})")
    check_shape("dense_backward", "dy", dy, (m, n))
    if y is not None:
        y = as_float32("dense_backward", "y", y, ("rows", "units"))
        check_shape("dense_backward", "y", y, (m, n))
    if impl == "numpy" or 0 in (m, k, n):
        dx, dw, db = reference.dense_backward(x, w, dy, y, activation, alpha)
        return (dx if compute_dx else None), dw, db
    dx = np.empty((m, k), np.float32) if compute_dx else None
    dw, db = np.empty((k, n), np.float32), np.empty(n, np.float32)
    dz = None if y is None else np.empty_like(dy)
    native.dense_backward(x, w, dy, y, code, alpha, dz, dx, dw, db, impl == "naive")
    return dx, dw, db

