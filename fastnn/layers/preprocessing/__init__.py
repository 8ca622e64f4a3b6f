"""Data-augmentation layers (course, chapters 12 and 17): random in training, identity at inference.

Put them first in a model; ``fit`` then trains on a freshly varied copy of
every batch, while ``evaluate`` and ``predict`` see the images unchanged::

    model = Sequential([
        RandomFlip("horizontal", input_shape=(28, 28, 1)),
        RandomRotation(0.05),
        RandomZoom(0.1),
        Conv2D(32, 3, activation="relu"),
        ...
    ])
"""
from .random_brightness import RandomBrightness
from .random_contrast import RandomContrast
from .random_crop import RandomCrop
from .random_flip import RandomFlip
from .random_rotation import RandomRotation
from .random_translation import RandomTranslation
from .random_zoom import RandomZoom

__all__ = ["RandomBrightness", "RandomContrast", "RandomCrop", "RandomFlip", "RandomRotation",
           "RandomTranslation", "RandomZoom"]
