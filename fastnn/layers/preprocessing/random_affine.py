"""Augmentations that move pixels: the shared warp behind rotation, zoom and shift.

Each of RandomRotation, RandomZoom and RandomTranslation draws, per image,
a 2x3 matrix saying where each output pixel comes from in the input, and
hands the batch to the C kernel ``fastnn.kernels.affine_warp`` (bilinear
interpolation; the gradient goes back through ``affine_warp_backward``).
"""
import numpy as np

from ...kernels import affine_warp, affine_warp_backward
from ...kernels.warp import check_warp_options
from ..backward_cache import BackwardCache
from .base import RandomLayer


class RandomAffine(RandomLayer):
    """Base: subclasses return one output-to-input matrix per image from
    ``matrices(rng, batch, height, width)``.

    Args:
        fill_mode: how to read outside the image — "reflect" (Keras's
            default: mirror), "wrap", "nearest" (repeat the edge) or
            "constant" (``fill_value``).
        interpolation: "bilinear" or "nearest".
        seed: seeds this layer's own generator.
        fill_value: the value "constant" fills with.
    """

    _transforms = BackwardCache("the output-to-input matrices drawn, one per image")
    _input_size = BackwardCache("the input's (height, width)")

    def __init__(self, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.fill_value = check_warp_options(type(self).__name__, interpolation, fill_mode,
                                             fill_value)
        self.fill_mode = fill_mode
        self.interpolation = interpolation

    def matrices(self, rng, batch, height, width):
        raise NotImplementedError

    def augment(self, x, rng):
        self._transforms = self.matrices(rng, len(x), x.shape[1], x.shape[2])
        self._input_size = x.shape[1:3]
        return affine_warp(x, self._transforms, None, self.interpolation, self.fill_mode,
                           self.fill_value)

    def augment_backward(self, dz):
        return affine_warp_backward(dz, self._transforms, self._input_size, self.interpolation,
                                    self.fill_mode, self.fill_value)

    def get_config(self):
        return {**super().get_config(), "fill_mode": self.fill_mode,
                "interpolation": self.interpolation, "fill_value": self.fill_value}


def about_centre(linear, height, width):
    """2x3 matrices applying the per-image 2x2 ``linear`` maps (batch, 2, 2),
    acting on (x, y), around the image centre: the centre stays in place."""
    centre = np.array([(width - 1) / 2, (height - 1) / 2])
    offset = centre - linear @ centre
    return np.concatenate([linear, offset[:, :, None]], axis=2).reshape(len(linear), 6)


def uniform(rng, bounds, size):
    """``size`` draws from U(lower, upper)."""
    return rng.uniform(bounds[0], bounds[1], size)
