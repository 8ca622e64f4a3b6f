"""The time loop of the recurrent layers (course, chapter 4: layers for time series).

A recurrent layer reads a sequence x (batch, steps, features) one step at a
time and carries a state h from step to step.  Keras's three cells, with
x_t·W + b computed for every step at once beforehand (one GEMM: nothing in
it depends on the state) and U the recurrent kernel:

    SimpleRNN   h_t = act(x_t·W + b + h_{t-1}·U)
    LSTM        i, f, o = ract(...), g = act(...)   (gates i, f, c, o of x_t·W + b + h_{t-1}·U)
                c_t = f·c_{t-1} + i·g,   h_t = o·act(c_t)
    GRU         z, r = ract(x_t·W_zr + b_zr + h_{t-1}·U_zr + rb_zr)
                hh = act(x_t·W_h + b_h + r·(h_{t-1}·U_h + rb_h))      (reset_after=True)
                h_t = z·h_{t-1} + (1 − z)·hh
    GRU         z, r as above without rb,                                 (reset_after=False:
                hh = act(x_t·W_h + b_h + (r·h_{t-1})·U_h)                  "gru_reset_before")

``rnn_forward`` runs the steps; ``rnn_backward`` goes back through them
(backpropagation through time) and returns the gradients of the
pre-activations, from which the layer gets dW, db and dx with one GEMM
each over all steps, and the recurrent kernel's gradient dU = Σ_t
h_{t-1}ᵀ·dr_t, summed inside the loop while each step's values are in
cache (csrc/recurrent.c has the details).  The C kernels know the
activations linear, tanh, sigmoid, relu and hard_sigmoid.
"""
from typing import NamedTuple, Optional

import numpy as np

from . import reference
from ._native import native
from .validation import as_float32, check_impl, check_shape

CELLS = {"simple_rnn": 0, "lstm": 1, "gru": 2, "gru_reset_before": 3}
ACTIVATIONS = {"linear": 0, "tanh": 1, "sigmoid": 2, "relu": 3, "hard_sigmoid": 4}


class RnnGradients(NamedTuple):
    """What ``rnn_backward`` returns."""
    dz: np.ndarray                # dLoss/d(x·W + b), (batch, steps, G·units)
    du: np.ndarray                # dLoss/dU, (units, G·units)
    drbias: Optional[np.ndarray]  # the reset_after GRU's dLoss/drbias (G·units,), else None


class RnnSteps(NamedTuple):
    """What ``rnn_forward`` computed and ``rnn_backward`` reads back."""
    gates: np.ndarray          # gate activations, (batch, steps, G·units)
    h: np.ndarray              # every step's output, (batch, steps, units)
    c: Optional[np.ndarray]    # LSTM: every step's cell state, else None
    rh: Optional[np.ndarray]   # GRU: h_{t-1}·U_h + rb_h of every step (reset_after) or
                               # r·h_{t-1} (reset before; h masked), else None


def _check_cell(kernel, cell, activation, recurrent_activation):
    if cell not in CELLS:
        raise ValueError(f"{kernel}: cell must be one of {', '.join(map(repr, CELLS))}, "
                         f"got {cell!r}")
    for name, value in (("activation", activation),
                        ("recurrent_activation", recurrent_activation)):
        if value not in ACTIVATIONS:
            raise ValueError(f"{kernel}: {name} must be one of "
                             f"{', '.join(map(repr, ACTIVATIONS))}, got {value!r}")


def _check_mask(kernel, mask, batch, units):
    if mask is None:
        return None
    mask = as_float32(kernel, "mask", mask, ("batch", "units"))
    check_shape(kernel, "mask", mask, (batch, units))
    return mask


def _flat(array):
    return None if array is None else array.reshape(-1)


