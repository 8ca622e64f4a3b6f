"""What every data-augmentation layer shares (course, chapters 12 and 17).

Augmentation makes new training images from the ones we have — flipped,
rotated, zoomed, shifted, cropped, brighter or with more contrast — so the
network sees more variety and overfits less.  As layers at the start of a
model, they change each batch anew while ``fit`` trains, and do nothing
while ``evaluate`` and ``predict`` run (the test images stay as they are).

Each layer draws its random numbers from its own generator when given
``seed=``, else from fastnn's global one (``fastnn.utils.set_random_seed``).
"""
import math
import numbers

from ... import random
from ..backward_cache import BackwardCache
from ..base import Layer


class RandomLayer(Layer):
    """Base of the augmentation layers: random in training, identity otherwise.

    Subclasses implement ``augment(x, rng)`` (and ``augment_backward(dz)``
    for the gradient through the last augmentation); RandomCrop also
    overrides ``inference`` because its output has a different size.
    """

    _augmented = BackwardCache("whether forward augmented (training) or ran ``inference``")

    def __init__(self, seed=None, data_format=None, **kwargs):
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last"):
            raise ValueError(f"{type(self).__name__}: fastnn stores images channels last "
                             f"(NHWC); data_format={data_format!r} is not supported")
        self.seed = seed
        self._rng = random.own_generator(seed, type(self).__name__)

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(f"layer {self.name!r} ({type(self).__name__}) needs images of shape "
                             f"(batch, height, width, channels), got {tuple(input_shape)}")
        return tuple(input_shape)

    def call(self, x, training=False):
        self._augmented = bool(training)
        if training:
            return self.augment(x, self._rng or random.generator())
        return self.inference(x)

    def call_backward(self, dz):
        return self.augment_backward(dz) if self._augmented else self.inference_backward(dz)

    def inference(self, x):
        """The output outside training: the images unchanged."""
        return x

    def inference_backward(self, dz):
        return dz

    def augment(self, x, rng):
        raise NotImplementedError

    def augment_backward(self, dz):
        raise NotImplementedError

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


def number_pair(layer, name, value):
    """Two finite numbers given as a tuple or list, as floats."""
    try:
        pair = tuple(value)
    except TypeError:
        pair = ()
    if len(pair) != 2 or not all(_finite_number(v) for v in pair):
        raise ValueError(f"{layer}: {name} must be a pair of finite numbers, got {value!r}")
    return float(pair[0]), float(pair[1])


def factor_range(layer, name, factor, lowest=None):
    """Keras's factor argument as (lower, upper): a number f means (-f, f).

    ``lowest`` bounds the lower end (a zoom cannot shrink an axis below
    nothing: lower >= -1)."""
    if _finite_number(factor):
        bounds = (-abs(float(factor)), abs(float(factor)))
    elif isinstance(factor, numbers.Real):
        raise ValueError(f"{layer}: {name} must be finite, got {factor!r}")
    else:
        bounds = number_pair(layer, name, factor)
    if not bounds[0] <= bounds[1]:
        raise ValueError(f"{layer}: {name} must have lower <= upper, got {factor!r}")
    if lowest is not None and bounds[0] < lowest:
        raise ValueError(f"{layer}: {name} must not go below {lowest}, got {factor!r}")
    return bounds


def value_range_pair(layer, value_range):
    """The (low, high) range pixel values live in, e.g. (0, 255) or (0, 1)."""
    low, high = number_pair(layer, "value_range", value_range)
    if not low < high:
        raise ValueError(f"{layer}: value_range must have low < high, got {value_range!r}")
    return low, high


def _finite_number(value):
    return (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and math.isfinite(value))
