"""Argument checks shared by every kernel: the only place they happen.

Each check raises ``ValueError`` (``TypeError`` for a wrong kind of object)
whose message starts with the operation's name -- the first argument of
every check, ``op`` ("conv2d", "max_pool2d"; not to be confused with a
layer's ``kernel``, its weights) -- and says what was expected and what
arrived, e.g. ``conv2d: w has 4 input channels but x has 3``.  Nothing
reaches C before these checks pass.
"""
import math
import numbers

import numpy as np

from ..arrays import real_array
from .geometry import PADDINGS

IMPLS = ("fast", "naive", "numpy")

# The C kernels index with int64_t throughout.  No array holds more than
# 2**61 float32 values (2**63 bytes), so with window sizes and strides of at
# most 2**61 the largest index C forms (a position plus a window plus a
# stride) stays below 3 * 2**61 < 2**63: nothing overflows.  A stride times
# a row's length is formed only where a second output exists, and so lies
# inside the array (csrc/internal.h, fastnn_window_step).
MAX_WINDOW = 2**61


def check_impl(op, impl):
    """``impl`` must be one of "fast", "naive", "numpy"."""
    if impl not in IMPLS:
        raise ValueError(f"{op}: impl must be one of {', '.join(map(repr, IMPLS))}, "
                         f"got {impl!r}")
    return impl


def as_float32(op, name, value, axes):
    """``value`` as a C-contiguous float32 array with ``len(axes)`` dimensions.

    ``axes`` names the dimensions for the error message, e.g.
    ``("batch", "height", "width", "channels")``.  Copies only when the
    input is not already C-contiguous float32.
    """
    if is_float32_c(value) and value.ndim == len(axes):  # the common case, checked quickly
        return value
    return as_contiguous(op, name, value, axes, np.float32)


def as_contiguous(op, name, value, axes, dtype):
    """``value`` as a C-contiguous array of ``dtype`` with ``len(axes)``
    dimensions (float64 for the few values kept more precisely than float32,
    such as batch normalisation's mean)."""
    array = real_array(value, f"{op}: {name}")
    if array.ndim != len(axes):
        raise ValueError(f"{op}: {name} must be {len(axes)}-D "
                         f"({', '.join(axes)}), got shape {array.shape}")
    return np.ascontiguousarray(array, dtype=dtype)


def as_float32_any_shape(op, name, value):
    """``value`` as a C-contiguous float32 array of any shape (an elementwise
    kernel's input; 0-D stays 0-D, unlike ``np.ascontiguousarray``)."""
    if is_float32_c(value):
        return value
    return np.asarray(real_array(value, f"{op}: {name}"), dtype=np.float32, order="C")


def is_float32_c(value):
    """Whether ``value`` is already what C reads: a C-contiguous float32 ndarray."""
    return type(value) is np.ndarray and value.dtype == np.float32 and value.flags.c_contiguous


def finite_number(value):
    """Whether ``value`` is a finite real number (an int or a float, not a bool)."""
    if type(value) is float:  # the common case, checked quickly
        return math.isfinite(value)
    return (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and math.isfinite(value))


def positive_pair(op, name, value):
    """An int or a pair of ints, each in 1..MAX_WINDOW, as a tuple (rows, cols)."""
    return positive_ints(op, name, value, 2)


#: How an error message names a tuple of ``count`` window sizes.
TUPLE_WORDS = {1: "a tuple of one positive int", 2: "a pair of positive ints",
               3: "a triple of positive ints"}


def positive_ints(op, name, value, count):
    """An int (the same on every axis) or ``count`` ints, each in 1..MAX_WINDOW,
    as a tuple: a window size or stride of a 1-D, 2-D or 3-D kernel."""
    ints = (value,) * count if isinstance(value, numbers.Integral) else value
    try:
        ints = tuple(ints)
    except TypeError:
        ints = ()
    if (len(ints) != count
            or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in ints)
            or min(ints) < 1):
        raise ValueError(f"{op}: {name} must be a positive int or {TUPLE_WORDS[count]}, "
                         f"got {value!r}")
    if max(ints) > MAX_WINDOW:
        raise ValueError(f"{op}: {name} must be at most 2**61 (the C kernels index "
                         f"with 64-bit integers), got {value!r}")
    return tuple(int(v) for v in ints)


def padding_mode(op, padding):
    """"valid" or "same" (any letter case, as Keras accepts)."""
    mode = padding.lower() if isinstance(padding, str) else padding
    if mode not in PADDINGS:
        raise ValueError(f"{op}: padding must be one of {', '.join(map(repr, PADDINGS))}, "
                         f"got {padding!r}")
    return mode


def check_output_size(op, win, what):
    """A "valid" window larger than the image leaves no output at all."""
    if win.out_h < 1 or win.out_w < 1:
        raise ValueError(f"{op}: {what} {win.k_h}x{win.k_w} does not fit the "
                         f"{win.in_h}x{win.in_w} input with padding='valid' "
                         f"(output would be {win.out_h}x{win.out_w}); use a smaller "
                         f"{what} or padding='same'")


def check_shape(op, name, array, expected):
    """``array.shape`` must equal ``expected`` (the shape the forward pass gives)."""
    if array.shape != tuple(expected):
        raise ValueError(f"{op}: {name} must have shape {tuple(expected)}, "
                         f"got {array.shape}")


def check_nonempty(op, name, array, axes):
    """Every axis but the first (the batch) must have at least one element."""
    if 0 in array.shape[1:]:
        raise ValueError(f"{op}: {name} has shape {array.shape}, but its "
                         f"{', '.join(axes[1:])} must all be at least 1")
