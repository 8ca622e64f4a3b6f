"""Layers: the building blocks of a model (see ``base.Layer`` for the contract)."""
from .activation import Activation
from .base import Layer
from .batch_normalization import BatchNormalization
from .conv1d import Conv1D
from .conv2d import Conv2D
from .conv2d_transpose import Conv2DTranspose
from .conv3d import Conv3D
from .dense import Dense
from .dropout import Dropout
from .global_pooling import (GlobalAveragePooling1D, GlobalAveragePooling2D,
                             GlobalAveragePooling3D, GlobalMaxPooling1D, GlobalMaxPooling2D,
                             GlobalMaxPooling3D)
from .gru import GRU
from .input_layer import Input, InputLayer
from .lstm import LSTM
from .pooling import (AveragePooling1D, AveragePooling2D, AveragePooling3D, MaxPooling1D,
                      MaxPooling2D, MaxPooling3D)
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

# 1-D and 3-D convolution and pooling, global pooling (issue 18): Keras's short aliases
Convolution1D, Convolution3D = Conv1D, Conv3D
MaxPool1D, AvgPool1D = MaxPooling1D, AveragePooling1D
MaxPool3D, AvgPool3D = MaxPooling3D, AveragePooling3D
GlobalAvgPool1D, GlobalAvgPool2D = GlobalAveragePooling1D, GlobalAveragePooling2D
GlobalMaxPool1D, GlobalMaxPool2D = GlobalMaxPooling1D, GlobalMaxPooling2D
GlobalAvgPool3D, GlobalMaxPool3D = GlobalAveragePooling3D, GlobalMaxPooling3D

__all__ = ["Activation", "AveragePooling2D", "AvgPool2D", "BatchNormalization", "Conv2D",
           "Conv2DTranspose", "Convolution2D", "Convolution2DTranspose", "Dense", "Dropout",
           "Flatten", "GRU", "Input", "InputLayer", "LSTM", "Layer", "MaxPool2D", "MaxPooling2D",
           "RandomBrightness", "RandomContrast", "RandomCrop", "RandomFlip", "RandomRotation",
           "RandomTranslation", "RandomZoom", "Reshape", "SimpleRNN", "UpSampling2D"]
__all__ += ["AveragePooling1D", "AveragePooling3D", "AvgPool1D", "AvgPool3D", "Conv1D",
            "Conv3D", "Convolution1D", "Convolution3D", "GlobalAveragePooling1D",
            "GlobalAveragePooling2D", "GlobalAveragePooling3D", "GlobalAvgPool1D",
            "GlobalAvgPool2D", "GlobalAvgPool3D", "GlobalMaxPool1D", "GlobalMaxPool2D",
            "GlobalMaxPool3D", "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D",
            "MaxPool1D",
            "MaxPool3D", "MaxPooling1D", "MaxPooling3D"]


def get(class_name):
    """The layer class called ``class_name`` (for loading saved models)."""
    cls = globals().get(class_name)
    if not (isinstance(cls, type) and issubclass(cls, Layer)):
        raise ValueError(f"unknown layer class {class_name!r}; fastnn has: "
                         f"{', '.join(n for n in __all__ if n not in ('Input', 'Layer'))}")
    return cls
