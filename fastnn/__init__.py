"""fastnn: a small, fast deep-learning engine for learning on a CPU.

The hot kernels (convolution, pooling, matrix multiply) are C with OpenMP,
each beside a textbook version and a NumPy reference: see ``fastnn.kernels``.
"""
from . import kernels
from ._version import __version__
from .runtime import build_info, get_num_threads, set_num_threads

__all__ = ["__version__", "build_info", "get_num_threads", "kernels", "set_num_threads"]
