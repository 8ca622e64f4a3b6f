"""Conv1D: filters slid along a sequence (time series, signals, text embeddings).

A 1-D convolution is a 2-D convolution of height 1: the sequence
(batch, steps, channels) is viewed as an image (batch, 1, steps, channels)
and the kernel (k, in, out) as (1, k, in, out) -- reshapes that copy
nothing -- so Conv1D runs the Conv2D kernels, forward and backward.
"""
import numpy as np

from ..kernels import conv2d, conv2d_backward
from ..kernels.geometry import check_input_axes, conv_output_length
from .backward_cache import BackwardCache
from .base import KernelBiasLayer
from .conv2d import set_window_options, window_extent

PADDINGS = ("valid", "same", "causal")


class Conv1D(KernelBiasLayer):
    """output = activation(conv1d(x, kernel) + bias), channels last.

    Output step t of each filter is the dot product of the filter with the
    kernel_size steps under it (all input channels).  The kernel has shape
    (kernel_size, in_channels, filters) as in Keras, so a Conv1D(8, 3) on 2
    channels has 3·2·8 + 8 = 56 parameters.

    Args:
        filters: number of output channels.
        kernel_size: int or (k,).
        strides: int or (s,).
        padding: "valid" (no padding: steps - k + 1 outputs), "same" (zeros
            on both sides, Keras's split: the odd one at the end) or "causal"
            (k - 1 zeros before the first step, (k - 1)·d when dilated: output
            t sees inputs up to t only, never the future -- for sequences
            predicted step by step).
        dilation_rate: int d: the taps d steps apart, so a kernel of k taps
            spans (k - 1)·d + 1 steps (WaveNet stacks causal convs with d =
            1, 2, 4, 8...); strides must then be 1.
        activation, use_bias, kernel_initializer, bias_initializer,
        kernel_regularizer, bias_regularizer: as in Dense.

    Input shape: (batch, steps, channels).
    Output shape: (batch, new_steps, filters).
    """

    has_epilogue = True
    _x = BackwardCache("the input as an image of height 1, causal zeros included: dW "
                       "correlates it with dy")

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(activation, use_bias, kernel_initializer, bias_initializer,
                         kernel_regularizer, bias_regularizer, **kwargs)
        mode = padding.lower() if isinstance(padding, str) else padding
        if mode not in PADDINGS:
            raise ValueError(f"Conv1D: padding must be one of "
                             f"{', '.join(map(repr, PADDINGS))}, got {padding!r}")
        # causal is "valid" on the input with (k - 1)·d zeros put in front
        set_window_options(self, filters, kernel_size, strides,
                           "valid" if mode == "causal" else mode, data_format,
                           dilation_rate, rank=1)
        self.padding = mode

    @property
    def _causal_zeros(self):
        """The zeros "causal" puts before the first step: the kernel's span minus one."""
        return window_extent(self)[0] - 1

    @property
    def _image_padding(self):
        """The padding the 2-D kernel applies (the causal zeros are added here)."""
        return "valid" if self.padding == "causal" else self.padding

    def build(self, input_shape):
        check_input_axes(self, input_shape, 1, channels=True)
        self.build_kernel_and_bias(self.kernel_size + (input_shape[-1], self.filters),
                                   self.filters)
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        batch, steps, _ = input_shape
        (k,), (s,) = window_extent(self), self.strides
        out = None
        if steps is not None:
            padded = steps + k - 1 if self.padding == "causal" else steps
            out = conv_output_length(padded, k, s, self._image_padding)
            if out < 1:
                raise ValueError(f"layer {self.name!r} (Conv1D): kernel_size {k} does not "
                                 f"fit inputs of shape {tuple(input_shape)} with "
                                 f"padding='valid'")
        return (batch, out, self.filters)

    def call(self, x, training=False, epilogue=None):
        """conv1d(x, kernel) + bias; ``epilogue`` (name, alpha) has the kernel apply that
        activation too, as it writes each output."""
        activation, alpha = epilogue or (None, None)
        self.check_input_size(x)
        if self.padding == "causal":
            x = np.pad(x, ((0, 0), (self._causal_zeros, 0), (0, 0)))
        n, steps, channels = x.shape
        self._x = x.reshape(n, 1, steps, channels)
        y = conv2d(self._x, self.kernel.value[np.newaxis],
                   None if self.bias is None else self.bias.value, (1,) + self.strides,
                   self._image_padding, activation=activation, alpha=alpha,
                   dilation_rate=(1,) + self.dilation_rate)
        return y.reshape(n, y.shape[2], self.filters)

    def call_backward(self, dz):
        n, out, filters = dz.shape
        dx, dw, db = conv2d_backward(self._x, self.kernel.value[np.newaxis],
                                     dz.reshape(n, 1, out, filters), (1,) + self.strides,
                                     self._image_padding,
                                     compute_dx=self.input_gradient_needed,
                                     dilation_rate=(1,) + self.dilation_rate)
        self.kernel.grad = dw.reshape(self.kernel.shape)
        if self.bias is not None:
            self.bias.grad = db
        if dx is None:
            return None
        dx = dx.reshape(n, -1, dx.shape[-1])
        # the causal zeros are not inputs: their gradient is dropped
        return dx[:, self._causal_zeros:] if self.padding == "causal" else dx

    def get_config(self):
        return {**super().get_config(), "filters": self.filters,
                "kernel_size": list(self.kernel_size), "strides": list(self.strides),
                "padding": self.padding, "dilation_rate": list(self.dilation_rate)}
