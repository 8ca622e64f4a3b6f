"""Dropout: randomly silence inputs while training (course, chapter 12)."""
import numbers

import numpy as np

from .. import kernels, random
from .backward_cache import BackwardCache
from .base import Layer


class Dropout(Layer):
    """In training, zero each input with probability ``rate`` and scale the rest
    by 1 / (1 - rate) ("inverted dropout", so the expected value is unchanged);
    at inference (evaluate, predict, validation) pass everything through.

    Args:
        rate: fraction of inputs to drop, in [0, 1).
        noise_shape: shape of the random mask, broadcast over the input
            (None entries take the input's size); e.g. (None, 1, 1, C) drops
            whole feature maps.
        seed: seeds this layer's own generator; default: fastnn's global one.
    """

    _seed = BackwardCache("the seed of the kernel's mask (without noise_shape), else None")
    _mask = BackwardCache("the mask drawn for noise_shape, else None")

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not 0 <= rate < 1:
            raise ValueError(f"Dropout: rate must be a number in [0, 1), got {rate!r}")
        self.rate = float(rate)
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)
        self.seed = seed
        self._rng = random.own_generator(seed, "Dropout")

    def call(self, x, training=False):
        if self.noise_shape is None:
            mask = self.kernel_mask(training)
            return x if mask is None else kernels.dropout(x, *mask)
        self._seed = self._mask = None  # what backward needs: one of them, or neither
        if not training or self.rate == 0:
            return x
        if len(self.noise_shape) != x.ndim:
            raise ValueError(f"layer {self.name!r}: noise_shape {self.noise_shape} needs one "
                             f"entry per axis of inputs of shape {x.shape}")
        keep = 1.0 - self.rate
        shape = tuple(size if want is None else want
                      for size, want in zip(x.shape, self.noise_shape))
        rng = self._rng or random.generator()
        self._mask = (rng.random(shape, dtype=np.float32) < keep) * np.float32(1.0 / keep)
        return x * self._mask

    def kernel_mask(self, training):
        """The mask of this forward pass, without noise_shape: (keep_prob,
        seed) for ``kernels.dropout`` -- the seed drawn now, kept for the
        backward pass -- or None where the layer passes x through (inference,
        rate 0).  ``call`` applies it; a kernel below can apply it instead,
        in its own pass (the plan's rule "pool + dropout in one pass")."""
        if self.noise_shape is not None:
            raise ValueError(f"layer {self.name!r}: with noise_shape {self.noise_shape} the "
                             f"mask is drawn per noise_shape, not per element: no kernel mask")
        self._seed = self._mask = None
        if not training or self.rate == 0:
            return None
        # the mask is a function of (seed, position): the backward pass
        # recomputes it from the seed instead of storing it
        rng = self._rng or random.generator()
        self._seed = int(rng.integers(2**64, dtype=np.uint64))
        return 1.0 - self.rate, self._seed

    def backward_mask(self):
        """The kernel mask the last forward pass applied, (keep_prob, seed),
        or None if it applied none: what the backward pass multiplies dy by,
        for a kernel below that applies it (rule "dropout backward inside the
        pool backward")."""
        if self._mask is not None:
            raise ValueError(f"layer {self.name!r}: its mask was drawn per noise_shape "
                             f"{self.noise_shape}: no kernel mask")
        return None if self._seed is None else (1.0 - self.rate, self._seed)

    def call_backward(self, dz):
        if self._mask is not None:
            return dz * self._mask
        mask = self.backward_mask()
        return dz if mask is None else kernels.dropout(dz, *mask)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate,
                "noise_shape": None if self.noise_shape is None else list(self.noise_shape),
                "seed": self.seed}
