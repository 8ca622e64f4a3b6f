"""UpSampling2D against loops written here, known values and finite differences.

nearest:  y[n, i, j, c] = x[n, i // size_h, j // size_w, c]
bilinear: tf.image.resize with half-pixel centres: output pixel o of an axis
          samples the input at p = (o + 0.5) / size - 0.5, blending floor(p)
          and floor(p) + 1 (indices clamped into the image) with weights
          1 - t and t, t = p - floor(p).
"""
import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastnn.layers import UpSampling2D

from conftest import pairs, seeds
from test_layers_gradcheck import check_layer_gradients


def rand(seed, shape):
    return np.random.default_rng(seed).uniform(-1, 1, shape).astype(np.float32)


def nearest_loops(x, size):
    n, h, w, c = x.shape
    out = np.zeros((n, h * size[0], w * size[1], c))
    for i, j in itertools.product(range(h * size[0]), range(w * size[1])):
        out[:, i, j] = x[:, i // size[0], j // size[1]]
    return out


def sample_points(out_size, in_size, factor):
    """(lower, upper, t) of each output pixel along one axis, TF's half-pixel rule."""
    points = []
    for o in range(out_size):
        p = (o + 0.5) / factor - 0.5
        lower = math.floor(p)
        points.append((min(max(lower, 0), in_size - 1), min(max(lower + 1, 0), in_size - 1),
                       p - lower))
    return points


def bilinear_loops(x, size):
    n, h, w, c = x.shape
    x = np.float64(x)
    out = np.zeros((n, h * size[0], w * size[1], c))
    rows, cols = sample_points(h * size[0], h, size[0]), sample_points(w * size[1], w, size[1])
    for (i, (r0, r1, tr)), (j, (c0, c1, tc)) in itertools.product(enumerate(rows),
                                                                  enumerate(cols)):
        top = (1 - tc) * x[:, r0, c0] + tc * x[:, r0, c1]
        bottom = (1 - tc) * x[:, r1, c0] + tc * x[:, r1, c1]
        out[:, i, j] = (1 - tr) * top + tr * bottom
    return out


REFERENCES = {"nearest": nearest_loops, "bilinear": bilinear_loops}


# ---- known values ----------------------------------------------------------------------

def test_nearest_keras_docstring_example():
    """Keras's own example: size (1, 2) on a (2, 2, 1, 3) batch repeats every column."""
    x = np.arange(12, dtype=np.float32).reshape(2, 2, 1, 3)
    y = UpSampling2D(size=(1, 2))(x)
    expected = [[[[0, 1, 2], [0, 1, 2]], [[3, 4, 5], [3, 4, 5]]],
                [[[6, 7, 8], [6, 7, 8]], [[9, 10, 11], [9, 10, 11]]]]
    np.testing.assert_array_equal(y, expected)
    assert y.dtype == np.float32


def test_nearest_default_doubles_each_pixel_into_a_block():
    x = np.array([[1, 2], [3, 4]], np.float32).reshape(1, 2, 2, 1)
    expected = [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]]
    np.testing.assert_array_equal(UpSampling2D()(x)[0, :, :, 0], expected)


def test_bilinear_matches_tf_image_resize_values():
    """tf.image.resize([[1, 2], [3, 4]], (4, 4), "bilinear") (half-pixel centres)."""
    x = np.array([[1, 2], [3, 4]], np.float32).reshape(1, 2, 2, 1)
    expected = [[1.0, 1.25, 1.75, 2.0], [1.5, 1.75, 2.25, 2.5],
                [2.5, 2.75, 3.25, 3.5], [3.0, 3.25, 3.75, 4.0]]
    np.testing.assert_allclose(UpSampling2D(interpolation="bilinear")(x)[0, :, :, 0], expected,
                               rtol=0, atol=1e-6)


def test_bilinear_keeps_constants_and_interior_ramps():
    layer = UpSampling2D(size=(3, 2), interpolation="bilinear")
    np.testing.assert_allclose(layer(np.full((1, 3, 4, 2), 0.7, np.float32)), 0.7, atol=1e-6)
    ramp = np.arange(4, dtype=np.float32).reshape(1, 4, 1, 1)   # x = row index
    y = layer(ramp)[0, :, 0, 0]
    p = (np.arange(12) + 0.5) / 3 - 0.5                          # where each output row samples
    np.testing.assert_allclose(y, np.clip(p, 0, 3), atol=1e-6)


# ---- any size against the loops ------------------------------------------------------------

