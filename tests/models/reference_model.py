"""A float64 NumPy twin of a fastnn Sequential model: the oracle of the whole-model tests.

``ReferenceModel(model.layers)`` reads every layer's ``get_config()`` and
``get_weights()`` and rebuilds the model as a chain of float64 operations
written here from the documented (Keras) formulas, with backward passes
derived by hand.  Nothing here calls fastnn's kernels or its NumPy
references (``fastnn.kernels.reference``), and the window geometry is
computed here too, so a mistake in fastnn cannot hide in the oracle.

A ``Dense(4, activation="tanh")`` becomes two operations, the affine map and
the activation; a loss whose gradient fastnn takes through the softmax
(crossentropy after a softmax, ``from_logits``) starts the backward pass one
operation lower, as fastnn does.

**Simulated float32 rounding.**  Every operation passes each result through
``rounding(value, scale)``.  With ``EXACT`` that is the identity: the
float64 answer.  ``SimulatedFloat32`` adds u·scale·r instead (u = 2⁻²⁴, the
float32 unit roundoff, r uniform in [-1, 1]), where ``scale`` is what a
careful float32 implementation's rounding error is proportional to:

- a sum of K products Σ aᵢbᵢ (matmul, convolution, pooling, a bias
  gradient): √K·Σ|aᵢbᵢ|, the same product run on absolute values;
- an element-wise function: |f(z)| + |z·f'(z)| (its own rounding, and its
  float32 argument's carried through it); its derivative additionally
  u·max|f'| where fastnn takes it from the output (σ' = y(1 − y));
- BatchNormalization in its centred form, y = γ·(x − mean)·inv_std + β
  with a mean accurate to the last bit: |γ·x̂| + |β|, not |x|·|γ|·inv_std
  (the expanded form x·scale + shift loses about u·|mean|/std);
- values below float32's normal range: an absolute u·2⁻¹²⁶.

Running the model a few times so perturbed shows how far float32 rounding
alone can move each result after it has travelled through the rest of the
model (Monte Carlo arithmetic, at the granularity of layers): the
whole-model tests size their tolerances from that.
"""
import math
from typing import Callable, NamedTuple

import numpy as np

UNIT_ROUNDOFF = 2.0 ** -24   # float32: a rounded result is within this fraction of the exact one
SMALLEST_NORMAL = 2.0 ** -126   # below it float32 rounds to multiples of 2^-149 = u·this


# ---- rounding ---------------------------------------------------------------------------------

def EXACT(value, scale):
    """No rounding: the float64 result itself."""
    return value


class SimulatedFloat32:
    """Adds u·scale·r, r uniform in [-1, 1], to each result (``scale`` is a
    function returning the magnitude the float32 rounding error scales with).

    ``systematic=False`` draws r for every element on its own: the rounding
    of data spread out.  ``systematic=True`` draws one r per index of the
    last axis (feature, channel, unit) and shares it over the batch and the
    positions: the rounding of data clustered around one offset, where every
    sample rounds the same way, so the errors do not average out in a sum
    over the batch (a bias gradient, a batch mean) but add up.
    """

    def __init__(self, seed, systematic):
        self.rng = np.random.default_rng(seed)
        self.systematic = systematic

    def __call__(self, value, scale):
        scale = scale()
        shape = np.shape(scale)
        if self.systematic and shape:
            shape = (1,) * (len(shape) - 1) + shape[-1:]
        r = self.rng.uniform(-1.0, 1.0, shape)
        return value + UNIT_ROUNDOFF * (scale + SMALLEST_NORMAL) * r


def rounded(rounding, product, *factors, terms=1):
    """``product(*factors)`` for a product that is linear in each factor (matmul,
    convolution, a sum over taps), each output a sum of ``terms`` products.

    Summed one by one in float32, every partial sum is rounded: a random walk
    of ``terms`` roundings, each up to u·Σ|products| (the same product run on
    absolute values), so the error grows like √terms·u·Σ|products| (and
    √terms·u·2⁻¹²⁶ where the partial sums are below float32's normal range)."""
    return rounding(product(*factors), lambda: math.sqrt(terms) * (
        product(*(np.abs(f) for f in factors)) + SMALLEST_NORMAL))


