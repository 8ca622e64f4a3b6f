"""The Adam update as a kernel (course, chapters 7 and 9): one pass over a weight array.

    m ← β₁·m + (1 − β₁)·g
    v ← β₂·v + (1 − β₂)·g²
    w ← w − α·m / (√v + ε)        α = lr·√(1 − β₂ᵗ) / (1 − β₁ᵗ), the bias correction

NumPy needs about ten passes and as many temporary arrays for this; the C
kernel reads g, m, v, w once and writes m, v, w in place.
"""

import numpy as np

from . import reference
from ._native import native
from .validation import check_impl, finite_number, is_float32_c


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
    adam_update_many([w], [g], [m], [v], beta_1, beta_2, alpha, epsilon, impl)


def adam_update_many(ws, gs, ms, vs, beta_1, beta_2, alpha, epsilon, impl="fast"):
    """``adam_update`` on every (w, g, m, v) of four equally long lists, in one call.

    What an optimizer step over a whole model needs: the arguments are
    checked once and the kernel runs array after array without returning to
    Python in between, which matters for small models, where a step is
    mostly overhead (the course's MLP has six weight arrays).
    """
    check_impl("adam_update", impl)
    for name, value in (("beta_1", beta_1), ("beta_2", beta_2)):
        if not finite_number(value) or not 0 <= value < 1:
            raise ValueError(f"adam_update: {name} must be a number in [0, 1), got {value!r}")
    if not finite_number(alpha) or not finite_number(epsilon) or not epsilon > 0:
        raise ValueError(f"adam_update: alpha must be a finite number and epsilon one > 0, "
                         f"got alpha={alpha!r}, epsilon={epsilon!r}")
    gs = [g if is_float32_c(g) else np.ascontiguousarray(g, dtype=np.float32) for g in gs]
    if not len(ws) == len(gs) == len(ms) == len(vs):
        raise ValueError(f"adam_update: w, g, m and v must be lists of one length, got "
                         f"{len(ws)}, {len(gs)}, {len(ms)}, {len(vs)}")
    if impl == "numpy":
        _explain_shapes(ws, gs, ms, vs)
        for w, g, m, v in zip(ws, gs, ms, vs):
            reference.adam_update(w, g, m, v, beta_1, beta_2, alpha, epsilon)
        return
    try:  # the bridge checks shapes, dtype, layout and writeability, all before any update
        native.adam_update(ws, gs, ms, vs, beta_1, beta_2, alpha, epsilon, impl == "naive")
    except (ValueError, TypeError, BufferError):
        _explain_shapes(ws, gs, ms, vs)
        _explain_layout(ws, ms, vs)
        raise


def _explain_shapes(ws, gs, ms, vs):
    """ValueError naming the first array whose shape differs from its w's."""
    for w, g, m, v in zip(ws, gs, ms, vs):
        shape = np.shape(w)
        for name, array in (("m", m), ("v", v), ("g", g)):
            if np.shape(array) != shape:
                raise ValueError(f"adam_update: {name} must have the shape of w {shape}, "
                                 f"got {np.shape(array)}")


def _explain_layout(ws, ms, vs):
    """ValueError naming the first array C cannot update in place."""
    for name, arrays in (("w", ws), ("m", ms), ("v", vs)):
        for array in arrays:
            if not in_place_ready(array):
                raise ValueError(f"adam_update: {name} must be a writeable C-contiguous "
                                 f"float32 array (it is updated in place), got "
                                 f"{getattr(array, 'dtype', type(array).__name__)}")


def in_place_ready(array):
    """Whether the C kernel can update ``array`` in place."""
    return is_float32_c(array) and array.flags.writeable
