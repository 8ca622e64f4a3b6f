"""Input: declares the shape of one sample at the start of a model."""
from .base import Layer, standardize_shape


class InputLayer(Layer):
    """A placeholder for the model's input; it computes nothing.

    ``Sequential([Input(shape=(28, 28, 1)), Conv2D(...)])`` is the same as
    giving ``input_shape=(28, 28, 1)`` to the first layer.  It never shows
    up in ``model.layers`` or the summary.
    """

    def __init__(self, shape=None, batch_size=None, name=None, input_shape=None, **kwargs):
        shape = input_shape if shape is None else shape
        if shape is None:
            raise ValueError("Input: give the shape of one sample, e.g. Input(shape=(784,))")
        super().__init__(name=name, input_shape=standardize_shape(shape, "shape"),
                         batch_size=batch_size, **kwargs)


def Input(shape=None, batch_size=None, name=None, dtype=None):  # noqa: N802 (Keras's name)
    """The model input of one sample of ``shape`` (Keras's ``keras.Input``)."""
    return InputLayer(shape=shape, batch_size=batch_size, name=name, dtype=dtype)
