"""fastnn: a small, fast deep-learning engine for learning on a CPU.

The hot kernels (convolution, pooling, matrix multiply) are C with OpenMP,
each beside a textbook version and a NumPy reference: see ``fastnn.kernels``.
On top sits a Keras-style API: swap ``tensorflow.keras`` for ``fastnn`` in
the course's imports (``from fastnn.models import Sequential``,
``from fastnn.layers import Dense``, ...) and its code runs unchanged.
"""
from . import (activations, backend, callbacks, datasets, initializers, kernels, layers, losses,
               metrics, models, optimizers, regularizers, utils)
from ._version import __version__
from .models import Sequential, load_model
from .runtime import build_info, get_num_threads, set_num_threads

__all__ = ["Sequential", "__version__", "activations", "backend", "build_info", "callbacks",
           "datasets", "get_num_threads", "initializers", "kernels", "layers", "load_model",
           "losses", "metrics", "models", "optimizers", "regularizers", "set_num_threads",
           "utils"]
