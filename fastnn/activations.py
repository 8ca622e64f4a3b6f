"""Activation functions: the non-linearity after each weighted sum (course, chapter 5).

A neuron computes ``activation(weighted sum + bias)``.  Without a non-linear
activation a deep net collapses into one linear map (the course proves that
relu is not linear, 5.3.1), so every hidden layer needs one.

Each function takes an array and returns one of the same shape and dtype
(float32 stays float32; integers become float32).  Right below each forward
formula sits its derivative, written as a vector-Jacobian product
``backward(x, y, dy) -> dx``: given the input ``x``, the output ``y`` and the
gradient ``dy = dLoss/dy``, it returns ``dLoss/dx``.  Element-wise activations
multiply ``dy`` by ``f'(x)``, often cheaper from ``y`` (sigmoid:
``y(1 - y)``); softmax mixes a whole row, so it gets a full Jacobian-vector
product.

For float32 arrays every element-wise activation runs as one C kernel pass
(``fastnn.kernels.activation``: vectorised exp, tanh and sigmoid, OpenMP
threads), and its backward pass as another; other dtypes (float64) use the
NumPy formulas of ``fastnn.kernels.reference``, the same ones written out.
Exact gelu (erf) stays in NumPy float64.

Layers use ``get(identifier)``, which returns an :class:`Activation` holding
both halves:

    >>> act = get("sigmoid")
    >>> y = act.forward(x)
    >>> dx = act.backward(x, y, dy)
"""
import math

import numpy as np

from . import kernels
from .kernels import reference


class Activation:
    """A named activation: its forward formula and its vector-Jacobian product.

    Args:
        name: the string Keras uses for it, e.g. "relu".
        forward: ``f(x, **config) -> y``.
        backward: ``g(x, y, dy, **config) -> dx``, or None when the
            derivative is unknown (a plain callable): then ``backward``
            raises NotImplementedError.
        **config: keyword arguments for both, e.g. ``negative_slope=0.3``.
    """

    def __init__(self, name, forward, backward=None, **config):
        self.name = name
        self._forward = forward
        self._backward = backward
        self.config = config
        self.kernel = _kernel_of(name, config) if forward is _BUILT_IN_FORWARD.get(name) else None

    @property
    def in_place(self):
        """Whether a float32 array may be overwritten by this activation's
        output (``forward_in_place``): its C kernel's backward pass needs only
        y, so nothing needs the input once y exists."""
        return self.kernel is not None and not kernels.activation_reads_input(self.kernel[0])

    def forward_in_place(self, z):
        """y = f(z) written over z (a C-contiguous float32 array; only where
        ``in_place``): a layer's kernel output becomes its activation's output
        without a second array."""
        name, alpha = self.kernel
        return _elementwise(name, z, alpha, out=z)

    def backward_into(self, x, y, dy, out):
        """``backward(x, y, dy)`` written into ``out`` (float32 of dy's shape)
        by the C kernel, for float32 y (x for silu and gelu) and dy; where
        there is no kernel, or other dtypes, a new array as ``backward``."""
        if self.kernel is not None and dy.dtype == np.float32:
            name, alpha = self.kernel
            source = x if kernels.activation_reads_input(name) else y
            if source.dtype == np.float32:
                return kernels.activation_backward(name, source, dy, alpha, out=out)
        return self.backward(x, y, dy)

    def forward(self, x):
        """y = f(x)."""
        return self._forward(x, **self.config)

    __call__ = forward

    def backward(self, x, y, dy):
        """dLoss/dx from dLoss/dy = ``dy`` (``y`` is ``forward(x)``)."""
        if self._backward is None:
            raise NotImplementedError(
                f"activation {self.name!r} is a plain callable: fastnn does not know its "
                f"derivative, so it cannot train through it. Use a built-in name "
                f"({', '.join(names())}) or build Activation(name, forward, backward).")
        return self._backward(x, y, dy, **self.config)

    def configure(self, **config):
        """The same activation with other keyword arguments, e.g. a LeakyReLU slope of 0.3."""
        return Activation(self.name, self._forward, self._backward, **{**self.config, **config})

    def __repr__(self):
        config = "".join(f", {key}={value!r}" for key, value in self.config.items())
        return f"<Activation {self.name}{config}>"


