"""RandomZoom: zoom each image in or out by a random amount (course, chapter 17)."""
import numpy as np

from .base import factor_range
from .random_affine import RandomAffine, about_centre, uniform


class RandomZoom(RandomAffine):
    """In training, zoom each image about its centre; at inference, pass the
    images through.

    A factor z > 0 zooms *out* (the image shrinks to 1/(1 + z) of its size,
    and ``fill_mode`` fills the border); z < 0 zooms *in* (the middle
    1 + z of the image fills the output).  This is Keras's convention.

    Args:
        height_factor: a number f (draw z in [-f, f]) or a pair (lower,
            upper) with lower >= -1, for the vertical zoom.
        width_factor: the same for the horizontal zoom; None (default)
            uses the vertical zoom for both, keeping the aspect ratio.
        fill_mode, interpolation, seed, fill_value: see ``RandomAffine``.
    """

    def __init__(self, height_factor, width_factor=None, fill_mode="reflect",
                 interpolation="bilinear", seed=None, fill_value=0.0, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, **kwargs)
        self.height_factor = factor_range("RandomZoom", "height_factor", height_factor, -1.0)
        self.width_factor = (None if width_factor is None else
                             factor_range("RandomZoom", "width_factor", width_factor, -1.0))

    def matrices(self, rng, batch, height, width):
        zoom_y = 1.0 + uniform(rng, self.height_factor, batch)
        zoom_x = zoom_y if self.width_factor is None else 1.0 + uniform(rng, self.width_factor,
                                                                        batch)
        linear = np.zeros((batch, 2, 2))
        linear[:, 0, 0], linear[:, 1, 1] = zoom_x, zoom_y   # output step = zoom input steps
        return about_centre(linear, height, width)

    def get_config(self):
        return {**super().get_config(), "height_factor": list(self.height_factor),
                "width_factor": None if self.width_factor is None else list(self.width_factor)}
