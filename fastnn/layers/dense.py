"""Dense: every input connected to every unit (course, chapters 3-4, 26)."""
import numpy as np

from ..kernels import dense_backward, dense_forward
from .backward_cache import BackwardCache
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

    A training step makes one kernel call per pass: ``dense_forward`` (the
    product on the team it is worth) with the bias and the activation (relu, sigmoid, tanh, elu, ...: any whose derivative
    y determines) applied inside it, then ``dense_backward`` for the
    activation's derivative, dW, db and dx together (the plan's rules
    "activation in the kernel's epilogue" and "dense backward with the
    activation's derivative"; see ``fastnn.plan``).
    """

    has_epilogue = True
    _x = BackwardCache("the input: dW = xᵀ·dy, and dx takes its shape")

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
                             f"is known, got shape {tuple(input_shape)}: its kernel has one "
                             f"row per input value.  A Flatten of images whose size is left "
                             f"open (None) has a length known only from the data; give the "
                             f"images a fixed size (Input(shape=(28, 28, 1))), or bring them "
                             f"to one size before the Flatten (RandomCrop(height, width))")
        self.build_kernel_and_bias((input_shape[-1], self.units), self.units)
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def call(self, x, training=False, epilogue=None):
        """x · kernel + bias; ``epilogue`` (name, alpha) has dense_forward apply that
        activation too, as it stores each tile of the product."""
        activation, alpha = epilogue or (None, None)
        self.check_input_size(x)
        self._x = x
        rows = x if x.ndim == 2 else x.reshape(-1, x.shape[-1])
        z = dense_forward(rows, self.kernel.value, None if self.bias is None else self.bias.value,
                          activation, alpha)
        return z if x.ndim == 2 else z.reshape(x.shape[:-1] + (self.units,))

    def backward(self, dy):
        """With a plain ReLU, its mask (y > 0) is applied inside dense_backward
        as dy is read: no relu_backward pass, no dz array."""
        if self.epilogue_is_relu:
            return self.backward_through_activation(dy)
        return super().backward(dy)

    def backward_through_activation(self, dy):
        """``backward`` in one dense_backward call: the activation's derivative
        from y (ReLU's mask y > 0, or that of an activation applied in place:
        sigmoid's y(1 - y), tanh's 1 - y², ...), then dW, db and dx.  A model's
        plan calls it (rule "dense backward with the activation's derivative")."""
        name, alpha = self.epilogue or self.activation.kernel
        return self._gradients(dy, self._y, name, alpha)

    def call_backward(self, dz):
        return self._gradients(dz)

    def _gradients(self, dy, y=None, activation="relu", alpha=None):
        """Fill the kernel's and bias's grad; return dLoss/dx (None if not needed).
        y: the layer's output when dy is dLoss/dy of ``activation``, else None."""
        x = self._x
        if x.ndim != 2:  # the product runs along the last axis: rows of features
            dy = dy.reshape(-1, self.units)
            y = None if y is None else y.reshape(dy.shape)
        dx, self.kernel.grad, db = dense_backward(
            x.reshape(-1, x.shape[-1]), self.kernel.value, dy, y,
            compute_dx=self.input_gradient_needed, activation=activation, alpha=alpha)
        if self.bias is not None:
            self.bias.grad = db
        return None if dx is None else dx.reshape(x.shape)

    def get_config(self):
        return {**super().get_config(), "units": self.units}
