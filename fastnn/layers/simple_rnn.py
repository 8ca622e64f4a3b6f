"""SimpleRNN: the plainest recurrent layer (course, chapter 4)."""
from .recurrent import Recurrent


class SimpleRNN(Recurrent):
    """h_t = activation(x_t·kernel + h_{t-1}·recurrent_kernel + bias), h_0 = 0.

    ``SimpleRNN(8, input_shape=(50, 1))`` reads 50 steps of one value and
    returns (batch, 8); it has 1·8 + 8·8 + 8 = 80 parameters.  Over long
    sequences its gradients vanish or explode (chapter 23); LSTM and GRU
    gate the state to keep it.  Arguments: see ``Recurrent`` (no
    recurrent_activation: there are no gates).
    """

    cell = "simple_rnn"
    gates = 1

    def __init__(self, units, activation="tanh", **kwargs):
        super().__init__(units, activation, **kwargs)

    def get_config(self):
        config = super().get_config()
        del config["recurrent_activation"]
        return config
