"""What every picture shares: loading matplotlib lazily, checking inputs, saving a PNG.

matplotlib is optional (``pip install fastnn[plot]``), so nothing here
imports it at module level: ``import fastnn.plot`` always works, and each
drawing function asks for a figure only when it runs.  Figures are plain
``matplotlib.figure.Figure`` objects drawn by the Agg (PNG) canvas: no
window ever opens and pyplot's global list of figures is never touched, so
a saved figure is simply dropped (garbage collected) afterwards.
"""
import importlib
import math
import numbers
import os
import textwrap
from pathlib import Path

import numpy as np

from ..arrays import real_array

MISSING_MATPLOTLIB = "fastnn.plot needs matplotlib: pip install fastnn[plot]"

TILE_INCHES = 1.6   # size of one image tile in a grid
CHARS_PER_INCH = 8  # of a heading in the default font size
PANEL_INCHES = (5.0, 3.6)   # size of one chart panel (width, height)
DPI = 100


def available():
    """True when matplotlib can be imported (then every ``fastnn.plot`` function works)."""
    try:
        importlib.import_module("matplotlib")
    except ImportError:
        return False
    return True


def new_figure(width, height, constrained=True):
    """A ``Figure`` of ``width`` x ``height`` inches on an Agg canvas (no window, no pyplot).

    ``constrained=True`` lets matplotlib space the panels, labels and
    legends itself; grids of many tiles are placed by hand instead, which
    draws several times faster.

    Raises:
        ImportError: matplotlib is not installed (the message says how to get it).
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as err:
        raise ImportError(MISSING_MATPLOTLIB) from err
    figure = Figure(figsize=(width, height), dpi=DPI,
                    layout="constrained" if constrained else None)
    FigureCanvasAgg(figure)
    return figure


def save(figure, path):
    """Write ``figure`` as a PNG to ``path`` (parent folders are created); returns the Path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", dpi=DPI)
    figure.clear()   # free the artists now; the figure object itself is not registered anywhere
    return path


def check_path(function, path):
    """``path`` must be a str or os.PathLike (checked before any drawing starts)."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"fastnn.plot.{function}: path must be a str or os.PathLike, "
                        f"got {type(path).__name__}")


def numeric_array(function, name, value, ndims=None, finite=True):
    """``value`` as a non-empty float array of real numbers with ``ndims`` dimensions.

    ``ndims`` is an int or a tuple of allowed dimension counts (None: any).
    ``finite=False`` lets NaN and infinity through: a curve shows them as a
    gap (a loss that exploded), while a histogram or an image cannot.
    """
    array = real_array(value, f"fastnn.plot.{function}: {name}")
    allowed = (ndims,) if isinstance(ndims, int) else ndims
    if allowed is not None and array.ndim not in allowed:
        wanted = " or ".join(f"{n}-D" for n in allowed)
        raise ValueError(f"fastnn.plot.{function}: {name} must be {wanted}, "
                         f"got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"fastnn.plot.{function}: {name} is empty (shape {array.shape})")
    array = array.astype(np.float64)
    if finite and not np.all(np.isfinite(array)):
        raise ValueError(f"fastnn.plot.{function}: {name} contains NaN or infinite values")
    return array


def optional_title(function, title):
    """None or a string."""
    if title is not None and not isinstance(title, str):
        raise TypeError(f"fastnn.plot.{function}: title must be a string or None, "
                        f"got {type(title).__name__}")
    return title


def grid_shape(function, count, ncols=None):
    """(rows, cols) for ``count`` tiles: ``ncols`` columns, by default a near-square grid."""
    if ncols is None:
        ncols = math.ceil(math.sqrt(count))
    elif isinstance(ncols, bool) or not isinstance(ncols, numbers.Integral) or ncols < 1:
        raise ValueError(f"fastnn.plot.{function}: ncols must be a positive int or None, "
                         f"got {ncols!r}")
    ncols = min(int(ncols), count)
    return math.ceil(count / ncols), ncols


def draw_tiles(tiles, path, grid, titles=None, title=None, **imshow):
    """Draw 2-D (or H x W x 3) arrays as a ``grid`` = (rows, cols) of tiles; save to ``path``.

    ``imshow`` keyword arguments (cmap, vmin, vmax) apply to every tile.
    With a shared ``vmin``/``vmax`` a colour bar is added, since then a
    colour means the same number in every tile.  Returns the saved Path.
    """
    rows, cols = grid
    shared_scale = "vmin" in imshow
    width = cols * TILE_INCHES + (0.8 if shared_scale else 0.0)
    if title:   # a narrow grid gets its heading on several lines
        title = textwrap.fill(title, max(16, int(width * CHARS_PER_INCH)))
    heading = (0.25 if titles is not None else 0.05) + (   # inches above the top row
        0.35 + 0.22 * title.count("\n") if title else 0.0)
    height = rows * TILE_INCHES + heading
    figure = new_figure(width, height, constrained=False)
    axes = figure.subplots(rows, cols, squeeze=False)
    figure.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=1 - heading / height,
                           wspace=0.1, hspace=0.3 if titles is not None else 0.1)
    picture = None
    for index, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if index < len(tiles):
            picture = ax.imshow(tiles[index], interpolation="nearest", **imshow)
            if titles is not None:
                ax.set_title(titles[index], fontsize=8)
    if shared_scale:
        figure.colorbar(picture, ax=axes, shrink=0.8)
    if title:
        figure.suptitle(title, y=1 - 0.08 / height, va="top")
    return save(figure, path)
