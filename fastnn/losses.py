"""Loss functions: one number saying how wrong the predictions are (course, chapters 6 and 8).

Training minimises the loss.  Each loss first computes one value per sample
by reducing over the last axis (e.g. the mean squared error of a sample's
outputs); the batch loss is the mean of those values.  The course's example:
a cat (label 0) predicted as 0.25 has error 0.25 and squared error 0.0625.

Every loss object offers:

- ``per_sample(y_true, y_pred)``: the per-sample values, shape y_pred.shape[:-1];
- ``loss(y_true, y_pred, sample_weight=None)``: the batch loss, Σ wᵢ·lᵢ / N;
- ``gradient(...)``: d(batch loss)/d(y_pred), what backpropagation starts from;
- ``logits_gradient(..., activation_name)``: the same gradient taken one step
  further, through the output layer's softmax or sigmoid, when that pair has
  a short and numerically stable form (p − y); None otherwise.

Probabilities are clipped to [ε, 1 − ε] (ε = 1e-7) before a log, so a wrong
prediction of exactly 0 costs −log(1e-7) ≈ 16 instead of infinity.  Where a
clip is active the gradient is 0, as the formula says.  Values are computed
in float64; per-sample values and gradients come back as float32.

``y_true`` is first brought to y_pred's rank: labels (N,) against
predictions (N, 1) become (N, 1), never an (N, N) broadcast.
"""
import math

import numpy as np

from . import activations, kernels
from .arrays import real_array

EPSILON = 1e-7


# ---- shapes and weights ---------------------------------------------------------------

def _as_float64(name, value):
    return real_array(value, name).astype(np.float64)


def rank_matched(y_shape, p_ndim):
    """The shape of labels of ``y_shape`` brought to rank ``p_ndim`` by adding
    or dropping a last axis of length 1: (N,) against (N, 1) becomes (N, 1)."""
    y_shape = tuple(y_shape)
    if len(y_shape) == p_ndim - 1:
        return y_shape + (1,)
    if len(y_shape) == p_ndim + 1 and y_shape[-1] == 1:
        return y_shape[:-1]
    return y_shape


def match_rank(y_true, y_pred):
    """float64 ``(y, p)``, y brought to p's rank (``rank_matched``)."""
    y, p = _as_float64("y_true", y_true), _as_float64("y_pred", y_pred)
    return y.reshape(rank_matched(y.shape, p.ndim)), p


def broadcast_sample_weight(sample_weight, shape):
    """Weights of ``shape`` (float64): ones for None; (N,) or (N, 1) spread over the other axes."""
    if sample_weight is None:
        return np.ones(shape)
    weights = _as_float64("sample_weight", sample_weight)
    while weights.ndim > len(shape) and weights.shape[-1] == 1:
        weights = weights[..., 0]
    weights = weights.reshape(weights.shape + (1,) * (len(shape) - weights.ndim))
    try:
        return np.broadcast_to(weights, shape)
    except ValueError:
        raise ValueError(f"sample_weight of shape {np.shape(sample_weight)} does not fit "
                         f"per-sample losses of shape {shape}") from None


# ---- the base class -----------------------------------------------------------------------

