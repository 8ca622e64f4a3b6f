"""RandomBrightness: make each image brighter or darker (course, chapter 17: colour)."""
import numpy as np

from ..backward_cache import BackwardCache
from .base import RandomLayer, factor_range, value_range_pair


class RandomBrightness(RandomLayer):
    """In training, add one random amount to every pixel of an image, then
    clip to ``value_range``; at inference, pass the images through.

    Args:
        factor: a number f or a pair (lower, upper) within [-1, 1]: the
            amount added is drawn from it, as a fraction of the value
            range (-1 makes the image black, +1 white).
        value_range: (low, high) of the pixel values: (0, 255), or (0, 1)
            for scaled images.
        seed: seeds this layer's own generator.
    """

    _inside = BackwardCache("where the output was not clipped (elsewhere dx is 0)")

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.factor = factor_range("RandomBrightness", "factor", factor, -1.0)
        if self.factor[1] > 1.0:
            raise ValueError(f"RandomBrightness: factor must lie within [-1, 1], got {factor!r}")
        self.value_range = value_range_pair("RandomBrightness", value_range)

    def augment(self, x, rng):
        low, high = self.value_range
        delta = rng.uniform(*self.factor, len(x)).astype(np.float32) * np.float32(high - low)
        shifted = x + delta[:, None, None, None]
        self._inside = (shifted >= low) & (shifted <= high)
        return np.clip(shifted, low, high).astype(np.float32)

    def augment_backward(self, dz):
        return dz * self._inside   # clipped pixels no longer depend on the input

    def get_config(self):
        return {**super().get_config(), "factor": list(self.factor),
                "value_range": list(self.value_range)}
