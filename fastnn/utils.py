"""Small helpers around training: one-hot labels, normalising rows, reproducible
randomness and ``gradient_check`` (chapter 22: is backprop right? see
``fastnn.gradient_check``).

``plot_model``, ``get_file`` and ``Sequence`` (tf.keras 2) can be imported,
but using one raises NotImplementedError saying what fastnn offers instead.
"""
import numbers
import random

import numpy as np

from . import random as fastnn_random
from .arrays import real_array
from .gradient_check import gradient_check
from .unsupported import unsupported

__all__ = ["Sequence", "get_file", "gradient_check", "normalize", "plot_model",
           "set_random_seed", "to_categorical"]

plot_model = unsupported(
    "plot_model", "model.summary() prints the layers with their output shapes and parameter "
    "counts", __name__)
get_file = unsupported(
    "get_file", "fastnn.datasets.fashion_mnist.load_data() and mnist.load_data() fetch those "
    "data sets; fetch other files with urllib.request.urlretrieve(url, filename)", __name__)
Sequence = unsupported(
    "Sequence", "fit, evaluate and predict take arrays: load the data into NumPy arrays (in "
    "parts, with several fit(..., epochs=1) calls, if it does not fit in memory); for "
    "augmentation put Random* layers such as RandomFlip first in the model (chapter 17)",
    __name__)


def to_categorical(y, num_classes=None, dtype="float32"):
    """One-hot encode integer class labels (course, chapter 18).

    Each label becomes a vector of ``num_classes`` zeros with a single 1
    ("hot") at the label's index: with cat = 0, dog = 1, turtle = 2,
    llama = 3, ``to_categorical([0, 1, 2, 3])`` gives the rows
    [1,0,0,0], [0,1,0,0], [0,0,1,0], [0,0,0,1].

    Args:
        y: labels 0 … num_classes−1 (anything array-like of whole numbers;
            2.0 is label 2, 2.5 is refused). A trailing axis of length 1,
            as in (N, 1), is dropped.
        num_classes: the length of each vector; default max(y) + 1.
        dtype: of the result.

    Returns:
        array of shape y.shape + (num_classes,).

    Raises:
        ValueError: a label is not a whole number, is negative or >=
            num_classes, or num_classes is not a positive int.
    """
    labels = real_array(y, "to_categorical: y")
    if labels.ndim > 1 and labels.shape[-1] == 1:
        labels = labels[..., 0]
    if labels.dtype.kind == "f":
        not_whole = ~np.isfinite(labels) | (labels != np.round(labels))
        if not_whole.any():
            raise ValueError(f"to_categorical: labels must be whole numbers (class indices), "
                             f"got {labels[not_whole].flat[0]}")
    labels = labels.astype(np.int64)
    if num_classes is None:
        if labels.size == 0:
            raise ValueError("to_categorical: cannot infer num_classes from no labels; pass it")
        num_classes = int(labels.max()) + 1
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) \
            or num_classes < 1:
        raise ValueError(f"to_categorical: num_classes must be a positive int, "
                         f"got {num_classes!r}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        bad = labels[(labels < 0) | (labels >= num_classes)].flat[0]
        raise ValueError(f"to_categorical: labels must be in 0..{num_classes - 1} for "
                         f"num_classes={num_classes}, got {bad}")
    one_hot = np.zeros((labels.size, num_classes), dtype=dtype)
    one_hot[np.arange(labels.size), labels.reshape(-1)] = 1
    return one_hot.reshape(labels.shape + (num_classes,))


def normalize(x, axis=-1, order=2):
    """x divided by its norm along ``axis``: rows of length 1 (tf.keras 2's ``normalize``).

    With ``order=2`` each row becomes x / sqrt(Σ x²) (``order=1``: x / Σ|x|);
    a row of zeros stays zeros.  The dtype follows NumPy's division (float32
    stays float32, integers give float64), as in tf.keras 2.
    """
    x = real_array(x, "normalize: x")
    norm = np.atleast_1d(np.linalg.norm(x, order, axis))
    norm[norm == 0] = 1
    return x / np.expand_dims(norm, axis)


def set_random_seed(seed):
    """Make runs repeatable: reseed fastnn's generator, Python's ``random`` and NumPy's global one.

    fastnn draws initial weights, dropout masks and the shuffling of each
    epoch from ``fastnn.random.generator()``; the other two are reseeded as
    Keras does, for code of your own that uses them.
    """
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed < 2**32:
        raise ValueError(f"set_random_seed: seed must be an int in [0, 2**32), got {seed!r}")
    seed = int(seed)
    fastnn_random.set_seed(seed)
    random.seed(seed)
    np.random.seed(seed)
