"""UpSampling2D: make feature maps larger (course, chapter 15: the decoder half
of a convolutional autoencoder grows the image back to its original size).

"nearest" repeats every row ``size[0]`` times and every column ``size[1]``
times, so each input pixel becomes a size[0] x size[1] block of copies::

    [[1, 2],        [[1, 1, 2, 2],
     [3, 4]]   ->    [1, 1, 2, 2],
                     [3, 3, 4, 4],
                     [3, 3, 4, 4]]

Its gradient adds up the gradients of the copies: dL/dx of a pixel is the
sum of dL/dy over its block.

"bilinear" blends the two nearest input pixels along each axis, with pixel
centres aligned as TensorFlow's ``tf.image.resize`` does (half-pixel
centres, edges clamped): output pixel o of an axis samples the input at
position (o + 0.5) / size - 0.5.  Each axis is a fixed linear map, a matrix
A of shape (out, in), so y = A_h · x · A_wᵀ per channel and the gradient is
dx = A_hᵀ · dy · A_w.
"""
import numpy as np

from ..kernels.geometry import check_channels_last, check_input_axes
from ..kernels.validation import positive_pair
from .backward_cache import BackwardCache
from .base import Layer

INTERPOLATIONS = ("nearest", "bilinear")
KERAS_ONLY_INTERPOLATIONS = ("bicubic", "lanczos3", "lanczos5", "area")


def bilinear_matrix(in_size, factor):
    """The (in_size·factor, in_size) matrix of half-pixel bilinear upsampling.

    Row o holds the weights of output pixel o: 1 - t on input ``lower`` and t
    on ``lower + 1`` (both clamped into the image), where the sample position
    is p = (o + 0.5) / factor - 0.5, lower = floor(p) and t = p - lower.

    >>> bilinear_matrix(2, 2)
    array([[1.  , 0.  ],
           [0.75, 0.25],
           [0.25, 0.75],
           [0.  , 1.  ]], dtype=float32)
    """
    position = (np.arange(in_size * factor) + 0.5) / factor - 0.5
    lower = np.floor(position)
    t = position - lower
    rows = np.arange(in_size * factor)
    matrix = np.zeros((in_size * factor, in_size), np.float64)
    np.add.at(matrix, (rows, np.clip(lower, 0, in_size - 1).astype(int)), 1.0 - t)
    np.add.at(matrix, (rows, np.clip(lower + 1, 0, in_size - 1).astype(int)), t)
    return matrix.astype(np.float32)


class UpSampling2D(Layer):
    """Enlarge images by whole factors: (h, w) becomes (h·size[0], w·size[1]).

    No weights: a fixed resampling, usually followed by a Conv2D that
    learns how to fill in the detail (the "upsample + conv" decoder).

    Args:
        size: int or (rows, cols), the upsampling factors; default (2, 2).
        data_format: None or "channels_last" (fastnn stores images NHWC).
        interpolation: "nearest" (copy each pixel into a block) or
            "bilinear" (blend the nearest pixels, as tf.image.resize).

    Input shape: (batch, height, width, channels).
    Output shape: (batch, height·size[0], width·size[1], channels).
    """

    _a_h = BackwardCache("the bilinear matrix of the height axis: dx = A_hᵀ · dy · A_w")
    _a_w = BackwardCache("the bilinear matrix of the width axis")

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        check_channels_last("UpSampling2D", data_format)
        self.size = positive_pair("UpSampling2D", "size", size)
        mode = interpolation.lower() if isinstance(interpolation, str) else interpolation
        if mode in KERAS_ONLY_INTERPOLATIONS:
            raise NotImplementedError(f"UpSampling2D: interpolation={interpolation!r} is not "
                                      f"implemented; fastnn has {', '.join(INTERPOLATIONS)}")
        if mode not in INTERPOLATIONS:
            raise ValueError(f"UpSampling2D: interpolation must be one of "
                             f"{', '.join(map(repr, INTERPOLATIONS))}, got {interpolation!r}")
        self.interpolation = mode

    def compute_output_shape(self, input_shape):
        check_input_axes(self, input_shape, 2)
        batch, height, width, channels = input_shape
        return (batch, None if height is None else height * self.size[0],
                None if width is None else width * self.size[1], channels)

    def call(self, x, training=False):
        if x.ndim != 4:
            raise ValueError(f"layer {self.name!r} (UpSampling2D) needs inputs of shape "
                             f"(batch, height, width, channels), got {x.shape}")
        rows, cols = self.size
        if self.interpolation == "nearest":
            return np.repeat(np.repeat(x, rows, axis=1), cols, axis=2)
        a_h = bilinear_matrix(x.shape[1], rows)
        a_w = bilinear_matrix(x.shape[2], cols)
        self._a_h, self._a_w = a_h, a_w
        # y[n, o, p, c] = Σ_{i, j} A_h[o, i] · x[n, i, j, c] · A_w[p, j]
        return np.einsum("oi,nijc,pj->nopc", a_h, x, a_w, optimize=True)

    def call_backward(self, dz):
        rows, cols = self.size
        if self.interpolation == "nearest":
            n, height, width, channels = dz.shape
            blocks = dz.reshape(n, height // rows, rows, width // cols, cols, channels)
            return blocks.sum(axis=(2, 4), dtype=np.float32)
        return np.einsum("oi,nopc,pj->nijc", self._a_h, dz, self._a_w, optimize=True)

    def get_config(self):
        return {**super().get_config(), "size": list(self.size), "data_format": "channels_last",
                "interpolation": self.interpolation}
