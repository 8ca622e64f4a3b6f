"""Flatten and Reshape: the same numbers, a different shape (no weights)."""
import numpy as np

from ..kernels.geometry import check_channels_last
from .backward_cache import BackwardCache
from .base import Layer, standardize_shape


class Flatten(Layer):
    """(batch, d1, d2, ...) -> (batch, d1·d2·...), row-major (channels fastest).

    The bridge from convolutional feature maps to Dense layers (chapter 20).
    """

    _shape = BackwardCache("the input's shape: dx is dz in that shape")

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        check_channels_last("Flatten", data_format)

    def compute_output_shape(self, input_shape):
        dims = input_shape[1:]
        return (input_shape[0], None if None in dims else int(np.prod(dims)))

    def call(self, x, training=False):
        self._shape = x.shape
        return x.reshape(x.shape[0], -1)

    def call_backward(self, dz):
        return dz.reshape(self._shape)


class Reshape(Layer):
    """(batch, ...) -> (batch, *target_shape); one entry may be -1 (inferred)."""

    _shape = BackwardCache("the input's shape: dx is dz in that shape")

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        target = tuple(target_shape)
        if target.count(-1) > 1:
            raise ValueError(f"Reshape: at most one -1 in target_shape, got {target}")
        if None in target:
            raise ValueError(f"Reshape: target_shape must hold positive ints (one may be -1), "
                             f"got {target}")
        standardize_shape(tuple(d for d in target if d != -1), "target_shape")
        self.target_shape = target

    def compute_output_shape(self, input_shape):
        size = None if None in input_shape[1:] else int(np.prod(input_shape[1:]))
        known = int(np.prod([d for d in self.target_shape if d != -1]))
        if size is not None and (size % known or (-1 not in self.target_shape and size != known)):
            raise ValueError(f"layer {self.name!r}: cannot reshape inputs of shape "
                             f"{tuple(input_shape)} to {self.target_shape}")
        target = tuple(size // known if d == -1 and size is not None else
                       (None if d == -1 else d) for d in self.target_shape)
        return (input_shape[0],) + target

    def call(self, x, training=False):
        self._shape = x.shape
        # through compute_output_shape: a size that does not fit is an error naming the layer
        return x.reshape(self.compute_output_shape(x.shape))

    def call_backward(self, dz):
        return dz.reshape(self._shape)

    def get_config(self):
        return {**super().get_config(), "target_shape": list(self.target_shape)}
