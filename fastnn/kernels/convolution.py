"""2-D convolution (Keras Conv2D) forward and backward.

Layouts: x is NHWC (batch, height, width, channels), the kernel w is HWIO
(kernel_height, kernel_width, in_channels, out_channels), as in Keras, so
weights move between fastnn and Keras unchanged.  Course, chapters 19-20.
"""
import numpy as np

from . import reference
from ._native import native
from .dilation import dilated_extent, dilated_padding, merge_phases, split_phases
from .geometry import Window2D
from .activation import activation_code
from .validation import (as_float32, check_impl, check_nonempty,
                         check_output_size, check_shape, padding_mode, positive_pair)

X_AXES = ("batch", "height", "width", "channels")
W_AXES = ("kernel_height", "kernel_width", "in_channels", "out_channels")


def _conv_args(op, x, w, strides, padding):
    x = as_float32(op, "x", x, X_AXES)
    w = as_float32(op, "w", w, W_AXES)
    check_nonempty(op, "x", x, X_AXES)
    if 0 in w.shape:
        raise ValueError(f"{op}: w has shape {w.shape}, but every axis of the "
                         f"kernel ({', '.join(W_AXES)}) must be at least 1")
    if w.shape[2] != x.shape[3]:
        raise ValueError(f"{op}: w has {w.shape[2]} input channels but x has "
                         f"{x.shape[3]}")
    strides = positive_pair(op, "strides", strides)
    padding = padding_mode(op, padding)
    win = Window2D.over(x.shape[1], x.shape[2], w.shape[:2], strides, padding)
    check_output_size(op, win, "kernel")
    return x, w, strides, padding, win


def _dilation(op, x, w, strides, padding, dilation_rate):
    """The checked dilation rates and, for a dilated kernel, its padding
    ((top, bottom), (left, right)) and output size (out_h, out_w)."""
    rates = positive_pair(op, "dilation_rate", dilation_rate)
    if rates == (1, 1):
        return rates, None, None
    if strides != (1, 1):
        raise ValueError(f"{op}: strides {strides} with dilation_rate {rates}: a dilated "
                         f"kernel moves by 1 (strides 1), as in Keras")
    pads = tuple(dilated_padding(size, k, d, padding)
                 for size, k, d in zip(x.shape[1:3], w.shape[:2], rates))
    out = tuple(size + before + after - dilated_extent(k, d) + 1
                for size, (before, after), k, d in zip(x.shape[1:3], pads, w.shape[:2], rates))
    if min(out) < 1:
        spans = tuple(dilated_extent(k, d) for k, d in zip(w.shape[:2], rates))
        raise ValueError(f"{op}: the kernel {w.shape[:2]} dilated by {rates} spans {spans} "
                         f"and does not fit x of shape {x.shape} with padding='{padding}'")
    return rates, pads, out


# fastnn_conv_algorithm (csrc/fastnn.h)
ALGORITHMS = {"auto": 0, "gemm": 1, "winograd": 2}


def _algorithm(op, algorithm, impl, w, strides):
    """The fastnn_conv_algorithm code of ``algorithm``, checked against the
    convolution: Winograd's F(4x4, 3x3) takes 3x3 kernels moving by 1."""
    if algorithm not in ALGORITHMS:
        raise ValueError(f"{op}: algorithm={algorithm!r}, expected one of "
                         f"{', '.join(repr(a) for a in ALGORITHMS)}")
    if algorithm != "auto" and impl != "fast":
        raise ValueError(f"{op}: algorithm={algorithm!r} chooses among the fast kernels; "
                         f"impl={impl!r} takes algorithm='auto'")
    if algorithm == "winograd" and (w.shape[:2] != (3, 3) or strides != (1, 1)):
        raise ValueError(f"{op}: algorithm='winograd' computes 3x3 convolutions with "
                         f"strides 1, not a {w.shape[0]}x{w.shape[1]} kernel with "
                         f"strides {strides}")
    return ALGORITHMS[algorithm]


def _bias(op, b, w):
    """The checked bias: None, or float32 with one value per filter of w."""
    if b is None:
        return None
    b = as_float32(op, "b", b, ("out_channels",))
    check_shape(op, "b", b, (w.shape[3],))
    return b


