"""GRU: the gated recurrent unit (Cho et al. 2014; course, chapter 4)."""
import numpy as np

from .recurrent import Recurrent


class GRU(Recurrent):
    """A recurrent layer with an update gate z and a reset gate r (Keras's
    formulas, ``reset_after=True``)::

        z = σ(x·W_z + b_z + h·U_z + rb_z)            update gate
        r = σ(x·W_r + b_r + h·U_r + rb_r)            reset gate
        hh = tanh(x·W_h + b_h + r·(h·U_h + rb_h))    candidate state
        h_t = z·h_{t-1} + (1 − z)·hh

    (σ is ``recurrent_activation``, tanh ``activation``).  Gates side by
    side in Keras's order z, r, h; the bias has two rows, (2, 3·units):
    b for the inputs, rb for the state.  GRU(units) on f features has
    3·(units·(f + units) + 2·units) parameters.

    Args:
        reset_after: True (Keras's default since 2.x and the only form
            fastnn computes): r multiplies h·U_h after the product.
        others: see ``Recurrent``.
    """

    cell = "gru"
    gates = 3

    def __init__(self, units, reset_after=True, **kwargs):
        if reset_after is not True:
            raise ValueError(f"GRU: fastnn computes reset_after=True only (Keras's default: "
                             f"the reset gate applied after the product with the recurrent "
                             f"kernel), got reset_after={reset_after!r}")
        super().__init__(units, **kwargs)
        self.reset_after = True

    @property
    def bias_shape(self):
        return (2, self.gates * self.units)

    def input_bias(self):
        return None if self.bias is None else self.bias.value[0]

    def recurrent_bias(self):
        return None if self.bias is None else self.bias.value[1]

    def bias_gradient(self, d_input_bias, d_recurrent_bias):
        return np.stack([d_input_bias, d_recurrent_bias])

    def get_config(self):
        return {**super().get_config(), "reset_after": self.reset_after}
