"""Gradient checking: does backpropagation compute the true gradient? (course, chapter 22)

Backpropagation (chapter 22) gives dLoss/dw for every weight w in one
backward pass, by the chain rule, layer by layer.  A gradient check tests
that against the definition of the derivative: nudge one weight by ±ε, run
the model forward twice, and take the slope of the loss,

    dLoss/dw ≈ (Loss(w + ε) − Loss(w − ε)) / 2ε      (central difference).

If backprop and this slope agree for many weights, the backward passes are
right.  ``gradient_check(model, x, y)`` does this for every trainable weight
of a compiled model and returns a ``GradientCheckReport``;
``print(report)`` shows one line per weight.

What the check compares, and why (the model computes in float32):

- The analytic gradient is the one training uses:
  ``training.compute_gradients`` runs on (x, y) as one batch — forward
  pass, loss plus regularization penalties, the fused softmax/sigmoid +
  crossentropy gradient where it applies, backward pass — with the forward
  pass in inference mode, and no optimizer step.  Inference mode makes
  the loss a fixed function of the weights, which finite differences need:
  Dropout passes everything through (in training its random mask would
  change between the two forward passes) and BatchNormalization normalises
  with its moving statistics (in training it would also update them).
- The loss values are float64 sums of the float32 outputs, and the step is
  the float64 difference of the two float32 weight values actually used
  (w ± ε rounded to float32), so only the forward passes are float32.
- Their rounding limits the check: the loss is known to about one float32
  unit in the last place, ulp = 2⁻²³·|L| ≈ 1.2e-7·|L|, so the slope has an
  error of about ulp / 2ε, while the central difference's own error is only
  ε²·f'''/6.  A larger ε would shrink the rounding error, but ReLU and max
  pooling have kinks — points where the slope jumps — and the larger the
  step, the more of them it crosses: a first-layer convolution weight moves
  thousands of pre-activations at once.  ε = 3e-4 balances the two (with
  ε = 1e-3 the kinks made 4 of 300 small correct models fail).
- The measure is the relative error |a − b| / max(|a| + |b|, tiny) of the
  backprop value a and the finite difference b.  ``tiny`` is the slope two
  ulps of the loss make over the step 2ε, divided by the threshold: a
  difference below that float32 noise never counts as a failure (and
  gradients far below it cannot be checked).
- Kinks.  At a kink the loss has two slopes; the central difference mixes
  them, backprop (like Keras) takes one (ReLU'(0) = 0, the first maximum of
  a pooling window).  When the central difference misses and the one-sided
  slopes (L(w+ε) − L(w))/ε and (L(w) − L(w−ε))/ε differ by more than the
  rounding noise, the step crossed a kink: the entry passes if backprop
  matches one of them, else it is tried again with the step ε/4, which
  crosses fewer kinks.  The report counts the entries rescued so
  ("kinks"), and skips those that still found no smooth stretch
  ("skipped"): there the finite differences measure no slope at all.  A
  weight whose entries were all skipped gets no verdict.
- A weight passes when the largest relative error of its compared entries
  is at most ``threshold`` (default 5e-2).  A float32 check cannot be as
  tight as the 1e-7 of float64 textbooks, but a real bug is far above it: a
  forgotten factor 2 gives 1/3, a flipped kernel or a forgotten activation
  derivative 0.2-1.  With these settings no correct model failed among 300
  random small ReLU/max-pooling MLPs and CNNs and 40 Fashion-MNIST CNNs
  trained for one epoch.
- Check a model that has trained a little.  Right after initialization the
  biases are exactly 0, and on inputs with exact zeros (the black background
  of Fashion-MNIST) every such pixel puts a ReLU exactly on its kink: the
  loss is then so rough that a correct model can fail (6 of those 40 CNNs
  did, before training).

Reading a failure: a wrong weight gradient fails only its own layer; a
wrong input gradient (dLoss/dx) fails every layer below it, because the
chain rule carries the error down.  So the bug sits in the highest failing
layer's weight gradient or in the input gradient of the layer above it.
"""
import math
import numbers
from dataclasses import dataclass

import numpy as np

from . import random

EPSILON = 3e-4
THRESHOLD = 5e-2
MAX_CHECKS_PER_WEIGHT = 20
RETRY_FACTOR = 0.25  # an entry that fails with the step ε gets a second try with ε/4
_ULP = 2.0 ** -23    # float32 spacing of numbers in [1, 2)