_BUILT_IN = {}   # name -> Activation, filled by @_derivative_of below
_BUILT_IN_FORWARD = {}   # name -> its forward function
_ALIASES = {"swish": "silu"}


def _derivative_of(forward):
    """Registers ``forward`` and the decorated backward as the Activation ``forward.__name__``."""
    def register(backward):
        _BUILT_IN_FORWARD[forward.__name__] = forward
        _BUILT_IN[forward.__name__] = Activation(forward.__name__, forward, backward)
        return backward
    return register


def _leaky_slope(negative_slope=0.0, max_value=None, threshold=0.0):
    """The slope of a relu configured as a leaky relu (slope > 0, no cap, threshold
    0: the C kernel leaky_relu), else None."""
    leaky = (max_value is None and threshold == 0 and isinstance(negative_slope, (int, float))
             and 0 < negative_slope < math.inf)
    return float(negative_slope) if leaky else None


def _kernel_of(name, config):
    """(kernel name, alpha) of the C kernel computing the built-in activation
    ``name`` with keyword arguments ``config`` on float32, or None (relu and
    softmax have kernels of their own; exact gelu and capped relus stay NumPy)."""
    if name in ("tanh", "sigmoid", "selu", "softplus", "softsign", "hard_sigmoid",
                "exponential", "silu") and not config:
        return name, 0.0
    if name == "elu" and set(config) <= {"alpha"}:
        alpha = config.get("alpha", 1.0)
        ok = isinstance(alpha, (int, float)) and 0 < alpha < math.inf
        return ("elu", float(alpha)) if ok else None
    if name in ("relu", "leaky_relu"):
        try:
            slope = _leaky_slope(**({"negative_slope": 0.2} if name == "leaky_relu" else {}),
                                 **config)
        except TypeError:   # an unknown keyword: the NumPy formula will say so
            return None
        return None if slope is None else ("leaky_relu", slope)
    if name == "gelu" and set(config) <= {"approximate"} and config.get("approximate"):
        return "gelu_tanh", 0.0
    return None


def _elementwise(name, x, alpha=0.0, out=None):
    """f(x) for the kernel ``name``: the C kernel on float32 (into ``out`` if
    given, x itself works), the NumPy formula (``kernels.reference``) in x's
    dtype otherwise.  Always the C kernel on float32, even where a NumPy ufunc
    would cost a microsecond less (tanh, e^x on small arrays): a convolution
    or Dense layer applies the activation in its kernel's epilogue with the C
    kernel's arithmetic, and ``compile(fuse=False)`` must give the same bits."""
    x = _as_float(x)
    if x.dtype != np.float32:
        return reference.activation(name, x, alpha)
    return kernels.activation(name, x, alpha, out=out)


def _elementwise_backward(name, x, y, dy, alpha=0.0):
    """dy · f'(.) for the kernel ``name``, from y (or x, for silu and gelu;
    y is recomputed from x when a caller gives None)."""
    if kernels.activation_reads_input(name):
        source = x
    else:
        source = y if y is not None else _elementwise(name, x, alpha)
    if source.dtype == np.float32 and dy.dtype == np.float32:
        return kernels.activation_backward(name, source, dy, alpha)
    return reference.activation_backward(name, source, dy, alpha)


def _as_float(x):
    """``x`` as an array: float dtypes (float32, float64) are kept, others become float32."""
    x = np.asarray(x)
    return x if x.dtype.kind == "f" else x.astype(np.float32)


# ---- piecewise linear ----------------------------------------------------------------

def relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """Rectified linear unit: max(x, 0) (course, 5.2.3).

    The general Keras form: ``x`` above ``threshold`` (capped at
    ``max_value``), ``negative_slope * (x - threshold)`` at or below it.
    With the defaults this is max(x, 0); relu(0) = 0.
    """
    x = _as_float(x)
    if negative_slope == 0 and max_value is None and threshold == 0:  # the common case
        return kernels.relu(x) if x.dtype == np.float32 else np.maximum(x, x.dtype.type(0))
    slope = _leaky_slope(negative_slope, max_value, threshold)
    if slope is not None:
        return _elementwise("leaky_relu", x, slope)
    above = x if max_value is None else np.minimum(x, max_value)
    return np.where(x > threshold, above, negative_slope * (x - threshold)).astype(x.dtype)