class Loss:
    """Base class.  A subclass defines ``_per_sample(y, p)`` and, beside it,
    ``_per_sample_gradient(y, p)`` = ∂lᵢ/∂p (float64 arrays of equal shape);
    one with a ``logits_activation`` also ``_per_sample_logits_gradient(y, p)``."""

    default_name = "loss"
    # "softmax" / "sigmoid": the output activation whose gradient this loss can
    # take together with its own, giving dLoss/dlogits (``logits_gradient``)
    logits_activation = None

    def __init__(self, name=None):
        self.name = name or self.default_name

    def _prepare(self, y_true, y_pred):
        y, p = match_rank(y_true, y_pred)
        self.check_shapes(np.shape(y_true), p.shape)
        return y, p

    def check_shapes(self, y_shape, p_shape):
        """ValueError unless labels of ``y_shape`` fit predictions of ``p_shape``.

        Shapes only, no data: ``fit`` checks all of y with it once, before the
        first step, and the message names the shapes the user passed.
        """
        y_shape, p_shape = tuple(y_shape), tuple(p_shape)
        if not p_shape:
            raise ValueError(f"{self.name}: y_pred must have at least one axis, got a scalar")
        if rank_matched(y_shape, len(p_shape)) != p_shape:
            raise ValueError(self._shape_message(y_shape, p_shape))

    def _shape_message(self, y_shape, p_shape):
        return f"{self.name}: y_true of shape {y_shape} does not match y_pred of shape {p_shape}"

    def _scale(self, sample_weight, shape):
        """wᵢ / N: how much each per-sample loss counts in the batch loss (1/N
        as one number when every wᵢ is 1)."""
        if sample_weight is None:
            return np.float64(1.0 / max(1, math.prod(shape)))
        return broadcast_sample_weight(sample_weight, shape) / max(1, math.prod(shape))

    def per_sample(self, y_true, y_pred):
        """One loss value per sample: float32 array of shape y_pred.shape[:-1]."""
        return np.asarray(self._per_sample(*self._prepare(y_true, y_pred)), np.float32)

    def __call__(self, y_true, y_pred, sample_weight=None):
        """The batch loss Σ wᵢ·lᵢ / N (N per-sample values; wᵢ = 1 by default)."""
        return self._batch_loss(self._per_sample(*self._prepare(y_true, y_pred)), sample_weight)

    def _batch_loss(self, values, sample_weight):
        """Σ wᵢ·lᵢ / N from the per-sample values lᵢ."""
        values = np.asarray(values)
        if sample_weight is None:
            return float(values.sum()) / max(1, values.size)
        return float((self._scale(sample_weight, np.shape(values)) * values).sum())

    def gradient(self, y_true, y_pred, sample_weight=None):
        """d(batch loss)/d(y_pred): float32, shape of y_pred."""
        y, p = self._prepare(y_true, y_pred)
        return self._scaled(self._per_sample_gradient(y, p), sample_weight, p)

    def _scaled(self, per_sample_gradient, sample_weight, p):
        scale = self._scale(sample_weight, p.shape[:-1])[..., np.newaxis]
        return (scale * per_sample_gradient).astype(np.float32)

    def fuses_with(self, activation_name):
        """Whether this loss has a fused gradient through ``activation_name``."""
        name = getattr(activation_name, "name", activation_name)
        return self.logits_activation is not None and name == self.logits_activation

    def value_and_gradient(self, y_true, y_pred, activation_name=None, sample_weight=None):
        """(batch loss, gradient, fused) with the targets prepared once: one training step.

        The gradient is ``logits_gradient`` (fused True) when the output
        activation has a fused form with this loss, else ``gradient``.  A
        model's plan passes the activation's name only where its rule
        "softmax+crossentropy" applies (never with ``compile(fuse=False)``).
        """
        y, p = self._prepare(y_true, y_pred)
        loss = self._batch_loss(self._per_sample(y, p), sample_weight)
        fused = self.fuses_with(activation_name)
        per_sample = (self._per_sample_logits_gradient(y, p) if fused
                      else self._per_sample_gradient(y, p))
        return loss, self._scaled(per_sample, sample_weight, p), fused

    def logits_gradient(self, y_true, y_pred, activation_name, sample_weight=None):
        """d(batch loss)/dz for y_pred = activation(z), or None if this pair has no fused form.

        softmax + (sparse) categorical crossentropy gives (p − y)/N and sigmoid
        + binary crossentropy (p − y)/(N·K): exact, stable, and without the
        1/p of the log.  (The clip is ignored here: it only matters where
        p < 1e-7, and there the fused gradient is the one that keeps learning.)
        ``activation_name`` is e.g. "softmax" (an Activation object works too).
        """
        if not self.fuses_with(activation_name):
            return None
        y, p = self._prepare(y_true, y_pred)
        return self._scaled(self._per_sample_logits_gradient(y, p), sample_weight, p)

    def get_config(self):
        return {"name": self.name}

    def __repr__(self):
        return f"<{type(self).__name__} {self.name}>"


