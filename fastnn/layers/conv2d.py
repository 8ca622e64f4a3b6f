"""Conv2D: filters slid over an image (course, chapters 19-20, 27)."""
import numbers

from ..kernels import (conv2d, conv2d_backward, conv2d_pooled_weight_gradient,
                       conv2d_relu_max_pool2d, conv2d_weight_gradient_through)
from ..kernels.convolution import (DIRECT_LIMITS, POOLED_MAX_TAPS, direct_conv_takes,
                                   pooled_weight_gradient_takes)
from ..kernels.dilation import dilated_extent
from ..kernels.geometry import check_channels_last, check_input_axes, conv_output_length
from ..kernels.validation import padding_mode, positive_ints
from .backward_cache import BackwardCache
from .base import KernelBiasLayer


def set_window_options(layer, filters, kernel_size, strides, padding, data_format,
                       dilation_rate, rank=2):
    """Check the options Conv1D, Conv2D, Conv3D and Conv2DTranspose share and set
    ``filters``, ``kernel_size``, ``strides``, ``padding`` and ``dilation_rate``
    on ``layer`` (``rank`` ints each for the window's size, strides and
    dilation).  As in Keras, a dilated kernel takes strides 1 only."""
    kind = type(layer).__name__
    if (isinstance(filters, bool) or not isinstance(filters, numbers.Integral)
            or filters < 1):
        raise ValueError(f"{kind}: filters must be a positive int, got {filters!r}")
    check_channels_last(kind, data_format)
    layer.filters = int(filters)
    layer.kernel_size = positive_ints(kind, "kernel_size", kernel_size, rank)
    layer.strides = positive_ints(kind, "strides", strides, rank)
    layer.padding = padding_mode(kind, padding)
    layer.dilation_rate = positive_ints(kind, "dilation_rate", dilation_rate, rank)
    if max(layer.dilation_rate) > 1 and max(layer.strides) > 1:
        raise ValueError(f"{kind}: strides {layer.strides} with dilation_rate "
                         f"{layer.dilation_rate}: a dilated kernel moves by 1 (strides 1), "
                         f"as in Keras")


def window_extent(layer):
    """The span of ``layer``'s kernel on each axis, its dilation included."""
    return tuple(dilated_extent(k, d) for k, d in zip(layer.kernel_size, layer.dilation_rate))


