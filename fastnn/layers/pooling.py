"""Max and average pooling over 1, 2 or 3 axes (course, chapter 21).

The 2-D layers run the C pooling kernels; the 1-D and 3-D ones run the same
kernels on reshaped views (``kernels.pooling_nd`` says why that is exact).
"""
from .. import kernels
from ..kernels.geometry import check_channels_last, check_input_axes, conv_output_length
from ..kernels.validation import padding_mode, positive_ints
from .backward_cache import BackwardCache
from .base import Layer


class Pooling(Layer):
    """Shared by all poolings: a pool_size window moved by strides, no weights.

    Args:
        pool_size: int (the same on every pooled axis) or one int per axis;
            default 2 on every axis.
        strides: int or one int per axis; None means pool_size (windows
            side by side).
        padding: "valid" or "same"; padded cells never count.

    Input shape: (batch, *pooled axes, channels).
    Output shape: (batch, *pooled sizes, channels).
    """

    rank = None  # how many axes the window covers: 1, 2 or 3
    # the kernels: pool(x, pool_size, strides, padding) and
    # pool_backward(x, dy, pool_size, strides, padding), set by each subclass
    pool = pool_backward = None
    _x = BackwardCache("the input: where each window's maximum is, and the size of dx")

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None,
                 **kwargs):
        super().__init__(**kwargs)
        kind = type(self).__name__
        check_channels_last(kind, data_format)
        self.pool_size = positive_ints(kind, "pool_size", pool_size, self.rank)
        self.strides = (self.pool_size if strides is None else
                        positive_ints(kind, "strides", strides, self.rank))
        self.padding = padding_mode(kind, padding)

    def compute_output_shape(self, input_shape):
        check_input_axes(self, input_shape, self.rank)
        out = [None if size is None else conv_output_length(size, k, s, self.padding)
               for size, k, s in zip(input_shape[1:-1], self.pool_size, self.strides)]
        if any(o is not None and o < 1 for o in out):
            raise ValueError(f"layer {self.name!r}: pool_size {self.pool_size} does not fit "
                             f"inputs of shape {tuple(input_shape)} with padding='valid'")
        return (input_shape[0], *out, input_shape[-1])

    def call(self, x, training=False):
        self._x = x
        return self.pool(x, self.pool_size, self.strides, self.padding)

    def call_backward(self, dz):
        return self.pool_backward(self._x, dz, self.pool_size, self.strides, self.padding)

    def get_config(self):
        return {**super().get_config(), "pool_size": list(self.pool_size),
                "strides": list(self.strides), "padding": self.padding}


class Pooling2D(Pooling):
    """The 2-D poolings' shared backward pass through the activation below."""

    rank = 2

    def backward_through(self, dy, through, alpha=0.0, dropout=None):
        """dLoss/dz of the layer below, whose output (this layer's input) is
        its activation ``through`` ("relu", "tanh", ... a C kernel whose
        derivative reads its output) of z: the pool's backward and the
        activation's in one call (the plan's rule "pool backward through
        the activation").  ``through`` None: the pool's backward alone.

        ``dropout``: the Dropout layer above this one, whose backward pass
        the kernel then applies to dy as it reads it (dy being the gradient
        at the dropout's output; the plan's rule "dropout backward inside
        the pool backward")."""
        mask = None if dropout is None else dropout.backward_mask()
        return self.pool_backward(self._x, dy, self.pool_size, self.strides, self.padding,
                                  through=through, alpha=alpha, dropout=mask)

    def forward_through_dropout(self, dropout, x, training=False):
        """The output of ``dropout`` (a Dropout layer without noise_shape)
        applied to this layer's: the pool writes the dropped-out values in
        its own pass (the plan's rule "pool + dropout in one pass"); the
        dropout's mask is drawn as its own forward pass draws it and kept
        for its backward pass."""
        self._x = x
        return self.pool(x, self.pool_size, self.strides, self.padding,
                         dropout=dropout.kernel_mask(training))


class MaxPooling1D(Pooling):
    """Keeps the largest value of each window of steps: [1, 5, 2, 4, 3] pools
    with 2 to [5, 4].  The gradient flows only to each window's maximum."""

    rank = 1
    pool = staticmethod(kernels.max_pool1d)
    pool_backward = staticmethod(kernels.max_pool1d_backward)


class AveragePooling1D(Pooling):
    """Keeps the mean of each window of steps (of its in-bounds steps with
    "same"): [1, 5, 2, 4, 3] pools with 2 to [3, 3]."""

    rank = 1
    pool = staticmethod(kernels.avg_pool1d)
    pool_backward = staticmethod(kernels.avg_pool1d_backward)


class MaxPooling2D(Pooling2D):
    """Keeps the largest value of each window: [[4,3,8,5],[9,1,3,6],[6,3,5,3],
    [2,5,2,5]] pools 2x2 to [[9,8],[6,5]].  The gradient flows only to each
    window's maximum.

    Below a Conv2D(activation="relu"), training skips that ReLU's own
    backward pass: the gradient reaches a window's maximum only if it is > 0,
    which is the ReLU's derivative there, so this layer applies it while it
    routes the gradient (``backward_through_relu``; the plan's rule "max_pool
    backward through relu")."""

    pool = staticmethod(kernels.max_pool2d)
    pool_backward = staticmethod(kernels.max_pool2d_backward)

    def backward_through_relu(self, dy):
        """dLoss/dz of the layer below, whose kernel applied a ReLU (this
        layer's input is relu(z)): the pool's backward and the ReLU's in one."""
        return self.pool_backward(self._x, dy, self.pool_size, self.strides, self.padding,
                                  through_relu=True)


class AveragePooling2D(Pooling2D):
    """Keeps the mean of each window (of its in-bounds cells with "same").
    The gradient is shared equally by the window's cells.

    Below a Conv2D whose activation's derivative needs only its output
    (relu, tanh, sigmoid, elu, ...), training skips that activation's own
    backward pass: this layer applies f'(y) to each image's gradient as it
    spreads it (``backward_through``; the plan's rule "pool backward through
    the activation")."""
    pool = staticmethod(kernels.avg_pool2d)
    pool_backward = staticmethod(kernels.avg_pool2d_backward)


class MaxPooling3D(Pooling):
    """Keeps the largest value of each (depth, height, width) box, e.g. of
    video frames or volumes; the gradient flows only to each box's first
    maximum in (depth, row, column) order."""

    rank = 3
    pool = staticmethod(kernels.max_pool3d)
    pool_backward = staticmethod(kernels.max_pool3d_backward)


class AveragePooling3D(Pooling):
    """Keeps the mean of each box's in-bounds cells."""

    rank = 3
    pool = staticmethod(kernels.avg_pool3d)
    pool_backward = staticmethod(kernels.avg_pool3d_backward)
