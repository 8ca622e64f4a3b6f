"""The Adam update as a kernel (course, chapters 7 and 9): one pass over a weight array.

    m ← β₁·m + (1 − β₁)·g
    v ← β₂·v + (1 − β₂)·g²
    w ← w − α·m / (√v + ε)        α = lr·√(1 − β₂ᵗ) / (1 − β₁ᵗ), the bias correction

NumPy needs about ten passes and as many temporary arrays for this; the C
kernel reads g, m, v, w once and writes m, v, w in place.
"""
import math
import numbers

import numpy as np

from . import reference
from ._native import native
from .validation import check_impl


def adam_update(w, g, m, v, beta_1, beta_2, alpha, epsilon, impl="fast"):
    """One Adam step on w, in place; m and v (the moving averages) too.

    Args:
        w, m, v: arrays of one shape, updated in place.  For "fast" and
            "naive" they must be float32 and C-contiguous (an in-place
            update of a converted copy would be lost); "numpy" takes any
            float arrays.
        g: the gradient, same shape (converted to float32 if needed).
        beta_1, beta_2: decay rates of the averages, in [0, 1).
        alpha: the step size with the bias correction folded in.
        epsilon: added to √v, > 0.
        impl: "fast", "naive" or "numpy".
    """
    check_impl("adam_update", impl)
    for name, value, low, high in (("beta_1", beta_1, 0, 1), ("beta_2", beta_2, 0, 1)):
        if not _number(value) or not low <= value < high:
            raise ValueError(f"adam_update: {name} must be a number in [0, 1), got {value!r}")
    if not _number(alpha) or not _number(epsilon) or not epsilon > 0:
        raise ValueError(f"adam_update: alpha must be a finite number and epsilon one > 0, "
                         f"got alpha={alpha!r}, epsilon={epsilon!r}")
    shape = np.shape(w)
    for name, array in (("m", m), ("v", v)):
        if np.shape(array) != shape:
            raise ValueError(f"adam_update: {name} must have the shape of w {shape}, "
                             f"got {np.shape(array)}")
    g = np.ascontiguousarray(g, dtype=np.float32)
    if g.shape != shape:
        raise ValueError(f"adam_update: g must have the shape of w {shape}, got {g.shape}")
    if impl == "numpy":
        reference.adam_update(w, g, m, v, beta_1, beta_2, alpha, epsilon)
        return
    for name, array in (("w", w), ("m", m), ("v", v)):
        if not (isinstance(array, np.ndarray) and array.dtype == np.float32
                and array.flags.c_contiguous and array.flags.writeable):
            raise ValueError(f"adam_update: {name} must be a writeable C-contiguous float32 "
                             f"array (it is updated in place), got "
                             f"{getattr(array, 'dtype', type(array).__name__)}")
    if w.size:
        native.adam_update(w.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1),
                           beta_1, beta_2, alpha, epsilon, impl == "naive")


def in_place_ready(*arrays):
    """Whether the C kernel can update these arrays in place."""
    return all(isinstance(a, np.ndarray) and a.dtype == np.float32 and a.flags.c_contiguous
               and a.flags.writeable for a in arrays)


def _number(value):
    return (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and math.isfinite(value))
