"""The one random-number generator behind initializers, dropout and shuffling.

``fastnn.utils.set_random_seed(s)`` reseeds it, which makes weight
initialisation, dropout masks and the order of training batches repeatable.
"""
import numbers

import numpy as np

_generator = np.random.default_rng()


def generator():
    """The process-wide ``numpy.random.Generator`` fastnn draws from."""
    return _generator


def set_seed(seed):
    """Restart the generator from ``seed`` (an int >= 0)."""
    global _generator
    _generator = np.random.default_rng(seed)


def own_generator(seed, owner):
    """The generator of an object created with ``seed=...``: its own when
    seeded (its draws then depend on that seed alone), None when ``seed`` is
    None (it then draws from the global generator).  ``owner`` names the
    object in the error for a bad seed."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"{owner}: seed must be None or an int >= 0, got {seed!r}")
    return np.random.default_rng(int(seed))
