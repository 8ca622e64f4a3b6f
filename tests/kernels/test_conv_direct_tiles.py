"""The direct forward's tiling (csrc/conv2d_direct.c, few input channels).

The fast kernel takes output pixels a tile at a time in row-major order: a
tile runs on from one output row into the next, the last tile of a run is
moved back to end at the run's end (recomputing pixels already stored),
a run shorter than a tile is one partial tile, and windows that leave the
image are read from a zero-padded copy of the run's input.  Tiles are 6 to
16 pixels by 8 to 32 channels, depending on out_c and the SIMD path.

Two properties pin this down:

* every output equals the float64 reference (``reference.conv2d``), on
  every SIMD path, with the same bits on 1, 2 and 3 threads;
* every output is independent of where its pixel falls in a tile: it has
  the bits of the same convolution on the crop of (zero-padded) input under
  that one pixel, a 1x1 output computed by a partial tile of its own.  A
  window pointer off by a row, a moved-back tile that starts one pixel
  wrong or a padded copy shifted by a column changes some pixel's bits.

The shapes cover 1-4 input channels, out_c 1/6/16/32/33 (narrow, one to
four vectors, and a group of four plus a single vector), kernels 1-7,
valid/same, strides 1 and 2, odd sizes, outputs narrower than a tile and
smaller than a tile in all, images whose output spans several runs, and
sizes above the line where the work is split between threads.
"""
import numpy as np
import pytest

import fastnn
from fastnn.kernels import conv2d, reference
from fastnn.kernels.convolution import direct_conv_takes

from conftest import assert_matches, each_simd_path, pad_before, simd_path, uniform

THREADS = (1, 2, 3)

# (batch, (height, width), in_c, kernel, out_c, stride, padding)
SHAPES = [
    (3, (28, 28), 1, 3, 32, 1, "valid"),     # mnist's first layer: rows of 26
    (2, (28, 28), 1, 5, 6, 1, "same"),       # lenet5: narrow, padded
    (2, (28, 28), 1, 5, 16, 2, "valid"),     # conv5_stride2
    (3, (28, 27), 1, 3, 16, 2, "same"),      # all_conv, odd width
    (2, (32, 32), 3, 3, 32, 1, "same"),      # vgg's first layer
    (2, (17, 19), 3, 7, 32, 1, "same"),      # a 7x7 stem
    (2, (9, 10), 2, 3, 33, 1, "valid"),      # 4 vectors + 1
    (2, (11, 7), 4, 1, 1, 1, "valid"),       # one channel out
    (2, (10, 10), 3, 5, 24, 2, "same"),      # 3 vectors
    (3, (3, 4), 1, 3, 8, 1, "valid"),        # 1x2 output: smaller than a tile
    (2, (5, 3), 2, 3, 40, 1, "same"),        # rows narrower than a tile
    (1, (64, 64), 1, 3, 33, 1, "same"),      # several runs per image
    (9, (27, 27), 3, 3, 17, 2, "same"),      # above the thread split
]


def inputs(shape, seed=0):
    batch, size, in_c, kernel, out_c, _, _ = shape
    rng = np.random.default_rng(seed)
    return (uniform(rng, (batch, *size, in_c)), uniform(rng, (kernel, kernel, in_c, out_c)),
            uniform(rng, (out_c,)))


def ids(shape):
    batch, size, in_c, kernel, out_c, stride, padding = shape
    return f"{batch}x{size[0]}x{size[1]}x{in_c}-k{kernel}-{out_c}-s{stride}-{padding}"


@pytest.mark.parametrize("shape", SHAPES, ids=ids)
@pytest.mark.parametrize("activation", [None, "relu", "tanh"])
@each_simd_path
def test_matches_reference_with_the_same_bits_on_any_thread_count(shape, activation, simd,
                                                                  restore_threads):
    x, w, b = inputs(shape)
    _, _, in_c, kernel, _, stride, padding = shape
    assert direct_conv_takes(w.shape)
    with simd_path(simd):
        results = []
        for threads in THREADS:
            fastnn.set_num_threads(threads)
            results.append(conv2d(x, w, b, (stride, stride), padding, activation=activation))
    y64 = reference.conv2d(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64),
                           (stride, stride), padding)
    if activation == "relu":
        y64 = np.maximum(y64, 0.0)
    elif activation == "tanh":
        y64 = np.tanh(y64)
    assert_matches(results[0], y64, kernel * kernel * in_c + 1)
    for threads, y in zip(THREADS[1:], results[1:]):
        assert y.tobytes() == results[0].tobytes(), f"{threads} threads changed the bits"


def pixel_crop(x, shape, n, oh, ow):
    """The input under output pixel (oh, ow) of image n, zeros where the
    window leaves the image: a (1, kernel, kernel, in_c) array."""
    _, size, _, kernel, _, stride, padding = shape
    top = pad_before(size[0], kernel, stride, padding)
    left = pad_before(size[1], kernel, stride, padding)
    padded = np.pad(x[n], ((top, kernel), (left, kernel), (0, 0)))
    return padded[None, oh * stride:oh * stride + kernel, ow * stride:ow * stride + kernel]


@pytest.mark.parametrize("shape", SHAPES, ids=ids)
@pytest.mark.parametrize("activation", [None, "relu"])
@each_simd_path
def test_each_output_has_the_bits_of_its_own_window(shape, activation, simd):
    x, w, b = inputs(shape, seed=1)
    _, _, _, _, _, stride, padding = shape
    with simd_path(simd):
        y = conv2d(x, w, b, (stride, stride), padding, activation=activation)
        rng = np.random.default_rng(2)
        batch, out_h, out_w, _ = y.shape
        # every pixel of the first and last output rows and columns (tile and
        # run boundaries, the padding), and a sample of the others
        pixels = {(n, oh, ow) for n in (0, batch - 1) for oh in range(out_h) for ow in range(out_w)
                  if oh in (0, out_h - 1) or ow in (0, out_w - 1)}
        pixels |= {tuple(int(v) for v in rng.integers((batch, out_h, out_w))) for _ in range(40)}
        for n, oh, ow in sorted(pixels):
            alone = conv2d(pixel_crop(x, shape, n, oh, ow), w, b, activation=activation)
            assert alone.shape == (1, 1, 1, w.shape[3])
            assert alone[0, 0, 0].tobytes() == y[n, oh, ow].tobytes(), (n, oh, ow)