@_derivative_of(relu)
def _relu_backward(x, y, dy, negative_slope=0.0, max_value=None, threshold=0.0):
    if negative_slope == 0 and max_value is None and threshold == 0:
        # slope 1 above 0, else 0; y > 0 exactly where x > 0, so y alone will do
        # (a Conv2D that fuses relu into its kernel keeps only y)
        if y.dtype == np.float32 and dy.dtype == np.float32:
            return kernels.relu_backward(y, dy)
        return dy * (y > 0)
    slope = _leaky_slope(negative_slope, max_value, threshold)
    if slope is not None:   # y > 0 exactly where x > 0
        return _elementwise_backward("leaky_relu", x, y, dy, slope)
    # slope 1 between threshold and max_value, 0 above max_value, negative_slope below
    slope = np.where(x > threshold, 1.0, negative_slope)
    if max_value is not None:
        slope = np.where(x >= max_value, 0.0, slope)
    return dy * slope.astype(dy.dtype)


def leaky_relu(x, negative_slope=0.2):
    """x for x > 0, ``negative_slope * x`` otherwise (the LeakyReLU layer uses 0.3)."""
    return relu(x, negative_slope=negative_slope)


@_derivative_of(leaky_relu)
def _leaky_relu_backward(x, y, dy, negative_slope=0.2):
    return _relu_backward(x, y, dy, negative_slope=negative_slope)


def linear(x):
    """The identity, f(x) = x: what ``activation=None`` means."""
    return _as_float(x)


@_derivative_of(linear)
def _linear_backward(x, y, dy):
    return dy


def hard_sigmoid(x):
    """clip(0.2x + 0.5, 0, 1): a cheap piecewise-linear sigmoid (tf.keras 2.0 form).

    (Keras 3 uses relu6(x + 3) / 6 instead; fastnn follows the course.)
    """
    return _elementwise("hard_sigmoid", x)


@_derivative_of(hard_sigmoid)
def _hard_sigmoid_backward(x, y, dy):
    return _elementwise_backward("hard_sigmoid", x, y, dy)   # 0.2 on the ramp, 0 < y < 1


# ---- squashing --------------------------------------------------------------------------

def sigmoid(x):
    """1 / (1 + e^-x) = e^x / (e^x + 1): squashes into (0, 1) (course, 5.2.1).

    Computed as e^x / (1 + e^x) for x < 0 so that e^-x never overflows.
    """
    return _elementwise("sigmoid", x)


@_derivative_of(sigmoid)
def _sigmoid_backward(x, y, dy):
    return _elementwise_backward("sigmoid", x, y, dy)   # σ' = σ(1 − σ)


def tanh(x):
    """Hyperbolic tangent: squashes into (-1, 1), centred at 0."""
    return _elementwise("tanh", x)


@_derivative_of(tanh)
def _tanh_backward(x, y, dy):
    return _elementwise_backward("tanh", x, y, dy)   # tanh' = 1 − tanh²


def softsign(x):
    """x / (1 + |x|): like tanh, but approaches ±1 polynomially."""
    return _elementwise("softsign", x)


@_derivative_of(softsign)
def _softsign_backward(x, y, dy):
    return _elementwise_backward("softsign", x, y, dy)   # 1 / (1 + |x|)² = (1 − |y|)²


def softmax(x, axis=-1):
    """e^x_i / Σ_j e^x_j along ``axis``: turns scores into probabilities that sum to 1.

    Subtracting the row maximum first changes nothing mathematically but keeps
    e^x from overflowing (softmax([1000, 1000]) = [0.5, 0.5]).
    """
    x = _as_float(x)
    if x.dtype == np.float32 and x.ndim and axis in (-1, x.ndim - 1):
        return kernels.softmax(x)  # a classifier's output: one C pass
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    e /= e.sum(axis=axis, keepdims=True)
    return e


@_derivative_of(softmax)
def _softmax_backward(x, y, dy, axis=-1):
    # Jacobian ∂y_i/∂x_j = y_i (δ_ij − y_j), so dx = y (dy − Σ_j dy_j y_j)
    return y * (dy - np.sum(dy * y, axis=axis, keepdims=True))


