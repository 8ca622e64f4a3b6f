"""MaxPooling2D and AveragePooling2D (course, chapter 21)."""
from .. import kernels
from ..kernels.geometry import conv_output_length
from ..kernels.validation import padding_mode, positive_pair
from .backward_cache import BackwardCache
from .base import Layer


class Pooling2D(Layer):
    """Shared by both poolings: a pool_size window moved by strides, no weights.

    Args:
        pool_size: int or (ph, pw); default (2, 2).
        strides: int or (sh, sw); None means pool_size (windows side by side).
        padding: "valid" or "same"; padded cells never count.

    Input shape: (batch, height, width, channels).
    Output shape: (batch, pooled height, pooled width, channels).
    """

    mode = None  # "max" or "avg": picks the kernel
    _x = BackwardCache("the input: where each window's maximum is, and the size of dx")

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None,
                 **kwargs):
        super().__init__(**kwargs)
        kind = type(self).__name__
        if data_format not in (None, "channels_last"):
            raise ValueError(f"{kind}: fastnn stores images channels last (NHWC); "
                             f"data_format={data_format!r} is not supported")
        self.pool_size = positive_pair(kind, "pool_size", pool_size)
        self.strides = self.pool_size if strides is None else positive_pair(kind, "strides", strides)
        self.padding = padding_mode(kind, padding)
        self._forward = getattr(kernels, f"{self.mode}_pool2d")
        self._backward = getattr(kernels, f"{self.mode}_pool2d_backward")

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(f"layer {self.name!r} ({type(self).__name__}) needs inputs of "
                             f"shape (batch, height, width, channels), got {tuple(input_shape)}")
        batch, height, width, channels = input_shape
        out = [None if size is None else conv_output_length(size, k, s, self.padding)
               for size, k, s in zip((height, width), self.pool_size, self.strides)]
        if any(o is not None and o < 1 for o in out):
            raise ValueError(f"layer {self.name!r}: pool_size {self.pool_size} does not fit "
                             f"inputs of shape {tuple(input_shape)} with padding='valid'")
        return (batch, out[0], out[1], channels)

    def call(self, x, training=False):
        self._x = x
        return self._forward(x, self.pool_size, self.strides, self.padding)

    def call_backward(self, dz):
        return self._backward(self._x, dz, self.pool_size, self.strides, self.padding)

    def get_config(self):
        return {**super().get_config(), "pool_size": list(self.pool_size),
                "strides": list(self.strides), "padding": self.padding}


class MaxPooling2D(Pooling2D):
    """Keeps the largest value of each window: [[4,3,8,5],[9,1,3,6],[6,3,5,3],
    [2,5,2,5]] pools 2x2 to [[9,8],[6,5]].  The gradient flows only to each
    window's maximum.

    Below a Conv2D(activation="relu"), training skips that ReLU's own
    backward pass: the gradient reaches a window's maximum only if it is > 0,
    which is the ReLU's derivative there, so this layer applies it while it
    routes the gradient (``backward_through_relu``; the plan's rule "max_pool
    backward through relu")."""

    mode = "max"

    def backward_through_relu(self, dy):
        """dLoss/dz of the layer below, whose kernel applied a ReLU (this
        layer's input is relu(z)): the pool's backward and the ReLU's in one."""
        return kernels.max_pool2d_backward(self._x, dy, self.pool_size, self.strides,
                                           self.padding, through_relu=True)


class AveragePooling2D(Pooling2D):
    """Keeps the mean of each window (of its in-bounds cells with "same").
    The gradient is shared equally by the window's cells."""

    mode = "avg"
