"""Conv3D: filters slid through volumes (video frames, scans), on the Conv2D kernels.

A 3-D convolution is a sum of 2-D ones, one per depth tap of the kernel:
output slice ``od`` is

    y[:, od] = bias + sum over t of conv2d(x_padded[:, od * sd + t], kernel[t])

where ``x_padded`` has Keras's zeros before and after the depth axis
("same"), and conv2d pads height and width itself.  So for each of the kd
depth taps, the input slices that tap meets (every sd-th slice from t on)
are stacked into one batch of images, (batch · out_depth, h, w, channels),
and a single conv2d call does them all; the kd results add up.  The
backward pass is the same loop with ``conv2d_backward``: tap t's weight
gradient is kernel gradient [t], and its input gradient is added back onto
the slices it came from.

The cost is that of the 2-D convolutions plus one copy of the input per
depth tap (the slices of a tap are not contiguous in memory).  A ReLU cannot
ride in the kernel's epilogue: it applies to the sum of all taps, so Conv3D
runs its activation as a step of its own.
"""
import numpy as np

from ..kernels import conv2d, conv2d_backward
from ..kernels.geometry import check_input_axes, conv_output_length, same_padding
from .backward_cache import BackwardCache
from .base import KernelBiasLayer
from .conv2d import set_window_options, window_extent


class Conv3D(KernelBiasLayer):
    """output = activation(conv3d(x, kernel) + bias), channels last.

    Each filter is a (kd, kh, kw) box with one weight per input channel; the
    kernel has shape (kd, kh, kw, in_channels, filters) as in Keras, so a
    Conv3D(8, 3) on 2 channels has 3·3·3·2·8 + 8 = 440 parameters.

    Args:
        filters: number of output channels.
        kernel_size: int or (kd, kh, kw).
        strides: int or (sd, sh, sw).
        padding: "valid" or "same" (Keras's split on every axis: the odd
            zero goes after).
        dilation_rate: int or (dd, dh, dw): gaps between the taps (strides
            must then be 1); depth tap t reads slice od + t·dd, and conv2d
            takes the (dh, dw) dilation of each slice.
        activation, use_bias, kernel_initializer, bias_initializer,
        kernel_regularizer, bias_regularizer: as in Dense.

    Input shape: (batch, depth, height, width, channels).
    Output shape: (batch, new_depth, new_height, new_width, filters).
    """

    _x = BackwardCache("the input with its depth padding: dW correlates it with dy")
    _inputs = BackwardCache("where the input's slices sit in _x: dx is that part of dx_padded")

    def __init__(self, filters, kernel_size, strides=(1, 1, 1), padding="valid",
                 data_format=None, dilation_rate=(1, 1, 1), activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(activation, use_bias, kernel_initializer, bias_initializer,
                         kernel_regularizer, bias_regularizer, **kwargs)
        set_window_options(self, filters, kernel_size, strides, padding, data_format,
                           dilation_rate, rank=3)

    def build(self, input_shape):
        check_input_axes(self, input_shape, 3, channels=True)
        self.build_kernel_and_bias(self.kernel_size + (input_shape[-1], self.filters),
                                   self.filters)
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        out = [None if size is None else conv_output_length(size, k, s, self.padding)
               for size, k, s in zip(input_shape[1:4], window_extent(self), self.strides)]
        if any(o is not None and o < 1 for o in out):
            raise ValueError(f"layer {self.name!r} (Conv3D): kernel {self.kernel_size} does "
                             f"not fit inputs of shape {tuple(input_shape)} with "
                             f"padding='valid'")
        return (input_shape[0], *out, self.filters)

    def _depth_geometry(self, depth):
        """(zeros before the depth axis, zeros after it, output depth)."""
        k, s = window_extent(self)[0], self.strides[0]
        before, after = same_padding(depth, k, s) if self.padding == "same" else (0, 0)
        return before, after, conv_output_length(depth, k, s, self.padding)

    def _met_by(self, tap, out_depth):
        """The depth slices (of the padded input) that depth tap ``tap`` meets."""
        first = tap * self.dilation_rate[0]
        return slice(first, first + self.strides[0] * (out_depth - 1) + 1, self.strides[0])

    def _slab(self, padded, tap, out_depth):
        """Those slices as one batch of images, (batch · out_depth, h, w, c) (copied)."""
        n, _, h, w, c = padded.shape
        slices = padded[:, self._met_by(tap, out_depth)]
        return np.ascontiguousarray(slices).reshape(n * out_depth, h, w, c)

    def call(self, x, training=False):
        self.check_input_size(x)
        before, after, out_depth = self._depth_geometry(x.shape[1])
        padded = np.pad(x, ((0, 0), (before, after), (0, 0), (0, 0), (0, 0))) \
            if before or after else x
        self._x, self._inputs = padded, slice(before, before + x.shape[1])
        y = None
        for tap in range(self.kernel_size[0]):
            bias = self.bias.value if self.bias is not None and tap == 0 else None
            part = conv2d(self._slab(padded, tap, out_depth), self.kernel.value[tap], bias,
                          self.strides[1:], self.padding, dilation_rate=self.dilation_rate[1:])
            y = part if y is None else np.add(y, part, out=y)
        return y.reshape(x.shape[0], out_depth, *y.shape[1:])

    def call_backward(self, dz):
        padded = self._x
        n, out_depth = dz.shape[:2]
        dz4 = dz.reshape(n * out_depth, *dz.shape[2:])
        dw = np.empty_like(self.kernel.value)
        d_padded = np.zeros_like(padded) if self.input_gradient_needed else None
        for tap in range(self.kernel_size[0]):
            dx, dw[tap], db = conv2d_backward(self._slab(padded, tap, out_depth),
                                              self.kernel.value[tap], dz4, self.strides[1:],
                                              self.padding,
                                              compute_dx=self.input_gradient_needed,
                                              dilation_rate=self.dilation_rate[1:])
            if d_padded is not None:
                d_padded[:, self._met_by(tap, out_depth)] += dx.reshape(
                    n, out_depth, *dx.shape[1:])
        self.kernel.grad = dw
        if self.bias is not None:
            self.bias.grad = db
        if d_padded is None:
            return None
        return d_padded[:, self._inputs]

    def get_config(self):
        return {**super().get_config(), "filters": self.filters,
                "kernel_size": list(self.kernel_size), "strides": list(self.strides),
                "padding": self.padding, "dilation_rate": list(self.dilation_rate)}
