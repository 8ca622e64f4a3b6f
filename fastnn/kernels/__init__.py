"""fastnn's kernels: the Python face of the C code in csrc/.

Every kernel takes ``impl``: "fast" (optimised C, OpenMP), "naive" (the
textbook C loops) or "numpy" (the reference in ``fastnn.kernels.reference``).
Arguments are validated here, once, and converted to C-contiguous float32
before any C runs; the GIL is released while C computes.
"""
from .activation import relu, relu_backward, softmax
from .convolution import conv2d, conv2d_backward, conv2d_pooled_weight_gradient
from .crossentropy import sparse_crossentropy
from .dense import dense_backward
from .dropout import dropout
from .matmul import matmul
from .normalization import batch_norm, batch_norm_backward, batch_norm_stats
from .optimizer import adam_update, adam_update_many
from .pooling import avg_pool2d, avg_pool2d_backward, max_pool2d, max_pool2d_backward
from .recurrent import RnnSteps, rnn_backward, rnn_forward
from .validation import IMPLS
from .warp import affine_warp, affine_warp_backward

__all__ = ["IMPLS", "adam_update", "adam_update_many", "affine_warp", "affine_warp_backward", "avg_pool2d", "avg_pool2d_backward",
           "batch_norm", "batch_norm_backward", "batch_norm_stats", "conv2d", "conv2d_backward", "conv2d_pooled_weight_gradient", "dense_backward", "dropout",
           "matmul", "max_pool2d", "max_pool2d_backward", "relu", "relu_backward",
           "RnnSteps", "rnn_backward", "rnn_forward",
           "softmax", "sparse_crossentropy"]