def conv2d(x, w, b=None, strides=(1, 1), padding="valid", impl="fast", activation=None,
           dilation_rate=(1, 1), alpha=None, algorithm="auto"):
    """Slide the filters w over x: the dot product of each filter with every window.

    y[n, oh, ow, co] = b[co] + Σ_{kh, kw, ci} x[n, oh·sh + kh, ow·sw + kw, ci] · w[kh, kw, ci, co]

    (indices into x shifted by the top/left padding for ``padding="same"``).

    Args:
        x: (batch, height, width, in_channels).
        w: (kernel_height, kernel_width, in_channels, out_channels).
        b: optional bias, (out_channels,).
        strides: int or (sh, sw).
        padding: "valid" (no padding: 28x28 with 3x3 gives 26x26) or "same"
            (zero padding so the output is ceil(size / stride)).
        impl: "fast", "naive" or "numpy".
        activation: None, "relu", or an activation whose derivative its
            output determines (tanh, sigmoid, elu, ...: ``activation_code``),
            applied by the kernel's epilogue to each block of y as it is
            written (fused: no second pass over y), with the bits of a
            separate ``activation`` pass.
        dilation_rate: int or (dh, dw): tap (kh, kw) reads x[n, oh + kh·dh,
            ow + kw·dw] (strides must then be 1); run as an ordinary
            convolution of the input's phases (``kernels.dilation``).
        alpha: elu's alpha or leaky_relu's slope (default: Keras's).
        algorithm: how impl="fast" computes it: "auto" (the kernels choose by
            the shape), "gemm" (the definition's sums, as matrix products or
            direct kernels) or "winograd" (3x3 kernels with strides 1 only:
            Winograd's F(4x4, 3x3), 36 multiplications per 4x4 outputs and
            channel pair instead of 144, at float32 rounding a few times
            the definition's).

    Returns:
        float32 array (batch, out_height, out_width, out_channels).
    """
    check_impl("conv2d", impl)
    code, alpha = activation_code("conv2d", activation, alpha)
    x, w, strides, padding, win = _conv_args("conv2d", x, w, strides, padding)
    method = _algorithm("conv2d", algorithm, impl, w, strides)
    b = _bias("conv2d", b, w)
    rates, pads, out = _dilation("conv2d", x, w, strides, padding, dilation_rate)
    if rates != (1, 1):
        y = conv2d(split_phases(x, rates, pads), w, b, impl=impl, activation=activation,
                   alpha=alpha, algorithm=algorithm)
        return merge_phases(y, rates, (0, 0), out)
    if impl == "numpy":
        y = reference.conv2d(x, w, b, strides, padding)
        return reference.epilogue(activation, y, alpha)
    y = np.empty((x.shape[0], win.out_h, win.out_w, w.shape[3]), np.float32)
    if y.size:
        native.conv2d(x.reshape(-1), w.reshape(-1), b, y.reshape(-1), x.shape[0],
                      x.shape[3], w.shape[3], win, code, alpha, impl == "naive", method)
    return y


def conv2d_backward(x, w, dy, strides=(1, 1), padding="valid", impl="fast", compute_dx=True,
                    compute_dw=True, dilation_rate=(1, 1), algorithm="auto"):
    """Gradients of a loss L through ``conv2d``, given dy = dL/dy.

    Args:
        x, w, strides, padding, dilation_rate: as given to the forward pass.
        dy: (batch, out_height, out_width, out_channels), the forward output's shape.
        impl: "fast", "naive" or "numpy".
        compute_dx: False skips dL/dx (returned as None): a network's first
            layer has no use for the gradient of its input.
        compute_dw: False skips dL/dw (returned as None): a transposed
            convolution's forward pass is a convolution's dL/dx, nothing more.
        algorithm: "auto", "gemm" or "winograd", as for ``conv2d`` (dx of a
            3x3 stride-1 convolution is one too; so is dw, by the transposed
            Winograd algorithm).

    Returns:
        (dx, dw, db): dL/dx shaped like x, dL/dw shaped like w, dL/db (out_channels,).
    """
    check_impl("conv2d_backward", impl)
    x, w, strides, padding, win = _conv_args("conv2d_backward", x, w, strides, padding)
    method = _algorithm("conv2d_backward", algorithm, impl, w, strides)
    dy = as_float32("conv2d_backward", "dy", dy, X_AXES)
    rates, pads, out = _dilation("conv2d_backward", x, w, strides, padding, dilation_rate)
    if rates != (1, 1):
        check_shape("conv2d_backward", "dy", dy, (x.shape[0], *out, w.shape[3]))
        phases = split_phases(x, rates, pads)
        q_h, q_w = phases.shape[1] - w.shape[0] + 1, phases.shape[2] - w.shape[1] + 1
        dy_phases = split_phases(dy, rates, ((0, q_h * rates[0] - out[0]),
                                             (0, q_w * rates[1] - out[1])))
        dx, dw, db = conv2d_backward(phases, w, dy_phases, impl=impl, compute_dx=compute_dx,
                                     compute_dw=compute_dw, algorithm=algorithm)
        if dx is not None:
            dx = merge_phases(dx, rates, (pads[0][0], pads[1][0]), x.shape[1:3])
        return dx, dw, db
    check_shape("conv2d_backward", "dy", dy, (x.shape[0], win.out_h, win.out_w, w.shape[3]))
    if impl == "numpy":
        dx, dw, db = reference.conv2d_backward(x, w, dy, strides, padding)
    elif x.shape[0] == 0:  # an empty batch: nothing flows back
        dx, dw, db = np.zeros_like(x), np.zeros_like(w), np.zeros(w.shape[3], np.float32)
    else:
        dx = np.empty_like(x) if compute_dx else None
        dw = np.empty_like(w) if compute_dw else None
        db = np.empty(w.shape[3], np.float32)
        native.conv2d_backward(x.reshape(-1), w.reshape(-1), dy.reshape(-1),
                               None if dx is None else dx.reshape(-1),
                               None if dw is None else dw.reshape(-1), db,
                               x.shape[0], x.shape[3], w.shape[3], win, impl == "naive",
                               method)
    return (dx if compute_dx else None), (dw if compute_dw else None), db


