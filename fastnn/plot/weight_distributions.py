"""Histograms of weight values: how an initializer spreads them (chapter 24).

N(0, 1) weights give a node with n inputs a weighted sum of variance n;
Glorot (variance 1/n) and He (2/n) keep it near 1 (course, 24.1-24.2).  Side
by side, the histograms show how much narrower the scaled ones are.
"""
from collections.abc import Mapping

from ._figure import PANEL_INCHES, check_path, new_figure, numeric_array, optional_title, save

BINS = 50


def weight_histograms(arrays, path, title=None, sharex=True):
    """Save one histogram per array, each titled with its label, mean and standard deviation.

    Args:
        arrays: {label: array}, e.g. {"random_normal(0, 1)": w1, "glorot_uniform": w2};
            any shape (all entries are counted); also activations or sums z.
        path: where to write the PNG.
        title: heading above the panels.
        sharex: one value axis for all panels, so a narrow distribution
            looks narrow next to a wide one (False: each panel fits its data).

    Returns:
        the Path written.
    """
    check_path("weight_histograms", path)
    if not isinstance(arrays, Mapping):
        raise TypeError(f"fastnn.plot.weight_histograms: arrays must be a dict "
                        f"{{label: array}}, got {type(arrays).__name__}")
    if not arrays:
        raise ValueError("fastnn.plot.weight_histograms: arrays is empty")
    values = {str(label): numeric_array("weight_histograms", f"arrays[{label!r}]", array).ravel()
              for label, array in arrays.items()}
    title = optional_title("weight_histograms", title)

    width, height = PANEL_INCHES
    figure = new_figure(width * 0.8 * len(values), height + (0.4 if title else 0.0))
    panels = figure.subplots(1, len(values), squeeze=False, sharex=bool(sharex))[0]
    for ax, (label, data) in zip(panels, values.items()):
        ax.hist(data, bins=BINS, color="tab:blue", alpha=0.8)
        ax.set_title(f"{label}\nmean {data.mean():.3g}, std {data.std():.3g}", fontsize=9)
        ax.set_xlabel("value")
        ax.grid(alpha=0.3)
    if title:
        figure.suptitle(title)
    return save(figure, path)
