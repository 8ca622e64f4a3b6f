"""ReLU, its gradient and softmax as kernels (course, chapters 5 and 6).

    relu(x)              = max(x, 0)        (NaN stays NaN)
    relu_backward(y, dy) = dy where y > 0, else 0
    softmax(x)           = e^(x − max) / Σ e^(x − max), along the last axis

``relu_backward`` takes relu's *output* y: y > 0 exactly where x > 0, so the
layer need not keep x, and relu'(0) = 0 as in Keras.  A Conv2D with
``activation="relu"`` does not call ``relu`` at all: ``conv2d(...,
activation="relu")`` applies it inside the convolution's last pass.
"""
import numpy as np

from . import reference
from ._native import native
from .validation import as_float32_any_shape, check_impl


def relu(x, impl="fast"):
    """max(x, 0) elementwise, any shape; returns a new float32 array."""
    check_impl("relu", impl)
    x = as_float32_any_shape("relu", "x", x)
    if impl == "numpy":
        return reference.relu(x)
    y = np.empty_like(x)
    if y.size:
        native.relu(x.reshape(-1), y.reshape(-1), impl == "naive")
    return y


def relu_backward(y, dy, impl="fast"):
    """dLoss/dx of relu given its output ``y`` and dy = dLoss/dy (same shape)."""
    check_impl("relu_backward", impl)
    y, dy = as_float32_any_shape("relu_backward", "y", y), as_float32_any_shape("relu_backward", "dy", dy)
    if y.shape != dy.shape:
        raise ValueError(f"relu_backward: dy must have the shape of y {y.shape}, "
                         f"got {dy.shape}")
    if impl == "numpy":
        return reference.relu_backward(y, dy)
    dx = np.empty_like(dy)
    if dx.size:
        native.relu_backward(y.reshape(-1), dy.reshape(-1), dx.reshape(-1), impl == "naive")
    return dx


def softmax(x, impl="fast"):
    """Softmax along the last axis of x (any shape with at least one axis):
    each row's values become probabilities that sum to 1.  Returns a new
    float32 array of x's shape."""
    check_impl("softmax", impl)
    x = as_float32_any_shape("softmax", "x", x)
    if x.ndim == 0:
        raise ValueError("softmax: x must have at least one axis (the classes), got a scalar")
    if impl == "numpy":
        return reference.softmax(x)
    y = np.empty_like(x)
    if y.size:
        rows = x.reshape(-1, x.shape[-1])
        native.softmax(rows, y.reshape(rows.shape), impl == "naive")
    return y