class _MeanOverOutputs(Loss):
    """A loss whose per-sample value is the mean of an element-wise term over the last axis.

    A subclass defines ``_elements(y, p)`` and ``_elements_gradient(y, p)``.
    """

    def _per_sample(self, y, p):
        return np.mean(self._elements(y, p), axis=-1)

    def _per_sample_gradient(self, y, p):
        return self._elements_gradient(y, p) / p.shape[-1]


# ---- regression ---------------------------------------------------------------------------------

class MeanSquaredError(_MeanOverOutputs):
    """mean((y − p)²): the course's MSE (chapter 8.1).  Big errors cost quadratically."""

    default_name = "mean_squared_error"

    def _elements(self, y, p):
        return np.square(y - p)

    def _elements_gradient(self, y, p):
        return 2.0 * (p - y)


class MeanAbsoluteError(_MeanOverOutputs):
    """mean(|y − p|): every unit of error costs the same, so outliers pull less than in MSE."""

    default_name = "mean_absolute_error"

    def _elements(self, y, p):
        return np.abs(y - p)

    def _elements_gradient(self, y, p):
        return np.sign(p - y)


class MeanAbsolutePercentageError(_MeanOverOutputs):
    """100 · mean(|y − p| / max(|y|, ε)): the error in percent of the label."""

    default_name = "mean_absolute_percentage_error"

    def _elements(self, y, p):
        return 100.0 * np.abs(y - p) / np.maximum(np.abs(y), EPSILON)

    def _elements_gradient(self, y, p):
        return 100.0 * np.sign(p - y) / np.maximum(np.abs(y), EPSILON)


class MeanSquaredLogarithmicError(_MeanOverOutputs):
    """mean((log(max(p, ε) + 1) − log(max(y, ε) + 1))²): MSE of logs, for relative errors."""

    default_name = "mean_squared_logarithmic_error"

    def _elements(self, y, p):
        return np.square(np.log1p(np.maximum(p, EPSILON)) - np.log1p(np.maximum(y, EPSILON)))

    def _elements_gradient(self, y, p):
        clipped = np.maximum(p, EPSILON)
        difference = np.log1p(clipped) - np.log1p(np.maximum(y, EPSILON))
        return 2.0 * difference / (1.0 + clipped) * (p >= EPSILON)


class LogCosh(_MeanOverOutputs):
    """mean(log(cosh(p − y))): like MSE/2 for small errors and like MAE for large ones.

    Computed as x + softplus(−2x) − log 2, which cannot overflow.
    """

    default_name = "log_cosh"

    def _elements(self, y, p):
        x = p - y
        return x + activations.softplus(-2.0 * x) - math.log(2.0)

    def _elements_gradient(self, y, p):
        return np.tanh(p - y)   # (log cosh x)' = tanh x


class Huber(_MeanOverOutputs):
    """mean(0.5e² if |e| ≤ δ else δ|e| − 0.5δ²), e = p − y: MSE near 0, MAE beyond δ."""

    default_name = "huber_loss"

    def __init__(self, delta=1.0, name=None):
        if not delta > 0:
            raise ValueError(f"Huber: delta must be positive, got {delta!r}")
        super().__init__(name)
        self.delta = float(delta)

    def _elements(self, y, p):
        error = np.abs(p - y)
        return np.where(error <= self.delta, 0.5 * error ** 2,
                        self.delta * error - 0.5 * self.delta ** 2)

    def _elements_gradient(self, y, p):
        return np.clip(p - y, -self.delta, self.delta)

    def get_config(self):
        return {**super().get_config(), "delta": self.delta}


class Poisson(_MeanOverOutputs):
    """mean(p − y·log(p + ε)): for predicted counts (rates) p of Poisson-distributed labels."""

    default_name = "poisson"

    def _elements(self, y, p):
        return p - y * np.log(p + EPSILON)

    def _elements_gradient(self, y, p):
        return 1.0 - y / (p + EPSILON)


# ---- margins (labels -1 / 1) --------------------------------------------------------------------

def _signed_labels(y):
    """Labels as −1/1: if every label is 0 or 1, map y → 2y − 1."""
    return 2.0 * y - 1.0 if np.all((y == 0) | (y == 1)) else y