@dataclass(frozen=True)
class WeightCheck:
    """The check of one weight array.

    Attributes:
        layer, weight: names, e.g. "conv2d" and "kernel".
        shape: of the weight.
        checked: how many of its entries were drawn for the check.
        max_relative_error: the largest relative error among the compared
            ones (NaN when every entry was skipped).
        kinks: entries whose step crossed a kink and that passed with a
            one-sided slope or the smaller step.
        skipped: entries with kinks inside both steps, left out: there the
            finite differences measure no slope that backprop could match.
        passed: at least one entry compared, and max_relative_error <= the
            report's threshold.
        worst_index: the compared entry with the largest error (None if
            none); ``backprop`` and ``numerical`` are its two gradients.
    """
    layer: str
    weight: str
    shape: tuple
    checked: int
    max_relative_error: float
    kinks: int
    skipped: int
    passed: bool
    worst_index: tuple
    backprop: float
    numerical: float

    @property
    def size(self):
        return math.prod(self.shape)

    @property
    def verdict(self):
        """"ok", "FAILED", or "no verdict" (every entry skipped)."""
        if self.passed:
            return "ok"
        return "no verdict" if self.skipped == self.checked else "FAILED"


@dataclass(frozen=True)
class GradientCheckReport:
    """What ``gradient_check`` found: one ``WeightCheck`` per trainable weight.

    Attributes:
        checks: the WeightChecks, in the order of ``model.trainable_weights``.
        loss: the loss (plus penalties) at the unchanged weights.
        epsilon, threshold: the settings used.
        passed: True when every weight passed.
        failures: the WeightChecks whose verdict is "FAILED".
    """
    checks: tuple
    loss: float
    epsilon: float
    threshold: float

    @property
    def passed(self):
        return all(check.passed for check in self.checks)

    @property
    def failures(self):
        return [check for check in self.checks if check.verdict == "FAILED"]

    def __str__(self):
        header = ("layer", "weight", "shape", "checked", "max rel. error", "kinks", "skipped",
                  "result")
        rows = [(c.layer, c.weight, str(c.shape), f"{c.checked} of {c.size}",
                 f"{c.max_relative_error:.1e}", str(c.kinks), str(c.skipped), c.verdict)
                for c in self.checks]
        widths = [max(len(row[i]) for row in [header] + rows) for i in range(len(header))]
        lines = [f"Gradient check: backprop vs central differences "
                 f"(epsilon {self.epsilon:.0e}, threshold {self.threshold:.0e})"]
        lines += ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
                  for row in [header] + rows]
        failures = self.failures
        undecided = [c for c in self.checks if c.verdict == "no verdict"]
        if failures:
            names = ", ".join(f"{c.layer}/{c.weight}" for c in failures)
            lines.append(f"{len(failures)} of {len(self.checks)} weights FAILED: {names}")
        elif not undecided:
            lines.append(f"All {len(self.checks)} weights passed.")
        if undecided:
            names = ", ".join(f"{c.layer}/{c.weight}" for c in undecided)
            lines.append(f"No verdict (kinks at every checked entry) for: {names}")
        return "\n".join(lines)


def gradient_check(model, x, y, *, epsilon=EPSILON, threshold=THRESHOLD,
                   max_checks_per_weight=MAX_CHECKS_PER_WEIGHT, seed=None, verbose=False):
    """Compare backprop's gradients with finite differences, weight by weight.

    Uses (x, y) as one batch, so a few samples (8-32) are enough: each
    checked entry costs two forward passes over all of x.  The model's
    weights and gradients are the same afterwards as before.

    Args:
        model: a compiled model (the loss and penalties come from it).
        x, y: inputs and labels, as for ``model.fit``.
        epsilon: the step ε of the central difference (see the module
            docstring for why 3e-4 suits float32).
        threshold: the largest relative error that passes, in (0, 1)
            (see the module docstring for why 5e-2).
        max_checks_per_weight: compare at most this many entries of each
            weight, drawn at random without repeats; None checks them all.
        seed: for drawing the entries; None draws from fastnn's generator
            (``fastnn.utils.set_random_seed``).
        verbose: print each weight's line as soon as it is checked.

    Returns:
        a GradientCheckReport; ``print(report)`` gives the table,
        ``report.passed`` the verdict (True when every weight passed),
        ``report.checks`` the numbers.

    Raises:
        TypeError: ``model`` is not a model.
        RuntimeError: the model is not compiled.
        ValueError: bad x or y, no trainable weights, or a bad setting.
    """
    # imported here: fastnn.utils re-exports gradient_check and is imported before fastnn.models
    from .models import training
    from .models.data import as_array, as_inputs, check_lengths

    if not all(hasattr(model, name)
               for name in ("layers", "forward", "backward", "trainable_weights")):
        raise TypeError(f"gradient_check: expected a fastnn model, got {model!r}")
    if getattr(model, "loss", None) is None:
        raise RuntimeError("gradient_check: the model must be compiled first: "
                           "call model.compile(optimizer, loss)")
    epsilon = _positive_number("epsilon", epsilon, below=1.0)
    threshold = _positive_number("threshold", threshold, below=1.0)
    if max_checks_per_weight is not None and (
            isinstance(max_checks_per_weight, bool)
            or not isinstance(max_checks_per_weight, numbers.Integral)
            or max_checks_per_weight < 1):
        raise ValueError(f"gradient_check: max_checks_per_weight must be a positive int or "
                         f"None (all entries), got {max_checks_per_weight!r}")
    rng = random.own_generator(seed, "gradient_check") or random.generator()

    x = as_array(x, "x")
    if not model.built:
        model.build((None,) + (x.shape[1:] if x.ndim > 1 else (1,)))
    x = as_inputs(x, model.batch_input_shape, model.layers[0].name)
    y = as_array(y, "y")
    check_lengths(x, y)
    if len(x) == 0:
        raise ValueError("gradient_check: x and y are empty; give a few samples")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("gradient_check: x and y must be finite (no NaN or inf)")
    variables = model.trainable_weights
    if not variables:
        raise ValueError(f"gradient_check: model {model.name!r} has no trainable weights")
    owners = {id(v): layer.name for layer in model.layers for v in layer.trainable_weights}

    def loss_now():
        return (float(model.loss(y, model.forward(x, training=False)))
                + training.regularization_loss(model))

    saved_grads = [v.grad for v in variables]
    try:
        loss, _ = training.compute_gradients(model, x, y, training=False)
        backprop = [np.array(v.grad, np.float64) for v in variables]
    finally:
        for variable, grad in zip(variables, saved_grads):
            variable.grad = grad
    checks = []
    for variable, grad in zip(variables, backprop):
        indices = _entries(variable.value.size, max_checks_per_weight, rng)
        check = _check_weight(owners[id(variable)], variable, grad, indices, loss, loss_now,
                              epsilon, threshold)
        if verbose:
            print(f"{check.layer}/{check.weight}: max relative error "
                  f"{check.max_relative_error:.1e} over {check.checked - check.skipped} "
                  f"entries, {check.verdict}")
        checks.append(check)
    return GradientCheckReport(tuple(checks), loss, epsilon, threshold)


