"""Pictures made of image tiles: images, convolution filters, feature maps (chapters 17, 19).

A convolutional layer's filters are small images of weights, and what it
outputs, one feature map per filter, are images too (course, 19.2-19.3):
all three are drawn as a grid of tiles without axes.
"""
import numpy as np

from ._figure import check_path, draw_tiles, grid_shape, numeric_array, optional_title


def images(images, path, titles=None, ncols=None, title=None):
    """Save a grid of images as a PNG.

    Args:
        images: (N, H, W) or (N, H, W, 1) grey images, or (N, H, W, 3)
            colour images.  Grey tiles are scaled to their own darkest and
            brightest pixel.  Colour values in [0, 1] or [0, 255] are shown
            as they are; others are stretched to [0, 1] over the whole batch.
        path: where to write the PNG (parent folders are created).
        titles: one caption per image, e.g. the class names, or None.
        ncols: columns of the grid; default a near-square grid.
        title: heading above the grid.

    Returns:
        the Path written.
    """
    check_path("images", path)
    array = numeric_array("images", "images", images, (3, 4))
    if array.ndim == 4 and array.shape[-1] not in (1, 3):
        raise ValueError(f"fastnn.plot.images: images must have 1 (grey) or 3 (RGB) channels "
                         f"in the last axis, got shape {array.shape}")
    if titles is not None:
        titles = [str(t) for t in titles]
        if len(titles) != len(array):
            raise ValueError(f"fastnn.plot.images: {len(array)} images but {len(titles)} titles")
    grid = grid_shape("images", len(array), ncols)
    title = optional_title("images", title)
    if array.ndim == 3 or array.shape[-1] == 1:
        return draw_tiles(list(array.reshape(array.shape[:3])), path, grid, titles, title,
                          cmap="gray")
    return draw_tiles(list(_colours_in_unit_range(array)), path, grid, titles, title)


def _colours_in_unit_range(rgb):
    """RGB values as floats in [0, 1], which is what matplotlib shows without clipping."""
    low, high = rgb.min(), rgb.max()
    if low >= 0 and high <= 1:
        return rgb
    if low >= 0 and high <= 255:
        return rgb / 255.0
    return (rgb - low) / ((high - low) or 1.0)   # a constant image stays constant


def filters(kernel, path, title=None):
    """Save a Conv2D kernel as a grid of filters (course, 19.2.2 and 19.3).

    One tile per (input channel, output filter) pair, filter by filter.  The
    colour map is diverging and centred on 0 with the same scale for every
    tile: positive weights red, negative blue, zero white, so a learned edge
    detector shows its light-dark boundary.

    Args:
        kernel: (kernel_height, kernel_width, in_channels, out_channels), the
            Keras Conv2D layout (``layer.get_weights()[0]``).
        path: where to write the PNG.
        title: heading above the grid.

    Returns:
        the Path written.
    """
    check_path("filters", path)
    kernel = numeric_array("filters", "kernel", kernel, 4)
    _, _, channels_in, channels_out = kernel.shape
    tiles, titles = [], []
    for out in range(channels_out):
        for channel in range(channels_in):
            tiles.append(kernel[:, :, channel, out])
            titles.append(f"filter {out}" if channels_in == 1 else f"filter {out}, in {channel}")
    limit = float(np.abs(kernel).max()) or 1.0
    return draw_tiles(tiles, path, grid_shape("filters", len(tiles)), titles,
                      optional_title("filters", title), cmap="RdBu_r", vmin=-limit, vmax=limit)


def feature_maps(maps, path, title=None):
    """Save the output channels of a convolution, one tile per channel (course, 19.2.4).

    Each channel is the feature map of one filter, scaled to its own range:
    the brightest pixels are where the filter found its pattern.

    Args:
        maps: (H, W, C), or (1, H, W, C) as a layer outputs for one image.
        path: where to write the PNG.
        title: heading above the grid.

    Returns:
        the Path written.
    """
    check_path("feature_maps", path)
    maps = numeric_array("feature_maps", "maps", maps, (3, 4))
    if maps.ndim == 4:
        if maps.shape[0] != 1:
            raise ValueError(f"fastnn.plot.feature_maps: maps of one image are (H, W, C) or "
                             f"(1, H, W, C), got a batch of {maps.shape[0]}: pass maps[i]")
        maps = maps[0]
    channels = maps.shape[-1]
    return draw_tiles([maps[:, :, c] for c in range(channels)], path,
                      grid_shape("feature_maps", channels),
                      [f"channel {c}" for c in range(channels)],
                      optional_title("feature_maps", title), cmap="gray")
