"""What SimpleRNN, LSTM and GRU share: the time loop around a cell (course, chapter 4).

A recurrent layer reads a time series x of shape (batch, steps, features)
one step after the other and keeps a state h (units values per sample)
from step to step: h_t = cell(x_t, h_{t-1}), starting from h_0 = 0.  It
returns the last state (batch, units), or with ``return_sequences=True``
every step's (batch, steps, units) for another recurrent layer on top.

The weights follow Keras, so ``set_weights`` with a Keras layer's arrays
gives Keras's outputs: ``kernel`` (features, G·units) for the inputs,
``recurrent_kernel`` (units, G·units) for the state and ``bias``, where G
is the number of gates (1, 4 for the LSTM's i, f, c, o, 3 for the GRU's
z, r, h), each gate's units side by side.

A forward pass is one GEMM for the input projections x_t·kernel + bias of
all steps, then the time loop in C (``fastnn.kernels.rnn_forward``).
Backward (through time, ``rnn_backward``) yields the pre-activation
gradients of all steps and drecurrent_kernel (summed inside the loop);
dkernel, dbias and dx are then one ``dense_backward`` over all steps.

Dropout as in Keras: ``dropout`` drops input features, ``recurrent_dropout``
state values before the product with the recurrent kernel, each with one
mask per sequence (the same values dropped at every step), in training only.
"""
import numbers

import numpy as np

from .. import activations, initializers, random, regularizers
from ..kernels import dense_backward, matmul, rnn_backward, rnn_forward
from ..kernels.recurrent import ACTIVATIONS
from .backward_cache import BackwardCache
from .base import Layer


