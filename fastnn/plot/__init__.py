"""Pictures of what a net does and learns, saved as PNG files (optional: needs matplotlib).

Install the extra with ``pip install fastnn[plot]``.  ``import fastnn.plot``
works without it; each drawing function then raises ImportError saying how
to install it, and ``available()`` says in advance whether pictures can be
drawn.  Every function checks its input (ValueError/TypeError naming what
was wrong), writes a PNG to ``path`` (creating parent folders) and returns
that path as a ``pathlib.Path``.  No window opens: figures are drawn
off-screen by matplotlib's Agg canvas, and pyplot is never used.

==========================  =======================================  =========
function                    draws                                    chapter
==========================  =======================================  =========
``history``                 training vs validation curves            10, 12-13
``activation_functions``    activations and their derivatives        5, 23
``images``                  a grid of grey or colour images          17, 19
``filters``                 a Conv2D kernel, one tile per filter     19
``feature_maps``            a convolution's output channels          19
``gradient_stats``          per-layer gradient norms (log scale)     23
``weight_histograms``       histograms of weight arrays              24
``clusters``                2-D points coloured by cluster           15
``series``                  sequences, e.g. truth vs prediction      4
==========================  =======================================  =========

Example:
    >>> import fastnn.plot
    >>> history = model.fit(x, y, validation_split=0.2, epochs=20)
    >>> if fastnn.plot.available():
    ...     fastnn.plot.history(history, "output/loss.png", metrics=("loss", "accuracy"))
"""
from ._figure import available
from .activation_curves import activation_functions
from .cluster_scatter import clusters
from .gradient_norms import gradient_stats
from .image_grids import feature_maps, filters, images
from .series import series
from .training_curves import history
from .weight_distributions import weight_histograms

__all__ = ["activation_functions", "available", "clusters", "feature_maps", "filters",
           "gradient_stats", "history", "images", "series", "weight_histograms"]
