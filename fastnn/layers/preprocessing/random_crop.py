"""RandomCrop: cut a random window of a fixed size out of each image (course, chapter 17)."""
import numbers

import numpy as np

from ...kernels import affine_warp, affine_warp_backward
from ..backward_cache import BackwardCache
from .base import RandomLayer


class RandomCrop(RandomLayer):
    """In training, cut a random ``height`` x ``width`` window out of each
    image; at inference, take the largest centred window with that aspect
    ratio and resize it to ``height`` x ``width`` (the image itself when it
    already has that size), as Keras does.  Images smaller than the window
    are resized in training too.

    Args:
        height, width: the output size.
        seed: seeds this layer's own generator.
    """

    _transforms = BackwardCache("the output-to-input matrices of the windows cut, one per "
                                "image, or None when the image was passed through")
    _input_size = BackwardCache("the input's (height, width)")

    def __init__(self, height, width, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        for name, value in (("height", height), ("width", width)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"RandomCrop: {name} must be a positive int, got {value!r}")
        self.height, self.width = int(height), int(width)

    def compute_output_shape(self, input_shape):
        batch, _, _, channels = super().compute_output_shape(input_shape)
        return (batch, self.height, self.width, channels)

    def augment(self, x, rng):
        batch, height, width = x.shape[:3]
        if height < self.height or width < self.width:
            return self.inference(x)
        top = rng.integers(0, height - self.height + 1, batch)
        left = rng.integers(0, width - self.width + 1, batch)
        return self._warp(x, np.ones(batch), np.ones(batch), left, top)

    def inference(self, x):
        batch, height, width = x.shape[:3]
        if (height, width) == (self.height, self.width):
            self._transforms = None
            return x
        # the largest centred window with the output's aspect ratio
        scale = min(height / self.height, width / self.width)
        rows, cols = scale * self.height, scale * self.width
        return self._warp(x, np.full(batch, scale), np.full(batch, scale),
                          np.full(batch, (width - cols) / 2), np.full(batch, (height - rows) / 2))

    def _warp(self, x, scale_x, scale_y, left, top):
        """Output pixel (i, j) reads the window's point at the same relative
        place: pixel centres (i + 1/2)·scale from the window's top-left."""
        t = np.zeros((len(x), 6))
        t[:, 0], t[:, 2] = scale_x, left + 0.5 * scale_x - 0.5
        t[:, 4], t[:, 5] = scale_y, top + 0.5 * scale_y - 0.5
        self._transforms, self._input_size = t, x.shape[1:3]
        return affine_warp(x, t, (self.height, self.width), fill_mode="nearest")

    def augment_backward(self, dz):
        if self._transforms is None:
            return dz
        return affine_warp_backward(dz, self._transforms, self._input_size, fill_mode="nearest")

    inference_backward = augment_backward

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width}
