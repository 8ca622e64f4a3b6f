"""Layers: the building blocks of a model (see ``base.Layer`` for the contract)."""
from .activation import Activation
from .base import Layer
from .batch_normalization import BatchNormalization
from .conv2d import Conv2D
from .conv2d_transpose import Conv2DTranspose
from .dense import Dense
from .dropout import Dropout
from .gru import GRU
from .input_layer import Input, InputLayer
from .lstm import LSTM
from .pooling2d import AveragePooling2D, MaxPooling2D
from .preprocessing import (RandomBrightness, RandomContrast, RandomCrop, RandomFlip,
                            RandomRotation, RandomTranslation, RandomZoom)
from .reshaping import Flatten, Reshape
from .simple_rnn import SimpleRNN
from .upsampling2d import UpSampling2D

# Keras's short aliases
Convolution2D = Conv2D
Convolution2DTranspose = Conv2DTranspose
MaxPool2D = MaxPooling2D
AvgPool2D = AveragePooling2D

__all__ = ["Activation", "AveragePooling2D", "AvgPool2D", "BatchNormalization", "Conv2D",
           "Conv2DTranspose", "Convolution2D", "Convolution2DTranspose", "Dense", "Dropout",
           "Flatten", "GRU", "Input", "InputLayer", "LSTM", "Layer", "MaxPool2D", "MaxPooling2D",
           "RandomBrightness", "RandomContrast", "RandomCrop", "RandomFlip", "RandomRotation",
           "RandomTranslation", "RandomZoom", "Reshape", "SimpleRNN", "UpSampling2D"]


def get(class_name):
    """The layer class called ``class_name`` (for loading saved models)."""
    cls = globals().get(class_name)
    if not (isinstance(cls, type) and issubclass(cls, Layer)):
        raise ValueError(f"unknown layer class {class_name!r}; fastnn has: "
                         f"{', '.join(n for n in __all__ if n not in ('Input', 'Layer'))}")
    return cls
