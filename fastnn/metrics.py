"""Metrics: numbers reported during training that are not optimised (e.g. accuracy).

A metric keeps a running, sample-weighted mean over an epoch:
``update_state`` after each batch adds Σ wᵢ·vᵢ and Σ wᵢ of that batch's
per-sample values vᵢ, ``result()`` returns their ratio, ``reset_state()``
starts a new epoch.  Unlike the loss, regularisation penalties never enter.

``compile(metrics=["accuracy"])`` goes through ``get``: "accuracy" (or "acc")
means binary, sparse categorical or categorical accuracy depending on the
output and the loss (see ``get``), and the metric keeps the string it was
given as its name, which is the key in the training log.
"""
import numpy as np

from . import losses
from .losses import broadcast_sample_weight, match_rank


class Metric:
    """Base class: a sample-weighted mean of ``_values(y_true, y_pred)`` (one value per sample)."""

    def __init__(self, name):
        self.name = name
        self.reset_state()

    def _values(self, y_true, y_pred):
        raise NotImplementedError

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Add one batch: its per-sample values, weighted by ``sample_weight`` (default 1 each)."""
        values = np.asarray(self._values(y_true, y_pred), np.float64)
        if sample_weight is None:  # every weight 1
            self._total += float(values.sum())
            self._count += values.size
            return
        weights = broadcast_sample_weight(sample_weight, values.shape)
        self._total += float(np.sum(weights * values))
        self._count += float(np.sum(weights))

    def result(self):
        """Σ wᵢ·vᵢ / Σ wᵢ over everything since the last reset (0.0 before any update)."""
        return self._total / self._count if self._count else 0.0

    def reset_state(self):
        self._total = 0.0
        self._count = 0.0

    def __repr__(self):
        return f"<{type(self).__name__} {self.name}: {self.result():.4f}>"


class MeanMetricWrapper(Metric):
    """The running mean of ``function(y_true, y_pred, **kwargs)``, a per-sample function."""

    def __init__(self, function, name=None, **kwargs):
        self.function = function
        self.kwargs = kwargs
        super().__init__(name or getattr(function, "__name__", "metric"))

    def _values(self, y_true, y_pred):
        return self.function(y_true, y_pred, **self.kwargs)


# ---- accuracy -----------------------------------------------------------------------------------

def binary_accuracy(y_true, y_pred, threshold=0.5):
    """Per sample: the fraction of outputs with (p > threshold) == y (labels 0/1)."""
    y, p = match_rank(y_true, y_pred)
    return np.mean((p > threshold) == y, axis=-1)


def categorical_accuracy(y_true, y_pred):
    """Per sample: 1.0 if argmax y (one-hot) == argmax p, else 0.0."""
    y, p = match_rank(y_true, y_pred)
    return (np.argmax(y, axis=-1) == np.argmax(p, axis=-1)).astype(np.float64)


def sparse_categorical_accuracy(y_true, y_pred):
    """Per sample: 1.0 if the integer label y == argmax p, else 0.0.  y is (N,) or (N, 1)."""
    y, p = np.asarray(y_true), np.asarray(y_pred)
    if y.ndim == p.ndim and y.shape[-1] == 1:
        y = y[..., 0]
    return (y == np.argmax(p, axis=-1)).astype(np.float64)


class BinaryAccuracy(MeanMetricWrapper):
    """How often a sigmoid output lands on the right side of ``threshold``."""

    def __init__(self, name="binary_accuracy", threshold=0.5):
        super().__init__(binary_accuracy, name, threshold=threshold)


class CategoricalAccuracy(MeanMetricWrapper):
    """How often the most probable class is the one-hot label's class."""

    def __init__(self, name="categorical_accuracy"):
        super().__init__(categorical_accuracy, name)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    """How often the most probable class is the integer label."""

    def __init__(self, name="sparse_categorical_accuracy"):
        super().__init__(sparse_categorical_accuracy, name)


# ---- losses as metrics --------------------------------------------------------------------------

def cosine_similarity(y_true, y_pred):
    """Per sample: Σ ŷ·p̂ of the unit vectors (1: same direction); the loss is its negative."""
    return -losses.cosine_similarity(y_true, y_pred)


# Each class below is the running mean of the per-sample loss of the same name in fastnn.losses.

class MeanSquaredError(MeanMetricWrapper):
    def __init__(self, name="mean_squared_error"):
        super().__init__(losses.mean_squared_error, name)


class MeanAbsoluteError(MeanMetricWrapper):
    def __init__(self, name="mean_absolute_error"):
        super().__init__(losses.mean_absolute_error, name)


class MeanAbsolutePercentageError(MeanMetricWrapper):
    def __init__(self, name="mean_absolute_percentage_error"):
        super().__init__(losses.mean_absolute_percentage_error, name)