def plus(rounding, a, b):
    """a + b, with the rounding of one addition."""
    return rounding(a + b, lambda: np.abs(a) + np.abs(b))


# ---- window geometry (Keras / TensorFlow rules) -------------------------------------------------

def window_axis(size, kernel, stride, padding):
    """(output length, zeros before, zeros after) of one axis of a sliding window.

    "valid": floor((size − kernel) / stride) + 1, no zeros.  "same":
    ceil(size / stride); total = max((out − 1)·stride + kernel − size, 0)
    zeros, the smaller half before.
    """
    if padding == "valid":
        return (size - kernel) // stride + 1, 0, 0
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return out, total // 2, total - total // 2


def transposed_length(size, kernel, stride, padding, output_padding=None):
    """Output length of one axis of Conv2DTranspose (Keras's formula)."""
    if output_padding is None:
        return size * stride + (max(kernel - stride, 0) if padding == "valid" else 0)
    pad = kernel // 2 if padding == "same" else 0
    return (size - 1) * stride + kernel - 2 * pad + output_padding


class Windows:
    """Where each tap of a (kh, kw) window lands in the padded image, for
    all output positions at once."""

    def __init__(self, in_hw, kernel, strides, padding):
        (self.out_h, self.top, self.bottom) = window_axis(in_hw[0], kernel[0], strides[0], padding)
        (self.out_w, self.left, self.right) = window_axis(in_hw[1], kernel[1], strides[1], padding)
        self.in_hw, self.kernel, self.strides = tuple(in_hw), tuple(kernel), tuple(strides)

    def pad(self, x, value=0.0):
        return np.pad(x, ((0, 0), (self.top, self.bottom), (self.left, self.right), (0, 0)),
                      constant_values=value)

    def unpad(self, padded):
        return padded[:, self.top:self.top + self.in_hw[0], self.left:self.left + self.in_hw[1]]

    def taps(self):
        """[(a, c, index)]: the padded-image slice under tap (a, c) of every window."""
        sh, sw = self.strides
        return [(a, c, (slice(None), slice(a, a + sh * (self.out_h - 1) + 1, sh),
                        slice(c, c + sw * (self.out_w - 1) + 1, sw)))
                for a in range(self.kernel[0]) for c in range(self.kernel[1])]


# ---- convolution, its two gradients, pooling, upsampling (linear maps) --------------------------

def conv2d(x, w, strides, padding):
    """y[n, i, j, f] = Σ_{a, c, ch} x_padded[n, i·sh + a, j·sw + c, ch] · w[a, c, ch, f]."""
    win = Windows(x.shape[1:3], w.shape[:2], strides, padding)
    padded = win.pad(x)
    y = np.zeros((x.shape[0], win.out_h, win.out_w, w.shape[3]))
    for a, c, index in win.taps():
        y += padded[index] @ w[a, c]
    return y


def conv2d_input_gradient(dy, w, in_hw, strides, padding):
    """dL/dx of ``conv2d`` for an input of height and width ``in_hw``: every
    dy[n, i, j] is spread back over the window it came from."""
    win = Windows(in_hw, w.shape[:2], strides, padding)
    padded = win.pad(np.zeros((dy.shape[0],) + tuple(in_hw) + (w.shape[2],)))
    for a, c, index in win.taps():
        padded[index] += dy @ w[a, c].T
    return win.unpad(padded)


def conv2d_kernel_gradient(x, dy, kernel_hw, strides, padding):
    """dL/dw of ``conv2d``: each tap's input slice against dy."""
    win = Windows(x.shape[1:3], kernel_hw, strides, padding)
    padded = win.pad(x)
    dw = np.zeros(tuple(kernel_hw) + (x.shape[3], dy.shape[3]))
    for a, c, index in win.taps():
        dw[a, c] = np.einsum("nijc,nijf->cf", padded[index], dy)
    return dw


def pool_taps(x, pool_size, strides, padding, fill):
    """(windows, the values under every tap: (taps, n, out_h, out_w, c)); the
    padding holds ``fill``."""
    win = Windows(x.shape[1:3], pool_size, strides, padding)
    padded = win.pad(x, fill)
    return win, np.stack([padded[index] for _, _, index in win.taps()])