class Conv2D(KernelBiasLayer):
    """output = activation(conv2d(x, kernel) + bias), channels last.

    Each of the ``filters`` filters is a kernel_size window with one weight
    per input channel; its output at every position is the dot product of
    the filter with the window under it (a cross-correlation: the filter is
    not flipped).  The kernel has shape (kh, kw, in_channels, filters) as in
    Keras, so a 3x3 conv from 1 to 32 channels has 3·3·1·32 + 32 = 320
    parameters.

    Args:
        filters: number of output channels.
        kernel_size: int or (kh, kw).
        strides: int or (sh, sw).
        padding: "valid" (no padding, the image shrinks by k - 1) or "same"
            (zero padding that keeps the size; chapter 20).
        dilation_rate: int or (dh, dw): gaps between the taps; a 3x3 kernel
            with rate 2 spans 5x5 inputs with 9 weights (strides must be 1).
        activation, use_bias, kernel_initializer, bias_initializer,
        kernel_regularizer, bias_regularizer: as in Dense.

    Input shape: (batch, height, width, channels).
    Output shape: (batch, new_height, new_width, filters).
    """

    has_epilogue = True
    _x = BackwardCache("the input: dW correlates it with dy")
    _winners = BackwardCache("each max pool window's winner, when this layer and the pool "
                             "above ran in one pass (forward_through_max_pool); None after "
                             "an inference-mode pass")

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid",
                 data_format=None, dilation_rate=(1, 1), activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(activation, use_bias, kernel_initializer, bias_initializer,
                         kernel_regularizer, bias_regularizer, **kwargs)
        set_window_options(self, filters, kernel_size, strides, padding, data_format,
                           dilation_rate)

    def build(self, input_shape):
        check_input_axes(self, input_shape, 2, channels=True)
        self.build_kernel_and_bias(self.kernel_size + (input_shape[-1], self.filters),
                                   self.filters)
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        batch, height, width, _ = input_shape
        out = [None if size is None else conv_output_length(size, k, s, self.padding)
               for size, k, s in zip((height, width), window_extent(self), self.strides)]
        if any(o is not None and o < 1 for o in out):
            span = f" (spanning {window_extent(self)})" if max(self.dilation_rate) > 1 else ""
            raise ValueError(f"layer {self.name!r} (Conv2D): kernel {self.kernel_size}{span} "
                             f"does not fit inputs of shape {tuple(input_shape)} with "
                             f"padding='valid'")
        return (batch, out[0], out[1], self.filters)

    def call(self, x, training=False, epilogue=None):
        """conv2d(x, kernel) + bias; ``epilogue`` (name, alpha) has the kernel apply that
        activation too, as it writes each output."""
        activation, alpha = epilogue or (None, None)
        self.check_input_size(x)
        self._x = x
        return conv2d(x, self.kernel.value, None if self.bias is None else self.bias.value,
                      self.strides, self.padding, activation=activation, alpha=alpha,
                      dilation_rate=self.dilation_rate)

    def call_backward(self, dz):
        dx, dw, db = conv2d_backward(self._x, self.kernel.value, dz, self.strides, self.padding,
                                     compute_dx=self.input_gradient_needed,
                                     dilation_rate=self.dilation_rate)
        self.kernel.grad = dw
        if self.bias is not None:
            self.bias.grad = db
        return dx

    def weight_gradient_through_refusal(self):
        """Why ``gradients_through_activation`` cannot serve this layer (the
        limits of ``kernels.conv2d_weight_gradient_through``), or None when it
        can: its activation's derivative must be a function of y (a plain
        ReLU, or one the kernel's epilogue applies), on an undilated kernel."""
        if self.epilogue is None:
            return (f"no C kernel computes the derivative of {self.activation.name} from y: "
                    f"its backward pass is a step of its own")
        if max(self.dilation_rate) > 1:
            return f"{self.name} is dilated (dilation_rate {self.dilation_rate})"
        overridden = [name for name in ("backward", "call_backward")
                      if getattr(type(self), name) is not getattr(Conv2D, name)]
        if overridden:
            return (f"{type(self).__name__} overrides {' and '.join(overridden)}: the plain "
                    f"backward pass runs, so the override does")
        return None

    def gradients_through_activation(self, dy):
        """The first layer of a network, Conv2D(activation) with nothing to fold
        the activation's backward pass into above: dW and db from dy = dLoss/dy
        with the derivative f'(y) applied a block at a time inside the weight
        gradient (``kernels.conv2d_weight_gradient_through``), instead of a
        pass writing a y-sized dLoss/dz first; the same numbers bit for bit.
        No input gradient: the plan uses this only where nothing needs it
        (rule "first-layer weight gradient through the activation"), and only
        where ``weight_gradient_through_refusal`` has no objection."""
        name, alpha = self.epilogue
        self.kernel.grad, db = conv2d_weight_gradient_through(
            self._x, self.kernel.value, self._y, dy, name, self.strides, self.padding,
            alpha=alpha)
        if self.bias is not None:
            self.bias.grad = db

    def pooled_weight_gradient_refusal(self, pool):
        """Why ``gradients_through_max_pool`` cannot serve this layer under
        ``pool`` (the limits of ``kernels.conv2d_pooled_weight_gradient``),
        or None when it can."""
        kh, kw, in_c, _ = self.kernel.shape
        if max(self.dilation_rate) > 1:
            return f"{self.name} is dilated (dilation_rate {self.dilation_rate})"
        if not direct_conv_takes(self.kernel.shape):
            return (f"{self.name} has {kh}x{kw}x{in_c} = {kh * kw * in_c} values per patch, "
                    f"the kernel takes {DIRECT_LIMITS}")
        if pool.strides != pool.pool_size:
            return (f"{pool.name} has strides {pool.strides} and pool_size {pool.pool_size}: "
                    f"the kernel takes windows side by side only")
        if pool.padding != "valid":
            return f"{pool.name} pads ('{pool.padding}'): the kernel takes 'valid' pooling only"
        if not pooled_weight_gradient_takes(self.kernel.shape, pool.pool_size):
            taps = pool.pool_size[0] * pool.pool_size[1]
            return (f"{pool.name}'s windows have {taps} taps, the kernel takes at most "
                    f"{POOLED_MAX_TAPS}")
        return None

    def forward_through_max_pool(self, pool, x, training=False):
        """max_pool(relu(conv2d(x, kernel) + bias)) by ``pool`` in one pass
        (``kernels.conv2d_relu_max_pool2d``): the convolution's output y is
        pooled while still in cache and never written whole.  What the
        backward pass needs of y -- which tap of each window won, if any --
        is kept instead (a byte per pooled value), when ``training``.  The
        plan's rule "first layer's conv + relu + max pool in one pass" runs
        this where ``gradients_through_max_pool`` then takes the backward
        pass, so where ``pooled_weight_gradient_refusal`` has no objection."""
        self.check_input_size(x)
        self._x = x
        p, self._winners = self._relu_max_pool(x, pool, training)
        return p

    def _relu_max_pool(self, x, pool, winners):
        return conv2d_relu_max_pool2d(x, self.kernel.value,
                                      None if self.bias is None else self.bias.value,
                                      self.strides, self.padding, pool.pool_size,
                                      winners=winners)

    def gradients_through_max_pool(self, pool, dp):
        """The first layer of a CNN, Conv2D(relu) -> MaxPooling2D with windows
        side by side: dW and db straight from dp, the pool's output gradient
        (``kernels.conv2d_pooled_weight_gradient``), and the winners
        ``forward_through_max_pool`` kept, without the y-sized gradient
        arrays of the pool's and the ReLU's backward passes.  After an
        inference-mode forward pass (the gradient check backpropagates one)
        the winners are found again from the cached input.  No input
        gradient: the plan uses this only where nothing needs it, and only
        where ``pooled_weight_gradient_refusal`` has no objection."""
        winners = self._winners
        if winners is None:
            _, winners = self._relu_max_pool(self._x, pool, True)
        self.kernel.grad, db = conv2d_pooled_weight_gradient(
            self._x, self.kernel.value, None, dp, self.strides, self.padding,
            pool.pool_size, winners=winners)
        if self.bias is not None:
            self.bias.grad = db

    def get_config(self):
        return {**super().get_config(), "filters": self.filters,
                "kernel_size": list(self.kernel_size), "strides": list(self.strides),
                "padding": self.padding, "dilation_rate": list(self.dilation_rate)}
