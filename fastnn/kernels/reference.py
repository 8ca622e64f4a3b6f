"""NumPy reference implementations of every kernel: the readable spec.

These are the test oracle for the C kernels (``impl="numpy"`` selects them)
and the place to read what a kernel computes.  They work in any float dtype,
so the tests can check their gradients against finite differences in
float64.  They never import the C extension.

Convolution and pooling loop over the *taps* of the window, (kh, kw), and
let NumPy do each tap for all windows at once: ``tap_slices`` picks, for
tap (kh, kw), the input value under it in every window (course, chapter 19:
the filter's dot product with every window is the sum over taps of tap
weight times the value under the tap).
"""
import math

import numpy as np

from .geometry import Window2D


def matmul(a, b, transpose_a=False, transpose_b=False):
    """C = op(a) @ op(b), op transposing when asked."""
    return (a.T if transpose_a else a) @ (b.T if transpose_b else b)


def _conv_window(x, w, strides, padding):
    return Window2D.over(x.shape[1], x.shape[2], w.shape[:2], strides, padding)


def conv2d(x, w, b=None, strides=(1, 1), padding="valid"):
    """Keras Conv2D: x (n, h, w, ci), w (kh, kw, ci, co) -> y (n, oh, ow, co).

    y[n, oh, ow, :] = b + sum over taps (kh, kw) of x_under_tap @ w[kh, kw]
    """
    win = _conv_window(x, w, strides, padding)
    padded = np.pad(x, win.pad_widths())
    y = np.zeros((x.shape[0], win.out_h, win.out_w, w.shape[3]), x.dtype)
    for kh in range(win.k_h):
        for kw in range(win.k_w):
            rows, cols = win.tap_slices(kh, kw)
            y += padded[:, rows, cols, :] @ w[kh, kw]
    if b is not None:
        y += b
    return y


def conv2d_backward(x, w, dy, strides=(1, 1), padding="valid"):
    """Gradients (dx, dw, db) of a loss with dL/dy = dy through ``conv2d``.

    Each tap's term ``x_under_tap @ w[kh, kw]`` is a matrix product, so its
    gradients are the matrix-product rules: dw[kh, kw] = x_under_tapᵀ · dy
    and x_under_tap receives dy · w[kh, kw]ᵀ.
    """
    win = _conv_window(x, w, strides, padding)
    padded = np.pad(x, win.pad_widths())
    d_padded = np.zeros_like(padded)
    dw = np.zeros_like(w)
    for kh in range(win.k_h):
        for kw in range(win.k_w):
            rows, cols = win.tap_slices(kh, kw)
            dw[kh, kw] = np.tensordot(padded[:, rows, cols, :], dy, axes=([0, 1, 2], [0, 1, 2]))
            d_padded[:, rows, cols, :] += dy @ w[kh, kw].T
    dx = d_padded[:, win.pad_top:win.pad_top + win.in_h,
                  win.pad_left:win.pad_left + win.in_w, :]
    return dx, dw, dy.sum(axis=(0, 1, 2))


def _pool_window(x, pool_size, strides, padding):
    strides = pool_size if strides is None else strides
    return Window2D.over(x.shape[1], x.shape[2], pool_size, strides, padding)


def _taps(win):
    return [win.tap_slices(kh, kw) for kh in range(win.k_h) for kw in range(win.k_w)]


def _unpad(win, padded):
    return padded[:, win.pad_top:win.pad_top + win.in_h,
                  win.pad_left:win.pad_left + win.in_w, :]


def max_pool2d(x, pool_size=(2, 2), strides=None, padding="valid"):
    """Largest value of each window; padding (-inf) never wins."""
    win = _pool_window(x, pool_size, strides, padding)
    padded = np.pad(x, win.pad_widths(), constant_values=-np.inf)
    return np.max([padded[:, rows, cols, :] for rows, cols in _taps(win)], axis=0)