def scatter_taps(win, shape, per_tap):
    """The transpose of ``pool_taps``: add per_tap[t] back where tap t came from."""
    padded = win.pad(np.zeros(shape))
    for (_, _, index), values in zip(win.taps(), per_tap):
        padded[index] += values
    return win.unpad(padded)


def in_bounds_counts(x_shape, pool_size, strides, padding):
    """How many real (not padding) cells each window covers: (1, out_h, out_w, 1)."""
    _, taps = pool_taps(np.ones((1,) + tuple(x_shape[1:3]) + (1,)), pool_size, strides,
                        padding, 0.0)
    return taps.sum(axis=0)


def bilinear_weights(in_size, factor):
    """(in_size·factor, in_size): output pixel o samples the input at
    p = (o + 0.5) / factor − 0.5 (half-pixel centres), between floor(p) and
    floor(p) + 1 with weights 1 − t and t, t = p − floor(p), clamped at the edges."""
    weights = np.zeros((in_size * factor, in_size))
    for o in range(in_size * factor):
        p = (o + 0.5) / factor - 0.5
        low = math.floor(p)
        t = p - low
        weights[o, min(max(low, 0), in_size - 1)] += 1.0 - t
        weights[o, min(max(low + 1, 0), in_size - 1)] += t
    return weights


# ---- activations --------------------------------------------------------------------------------

SELU_ALPHA, SELU_SCALE = 1.6732632423543772, 1.0507009873554805
_erfc = np.vectorize(math.erfc)