def rnn_forward(z, u_kernel, cell, activation="tanh", recurrent_activation="sigmoid",
                rbias=None, mask=None, impl="fast", overwrite_z=False):
    """Run the time loop over the input projections.

    Args:
        z: x·W + b for every step, (batch, steps, G·units), G = 1 for
            "simple_rnn", 4 for "lstm" (gates i, f, c, o), 3 for the GRUs (z, r, h).
        u_kernel: the recurrent kernel, (units, G·units).
        cell: "simple_rnn", "lstm", "gru" (Keras's reset_after=True) or
            "gru_reset_before" (reset_after=False).
        activation, recurrent_activation: names (see ``ACTIVATIONS``);
            SimpleRNN uses only ``activation``.
        rbias: the GRU's recurrent bias, (G·units,), or None.
        mask: recurrent dropout mask (batch, units) multiplying h_{t-1}
            before the product with U, or None.
        impl: "fast" (one team of threads for the whole loop, each with its
            slice of U; see csrc/recurrent.c), "naive" or "numpy".
        overwrite_z: the gate activations may go into z itself (a C-contiguous
            float32 array the caller needs no more, such as the layer's fresh
            input projections): saves a copy of the largest array of the loop.

    Returns:
        ``RnnSteps`` (float32 arrays; z is left unchanged unless overwrite_z).
    """
    check_impl("rnn_forward", impl)
    _check_cell("rnn_forward", cell, activation, recurrent_activation)
    z = as_float32("rnn_forward", "z", z, ("batch", "steps", "gate units"))
    u_kernel = as_float32("rnn_forward", "u_kernel", u_kernel, ("units", "gate units"))
    batch, steps, width = z.shape
    units, gates = u_kernel.shape[0], reference.RNN_GATES[cell]
    check_shape("rnn_forward", "u_kernel", u_kernel, (units, gates * units))
    if width != gates * units:
        raise ValueError(f"rnn_forward: z must have {gates} x {units} = {gates * units} "
                         f"values per step for a {cell} cell of {units} units (the width "
                         f"of u_kernel), got shape {z.shape}")
    if rbias is not None:
        if cell != "gru":
            raise ValueError(f"rnn_forward: rbias is the reset_after GRU's recurrent bias; "
                             f"a {cell} cell has none (give None)")
        rbias = as_float32("rnn_forward", "rbias", rbias, ("gate units",))
        check_shape("rnn_forward", "rbias", rbias, (width,))
    mask = _check_mask("rnn_forward", mask, batch, units)
    if impl == "numpy" or 0 in (batch, steps, units):
        return RnnSteps(*reference.rnn_forward(z, u_kernel, cell, activation,
                                               recurrent_activation, rbias, mask))
    gates = z if overwrite_z and z.flags.c_contiguous and z.flags.writeable else z.copy()
    result = RnnSteps(gates, np.empty((batch, steps, units), np.float32),
                      np.empty((batch, steps, units), np.float32) if cell == "lstm" else None,
                      np.empty((batch, steps, units), np.float32) if cell.startswith("gru")
                      else None)
    scratch = np.empty(width, np.float32) if impl == "naive" else None
    native.rnn_forward((batch, steps, units), CELLS[cell], ACTIVATIONS[activation],
                       ACTIVATIONS[recurrent_activation], _flat(u_kernel), _flat(rbias),
                       _flat(mask), _flat(result.gates), _flat(result.h), _flat(result.c),
                       _flat(result.rh), scratch, impl == "naive")
    return result


def rnn_backward(steps, u_kernel, dy, cell, activation="tanh",
                 recurrent_activation="sigmoid", mask=None, dc_last=None, impl="fast"):
    """Backpropagation through time over ``rnn_forward``'s steps.

    Args:
        steps: the ``RnnSteps`` of the forward pass.
        u_kernel, cell, activation, recurrent_activation, mask: as given to it.
        dy: dLoss/dh for every step's output, (batch, steps, units) (zeros
            where the layer's output did not include a step).
        dc_last: dLoss/dc of the LSTM's last cell state (batch, units), or None.
        impl: "fast", "naive" or "numpy".

    Returns:
        ``RnnGradients``: dz = dLoss/d(x·W + b) (batch, steps, G·units); du =
        dLoss/dU = Σ_t h_{t-1}ᵀ·dr_t with dr = dLoss/d(h_{t-1}·U + rbias)
        (dz itself except for the reset_after GRU's h gate; h_{t-1} times
        the mask; "gru_reset_before"'s U_h multiplies rh: Σ_t rh_tᵀ·dz_h,t);
        drbias = Σ dr over batch and steps for the reset_after GRU, else None.
        float32 (see ``reference.rnn_recurrent_kernel_gradient``).
    """
    check_impl("rnn_backward", impl)
    _check_cell("rnn_backward", cell, activation, recurrent_activation)
    if not isinstance(steps, RnnSteps):
        raise TypeError(f"rnn_backward: steps must be the RnnSteps rnn_forward returned, "
                        f"got {type(steps).__name__}")
    batch, n_steps, units = steps.h.shape
    u_kernel = as_float32("rnn_backward", "u_kernel", u_kernel, ("units", "gate units"))
    check_shape("rnn_backward", "u_kernel", u_kernel, (units, steps.gates.shape[2]))
    dy = as_float32("rnn_backward", "dy", dy, ("batch", "steps", "units"))
    check_shape("rnn_backward", "dy", dy, steps.h.shape)
    mask = _check_mask("rnn_backward", mask, batch, units)
    if dc_last is not None:
        if cell != "lstm":
            raise ValueError(f"rnn_backward: dc_last is the gradient of the LSTM's cell "
                             f"state; a {cell} cell has none (give None)")
        dc_last = as_float32("rnn_backward", "dc_last", dc_last, ("batch", "units"))
        check_shape("rnn_backward", "dc_last", dc_last, (batch, units))
    if impl == "numpy" or 0 in (batch, n_steps, units):
        dz, dr = reference.rnn_backward(*steps, u_kernel, dy, cell, activation,
                                        recurrent_activation, mask, dc_last)
        return RnnGradients(dz, *reference.rnn_recurrent_kernel_gradient(
            steps.h, steps.rh, dr, cell, mask))
    width = steps.gates.shape[2]
    gradients = RnnGradients(np.empty_like(steps.gates), np.empty((units, width), np.float32),
                             np.empty(width, np.float32) if cell == "gru" else None)
    naive = impl == "naive"
    dr = np.empty(width, np.float32) if naive and cell == "gru" else None
    carry = np.empty(batch * units, np.float32) if naive else None
    dc = np.empty(batch * units, np.float32) if naive else None
    native.rnn_backward((batch, n_steps, units), CELLS[cell], ACTIVATIONS[activation],
                        ACTIVATIONS[recurrent_activation], _flat(u_kernel), _flat(mask),
                        _flat(steps.gates), _flat(steps.h), _flat(steps.c), _flat(steps.rh),
                        _flat(dy), _flat(dc_last), _flat(gradients.dz), _flat(gradients.du),
                        _flat(gradients.drbias), dr, carry, dc, naive)
    return gradients