def conv2d_weight_gradient_through(x, w, y, dy, through, strides=(1, 1), padding="valid",
                                   alpha=None, impl="fast"):
    """(dw, db) of y = through(conv2d(x, w) + b) from dy = dL/dy, without dL/dx.

    The first layer of a network with an activation no pool takes: the
    gradient at the convolution's output, dz = dy · f'(y), is computed a
    block of pixels at a time as the weight sums read it (the kernel
    ``conv2d_backward`` uses for dw), instead of by a separate pass that
    writes a y-sized dz and reads it back.  dz has the bits of
    ``activation_backward(through, y, dy)`` (``relu_backward`` for "relu"),
    so dw and db are those of that pass followed by ``conv2d_backward(x, w,
    dz, compute_dx=False)``, bit for bit.

    Args:
        x, w, strides, padding: as given to ``conv2d`` (no dilation).
        y: the layer's output through(conv2d(x, w) + b), shaped like dy.
        dy: dL/dy, (batch, out_height, out_width, out_channels).
        through: None, "relu", or an activation whose derivative its output
            determines (tanh, sigmoid, elu, ...: ``activation_code``).
        alpha: elu's alpha or leaky_relu's slope (default: Keras's).
        impl: "fast", "naive" (dz element by element, then the textbook sums)
            or "numpy".

    Returns:
        (dw, db): shaped like w, and (out_channels,).
    """
    op = "conv2d_weight_gradient_through"
    check_impl(op, impl)
    code, alpha = activation_code(op, through, alpha, argument="through")
    x, w, strides, padding, win = _conv_args(op, x, w, strides, padding)
    out_shape = (x.shape[0], win.out_h, win.out_w, w.shape[3])
    y = as_float32(op, "y", y, X_AXES)
    check_shape(op, "y", y, out_shape)
    dy = as_float32(op, "dy", dy, X_AXES)
    check_shape(op, "dy", dy, out_shape)
    if impl == "numpy" or x.shape[0] == 0:
        dz = reference.epilogue_backward(through, y, dy, alpha)
        _, dw, db = reference.conv2d_backward(x, w, dz, strides, padding)
        return dw.astype(np.float32), db.astype(np.float32)
    dw, db = np.empty_like(w), np.empty(w.shape[3], np.float32)
    native.conv2d_weight_gradient_through(x.reshape(-1), y.reshape(-1), dy.reshape(-1), code,
                                          alpha, dw.reshape(-1), db, x.shape[0], x.shape[3],
                                          w.shape[3], win, impl == "naive")
    return dw, db