def _sigmoid(z):
    """1/(1 + e^−z), from e^−|z| so that both tails keep their relative accuracy."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0, e) / (1.0 + e)


def _tanh_derivative(z):
    with np.errstate(over="ignore"):
        return 1.0 / np.cosh(z) ** 2   # 1 − tanh² without the cancellation


def _normal_cdf(z):
    """Φ(z) = erfc(−z/√2)/2: no cancellation in the left tail, unlike (1 + erf)/2."""
    return 0.5 * _erfc(-z / math.sqrt(2.0))


def _expm1_below_0(z):
    return np.expm1(np.minimum(z, 0.0))


class Function(NamedTuple):
    """An activation: f, its derivative, the points where the derivative jumps,
    and the largest |f'| if fastnn computes f' in a way that is accurate to
    u·max|f'| only (from the output, as TensorFlow does: σ' = y(1 − y),
    tanh' = 1 − y², elu' = y + α, where the derivative is tiny), else 0."""
    f: Callable
    derivative: Callable
    kinks: tuple = ()
    slope_bound: float = 0.0


ACTIVATIONS = {
    "linear": Function(lambda z: z, np.ones_like),
    "relu": Function(lambda z: np.maximum(z, 0.0), lambda z: (z > 0) * 1.0, (0.0,)),
    "leaky_relu": Function(lambda z: np.where(z > 0, z, 0.2 * z),
                           lambda z: np.where(z > 0, 1.0, 0.2), (0.0,)),
    "hard_sigmoid": Function(lambda z: np.clip(0.2 * z + 0.5, 0.0, 1.0),
                             lambda z: np.where(np.abs(z) < 2.5, 0.2, 0.0), (-2.5, 2.5)),
    "tanh": Function(np.tanh, _tanh_derivative, slope_bound=1.0),
    "sigmoid": Function(_sigmoid, lambda z: _sigmoid(z) * _sigmoid(-z), slope_bound=0.25),
    "softsign": Function(lambda z: z / (1.0 + np.abs(z)), lambda z: 1.0 / (1.0 + np.abs(z)) ** 2,
                         slope_bound=1.0),
    "softplus": Function(lambda z: np.logaddexp(z, 0.0), _sigmoid, slope_bound=1.0),
    "elu": Function(lambda z: np.where(z > 0, z, _expm1_below_0(z)),
                    lambda z: np.where(z > 0, 1.0, np.exp(np.minimum(z, 0.0))), slope_bound=1.0),
    "selu": Function(lambda z: SELU_SCALE * np.where(z > 0, z, SELU_ALPHA * _expm1_below_0(z)),
                     lambda z: SELU_SCALE * np.where(z > 0, 1.0,
                                                     SELU_ALPHA * np.exp(np.minimum(z, 0.0))),
                     (0.0,), slope_bound=SELU_SCALE * SELU_ALPHA),
    "silu": Function(lambda z: z * _sigmoid(z),
                     lambda z: _sigmoid(z) * (1.0 + z * _sigmoid(-z)), slope_bound=1.1),
    "gelu": Function(lambda z: z * _normal_cdf(z),
                     lambda z: _normal_cdf(z) + z * np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi),
                     slope_bound=1.13),
}


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# ---- operations ---------------------------------------------------------------------------------
#
# Each has forward(x, training, rounding) -> y and backward(dy, rounding) -> dx;
# backward leaves the gradients of the operation's weights in ``grads``
# (name -> array).  ``weights`` maps "layer/weight" names to float64 arrays.

class Operation:
    weights = {}
    trainable = ()       # names of the weights training changes by gradient
    grads = {}

    def kink_distance(self):
        """How far the last forward pass was from a point where the gradient
        jumps (ReLU at 0, a tie in a max pool), per element; None if nowhere."""
        return None

    def state_after_training(self):
        """Non-trainable weights as a training forward pass leaves them."""
        return {}


class Affine(Operation):
    """Dense without its activation: y = x·kernel + bias along the last axis."""

    def __init__(self, name, kernel, bias, trainable):
        self.kernel_name, self.bias_name = f"{name}/kernel", f"{name}/bias"
        self.weights = {self.kernel_name: kernel}
        if bias is not None:
            self.weights[self.bias_name] = bias
        self.trainable = tuple(self.weights) if trainable else ()

    def _add_bias(self, z, rounding):
        bias = self.weights.get(self.bias_name)
        return z if bias is None else plus(rounding, z, bias)

    def forward(self, x, training, rounding):
        self.x = x
        kernel = self.weights[self.kernel_name]
        return self._add_bias(rounded(rounding, np.matmul, x, kernel, terms=kernel.shape[0]),
                              rounding)

    def backward(self, dy, rounding):
        kernel = self.weights[self.kernel_name]
        rows_x, rows_dy = self.x.reshape(-1, kernel.shape[0]), dy.reshape(-1, kernel.shape[1])
        rows = len(rows_x)
        self.grads = {self.kernel_name: rounded(rounding, lambda a, b: a.T @ b, rows_x, rows_dy,
                                                terms=rows)}
        if self.bias_name in self.weights:
            self.grads[self.bias_name] = rounded(rounding, lambda a: a.sum(axis=0), rows_dy,
                                                 terms=rows)
        return rounded(rounding, lambda a, b: a @ b.T, dy, kernel, terms=kernel.shape[1])


class Convolution(Affine):
    """Conv2D without its activation (kernel (kh, kw, in, out))."""

    def __init__(self, name, kernel, bias, trainable, strides, padding):
        super().__init__(name, kernel, bias, trainable)
        self.strides, self.padding = tuple(strides), padding

    def forward(self, x, training, rounding):
        self.x = x
        kernel = self.weights[self.kernel_name]
        z = rounded(rounding, lambda a, b: conv2d(a, b, self.strides, self.padding),
                    x, kernel, terms=math.prod(kernel.shape[:3]))
        return self._add_bias(z, rounding)

    def _gradients(self, conv_x, conv_dy, dz, rounding):
        """Fill ``grads``: dL/dkernel of the convolution with input conv_x and
        output gradient conv_dy, and dL/dbias = Σ dz over the positions."""
        kernel = self.weights[self.kernel_name]
        self.grads = {self.kernel_name: rounded(
            rounding, lambda a, b: conv2d_kernel_gradient(a, b, kernel.shape[:2], self.strides,
                                                          self.padding),
            conv_x, conv_dy, terms=math.prod(conv_dy.shape[:3]))}
        if self.bias_name in self.weights:
            self.grads[self.bias_name] = rounded(rounding, lambda a: a.sum(axis=(0, 1, 2)), dz,
                                                 terms=math.prod(dz.shape[:3]))

    def backward(self, dy, rounding):
        kernel = self.weights[self.kernel_name]
        self._gradients(self.x, dy, dy, rounding)
        return rounded(rounding, lambda a, b: conv2d_input_gradient(
            a, b, self.x.shape[1:3], self.strides, self.padding), dy, kernel,
            terms=math.prod(kernel.shape[:2]) * kernel.shape[3])


class TransposedConvolution(Convolution):
    """Conv2DTranspose without its activation: the input gradient of the Conv2D
    (kernel (kh, kw, filters, in)) that maps the output back to the input."""

    def __init__(self, name, kernel, bias, trainable, strides, padding, output_padding):
        super().__init__(name, kernel, bias, trainable, strides, padding)
        self.output_padding = output_padding or (None, None)

    def output_hw(self, in_hw):
        kernel = self.weights[self.kernel_name]
        return tuple(transposed_length(n, k, s, self.padding, p) for n, k, s, p in
                     zip(in_hw, kernel.shape[:2], self.strides, self.output_padding))

    def forward(self, x, training, rounding):
        self.x = x
        out_hw = self.output_hw(x.shape[1:3])
        kernel = self.weights[self.kernel_name]
        z = rounded(rounding, lambda a, b: conv2d_input_gradient(a, b, out_hw, self.strides,
                                                                 self.padding),
                    x, kernel, terms=math.prod(kernel.shape[:2]) * kernel.shape[3])
        return self._add_bias(z, rounding)

    def backward(self, dy, rounding):
        kernel = self.weights[self.kernel_name]
        # y = Cᵀx for the convolution C from output size to input size: dx = C·dy,
        # and dL/dkernel is C's kernel gradient with its input dy and its dL/dy x
        self._gradients(dy, self.x, dy, rounding)
        return rounded(rounding, lambda a, b: conv2d(a, b, self.strides, self.padding), dy, kernel,
                       terms=math.prod(kernel.shape[:3]))


class MaxPool(Operation):
    """The largest value of each window (padding never wins); the gradient goes
    to the first tap holding it, in row-major tap order."""

    def __init__(self, pool_size, strides, padding):
        self.args = (tuple(pool_size), tuple(strides), padding)

    def forward(self, x, training, rounding):
        self.shape = x.shape
        self.win, taps = pool_taps(x, *self.args, fill=-np.inf)
        self.winner = taps.argmax(axis=0)
        ordered = np.sort(taps, axis=0)
        self.gap = ordered[-1] - ordered[-2] if len(taps) > 1 else None
        return ordered[-1]

    def backward(self, dy, rounding):
        routed = [np.where(self.winner == t, dy, 0.0) for t in range(len(self.win.taps()))]
        return rounded(rounding, lambda *r: scatter_taps(self.win, self.shape, r), *routed,
                       terms=len(routed))

    def kink_distance(self):
        return self.gap


class AveragePool(Operation):
    """The mean of each window's in-bounds cells."""

    def __init__(self, pool_size, strides, padding):
        self.args = (tuple(pool_size), tuple(strides), padding)

    def forward(self, x, training, rounding):
        self.shape = x.shape
        self.counts = in_bounds_counts(x.shape, *self.args)
        return rounded(rounding, lambda a: pool_taps(a, *self.args, fill=0.0)[1].sum(axis=0)
                       / self.counts, x, terms=math.prod(self.args[0]))

    def backward(self, dy, rounding):
        win = Windows(self.shape[1:3], *self.args)
        return rounded(rounding, lambda a: scatter_taps(
            win, self.shape, [a / self.counts] * len(win.taps())), dy,
            terms=math.prod(self.args[0]))


