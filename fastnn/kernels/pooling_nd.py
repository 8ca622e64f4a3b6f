"""1-D and 3-D max and average pooling, on the 2-D kernels (course, chapter 21).

No C of their own: both are exactly 2-D pools of arrays viewed in another
shape (``reshape`` of a C-contiguous array copies nothing).

**1-D** (batch, steps, channels) is an image of height 1, (batch, 1, steps,
channels), pooled with a 1 x p window.  Keras's padding rule on the steps
axis is the 2-D rule on the width axis; the height axis (1 row, window 1,
stride 1) is never padded.

**3-D** (batch, depth, height, width, channels): a (pd, ph, pw) window is the
product of a depth range and a (ph, pw) rectangle, and Keras pads each axis
on its own, so a window's in-bounds cells are (in-bounds depths) x (in-bounds
rectangle).  Max and mean both split over such a product:

    max over the window  = max over its depths of (max over its rectangle)
    mean over the window = mean over its depths of (mean over its rectangle)

(the mean because the window's count of in-bounds cells is the product of
the counts per part).  So the pool is two 2-D pools:

1. every depth slice pooled over (height, width): x viewed as
   (batch·depth, height, width, channels), window (ph, pw) -> m;
2. m pooled over depth: viewed as (batch, depth, out_h·out_w, channels),
   a (pd, 1) window with stride (sd, 1) -> y.

The backward pass runs the two 2-D backward passes in the opposite order
(the chain rule); for max it recomputes m, the input of stage 2.  Ties:
the 2-D kernel gives each dy to the first maximum of its window in row-major
order.  Stage 2 picks the first depth whose rectangle holds the window's
maximum, stage 1 the first (row, column) holding it in that slice: together,
the first maximum in (depth, row, column) order -- what one scan of the 3-D
window finds first, and Keras's rule.  Pooling depth first would instead
pick the first (row, column), then depth, which is a different cell; that
is why the rectangle comes first.  The mean's two stages round
once each, so it can differ from a one-pass mean in the last bit.
"""
import numpy as np

from . import pooling
from .geometry import conv_output_length
from .validation import (as_float32, check_impl, check_nonempty, check_shape, padding_mode,
                         positive_ints)

#: The axes of a 1-D and a 3-D pool's input, for error messages.
AXES = {1: ("batch", "steps", "channels"),
        3: ("batch", "depth", "height", "width", "channels")}


def _pool_args(op, rank, x, pool_size, strides, padding, impl):
    """Checked arguments and the output's shape (without batch and channels)."""
    check_impl(op, impl)
    x = as_float32(op, "x", x, AXES[rank])
    check_nonempty(op, "x", x, AXES[rank])
    pool_size = positive_ints(op, "pool_size", pool_size, rank)
    strides = pool_size if strides is None else positive_ints(op, "strides", strides, rank)
    padding = padding_mode(op, padding)
    out = tuple(conv_output_length(size, k, s, padding)
                for size, k, s in zip(x.shape[1:-1], pool_size, strides))
    if min(out) < 1:
        raise ValueError(f"{op}: pool_size {pool_size} does not fit the input of shape "
                         f"{x.shape} with padding='valid' (output would be {out}); use a "
                         f"smaller pool_size or padding='same'")
    return x, pool_size, strides, padding, out


def _pool1d(mode, x, pool_size, strides, padding, impl):
    x, (p,), (s,), padding, _ = _pool_args(f"{mode}_pool1d", 1, x, pool_size, strides,
                                           padding, impl)
    n, steps, c = x.shape
    pool2d = getattr(pooling, f"{mode}_pool2d")
    return pool2d(x.reshape(n, 1, steps, c), (1, p), (1, s), padding, impl).reshape(n, -1, c)


def _pool1d_backward(mode, x, dy, pool_size, strides, padding, impl):
    op = f"{mode}_pool1d_backward"
    x, (p,), (s,), padding, (out,) = _pool_args(op, 1, x, pool_size, strides, padding,
                                                impl)
    n, steps, c = x.shape
    dy = as_float32(op, "dy", dy, AXES[1])
    check_shape(op, "dy", dy, (n, out, c))
    backward = getattr(pooling, f"{mode}_pool2d_backward")
    return backward(x.reshape(n, 1, steps, c), dy.reshape(n, 1, out, c), (1, p), (1, s),
                    padding, impl).reshape(x.shape)


def _rectangles(mode, x, pool_size, strides, padding, impl):
    """Stage 1: each depth slice pooled over (height, width)."""
    n, d, h, w, c = x.shape
    pool2d = getattr(pooling, f"{mode}_pool2d")
    return pool2d(x.reshape(n * d, h, w, c), pool_size[1:], strides[1:], padding, impl)


