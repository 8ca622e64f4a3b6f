"""Conv2DTranspose: a learned upsampling, the decoder's convolution (course,
chapter 15: convolutional autoencoders grow the code back into an image).

A Conv2D maps a large image to a smaller one; its transpose goes the other
way with the same connection pattern.  Picture it as a scatter: every input
pixel (i, j) stamps ``x[i, j, :] · kernel`` onto the output, with its top-left
corner at (i·stride - pad_top, j·stride - pad_left); overlapping stamps add
up.  With stride 2 the stamps sit two pixels apart, so the image doubles.

That scatter is exactly what backpropagation through a Conv2D does with
dL/dy (chapter 22): if C is the linear map x' -> conv2d(x', K) from the
*output* size of this layer to its input size, then

    Conv2DTranspose(x) = Cᵀ · x  = the dL/dx' of conv2d(x', K) for dL/dy = x

which is how it is computed here (and in TensorFlow): with the fast
``conv2d_backward`` kernel.  Its own gradients are Conv2D pieces again:

    dL/dx      = C · dy = conv2d(dy, K)               (no bias)
    dL/dK      = the dw of conv2d_backward(x' = dy, K, dL/dy = x)
    dL/dbias   = Σ dy over batch, height and width
"""
import numbers

import numpy as np

from ..kernels import conv2d, conv2d_backward
from ..kernels.geometry import check_input_axes, conv_output_length
from .backward_cache import BackwardCache
from .base import KernelBiasLayer
from .conv2d import set_window_options


def conv_transpose_output_length(size, kernel, stride, padding, output_padding=None):
    """Length of one output axis of a transposed convolution, as Keras computes it.

    Without ``output_padding``: "valid" gives size·stride + max(kernel - stride, 0)
    (= (size - 1)·stride + kernel when kernel >= stride), "same" gives
    size·stride.  With it: (size - 1)·stride + kernel - 2·pad + output_padding,
    where pad = kernel // 2 for "same" and 0 for "valid".

    >>> [conv_transpose_output_length(7, 3, 2, padding) for padding in ("same", "valid")]
    [14, 15]
    >>> conv_transpose_output_length(7, 3, 2, "same", output_padding=0)
    13
    """
    if size is None:
        return None
    if output_padding is None:
        return size * stride + (max(kernel - stride, 0) if padding == "valid" else 0)
    pad = kernel // 2 if padding == "same" else 0
    return (size - 1) * stride + kernel - 2 * pad + output_padding


def _output_padding_pair(value, strides):
    """None, or a pair of ints with 0 <= output_padding < stride (as Keras requires)."""
    if value is None:
        return None
    pair = (value, value) if isinstance(value, numbers.Integral) else value
    try:
        pair = tuple(pair)
    except TypeError:
        pair = ()
    if (len(pair) != 2 or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool)
                                  for v in pair) or min(pair) < 0):
        raise ValueError(f"Conv2DTranspose: output_padding must be None, an int >= 0 or a "
                         f"pair of them, got {value!r}")
    if any(p >= s for p, s in zip(pair, strides)):
        raise ValueError(f"Conv2DTranspose: output_padding must be smaller than strides, "
                         f"got output_padding={value!r} with strides={strides}")
    return int(pair[0]), int(pair[1])