@settings(max_examples=30)
@given(size=pairs(1, 4), hw=pairs(1, 5), channels=st.integers(1, 3),
       interpolation=st.sampled_from(["nearest", "bilinear"]), seed=seeds)
def test_forward_matches_loops(size, hw, channels, interpolation, seed):
    x = rand(seed % 2**16, (2, *hw, channels))
    layer = UpSampling2D(size=size, interpolation=interpolation)
    y = layer(x)
    assert y.shape == (2, hw[0] * size[0], hw[1] * size[1], channels) and y.dtype == np.float32
    assert y.shape == layer.compute_output_shape(x.shape)
    np.testing.assert_allclose(y, REFERENCES[interpolation](x, size), rtol=1e-6, atol=1e-6)


@settings(max_examples=30)
@given(size=pairs(1, 3), hw=pairs(1, 4), interpolation=st.sampled_from(["nearest", "bilinear"]),
       seed=seeds)
def test_backward_is_the_transpose_of_forward(size, hw, interpolation, seed):
    """<dy, forward(x)> = <backward(dy), x> for a linear map, checked in float64."""
    rng = np.random.default_rng(seed)
    layer = UpSampling2D(size=size, interpolation=interpolation)
    x = rng.uniform(-1, 1, (2, *hw, 2)).astype(np.float32)
    y = layer.forward(x)
    dy = rng.uniform(-1, 1, y.shape).astype(np.float32)
    dx = layer.backward(dy)
    assert dx.shape == x.shape and dx.dtype == np.float32
    lhs = np.sum(np.float64(dy) * REFERENCES[interpolation](x, size))
    np.testing.assert_allclose(np.sum(np.float64(dx) * x), lhs, rtol=1e-5, atol=1e-5)


def test_nearest_gradient_sums_each_block():
    dy = np.arange(24, dtype=np.float32).reshape(1, 4, 6, 1)
    layer = UpSampling2D(size=(2, 3))
    layer.forward(np.zeros((1, 2, 2, 1), np.float32))
    dx = layer.backward(dy)[0, :, :, 0]
    expected = [[dy[0, 0:2, 0:3].sum(), dy[0, 0:2, 3:6].sum()],
                [dy[0, 2:4, 0:3].sum(), dy[0, 2:4, 3:6].sum()]]
    np.testing.assert_array_equal(dx, expected)


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
@pytest.mark.parametrize("size", [(2, 2), (3, 1), (1, 3)])
def test_gradients_match_finite_differences(interpolation, size):
    check_layer_gradients(UpSampling2D(size, interpolation=interpolation), rand(4, (2, 3, 4, 2)))


# ---- shapes, configuration, errors ----------------------------------------------------------

def test_output_shape_with_unknown_sizes():
    layer = UpSampling2D(size=(2, 3))
    assert layer.compute_output_shape((None, 7, 5, 16)) == (None, 14, 15, 16)
    assert layer.compute_output_shape((None, None, 5, 16)) == (None, None, 15, 16)
    assert layer.compute_output_shape((None, None, None, 4)) == (None, None, None, 4)
    layer.build((None, None, None, 4))
    assert layer(rand(0, (1, 2, 3, 4))).shape == (1, 4, 9, 4)
    assert layer.count_params() == 0 and layer.variables == []


def test_config_round_trip():
    layer = UpSampling2D(size=3, interpolation="Bilinear", name="grow")
    config = layer.get_config()
    assert config["size"] == [3, 3] and config["interpolation"] == "bilinear"
    assert config["data_format"] == "channels_last"
    clone = UpSampling2D.from_config(config)
    assert clone.get_config() == config
    x = rand(1, (2, 3, 3, 2))
    np.testing.assert_array_equal(clone(x), layer(x))


@pytest.mark.parametrize("kwargs, error", [
    ({"size": 0}, ValueError),
    ({"size": (2, 2, 2)}, ValueError),
    ({"size": 1.5}, ValueError),
    ({"data_format": "channels_first"}, ValueError),
    ({"interpolation": "cubic"}, ValueError),
    ({"interpolation": "bicubic"}, NotImplementedError),
    ({"interpolation": "lanczos3"}, NotImplementedError),
])
def test_bad_arguments_are_rejected(kwargs, error):
    with pytest.raises(error, match="UpSampling2D"):
        UpSampling2D(**kwargs)


def test_input_must_be_an_image_batch():
    with pytest.raises(ValueError, match="batch, height, width, channels"):
        UpSampling2D().compute_output_shape((None, 4, 4))
    with pytest.raises(ValueError, match="batch, height, width, channels"):
        UpSampling2D()(np.zeros((2, 4, 4), np.float32))
