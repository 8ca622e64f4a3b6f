"""Sparse categorical crossentropy of a softmax output, and its gradient, as one
kernel (course, chapters 6 and 7).

    q_i      = p[i, label_i] / Σ_j p[i, j]        (p: one softmax output per row)
    loss_i   = −log(clip(q_i, ε, 1 − ε))
    dz[i, j] = scale · (p[i, j] − [j = label_i])  (the gradient at the logits z)

Every classifier of the course ends in softmax and trains with
``sparse_categorical_crossentropy``.  In NumPy these formulas take a dozen
small passes, each with its own temporary array, and on a small model they
cost more than the layers do; csrc/crossentropy.c does them in one pass.
"""

import numpy as np

from . import reference
from ._native import native
from .validation import as_float32, finite_number

IMPLS = ("fast", "numpy")  # one C version: a single pass has no textbook twin to compare with


def sparse_crossentropy(p, labels, gradient_scale=None, epsilon=1e-7, impl="fast"):
    """Per-sample losses of integer ``labels`` under probabilities ``p``, and
    optionally the gradient through the softmax that made ``p``.

    Args:
        p: (rows, classes) probabilities, one softmax output per row.
        labels: (rows,) integer class indices in 0 … classes − 1.
        gradient_scale: None for the losses alone; a number s for also
            dz = s·(p − onehot(labels)), the gradient of s·Σ loss_i with
            respect to the softmax's inputs (s = 1/rows for a batch mean).
        epsilon: q is clipped to [ε, 1 − ε] before the log.
        impl: "fast" (C) or "numpy" (the reference; it keeps float64 p in
            float64).

    Returns:
        (losses, dz): float64 array (rows,); array of p's dtype (rows,
        classes), float32 unless "numpy" got float64, or None.
    """
    if impl not in IMPLS:
        raise ValueError(f"sparse_crossentropy: impl must be 'fast' or 'numpy', got {impl!r}")
    keeps_float64 = (impl == "numpy" and isinstance(p, np.ndarray) and p.dtype == np.float64
                     and p.ndim == 2)  # the reference computes in p's precision
    if not keeps_float64:
        p = as_float32("sparse_crossentropy", "p", p, ("rows", "classes"))
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iu":
        raise ValueError(f"sparse_crossentropy: labels must be integers, got dtype {labels.dtype}")
    if labels.shape != p.shape[:1]:
        raise ValueError(f"sparse_crossentropy: labels must have shape ({len(p)},), one per "
                         f"row of p, got {labels.shape}")
    if gradient_scale is not None and not finite_number(gradient_scale):
        raise ValueError(f"sparse_crossentropy: gradient_scale must be a finite number or "
                         f"None, got {gradient_scale!r}")
    if not finite_number(epsilon) or not 0 <= epsilon < 0.5:
        raise ValueError(f"sparse_crossentropy: epsilon must be a number in [0, 0.5), "
                         f"got {epsilon!r}")
    rows, classes = p.shape
    losses = np.empty(rows, np.float64)
    dz = None if gradient_scale is None else np.empty_like(p)
    if rows == 0:
        return losses, dz
    if impl == "numpy" or classes == 0:
        outside = np.flatnonzero((labels < 0) | (labels >= classes))
        bad = outside[0] if len(outside) else -1
        if bad < 0:
            losses, dz = reference.sparse_crossentropy(p, labels, epsilon, gradient_scale)
    else:
        if labels.dtype != np.int64 or not labels.flags.c_contiguous:
            labels = np.ascontiguousarray(labels, np.int64)
        bad = native.sparse_crossentropy(p, labels, epsilon, gradient_scale or 0.0, losses, dz)
    if bad >= 0:
        raise ValueError(f"sparse_crossentropy: labels must be in 0..{classes - 1}, "
                         f"got {labels[bad]} (row {bad})")
    return losses, dz