# The limits csrc/fastnn.h states, read from the bridge.  Convolutions run on the
# direct kernels of csrc/conv2d_direct.c when their patches are short -- at most
# DIRECT_ANY_C_MAX_K values (kh·kw·in_channels) -- or, up to DIRECT_MAX_K values,
# when the input has at most DIRECT_FEW_C channels (a first layer with a wide
# kernel: 7x7x3, 11x11x3); a pooling window may have at most POOLED_MAX_TAPS taps in
# conv2d_pooled_weight_gradient (FASTNN_POOLED_MAX_TAPS).  Callers ask the
# predicates below, which ask the C rule (fastnn_direct_conv_takes) itself.
DIRECT_MAX_K = native.DIRECT_MAX_K
DIRECT_ANY_C_MAX_K = native.DIRECT_ANY_C_MAX_K
DIRECT_FEW_C = native.DIRECT_FEW_C
POOLED_MAX_TAPS = native.POOLED_MAX_TAPS
DIRECT_LIMITS = (f"at most {DIRECT_ANY_C_MAX_K} values per patch (kh*kw*in_channels), or "
                 f"{DIRECT_MAX_K} with at most {DIRECT_FEW_C} input channels")


def direct_conv_takes(kernel_shape):
    """True when a kernel of ``kernel_shape`` (kh, kw, in_channels, ...) runs on the
    direct kernels: ``DIRECT_LIMITS`` (short patches, or few input channels)."""
    return native.direct_conv_takes(*kernel_shape[:3])


def pooled_weight_gradient_takes(kernel_shape, pool_size):
    """True when ``conv2d_pooled_weight_gradient`` takes a kernel of ``kernel_shape``
    under pool windows of ``pool_size`` (ph, pw) side by side: the direct kernels'
    patches (``direct_conv_takes``) and at most ``POOLED_MAX_TAPS`` taps per window."""
    return direct_conv_takes(kernel_shape) and pool_size[0] * pool_size[1] <= POOLED_MAX_TAPS


# A pooled value's winner where its window's maximum is <= 0: the ReLU cut it,
# no gradient passes (FASTNN_POOL_NO_WINNER).
POOL_NO_WINNER = native.POOL_NO_WINNER


def _pool_args(op, x, w, strides, padding, pool_size):
    """The checked convolution and its pool: windows of ``pool_size`` side by
    side on its output, within the direct kernels' limits."""
    x, w, strides, padding, win = _conv_args(op, x, w, strides, padding)
    if not direct_conv_takes(w.shape):
        raise ValueError(f"{op}: kernels of {DIRECT_LIMITS} only, got {w.shape[:3]}")
    pool_size = positive_pair(op, "pool_size", pool_size)
    if not pooled_weight_gradient_takes(w.shape, pool_size):
        raise ValueError(f"{op}: pool windows of at most {POOLED_MAX_TAPS} values only, "
                         f"got {pool_size}")
    pool = Window2D.over(win.out_h, win.out_w, pool_size, pool_size, "valid")
    check_output_size(op, pool, "pool_size")
    return x, w, strides, padding, win, pool_size, pool


def conv2d_relu_max_pool2d(x, w, b=None, strides=(1, 1), padding="valid", pool_size=(2, 2),
                           impl="fast", winners=True):
    """p = max_pool2d(relu(conv2d(x, w) + b), pool_size) in one pass, and the winners.

    The first layer of a CNN, Conv2D(relu) -> MaxPooling2D with windows side
    by side (strides = pool_size, padding "valid"): the convolution's output
    y is computed a few rows at a time into a buffer that stays in cache and
    pooled from there, so only p (a quarter of y under 2x2 windows) reaches
    memory.  p is bit-identical to ``max_pool2d(conv2d(..., activation="relu"),
    pool_size)``.

    The winners are what ``conv2d_pooled_weight_gradient`` needs of y: for
    each pooled value, the tap dh·pool_w + dw of its window's first maximum
    in row-major order (max pooling's tie rule), or ``POOL_NO_WINNER`` (255)
    where that maximum is <= 0 -- the ReLU cut it, no gradient passes.

    Args:
        x, w, b, strides, padding: as given to ``conv2d``; the kernel must run
            on the direct kernels (``direct_conv_takes``: ``DIRECT_LIMITS``).
        pool_size: int or (ph, pw), at most ``POOLED_MAX_TAPS`` (64) taps.
        impl: "fast", "naive" (the textbook loop over windows, each tap's
            convolution summed as the naive conv2d sums it) or "numpy".
        winners: False skips them (inference: nothing will backpropagate).

    Returns:
        (p, winners): float32 (batch, pooled height, pooled width, out_channels)
        and uint8 of the same shape, or None when not asked for.
    """
    op = "conv2d_relu_max_pool2d"
    check_impl(op, impl)
    x, w, strides, padding, win, pool_size, pool = _pool_args(op, x, w, strides, padding,
                                                             pool_size)
    b = _bias(op, b, w)
    shape = (x.shape[0], pool.out_h, pool.out_w, w.shape[3])
    if impl == "numpy":
        y = reference.relu(reference.conv2d(x, w, b, strides, padding))
        won = reference.max_pool2d_winners(y, pool_size, POOL_NO_WINNER)
        return (reference.max_pool2d(y, pool_size).astype(np.float32),
                won if winners else None)
    p = np.empty(shape, np.float32)
    won = np.empty(shape, np.uint8) if winners else None
    if p.size:
        native.conv2d_relu_max_pool(x.reshape(-1), w.reshape(-1), b, p.reshape(-1),
                                    None if won is None else won.reshape(-1), x.shape[0],
                                    x.shape[3], w.shape[3], win, pool, impl == "naive")
    return p, won