class MeanSquaredLogarithmicError(MeanMetricWrapper):
    def __init__(self, name="mean_squared_logarithmic_error"):
        super().__init__(losses.mean_squared_logarithmic_error, name)


class Hinge(MeanMetricWrapper):
    def __init__(self, name="hinge"):
        super().__init__(losses.hinge, name)


class SquaredHinge(MeanMetricWrapper):
    def __init__(self, name="squared_hinge"):
        super().__init__(losses.squared_hinge, name)


class CategoricalHinge(MeanMetricWrapper):
    def __init__(self, name="categorical_hinge"):
        super().__init__(losses.categorical_hinge, name)


class LogCoshError(MeanMetricWrapper):
    def __init__(self, name="logcosh"):
        super().__init__(losses.log_cosh, name)


class KLDivergence(MeanMetricWrapper):
    def __init__(self, name="kl_divergence"):
        super().__init__(losses.kl_divergence, name)


class Poisson(MeanMetricWrapper):
    def __init__(self, name="poisson"):
        super().__init__(losses.poisson, name)


class CosineSimilarity(MeanMetricWrapper):
    """The mean cosine similarity Σ ŷ·p̂ (positive: 1 is best, unlike the loss)."""

    def __init__(self, name="cosine_similarity"):
        super().__init__(cosine_similarity, name)


class BinaryCrossentropy(MeanMetricWrapper):
    def __init__(self, name="binary_crossentropy"):
        super().__init__(losses.binary_crossentropy, name)


class CategoricalCrossentropy(MeanMetricWrapper):
    def __init__(self, name="categorical_crossentropy"):
        super().__init__(losses.categorical_crossentropy, name)


class SparseCategoricalCrossentropy(MeanMetricWrapper):
    def __init__(self, name="sparse_categorical_crossentropy"):
        super().__init__(losses.sparse_categorical_crossentropy, name)


# ---- lookup -------------------------------------------------------------------------------------

# "accuracy" and "crossentropy" are chosen by the output and the loss (tf.keras 2.0's rule)
_BY_KIND = {
    "accuracy": {"binary": BinaryAccuracy, "sparse": SparseCategoricalAccuracy,
                 "categorical": CategoricalAccuracy},
    "crossentropy": {"binary": BinaryCrossentropy, "sparse": SparseCategoricalCrossentropy,
                     "categorical": CategoricalCrossentropy},
}
_GENERIC = {"accuracy": "accuracy", "acc": "accuracy", "crossentropy": "crossentropy",
            "ce": "crossentropy"}
_BY_NAME = {"binary_accuracy": BinaryAccuracy, "categorical_accuracy": CategoricalAccuracy,
            "sparse_categorical_accuracy": SparseCategoricalAccuracy,
            "cosine_similarity": CosineSimilarity, "cosine_proximity": CosineSimilarity}


def _kind(loss, output_shape):
    """Which accuracy "accuracy" means here: "binary", "sparse" or "categorical"."""
    loss = None if loss is None else losses.get(loss)
    if (output_shape is not None and output_shape[-1] == 1) \
            or isinstance(loss, losses.BinaryCrossentropy):
        return "binary"
    if isinstance(loss, losses.SparseCategoricalCrossentropy):
        return "sparse"
    return "categorical"


def names():
    """Every metric name ``get`` accepts: the generic ones, accuracies and the loss names."""
    return sorted({*_GENERIC, *_BY_NAME, *losses.names()})


def get(identifier, loss=None, output_shape=None):
    """A Metric from a name, a Metric, a Metric class, a Loss or a function.

    "accuracy"/"acc" become BinaryAccuracy if the output has one unit
    (``output_shape[-1] == 1``) or the loss is binary crossentropy, else
    SparseCategoricalAccuracy if the loss is sparse categorical
    crossentropy, else CategoricalAccuracy ("crossentropy"/"ce" likewise).
    Any loss name ("mse", …) gives the running mean of that loss.  The metric
    is named by the string given, so the log shows "acc" for "acc".
    """
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str):
        key = identifier.lower()
        if key in _GENERIC:
            return _BY_KIND[_GENERIC[key]][_kind(loss, output_shape)](name=identifier)
        if key in _BY_NAME:
            return _BY_NAME[key](name=identifier)
        if key in losses.names():
            return MeanMetricWrapper(losses.get(key).per_sample, name=identifier)
        raise ValueError(f"Unknown metric {identifier!r}. Valid names: {', '.join(names())}")
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if isinstance(identifier, losses.Loss):
        return MeanMetricWrapper(identifier.per_sample, name=identifier.name)
    if callable(identifier):
        return MeanMetricWrapper(identifier)
    raise TypeError(f"A metric must be a name, a Metric or a function, got {identifier!r}")
