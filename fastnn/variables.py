"""A trainable (or frozen) array with its gradient: what layers own and optimizers update."""
import numpy as np


class Variable:
    """One weight array of a layer, e.g. a Dense kernel or a BatchNormalization mean.

    Attributes:
        name: "kernel", "bias", "gamma", ... (unique within its layer).
        value: the float32 array; updated in place, so views stay valid.
        grad: dLoss/dvalue from the last backward pass (same shape), or None.
        trainable: False for statistics such as moving_mean (never sent to
            an optimizer); a frozen layer reports all its variables as
            non-trainable without changing this flag.
        regularizer: callable penalty (e.g. ``regularizers.l2(0.01)``) or None.
    """

    def __init__(self, name, value, trainable=True, regularizer=None):
        self.name = name
        self.value = np.ascontiguousarray(value, dtype=np.float32)
        self.grad = None
        self.trainable = trainable
        self.regularizer = regularizer

    @property
    def shape(self):
        return self.value.shape

    def numpy(self):
        """A copy of the array (tf.Variable's method: ``layer.weights[0].numpy()``)."""
        return self.value.copy()

    def assign(self, new_value):
        """Copy ``new_value`` into the existing array (shape must match)."""
        new_value = np.asarray(new_value, dtype=np.float32)
        if new_value.shape != self.value.shape:
            raise ValueError(f"variable {self.name!r}: expected shape {self.value.shape}, "
                             f"got {new_value.shape}")
        self.value[...] = new_value

    def __repr__(self):
        return f"<Variable {self.name} shape={self.value.shape} trainable={self.trainable}>"