# ---- exponential family ---------------------------------------------------------------------

def exponential(x):
    """e^x."""
    return _elementwise("exponential", x)


@_derivative_of(exponential)
def _exponential_backward(x, y, dy):
    return _elementwise_backward("exponential", x, y, dy)   # (e^x)' = e^x = y


def softplus(x):
    """log(1 + e^x), a smooth relu; computed as max(x, 0) + log(1 + e^-|x|) to avoid overflow."""
    return _elementwise("softplus", x)


@_derivative_of(softplus)
def _softplus_backward(x, y, dy):
    return _elementwise_backward("softplus", x, y, dy)   # softplus' = σ(x) = 1 − e^-y


def elu(x, alpha=1.0):
    """Exponential linear unit: x for x > 0, alpha (e^x − 1) otherwise."""
    if isinstance(alpha, (int, float)) and alpha > 0:
        return _elementwise("elu", x, alpha)
    x = _as_float(x)
    return reference.activation("elu", x, alpha)


@_derivative_of(elu)
def _elu_backward(x, y, dy, alpha=1.0):
    if isinstance(alpha, (int, float)) and alpha > 0:   # then y > 0 exactly where x > 0
        return _elementwise_backward("elu", x, y, dy, alpha)   # alpha e^x = y + alpha
    return dy * np.where(x > 0, 1.0, y + alpha).astype(dy.dtype)


SELU_ALPHA = reference.SELU_ALPHA   # 1.6732632423543772
SELU_SCALE = reference.SELU_SCALE   # 1.0507009873554805


def selu(x):
    """Scaled elu, λ·elu(x, α) with α = 1.6732632423543772, λ = 1.0507009873554805.

    These constants keep activations at mean 0 and variance 1 through deep
    stacks of Dense layers initialised with lecun_normal.
    """
    return _elementwise("selu", x)


@_derivative_of(selu)
def _selu_backward(x, y, dy):
    return _elementwise_backward("selu", x, y, dy)   # λ, or y + λα where y < 0


def silu(x):
    """x · sigmoid(x), also called swish: a smooth relu that dips slightly below 0."""
    return _elementwise("silu", x)


swish = silu


@_derivative_of(silu)
def _silu_backward(x, y, dy):
    return _elementwise_backward("silu", x, y, dy)   # σ + xσ(1 − σ), from x


# ---- gelu and the error function ----------------------------------------------------------------

# W. J. Cody, "Rational Chebyshev approximations for the error function",
# Math. Comp. 23 (1969) 631-638, as in his netlib specfun CALERF: three
# rational functions (coefficients highest power first), each good to about
# 1e-16 on its interval.
_ERF_SMALL = ((0.185777706184603153, 3.1611237438705656, 113.864154151050156,
               377.485237685302021, 3209.37758913846947),
              (1.0, 23.6012909523441209, 244.024637934444173, 1282.61652607737228,
               2844.23683343917062))
_ERFC_MIDDLE = ((2.15311535474403846e-8, 0.564188496988670089, 8.88314979438837594,
                 66.1191906371416295, 298.635138197400131, 881.95222124176909,
                 1712.04761263407058, 2051.07837782607147, 1230.33935479799725),
                (1.0, 15.7449261107098347, 117.693950891312499, 537.181101862009858,
                 1621.38957456669019, 3290.79923573345963, 4362.61909014324716,
                 3439.36767414372164, 1230.33935480374942))
_ERFC_LARGE = ((0.0163153871373020978, 0.305326634961232344, 0.360344899949804439,
                0.125781726111229246, 0.0160837851487422766, 6.58749161529837803e-4),
               (1.0, 2.56852019228982242, 1.87295284992346047, 0.527905102951428412,
                0.0605183413124413191, 0.00233520497626869185))


def _rational(coefficients, t):
    """numerator(t) / denominator(t) by Horner's rule, in place (no temporaries per step)."""
    def horner(polynomial):
        value = np.full_like(t, polynomial[0])
        for coefficient in polynomial[1:]:
            value *= t
            value += coefficient
        return value
    numerator, denominator = coefficients
    result = horner(numerator)
    result /= horner(denominator)
    return result


