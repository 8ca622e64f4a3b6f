"""Layers: the building blocks of a model (see ``base.Layer`` for the contract)."""
from .activation import Activation
from .base import Layer
from .batch_normalization import BatchNormalization
from .conv2d import Conv2D
from .dense import Dense
from .dropout import Dropout
from .input_layer import Input, InputLayer
from .pooling2d import AveragePooling2D, MaxPooling2D
from .preprocessing import (RandomBrightness, RandomContrast, RandomCrop, RandomFlip,
                            RandomRotation, RandomTranslation, RandomZoom)
from .reshaping import Flatten, Reshape

# Keras's short aliases
Convolution2D = Conv2D
MaxPool2D = MaxPooling2D
AvgPool2D = AveragePooling2D

__all__ = ["Activation", "AveragePooling2D", "AvgPool2D", "BatchNormalization", "Conv2D",
           "Convolution2D", "Dense", "Dropout", "Flatten", "Input", "InputLayer", "Layer",
           "MaxPool2D", "MaxPooling2D", "RandomBrightness", "RandomContrast", "RandomCrop",
           "RandomFlip", "RandomRotation", "RandomTranslation", "RandomZoom", "Reshape"]


def get(class_name):
    """The layer class called ``class_name`` (for loading saved models)."""
    cls = globals().get(class_name)
    if not (isinstance(cls, type) and issubclass(cls, Layer)):
        raise ValueError(f"unknown layer class {class_name!r}; fastnn has: "
                         f"{', '.join(n for n in __all__ if n not in ('Input', 'Layer'))}")
    return cls
