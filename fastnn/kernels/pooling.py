"""2-D max and average pooling, forward and backward (course, chapter 21).

``strides`` defaults to ``pool_size`` (windows side by side, as in Keras).
With ``padding="same"`` the padding never contributes: max ignores it and
the average divides by the number of in-bounds values, as Keras does.

The backward passes can fold in the backward pass of the activation below
the pool (``through``: x is that activation's output, and the result is the
gradient at its input, ``dz = f'(x) · dx``), for "relu" and every C
activation whose derivative reads its output (tanh, sigmoid, elu, ...):
each image's dx gets it while still in cache, one pass over memory less.

The 2-D kernels can also fold in a dropout above the pool (``dropout=
(keep_prob, seed)``, the mask of ``kernels.dropout``): forward, the pool
writes ``dropout(pool(x), keep_prob, seed)``; backward, dy is the gradient
at the dropout's output and the pool routes ``dropout(dy, keep_prob, seed)``.
Bit for bit the dropout kernel run on its own, without its pass over memory.
"""
import numpy as np

from . import reference
from ._native import native
from .dropout import check_mask
from .activation import activation_code
from .convolution import X_AXES
from .geometry import Window2D
from .validation import (as_float32, check_impl, check_nonempty, check_output_size,
                         check_shape, padding_mode, positive_pair)


def _pool_args(kernel, x, pool_size, strides, padding):
    x = as_float32(kernel, "x", x, X_AXES)
    check_nonempty(kernel, "x", x, X_AXES)
    pool_size = positive_pair(kernel, "pool_size", pool_size)
    strides = pool_size if strides is None else positive_pair(kernel, "strides", strides)
    padding = padding_mode(kernel, padding)
    win = Window2D.over(x.shape[1], x.shape[2], pool_size, strides, padding)
    check_output_size(kernel, win, "pool_size")
    return x, pool_size, strides, padding, win


def _dropout(kernel, dropout):
    """(keep_prob, seed) as the C kernels take them, or None."""
    if dropout is None:
        return None
    if not isinstance(dropout, tuple) or len(dropout) != 2:
        raise ValueError(f"{kernel}: dropout must be None or a pair (keep_prob, seed), "
                         f"got {dropout!r}")
    return check_mask(kernel, *dropout)


def _forward(mode, x, pool_size, strides, padding, impl, dropout):
    kernel = f"{mode}_pool2d"
    check_impl(kernel, impl)
    dropout = _dropout(kernel, dropout)
    x, pool_size, strides, padding, win = _pool_args(kernel, x, pool_size, strides, padding)
    if impl == "numpy":
        y = getattr(reference, kernel)(x, pool_size, strides, padding)
        return y if dropout is None else reference.dropout(y, *dropout)
    y = np.empty((x.shape[0], win.out_h, win.out_w, x.shape[3]), np.float32)
    if y.size:
        native.pool2d(mode, x.reshape(-1), y.reshape(-1), x.shape[0], x.shape[3], win,
                      impl == "naive", dropout)
    return y


def _backward(mode, x, dy, pool_size, strides, padding, impl, through=None, alpha=None,
              dropout=None):
    kernel = f"{mode}_pool2d_backward"
    check_impl(kernel, impl)
    code, alpha = activation_code(kernel, through, alpha, argument="through")
    dropout = _dropout(kernel, dropout)
    x, pool_size, strides, padding, win = _pool_args(kernel, x, pool_size, strides, padding)
    dy = as_float32(kernel, "dy", dy, X_AXES)
    check_shape(kernel, "dy", dy, (x.shape[0], win.out_h, win.out_w, x.shape[3]))
    if impl == "numpy":
        if dropout is not None:
            dy = reference.dropout(dy, *dropout)
        dx = getattr(reference, kernel)(x, dy, pool_size, strides, padding)
        if through == "relu":
            return reference.relu_backward(x, dx)
        return dx if through is None else reference.activation_backward(through, x, dx, alpha)
    dx = np.empty_like(x)
    if dx.size:
        native.pool2d_backward(mode, x.reshape(-1), dy.reshape(-1), dx.reshape(-1),
                               x.shape[0], x.shape[3], win, code, alpha, impl == "naive",
                               dropout)
    return dx


def max_pool2d(x, pool_size=(2, 2), strides=None, padding="valid", impl="fast",
               dropout=None):
    """The largest value of each window, per channel.

    The course's example: ``[[4,3,8,5],[9,1,3,6],[6,3,5,3],[2,5,2,5]]`` with
    a 2x2 pool gives ``[[9,8],[6,5]]``.

    Args:
        x: (batch, height, width, channels).
        pool_size: int or (ph, pw).
        strides: int or (sh, sw); None means pool_size.
        padding: "valid" or "same".
        impl: "fast", "naive" or "numpy".
        dropout: None, or (keep_prob, seed) of a dropout applied to the
            result (``kernels.dropout``'s mask, in the same pass).

    Returns:
        float32 array (batch, out_height, out_width, channels).
    """
    return _forward("max", x, pool_size, strides, padding, impl, dropout)


def max_pool2d_backward(x, dy, pool_size=(2, 2), strides=None, padding="valid",
                        impl="fast", through_relu=False, through=None, alpha=None,
                        dropout=None):
    """dL/dx: each dy flows to the input that was its window's maximum.

    On ties the first maximum in row-major window order gets it.

    ``through="tanh"`` (or "relu", "sigmoid", "elu", ...: any C activation
    whose derivative reads its output; ``alpha`` as for ``activation``) says
    x is the output of that activation (a Conv2D's, below the pool) and asks
    for the gradient at its input instead: ``activation_backward(through, x,
    max_pool2d_backward(x, dy))`` in one call.  For "relu" it is part of the
    routing itself: dy reaches the maximum only where it is > 0.
    ``through_relu=True`` is short for ``through="relu"``.

    ``dropout=(keep_prob, seed)`` says a dropout with that mask followed the
    pool and dy is the gradient at its output: ``max_pool2d_backward(x,
    dropout(dy, keep_prob, seed))`` in one call.
    """
    if not isinstance(through_relu, bool):
        raise ValueError(f"max_pool2d_backward: through_relu must be True or False, "
                         f"got {through_relu!r}")
    if through_relu and through not in (None, "relu"):
        raise ValueError(f"max_pool2d_backward: through_relu=True says through='relu', "
                         f"got through={through!r} as well")
    return _backward("max", x, dy, pool_size, strides, padding, impl,
                     "relu" if through_relu else through, alpha, dropout)


def avg_pool2d(x, pool_size=(2, 2), strides=None, padding="valid", impl="fast",
               dropout=None):
    """The mean of each window's in-bounds values, per channel (arguments as max_pool2d)."""
    return _forward("avg", x, pool_size, strides, padding, impl, dropout)


def avg_pool2d_backward(x, dy, pool_size=(2, 2), strides=None, padding="valid",
                        impl="fast", through=None, alpha=None, dropout=None):
    """dL/dx: each dy is shared equally among its window's in-bounds inputs.

    ``through`` (and ``alpha``) and ``dropout`` as for
    ``max_pool2d_backward``: x is that activation's output and the result
    ``f'(x) · dx``, the gradient at its input, in one call.
    """
    return _backward("avg", x, dy, pool_size, strides, padding, impl, through, alpha,
                     dropout)
