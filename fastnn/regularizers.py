"""Weight regularizers: a penalty on large weights added to the loss (course, chapter 28).

L2 regularisation adds λ·Σw² for each regularised weight matrix, so gradient
descent trades a little training fit for smaller weights, a simpler net and
less overfitting.  The course writes the term as (λ / 2m)·Σ‖w‖²; Keras, and
so fastnn, adds λ·Σw² as it is (no ½, not divided by the number of samples
m): ``l2(0.01)`` adds 0.01·Σw² once per batch.  Its gradient 2λw pulls every
weight towards 0 ("weight decay").  L1 adds λ·Σ|w| with gradient λ·sign(w),
which pushes small weights to exactly 0.

    Dense(32, kernel_regularizer=regularizers.l2(0.01))
"""
import numbers

import numpy as np


class Regularizer:
    """Base class: ``penalty = reg(w)`` (a float), ``reg.gradient(w)`` (dpenalty/dw)."""

    def __call__(self, w):
        raise NotImplementedError

    def gradient(self, w):
        raise NotImplementedError

    def get_config(self):
        return {}

    def __repr__(self):
        arguments = ", ".join(f"{key}={value!r}" for key, value in self.get_config().items())
        return f"{type(self).__name__}({arguments})"


def _factor(name, value):
    if (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or not np.isfinite(value) or value < 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


class L1L2(Regularizer):
    """l1·Σ|w| + l2·Σw².

    Args:
        l1: factor of the L1 penalty (default 0: none).
        l2: factor of the L2 penalty (default 0: none).
    """

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _factor("l1", l1)
        self.l2 = _factor("l2", l2)

    def __call__(self, w):
        w = np.asarray(w, np.float64)
        return self.l1 * float(np.sum(np.abs(w))) + self.l2 * float(np.sum(w * w))

    def gradient(self, w):
        """l1·sign(w) + 2·l2·w, same shape and float dtype as ``w`` (sign(0) = 0)."""
        w = np.asarray(w)
        dtype = w.dtype if w.dtype.kind == "f" else np.float32
        return (self.l1 * np.sign(w) + 2.0 * self.l2 * w).astype(dtype)

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    """l1·Σ|w|: drives small weights to exactly zero (sparse weights)."""

    def __init__(self, l1=0.01):
        super().__init__(l1=l1)

    def get_config(self):
        return {"l1": self.l1}


class L2(L1L2):
    """l2·Σw² (weight decay), the course's L2 regularisation."""

    def __init__(self, l2=0.01):
        super().__init__(l2=l2)

    def get_config(self):
        return {"l2": self.l2}


l1 = L1
l2 = L2


def l1_l2(l1=0.01, l2=0.01):
    """L1L2(l1, l2) with tf.keras 2.0's defaults of 0.01 each (the class itself defaults to 0)."""
    return L1L2(l1=l1, l2=l2)


_BY_NAME = {"l1": L1, "l2": L2, "l1_l2": l1_l2, "l1l2": L1L2}   # lower-cased names and class names


def _factory(name):
    factory = _BY_NAME.get(name.lower()) if isinstance(name, str) else None
    if factory is None:
        raise ValueError(f"Unknown regularizer {name!r}. Valid names: l1, l2, l1_l2, L1, L2, L1L2")
    return factory


def get(identifier):
    """A regularizer from a name, a config dict, a Regularizer or a callable.

    "l1", "l2" and "l1_l2" give the factories' defaults (0.01 each); "L1L2"
    the class's (0, 0).  {"class_name": "L2", "config": {"l2": 0.001}} is
    what ``serialize`` returns.  A callable ``f(w) -> float`` is returned as
    it is; None stays None.
    """
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, dict):
        return _factory(identifier.get("class_name"))(**identifier.get("config", {}))
    if isinstance(identifier, str):
        return _factory(identifier)()
    if callable(identifier):
        return identifier
    raise TypeError(f"Cannot interpret {identifier!r} as a regularizer")


def serialize(regularizer):
    """{"class_name": ..., "config": ...}, which ``get`` turns back into an equal regularizer.

    None and plain callables have no config: they are returned as they are.
    """
    if not isinstance(regularizer, Regularizer):
        return regularizer
    return {"class_name": type(regularizer).__name__, "config": regularizer.get_config()}
