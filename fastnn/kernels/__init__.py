"""fastnn's kernels: the Python face of the C code in csrc/.

Every kernel takes ``impl``: "fast" (optimised C, OpenMP), "naive" (the
textbook C loops) or "numpy" (the reference in ``fastnn.kernels.reference``).
Arguments are validated here, once, and converted to C-contiguous float32
before any C runs; the GIL is released while C computes.
"""
from .activation import (ACTIVATION_NAMES, activation, activation_backward,
                         activation_reads_input, relu, relu_backward, softmax)
from .convolution import (conv2d, conv2d_backward, conv2d_pooled_weight_gradient,
                          conv2d_relu_max_pool2d, conv2d_weight_gradient_through)
from .crossentropy import sparse_crossentropy
from .dense import dense_backward, dense_forward, dense_threads
from .dropout import dropout
from .matmul import matmul
from .normalization import batch_norm, batch_norm_backward, batch_norm_stats
from .optimizer import UpdateRule
from .pooling import avg_pool2d, avg_pool2d_backward, max_pool2d, max_pool2d_backward
from .pooling_nd import (avg_pool1d, avg_pool1d_backward, avg_pool3d, avg_pool3d_backward,
                         max_pool1d, max_pool1d_backward, max_pool3d, max_pool3d_backward)
from .recurrent import RnnGradients, RnnSteps, rnn_backward, rnn_forward
from .validation import IMPLS
from .warp import affine_warp, affine_warp_backward

__all__ = ["ACTIVATION_NAMES", "IMPLS", "UpdateRule", "activation", "activation_backward",
           "activation_reads_input", "affine_warp", "affine_warp_backward", "avg_pool2d", "avg_pool2d_backward",
           "batch_norm", "batch_norm_backward", "batch_norm_stats", "conv2d", "conv2d_backward",
           "conv2d_pooled_weight_gradient", "conv2d_relu_max_pool2d", "conv2d_weight_gradient_through",
           "dense_backward", "dense_forward", "dense_threads", "dropout",
           "matmul", "max_pool2d", "max_pool2d_backward", "relu", "relu_backward",
           "RnnGradients", "RnnSteps", "rnn_backward", "rnn_forward",
           "softmax", "sparse_crossentropy"]
__all__ += ["avg_pool1d", "avg_pool1d_backward", "avg_pool3d", "avg_pool3d_backward",
            "max_pool1d", "max_pool1d_backward", "max_pool3d", "max_pool3d_backward"]