def _erfc(x):
    """The complementary error function 1 − erf(x) = (2/√π) ∫_x^∞ e^(-t²) dt, in float64.

    Cody's three pieces of |x|: up to 0.46875 erf(x) = x·R(x²); up to 4
    erfc(|x|) = e^(-x²)·R(|x|); beyond, erfc(|x|) = e^(-x²)(1/√π − z·R(z))/|x|
    with z = 1/x².  Negative x use erfc(−y) = 2 − erfc(y).  Relative error
    about 1e-15, also far in the tail where 1 − erf(x) would cancel to 0.
    """
    x = np.asarray(x, np.float64)
    result = np.empty_like(x)
    small = np.abs(x) <= 0.46875
    xs = x[small]
    result[small] = 1.0 - xs * _rational(_ERF_SMALL, xs * xs)
    outer = ~small
    xo = x[outer]
    yo = np.abs(xo)
    with np.errstate(over="ignore", invalid="ignore"):   # |x| = inf gives 0, nan stays nan
        erfc_outer = np.exp(-yo * yo)
        middle = yo <= 4.0
        erfc_outer[middle] *= _rational(_ERFC_MIDDLE, yo[middle])
        yl = yo[~middle]
        z = 1.0 / (yl * yl)
        erfc_outer[~middle] *= (1.0 / math.sqrt(math.pi) - z * _rational(_ERFC_LARGE, z)) / yl
    result[outer] = np.where(xo < 0, 2.0 - erfc_outer, erfc_outer)
    return result


def _normal_cdf(x):
    """Φ(x) = P(N(0, 1) ≤ x) = erfc(−x/√2) / 2, in float64."""
    return 0.5 * _erfc(-np.asarray(x, np.float64) / math.sqrt(2.0))


def gelu(x, approximate=False):
    """Gaussian error linear unit: x · Φ(x) = 0.5x(1 + erf(x/√2)).

    Φ is the standard normal CDF: each input is kept with the probability
    that a standard normal stays below it.  ``approximate=True`` uses
    0.5x(1 + tanh(u)), u = √(2/π)(x + 0.044715x³), computed as the equal
    x·sigmoid(2u), which does not cancel to 0 for negative x.
    """
    if approximate:
        return _elementwise("gelu_tanh", x)
    x = _as_float(x)
    return (x * _normal_cdf(x)).astype(x.dtype)


@_derivative_of(gelu)
def _gelu_backward(x, y, dy, approximate=False):
    if approximate:   # σ(2u) + 2xσ(2u)(1 − σ(2u)) u', from x
        return _elementwise_backward("gelu_tanh", x, y, dy)
    x64 = np.asarray(x, np.float64)
    density = np.exp(-0.5 * x64 * x64) / math.sqrt(2.0 * math.pi)   # φ(x) = Φ'(x)
    return dy * (_normal_cdf(x64) + x64 * density).astype(dy.dtype)   # (xΦ)' = Φ + xφ


# ---- lookup -------------------------------------------------------------------------------------

def names():
    """Every name ``get`` accepts (lower case), sorted."""
    return sorted({*_BUILT_IN, *_ALIASES})


def get(identifier):
    """The :class:`Activation` for a name, None, an Activation or a callable.

    Names are case-insensitive ("ReLU" works); "swish" is "silu"; None means
    linear.  One of this module's functions (``activations.relu``) gives its
    built-in Activation; any other callable ``f(x)`` is wrapped: it runs
    forward, but its backward raises NotImplementedError.
    """
    if identifier is None:
        return _BUILT_IN["linear"]
    if isinstance(identifier, Activation):
        return identifier
    if isinstance(identifier, str):
        key = identifier.lower()
        key = _ALIASES.get(key, key)
        if key not in _BUILT_IN:
            raise ValueError(f"Unknown activation {identifier!r}. "
                             f"Valid names: {', '.join(names())}")
        return _BUILT_IN[key]
    if callable(identifier):
        for activation in _BUILT_IN.values():
            if activation._forward is identifier:
                return activation
        return Activation(getattr(identifier, "__name__", type(identifier).__name__), identifier)
    raise TypeError(f"An activation must be a name, None, an Activation or a callable, "
                    f"got {identifier!r}")


def serialize(activation):
    """The name of ``activation`` (anything ``get`` accepts), e.g. "relu"."""
    return get(activation).name
