"""Where a training step's time goes: every step of the plan, timed.

``model.profile(x, y)`` runs real training steps -- ``training.train_step``
itself, the one ``fit`` runs -- on a copy of the model, with a stopwatch
around each call of a plan step (``step(x, training)``, ``step(dy)``), the
loss and its gradient, and the optimizer's update.  Whatever a step does
not cover (the regularizers' penalties and gradients, collecting the
gradients for the optimizer, Python between the steps) is the "rest" row,
so the rows add up to the whole step.

A step's number is its number in ``print(model.plan)``.  Its FLOPs are
counted from the shapes, for the steps that run a convolution or a matrix
product: 2 · (output positions) · (kernel weights) forward -- a Conv2D's
2 · batch · out_h · out_w · kh · kw · in_c · out_c, a Dense layer's
2 · rows · in · out -- and backward twice that with the input gradient
(dW and dx, each a product of the same size) or once without (dW alone).
A convolution with its max pool in one step counts the convolution's.
Bias additions and activations are not counted; elementwise steps (pooling,
batch norm, dropout, the loss) have no FLOP column, their cost is memory
traffic.  A Conv2DTranspose's positions are its input pixels (it scatters
each input pixel through the kernel).  A recurrent layer (SimpleRNN, LSTM,
GRU) counts its two kernels at every step: 2 · batch · steps · (features +
units) · G·units forward (the input projections and the recurrent
products), and backward dW and dU, the recurrent product through Uᵀ that
carries the gradient back a step, and dx with the input gradient.

The times are medians over the timed steps (after a few warm-up steps that
page in the buffers and wake the threads): a slow step, when another
program took the cores for a moment, does not move them.  The percentages
are of the rows' sum, a typical step, so they add up to 100; the last line
also gives the median of the whole steps as measured, which is close to
that sum on a quiet machine (medians do not add up exactly).
"""
import copy
import time
from statistics import median
from typing import NamedTuple, Optional

import numpy as np

from .. import random
from ..layers import Conv2D, Conv2DTranspose, Dense
from ..layers.recurrent import Recurrent
from ..runtime import get_num_threads, get_simd_path
from .steps import BackwardStep, ForwardStep, PooledForwardStep, PooledGradientStep


class Row(NamedTuple):
    """One line of a profile: ``number`` as in ``print(model.plan)`` (None
    for the optimizer and the rest), ``ms`` the median per batch, ``flops``
    per batch or None where not counted."""

    section: str
    number: Optional[int]
    name: str
    layers: str
    ms: float
    flops: Optional[float] = None

    def gflops(self):
        """GFLOP/s, or None without a FLOP count."""
        return None if not self.flops or self.ms <= 0 else self.flops / self.ms / 1e6


class Profile:
    """The rows of a profile and the whole step.  ``str(profile)`` is the table.

    Attributes:
        rows: the ``Row`` of every plan step in order (forward, loss,
            backward), then the optimizer's update and the rest.
        step_ms: the median time of a whole training step, as measured.
        batch_size, steps, warmup: how it was measured.
        threads, simd: fastnn's thread count and SIMD path at the time.
    """

    def __init__(self, model_name, rows, step_ms, batch_size, steps, warmup, threads, simd):
        self.model_name = model_name
        self.rows = rows
        self.step_ms = step_ms
        self.batch_size = batch_size
        self.steps = steps
        self.warmup = warmup
        self.threads = threads
        self.simd = simd

    @property
    def images_per_second(self):
        """Training throughput: the batch over the median whole step."""
        return self.batch_size / (self.step_ms / 1e3)

    @property
    def rows_ms(self):
        """The sum of the rows' medians: a typical step."""
        return sum(row.ms for row in self.rows)

    def percent(self, row):
        """The row's share of a typical step (``rows_ms``), in %."""
        return 100.0 * row.ms / self.rows_ms

    def lines(self):
        lines = [f"Profile of {self.model_name}: batch {self.batch_size}, median of "
                 f"{self.steps} training steps after {self.warmup} warm-up, "
                 f"{self.threads} thread{'s' * (self.threads != 1)}, SIMD {self.simd}",
                 f"  {'':>3}  {'step':<36} {'layers':<32} {'ms':>8} {'%':>6} {'MFLOP':>9} "
                 f"{'GFLOP/s':>8}"]
        section = None
        for row in self.rows:
            if row.section != section:
                section = row.section
                lines.append(section)
            number = "" if row.number is None else row.number
            flops = "" if row.flops is None else f"{row.flops / 1e6:,.1f}"
            rate = "" if row.gflops() is None else f"{row.gflops():.1f}"
            lines.append(f"  {number:>3}  {row.name:<36} {row.layers:<32} {row.ms:>8.3f} "
                         f"{self.percent(row):>5.1f}% {flops:>9} {rate:>8}".rstrip())
        flops = sum(row.flops or 0 for row in self.rows)
        lines.append(f"total: {self.rows_ms:.3f} ms (whole steps: median {self.step_ms:.3f} ms, "
                     f"{self.images_per_second:,.0f} images/s); {flops / 1e6:,.1f} MFLOP "
                     f"counted, {flops / self.rows_ms / 1e6:.1f} GFLOP/s over the step")
        return lines

    def __str__(self):
        return "\n".join(self.lines())

    __repr__ = __str__