class Hinge(_MeanOverOutputs):
    """mean(max(1 − y·p, 0)) with labels −1/1 (0/1 are mapped): the SVM loss."""

    default_name = "hinge"

    def _elements(self, y, p):
        return np.maximum(1.0 - _signed_labels(y) * p, 0.0)

    def _elements_gradient(self, y, p):
        y = _signed_labels(y)
        return np.where(1.0 - y * p > 0, -y, 0.0)


class SquaredHinge(_MeanOverOutputs):
    """mean(max(1 − y·p, 0)²) with labels −1/1 (0/1 are mapped)."""

    default_name = "squared_hinge"

    def _elements(self, y, p):
        return np.square(np.maximum(1.0 - _signed_labels(y) * p, 0.0))

    def _elements_gradient(self, y, p):
        y = _signed_labels(y)
        return -2.0 * y * np.maximum(1.0 - y * p, 0.0)


class CategoricalHinge(Loss):
    """max(max((1 − y)·p) − Σ y·p + 1, 0), one-hot y: the true class must win by a margin of 1."""

    default_name = "categorical_hinge"

    def _per_sample(self, y, p):
        return np.maximum(np.max((1.0 - y) * p, axis=-1) - np.sum(y * p, axis=-1) + 1.0, 0.0)

    def _per_sample_gradient(self, y, p):
        wrong = (1.0 - y) * p
        strongest_wrong = np.argmax(wrong, axis=-1)[..., np.newaxis]
        d_max = (np.arange(p.shape[-1]) == strongest_wrong) * (1.0 - y)
        active = (self._per_sample(y, p) > 0)[..., np.newaxis]
        return active * (d_max - y)


# ---- distributions ------------------------------------------------------------------------------

class KLDivergence(Loss):
    """Σ y·log(y / p) with y, p clipped to [ε, 1]: how far p is from the distribution y."""

    default_name = "kl_divergence"

    def _per_sample(self, y, p):
        y = np.clip(y, EPSILON, 1.0)
        return np.sum(y * np.log(y / np.clip(p, EPSILON, 1.0)), axis=-1)

    def _per_sample_gradient(self, y, p):
        inside = (p >= EPSILON) & (p <= 1.0)
        return -np.clip(y, EPSILON, 1.0) / np.clip(p, EPSILON, 1.0) * inside


def _unit_vectors(x):
    """x / max(‖x‖, ε) along the last axis, and the norms (keepdims)."""
    norm = np.sqrt(np.sum(x * x, axis=-1, keepdims=True))
    return x / np.maximum(norm, EPSILON), norm


class CosineSimilarity(Loss):
    """−Σ ŷ·p̂ (unit vectors): −1 when p points the way y does, 0 orthogonal, 1 opposite."""

    default_name = "cosine_similarity"

    def _per_sample(self, y, p):
        return -np.sum(_unit_vectors(y)[0] * _unit_vectors(p)[0], axis=-1)

    def _per_sample_gradient(self, y, p):
        y_hat = _unit_vectors(y)[0]
        p_hat, norm = _unit_vectors(p)
        # p̂ = p/‖p‖ has the Jacobian (I − p̂p̂ᵀ)/‖p‖; below ε the divisor is the constant ε
        along = np.sum(y_hat * p_hat, axis=-1, keepdims=True) * p_hat * (norm >= EPSILON)
        return -(y_hat - along) / np.maximum(norm, EPSILON)


# ---- crossentropy ----------------------------------------------------------------------------

