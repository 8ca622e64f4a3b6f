"""RandomRotation: turn each image by a random angle (course, chapter 17)."""
import numpy as np

from .base import factor_range
from .random_affine import RandomAffine, about_centre, uniform


class RandomRotation(RandomAffine):
    """In training, rotate each image about its centre by a random angle
    drawn from factor·360°; at inference, pass the images through.

    Args:
        factor: a fraction of a full turn: 0.1 draws angles in
            [-36°, +36°]; a pair (lower, upper) gives the range itself.
            Positive angles turn counter-clockwise.
        fill_mode, interpolation, seed, fill_value: see ``RandomAffine``
            (the corners the turn uncovers are filled by ``fill_mode``).
    """

    def __init__(self, factor, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, **kwargs)
        self.factor = factor_range("RandomRotation", "factor", factor)

    def matrices(self, rng, batch, height, width):
        angle = 2 * np.pi * uniform(rng, self.factor, batch)
        cos, sin = np.cos(angle), np.sin(angle)
        # Output pixel p shows input pixel R(-angle)·p, written for image
        # coordinates (y points down, so counter-clockwise flips a sign).
        linear = np.stack([np.stack([cos, -sin], 1), np.stack([sin, cos], 1)], 1)
        return about_centre(linear, height, width)

    def get_config(self):
        return {**super().get_config(), "factor": list(self.factor)}
