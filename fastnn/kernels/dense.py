"""A Dense layer's forward and backward passes, one kernel each (course,
chapters 4 and 26).

The forward pass, y = act(x · W + b), is ``matmul`` with the bias and the
activation in its epilogue; ``dense_forward`` runs it on the team a Dense
layer's products are worth (``dense_threads``): a head of 10 units on a
batch of 64 is a few microseconds of arithmetic, and a second thread costs
more to wake than it saves there (csrc/dense.c has the measurements).

For y = act(x · W + b) with x (m, k) and W (k, n), backpropagation needs

    dz = dLoss/dy · act'(z)      (for ReLU: dy where y > 0, else 0;
                                  for sigmoid: dy · y(1 − y), from y alone)
    dW = xᵀ · dz                 the weight gradient, (k, n)
    db = Σ over rows of dz       the bias gradient, (n,)
    dx = dz · Wᵀ                 the gradient passed down, (m, k)

Each is a kernel of its own (``relu_backward``, ``activation_backward``,
``matmul``); this one runs all of them in a single call (csrc/dense.c), the
GIL released once, on the same team as the forward pass.  On a small model
that is the difference that counts: the course's MLP takes longer to call
five kernels per layer than to run them.
"""
import numpy as np

from . import reference
from ._native import native
from .activation import activation_code
from .matmul import matmul
from .validation import as_float32, check_impl, check_shape


def _layer_operands(op, x, w):
    """x (m, k) and w (k, n) as float32 arrays, checked to fit: (x, w, m, k, n)."""
    x = as_float32(op, "x", x, ("rows", "features"))
    w = as_float32(op, "w", w, ("features", "units"))
    (m, k), n = x.shape, w.shape[1]
    if w.shape[0] != k:
        raise ValueError(f"{op}: w has {w.shape[0]} rows but x has {k} features "
                         f"(x {x.shape}, w {w.shape})")
    return x, w, m, k, n


def dense_threads(m, k, n):
    """The threads a Dense layer's passes take for x (m, k) · W (k, n): one
    per 8 million floating-point operations of the product (2·m·k·n), at
    least 1, at most ``fastnn.get_num_threads()``."""
    return native.dense_threads(m, k, n)


def dense_forward(x, w, b=None, activation=None, alpha=None, impl="fast"):
    """y = act(x · w + b), a Dense layer's forward pass.

    Args:
        x: the layer's input, (m, k).
        w: its kernel, (k, n).
        b: its bias, (n,), or None.
        activation: None, "relu" or an activation whose derivative its
            output determines (tanh, sigmoid, elu, ...), applied as the
            product is stored, as in ``matmul``.
        alpha: elu's alpha or leaky_relu's slope (default: Keras's).
        impl: "fast" (``matmul``'s engines on ``dense_threads`` threads),
            "naive" (textbook loops) or "numpy".

    Returns:
        float32 array of shape (m, n).
    """
    check_impl("dense_forward", impl)
    code, alpha = activation_code("dense_forward", activation, alpha)
    x, w, m, k, n = _layer_operands("dense_forward", x, w)
    if b is not None:
        b = as_float32("dense_forward", "b", b, ("units",))
        check_shape("dense_forward", "b", b, (n,))
    if impl == "numpy" or 0 in (m, k, n):
        return matmul(x, w, bias=b, impl="numpy", activation=activation, alpha=alpha)
    y = np.empty((m, n), np.float32)
    native.dense_forward(x, w, b, y, code, alpha, impl == "naive")
    return y


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
    x, w, m, k, n = _layer_operands("dense_backward", x, w)
    dy = as_float32("dense_backward", "dy", dy, ("rows", "units"))
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

