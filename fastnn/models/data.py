"""Turning what users pass to fit/evaluate/predict into checked float32 arrays.

Accepted: NumPy arrays of any real dtype, nested Python lists (chapter 14
trains on lists of [height, weight]), and a 1-D x for a model whose input
is one number per sample (chapter 7: ``input_shape=(1,)``).
"""
import numpy as np

from ..arrays import real_array


def as_array(value, what):
    """A float32 array from an array or nested lists, or a clear error."""
    return np.ascontiguousarray(real_array(value, what), dtype=np.float32)


def as_inputs(x, input_shape, layer_name, what="x"):
    """x as (samples, *input_shape[1:]); a 1-D x for one-feature inputs gets its axis."""
    x = as_array(x, what)
    if input_shape is None:
        if x.ndim < 2:
            raise ValueError(f"{what} must have a batch axis and at least one feature "
                             f"axis, got shape {x.shape}")
        return x
    sample = tuple(input_shape[1:])
    if x.ndim == 1 and sample == (1,):
        x = x.reshape(-1, 1)
    if x.shape[1:] != sample:
        expected = "(samples, " + ", ".join(map(str, sample)) + ")"
        raise ValueError(f"{what} has shape {x.shape}, but the first layer "
                         f"{layer_name!r} expects {expected} (input_shape={sample})")
    return x


def check_lengths(x, y, what="y"):
    if y is not None and len(y) != len(x):
        raise ValueError(f"x has {len(x)} samples but {what} has {len(y)}; "
                         f"they must have one {'label' if what.endswith('y') else 'value'} "
                         f"per sample")


def split_validation(x, y, fraction):
    """Keras's validation_split: the *last* fraction of the samples, before shuffling."""
    if not 0 <= fraction < 1:
        raise ValueError(f"validation_split must be in [0, 1), got {fraction!r}")
    split_at = int(len(x) * (1 - fraction))
    if fraction and split_at in (0, len(x)):
        raise ValueError(f"validation_split={fraction} of {len(x)} samples leaves "
                         f"an empty training or validation set")
    return (x[:split_at], y[:split_at]), (x[split_at:], y[split_at:])


def check_batch_size(batch_size):
    if batch_size is None:
        return 32
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    return int(batch_size)


def batches(count, batch_size, order=None):
    """Index arrays of consecutive batches (the last one may be smaller)."""
    order = np.arange(count) if order is None else order
    for start in range(0, count, batch_size):
        yield order[start:start + batch_size]