def _pool3d(mode, x, pool_size, strides, padding, impl):
    x, pool_size, strides, padding, (out_d, out_h, out_w) = _pool_args(
        f"{mode}_pool3d", 3, x, pool_size, strides, padding, impl)
    n, d, c = x.shape[0], x.shape[1], x.shape[4]
    m = _rectangles(mode, x, pool_size, strides, padding, impl)
    pool2d = getattr(pooling, f"{mode}_pool2d")
    y = pool2d(m.reshape(n, d, out_h * out_w, c), (pool_size[0], 1), (strides[0], 1),
               padding, impl)
    return y.reshape(n, out_d, out_h, out_w, c)


def _pool3d_backward(mode, x, dy, pool_size, strides, padding, impl):
    op = f"{mode}_pool3d_backward"
    x, pool_size, strides, padding, (out_d, out_h, out_w) = _pool_args(
        op, 3, x, pool_size, strides, padding, impl)
    n, d, h, w, c = x.shape
    dy = as_float32(op, "dy", dy, AXES[3])
    check_shape(op, "dy", dy, (n, out_d, out_h, out_w, c))
    backward = getattr(pooling, f"{mode}_pool2d_backward")
    # max needs stage 2's input to find the maxima; the mean reads only its shape
    m = (_rectangles(mode, x, pool_size, strides, padding, impl) if mode == "max" else
         np.empty((n * d, out_h, out_w, c), np.float32))
    dm = backward(m.reshape(n, d, out_h * out_w, c), dy.reshape(n, out_d, out_h * out_w, c),
                  (pool_size[0], 1), (strides[0], 1), padding, impl)
    dx = backward(x.reshape(n * d, h, w, c), dm.reshape(n * d, out_h, out_w, c),
                  pool_size[1:], strides[1:], padding, impl)
    return dx.reshape(x.shape)


def max_pool1d(x, pool_size=2, strides=None, padding="valid", impl="fast"):
    """The largest value of each window of ``pool_size`` steps, per channel.

    ``[[1], [5], [2], [4], [3]]`` (5 steps, 1 channel) pools with 2 to
    ``[[5], [4]]`` ("valid") or ``[[5], [4], [3]]`` ("same").

    Args:
        x: (batch, steps, channels).
        pool_size: int or (p,).
        strides: int or (s,); None means pool_size.
        padding: "valid" or "same" (padded steps never win).
        impl: "fast", "naive" or "numpy", passed to the 2-D kernel.

    Returns:
        float32 array (batch, out_steps, channels).
    """
    return _pool1d("max", x, pool_size, strides, padding, impl)


def max_pool1d_backward(x, dy, pool_size=2, strides=None, padding="valid", impl="fast"):
    """dL/dx: each dy flows to its window's first maximum."""
    return _pool1d_backward("max", x, dy, pool_size, strides, padding, impl)


def avg_pool1d(x, pool_size=2, strides=None, padding="valid", impl="fast"):
    """The mean of each window's in-bounds steps, per channel (arguments as max_pool1d)."""
    return _pool1d("avg", x, pool_size, strides, padding, impl)


def avg_pool1d_backward(x, dy, pool_size=2, strides=None, padding="valid", impl="fast"):
    """dL/dx: each dy is shared equally among its window's in-bounds steps."""
    return _pool1d_backward("avg", x, dy, pool_size, strides, padding, impl)


def max_pool3d(x, pool_size=(2, 2, 2), strides=None, padding="valid", impl="fast"):
    """The largest value of each (pd, ph, pw) box, per channel.

    A 2x2x2 cube holding 1..8 pools with (2, 2, 2) to 8.

    Args:
        x: (batch, depth, height, width, channels).
        pool_size: int or (pd, ph, pw).
        strides: int or (sd, sh, sw); None means pool_size.
        padding: "valid" or "same" (padded cells never win).
        impl: "fast", "naive" or "numpy", passed to the 2-D kernel.

    Returns:
        float32 array (batch, out_depth, out_height, out_width, channels).
    """
    return _pool3d("max", x, pool_size, strides, padding, impl)


def max_pool3d_backward(x, dy, pool_size=(2, 2, 2), strides=None, padding="valid",
                        impl="fast"):
    """dL/dx: each dy flows to its box's first maximum in (depth, row, column) order."""
    return _pool3d_backward("max", x, dy, pool_size, strides, padding, impl)


def avg_pool3d(x, pool_size=(2, 2, 2), strides=None, padding="valid", impl="fast"):
    """The mean of each box's in-bounds cells, per channel (arguments as max_pool3d)."""
    return _pool3d("avg", x, pool_size, strides, padding, impl)


def avg_pool3d_backward(x, dy, pool_size=(2, 2, 2), strides=None, padding="valid",
                        impl="fast"):
    """dL/dx: each dy is shared equally among its box's in-bounds cells."""
    return _pool3d_backward("avg", x, dy, pool_size, strides, padding, impl)
