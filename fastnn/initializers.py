"""Weight initializers: the random numbers a layer starts from (course, chapter 24).

Why not plain N(0, 1)?  A node summing n inputs with weights of variance 1
gets a weighted sum z of variance n (250 inputs: standard deviation 15.8),
so sigmoid saturates at 0 or 1 and learns slowly.  Scaling the weights to
variance 1/n keeps z near variance 1: Xavier/Glorot initialisation.  For
relu the better variance is 2/n (He).  All these are :class:`VarianceScaling`:

    variance = scale / n,  n = fan_in, fan_out or their mean (``mode``)

drawn from a uniform distribution U(-limit, limit) with limit = √(3·variance)
(its variance is limit²/3) or from a normal truncated at two standard
deviations.  ``glorot_uniform`` is every kernel's default, ``zeros`` every
bias's.

Each initializer is called as ``init(shape, dtype="float32")`` and draws
from ``fastnn.random.generator()`` at that moment, so
``fastnn.utils.set_random_seed(s)`` makes the weights repeatable.  Give
``seed=`` to an initializer instead to give it a generator of its own: then
its draws depend only on that seed (successive calls still differ).
"""
import math
import re

import numpy as np

from . import random

TRUNCATED_NORMAL_STDDEV = 0.87962566103423978
"""Standard deviation of N(0, 1) truncated to [-2, 2]: truncated draws are divided by it."""


