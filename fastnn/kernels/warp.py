"""Affine image warps: rotate, zoom, shift or resize a batch of images (course, chapter 17).

Each image n gets its own 2x3 matrix ``transforms[n] = [a0, a1, a2, b0, b1,
b2]``; output pixel (row i, column j) is read from the input at

    x = a0·j + a1·i + a2,   y = b0·j + b1·i + b2

(pixel centres at integer coordinates), so the matrix maps *output* to
*input* positions: [1, 0, 3, 0, 1, 0] shows the image shifted 3 pixels to
the left.  Bilinear interpolation mixes the 2x2 pixels around (y, x) by
closeness.  Positions outside the image are read through ``fill_mode``
(Keras's names)::

    "reflect"   d c b a | a b c d | d c b a
    "wrap"      a b c d | a b c d | a b c d
    "nearest"   a a a a | a b c d | d d d d
    "constant"  k k k k | a b c d | k k k k     k = fill_value

The warp is linear in the image, so its backward pass is the transpose:
each output gradient flows back to the pixels it was mixed from.
"""
import numbers

import numpy as np

from . import reference
from ._native import native
from .convolution import X_AXES
from .validation import as_float32, check_impl, check_nonempty, check_shape, positive_pair

INTERPOLATIONS = ("bilinear", "nearest")
FILL_MODES = ("reflect", "wrap", "constant", "nearest")
# Coordinates stay far inside int64 when no matrix entry exceeds this.
MAX_TRANSFORM_ENTRY = 1e6
FLOAT32_MAX = float(np.finfo(np.float32).max)


def check_warp_options(kernel, interpolation, fill_mode, fill_value):
    """The sampling options, shared by the kernels and the layers that use them."""
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"{kernel}: interpolation must be one of "
                         f"{', '.join(map(repr, INTERPOLATIONS))}, got {interpolation!r}")
    if fill_mode not in FILL_MODES:
        raise ValueError(f"{kernel}: fill_mode must be one of "
                         f"{', '.join(map(repr, FILL_MODES))}, got {fill_mode!r}")
    if not _fits_float32(fill_value):
        raise ValueError(f"{kernel}: fill_value must be a finite number that fits in float32 "
                         f"(|value| <= {FLOAT32_MAX:.4g}), got {fill_value!r}")
    return float(fill_value)


def _fits_float32(value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return False
    try:
        return abs(float(value)) <= FLOAT32_MAX
    except OverflowError:  # an int beyond any float, e.g. 10**400
        return False


def _transforms(kernel, transforms, batch):
    t = as_float32(kernel, "transforms", transforms, ("batch", "matrix entries"))
    check_shape(kernel, "transforms", t, (batch, 6))
    if not np.all(np.abs(t) <= MAX_TRANSFORM_ENTRY):
        raise ValueError(f"{kernel}: transforms must be finite with entries of at most "
                         f"{MAX_TRANSFORM_ENTRY:g} in size")
    return t


def affine_warp(x, transforms, output_size=None, interpolation="bilinear",
                fill_mode="reflect", fill_value=0.0, impl="fast"):
    """Warp every image of x by its own affine matrix.

    Args:
        x: (batch, height, width, channels).
        transforms: (batch, 6), output-to-input matrices (see the module doc).
        output_size: (out_height, out_width); default the input's size.
        interpolation: "bilinear" or "nearest".
        fill_mode: "reflect", "wrap", "constant" or "nearest".
        fill_value: what "constant" reads outside the image.
        impl: "fast", "naive" or "numpy".

    Returns:
        float32 array (batch, out_height, out_width, channels).
    """
    kernel = "affine_warp"
    check_impl(kernel, impl)
    fill_value = check_warp_options(kernel, interpolation, fill_mode, fill_value)
    x = as_float32(kernel, "x", x, X_AXES)
    check_nonempty(kernel, "x", x, X_AXES)
    t = _transforms(kernel, transforms, x.shape[0])
    out_hw = x.shape[1:3] if output_size is None else positive_pair(kernel, "output_size",
                                                                    output_size)
    if impl == "numpy":
        return reference.affine_warp(x, t, out_hw, interpolation, fill_mode, fill_value)
    y = np.empty((x.shape[0],) + tuple(out_hw) + (x.shape[3],), np.float32)
    if y.size:
        native.affine_warp(x.reshape(-1), t.reshape(-1), y.reshape(-1), x.shape, tuple(out_hw),
                           interpolation == "bilinear", fill_mode, fill_value, impl == "naive")
    return y


def affine_warp_backward(dy, transforms, input_size, interpolation="bilinear",
                         fill_mode="reflect", fill_value=0.0, impl="fast"):
    """dL/dx of ``affine_warp`` given dy = dL/dy (fill_value does not matter:
    constant pixels depend on no input).

    Args:
        dy: (batch, out_height, out_width, channels).
        transforms, interpolation, fill_mode: as given to the forward pass.
        input_size: (height, width) of the forward pass's x.
        impl: "fast", "naive" or "numpy".

    Returns:
        float32 array (batch, height, width, channels).
    """
    kernel = "affine_warp_backward"
    check_impl(kernel, impl)
    fill_value = check_warp_options(kernel, interpolation, fill_mode, fill_value)
    dy = as_float32(kernel, "dy", dy, X_AXES)
    check_nonempty(kernel, "dy", dy, X_AXES)
    t = _transforms(kernel, transforms, dy.shape[0])
    in_hw = positive_pair(kernel, "input_size", input_size)
    if impl == "numpy":
        return reference.affine_warp_backward(dy, t, in_hw, interpolation, fill_mode)
    dx = np.empty((dy.shape[0],) + in_hw + (dy.shape[3],), np.float32)
    if dx.size:
        native.affine_warp_backward(dy.reshape(-1), t.reshape(-1), dx.reshape(-1),
                                    dx.shape, dy.shape[1:3], interpolation == "bilinear",
                                    fill_mode, fill_value, impl == "naive")
    return dx
