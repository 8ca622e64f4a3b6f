"""Activation functions and their derivatives as curves (chapter 5; chapter 23 for the slopes).

The curves are computed by fastnn itself: ``Activation.forward`` for f(x)
and ``Activation.backward`` with dLoss/dy = 1 for f'(x), so the picture
shows exactly what a layer uses in training.  The right panel explains
chapter 23: sigmoid's slope never exceeds 0.25, relu's is 1 for every
positive input.
"""
import math
import numbers

import numpy as np

from .. import activations
from ._figure import PANEL_INCHES, check_path, new_figure, save

SAMPLES = 801   # points per curve: enough to show relu's kink sharply


def activation_functions(names, path, x_range=(-5, 5)):
    """Save two panels: each activation f(x) on the left, its derivative f'(x) on the right.

    Args:
        names: an activation name or names from ``fastnn.activations``,
            e.g. ("sigmoid", "tanh", "relu").  softmax is not drawn: it
            mixes a whole vector, so it has no curve of one variable.
        path: where to write the PNG.
        x_range: (low, high), the inputs shown.

    Returns:
        the Path written.
    """
    check_path("activation_functions", path)
    names = (names,) if isinstance(names, str) else tuple(names)
    if not names:
        raise ValueError("fastnn.plot.activation_functions: names is empty; "
                         "give e.g. ('sigmoid', 'relu')")
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"fastnn.plot.activation_functions: names must be strings such as "
                            f"'relu', got {name!r}")
    chosen = [activations.get(name) for name in names]   # ValueError for unknown names
    for activation in chosen:
        if activation.name == "softmax":
            raise ValueError("fastnn.plot.activation_functions: softmax is not element-wise "
                             "(each output depends on the whole vector), so it has no curve")
    x = np.linspace(*_checked_range(x_range), SAMPLES)

    width, height = PANEL_INCHES
    figure = new_figure(2 * width, height)
    value_ax, slope_ax = figure.subplots(1, 2)
    for name, activation in zip(names, chosen):
        y = activation.forward(x)
        value_ax.plot(x, y, label=name)
        slope_ax.plot(x, activation.backward(x, y, np.ones_like(x)), label=name)
    for ax, label in ((value_ax, "f(x)"), (slope_ax, "f'(x)")):
        ax.axhline(0.0, color="grey", linewidth=0.6)
        ax.axvline(0.0, color="grey", linewidth=0.6)
        ax.set_xlabel("x")
        ax.set_title(label)
        ax.grid(alpha=0.3)
        ax.legend()
    return save(figure, path)


def _checked_range(x_range):
    try:
        low, high = x_range
    except (TypeError, ValueError):
        raise ValueError(f"fastnn.plot.activation_functions: x_range must be a pair "
                         f"(low, high), got {x_range!r}") from None
    for value in (low, high):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) \
                or not math.isfinite(value):
            raise ValueError(f"fastnn.plot.activation_functions: x_range must hold two finite "
                             f"numbers, got {x_range!r}")
    if not low < high:
        raise ValueError(f"fastnn.plot.activation_functions: x_range must have low < high, "
                         f"got {x_range!r}")
    return float(low), float(high)
