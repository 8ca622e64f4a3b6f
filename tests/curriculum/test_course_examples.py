"""The course's worked examples (chapters 19-21), computed by every impl."""
import numpy as np
import pytest

from fastnn.kernels import avg_pool1d, avg_pool3d, conv2d, max_pool1d, max_pool2d, max_pool3d

from conftest import each_impl


def image(rows):
    """A one-channel image as an NHWC batch of one."""
    return np.array(rows, np.float32)[None, :, :, None]


@each_impl
def test_max_pool_4x4_example(impl):
    """21.3: 2x2 pool, stride 2."""
    x = image([[4, 3, 8, 5],
               [9, 1, 3, 6],
               [6, 3, 5, 3],
               [2, 5, 2, 5]])
    y = max_pool2d(x, pool_size=(2, 2), strides=2, padding="valid", impl=impl)
    np.testing.assert_array_equal(y, image([[9, 8], [6, 5]]))


@each_impl
@pytest.mark.parametrize("size,kernel,padding,out", [
    (28, 3, "valid", 26),   # the MNIST seven with a 3x3 filter (20.1)
    (4, 3, "valid", 2),     # (n - f + 1) = 4 - 3 + 1 (20.1)
    (28, 3, "same", 28),    # zero padding keeps the size (20.3)
    (4, 3, "same", 4),
])
def test_conv_output_sizes(impl, size, kernel, padding, out):
    x = np.ones((1, size, size, 1), np.float32)
    w = np.ones((kernel, kernel, 1, 1), np.float32)
    assert conv2d(x, w, padding=padding, impl=impl).shape == (1, out, out, 1)


@each_impl
def test_max_pool_halves_26_to_13(impl):
    """21.2: the 26x26 conv output of the seven, max-pooled 2x2 with stride 2."""
    assert max_pool2d(np.zeros((1, 26, 26, 1)), 2, 2, impl=impl).shape == (1, 13, 13, 1)


