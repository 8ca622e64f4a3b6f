"""LSTM: long short-term memory (Hochreiter & Schmidhuber 1997; course, chapter 4)."""
import numpy as np

from .recurrent import Recurrent


class LSTM(Recurrent):
    """A recurrent layer with a cell state c and three gates deciding what
    enters it, what it forgets and what it shows (Keras's formulas)::

        i = σ(x·W_i + h·U_i + b_i)    input gate
        f = σ(x·W_f + h·U_f + b_f)    forget gate
        g = tanh(x·W_c + h·U_c + b_c) candidate values
        o = σ(x·W_o + h·U_o + b_o)    output gate
        c_t = f·c_{t-1} + i·g,   h_t = o·tanh(c_t)

    (σ is ``recurrent_activation``, tanh ``activation``).  The weights hold
    the gates side by side in Keras's order i, f, c, o: kernel (features,
    4·units), recurrent_kernel (units, 4·units), bias (4·units,).
    LSTM(128) on 32 features has 4·(128·32 + 128·128 + 128) = 82,432
    parameters.

    Args:
        unit_forget_bias: start the forget gate's bias at 1 (Keras's
            default), so the cell keeps its state at first.
        others: see ``Recurrent``.
    """

    cell = "lstm"
    gates = 4

    def __init__(self, units, unit_forget_bias=True, **kwargs):
        super().__init__(units, **kwargs)
        self.unit_forget_bias = bool(unit_forget_bias)

    def make_bias_initializer(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        units, init = self.units, self.bias_initializer

        def forget_ones(shape, dtype="float32"):
            return np.concatenate([init((units,), dtype), np.ones(units, dtype),
                                   init((2 * units,), dtype)])
        return forget_ones

    def get_config(self):
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}
