"""Time series: a true sequence and a model's predictions of it, step by step (chapter 4)."""
from collections.abc import Mapping

from ._figure import PANEL_INCHES, check_path, new_figure, numeric_array, optional_title, save


def series(curves, path, title=None, xlabel="time step"):
    """Save one panel with a line per sequence, e.g. truth vs prediction.

    Args:
        curves: a dict {label: 1-D array}, e.g. {"truth": y, "LSTM": y_pred};
            the arrays may differ in length (each starts at step 0).
        path: where to write the PNG.
        title: heading above the panel.
        xlabel: what the horizontal axis counts.

    Returns:
        the Path written.
    """
    check_path("series", path)
    if not isinstance(curves, Mapping) or not curves:
        raise TypeError(f"fastnn.plot.series: curves must be a non-empty dict "
                        f"{{label: 1-D array}}, got {curves!r:.80}")
    lines = {str(label): numeric_array("series", f"curves[{label!r}]", values, ndims=1)
             for label, values in curves.items()}
    title = optional_title("series", title)
    width, height = PANEL_INCHES
    figure = new_figure(2 * width, height + (0.4 if title else 0.0))
    ax = figure.subplots()
    for label, values in lines.items():
        ax.plot(range(len(values)), values, label=label, linewidth=1.2)
    ax.set_xlabel(xlabel)
    ax.grid(alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    return save(figure, path)