class CategoricalCrossentropy(Loss):
    """−Σ y·log p for one-hot (or soft) labels y and class probabilities p.

    p is first divided by its sum (so outputs that are not a softmax, e.g.
    the course's sigmoid outputs in chapter 7, still form a distribution)
    and clipped to [ε, 1 − ε].
    """

    default_name = "categorical_crossentropy"
    logits_activation = "softmax"

    def _per_sample(self, y, p):
        q = p / np.sum(p, axis=-1, keepdims=True)
        return -np.sum(y * np.log(np.clip(q, EPSILON, 1.0 - EPSILON)), axis=-1)

    def _per_sample_gradient(self, y, p):
        total = np.sum(p, axis=-1, keepdims=True)
        q = p / total
        inside = (q >= EPSILON) & (q <= 1.0 - EPSILON)
        d_q = -y / np.clip(q, EPSILON, 1.0 - EPSILON) * inside
        # q = p / Σp has ∂q_j/∂p_k = (δ_jk − q_j) / Σp
        return (d_q - np.sum(d_q * q, axis=-1, keepdims=True)) / total

    def _per_sample_logits_gradient(self, y, p):
        # p = softmax(z): ∂/∂z of −Σ y·log p = p·Σy − y, i.e. p − y for one-hot y
        return p * np.sum(y, axis=-1, keepdims=True) - y

    def _shape_message(self, y_shape, p_shape):
        """Integer labels (one per sample) instead of one-hot rows: say so, and both fixes."""
        classes = p_shape[-1]
        if classes == 1 or y_shape not in (p_shape[:-1], p_shape[:-1] + (1,)):
            return super()._shape_message(y_shape, p_shape)
        return (f"{self.name} needs one-hot labels, one column per class (y_true of shape "
                f"{p_shape}, like y_pred), but y_true has shape {y_shape}: one integer label "
                f"per sample. Either one-hot encode them, y = to_categorical(y, "
                f"num_classes={classes}) (from fastnn.utils), or keep them and use "
                f"loss='sparse_categorical_crossentropy', which takes integer labels")


class SparseCategoricalCrossentropy(CategoricalCrossentropy):
    """Categorical crossentropy with integer labels: y (N,) or (N, 1), values 0 … C−1.

    Identical to ``categorical_crossentropy(to_categorical(y, C), p)``; the
    course's chapter 7 trains with it.  The one-hot matrix is never built:
    with one-hot y only the label's column counts, so the loss picks
    q[label] and the gradients change that one column.
    """

    default_name = "sparse_categorical_crossentropy"

    def _prepare(self, y_true, y_pred):
        """(the labels as flat int64, p) after checking that they fit; p stays
        float32 (a model's outputs) and anything else becomes float64."""
        p = real_array(y_pred, "y_pred")
        labels = real_array(y_true, "y_true")
        self.check_shapes(labels.shape, p.shape)
        if labels.ndim == p.ndim:
            labels = labels[..., 0]
        classes = p.shape[-1]
        # 1.0 is class 1, but 0.5 is no class; the kernel checks the range of the others
        if labels.dtype.kind not in "iub" or labels.dtype == np.uint64:
            outside = (labels != np.round(labels)) | (labels < 0) | (labels >= classes)
            if outside.any():
                raise self._label_error(labels[outside][0], classes)
        if p.dtype != np.float32:
            p = p.astype(np.float64)
        return labels.reshape(-1).astype(np.int64, copy=False), p

    def check_shapes(self, y_shape, p_shape):
        """Labels must have y_pred's shape without its class axis, or with a class axis of 1."""
        y_shape, p_shape = tuple(y_shape), tuple(p_shape)
        if not p_shape:
            raise ValueError(f"{self.name}: y_pred must have a class axis, got a scalar")
        if y_shape not in (p_shape[:-1], p_shape[:-1] + (1,)):
            raise ValueError(self._shape_message(y_shape, p_shape))

    def _shape_message(self, y_shape, p_shape):
        """One-hot rows instead of integer labels: say so, and both fixes."""
        expected = f"expected {p_shape[:-1]} or {p_shape[:-1] + (1,)}"
        if y_shape != p_shape:
            return (f"{self.name}: integer labels of shape {y_shape} do not match y_pred of "
                    f"shape {p_shape} ({expected})")
        return (f"{self.name} takes integer labels, one per sample ({expected}), but y_true "
                f"has the shape of y_pred, {y_shape}: one-hot labels? Either use "
                f"loss='categorical_crossentropy', which takes one-hot labels, or turn them "
                f"back into integers: y = y.argmax(axis=-1)")

    def _label_error(self, label, classes):
        return ValueError(f"{self.name}: labels must be integers in 0..{classes - 1} "
                          f"(the model has {classes} outputs), got {label:g}")

    def _kernel(self, labels, p, gradient_scale=None):
        """kernels.sparse_crossentropy on p's rows, its message in this loss's words.
        A model's float32 outputs go to C; float64 predictions passed in by
        hand keep their precision in the NumPy reference."""
        try:
            return kernels.sparse_crossentropy(p.reshape(-1, p.shape[-1]), labels,
                                               gradient_scale, EPSILON,
                                               "fast" if p.dtype == np.float32 else "numpy")
        except ValueError:  # a label outside the classes: _prepare let only integers through
            classes = p.shape[-1]
            raise self._label_error(labels[(labels < 0) | (labels >= classes)][0],
                                    classes) from None

    def _per_sample(self, labels, p):
        return self._kernel(labels, p)[0].reshape(p.shape[:-1])

    def value_and_gradient(self, y_true, y_pred, activation_name=None, sample_weight=None):
        if sample_weight is not None or not self.fuses_with(activation_name):
            return super().value_and_gradient(y_true, y_pred, activation_name, sample_weight)
        # the training step of the course's classifiers: one kernel call for loss and gradient
        labels, p = self._prepare(y_true, y_pred)
        count = max(1, labels.size)
        losses, gradient = self._kernel(labels, p, 1.0 / count)
        return float(losses.sum()) / count, gradient.reshape(p.shape), True

    def _per_sample_gradient(self, labels, p):
        # one-hot y: d_q is -1/q at the label (0 where clipped), so Σ d_q·q = d_q[label]·q[label]
        rows = p.reshape(-1, p.shape[-1]).astype(np.float64)
        at_label = (np.arange(labels.size), labels)
        total = np.sum(rows, axis=-1)
        q = rows[at_label] / total
        d_q = -1.0 / np.clip(q, EPSILON, 1.0 - EPSILON) * ((q >= EPSILON) & (q <= 1.0 - EPSILON))
        gradient = np.repeat((-d_q * q / total)[:, np.newaxis], rows.shape[1], axis=1)
        gradient[at_label] = (d_q - d_q * q) / total
        return gradient.reshape(p.shape)

    def _per_sample_logits_gradient(self, labels, p):
        return self._kernel(labels, p, 1.0)[1].reshape(p.shape)  # p − y with one-hot y


