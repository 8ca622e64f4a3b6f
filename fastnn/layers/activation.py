"""Activation: apply an activation function as a layer of its own (chapter 5).

``model.add(Dense(5, input_shape=(3,)))`` then ``model.add(Activation('relu'))``
is the same network as ``Dense(5, input_shape=(3,), activation='relu')``.
"""
from .. import activations
from .base import Layer


class Activation(Layer):
    """output = activation(input); no weights.

    Args:
        activation: a name ("relu", "softmax", ...) or a function.
    """

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def get_config(self):
        return {**super().get_config(), "activation": activations.serialize(self.activation)}
