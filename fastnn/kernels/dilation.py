"""Dilated ("atrous") convolution as an ordinary one: the input cut into phases.

A kernel with dilation rate d looks at inputs d apart: along one axis,
output i of a stride-1 convolution is Σ_a x[i + a·d] · w[a], so a 3-tap
kernel with d = 2 spans 5 inputs and sees a wider context for the same
3 weights (WaveNet's causal Conv1D stacks, segmentation nets).

Sort the (padded) input by position modulo d: phase r holds x[r], x[r + d],
x[r + 2d], ...  Inside one phase the dilated taps are neighbours, so
output i = q·d + r is the *ordinary* convolution of phase r at position q.
A dilated conv2d is therefore

1. pad x as Keras would for the dilated kernel (and up to a multiple of d);
2. cut it into d_h·d_w phase images, stacked along the batch axis
   (``split_phases``: one reshape and one transpose, "space to batch");
3. run the ordinary stride-1, "valid" convolution with the k_h x k_w kernel
   on all of them at once -- the fast kernels, unchanged;
4. interleave the outputs back into one image and drop what lies past the
   end (``merge_phases``, "batch to space").

No multiplication by an inserted zero; the backward pass runs the same
steps on dy, and the weight gradient, a sum over the batch axis, sums over
the phases by itself.  (TensorFlow's ``atrous_conv2d`` works the same way.)
"""
import numpy as np

from .geometry import same_padding


def dilated_extent(kernel, rate):
    """The span of a kernel of ``kernel`` taps with dilation ``rate``: (k - 1)·d + 1.

    >>> dilated_extent(3, 2)
    5
    """
    return (kernel - 1) * rate + 1


def dilated_padding(size, kernel, rate, padding):
    """Keras's zeros (before, after) one axis of ``size`` inputs for a stride-1
    kernel of ``kernel`` taps dilated by ``rate``: "same" pads the span
    minus one, the odd one after; "valid" pads nothing."""
    if padding == "same":
        return same_padding(size, dilated_extent(kernel, rate), 1)
    return 0, 0


def split_phases(x, rates, pads):
    """(batch, h, w, c) -> (d_h·d_w·batch, h', w', c): x padded by ``pads``
    ((top, bottom), (left, right)) and by zeros up to a multiple of each rate,
    then phase (r_h, r_w) -- every d-th row from r_h, column from r_w -- as
    batch entries r_h·d_w·batch + r_w·batch + n."""
    (d_h, d_w), ((top, bottom), (left, right)) = rates, pads
    n, h, w, c = x.shape
    rows, cols = -(-(h + top + bottom) // d_h), -(-(w + left + right) // d_w)
    padded = np.zeros((n, rows * d_h, cols * d_w, c), np.float32)
    padded[:, top:top + h, left:left + w] = x
    phases = padded.reshape(n, rows, d_h, cols, d_w, c).transpose(2, 4, 0, 1, 3, 5)
    return np.ascontiguousarray(phases).reshape(d_h * d_w * n, rows, cols, c)


def merge_phases(phases, rates, start, size):
    """The inverse of ``split_phases``: (d_h·d_w·batch, q_h, q_w, f) interleaved
    into one (batch, q_h·d_h, q_w·d_w, f) image -- position q·d + r from
    phase r at q -- then the ``size`` = (h, w) rows and columns from ``start``
    = (top, left) kept: the outputs of the dilated convolution, or (on an
    input gradient) the inputs without their padding."""
    (d_h, d_w), (top, left), (h, w) = rates, start, size
    count, q_h, q_w, f = phases.shape
    n = count // (d_h * d_w)
    image = phases.reshape(d_h, d_w, n, q_h, q_w, f).transpose(2, 3, 0, 4, 1, 5)
    image = image.reshape(n, q_h * d_h, q_w * d_w, f)
    return np.ascontiguousarray(image[:, top:top + h, left:left + w])