class UpSampling(Operation):
    """Nearest: every pixel becomes a block of copies; bilinear: y = A_h·x·A_wᵀ."""

    def __init__(self, size, interpolation):
        self.size, self.interpolation = tuple(size), interpolation

    def forward(self, x, training, rounding):
        self.shape = x.shape
        if self.interpolation == "nearest":
            return np.repeat(np.repeat(x, self.size[0], axis=1), self.size[1], axis=2)
        self.a_h = bilinear_weights(x.shape[1], self.size[0])
        self.a_w = bilinear_weights(x.shape[2], self.size[1])
        return rounded(rounding, lambda a, h, w: np.einsum("oi,nijc,pj->nopc", h, a, w),
                       x, self.a_h, self.a_w, terms=4)

    def backward(self, dy, rounding):
        if self.interpolation == "nearest":
            n, h, w, c = self.shape
            blocks = lambda a: a.reshape(n, h, self.size[0], w, self.size[1], c).sum(axis=(2, 4))
            return rounded(rounding, blocks, dy, terms=math.prod(self.size))
        return rounded(rounding, lambda a, h, w: np.einsum("oi,nopc,pj->nijc", h, a, w),
                       dy, self.a_h, self.a_w, terms=4 * math.prod(self.size))


class Reshape(Operation):
    """Flatten, Reshape, and Dropout at inference (or with rate 0): the same numbers."""

    def __init__(self, target_shape=None):
        self.target_shape = target_shape

    def forward(self, x, training, rounding):
        self.shape = x.shape
        if self.target_shape is None:
            return x
        return x.reshape((x.shape[0],) + tuple(self.target_shape))

    def backward(self, dy, rounding):
        return dy.reshape(self.shape)


