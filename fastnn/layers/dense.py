"""Dense: every input connected to every unit (course, chapters 3-4, 26)."""
import numpy as np

from ..kernels import matmul
from .base import KernelBiasLayer


class Dense(KernelBiasLayer):
    """output = activation(x · kernel + bias).

    The kernel has shape (input features, units), as in Keras, so weights
    move between fastnn and Keras unchanged.  On inputs with more than two
    axes the product runs along the last axis:
    ``Dense(16, input_shape=(20, 20, 3))`` gives (None, 20, 20, 16) and has
    3·16 + 16 = 64 parameters.

    Args:
        units: number of outputs (neurons).
        activation: name or function; None means linear.
        use_bias: add a learnable bias per unit (chapter 25).
        kernel_initializer, bias_initializer: see ``fastnn.initializers``.
        kernel_regularizer, bias_regularizer: e.g. ``regularizers.l2(0.01)``.

    Input shape: (batch, ..., input features).  Output shape: (batch, ..., units).
    """

    def __init__(self, units, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(activation, use_bias, kernel_initializer, bias_initializer,
                         kernel_regularizer, bias_regularizer, **kwargs)
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units < 1:
            raise ValueError(f"Dense: units must be a positive int, got {units!r}")
        self.units = int(units)

    def build(self, input_shape):
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(f"layer {self.name!r} (Dense) needs inputs whose last axis "
                             f"is known, got shape {tuple(input_shape)}")
        self.build_kernel_and_bias((input_shape[-1], self.units), self.units)
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def call(self, x, training=False):
        self.check_input_size(x)
        self._x = x
        rows = x.reshape(-1, x.shape[-1])
        z = matmul(rows, self.kernel.value, bias=None if self.bias is None else self.bias.value)
        return z.reshape(x.shape[:-1] + (self.units,))

    def call_backward(self, dz):
        rows = self._x.reshape(-1, self._x.shape[-1])
        dz_rows = dz.reshape(-1, self.units)
        self.kernel.grad = matmul(rows, dz_rows, transpose_a=True)   # xᵀ · dz
        if self.bias is not None:
            self.bias.grad = dz_rows.sum(axis=0)
        if not self.input_gradient_needed:
            return None
        return matmul(dz_rows, self.kernel.value, transpose_b=True).reshape(self._x.shape)

    def get_config(self):
        return {**super().get_config(), "units": self.units}
