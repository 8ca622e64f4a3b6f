"""RandomTranslation: shift each image by a random offset (course, chapter 17)."""
import numpy as np

from .base import factor_range
from .random_affine import RandomAffine, uniform


class RandomTranslation(RandomAffine):
    """In training, shift each image up/down and left/right by random
    fractions of its size; at inference, pass the images through.

    Args:
        height_factor: a number f (shift by up to f·height either way) or a
            pair (lower, upper); positive shifts move the image down.
        width_factor: the same for width; positive shifts move it right.
        fill_mode, interpolation, seed, fill_value: see ``RandomAffine``.
    """

    def __init__(self, height_factor, width_factor, fill_mode="reflect",
                 interpolation="bilinear", seed=None, fill_value=0.0, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, **kwargs)
        self.height_factor = factor_range("RandomTranslation", "height_factor", height_factor)
        self.width_factor = factor_range("RandomTranslation", "width_factor", width_factor)

    def matrices(self, rng, batch, height, width):
        shift_y = height * uniform(rng, self.height_factor, batch)
        shift_x = width * uniform(rng, self.width_factor, batch)
        identity = np.tile([1.0, 0.0, 0.0, 0.0, 1.0, 0.0], (batch, 1))
        identity[:, 2], identity[:, 5] = -shift_x, -shift_y   # output (i, j) reads (i - dy, j - dx)
        return identity

    def get_config(self):
        return {**super().get_config(), "height_factor": list(self.height_factor),
                "width_factor": list(self.width_factor)}