def max_pool2d_backward(x, dy, pool_size=(2, 2), strides=None, padding="valid"):
    """Each dy goes to the window's maximum (the first tap holding it on ties)."""
    win = _pool_window(x, pool_size, strides, padding)
    padded = np.pad(x, win.pad_widths(), constant_values=-np.inf)
    taps = _taps(win)
    winner = np.argmax([padded[:, rows, cols, :] for rows, cols in taps], axis=0)
    d_padded = np.zeros(padded.shape, dy.dtype)
    for t, (rows, cols) in enumerate(taps):
        d_padded[:, rows, cols, :] += np.where(winner == t, dy, 0)
    return _unpad(win, d_padded)


def max_pool2d_winners(y, pool_size, no_winner):
    """Each window's winner for windows side by side ('valid'): the tap
    dh·pool_w + dw of its first maximum, or ``no_winner`` where that maximum
    is <= 0 (y a ReLU's output: no gradient passes there)."""
    win = _pool_window(y, pool_size, None, "valid")
    values = np.array([y[:, rows, cols, :] for rows, cols in _taps(win)])
    return np.where(values.max(axis=0) > 0, np.argmax(values, axis=0), no_winner).astype(
        np.uint8)


def unpool_winners(dp, winners, pool_size, y_size):
    """The gradient at y (y_size rows and columns) from the pool's output
    gradient dp and ``max_pool2d_winners``: dp at each winner, 0 elsewhere
    (and where the window has none)."""
    (ph, pw), (rows, cols) = pool_size, dp.shape[1:3]
    dy = np.zeros((dp.shape[0], *y_size, dp.shape[3]), dp.dtype)
    for t in range(ph * pw):
        dy[:, t // pw:rows * ph:ph, t % pw:cols * pw:pw, :] = np.where(winners == t, dp, 0)
    return dy


def _in_bounds_counts(win, dtype):
    """How many real (non-padding) inputs each window covers: (1, oh, ow, 1)."""
    inside = np.pad(np.ones((1, win.in_h, win.in_w, 1), dtype), win.pad_widths())
    return sum(inside[:, rows, cols, :] for rows, cols in _taps(win))


def avg_pool2d(x, pool_size=(2, 2), strides=None, padding="valid"):
    """Mean of each window's in-bounds values (Keras divides by their count)."""
    win = _pool_window(x, pool_size, strides, padding)
    padded = np.pad(x, win.pad_widths())
    total = sum(padded[:, rows, cols, :] for rows, cols in _taps(win))
    return total / _in_bounds_counts(win, x.dtype)


def avg_pool2d_backward(x, dy, pool_size=(2, 2), strides=None, padding="valid"):
    """Each dy is shared equally by the in-bounds inputs of its window."""
    win = _pool_window(x, pool_size, strides, padding)
    share = dy / _in_bounds_counts(win, dy.dtype)
    d_padded = np.zeros(np.pad(x, win.pad_widths()).shape, dy.dtype)
    for rows, cols in _taps(win):
        d_padded[:, rows, cols, :] += share
    return _unpad(win, d_padded)


def _fill_index(i, length, fill_mode):
    """Integer positions mapped into 0..length-1 by the fill mode (-1: constant)."""
    if fill_mode == "reflect":
        m = np.mod(i, 2 * length)
        return np.where(m < length, m, 2 * length - 1 - m)
    if fill_mode == "wrap":
        return np.mod(i, length)
    if fill_mode == "nearest":
        return np.clip(i, 0, length - 1)
    return np.where((i >= 0) & (i < length), i, -1)


def _warp_taps(t, in_hw, out_hw, interpolation, fill_mode):
    """For every output pixel, its input taps: [(rows, cols, weights)], each (n, oh, ow)."""
    t = t.astype(np.float64)
    i, j = np.meshgrid(np.arange(out_hw[0]), np.arange(out_hw[1]), indexing="ij")
    sx = t[:, 0, None, None] * j + t[:, 1, None, None] * i + t[:, 2, None, None]
    sy = t[:, 3, None, None] * j + t[:, 4, None, None] * i + t[:, 5, None, None]
    if interpolation == "nearest":
        rows, cols = np.floor(sy + 0.5).astype(np.int64), np.floor(sx + 0.5).astype(np.int64)
        return [(_fill_index(rows, in_hw[0], fill_mode), _fill_index(cols, in_hw[1], fill_mode),
                 np.ones(rows.shape))]
    y0, x0 = np.floor(sy), np.floor(sx)
    fy, fx = sy - y0, sx - x0
    y0, x0 = y0.astype(np.int64), x0.astype(np.int64)
    return [(_fill_index(y0 + a, in_hw[0], fill_mode), _fill_index(x0 + b, in_hw[1], fill_mode),
             (fy if a else 1 - fy) * (fx if b else 1 - fx)) for a in (0, 1) for b in (0, 1)]


def affine_warp(x, transforms, output_size, interpolation="bilinear", fill_mode="reflect",
                fill_value=0.0):
    """Each output pixel: the weighted sum of its input taps (see ``kernels.warp``)."""
    batch = np.arange(len(x))[:, None, None]
    y = np.zeros((len(x),) + tuple(output_size) + (x.shape[3],), x.dtype)
    for rows, cols, weights in _warp_taps(transforms, x.shape[1:3], output_size,
                                          interpolation, fill_mode):
        inside = (rows >= 0) & (cols >= 0)
        values = np.where(inside[..., None], x[batch, np.maximum(rows, 0), np.maximum(cols, 0)],
                          x.dtype.type(fill_value))
        y += weights[..., None].astype(x.dtype) * values
    return y


def affine_warp_backward(dy, transforms, input_size, interpolation="bilinear",
                         fill_mode="reflect"):
    """The transpose of ``affine_warp``: each dy is added to the taps it came from."""
    dx = np.zeros((len(dy),) + tuple(input_size) + (dy.shape[3],), dy.dtype)
    batch = np.broadcast_to(np.arange(len(dy))[:, None, None], dy.shape[:3])
    for rows, cols, weights in _warp_taps(transforms, input_size, dy.shape[1:3],
                                          interpolation, fill_mode):
        inside = (rows >= 0) & (cols >= 0)
        np.add.at(dx, (batch[inside], rows[inside], cols[inside]),
                  weights[inside][:, None].astype(dy.dtype) * dy[inside])
    return dx


def optimizer_update(rule, w, g, slots, rate, rate_g, v_scale, **settings):
    """One step of an optimizer's rule on w and its slots, in place (csrc/optimizer.c).

    ``rate`` (and Nadam's ``rate_g``, ``v_scale``) as for
    ``kernels.UpdateRule.apply``; ``settings`` all of the rule's settings.
    """
    beta_1, beta_2 = settings.get("beta_1"), settings.get("beta_2")
    rho, momentum = settings.get("rho"), settings.get("momentum")
    epsilon = settings.get("epsilon")
    if rule == "sgd":
        if not slots:
            w -= rate * g
            return
        (velocity,) = slots
        velocity *= momentum
        velocity -= rate * g
        w += momentum * velocity - rate * g if settings["nesterov"] else velocity
    elif rule == "adam":
        m, v = slots[:2]
        _moving_average(m, g, beta_1)
        _moving_average(v, np.square(g), beta_2)
        if settings["amsgrad"]:
            v = np.maximum(slots[2], v, out=slots[2])
        w -= rate * m / (np.sqrt(v) + epsilon)
    elif rule == "rmsprop":
        s = slots[0]
        _moving_average(s, np.square(g), rho)
        spread = s
        if settings["centered"]:
            mean = slots[1]
            _moving_average(mean, g, rho)
            spread = s - np.square(mean)
        step = rate * g / np.sqrt(spread + epsilon)
        if momentum > 0:
            accumulated = slots[-1]
            accumulated *= momentum
            accumulated += step
            step = accumulated
        w -= step
    elif rule == "adagrad":
        (accumulator,) = slots
        accumulator += np.square(g)
        w -= rate * g / np.sqrt(accumulator + epsilon)
    elif rule == "adadelta":
        grad_average, step_average = slots
        _moving_average(grad_average, np.square(g), rho)
        step = -np.sqrt(step_average + epsilon) / np.sqrt(grad_average + epsilon) * g
        _moving_average(step_average, np.square(step), rho)
        w += rate * step
    elif rule == "adamax":
        m, u = slots
        _moving_average(m, g, beta_1)
        np.maximum(beta_2 * u, np.abs(g), out=u)
        w -= rate * m / (u + epsilon)
    elif rule == "nadam":
        m, v = slots
        _moving_average(m, g, beta_1)
        _moving_average(v, np.square(g), beta_2)
        w -= (rate * m + rate_g * g) / (np.sqrt(v) * v_scale + epsilon)
    else:
        raise ValueError(f"optimizer_update: unknown rule {rule!r}")


def _moving_average(average, value, rate):
    """average <- rate·average + (1 - rate)·value, in place."""
    average *= rate
    average += (1.0 - rate) * value


def _fmix32(h):
    """MurmurHash3's 32-bit finaliser on a uint32 array."""
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def dropout_keep(size, keep_prob, seed):
    """The dropout mask of ``size`` elements: True where hash(seed, i) < keep_prob·2³²."""
    i = np.arange(size, dtype=np.uint64)
    with np.errstate(over="ignore"):
        key = np.uint32(seed & 0xFFFFFFFF) ^ _fmix32(
            np.uint32(seed >> 32) + (i >> np.uint64(32)).astype(np.uint32))
        bits = _fmix32(_fmix32(i.astype(np.uint32) * np.uint32(0x9E3779B9) ^ key) + key)
    threshold = min(int(keep_prob * 2**32), 2**32 - 1)
    return bits < np.uint32(threshold)


def dropout(x, keep_prob, seed):
    keep = dropout_keep(x.size, keep_prob, seed).reshape(x.shape)
    return np.where(keep, x * np.float32(1 / np.float32(keep_prob)), np.float32(0))


def relu(x):
    return np.where(x < 0, np.float32(0), x)


def relu_backward(y, dy):
    return np.where(y > 0, dy, np.float32(0))


def softmax(x):
    """e^(x − max) / Σ e^(x − max) along the last axis."""
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def batch_norm_stats(x):
    """Mean and biased variance of every column of x (rows, channels)."""
    return x.mean(axis=0), x.var(axis=0)


def batch_norm(x, mean, inv_std, gamma, beta, relu=False):
    """gamma · (x − mean) · inv_std + beta, column by column (then max(·, 0) if relu)."""
    y = gamma * (x - mean) * inv_std + beta
    return np.maximum(y, 0) if relu else y


def batch_norm_backward(x, dy, mean, inv_std, gamma, batch_stats, relu_output=None):
    """(dx, dgamma, dbeta); with batch statistics, dx also flows through the
    mean and variance: dx = gamma·inv_std·(dy − mean(dy) − x_hat·mean(dy·x_hat)).
    With ``relu_output`` (a ReLU after it) dy is first relu_backward(relu_output, dy)."""
    if relu_output is not None:
        dy = relu_backward(relu_output, dy)
    x_hat = (x - mean) * inv_std
    dbeta, dgamma = dy.sum(axis=0), (dy * x_hat).sum(axis=0)
    if batch_stats:
        dy = dy - dy.mean(axis=0) - x_hat * (dy * x_hat).mean(axis=0)
    return gamma * inv_std * dy, dgamma, dbeta


def sparse_crossentropy(p, labels, epsilon, gradient_scale=None):
    """(per-sample losses in float64, dz or None) for probabilities p (rows,
    classes): −log(clip(q, ε, 1 − ε)) with q = p[label] / Σp, and
    dz = scale · (p − onehot(labels)), the gradient through the softmax."""
    rows = np.arange(len(labels))
    q = p[rows, labels] / p.sum(axis=1, dtype=np.float64)
    losses = -np.log(np.clip(q, epsilon, 1.0 - epsilon))
    if gradient_scale is None:
        return losses, None
    dz = p.astype(np.float64)
    dz[rows, labels] -= 1.0
    return losses, (gradient_scale * dz).astype(p.dtype)


def dense_backward(x, w, dy, y=None, activation="relu", alpha=0.0):
    """(dx, dW, db) of y = act(x·w + b); dz = dy·act'(.) from the output y when
    it is given (ReLU, or an activation of ``activation_backward`` that reads y)."""
    dz = dy if y is None else epilogue_backward(activation, y, dy, alpha)
    return dz @ w.T, x.T @ dz, dz.sum(axis=0)


# ---- the elementwise activations of kernels.activation -----------------------------------
# Each name maps to (f(x, alpha), f'(v, alpha)) where v is the forward output y, or
# the input x for the names in ACTIVATION_READS_INPUT.  In the dtype of x (float32
# stays float32, float64 stays float64).

SELU_ALPHA = 1.6732632423543772
SELU_SCALE = 1.0507009873554805
GELU_C = math.sqrt(2.0 / math.pi)
GELU_K = 0.044715


def sigmoid(x):
    """1 / (1 + e^-x), as e^x / (1 + e^x) for x < 0 so that nothing overflows."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0, e) / (1.0 + e)


def _elu(x, alpha):
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0)))


def _gelu_tanh_argument(x):
    """2u, u = sqrt(2/pi) (x + 0.044715 x^3): gelu_tanh is x sigmoid(2u)."""
    return 2.0 * GELU_C * (x + GELU_K * x * x * x)


def _silu_derivative(x, alpha):
    s = sigmoid(x)
    return s * (1.0 + x * (1.0 - s))


def _gelu_tanh_derivative(x, alpha):
    s = sigmoid(_gelu_tanh_argument(x))
    return s + x * s * (1.0 - s) * 2.0 * GELU_C * (1.0 + 3.0 * GELU_K * x * x)


ACTIVATIONS = {
    "tanh": (lambda x, a: np.tanh(x), lambda y, a: 1.0 - y * y),
    "sigmoid": (lambda x, a: sigmoid(x), lambda y, a: y * (1.0 - y)),
    "elu": (_elu, lambda y, a: np.where(y > 0, 1.0, y + a)),
    "selu": (lambda x, a: SELU_SCALE * _elu(x, SELU_ALPHA),
             lambda y, a: np.where(y > 0, SELU_SCALE, y + SELU_SCALE * SELU_ALPHA)),
    "softplus": (lambda x, a: np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x))),
                 lambda y, a: -np.expm1(-y)),
    "softsign": (lambda x, a: x / (1.0 + np.abs(x)), lambda y, a: np.square(1.0 - np.abs(y))),
    "hard_sigmoid": (lambda x, a: np.clip(0.2 * x + 0.5, 0.0, 1.0),
                     lambda y, a: np.where((y > 0) & (y < 1), 0.2, 0.0)),
    "leaky_relu": (lambda x, a: np.where(x > 0, x, a * x), lambda y, a: np.where(y > 0, 1.0, a)),
    "exponential": (lambda x, a: np.exp(x), lambda y, a: y),
    "silu": (lambda x, a: x * sigmoid(x), _silu_derivative),
    "gelu_tanh": (lambda x, a: x * sigmoid(_gelu_tanh_argument(x)), _gelu_tanh_derivative),
}
ACTIVATION_READS_INPUT = ("silu", "gelu_tanh")


def activation(name, x, alpha):
    return ACTIVATIONS[name][0](x, alpha).astype(x.dtype, copy=False)


def epilogue(name, y, alpha):
    """y after the activation a kernel's epilogue applies (``kernels.conv2d``,
    ``kernels.matmul``): None leaves it, "relu", or an elementwise one."""
    if name is None:
        return y
    return relu(y) if name == "relu" else activation(name, y, alpha)


def activation_backward(name, source, dy, alpha):
    return (dy * ACTIVATIONS[name][1](source, alpha)).astype(dy.dtype, copy=False)


def epilogue_backward(name, y, dy, alpha):
    """dy · f'(.) from the output y of ``epilogue(name, ...)``: None passes dy
    through, "relu" its mask y > 0, the others ``activation_backward``."""
    if name is None:
        return dy
    return relu_backward(y, dy) if name == "relu" else activation_backward(name, y, dy, alpha)


# ---- recurrent layers: the time loop (fastnn.kernels.recurrent) ---------------------------

RNN_GATES = {"simple_rnn": 1, "lstm": 4, "gru": 3, "gru_reset_before": 3}

_RNN_ACTIVATIONS = {
    "linear": (lambda x: x, lambda y: np.ones_like(y)),
    "tanh": (np.tanh, lambda y: 1 - y * y),
    "sigmoid": (lambda x: 1 / (1 + np.exp(-x)), lambda y: y * (1 - y)),
    "relu": (lambda x: np.maximum(x, 0), lambda y: (y > 0).astype(y.dtype)),
    "hard_sigmoid": (lambda x: np.clip(0.2 * x + 0.5, 0, 1),
                     lambda y: np.where((y > 0) & (y < 1), 0.2, 0).astype(y.dtype)),
}


def rnn_forward(z, u_kernel, cell, activation, recurrent_activation, rbias=None, mask=None):
    """The time loop of SimpleRNN, LSTM and GRU (reset_after or reset before)
    over the input projections z = x·W + b (batch, steps, G·units); see
    csrc/recurrent.c.

    Returns (gates, h, c, rh): the gate activations (z's shape), every step's
    output (batch, steps, units), the LSTM's cell states and the GRU's
    h_prev·U_h + rbias_h (reset_after) or r·h_prev (reset before, h_prev
    masked); None for the other cells."""
    act, ract = _RNN_ACTIVATIONS[activation][0], _RNN_ACTIVATIONS[recurrent_activation][0]
    batch, steps, _ = z.shape
    units = u_kernel.shape[0]
    gates, h = np.empty_like(z), np.zeros((batch, steps, units), z.dtype)
    c = np.zeros_like(h) if cell == "lstm" else None
    rh = np.zeros_like(h) if cell.startswith("gru") else None
    h_prev = c_prev = np.zeros((batch, units), z.dtype)
    for t in range(steps):
        rec = (h_prev if mask is None else h_prev * mask) @ u_kernel
        if cell == "simple_rnn":
            gates[:, t] = h[:, t] = act(z[:, t] + rec)
        elif cell == "lstm":
            a = z[:, t] + rec
            i, f, o = (ract(a[:, k * units:(k + 1) * units]) for k in (0, 1, 3))
            g = act(a[:, 2 * units:3 * units])
            c[:, t] = c_prev = f * c_prev + i * g
            h[:, t] = o * act(c_prev)
            gates[:, t] = np.concatenate([i, f, g, o], axis=1)
        elif cell == "gru_reset_before":
            zr = ract(z[:, t, :2 * units] + rec[:, :2 * units])
            rh[:, t] = zr[:, units:] * (h_prev if mask is None else h_prev * mask)
            hh = act(z[:, t, 2 * units:] + rh[:, t] @ u_kernel[:, 2 * units:])
            h[:, t] = zr[:, :units] * h_prev + (1 - zr[:, :units]) * hh
            gates[:, t] = np.concatenate([zr, hh], axis=1)
        else:
            if rbias is not None:
                rec = rec + rbias
            zr = ract(z[:, t, :2 * units] + rec[:, :2 * units])
            rh[:, t] = rec[:, 2 * units:]
            hh = act(z[:, t, 2 * units:] + zr[:, units:] * rh[:, t])
            h[:, t] = zr[:, :units] * h_prev + (1 - zr[:, :units]) * hh
            gates[:, t] = np.concatenate([zr, hh], axis=1)
        h_prev = h[:, t]
    return gates, h, c, rh


def rnn_backward(gates, h, c, rh, u_kernel, dy, cell, activation, recurrent_activation,
                 mask=None, dc_last=None):
    """Backward through ``rnn_forward``'s steps from dy = dLoss/dh (batch,
    steps, units) and dc_last = dLoss/dc of the LSTM's last cell state.

    Returns (dz, dr): dLoss/d(x·W + b) and dLoss/d(h_prev·U + rbias), both
    of z's shape; dr is dz except for the reset_after GRU's h gate (dz_h · r).
    (The reset-before GRU's dz_h is the gradient of rh·U_h: dU_h = rhᵀ·dz_h.)"""
    dact = _RNN_ACTIVATIONS[activation][1]
    dract = _RNN_ACTIVATIONS[recurrent_activation][1]
    act = _RNN_ACTIVATIONS[activation][0]
    batch, steps, units = h.shape
    dz, dr = np.zeros_like(gates), np.zeros_like(gates)
    carry = np.zeros((batch, units), h.dtype)
    dc = np.zeros_like(carry) if dc_last is None else dc_last.copy()
    for t in reversed(range(steps)):
        dh = dy[:, t] + carry
        h_prev = h[:, t - 1] if t else np.zeros_like(carry)
        if cell == "simple_rnn":
            dz[:, t] = dh * dact(h[:, t])
            direct = 0
        elif cell == "lstm":
            i, f, g, o = np.split(gates[:, t], 4, axis=1)
            c_prev = c[:, t - 1] if t else np.zeros_like(carry)
            tc = act(c[:, t])
            dc = dc + dh * o * dact(tc)
            dz[:, t] = np.concatenate([dc * g * dract(i), dc * c_prev * dract(f),
                                       dc * i * dact(g), dh * tc * dract(o)], axis=1)
            dc = dc * f
            direct = 0
        elif cell == "gru":
            zg, r, hh = np.split(gates[:, t], 3, axis=1)
            dah = dh * (1 - zg) * dact(hh)
            dzg = dh * (h_prev - hh) * dract(zg)
            dzr = dah * rh[:, t] * dract(r)
            dz[:, t] = np.concatenate([dzg, dzr, dah], axis=1)
            direct = dh * zg
        else:  # "gru_reset_before"
            zg, r, hh = np.split(gates[:, t], 3, axis=1)
            dah = dh * (1 - zg) * dact(hh)
            drh = dah @ u_kernel[:, 2 * units:].T     # dLoss/d(r·h_prev·mask)
            m = 1 if mask is None else mask
            dzr = drh * h_prev * m * dract(r)
            dz[:, t] = np.concatenate([dh * (h_prev - hh) * dract(zg), dzr, dah], axis=1)
            direct = dh * zg + drh * r * m
        dr[:, t] = dz[:, t]
        if cell == "gru":
            dr[:, t, 2 * units:] *= gates[:, t, units:2 * units]
        if cell == "gru_reset_before":    # U_h multiplies rh: its part is in direct
            back = dz[:, t, :2 * units] @ u_kernel[:, :2 * units].T
        else:
            back = dr[:, t] @ u_kernel.T
        carry = (back if mask is None else back * mask) + direct
    return dz, dr


def rnn_recurrent_kernel_gradient(h, rh, dr, cell, mask=None):
    """dLoss/dU and dLoss/drbias from ``rnn_backward``'s dr: dU = Σ_t
    h_{t-1}ᵀ·dr_t with h_{t-1} the previous step's output (0 before the
    first, times the recurrent dropout mask); for "gru_reset_before" the
    candidate's columns multiply rh = r·h_{t-1}·mask instead: dU_h = Σ_t
    rh_tᵀ·dr_h,t.  drbias = Σ dr over batch and steps for the reset_after
    GRU (the gradient of its recurrent bias), else None."""
    units = h.shape[2]
    previous = np.zeros_like(h)
    previous[:, 1:] = h[:, :-1]
    if mask is not None:
        previous *= mask[:, None, :]
    du = np.tensordot(previous, dr, axes=([0, 1], [0, 1]))
    if cell == "gru_reset_before":
        du[:, 2 * units:] = np.tensordot(rh, dr[..., 2 * units:], axes=([0, 1], [0, 1]))
    return du, (dr.sum(axis=(0, 1)) if cell == "gru" else None)