class DropoutAtRateZero(Reshape):
    """Dropout: the identity at inference; in training only with rate 0 (the
    random mask is not part of what the reference can predict)."""

    def __init__(self, rate):
        super().__init__()
        self.rate = rate

    def forward(self, x, training, rounding):
        if training and self.rate > 0:
            raise ValueError("the reference model trains only through Dropout(rate=0)")
        return super().forward(x, training, rounding)


class Activation(Operation):
    """y = f(z) element-wise, or softmax over the last axis."""

    def __init__(self, name):
        self.name = name
        self.function = None if name == "softmax" else ACTIVATIONS[name]

    def forward(self, z, training, rounding):
        self.z = z
        if self.function is None:
            # e^(z − max) is rounded relative to its argument, then normalised
            self.y = rounding(softmax(z), lambda: softmax(z) * (2 + z.max(-1, keepdims=True) - z))
            return self.y
        y = self.function.f(z)
        if self.name in ("linear", "relu"):   # exact in float32 too
            return y
        # the function's own rounding, and that of its float32 argument carried through it
        return rounding(y, lambda: np.abs(y) + np.abs(z * self.function.derivative(z)))

    def backward(self, dy, rounding):
        if self.function is None:
            y = self.y
            return rounding(y * (dy - np.sum(dy * y, axis=-1, keepdims=True)),
                            lambda: y * (np.abs(dy) + np.sum(np.abs(dy * y), axis=-1,
                                                             keepdims=True)))
        slope = self.function.derivative(self.z)
        if self.name in ("linear", "relu"):
            return dy * slope
        return rounding(dy * slope,
                        lambda: np.abs(dy) * (np.abs(slope) + self.function.slope_bound))

    def kink_distance(self):
        if self.function is None or not self.function.kinks:
            return None
        return np.min([np.abs(self.z - k) for k in self.function.kinks], axis=0)


