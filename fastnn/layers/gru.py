"""GRU: the gated recurrent unit (Cho et al. 2014; course, chapter 4)."""
import numpy as np

from .recurrent import Recurrent


class GRU(Recurrent):
    """A recurrent layer with an update gate z and a reset gate r (Keras's
    formulas).  With ``reset_after=True`` (Keras's default since 2.x)::

        z = σ(x·W_z + b_z + h·U_z + rb_z)            update gate
        r = σ(x·W_r + b_r + h·U_r + rb_r)            reset gate
        hh = tanh(x·W_h + b_h + r·(h·U_h + rb_h))    candidate state
        h_t = z·h_{t-1} + (1 − z)·hh

    and with ``reset_after=False`` (tf.keras 1's default, Cho et al.'s
    original) the reset gate acts on the state before the product and
    there is no recurrent bias::

        z = σ(x·W_z + b_z + h·U_z),  r = σ(x·W_r + b_r + h·U_r)
        hh = tanh(x·W_h + b_h + (r·h)·U_h)

    (σ is ``recurrent_activation``, tanh ``activation``; h is h_{t-1}).
    Gates side by side in Keras's order z, r, h.  The bias: with
    reset_after two rows, (2, 3·units), b for the inputs and rb for the
    state; without, one, (3·units,).  GRU(units) on f features has
    3·(units·(f + units) + 2·units) parameters with reset_after,
    3·(units·(f + units) + units) without.

    Args:
        reset_after: where the reset gate applies (above).
        others: see ``Recurrent``.
    """

    gates = 3

    def __init__(self, units, reset_after=True, **kwargs):
        if not isinstance(reset_after, (bool, np.bool_)):
            raise ValueError(f"GRU: reset_after must be True or False, got {reset_after!r}")
        super().__init__(units, **kwargs)
        self.reset_after = bool(reset_after)

    @property
    def cell(self):
        return "gru" if self.reset_after else "gru_reset_before"

    @property
    def bias_shape(self):
        return (2, self.gates * self.units) if self.reset_after else (self.gates * self.units,)

    def input_bias(self):
        if self.bias is None or not self.reset_after:
            return super().input_bias()
        return self.bias.value[0]

    def recurrent_bias(self):
        return None if self.bias is None or not self.reset_after else self.bias.value[1]

    def bias_gradient(self, d_input_bias, d_recurrent_bias):
        if not self.reset_after:
            return d_input_bias
        return np.stack([d_input_bias, d_recurrent_bias])

    def get_config(self):
        return {**super().get_config(), "reset_after": self.reset_after}
