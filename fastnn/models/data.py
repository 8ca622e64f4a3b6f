"""Turning what users pass to fit/evaluate/predict into checked float32 arrays.

Accepted: NumPy arrays of any real dtype, in any memory layout (strided,
Fortran-order, non-native byte order: each is copied once into a C-contiguous
float32 array), nested Python lists (chapter 14 trains on lists of
[height, weight]), and a 1-D x for a model whose input is one number per
sample (chapter 7: ``input_shape=(1,)``).

Non-finite values (NaN, ±inf) in x, y or the sample weights make every loss
and gradient NaN from the first batch that holds one, so by default they are
refused up front, naming the array and the first bad index::

    ValueError: x holds a non-finite value (nan) at index (3, 1); ...

``set_nonfinite_policy("warn")`` turns that into a RuntimeWarning (and
training goes on), ``"ignore"`` skips the check.  The check is two quick
passes (min and max) over each whole array per fit/evaluate/predict call,
never per batch.
"""
import collections.abc
import numbers
import warnings

import numpy as np

from ..arrays import real_array
from ..unsupported import ARRAYS

NONFINITE_POLICIES = ("raise", "warn", "ignore")
_nonfinite_policy = "raise"


def set_nonfinite_policy(policy):
    """What fit/evaluate/predict do with NaN or ±inf in their data; returns the old policy.

    "raise" (the default): ValueError naming the array and the first bad
    index.  "warn": a RuntimeWarning with the same text, then carry on.
    "ignore": no check at all.
    """
    global _nonfinite_policy
    if policy not in NONFINITE_POLICIES:
        raise ValueError(f"set_nonfinite_policy: policy must be one of "
                         f"{', '.join(map(repr, NONFINITE_POLICIES))}, got {policy!r}")
    previous, _nonfinite_policy = _nonfinite_policy, policy
    return previous


def check_finite(array, what):
    """Apply the non-finite policy to a float32 ``array`` named ``what``."""
    if _nonfinite_policy == "ignore" or array.size == 0:
        return
    # NaN propagates through min and max, and ±inf is the min or the max:
    # two passes without a temporary array of the data's size
    if np.isfinite(array.min()) and np.isfinite(array.max()):
        return
    index = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
    message = (f"{what} holds a non-finite value ({array[index]}) at index "
               f"{index[0] if len(index) == 1 else index}; NaN or inf in the data (or a "
               f"number beyond float32's ±3.4e38) makes the loss and every gradient NaN (allow it with "
               f"fastnn.models.set_nonfinite_policy('warn') or 'ignore')")
    if _nonfinite_policy == "raise":
        raise ValueError(message)
    warnings.warn(message, RuntimeWarning, stacklevel=2)


def as_array(value, what):
    """A C-contiguous float32 array from an array or nested lists, or a clear
    error; its values pass the non-finite policy."""
    if isinstance(value, collections.abc.Iterator):   # a generator, e.g. Keras's datagen.flow
        raise ValueError(f"{what} is a generator or iterator, not an array: {ARRAYS}")
    array = np.asarray(real_array(value, what), dtype=np.float32, order="C")
    check_finite(array, what)
    return array


def as_inputs(x, input_shape, layer_name, what="x"):
    """``x`` (from ``as_array``) as (samples, *input_shape[1:]), or an error
    naming the first layer, the shape it expects and the shape it got (None
    in ``input_shape`` takes any size); a 1-D x for one-feature inputs gets
    its feature axis."""
    sample = tuple(input_shape[1:])
    if x.ndim == 1 and sample == (1,):
        x = x.reshape(-1, 1)
    if x.ndim != len(sample) + 1 or any(s is not None and s != n
                                        for s, n in zip(sample, x.shape[1:])):
        expected = "(samples, " + ", ".join(map(str, sample)) + ")"
        raise ValueError(f"{what} has shape {x.shape}, but the first layer "
                         f"{layer_name!r} expects {expected} (input_shape={sample})")
    return x


def check_lengths(x, y, what="y", x_what="x"):
    """``y`` (labels, sample weights, ...) must have one entry per sample of ``x``."""
    one = "label" if what.endswith("y") else "value"
    if y is not None and (y.ndim == 0 or len(y) != len(x)):
        got = "a single number" if y.ndim == 0 else len(y)
        raise ValueError(f"{x_what} has {len(x)} samples but {what} has {got}; "
                         f"they must have one {one} per sample")


def split_validation(x, y, fraction):
    """Keras's validation_split: the *last* fraction of the samples, before shuffling."""
    if (isinstance(fraction, bool) or not isinstance(fraction, numbers.Real)
            or not 0 <= fraction < 1):
        raise ValueError(f"validation_split must be a number in [0, 1), got {fraction!r}")
    split_at = int(len(x) * (1 - fraction))
    if fraction and split_at in (0, len(x)):
        raise ValueError(f"validation_split={fraction} of {len(x)} samples leaves "
                         f"an empty training or validation set")
    return (x[:split_at], y[:split_at]), (x[split_at:], y[split_at:])


def whole_number(name, value, minimum):
    """``value`` as an int >= ``minimum`` (bools and floats such as 2.0 refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        kind = "a positive int" if minimum == 1 else f"an int >= {minimum}"
        raise ValueError(f"{name} must be {kind}, got {value!r}")
    return int(value)


def check_batch_size(batch_size):
    """Keras's default of 32 for None, else a positive int."""
    return 32 if batch_size is None else whole_number("batch_size", batch_size, 1)


def batches(count, batch_size, order=None):
    """What selects each batch (the last one may be smaller): index arrays
    into a shuffled ``order``, else plain slices (views, no copy)."""
    for start in range(0, count, batch_size):
        yield (slice(start, start + batch_size) if order is None
               else order[start:start + batch_size])