class Conv2DTranspose(KernelBiasLayer):
    """output = activation(conv2d_transpose(x, kernel) + bias), channels last.

    The kernel has shape (kh, kw, filters, in_channels) as in Keras (output
    channels *before* input channels: it is the kernel of the Conv2D from
    ``filters`` back to ``in_channels`` that this layer transposes), so
    weights move between fastnn and Keras unchanged.  A 3x3 transpose from
    32 to 16 channels has 3·3·16·32 + 16 = 4,624 parameters.

    Args:
        filters: number of output channels.
        kernel_size: int or (kh, kw).
        strides: int or (sh, sw): how far apart the stamps of neighbouring
            input pixels land; stride 2 doubles height and width.
        padding: "valid" (output (in - 1)·s + k, or in·s if k < s) or
            "same" (output in·s: the output is cropped as TensorFlow crops
            the gradient of a "same" Conv2D).
        output_padding: None (the sizes above) or int/(ph, pw) below the
            strides: output (in - 1)·s + k - 2·pad + output_padding, with
            pad = k // 2 for "same", 0 for "valid".
        data_format: None or "channels_last".
        dilation_rate: only (1, 1).
        activation, use_bias, kernel_initializer, bias_initializer,
        kernel_regularizer, bias_regularizer: as in Conv2D.

    Input shape: (batch, height, width, channels).
    Output shape: (batch, new_height, new_width, filters).
    """

    _x = BackwardCache("the input: dW is the dw of conv2d_backward with dL/dy = x")

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid",
                 output_padding=None, data_format=None, dilation_rate=(1, 1), activation=None,
                 use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(activation, use_bias, kernel_initializer, bias_initializer,
                         kernel_regularizer, bias_regularizer, **kwargs)
        set_window_options(self, filters, kernel_size, strides, padding, data_format,
                           dilation_rate)
        if self.dilation_rate != (1, 1):
            raise NotImplementedError(f"Conv2DTranspose: dilation_rate {self.dilation_rate} is "
                                      f"not supported, only (1, 1)")
        self.output_padding = _output_padding_pair(output_padding, self.strides)

    def build(self, input_shape):
        check_input_axes(self, input_shape, 2, channels=True)
        self.build_kernel_and_bias(self.kernel_size + (self.filters, input_shape[-1]),
                                   self.filters)
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        check_input_axes(self, input_shape, 2)
        batch, height, width, _ = input_shape
        extra = self.output_padding or (None, None)
        out = [conv_transpose_output_length(size, k, s, self.padding, p)
               for size, k, s, p in zip((height, width), self.kernel_size, self.strides, extra)]
        for size, o, k, s in zip((height, width), out, self.kernel_size, self.strides):
            # the Conv2D this layer transposes must map the output back to the input size
            if size is not None and (o < 1 or conv_output_length(o, k, s, self.padding) != size):
                raise ValueError(
                    f"layer {self.name!r} (Conv2DTranspose): output_padding="
                    f"{self.output_padding} gives an output of length {o} for an input of "
                    f"length {size}, but a {self.padding!r} Conv2D (kernel {k}, stride {s}) "
                    f"of that output has length {conv_output_length(max(o, 0), k, s, self.padding)}"
                    f"; choose another output_padding")
        return (batch, out[0], out[1], self.filters)

    def call(self, x, training=False):
        if x.ndim != 4:
            raise ValueError(f"layer {self.name!r} (Conv2DTranspose) needs inputs of shape "
                             f"(batch, height, width, channels), got {x.shape}")
        self._x = x
        shape = self.compute_output_shape(x.shape)
        # Cᵀ·x: the input gradient of the Conv2D on an output-sized image, with dL/dy = x.
        # (The zeros stand in for that Conv2D's input: only its shape matters without dw.)
        y, _, _ = conv2d_backward(np.zeros(shape, np.float32), self.kernel.value, x,
                                  self.strides, self.padding, compute_dw=False)
        if self.bias is not None:
            y += self.bias.value
        return y

    def call_backward(self, dz):
        _, dw, _ = conv2d_backward(dz, self.kernel.value, self._x, self.strides, self.padding,
                                   compute_dx=False)
        self.kernel.grad = dw
        if self.bias is not None:
            self.bias.grad = dz.sum(axis=(0, 1, 2), dtype=np.float32)
        if not self.input_gradient_needed:
            return None
        return conv2d(dz, self.kernel.value, None, self.strides, self.padding)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters,
                "kernel_size": list(self.kernel_size), "strides": list(self.strides),
                "padding": self.padding,
                "output_padding": (None if self.output_padding is None
                                   else list(self.output_padding))}