def _rate(layer, name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value < 1:
        raise ValueError(f"{layer}: {name} must be a number in [0, 1), got {value!r}")
    return float(value)


def _kernel_activation(layer, name, value):
    """An Activation the C time loop computes (a plain built-in one)."""
    activation = activations.get(value)
    if activation.name not in ACTIVATIONS or activation.config:
        raise ValueError(f"{layer}: {name} must be one of {', '.join(ACTIVATIONS)} "
                         f"(what the recurrent kernels compute), got {value!r}")
    return activation


class Recurrent(Layer):
    """Base class of SimpleRNN, LSTM and GRU (not a layer of its own).

    Subclasses set ``cell`` (the kernels' name) and ``gates`` and may
    override ``bias_shape`` and ``make_bias_initializer``.

    Args (Keras's, with Keras's defaults):
        units: size of the state h (and of each gate).
        activation: the cell's output activation ("tanh").
        recurrent_activation: the gates' activation ("sigmoid"; not SimpleRNN).
        use_bias: add biases.
        kernel_initializer, recurrent_initializer, bias_initializer:
            "glorot_uniform", "orthogonal", "zeros".
        kernel_regularizer, recurrent_regularizer, bias_regularizer.
        dropout, recurrent_dropout: fractions in [0, 1) (see the module).
        return_sequences: output every step (batch, steps, units) instead
            of the last (batch, units).
        return_state: also return the final state(s): ``layer(x)`` gives
            [output, h] ([output, h, c] for the LSTM).  A list cannot flow
            to the next layer of a Sequential model, so only for direct calls.
        go_backwards: read the sequence from its last step to its first
            (the output sequence is in that reversed order, as in Keras).
        implementation: Keras's choice of computation (1 or 2), read from
            Keras's configs; the numbers are the same, fastnn always runs its
            one kernel (so the config leaves it out).
        seed: seeds the dropout masks' generator; default: fastnn's global one.
    """

    cell = None
    gates = 1
    _x = BackwardCache("the input after dropout, reversed with go_backwards: dkernel = xᵀ·dz")
    _steps = BackwardCache("the time loop's RnnSteps: gates, outputs, cell states")
    _input_mask = BackwardCache("the dropout mask of the input features, or None")
    _state_mask = BackwardCache("the recurrent dropout mask of the state, or None")

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, dropout=0.0, recurrent_dropout=0.0,
                 return_sequences=False, return_state=False, go_backwards=False,
                 implementation=2, seed=None, **kwargs):
        super().__init__(**kwargs)
        kind = type(self).__name__
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units < 1:
            raise ValueError(f"{kind}: units must be a positive int, got {units!r}")
        if implementation not in (1, 2):
            raise ValueError(f"{kind}: implementation must be 1 or 2, got {implementation!r}")
        self.units = int(units)
        self.cell_activation = _kernel_activation(kind, "activation", activation)
        self.recurrent_activation = _kernel_activation(kind, "recurrent_activation",
                                                       recurrent_activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.dropout = _rate(kind, "dropout", dropout)
        self.recurrent_dropout = _rate(kind, "recurrent_dropout", recurrent_dropout)
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.seed = seed
        self._rng = random.own_generator(seed, kind)

    # Keras's name for the cell's activation.  The plan of a model (fastnn.plan)
    # reads ``layer.activation`` as an activation to run after ``call``; this
    # layer's activations live inside the time loop, so the plan sees none.
    @property
    def activation(self):
        return None

    # ---- weights ------------------------------------------------------------------

    @property
    def bias_shape(self):
        return (self.gates * self.units,)

    def make_bias_initializer(self):
        return self.bias_initializer

    def build(self, input_shape):
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(f"layer {self.name!r} ({type(self).__name__}) needs inputs of "
                             f"shape (batch, steps, features) with the features known, got "
                             f"shape {tuple(input_shape)}")
        width = self.gates * self.units
        self.kernel = self.add_weight("kernel", (input_shape[-1], width),
                                      self.kernel_initializer, self.kernel_regularizer)
        self.recurrent_kernel = self.add_weight("recurrent_kernel", (self.units, width),
                                                self.recurrent_initializer,
                                                self.recurrent_regularizer)
        self.bias = (self.add_weight("bias", self.bias_shape, self.make_bias_initializer(),
                                     self.bias_regularizer) if self.use_bias else None)
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        batch, steps = input_shape[0], input_shape[1]
        return (batch, steps, self.units) if self.return_sequences else (batch, self.units)

    def input_bias(self):
        """The bias added to the input projections (None without bias)."""
        return None if self.bias is None else self.bias.value

    def recurrent_bias(self):
        """The bias added to h_{t-1}·recurrent_kernel (the GRU's second row)."""
        return None

    # ---- computation ----------------------------------------------------------------

    def _mask(self, shape, rate):
        rng = self._rng or random.generator()
        keep = 1.0 - rate
        return (rng.random(shape, dtype=np.float32) < keep) * np.float32(1.0 / keep)

    def forward(self, x, training=False):
        """The output (and with return_state the final states) for x (batch, steps, features)."""
        if x.ndim != 3 or x.shape[-1] != self.kernel.shape[0]:
            raise ValueError(f"layer {self.name!r} ({type(self).__name__}) was built for "
                             f"inputs (batch, steps, {self.kernel.shape[0]}), got shape "
                             f"{x.shape}")
        batch, steps, features = x.shape
        if self.go_backwards:
            x = x[:, ::-1]
        input_mask = (self._mask((batch, features), self.dropout)
                      if training and self.dropout else None)
        state_mask = (self._mask((batch, self.units), self.recurrent_dropout)
                      if training and self.recurrent_dropout else None)
        x = np.ascontiguousarray(x if input_mask is None else x * input_mask[:, None, :])
        z = matmul(x.reshape(-1, features), self.kernel.value, bias=self.input_bias())
        result = rnn_forward(z.reshape(batch, steps, -1), self.recurrent_kernel.value,
                             self.cell, self.cell_activation.name,
                             self.recurrent_activation.name, self.recurrent_bias(), state_mask,
                             overwrite_z=True)
        self._x, self._steps = x, result
        self._input_mask, self._state_mask = input_mask, state_mask
        output = result.h if self.return_sequences else result.h[:, -1]
        if not self.return_state:
            return output
        return [output, result.h[:, -1]] + ([result.c[:, -1]] if result.c is not None else [])

    def backward(self, dy):
        """dLoss/dx from dLoss/doutput (with return_state: a list [doutput, dh, (dc)]);
        fills the gradients of kernel, recurrent_kernel and bias."""
        result, state_mask = self._steps, self._state_mask
        d_output, d_h, d_c = (list(dy) + [None, None])[:3] if self.return_state else (dy, None,
                                                                                       None)
        batch, steps, _ = result.h.shape
        if self.return_sequences:
            dh = np.array(d_output, np.float32)
        else:
            dh = np.zeros(result.h.shape, np.float32)
            dh[:, -1] = d_output
        if d_h is not None:
            dh[:, -1] += d_h
        dz, self.recurrent_kernel.grad, db_recurrent = rnn_backward(
            result, self.recurrent_kernel.value, dh, self.cell, self.cell_activation.name,
            self.recurrent_activation.name, state_mask, d_c)
        width = dz.shape[-1]
        dx, self.kernel.grad, db = dense_backward(
            self._x.reshape(-1, self._x.shape[-1]), self.kernel.value, dz.reshape(-1, width),
            compute_dx=self.input_gradient_needed)
        if self.bias is not None:
            self.bias.grad = self.bias_gradient(db, db_recurrent)
        if dx is None:
            return None
        dx = dx.reshape(batch, steps, -1)
        if self._input_mask is not None:
            dx *= self._input_mask[:, None, :]
        return dx[:, ::-1] if self.go_backwards else dx

    def bias_gradient(self, d_input_bias, d_recurrent_bias):
        """The bias's gradient from those of the input and recurrent projections."""
        return d_input_bias

    # The activations run inside the time loop: the layer's own computation is all of it.
    def call(self, x, training=False):
        return self.forward(x, training)

    def call_backward(self, dz):
        return self.backward(dz)

    # ---- configuration -------------------------------------------------------------

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "activation": activations.serialize(self.cell_activation),
                "recurrent_activation": activations.serialize(self.recurrent_activation),
                "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
                "recurrent_regularizer": regularizers.serialize(self.recurrent_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer),
                "dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout,
                "return_sequences": self.return_sequences, "return_state": self.return_state,
                "go_backwards": self.go_backwards, "seed": self.seed}