def _check_weight(layer, variable, grad, indices, loss, loss_now, epsilon, threshold):
    """The WeightCheck of one variable at the given flat indices."""
    flat = variable.value.reshape(-1)
    worst = (-1.0, None, math.nan)
    kinks = skipped = 0
    for i in indices:
        kinked = False
        for step in (epsilon, epsilon * RETRY_FACTOR):
            error, numerical, kink = _check_entry(flat, i, grad.flat[i], loss, loss_now, step,
                                                  threshold, f"{layer}/{variable.name}")
            kinked = kinked or kink
            if error <= threshold:
                break
        if error <= threshold:
            kinks += kinked or step < epsilon
        elif kinked:   # no step found a smooth stretch: finite differences say nothing here
            skipped += 1
            continue
        if error > worst[0]:
            worst = (error, i, numerical)
    error, i, numerical = worst
    compared = i is not None
    return WeightCheck(layer, variable.name, tuple(variable.shape), len(indices),
                       float(error) if compared else math.nan, int(kinks), skipped,
                       compared and bool(error <= threshold),
                       tuple(int(k) for k in np.unravel_index(i, grad.shape)) if compared else None,
                       float(grad.flat[i]) if compared else math.nan, float(numerical))


def _check_entry(flat, i, backprop, loss, loss_now, step, threshold, where):
    """(relative error, finite difference, whether the step crossed a kink) of entry i.

    The finite difference is the central one, or at a kink the one-sided
    slope closer to backprop when that agrees better."""
    original = float(flat[i])
    try:
        flat[i] = original + step
        up, w_up = loss_now(), float(flat[i])
        flat[i] = original - step
        down, w_down = loss_now(), float(flat[i])
    finally:
        flat[i] = original
    if not w_down < original < w_up:
        raise ValueError(f"gradient_check: a step of {step:.1e} does not change the float32 "
                         f"weight {original} of {where}; use a larger epsilon")
    noise = _ULP * abs(loss) / step   # two float32 ulps of the loss over the step 2·step
    tiny = max(noise / threshold, np.finfo(np.float64).tiny)
    central = (up - down) / (w_up - w_down)
    error = _relative_error(backprop, central, tiny)
    if error <= threshold:
        return error, central, False
    right = (up - loss) / (w_up - original)
    left = (loss - down) / (original - w_down)
    if abs(right - left) <= 4 * noise:   # the slopes agree up to rounding: no kink
        return error, central, False
    tiny *= 2   # a one-sided slope divides by ε, not 2ε: twice the rounding error
    side = right if abs(backprop - right) < abs(backprop - left) else left
    side_error = _relative_error(backprop, side, tiny)
    return (side_error, side, True) if side_error < error else (error, central, True)


def _relative_error(a, b, tiny):
    return abs(a - b) / max(abs(a) + abs(b), tiny)


def _entries(size, max_checks, rng):
    """Flat indices to check: all of them, or ``max_checks`` distinct ones at random."""
    if max_checks is None or size <= max_checks:
        return np.arange(size)
    return np.sort(rng.choice(size, size=max_checks, replace=False))


def _positive_number(name, value, below):
    if (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or not 0 < value < below):
        raise ValueError(f"gradient_check: {name} must be a number in (0, {below}), "
                         f"got {value!r}")
    return float(value)