def step_flops(step, batch_size):
    """The FLOPs of one call of a plan step on a batch (see the module doc),
    None for a step without a convolution or matrix product."""
    if isinstance(step, PooledGradientStep):
        layer, products = step.layers[1], 1            # dW from the pool's gradient
    elif isinstance(step, PooledForwardStep):
        layer, products = step.layers[0], 1            # the convolution; the pool adds none
    elif isinstance(step, ForwardStep) and step.method in ("forward", "call"):
        layer, products = step.layers[0], 1
    elif isinstance(step, BackwardStep) and step.method in ("backward", "call_backward",
                                                            "backward_through_activation",
                                                            "gradients_through_activation"):
        layer, products = step.layers[0], 2 if step.input_gradient else 1
    else:
        return None
    if isinstance(layer, Recurrent):
        return _recurrent_flops(layer, batch_size, isinstance(step, BackwardStep), products == 2)
    if isinstance(layer, Conv2DTranspose):
        positions = layer.input_shape[1:-1]
    elif isinstance(layer, (Conv2D, Dense)):
        positions = layer.output_shape[1:-1]
    else:
        return None
    return float(products * 2 * batch_size * np.prod(positions, dtype=np.int64)
                 * layer.kernel.value.size)


def _recurrent_flops(layer, batch_size, backward, input_gradient):
    """A recurrent layer's FLOPs (see the module doc); None when the layer
    was built for sequences of any length."""
    steps = layer.input_shape[1]
    if steps is None:
        return None
    kernel, recurrent = layer.kernel.value.size, layer.recurrent_kernel.value.size
    if backward:  # dW (and dx), dU and the gradient through Uᵀ
        kernel, recurrent = kernel * (2 if input_gradient else 1), 2 * recurrent
    return float(2 * batch_size * steps * (kernel + recurrent))


class _Stopwatch:
    """A callable (a plan step, the loss, the optimizer's update) that also
    keeps how long each call took."""

    def __init__(self, call):
        self.call = call
        self.seconds = []

    def __call__(self, *args):
        start = time.perf_counter()
        try:
            return self.call(*args)
        finally:
            self.seconds.append(time.perf_counter() - start)


def profile(model, x, y, batch_size=32, steps=20, warmup=3):
    """Train a copy of ``model`` for ``warmup + steps`` batches and time
    every step of its plan (``Sequential.profile``).

    The model itself is left as it was: its weights, its optimizer's state,
    its BatchNormalization moving averages and fastnn's random generator
    (Dropout's masks) are those of before the call; only the copy trained.
    """
    from ..models.data import check_batch_size, whole_number
    from ..models.training import _inputs_and_labels, train_step

    batch_size = check_batch_size(batch_size)
    steps = whole_number("steps", steps, 1)
    warmup = whole_number("warmup", warmup, 0)
    x, y = _inputs_and_labels(model, x, y)
    if len(x) < batch_size:
        raise ValueError(f"profile times whole batches: x has {len(x)} samples, fewer than "
                         f"batch_size={batch_size}")
    random_state = random.generator().bit_generator.state
    try:
        trained = copy.deepcopy(model)
        plan = trained.plan
        forward = [_Stopwatch(step) for step in plan.forward_steps]
        backward = [_Stopwatch(step) for step in plan.backward_steps]
        plan.forward_steps, plan.backward_steps = forward, backward
        plan.loss_and_gradient = loss = _Stopwatch(plan.loss_and_gradient)
        optimizer = trained.optimizer
        optimizer.apply_gradients = update = _Stopwatch(optimizer.apply_gradients)
        watches = forward + [loss] + backward + [update]
        totals = []
        for i in range(warmup + steps):
            if i == warmup:
                for watch in watches:
                    watch.seconds.clear()
            idx = np.arange(i * batch_size, (i + 1) * batch_size) % len(x)
            start = time.perf_counter()
            train_step(trained, x[idx], y[idx])
            totals.append(time.perf_counter() - start)
    finally:
        random.generator().bit_generator.state = random_state
    totals = totals[warmup:]
    rest = [total - sum(watch.seconds[i] for watch in watches)
            for i, total in enumerate(totals)]

    def ms(seconds):
        return 1e3 * median(seconds)

    numbers = iter(range(1, 1000))
    def step_row(section, watch):
        step = watch.call
        return Row(section, next(numbers), step.name,
                   " + ".join(layer.name for layer in step.layers), ms(watch.seconds),
                   step_flops(step, batch_size))

    rows = [step_row("forward", watch) for watch in forward]
    rows.append(Row("loss", next(numbers), plan.loss_step()[0], plan.loss.name,
                    ms(loss.seconds)))
    rows += [step_row("backward", watch) for watch in backward]
    rows.append(Row("optimizer", None, f"{optimizer.name} update",
                    f"{len(trained.trainable_variables)} weight arrays", ms(update.seconds)))
    rows.append(Row("rest", None, "regularizers, Python between steps", "", ms(rest)))
    return Profile(model.name, rows, ms(totals), batch_size, steps, warmup,
                   get_num_threads(), get_simd_path())