@each_impl
@pytest.mark.parametrize("padding,sizes", [("valid", [18, 14, 8]), ("same", [20, 20, 20])])
def test_keras_model_summaries(impl, padding, sizes):
    """20.4: 20x20x16 through 3x3, 5x5 and 7x7 convolutions with 32, 64, 128 filters."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (1, 20, 20, 16)).astype(np.float32)
    for (kernel, filters), size in zip([(3, 32), (5, 64), (7, 128)], sizes):
        w = rng.uniform(-0.1, 0.1, (kernel, kernel, x.shape[3], filters))
        x = conv2d(x, w, np.zeros(filters), padding=padding, impl=impl)
        assert x.shape == (1, size, size, filters)


@each_impl
def test_max_pool_in_keras_halves_20_to_10(impl):
    """21.5: MaxPooling2D(pool_size=(2, 2), strides=2) after a "same" conv."""
    x = conv2d(np.ones((1, 20, 20, 16)), np.ones((3, 3, 16, 32)), padding="same", impl=impl)
    assert max_pool2d(x, (2, 2), 2, "valid", impl=impl).shape == (1, 10, 10, 32)


@each_impl
def test_max_pool_1d_and_3d_examples(impl):
    """21.5, "Keras also has 1-D and 3-D max pooling": chapter 21's script's
    small arrays, with the answers worked out by hand."""
    sequence = np.float32([3, 1, 4, 1, 5, 9, 2])[None, :, None]
    assert max_pool1d(sequence, 2, impl=impl).ravel().tolist() == [3, 4, 9]
    assert max_pool1d(sequence, 2, padding="same", impl=impl).ravel().tolist() == [3, 4, 9, 2]
    assert avg_pool1d(sequence, 2, padding="same", impl=impl).ravel().tolist() == [2, 2.5, 7, 2]
    block = np.float32([[[1, 2, 0, 3], [4, 0, 1, 1], [2, 2, 8, 0], [0, 1, 3, 5]],
                        [[0, 6, 1, 1], [1, 1, 2, 7], [9, 0, 4, 4], [3, 3, 0, 2]]])
    block = block[None, :, :, :, None]
    assert max_pool3d(block, 2, impl=impl)[0, 0, :, :, 0].tolist() == [[6, 7], [9, 8]]
    assert avg_pool3d(block, 2, impl=impl)[0, 0, :, :, 0].tolist() == [[1.875, 2], [2.5, 3.25]]


# ---- the four edge filters of 19.3 (-1 black, 0 grey, 1 white) ----------------

TOP = [[-1, -1, -1],
       [1, 1, 1],
       [0, 0, 0]]
LEFT = [[-1, 1, 0],
        [-1, 1, 0],
        [-1, 1, 0]]
BOTTOM = [[0, 0, 0],
          [1, 1, 1],
          [-1, -1, -1]]
RIGHT = [[0, 1, -1],
         [0, 1, -1],
         [0, 1, -1]]

# An 8x8 dark image with a bright 4x4 square in rows 2-5, columns 2-5.
SQUARE = np.zeros((8, 8), np.float32)
SQUARE[2:6, 2:6] = 1.0

# Valid 3x3 responses, by hand: a window's rows (columns) cover 1, 2, 3, 3, 2,
# 1 pixels of the square as it slides, so an edge response is that profile,
# +c where the filter's +1 row sits on the square and its -1 row off it, -c
# the other way round, 0 inside and outside the square.
c = [1, 2, 3, 3, 2, 1]
z = [0] * 6
n = [-v for v in c]
EXPECTED = {
    "top": [z, c, z, z, z, n],      # bright along the top edge, negative along the bottom
    "bottom": [n, z, z, z, c, z],   # bright along the bottom edge
    "left": np.array([z, c, z, z, z, n]).T,
    "right": np.array([n, z, z, z, c, z]).T,
}
FILTERS = {"top": TOP, "left": LEFT, "bottom": BOTTOM, "right": RIGHT}


@each_impl
@pytest.mark.parametrize("edge", FILTERS)
def test_edge_filter_on_a_bright_square(impl, edge):
    w = np.array(FILTERS[edge], np.float32)[:, :, None, None]
    y = conv2d(image(SQUARE), w, impl=impl)
    np.testing.assert_array_equal(y[0, :, :, 0], np.array(EXPECTED[edge], np.float32))


@each_impl
def test_four_edge_filters_as_one_layer(impl):
    """One conv layer with the four filters as its four output channels (HWIO)."""
    w = np.stack([np.array(FILTERS[e], np.float32) for e in FILTERS], axis=-1)[:, :, None, :]
    y = conv2d(image(SQUARE), w, padding="same", impl=impl)
    assert y.shape == (1, 8, 8, 4)
    for channel, edge in enumerate(FILTERS):
        # "same" pads one zero row/column on each side: the valid part sits inside
        np.testing.assert_array_equal(y[0, 1:7, 1:7, channel], np.array(EXPECTED[edge]))
    # the brightest pixel of the top-edge map lies on the square's top edge
    top = y[0, :, :, 0]
    assert top.max() == 3 and set(np.argwhere(top == 3)[:, 0]) == {2}


@each_impl
def test_edge_filters_on_a_seven(impl):
    """A drawn 7: a top bar (row 1, columns 1-6) and a stroke down column 6."""
    seven = np.zeros((9, 9), np.float32)
    seven[1, 1:7] = 1.0
    seven[1:8, 6] = 1.0
    w = np.stack([np.array(FILTERS[e], np.float32) for e in FILTERS], axis=-1)[:, :, None, :]
    y = conv2d(image(seven), w, impl=impl)[0]
    top, left, bottom, right = (y[:, :, i] for i in range(4))
    # window (0, 1) has the dark row 0 on top of the bar's row 1: +3
    assert top[0, 1] == 3 and top[0, 2] == 3
    # one row lower the bar sits under the -1 row and row 2 is dark: -3
    assert top[1, 1] == -3
    # the stroke's left side (column 5 dark, column 6 bright) below the bar: +3
    assert left[3, 5] == 3
    # its right side (column 6 bright, 7 dark) in the right-edge filter: +3
    assert right[3, 5] == 3
    # the bar's lower edge lights up the bottom-edge filter
    assert bottom[0, 1] == 3
    # and nothing responds far from the strokes
    assert np.all(y[5:, :3] == 0)