def compute_fans(shape):
    """(fan_in, fan_out) of a weight of this shape: how many inputs feed one output and back.

    Dense kernel (in, out) -> (in, out).  Conv kernel (kh, kw, in, out) ->
    (kh·kw·in, kh·kw·out): each output sees a kh×kw window of ``in``
    channels.  A 1-D shape (n,) gives (n, n); a scalar () gives (1, 1).
    """
    shape = tuple(shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field


def _truncated_normal(generator, shape):
    """Standard normal draws, each one beyond ±2 re-drawn until it lands inside."""
    values = generator.standard_normal(shape)
    outside = np.abs(values) > 2.0
    while outside.any():
        values[outside] = generator.standard_normal(np.count_nonzero(outside))
        outside = np.abs(values) > 2.0
    return values


def _shape(shape):
    return (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)


class Initializer:
    """Base class: ``__call__(shape, dtype)`` returns a new array; ``get_config`` its arguments."""

    def __call__(self, shape, dtype="float32"):
        raise NotImplementedError

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        arguments = ", ".join(f"{key}={value!r}" for key, value in self.get_config().items())
        return f"{type(self).__name__}({arguments})"


class RandomInitializer(Initializer):
    """An initializer that draws random numbers: the global generator, or its own if seeded."""

    def __init__(self, seed=None):
        self.seed = seed
        self._own_generator = random.own_generator(seed, type(self).__name__)

    def generator(self):
        """This initializer's own generator if it was seeded, else fastnn's global one."""
        return self._own_generator or random.generator()

    def get_config(self):
        return {"seed": self.seed}


# ---- constants --------------------------------------------------------------------------

class Constant(Initializer):
    """Every entry equals ``value``."""

    def __init__(self, value=0.0):
        self.value = value

    def __call__(self, shape, dtype="float32"):
        return np.full(_shape(shape), self.value, dtype=dtype)

    def get_config(self):
        return {"value": self.value}


class Zeros(Constant):
    """All zeros: the default for biases (course, chapter 25)."""

    def __init__(self):
        super().__init__(0.0)

    def get_config(self):
        return {}


class Ones(Constant):
    """All ones (e.g. BatchNormalization's gamma)."""

    def __init__(self):
        super().__init__(1.0)

    def get_config(self):
        return {}


class Identity(Initializer):
    """``gain`` times the identity matrix (2-D shapes only; non-square allowed)."""

    def __init__(self, gain=1.0):
        self.gain = gain

    def __call__(self, shape, dtype="float32"):
        shape = _shape(shape)
        if len(shape) != 2:
            raise ValueError(f"Identity initializer needs a 2-D shape, got {shape}")
        return (self.gain * np.eye(*shape)).astype(dtype)

    def get_config(self):
        return {"gain": self.gain}


# ---- fixed distributions -------------------------------------------------------------------

class RandomNormal(RandomInitializer):
    """N(mean, stddev²)."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        self.mean, self.stddev = mean, stddev

    def __call__(self, shape, dtype="float32"):
        values = self.generator().standard_normal(_shape(shape))
        return (self.mean + self.stddev * values).astype(dtype)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, **super().get_config()}


class TruncatedNormal(RandomNormal):
    """N(mean, stddev²), but values beyond two stddev from the mean are re-drawn.

    ``stddev`` is that of the normal before truncation; the values that come
    out have a standard deviation of 0.8796 · stddev.
    """

    def __call__(self, shape, dtype="float32"):
        values = _truncated_normal(self.generator(), _shape(shape))
        return (self.mean + self.stddev * values).astype(dtype)


class RandomUniform(RandomInitializer):
    """U(minval, maxval)."""

    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        super().__init__(seed)
        self.minval, self.maxval = minval, maxval

    def __call__(self, shape, dtype="float32"):
        return self.generator().uniform(self.minval, self.maxval, _shape(shape)).astype(dtype)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, **super().get_config()}


# ---- variance scaling: Glorot, He, LeCun --------------------------------------------------------

_FAN_MODES = ("fan_in", "fan_out", "fan_avg")
_DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")


class VarianceScaling(RandomInitializer):
    """Weights of variance ``scale / n``, n set by ``mode`` from the weight's fans.

    Args:
        scale: the numerator (1 for Glorot/LeCun, 2 for He: relu zeroes half
            of its inputs, so the weights must make up for it).
        mode: "fan_in" (n = inputs per output), "fan_out", or "fan_avg"
            (n = (fan_in + fan_out) / 2, Glorot's compromise between the
            forward and the backward pass).
        distribution: "truncated_normal" (stddev √variance / 0.8796 before
            truncation, so what comes out has the variance), "untruncated_normal"
            or "uniform" (limit √(3·variance)).
        seed: None (use fastnn's global generator) or an int.
    """

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        if not scale > 0:
            raise ValueError(f"VarianceScaling: scale must be positive, got {scale!r}")
        if mode not in _FAN_MODES:
            raise ValueError(f"VarianceScaling: mode must be one of {_FAN_MODES}, got {mode!r}")
        if distribution not in _DISTRIBUTIONS:
            raise ValueError(f"VarianceScaling: distribution must be one of {_DISTRIBUTIONS}, "
                             f"got {distribution!r}")
        super().__init__(seed)
        self.scale, self.mode, self.distribution = scale, mode, distribution

    def __call__(self, shape, dtype="float32"):
        shape = _shape(shape)
        fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        variance = self.scale / max(1.0, n)
        generator = self.generator()
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            values = generator.uniform(-limit, limit, shape)
        elif self.distribution == "truncated_normal":
            stddev = math.sqrt(variance) / TRUNCATED_NORMAL_STDDEV
            values = stddev * _truncated_normal(generator, shape)
        else:
            values = math.sqrt(variance) * generator.standard_normal(shape)
        return values.astype(dtype)

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution,
                **super().get_config()}


class _NamedVarianceScaling(VarianceScaling):
    """A VarianceScaling whose scale, mode and distribution are fixed by its name."""

    SCALE, MODE, DISTRIBUTION = 1.0, "fan_in", "truncated_normal"

    def __init__(self, seed=None):
        super().__init__(self.SCALE, self.MODE, self.DISTRIBUTION, seed)

    def get_config(self):
        return {"seed": self.seed}


class GlorotUniform(_NamedVarianceScaling):
    """Xavier/Glorot uniform, every kernel's default: U(±√(6 / (fan_in + fan_out)))."""

    MODE, DISTRIBUTION = "fan_avg", "uniform"


class GlorotNormal(_NamedVarianceScaling):
    """Xavier/Glorot normal: truncated normal, stddev √(2 / (fan_in + fan_out))."""

    MODE = "fan_avg"


class HeUniform(_NamedVarianceScaling):
    """He uniform, for relu layers: U(±√(6 / fan_in))."""

    SCALE, DISTRIBUTION = 2.0, "uniform"


class HeNormal(_NamedVarianceScaling):
    """He normal, for relu layers: truncated normal, stddev √(2 / fan_in)."""

    SCALE = 2.0


class LecunUniform(_NamedVarianceScaling):
    """LeCun uniform: U(±√(3 / fan_in))."""

    DISTRIBUTION = "uniform"


class LecunNormal(_NamedVarianceScaling):
    """LeCun normal, for selu nets: truncated normal, stddev √(1 / fan_in)."""


# ---- orthogonal ---------------------------------------------------------------------------------

class Orthogonal(RandomInitializer):
    """A random orthogonal matrix times ``gain`` (rows or columns orthonormal).

    The shape is flattened to (prod(shape[:-1]), shape[-1]); the Q of the QR
    decomposition of a normal matrix, with signs fixed by diag(R) so that
    every orthogonal matrix is equally likely.
    """

    def __init__(self, gain=1.0, seed=None):
        super().__init__(seed)
        self.gain = gain

    def __call__(self, shape, dtype="float32"):
        shape = _shape(shape)
        if len(shape) < 2:
            raise ValueError(f"Orthogonal initializer needs at least a 2-D shape, got {shape}")
        rows, cols = math.prod(shape[:-1]), shape[-1]
        values = self.generator().standard_normal((max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(values)
        q *= np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return (self.gain * q).reshape(shape).astype(dtype)

    def get_config(self):
        return {"gain": self.gain, **super().get_config()}


# ---- lookup -------------------------------------------------------------------------------------

_CLASSES = (Constant, GlorotNormal, GlorotUniform, HeNormal, HeUniform, Identity, LecunNormal,
            LecunUniform, Ones, Orthogonal, RandomNormal, RandomUniform, TruncatedNormal,
            VarianceScaling, Zeros)


def _snake_case(name):
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


_BY_NAME = {_snake_case(cls.__name__): cls for cls in _CLASSES}
_BY_NAME.update({"normal": RandomNormal, "uniform": RandomUniform, "zero": Zeros, "one": Ones})


def names():
    """Every snake_case name ``get`` accepts, sorted."""
    return sorted(_BY_NAME)


def _class_named(name):
    cls = _BY_NAME.get(name.lower()) or _BY_NAME.get(_snake_case(name))
    if cls is None:
        raise ValueError(f"Unknown initializer {name!r}. Valid names: {', '.join(names())}")
    return cls


def get(identifier):
    """An initializer from a name, a config dict, an instance, a class or a callable.

    "glorot_uniform" and "GlorotUniform" give a new GlorotUniform();
    {"class_name": "RandomNormal", "config": {"stddev": 0.1}} a configured
    one; an Initializer instance or any callable ``f(shape, dtype)`` is
    returned as it is; None stays None (no initializer).
    """
    if identifier is None or isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, str):
        return _class_named(identifier)()
    if isinstance(identifier, dict):
        if "class_name" not in identifier:
            raise ValueError(f"An initializer dict needs a 'class_name', got {identifier!r}")
        return _class_named(identifier["class_name"]).from_config(identifier.get("config", {}))
    if isinstance(identifier, type) and issubclass(identifier, Initializer):
        return identifier()
    if callable(identifier):
        return identifier
    raise TypeError(f"Cannot interpret {identifier!r} as an initializer")


def serialize(initializer):
    """{"class_name": ..., "config": ...}, which ``get`` turns back into an equal initializer.

    None and plain callables have no config: they are returned as they are.
    """
    if not isinstance(initializer, Initializer):
        return initializer
    return {"class_name": type(initializer).__name__, "config": initializer.get_config()}
