"""The one random-number generator behind initializers, dropout and shuffling.

``fastnn.utils.set_random_seed(s)`` reseeds it, which makes weight
initialisation, dropout masks and the order of training batches repeatable.
"""
import numpy as np

_generator = np.random.default_rng()


def generator():
    """The process-wide ``numpy.random.Generator`` fastnn draws from."""
    return _generator


def set_seed(seed):
    """Restart the generator from ``seed`` (an int >= 0)."""
    global _generator
    _generator = np.random.default_rng(seed)