class BinaryCrossentropy(_MeanOverOutputs):
    """mean(−[y·log p + (1 − y)·log(1 − p)]), p clipped to [ε, 1 − ε]: for yes/no outputs."""

    default_name = "binary_crossentropy"
    logits_activation = "sigmoid"

    def _elements(self, y, p):
        p = np.clip(p, EPSILON, 1.0 - EPSILON)
        return -(y * np.log(p) + (1.0 - y) * np.log(1.0 - p))

    def _elements_gradient(self, y, p):
        inside = (p >= EPSILON) & (p <= 1.0 - EPSILON)
        p = np.clip(p, EPSILON, 1.0 - EPSILON)
        return (-y / p + (1.0 - y) / (1.0 - p)) * inside

    def _per_sample_logits_gradient(self, y, p):
        return (p - y) / p.shape[-1]   # p = σ(z): ∂/∂z of the crossentropy is p − y


# ---- plain functions ----------------------------------------------------------------------------

class LossFunctionWrapper(Loss):
    """A plain ``f(y_true, y_pred) -> per-sample values`` used as a loss.

    It gives values, but no gradient: fastnn cannot differentiate arbitrary
    Python code, so ``gradient`` raises NotImplementedError.
    """

    def __init__(self, function, name=None):
        super().__init__(name or getattr(function, "__name__", "loss"))
        self.function = function

    def _per_sample(self, y, p):
        return np.asarray(self.function(y, p), np.float64)

    def _per_sample_gradient(self, y, p):
        raise NotImplementedError(
            f"loss {self.name!r} is a plain function: fastnn cannot differentiate it, so it "
            f"cannot train with it. Use a built-in loss ({', '.join(names())}) or subclass "
            f"Loss with _per_sample and _per_sample_gradient.")


