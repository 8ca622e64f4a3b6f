"""Training curves: a metric per epoch on the training and validation data (chapters 10, 12, 13).

How over- and underfitting look (course, 12.1 and 13.2): when the training
loss keeps falling while the validation loss stalls or rises, the net is
memorising the training set (overfitting); when both stay high, it cannot
even fit the training data (underfitting).
"""
from collections.abc import Mapping

from ._figure import PANEL_INCHES, check_path, new_figure, numeric_array, optional_title, save


def history(history, path, metrics=("loss",), title=None):
    """Save one panel per metric: training vs validation value per epoch.

    Args:
        history: what ``model.fit`` returns (a ``History``, whose ``.history``
            dict is used) or such a dict, e.g. {"loss": [...], "val_loss": [...]}.
        path: where to write the PNG.
        metrics: a name or names, e.g. ("loss", "accuracy"); each panel also
            draws "val_<name>" when the history has it.
        title: heading above the panels.

    Returns:
        the Path written.
    """
    check_path("history", path)
    logs = getattr(history, "history", history)
    if not isinstance(logs, Mapping):
        raise TypeError(f"fastnn.plot.history: history must be a History (from model.fit) or "
                        f"a dict of per-epoch lists, got {type(history).__name__}")
    metrics = (metrics,) if isinstance(metrics, str) else tuple(metrics)
    if not metrics:
        raise ValueError("fastnn.plot.history: metrics is empty; name at least one, e.g. 'loss'")
    curves = [_curves_of(logs, metric) for metric in metrics]
    title = optional_title("history", title)

    width, height = PANEL_INCHES
    figure = new_figure(width * len(metrics), height + (0.4 if title else 0.0))
    from matplotlib.ticker import MaxNLocator   # importable: new_figure succeeded
    for ax, metric, panel in zip(figure.subplots(1, len(metrics), squeeze=False)[0],
                                 metrics, curves):
        for label, values in panel.items():
            epochs = range(1, len(values) + 1)
            ax.plot(epochs, values, marker="o", markersize=3, label=label)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        figure.suptitle(title)
    return save(figure, path)


def _curves_of(logs, metric):
    """{"training": values, "validation": values} of one metric (validation when logged)."""
    if metric not in logs:
        raise ValueError(f"fastnn.plot.history: no {metric!r} in the history; it has "
                         f"{', '.join(map(repr, logs)) or 'nothing (was fit run?)'}")
    curves = {"training": numeric_array("history", metric, logs[metric], 1, finite=False)}
    validation = f"val_{metric}"
    if validation in logs:
        curves["validation"] = numeric_array("history", validation, logs[validation], 1,
                                               finite=False)
        if len(curves["validation"]) != len(curves["training"]):
            raise ValueError(f"fastnn.plot.history: {metric!r} has {len(curves['training'])} "
                             f"epochs but {validation!r} has {len(curves['validation'])}")
    return curves