class BatchNorm(Operation):
    """y = γ·(x − mean)/√(var + ε) + β per feature along ``axis``; mean and
    (biased) variance of the batch in training, the moving averages otherwise."""

    def __init__(self, name, config, weights, ndim):
        self.axis = config["axis"] % ndim
        self.epsilon, self.momentum = config["epsilon"], config["momentum"]
        names = ((["gamma"] if config["scale"] else []) + (["beta"] if config["center"] else [])
                 + ["moving_mean", "moving_variance"])
        self.weights = {f"{name}/{n}": w for n, w in zip(names, weights)}
        self.name, self.layer_trainable = name, config["trainable"]
        self.trainable = tuple(f"{name}/{n}" for n in ("gamma", "beta")
                               if f"{name}/{n}" in self.weights and self.layer_trainable)

    def _param(self, short, default):
        return self.weights.get(f"{self.name}/{short}", default)

    def _rows(self, x):
        return np.moveaxis(x, self.axis, -1).reshape(-1, x.shape[self.axis])

    def _unrows(self, rows, shape):
        moved = shape[:self.axis] + shape[self.axis + 1:] + (shape[self.axis],)
        return np.moveaxis(rows.reshape(moved), -1, self.axis)

    def forward(self, x, training, rounding):
        rows = self._rows(x)
        self.batch_stats = training and self.layer_trainable
        if self.batch_stats:
            mean, var = rows.mean(axis=0), rows.var(axis=0)
            var = rounding(var, lambda: var)
            m = self.momentum
            moving = (self.weights[f"{self.name}/moving_mean"],
                      self.weights[f"{self.name}/moving_variance"])
            self.updated = {f"{self.name}/moving_{what}": rounding(
                old * m + new * (1 - m),
                lambda old=old, new=new: 2 * (np.abs(old) * m + np.abs(new) * (1 - m)))
                for what, old, new in zip(("mean", "variance"), moving, (mean, var))}
        else:
            mean = self.weights[f"{self.name}/moving_mean"]
            var = self.weights[f"{self.name}/moving_variance"]
        self.inv_std = 1.0 / np.sqrt(var + self.epsilon)
        x_hat = (rows - mean) * self.inv_std
        self.x_hat = rounding(x_hat, lambda: 2 * np.abs(x_hat))
        gamma, beta = self._param("gamma", 1.0), self._param("beta", 0.0)
        y = gamma * self.x_hat + beta
        return self._unrows(rounding(y, lambda: np.abs(gamma * self.x_hat) + np.abs(beta)),
                            x.shape)

    def backward(self, dy, rounding):
        shape = dy.shape
        dy, x_hat = self._rows(dy), self.x_hat
        self.grads = {}
        if f"{self.name}/beta" in self.weights:
            self.grads[f"{self.name}/beta"] = rounded(rounding, lambda a: a.sum(axis=0), dy,
                                                      terms=len(dy))
        if f"{self.name}/gamma" in self.weights:
            self.grads[f"{self.name}/gamma"] = rounded(
                rounding, lambda a, b: (a * b).sum(axis=0), dy, x_hat, terms=len(dy))
        k = self._param("gamma", 1.0) * self.inv_std
        if not self.batch_stats:
            return self._unrows(rounded(rounding, lambda a: k * a, dy), shape)
        # the batch's mean and variance depend on x too
        mean_dy, mean_dy_xhat = dy.mean(axis=0), (dy * x_hat).mean(axis=0)
        dx = k * (dy - mean_dy - x_hat * mean_dy_xhat)
        scale = lambda: np.abs(k) * (np.abs(dy) + np.abs(dy).mean(axis=0)
                                     + np.abs(x_hat) * np.abs(dy * x_hat).mean(axis=0))
        return self._unrows(rounding(dx, scale), shape)

    def state_after_training(self):
        return self.updated if self.batch_stats else {}


# ---- from fastnn layers -------------------------------------------------------------------------

def _pair(value):
    return tuple(value) if isinstance(value, (list, tuple)) else (value, value)


def operations_of(layer):
    """The reference operations of one fastnn layer, from its config and weights."""
    kind, config = type(layer).__name__, layer.get_config()
    weights = [np.asarray(w, np.float64) for w in layer.get_weights()]
    name, trainable = config["name"], config["trainable"]
    activation = [Activation(config["activation"])] if "activation" in config else []
    if kind in ("Dense", "Conv2D", "Conv2DTranspose"):
        kernel, bias = weights[0], (weights[1] if config["use_bias"] else None)
        assert len(weights) == 1 + config["use_bias"], (name, len(weights))
        if kind == "Dense":
            return [Affine(name, kernel, bias, trainable)] + activation
        window = (name, kernel, bias, trainable, _pair(config["strides"]), config["padding"])
        if kind == "Conv2D":
            return [Convolution(*window)] + activation
        op = config["output_padding"]
        return [TransposedConvolution(*window, None if op is None else _pair(op))] + activation
    if kind in ("MaxPooling2D", "AveragePooling2D"):
        pool = _pair(config["pool_size"])
        strides = pool if config["strides"] is None else _pair(config["strides"])
        cls = MaxPool if kind == "MaxPooling2D" else AveragePool
        return [cls(pool, strides, config["padding"])]
    if kind == "BatchNormalization":
        return [BatchNorm(name, config, weights, len(layer.input_shape))]
    if kind == "UpSampling2D":
        return [UpSampling(_pair(config["size"]), config["interpolation"])]
    if kind == "Flatten":
        return [Reshape((-1,))]
    if kind == "Reshape":
        return [Reshape(config["target_shape"])]
    if kind == "Dropout":
        return [DropoutAtRateZero(config["rate"])]
    if kind == "Activation":
        return activation
    raise NotImplementedError(f"the reference model has no {kind}")


