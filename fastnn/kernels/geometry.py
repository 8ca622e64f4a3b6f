"""Where a sliding window sits: output sizes and padding of conv and pooling.

The one shared shape helper (as Keras has ``compute_conv_output_shape``):
the kernels, their NumPy references and the layers all ask this module, so
they cannot disagree about an output size.

Course, chapter 20: an n x n image and an f x f filter give an
(n - f + 1) x (n - f + 1) output with ``padding="valid"``; ``"same"`` pads
with zeros so that the output keeps the input size (divided by the stride,
rounded up).  Keras splits the padding like this (the extra row or column,
if any, goes to the bottom/right)::

    out       = ceil(size / stride)
    pad_total = max((out - 1) * stride + kernel - size, 0)
    before    = pad_total // 2
    after     = pad_total - before
"""
from dataclasses import dataclass
from functools import lru_cache

PADDINGS = ("valid", "same")

# fastnn keeps images channels last (NHWC): the axes a layer's input has, by
# how many axes its window slides over
INPUT_AXES = {1: "(batch, steps, channels)", 2: "(batch, height, width, channels)",
              3: "(batch, depth, height, width, channels)"}


def check_channels_last(kind, data_format):
    """Keras's ``data_format`` argument: fastnn's layout is channels last, so
    only None or "channels_last" is accepted (``kind``: the layer class name)."""
    if data_format not in (None, "channels_last"):
        raise ValueError(f"{kind}: fastnn stores images channels last (NHWC); "
                         f"data_format={data_format!r} is not supported")


def check_input_axes(layer, input_shape, rank, channels=False):
    """A windowed layer's input must have shape (batch, ``rank`` axes, channels),
    with the channels known if ``channels`` (a layer whose weights depend on them)."""
    if len(input_shape) != rank + 2 or (channels and input_shape[-1] is None):
        raise ValueError(f"layer {layer.name!r} ({type(layer).__name__}) needs inputs of "
                         f"shape {INPUT_AXES[rank]}, got {tuple(input_shape)}")


def conv_output_length(size, kernel, stride, padding):
    """Length of one output axis of a convolution or pooling window.

    >>> conv_output_length(28, 3, 1, "valid"), conv_output_length(28, 3, 1, "same")
    (26, 28)
    >>> conv_output_length(26, 2, 2, "valid")
    13
    """
    if padding == "same":
        return -(-size // stride)
    return max((size - kernel) // stride + 1, 0)


def same_padding(size, kernel, stride):
    """Zeros added (before, after) one axis by ``padding="same"``, as Keras does."""
    out = conv_output_length(size, kernel, stride, "same")
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


@dataclass(frozen=True)
class Window2D:
    """A k_h x k_w window sliding over an in_h x in_w image.

    Output pixel (oh, ow) sees input rows ``oh * stride_h - pad_top`` up to
    ``+ k_h - 1`` and the matching columns; rows and columns outside the
    image are padding.
    """

    in_h: int
    in_w: int
    k_h: int
    k_w: int
    stride_h: int
    stride_w: int
    pad_top: int
    pad_bottom: int
    pad_left: int
    pad_right: int
    out_h: int
    out_w: int

    @classmethod
    @lru_cache(maxsize=256)  # a training loop asks for the same few windows every step
    def over(cls, in_h, in_w, kernel, strides, padding):
        """The window of size ``kernel`` = (k_h, k_w) moved by ``strides``."""
        (k_h, k_w), (s_h, s_w) = kernel, strides
        top, bottom = same_padding(in_h, k_h, s_h) if padding == "same" else (0, 0)
        left, right = same_padding(in_w, k_w, s_w) if padding == "same" else (0, 0)
        return cls(in_h, in_w, k_h, k_w, s_h, s_w, top, bottom, left, right,
                   conv_output_length(in_h, k_h, s_h, padding),
                   conv_output_length(in_w, k_w, s_w, padding))

    def tap_slices(self, kh, kw):
        """Index of the inputs under tap (kh, kw) of every window, in a padded image.

        ``padded[:, rows, cols, :]`` with ``(rows, cols) = tap_slices(kh, kw)``
        has shape (batch, out_h, out_w, channels): element (n, oh, ow, c) is
        what tap (kh, kw) of window (oh, ow) multiplies.
        """
        rows = slice(kh, kh + self.stride_h * (self.out_h - 1) + 1, self.stride_h)
        cols = slice(kw, kw + self.stride_w * (self.out_w - 1) + 1, self.stride_w)
        return rows, cols

    def pad_widths(self):
        """``np.pad`` widths for an NHWC batch."""
        return ((0, 0), (self.pad_top, self.pad_bottom),
                (self.pad_left, self.pad_right), (0, 0))