def _per_sample_function(cls):
    """The module-level function form of a loss class, as Keras has: f(y_true, y_pred) -> (N,)."""
    loss = cls()

    def function(y_true, y_pred):
        return loss.per_sample(y_true, y_pred)

    function.__name__ = function.__qualname__ = loss.name
    function.__doc__ = f"Per-sample {cls.__name__} (float32, shape y_pred.shape[:-1])."
    function.loss_class = cls
    return function


mean_squared_error = mse = _per_sample_function(MeanSquaredError)
mean_absolute_error = mae = _per_sample_function(MeanAbsoluteError)
mean_absolute_percentage_error = mape = _per_sample_function(MeanAbsolutePercentageError)
mean_squared_logarithmic_error = msle = _per_sample_function(MeanSquaredLogarithmicError)
hinge = _per_sample_function(Hinge)
squared_hinge = _per_sample_function(SquaredHinge)
categorical_hinge = _per_sample_function(CategoricalHinge)
log_cosh = logcosh = _per_sample_function(LogCosh)
huber = huber_loss = _per_sample_function(Huber)
kl_divergence = kld = kullback_leibler_divergence = _per_sample_function(KLDivergence)
poisson = _per_sample_function(Poisson)
cosine_similarity = cosine_proximity = _per_sample_function(CosineSimilarity)
categorical_crossentropy = _per_sample_function(CategoricalCrossentropy)
sparse_categorical_crossentropy = _per_sample_function(SparseCategoricalCrossentropy)
binary_crossentropy = _per_sample_function(BinaryCrossentropy)


def is_categorical_crossentropy(loss):
    """True if ``loss`` (name, Loss or function) is categorical crossentropy (tf.keras 2.0).

    The course lists it with the losses (chapter 8), but it is a test, not a loss.
    """
    try:
        return type(get(loss)) is CategoricalCrossentropy
    except (ValueError, TypeError):
        return False


# ---- lookup -------------------------------------------------------------------------------------

_BY_NAME = {  # the course's tf.keras 2.0 names, Keras 3's names, and the short aliases
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError,
    "mean_absolute_percentage_error": MeanAbsolutePercentageError,
    "mape": MeanAbsolutePercentageError,
    "mean_squared_logarithmic_error": MeanSquaredLogarithmicError,
    "msle": MeanSquaredLogarithmicError,
    "squared_hinge": SquaredHinge, "hinge": Hinge, "categorical_hinge": CategoricalHinge,
    "logcosh": LogCosh, "log_cosh": LogCosh,
    "huber_loss": Huber, "huber": Huber,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "binary_crossentropy": BinaryCrossentropy,
    "kullback_leibler_divergence": KLDivergence, "kl_divergence": KLDivergence,
    "kld": KLDivergence,
    "poisson": Poisson,
    "cosine_proximity": CosineSimilarity, "cosine_similarity": CosineSimilarity,
}
_BY_CLASS_NAME = {cls.__name__.lower(): cls for cls in set(_BY_NAME.values())}


def names():
    """Every loss name ``get`` accepts (besides class names such as "MeanSquaredError"), sorted."""
    return sorted(_BY_NAME)


def get(identifier):
    """A Loss from a name, a Loss, a Loss class or a function.

    Names are case-insensitive: "mse", "mean_squared_error" and
    "MeanSquaredError" all give MeanSquaredError().  This module's functions
    (``losses.mse``) give their class; any other ``f(y_true, y_pred)`` is
    wrapped in a LossFunctionWrapper (values, but no gradient).
    """
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        key = identifier.lower()
        cls = _BY_NAME.get(key) or _BY_CLASS_NAME.get(key)
        if cls is not None:
            return cls()
        if key == "is_categorical_crossentropy":
            raise ValueError("'is_categorical_crossentropy' is a helper that tells whether a "
                             "loss is categorical crossentropy, not a loss; use "
                             "'categorical_crossentropy'")
        raise ValueError(f"Unknown loss {identifier!r}. Valid names: {', '.join(names())}")
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if hasattr(identifier, "loss_class"):
        return identifier.loss_class()
    if callable(identifier):
        return LossFunctionWrapper(identifier)
    raise TypeError(f"A loss must be a name, a Loss or a function, got {identifier!r}")