def conv2d_pooled_weight_gradient(x, w, y, dp, strides=(1, 1), padding="valid",
                                  pool_size=(2, 2), impl="fast", winners=None):
    """(dw, db) of p = max_pool2d(relu(conv2d(x, w) + b), pool_size) from dp = dL/dp.

    The first layer of a CNN: a convolution with ReLU, then max pooling with
    windows side by side (strides = pool_size, padding "valid"), and no use
    for dL/dx.  The gradient at the convolution's output -- dp at each
    window's maximum, where that maximum is > 0, else 0 -- is never stored:
    the C kernel builds it window by window next to the weight sums, so the
    y-sized arrays of max_pool2d_backward and relu_backward are not written.

    Args:
        x, w, strides, padding: as given to ``conv2d``; the kernel must run on
            the direct kernels (``direct_conv_takes``: ``DIRECT_LIMITS``, few
            input channels).
        y: the forward output, relu(conv2d(x, w) + b); None when ``winners``
            are given.
        dp: the pool's output gradient, (batch, pooled height, pooled width, out_channels).
        pool_size: int or (ph, pw), at most ``POOLED_MAX_TAPS`` (64) taps.
        impl: "fast", "naive" (the textbook loop over pool windows) or "numpy".
        winners: instead of y, the windows' winners ``conv2d_relu_max_pool2d``
            gave (uint8, dp's shape): y is then not needed at all.

    Returns:
        (dw, db): shaped like w, and (out_channels,).
    """
    op = "conv2d_pooled_weight_gradient"
    check_impl(op, impl)
    x, w, strides, padding, win, pool_size, pool = _pool_args(op, x, w, strides, padding,
                                                             pool_size)
    p_shape = (x.shape[0], pool.out_h, pool.out_w, w.shape[3])
    if (y is None) == (winners is None):
        raise ValueError(f"{op}: give y (the forward output) or winners (from "
                         f"conv2d_relu_max_pool2d), one of them, got "
                         f"{'neither' if y is None else 'both'}")
    if y is not None:
        y = as_float32(op, "y", y, X_AXES)
        check_shape(op, "y", y, (x.shape[0], win.out_h, win.out_w, w.shape[3]))
    else:
        winners = np.ascontiguousarray(winners)
        if winners.dtype != np.uint8:
            raise ValueError(f"{op}: winners must be uint8 (conv2d_relu_max_pool2d's), got "
                             f"{winners.dtype}")
        check_shape(op, "winners", winners, p_shape)
    dp = as_float32(op, "dp", dp, X_AXES)
    check_shape(op, "dp", dp, p_shape)
    if impl == "numpy" or x.shape[0] == 0:
        if y is not None:
            dz = reference.relu_backward(y, reference.max_pool2d_backward(y, dp, pool_size))
        else:
            dz = reference.unpool_winners(dp, winners, pool_size, (win.out_h, win.out_w))
        _, dw, db = reference.conv2d_backward(x, w, dz, strides, padding)
        return dw.astype(np.float32), db.astype(np.float32)
    dw, db = np.empty_like(w), np.empty(w.shape[3], np.float32)
    native.conv2d_pooled_weight_gradient(x.reshape(-1), None if y is None else y.reshape(-1),
                                         None if winners is None else winners.reshape(-1),
                                         dp.reshape(-1), dw.reshape(-1), db, x.shape[0],
                                         x.shape[3], w.shape[3], win, pool, impl == "naive")
    return dw, db
