"""The activations as kernels (course, chapters 5 and 6).

    relu(x)              = max(x, 0)        (NaN stays NaN)
    relu_backward(y, dy) = dy where y > 0, else 0
    softmax(x)           = e^(x − max) / Σ e^(x − max), along the last axis
    activation(name, x)  = tanh, sigmoid, elu, selu, softplus, softsign,
                           hard_sigmoid, leaky_relu, exponential, silu or
                           gelu_tanh of x, elementwise
    activation_backward(name, source, dy) = dy · f'(.), from f's output y
                           (from x for silu and gelu_tanh:
                           ``activation_reads_input``)

``relu_backward`` takes relu's *output* y: y > 0 exactly where x > 0, so the
layer need not keep x, and relu'(0) = 0 as in Keras.

One activation code for every C kernel that takes one (``activation_code``):
the kernels' epilogues (``conv2d(..., activation=)``, ``matmul(...,
activation=)`` apply it as they write each output: no second pass over y),
``dense_backward`` and the pools' backward passes (``through=``, which fold
in its derivative).  All of them keep only the output y, so they take the
activations whose derivative y determines: none, relu and ``FROM_OUTPUT``
-- not silu and gelu_tanh, whose backward passes read the input z, nor
softmax, which mixes a row.
"""
import numpy as np

from . import reference
from ._native import native
from .validation import as_float32_any_shape, check_impl, finite_number, is_float32_c

# The C kernels' activations, in the order of fastnn.h's enum fastnn_activation.
# gelu_tanh is gelu(approximate=True), x·sigmoid(2u) with u = √(2/π)(x + 0.044715x³).
ACTIVATION_NAMES = ("tanh", "sigmoid", "elu", "selu", "softplus", "softsign", "hard_sigmoid",
                    "leaky_relu", "exponential", "silu", "gelu_tanh")
_CODES = {name: code for code, name in enumerate(ACTIVATION_NAMES)}
DEFAULT_ALPHA = {"elu": 1.0, "leaky_relu": 0.2}   # Keras's defaults for the names
# the ones whose derivative the output y determines
FROM_OUTPUT = tuple(name for name in ACTIVATION_NAMES
                    if name not in reference.ACTIVATION_READS_INPUT)


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


def activation_reads_input(name):
    """Whether ``activation_backward(name, ...)`` takes the forward input x
    (silu, gelu_tanh) rather than the forward output y (all the others)."""
    return name in reference.ACTIVATION_READS_INPUT


def _check_activation(kernel, name, alpha):
    """The C code of ``name`` and alpha as a float, or a ValueError."""
    if name not in _CODES:
        raise ValueError(f"{kernel}: name must be one of {', '.join(map(repr, ACTIVATION_NAMES))}, "
                         f"got {name!r}")
    if alpha is None:
        alpha = DEFAULT_ALPHA.get(name, 0.0)
    if not finite_number(alpha):
        raise ValueError(f"{kernel}: alpha must be a finite number, got {alpha!r}")
    if name == "elu" and not alpha > 0:
        raise ValueError(f"{kernel}: elu's alpha must be > 0 (its backward pass reads the "
                         f"sign of the output), got {alpha!r}")
    if name == "leaky_relu" and not alpha >= 0:
        raise ValueError(f"{kernel}: leaky_relu's slope alpha must be >= 0 (its backward "
                         f"pass reads the sign of the output), got {alpha!r}")
    return _CODES[name], float(alpha)


def activation_code(kernel, name, alpha=None, argument="activation", none=True):
    """(the C kernels' code of activation ``name``, alpha as a float) for
    ``kernel``, which keeps only the activation's output y: it applies the
    activation as it writes y (an epilogue) or takes its derivative from y.

    ``name`` is "relu", one of ``FROM_OUTPUT`` (alpha as in ``activation``),
    or None (no activation) where ``none``; ``argument`` names the
    argument in the error message.  Anything else is a ValueError naming
    what the kernel takes, and why silu, gelu_tanh and softmax are not
    among them.
    """
    if name is None and none:
        return native.ACT_NONE, 0.0
    if isinstance(name, str) and name == "relu":
        return native.ACT_RELU, 0.0
    if isinstance(name, str) and name in FROM_OUTPUT:
        return _check_activation(kernel, name, alpha)
    takes = f"{'None, ' if none else ''}'relu' or one of {', '.join(map(repr, FROM_OUTPUT))}"
    why = ""
    if isinstance(name, str) and name in reference.ACTIVATION_READS_INPUT:
        why = (f": {name}'s backward pass reads the activation's input z, and {kernel} keeps "
               f"only its output")
    elif isinstance(name, str) and name == "softmax":
        why = ": softmax mixes a row (it has a kernel of its own)"
    raise ValueError(f"{kernel}: {argument} must be {takes} (an activation whose derivative "
                     f"its output determines), got {name!r}{why}")


def _output(kernel, out, like):
    """A new array like ``like``, or ``out`` when it is a C-contiguous float32
    array of the same shape (it may be an input: the kernels work in place)."""
    if out is None:
        return np.empty_like(like)
    if not is_float32_c(out) or out.shape != like.shape:
        raise ValueError(f"{kernel}: out must be a C-contiguous float32 array of shape "
                         f"{like.shape}, got "
                         f"{getattr(out, 'dtype', type(out).__name__)} {getattr(out, 'shape', '')}")
    return out


def activation(name, x, alpha=None, impl="fast", out=None):
    """y = f(x) elementwise for one of ``ACTIVATION_NAMES``, x of any shape.

    ``alpha`` is elu's alpha (> 0, default 1) or leaky_relu's slope (>= 0,
    default 0.2); the others ignore it.  ``out``: where to write y (x itself to work in place);
    default a new float32 array.
    """
    check_impl("activation", impl)
    code, alpha = _check_activation("activation", name, alpha)
    x = as_float32_any_shape("activation", "x", x)
    y = _output("activation", out, x)
    if impl == "numpy":
        y[...] = reference.activation(name, x, alpha)
    elif y.size:
        native.activation_forward(code, alpha, x.reshape(-1), y.reshape(-1), impl == "naive")
    return y


def activation_backward(name, source, dy, alpha=None, impl="fast", out=None):
    """dLoss/dx = dy · f'(.) of ``activation(name, x, alpha)``.

    ``source`` is the forward output y, or the input x for the activations
    where ``activation_reads_input(name)``; dy has its shape.  ``out``: where
    to write dx (dy itself to work in place); default a new float32 array.
    """
    check_impl("activation_backward", impl)
    code, alpha = _check_activation("activation_backward", name, alpha)
    source = as_float32_any_shape("activation_backward", "source", source)
    dy = as_float32_any_shape("activation_backward", "dy", dy)
    if source.shape != dy.shape:
        what = "x" if activation_reads_input(name) else "y"
        raise ValueError(f"activation_backward: dy must have the shape of the source "
                         f"({what}) {source.shape}, got {dy.shape}")
    dx = _output("activation_backward", out, dy)
    if impl == "numpy":
        dx[...] = reference.activation_backward(name, source, dy, alpha)
    elif dx.size:
        native.activation_backward(code, alpha, source.reshape(-1), dy.reshape(-1),
                                   dx.reshape(-1), impl == "naive")
    return dx
