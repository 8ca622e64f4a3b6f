"""Per-layer gradient norms over training: vanishing and exploding gradients (chapter 23).

The gradient of an early layer's weights is a product of many factors from
the layers after it (course, 23.2.1.1).  Factors below 1 (sigmoid's slope is
at most 0.25) make it shrink layer by layer towards the input: on a log
scale the layers' curves then stand apart like steps of a staircase.
Factors above 1 make it explode instead.
"""
from collections.abc import Mapping

import numpy as np

from ._figure import PANEL_INCHES, check_path, new_figure, numeric_array, optional_title, save


def gradient_stats(stats, path, title=None):
    """Save the gradient norm of each layer against the training step, log y-axis.

    Args:
        stats: a ``fastnn.callbacks.GradientStats`` after ``fit``, or its
            ``record``: {"step": [...], "norms": {layer name: [...]}} with one
            norm per recorded step for each layer, ordered input to output.
        path: where to write the PNG.
        title: heading of the panel.

    Returns:
        the Path written.  Lines run from dark (the input layer) to light
        (the output layer).  Norms of 0, NaN or infinity leave gaps.
    """
    check_path("gradient_stats", path)
    steps, norms = _checked_record(getattr(stats, "record", stats))
    title = optional_title("gradient_stats", title)

    width, height = PANEL_INCHES
    figure = new_figure(width * 1.4, height * 1.2)
    from matplotlib import colormaps   # matplotlib is importable: new_figure succeeded
    shades = colormaps["viridis"](np.linspace(0.0, 0.85, len(norms)))
    marker = "o" if len(steps) < 30 else None   # a few steps: show the points themselves
    ax = figure.subplots()
    for shade, (layer, values) in zip(shades, norms.items()):
        ax.plot(steps, values, color=shade, marker=marker, markersize=3, label=layer)
    ax.set_yscale("log")
    ax.set_xlabel("training step (batch)")
    ax.set_ylabel("L2 norm of the kernel gradient")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))   # beside the lines
    if title:
        ax.set_title(title)
    return save(figure, path)


def _checked_record(record):
    """(steps, {layer: norms}) from a GradientStats record, every list as long as the steps."""
    if not (isinstance(record, Mapping) and "step" in record and "norms" in record
            and isinstance(record["norms"], Mapping)):
        raise TypeError("fastnn.plot.gradient_stats: stats must be a GradientStats callback or "
                        "its record {'step': [...], 'norms': {layer: [...]}}, "
                        f"got {type(record).__name__}")
    if not record["norms"]:
        raise ValueError("fastnn.plot.gradient_stats: the record has no layers (was the "
                         "callback passed to fit? does the model have trainable kernels?)")
    steps = numeric_array("gradient_stats", "step", record["step"], 1)
    norms = {}
    for layer, values in record["norms"].items():
        values = numeric_array("gradient_stats", f"norms[{layer!r}]", values, 1, finite=False)
        if len(values) != len(steps):
            raise ValueError(f"fastnn.plot.gradient_stats: {len(steps)} steps but "
                             f"{len(values)} norms for layer {layer!r}")
        if np.any(values < 0):
            raise ValueError(f"fastnn.plot.gradient_stats: norms[{layer!r}] has negative "
                             f"values; a norm is >= 0")
        norms[str(layer)] = values
    return steps, norms
