"""Dropout's mask as a kernel (course, chapter 12): one pass, nothing stored.

    y = x · mask / keep_prob        mask[i] = 1 with probability keep_prob, else 0

The mask is not drawn from a sequential generator but computed: element i
is kept when a hash of (seed, i) falls below keep_prob·2³² (csrc/dropout.c).
So the same call on the output gradient with the same seed is the backward
pass, no mask array is kept between the passes, and the result does not
depend on how many threads share the work.
"""
import math
import numbers

import numpy as np

from . import reference
from ._native import native
from .validation import as_float32_any_shape, check_impl


def dropout(x, keep_prob, seed, impl="fast"):
    """x with each element kept (and scaled by 1/keep_prob) with probability keep_prob.

    Args:
        x: array of any shape (converted to C-contiguous float32).
        keep_prob: 1 − rate, in (0, 1].
        seed: an int in [0, 2⁶⁴) choosing the mask; equal seeds give equal
            masks for arrays of one size.
        impl: "fast", "naive" or "numpy" (all three give the same mask).

    Returns:
        a new float32 array of x's shape.
    """
    check_impl("dropout", impl)
    keep_prob, seed = check_mask("dropout", keep_prob, seed)
    x = as_float32_any_shape("dropout", "x", x)
    if impl == "numpy":
        return reference.dropout(x, keep_prob, seed)
    y = np.empty_like(x)
    if y.size:
        native.dropout(x.reshape(-1), y.reshape(-1), keep_prob, seed, impl == "naive")
    return y


def check_mask(kernel, keep_prob, seed):
    """(float keep_prob, int seed) of a mask, or a ValueError naming ``kernel``
    and what was wrong: keep_prob must be in (0, 1], seed an int in [0, 2⁶⁴)."""
    if (isinstance(keep_prob, bool) or not isinstance(keep_prob, numbers.Real)
            or not 0 < keep_prob <= 1 or math.isnan(keep_prob)):
        raise ValueError(f"{kernel}: keep_prob must be a number in (0, 1], got {keep_prob!r}")
    if (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)
            or not 0 <= seed < 2**64):
        raise ValueError(f"{kernel}: seed must be an int in [0, 2**64), got {seed!r}")
    return float(keep_prob), int(seed)