class ReferenceModel:
    """A fastnn model's layers as float64 operations."""

    def __init__(self, layers):
        self.operations = [op for layer in layers for op in operations_of(layer)]

    @property
    def weights(self):
        return {k: v for op in self.operations for k, v in op.weights.items()}

    @property
    def trainable(self):
        return [name for op in self.operations for name in op.trainable]

    def forward(self, x, training, rounding=EXACT):
        y = np.asarray(x, np.float64)
        for op in self.operations:
            y = op.forward(y, training, rounding)
        return y

    def backward(self, dy, rounding=EXACT, from_logits=False):
        """Gradients {name: array} of the trainable weights, from dL/d(output)
        (or dL/d(input of the final softmax) when ``from_logits``)."""
        operations = self.operations
        if from_logits:
            assert isinstance(operations[-1], Activation) and operations[-1].name == "softmax"
            operations = operations[:-1]
        for op in reversed(operations):
            dy = op.backward(dy, rounding)
        return {name: g for op in operations for name, g in op.grads.items()
                if name in op.trainable}

    def state_after_training(self):
        return {k: v for op in self.operations for k, v in op.state_after_training().items()}

    def kink_distances(self):
        return [d for d in (op.kink_distance() for op in self.operations) if d is not None]


# ---- losses (Keras's definitions: mean over samples of a per-sample value) ----------------------

CLIP = 1e-7


def loss_value(loss, y, p):
    """The batch loss of predictions p for labels y."""
    if loss == "mean_squared_error":
        return float(np.mean((p - y) ** 2))
    if loss == "sparse_categorical_crossentropy":
        y = np.eye(p.shape[-1])[np.asarray(y, np.int64)]
    q = p / p.sum(axis=-1, keepdims=True)
    return float(np.mean(-np.sum(y * np.log(np.clip(q, CLIP, 1.0 - CLIP)), axis=-1)))


def loss_gradient(loss, y, p, rounding=EXACT):
    """(gradient, from_logits): dL/dp for the mean squared error; for
    crossentropy after a softmax dL/dz = (p − onehot)/samples through the
    softmax, as fastnn documents (the clip is not differentiated)."""
    if loss == "mean_squared_error":
        g = 2.0 * (p - y) / p.size
        return rounding(g, lambda: np.abs(g)), False
    if loss == "sparse_categorical_crossentropy":
        y = np.eye(p.shape[-1])[np.asarray(y, np.int64)]
    g = (p * y.sum(axis=-1, keepdims=True) - y) / (p.size // p.shape[-1])
    return rounding(g, lambda: np.abs(g)), True


# ---- one optimizer step (the first: slots start at zero) ----------------------------------------

def sgd_step(w, g, learning_rate, rounding=EXACT):
    """w − η·g."""
    step = learning_rate * g
    return rounding(w - step, lambda: np.abs(w) + 2 * np.abs(step))


def adam_first_step(w, g, learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-7, rounding=EXACT):
    """Adam at t = 1: m = (1 − β1)·g, v = (1 − β2)·g², w − α·m/(√v + ε) with
    α = η·√(1 − β2)/(1 − β1).

    Besides the rounding of each operation, the step carries that of its
    constants: α, 1 − β1 and 1 − β2 (taken in double, then rounded to float32
    once each; 1 − β2 halved by the square root)."""
    m, v = (1 - beta_1) * g, (1 - beta_2) * g * g
    step = learning_rate * math.sqrt(1 - beta_2) / (1 - beta_1) * m / (np.sqrt(v) + epsilon)
    return rounding(w - step, lambda: np.abs(w) + (4 + 2.5) * np.abs(step))
