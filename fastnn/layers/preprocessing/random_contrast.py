"""RandomContrast: stretch or squeeze each image's contrast (course, chapter 17: colour)."""
import numpy as np

from ..backward_cache import BackwardCache
from .base import RandomLayer, factor_range, number_pair, value_range_pair


class RandomContrast(RandomLayer):
    """In training, move every pixel away from (or towards) its image's
    mean, channel by channel: y = (x - mean)·c + mean, clipped to
    ``value_range``, with one random c per image; at inference, pass the
    images through.

    Args:
        factor: a number f in [0, 1] (c is drawn from [1 - f, 1 + f]) or a
            pair (lower, upper) (c from [1 - lower, 1 + upper]).
        value_range: (low, high) of the pixel values: (0, 255), or (0, 1)
            for scaled images.
        seed: seeds this layer's own generator.
    """

    _contrast = BackwardCache("the contrast factor c drawn for each image")
    _inside = BackwardCache("where the output was not clipped (elsewhere dx is 0)")

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if isinstance(factor, (tuple, list)):
            lower, upper = number_pair("RandomContrast", "factor", factor)
        else:
            lower = upper = factor_range("RandomContrast", "factor", factor)[1]
            if factor < 0:
                raise ValueError(f"RandomContrast: factor must be a number in [0, 1], "
                                 f"got {factor!r}")
        if not (0 <= lower <= 1 and upper >= 0):
            raise ValueError(f"RandomContrast: factor must be a number in [0, 1] or a pair "
                             f"(lower, upper) with 0 <= lower <= 1 and upper >= 0, "
                             f"got {factor!r}")
        self.factor = (lower, upper)
        self.value_range = value_range_pair("RandomContrast", value_range)

    def augment(self, x, rng):
        self._contrast = rng.uniform(1 - self.factor[0], 1 + self.factor[1],
                                     len(x)).astype(np.float32)[:, None, None, None]
        mean = x.mean(axis=(1, 2), keepdims=True)
        stretched = (x - mean) * self._contrast + mean
        low, high = self.value_range
        self._inside = (stretched >= low) & (stretched <= high)
        return np.clip(stretched, low, high).astype(np.float32)

    def augment_backward(self, dz):
        # y = c·x + (1 - c)·mean(x): each input also moves its channel's mean
        dz = dz * self._inside
        return (self._contrast * dz
                + (1 - self._contrast) * dz.mean(axis=(1, 2), keepdims=True)).astype(np.float32)

    def get_config(self):
        return {**super().get_config(), "factor": list(self.factor),
                "value_range": list(self.value_range)}
