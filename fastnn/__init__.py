"""fastnn: a small, fast deep-learning engine for learning on a CPU.

The hot kernels (convolution, pooling, matrix multiply) are C with OpenMP,
each beside a textbook version and a NumPy reference: see ``fastnn.kernels``.
On top sits a Keras-style API: swap ``tensorflow.keras`` for ``fastnn`` in
the course's imports (``from fastnn.models import Sequential``,
``from fastnn.layers import Dense``, ...) and its code runs unchanged.
Beyond Keras's classifier API: ``fastnn.cluster.KMeans`` and autoencoders
(chapter 15), ``fastnn.semi_supervised.PseudoLabeler`` (chapter 16),
``fastnn.utils.gradient_check`` (chapter 22) and ``fastnn.plot`` for the
course's pictures (optional matplotlib).
"""
from . import (activations, backend, callbacks, cluster, datasets, initializers, kernels, layers,
               losses, memory, metrics, models, optimizers, plot, regularizers, semi_supervised,
               utils)
from ._version import __version__
from .models import Sequential, load_model
from .runtime import build_info, get_num_threads, set_num_threads

__all__ = ["Sequential", "__version__", "activations", "backend", "build_info", "callbacks",
           "cluster", "datasets", "get_num_threads", "initializers", "kernels", "layers",
           "load_model", "losses", "memory", "metrics", "models", "optimizers", "plot", "regularizers",
           "semi_supervised", "set_num_threads", "utils"]
