"""2-D points coloured by cluster, with the cluster centres (chapter 15).

The course's clustering example groups people by height and weight without
being told who is who (15.2.1): each point gets the colour of its cluster,
each centre a black cross.
"""
import numpy as np

from ._figure import PANEL_INCHES, check_path, new_figure, numeric_array, optional_title, save


def clusters(points, labels, path, centers=None, title=None):
    """Save a scatter plot of 2-D points, one colour per label, centres marked.

    Args:
        points: (N, 2), e.g. (height, weight) per person.
        labels: (N,) integer cluster (or class) of each point.
        path: where to write the PNG.
        centers: optional (K, 2) cluster centres, drawn as black crosses.
        title: heading of the panel.

    Returns:
        the Path written.
    """
    check_path("clusters", path)
    points = numeric_array("clusters", "points", points, 2)
    if points.shape[1] != 2:
        raise ValueError(f"fastnn.plot.clusters: points must be (N, 2), got shape {points.shape}")
    labels = numeric_array("clusters", "labels", labels, 1)
    if len(labels) != len(points):
        raise ValueError(f"fastnn.plot.clusters: {len(points)} points but {len(labels)} labels")
    if np.any(labels != np.round(labels)):
        raise ValueError("fastnn.plot.clusters: labels must be whole numbers (cluster indices)")
    if centers is not None:
        centers = numeric_array("clusters", "centers", centers, 2)
        if centers.shape[1] != 2:
            raise ValueError(f"fastnn.plot.clusters: centers must be (K, 2), "
                             f"got shape {centers.shape}")
    title = optional_title("clusters", title)

    figure = new_figure(*PANEL_INCHES)
    ax = figure.subplots()
    for label in np.unique(labels):
        members = points[labels == label]
        ax.scatter(members[:, 0], members[:, 1], s=12, alpha=0.7, label=f"cluster {label:g}")
    if centers is not None:
        ax.scatter(centers[:, 0], centers[:, 1], marker="X", s=120, color="black",
                   edgecolors="white", label="centres")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return save(figure, path)
