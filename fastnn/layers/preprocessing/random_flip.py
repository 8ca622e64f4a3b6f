"""RandomFlip: mirror images left-right and/or upside down (course, chapter 17)."""
import numpy as np

from ..backward_cache import BackwardCache
from .base import RandomLayer

MODES = ("horizontal", "vertical", "horizontal_and_vertical")


class RandomFlip(RandomLayer):
    """In training, flip each image with probability 1/2 (each direction on
    its own coin); at inference, pass the images through.

    A flipped cat is still a cat: for most photos "horizontal" is safe,
    while "vertical" suits images without an up (cells, satellite views).

    Args:
        mode: "horizontal" (left-right), "vertical" (upside down) or
            "horizontal_and_vertical" (the Keras default).
        seed: seeds this layer's own generator.
    """

    _flips = BackwardCache("(axis, which images were flipped) for each direction drawn")

    def __init__(self, mode="horizontal_and_vertical", seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if mode not in MODES:
            raise ValueError(f"RandomFlip: mode must be one of {', '.join(map(repr, MODES))}, "
                             f"got {mode!r}")
        self.mode = mode

    def augment(self, x, rng):
        self._flips = [(axis, rng.random(len(x)) < 0.5)
                       for axis, wanted in ((2, "horizontal"), (1, "vertical"))
                       if wanted in self.mode]
        return self._flip(x)

    def _flip(self, x):
        """Apply the drawn flips (a flip is its own inverse: the backward pass too)."""
        for axis, chosen in self._flips:
            x = np.where(chosen[:, None, None, None], np.flip(x, axis), x)
        return x

    augment_backward = _flip

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}
