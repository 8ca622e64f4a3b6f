"""Global max and average pooling: one number per channel (course, chapter 27).

A global pool is a pool whose window is the whole input: (batch, steps,
channels), (batch, height, width, channels) or (batch, depth, height,
width, channels) becomes (batch, channels).
In front of the classifier it replaces Flatten: a Dense layer after it has
channels x units weights whatever the image size, instead of
height x width x channels x units.

Gradients are Keras's (the gradient of its ``ops.mean`` and ``ops.max``):
the mean shares dy equally among all positions; the max gives dy to the
maximum, and splits it equally among the positions that share the maximum
(unlike MaxPooling, whose window gives it to the first of them).
"""
import numpy as np

from ..kernels.geometry import check_channels_last, check_input_axes
from .backward_cache import BackwardCache
from .base import Layer


class GlobalPooling(Layer):
    """Shared by the global poolings: the pooled axes, keepdims, no weights.

    Args:
        data_format: "channels_last" (or None) only: fastnn's layout.
        keepdims: False gives (batch, channels); True keeps the pooled axes
            with length 1, e.g. (batch, 1, channels) or (batch, 1, 1, channels).

    Input shape: (batch, *pooled axes, channels).
    """

    rank = None  # how many axes are pooled away: 1, 2 or 3
    _x = BackwardCache("the input: its shape, and for max where the maxima are")
    _pooled = BackwardCache("the output with the pooled axes kept: the maxima to find again")

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        kind = type(self).__name__
        check_channels_last(kind, data_format)
        if not isinstance(keepdims, bool):
            raise ValueError(f"{kind}: keepdims must be True or False, got {keepdims!r}")
        self.keepdims = keepdims

    @property
    def axes(self):
        """The pooled axes of the input: (1,), (1, 2) or (1, 2, 3)."""
        return tuple(range(1, self.rank + 1))

    def compute_output_shape(self, input_shape):
        check_input_axes(self, input_shape, self.rank)
        pooled = (1,) * self.rank if self.keepdims else ()
        return (input_shape[0], *pooled, input_shape[-1])

    def call(self, x, training=False):
        self._x = x
        y = self.pool(x)          # pooled axes kept, length 1
        self._pooled = y
        return y if self.keepdims else y.reshape(x.shape[0], x.shape[-1])

    def call_backward(self, dz):
        dy = dz.reshape(self._pooled.shape)
        return self.pool_backward(self._x, self._pooled, dy)

    def get_config(self):
        return {**super().get_config(), "data_format": "channels_last",
                "keepdims": self.keepdims}


class GlobalAveragePooling(GlobalPooling):
    """The mean of each channel over all positions (summed in float64)."""

    def pool(self, x):
        return x.mean(axis=self.axes, dtype=np.float64, keepdims=True).astype(np.float32)

    def pool_backward(self, x, y, dy):
        count = np.prod([x.shape[a] for a in self.axes])
        return np.broadcast_to(dy / np.float32(count), x.shape).copy()


class GlobalMaxPooling(GlobalPooling):
    """The largest value of each channel over all positions."""

    def pool(self, x):
        return x.max(axis=self.axes, keepdims=True)

    def pool_backward(self, x, y, dy):
        winners = x == y
        ties = winners.sum(axis=self.axes, keepdims=True, dtype=np.float32)
        return np.where(winners, dy / ties, np.float32(0))


class GlobalAveragePooling1D(GlobalAveragePooling):
    """(batch, steps, channels) -> (batch, channels): the mean over the steps."""

    rank = 1


class GlobalAveragePooling2D(GlobalAveragePooling):
    """(batch, height, width, channels) -> (batch, channels): the mean of each
    feature map, e.g. [[1, 2], [3, 6]] -> 3."""

    rank = 2


class GlobalAveragePooling3D(GlobalAveragePooling):
    """(batch, depth, height, width, channels) -> (batch, channels): the mean
    of each channel over a volume (a video clip, a CT scan)."""

    rank = 3


class GlobalMaxPooling1D(GlobalMaxPooling):
    """(batch, steps, channels) -> (batch, channels): the maximum over the steps."""

    rank = 1


class GlobalMaxPooling2D(GlobalMaxPooling):
    """(batch, height, width, channels) -> (batch, channels): the maximum of
    each feature map, e.g. [[1, 2], [3, 6]] -> 6."""

    rank = 2


class GlobalMaxPooling3D(GlobalMaxPooling):
    """(batch, depth, height, width, channels) -> (batch, channels): the
    maximum of each channel over a volume."""

    rank = 3
