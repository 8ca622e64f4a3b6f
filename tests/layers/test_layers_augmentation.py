"""The data-augmentation layers: random in training, identity at inference.

Each layer is checked against what it promises, computed independently:
flips as NumPy flips, quarter turns as np.rot90, zooms and shifts by where a
single bright pixel lands, crops as slices, brightness and contrast by their
formulas; gradients by finite differences with the random draws held fixed;
and in a model, that fit trains through them without backpropagating into them.
"""
import json

import numpy as np
import pytest

import fastnn
from fastnn.layers import (Conv2D, Dense, Flatten, RandomBrightness, RandomContrast, RandomCrop,
                           RandomFlip, RandomRotation, RandomTranslation, RandomZoom)
from fastnn.models import Sequential
from fastnn.optimizers import Adam
from fastnn.utils import set_random_seed

from test_layers_gradcheck import check_layer_gradients

pytestmark = pytest.mark.usefixtures("fresh_session")

SHAPE = (4, 7, 6, 2)      # batch, height, width, channels
CROP = (5, 4)

# One typical instance of each layer (seed=None draws from fastnn's generator).
LAYERS = {
    "RandomFlip": lambda seed=None: RandomFlip(seed=seed),
    "RandomRotation": lambda seed=None: RandomRotation(0.2, seed=seed),
    "RandomZoom": lambda seed=None: RandomZoom(0.3, seed=seed),
    "RandomTranslation": lambda seed=None: RandomTranslation(0.2, 0.3, seed=seed),
    "RandomCrop": lambda seed=None: RandomCrop(*CROP, seed=seed),
    "RandomBrightness": lambda seed=None: RandomBrightness(0.3, value_range=(0, 1), seed=seed),
    "RandomContrast": lambda seed=None: RandomContrast(0.5, value_range=(0, 1), seed=seed),
}
each_layer = pytest.mark.parametrize("name", LAYERS)


def images(shape=SHAPE, seed=0, low=0.0, high=1.0):
    return np.random.default_rng(seed).uniform(low, high, shape).astype(np.float32)


def output_shape(name, shape=SHAPE):
    return shape[:1] + CROP + shape[3:] if name == "RandomCrop" else shape


# ---- what every layer shares -----------------------------------------------------------

@each_layer
def test_identity_at_inference(name):
    x = images(output_shape(name))   # RandomCrop: an image of the crop size
    layer = LAYERS[name](seed=1)
    y = layer(x, training=False)
    np.testing.assert_array_equal(y, x)
    dy = images(x.shape, seed=1)
    np.testing.assert_array_equal(layer.backward(dy), dy)


@each_layer
def test_shapes_and_dtype(name):
    x = images()
    layer = LAYERS[name](seed=1)
    expected = output_shape(name)
    assert layer.compute_output_shape((None,) + SHAPE[1:]) == (None,) + expected[1:]
    for training in (True, False):
        y = layer(x, training=training)
        assert y.shape == expected and y.dtype == np.float32
        assert layer.backward(np.ones_like(y)).shape == x.shape
    with pytest.raises(ValueError, match="height, width, channels"):
        layer.compute_output_shape((None, 7, 6))


@each_layer
def test_training_changes_the_images(name):
    x = images()
    layer = LAYERS[name](seed=1)
    first, second = layer(x, training=True), layer(x, training=True)
    assert not np.array_equal(first, second), "each batch gets fresh draws"
    if name != "RandomCrop":
        assert not np.array_equal(first, x) or not np.array_equal(second, x)


@each_layer
def test_seeded_layers_are_reproducible(name):
    x = images()
    a = LAYERS[name](seed=7)(x, training=True)
    set_random_seed(123)   # a seeded layer does not draw from the global generator
    b = LAYERS[name](seed=7)(x, training=True)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, LAYERS[name](seed=8)(x, training=True))


@each_layer
def test_unseeded_layers_follow_set_random_seed(name):
    x = images()
    set_random_seed(5)
    a = LAYERS[name]()(x, training=True)
    set_random_seed(5)
    b = LAYERS[name]()(x, training=True)
    np.testing.assert_array_equal(a, b)
    set_random_seed(6)
    assert not np.array_equal(a, LAYERS[name]()(x, training=True))


@each_layer
def test_images_of_a_batch_get_different_draws(name):
    x = np.repeat(images((1,) + SHAPE[1:]), 16, axis=0)
    y = LAYERS[name](seed=3)(x, training=True)
    distinct = {y[n].tobytes() for n in range(len(y))}
    assert len(distinct) > 2, f"only {len(distinct)} different outputs for 16 equal images"


@pytest.mark.parametrize("seed", [None, -1, 1.5, True, "1"])
def test_bad_seeds_are_rejected(seed):
    if seed is None:
        RandomFlip(seed=seed)
        return
    with pytest.raises(ValueError, match="seed"):
        RandomFlip(seed=seed)


def test_only_channels_last_is_supported():
    RandomFlip(data_format="channels_last")
    with pytest.raises(ValueError, match="channels_first"):
        RandomZoom(0.1, data_format="channels_first")


# ---- RandomFlip -----------------------------------------------------------------------

@pytest.mark.parametrize("mode, allowed", [
    ("horizontal", {"none", "h"}),
    ("vertical", {"none", "v"}),
    ("horizontal_and_vertical", {"none", "h", "v", "hv"}),
])
def test_flip_outputs_are_flips_of_the_inputs(mode, allowed):
    x = images((400, 4, 5, 2))
    y = RandomFlip(mode, seed=2)(x, training=True)
    variants = {"none": x, "h": x[:, :, ::-1], "v": x[:, ::-1], "hv": x[:, ::-1, ::-1]}
    counts = dict.fromkeys(variants, 0)
    for n in range(len(x)):
        found = [k for k, v in variants.items() if np.array_equal(y[n], v[n])]
        assert len(found) == 1, f"image {n} is not a flip of its input"
        counts[found[0]] += 1
    assert {k for k, c in counts.items() if c} == allowed
    # each direction flips with probability 1/2 (binomial sd 10 for 400 images)
    for direction in "hv":
        flipped = sum(c for k, c in counts.items() if direction in k)
        if any(direction in k for k in allowed):
            assert 140 < flipped < 260, (direction, counts)


def test_flip_backward_flips_the_gradient_back():
    x, dy = images((6, 3, 4, 1)), images((6, 3, 4, 1), seed=1)
    layer = RandomFlip(seed=4)
    y = layer(x, training=True)
    dx = layer.backward(dy)
    # <y, dy> == <x, dx> for every image: the flip is a permutation
    np.testing.assert_allclose((y * dy).sum(axis=(1, 2, 3)), (x * dx).sum(axis=(1, 2, 3)),
                               rtol=1e-5)


@pytest.mark.parametrize("mode", ["diagonal", "HORIZONTAL", None, "horizontal_or_vertical"])
def test_flip_mode_is_checked(mode):
    with pytest.raises(ValueError, match="mode"):
        RandomFlip(mode)


# ---- RandomRotation -------------------------------------------------------------------

def test_quarter_turn_is_counter_clockwise():
    x = np.zeros((1, 5, 5, 1), np.float32)
    x[0, 2, 4] = 1.0                           # right of the centre
    y = RandomRotation((0.25, 0.25), seed=0)(x, training=True)
    expected = np.zeros_like(x)
    expected[0, 0, 2] = 1.0                    # above the centre
    np.testing.assert_allclose(y, expected, atol=1e-5)


@pytest.mark.parametrize("size", [5, 7])
@pytest.mark.parametrize("fill_mode", ["reflect", "constant"])
def test_quarter_turns_match_rot90(size, fill_mode):
    x = images((3, size, size, 2))
    turn = RandomRotation((0.25, 0.25), fill_mode=fill_mode, seed=0)(x, training=True)
    np.testing.assert_allclose(turn, np.rot90(x, 1, axes=(1, 2)), atol=1e-5)
    turn = RandomRotation((-0.25, -0.25), fill_mode=fill_mode, seed=0)(x, training=True)
    np.testing.assert_allclose(turn, np.rot90(x, -1, axes=(1, 2)), atol=1e-5)


def test_half_turn_flips_both_axes():
    x = images((3, 4, 6, 2))
    y = RandomRotation((0.5, 0.5), seed=0)(x, training=True)
    np.testing.assert_allclose(y, x[:, ::-1, ::-1], atol=1e-5)


def test_rotation_angles_fill_the_factor_range():
    """Where a bright pixel 20 right of the centre lands gives each image's
    angle (counter-clockwise positive); factor 0.1 means up to ±36°."""
    x = np.zeros((200, 41, 41, 1), np.float32)
    x[:, 20, 40] = 1.0
    y = RandomRotation(0.1, fill_mode="constant", seed=1)(x, training=True)[..., 0]
    rows, cols = np.mgrid[:41, :41]
    mass = y.sum(axis=(1, 2))
    row = (y * rows).sum(axis=(1, 2)) / mass
    col = (y * cols).sum(axis=(1, 2)) / mass
    angle = np.degrees(np.arctan2(20 - row, col - 20))
    assert np.all(np.abs(angle) <= 36 + 1.5)   # bilinear blur moves the centroid < 0.5 px
    assert angle.min() < -30 and angle.max() > 30


@pytest.mark.parametrize("factor", ["a", (0.1,), (0.3, 0.1), float("nan"), float("inf"), None,
                                    (0.1, float("nan"))])
def test_rotation_factor_is_checked(factor):
    with pytest.raises(ValueError, match="factor"):
        RandomRotation(factor)


@pytest.mark.parametrize("layer", [RandomRotation, RandomZoom])
def test_sampling_options_are_checked(layer):
    with pytest.raises(ValueError, match="fill_mode"):
        layer(0.1, fill_mode="mirror")
    with pytest.raises(ValueError, match="interpolation"):
        layer(0.1, interpolation="bicubic")
    with pytest.raises(ValueError, match="fill_value"):
        layer(0.1, fill_value=float("nan"))


# ---- RandomZoom -----------------------------------------------------------------------

def impulse(row, col, size=9):
    x = np.zeros((1, size, size, 1), np.float32)
    x[0, row, col] = 1.0
    return x


def zoomed(x, height_factor, width_factor=None):
    layer = RandomZoom(height_factor, width_factor, fill_mode="constant", seed=0)
    return layer(x, training=True)[0, :, :, 0]


def test_zoom_out_halves_distances_from_the_centre():
    # centre (4, 4); a pixel 4 to the right lands 2 to the right, 4 up lands 2 up
    for (row, col), (new_row, new_col) in [((4, 4), (4, 4)), ((4, 8), (4, 6)),
                                           ((0, 4), (2, 4)), ((8, 0), (6, 2))]:
        y = zoomed(impulse(row, col), (1.0, 1.0))
        expected = np.zeros((9, 9), np.float32)
        expected[new_row, new_col] = 1.0
        np.testing.assert_array_equal(y, expected, err_msg=f"pixel {(row, col)}")


def test_zoom_in_doubles_distances_from_the_centre():
    y = zoomed(impulse(4, 5), (-0.5, -0.5))      # 1 right of the centre -> 2 right
    assert y[4, 6] == 1.0
    # between pixel centres, bilinear spreads the pixel to its neighbours
    np.testing.assert_allclose([y[4, 5], y[4, 7], y[3, 6], y[5, 6]], 0.5)
    np.testing.assert_allclose(y.sum(), 4.0)


def test_width_factor_none_keeps_the_aspect_ratio_and_a_pair_zooms_on_its_own():
    x = impulse(0, 8)                            # 4 up and 4 right of the centre
    assert zoomed(x, (1.0, 1.0))[2, 6] == 1.0    # both halved
    assert zoomed(x, (1.0, 1.0), (0.0, 0.0))[2, 8] == 1.0   # only the height halved
    assert zoomed(x, (0.0, 0.0), (1.0, 1.0))[0, 6] == 1.0   # only the width halved


@pytest.mark.parametrize("kwargs", [
    {"height_factor": (-1.5, 0.0)}, {"height_factor": 1.5},
    {"height_factor": 0.1, "width_factor": (-2.0, 0.0)},
    {"height_factor": (0.3, 0.1)}, {"height_factor": "a"},
])
def test_zoom_factors_are_checked(kwargs):
    with pytest.raises(ValueError, match="factor"):
        RandomZoom(**kwargs)


def test_zoom_factor_minus_one_is_allowed():
    RandomZoom((-1.0, 0.0))


# ---- RandomTranslation ------------------------------------------------------------------

@pytest.mark.parametrize("height_factor, width_factor, down, right", [
    (0.25, 0.0, 2, 0), (-0.25, 0.0, -2, 0), (0.0, 0.5, 0, 3), (0.0, -1 / 3, 0, -2),
    (0.5, -0.5, 4, -3),
])
def test_translation_moves_by_whole_pixels(height_factor, width_factor, down, right):
    x = images((2, 8, 6, 3))
    layer = RandomTranslation((height_factor, height_factor), (width_factor, width_factor),
                              fill_mode="constant", fill_value=-1.0, seed=0)
    expected = np.full_like(x, -1.0)
    rows_out, rows_in = slice(max(down, 0), 8 + min(down, 0)), slice(max(-down, 0), 8 - max(down, 0))
    cols_out, cols_in = (slice(max(right, 0), 6 + min(right, 0)),
                         slice(max(-right, 0), 6 - max(right, 0)))
    expected[:, rows_out, cols_out] = x[:, rows_in, cols_in]
    np.testing.assert_allclose(layer(x, training=True), expected, atol=1e-6)


@pytest.mark.parametrize("kwargs", [{"height_factor": (0.3, 0.1), "width_factor": 0.1},
                                    {"height_factor": 0.1, "width_factor": "a"},
                                    {"height_factor": float("nan"), "width_factor": 0.1}])
def test_translation_factors_are_checked(kwargs):
    with pytest.raises(ValueError, match="factor"):
        RandomTranslation(**kwargs)


# ---- RandomCrop -----------------------------------------------------------------------

def window_of(image, crop):
    """(top, left) of the window of ``image`` equal to ``crop``, else None."""
    h, w = crop.shape[:2]
    for top in range(image.shape[0] - h + 1):
        for left in range(image.shape[1] - w + 1):
            if np.array_equal(image[top:top + h, left:left + w], crop):
                return top, left
    return None


def test_crop_in_training_is_a_window_and_every_window_occurs():
    x = images((300, 7, 6, 2))
    y = RandomCrop(*CROP, seed=5)(x, training=True)
    windows = [window_of(x[n], y[n]) for n in range(len(x))]
    assert None not in windows
    assert set(windows) == {(top, left) for top in range(3) for left in range(3)}


def block_means(x, factor):
    """The bilinear half-size resize: each output pixel is the mean of a 2x2 block."""
    n, h, w, c = x.shape
    return x.reshape(n, h // factor, factor, w // factor, factor, c).mean(axis=(2, 4))


def test_crop_at_inference_resizes_the_centre_window():
    x = images((2, 10, 8, 3))
    np.testing.assert_allclose(RandomCrop(5, 4)(x, training=False), block_means(x, 2),
                               rtol=1e-6, atol=1e-6)
    # a wider image: the centred 10x10 window of a 10x16 image, halved
    x = images((2, 10, 16, 3))
    np.testing.assert_allclose(RandomCrop(5, 5)(x, training=False),
                               block_means(x[:, :, 3:13], 2), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("training", [True, False])
def test_crop_of_a_smaller_image_resizes_it(training):
    """2x2 -> 4x4 bilinear with pixel centres aligned (as tf.image.resize):
    output centres fall at -1/4, 1/4, 3/4, 5/4 input pixels, clamped at the edges."""
    x = images((3, 2, 2, 2))
    weights = np.array([[1, 0], [0.75, 0.25], [0.25, 0.75], [0, 1]])
    expected = np.einsum("ia,jb,nabc->nijc", weights, weights, x)
    y = RandomCrop(4, 4, seed=0)(x, training=training)
    np.testing.assert_allclose(y, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kwargs", [{"height": 0, "width": 3}, {"height": 3, "width": 2.5},
                                    {"height": True, "width": 3}, {"height": 3, "width": "3"}])
def test_crop_size_is_checked(kwargs):
    with pytest.raises(ValueError, match="height|width"):
        RandomCrop(**kwargs)


# ---- RandomBrightness -----------------------------------------------------------------

@pytest.mark.parametrize("value_range, factor", [((0, 1), 0.3), ((0, 255), (-0.2, 0.1)),
                                                 ((-1, 1), 0.25)])
def test_brightness_adds_one_delta_per_image(value_range, factor):
    low, high = value_range
    layer = RandomBrightness(factor, value_range=value_range, seed=3)
    lower, upper = (-factor, factor) if np.isscalar(factor) else factor
    x = images((200, 3, 4, 3), low=low, high=high)
    y = layer(x, training=True)
    assert y.min() >= low and y.max() <= high
    delta = y - x
    inside = (y > low) & (y < high)
    # one delta per image: take it from an unclipped pixel, then it explains every pixel
    for n in range(len(x)):
        d = delta[n][inside[n]][0]
        np.testing.assert_allclose(y[n], np.clip(x[n] + d, low, high), atol=1e-5 * (high - low))
        assert lower * (high - low) - 1e-4 <= d <= upper * (high - low) + 1e-4
    # the deltas spread over the whole range
    spread = np.array([delta[n][inside[n]][0] for n in range(len(x))]) / (high - low)
    assert spread.min() < lower + 0.1 * (upper - lower)
    assert spread.max() > upper - 0.1 * (upper - lower)


def test_brightness_clips_to_the_value_range():
    x = images((2, 3, 4, 1))
    np.testing.assert_allclose(RandomBrightness((0.5, 0.5), (0, 1))(x, training=True),
                               np.clip(x + 0.5, 0, 1), atol=1e-6)
    x = images((2, 3, 4, 1), low=0, high=255)
    np.testing.assert_allclose(RandomBrightness((-0.2, -0.2), (0, 255))(x, training=True),
                               np.clip(x - 51, 0, 255), atol=1e-4)


@pytest.mark.parametrize("kwargs", [{"factor": 1.5}, {"factor": (-1.5, 0)}, {"factor": (0, 1.2)},
                                    {"factor": (0.5, 0.1)}, {"factor": "a"},
                                    {"factor": float("nan")}])
def test_brightness_factor_is_checked(kwargs):
    with pytest.raises(ValueError, match="factor"):
        RandomBrightness(**kwargs)


@pytest.mark.parametrize("value_range", [(1, 0), (0, 0), (0,), (0, float("nan")), "01"])
def test_brightness_value_range_is_checked(value_range):
    with pytest.raises(ValueError, match="value_range"):
        RandomBrightness(0.1, value_range=value_range)


# ---- RandomContrast -------------------------------------------------------------------

def contrast_factors(x, y):
    """(y - mean)/(x - mean) per image and channel, where x is far from its mean."""
    mean = x.mean(axis=(1, 2), keepdims=True)
    far = np.abs(x - mean) > 0.05
    return np.where(far, (y - mean) / np.where(far, x - mean, 1), np.nan)


@pytest.mark.parametrize("factor, bounds", [(0.3, (0.7, 1.3)), ((0.2, 0.5), (0.8, 1.5)),
                                            ((1.0, 0.0), (0.0, 1.0))])
def test_contrast_scales_each_channel_about_its_mean(factor, bounds):
    x = images((200, 5, 4, 3), low=0.4, high=0.6)     # nothing clips for c <= 1.5
    y = RandomContrast(factor, value_range=(0, 1), seed=2)(x, training=True)
    ratio = contrast_factors(x, y)
    c = np.nanmean(ratio, axis=(1, 2, 3))              # one factor per image ...
    np.testing.assert_allclose(ratio, np.broadcast_to(c[:, None, None, None], ratio.shape)
                               * np.where(np.isnan(ratio), np.nan, 1), atol=1e-4)
    assert bounds[0] - 1e-5 <= c.min() and c.max() <= bounds[1] + 1e-5
    width = bounds[1] - bounds[0]
    assert c.min() < bounds[0] + 0.1 * width and c.max() > bounds[1] - 0.1 * width
    np.testing.assert_allclose(y.mean(axis=(1, 2)), x.mean(axis=(1, 2)), atol=1e-6)


def test_contrast_clips_to_the_value_range():
    x = images((50, 5, 4, 2))
    y = RandomContrast((0.0, 3.0), value_range=(0, 1), seed=2)(x, training=True)   # c in [1, 4]
    assert y.min() == 0.0 and y.max() == 1.0
    mean = x.mean(axis=(1, 2), keepdims=True)
    ratio = contrast_factors(x, y)
    c = np.array([np.nanmin(np.where((y[n] > 0) & (y[n] < 1), ratio[n], np.nan))
                  for n in range(len(x))])
    np.testing.assert_allclose(y, np.clip((x - mean) * c[:, None, None, None] + mean, 0, 1),
                               atol=1e-5)


@pytest.mark.parametrize("factor", [1.5, (-0.1, 0.5), (1.2, 0.5), (0.5, -0.1), "a", (0.5,),
                                    float("nan")])
def test_contrast_factor_is_checked(factor):
    with pytest.raises(ValueError, match="factor"):
        RandomContrast(factor)


def test_contrast_rejects_a_negative_number():
    """Keras raises for a negative contrast factor; taking |f| silently would
    hide the mistake."""
    with pytest.raises(ValueError, match="factor"):
        RandomContrast(-0.5)


# ---- gradients, with the random draws held fixed ------------------------------------------

class SameDraws:
    """A seeded layer that draws the same numbers on every forward pass: each
    pass runs a fresh copy made with the same seed, so finite differences
    see one fixed (linear or piecewise linear) map."""

    built = True
    variables = []

    def __init__(self, make):
        self.make = make

    def forward(self, x, training=False):
        self.layer = self.make()
        return self.layer.forward(x, training=training)

    def backward(self, dy):
        return self.layer.backward(dy)


def brightness_input(make, shape, margin=0.06):
    """An input whose shifted values x + delta lie at least ``margin`` away from
    the clip bounds 0 and 1, some of them outside (so clipping is tested)."""
    delta = make().forward(np.full(shape, 0.5, np.float32), training=True) - 0.5
    rng = np.random.default_rng(0)
    target = rng.choice([-1, 1], shape) * rng.uniform(margin, 0.45, shape) + rng.choice(
        [0.0, 1.0], shape)        # just inside or outside 0 or 1
    return (target - delta).astype(np.float32)


def contrast_input(make, shape, margin=0.06):
    """An input whose stretched values (x - mean)·c + mean lie at least ``margin``
    away from 0 and 1: deviations come in ± pairs, so every mean is 0.5."""
    probe = np.tile(np.linspace(0.4, 0.6, shape[1] * shape[2]).reshape(
        1, shape[1], shape[2], 1), (shape[0], 1, 1, shape[3])).astype(np.float32)
    c = (make().forward(probe, training=True)[:, -1, -1, 0] - 0.5) / 0.1   # last pixel: 0.6
    rng = np.random.default_rng(0)
    half = (shape[0], shape[1] * shape[2] // 2, shape[3])
    d = rng.choice([-1, 1], half) * np.where(rng.random(half) < 0.5,
                                             rng.uniform(0, 0.5 - margin, half),
                                             rng.uniform(0.5 + margin, 0.9, half))
    d = rng.permuted(np.concatenate([d, -d], axis=1), axis=1)
    return (0.5 + d.reshape(shape) / c[:, None, None, None]).astype(np.float32)


GRADIENT_CASES = {
    "RandomFlip": (lambda: RandomFlip(seed=1), (4, 3, 4, 2)),
    "RandomRotation": (lambda: RandomRotation(0.2, seed=1), (2, 5, 6, 2)),
    "RandomRotation-nearest-wrap": (lambda: RandomRotation(
        0.3, fill_mode="wrap", interpolation="nearest", seed=1), (2, 5, 6, 2)),
    "RandomZoom": (lambda: RandomZoom(0.4, (-0.3, 0.2), fill_mode="nearest", seed=1),
                   (2, 5, 6, 2)),
    "RandomTranslation": (lambda: RandomTranslation(0.3, 0.3, fill_mode="constant",
                                                    fill_value=0.5, seed=1), (2, 5, 6, 2)),
    "RandomCrop": (lambda: RandomCrop(3, 4, seed=1), (2, 5, 6, 2)),
    "RandomCrop-upscale": (lambda: RandomCrop(5, 7, seed=1), (2, 3, 4, 2)),
    "RandomBrightness": (lambda: RandomBrightness(0.4, value_range=(0, 1), seed=1),
                         (2, 5, 6, 2)),
    "RandomContrast": (lambda: RandomContrast((0.5, 1.0), value_range=(0, 1), seed=1),
                       (2, 5, 6, 2)),
}


@pytest.mark.parametrize("name", GRADIENT_CASES)
def test_gradients_match_finite_differences(name):
    make, shape = GRADIENT_CASES[name]
    if name == "RandomBrightness":
        x = brightness_input(make, shape)
    elif name == "RandomContrast":
        x = contrast_input(make, shape)
    else:
        x = images(shape, low=-1)
    dx = check_layer_gradients(SameDraws(make), x, training=True, rtol=1e-3, atol=1e-4)
    assert np.any(dx != 0)
    if name in ("RandomBrightness", "RandomContrast"):   # both clipped and free pixels
        y = make().forward(x, training=True)
        assert np.any((y == 0) | (y == 1)) and np.any((y > 0) & (y < 1))


def test_crop_gradient_at_inference():
    x = images((2, 6, 10, 2))
    check_layer_gradients(RandomCrop(3, 4), x, training=False, rtol=1e-3, atol=1e-4)


# ---- configuration and saving ----------------------------------------------------------

CONFIGURED = {
    "RandomFlip": lambda: RandomFlip("vertical", seed=3, name="flip"),
    "RandomRotation": lambda: RandomRotation((-0.1, 0.2), fill_mode="constant",
                                             interpolation="nearest", fill_value=0.25, seed=3),
    "RandomZoom": lambda: RandomZoom(0.2, (-0.1, 0.3), fill_mode="wrap", seed=3),
    "RandomTranslation": lambda: RandomTranslation((-0.2, 0.1), 0.3, fill_mode="nearest", seed=3),
    "RandomCrop": lambda: RandomCrop(5, 4, seed=3),
    "RandomBrightness": lambda: RandomBrightness((-0.2, 0.4), value_range=(0, 1), seed=3),
    "RandomContrast": lambda: RandomContrast((0.2, 0.7), value_range=(-1, 1), seed=3),
}


@pytest.mark.parametrize("name", CONFIGURED)
def test_config_round_trip(name):
    layer = CONFIGURED[name]()
    config = layer.get_config()
    json.dumps(config)
    cls = fastnn.layers.get(name)
    assert cls is type(layer)
    clone = cls.from_config(config)
    assert clone.get_config() == config
    x = images()
    np.testing.assert_array_equal(clone(x, training=True), CONFIGURED[name]()(x, training=True))


def test_layers_get_finds_random_zoom():
    assert fastnn.layers.get("RandomZoom") is RandomZoom


def augmented_model():
    model = Sequential([
        RandomFlip("horizontal", seed=1, input_shape=(8, 8, 1)),
        RandomRotation(0.05, seed=2),
        RandomZoom(0.1, fill_mode="nearest", seed=3),
        RandomTranslation(0.1, 0.1, seed=4),
        RandomCrop(6, 6, seed=5),
        RandomBrightness(0.1, value_range=(0, 1)),
        RandomContrast(0.2, value_range=(0, 1)),
        Conv2D(2, 3, activation="relu"),
        Flatten(),
        Dense(2, activation="softmax"),
    ])
    model.compile(Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_a_saved_model_keeps_its_augmentation_layers(tmp_path):
    model = augmented_model()
    x = images((8, 8, 8, 1))
    model.fit(x, np.arange(8) % 2, epochs=1, batch_size=4, verbose=0)
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = fastnn.load_model(path)
    assert [type(l) for l in loaded.layers] == [type(l) for l in model.layers]
    assert [l.get_config() for l in loaded.layers] == [l.get_config() for l in model.layers]
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


# ---- in a model ---------------------------------------------------------------------------

def spy_on(layer, method, calls):
    """Record calls of ``layer.method`` (then run it)."""
    original = getattr(layer, method)

    def spy(*args, **kwargs):
        calls.append((layer.name, method))
        return original(*args, **kwargs)

    setattr(layer, method, spy)


def bright_or_dark(count=64, seed=0):
    """Images whose class (bright centre or not) survives flips and small turns."""
    rng = np.random.default_rng(seed)
    y = np.arange(count) % 2
    x = rng.uniform(0, 0.3, (count, 6, 6, 1)).astype(np.float32)
    x[y == 1, 2:4, 2:4] += 0.6
    return x, y


def test_a_model_trains_through_augmentation_without_backpropagating_into_it():
    set_random_seed(1)
    flip, rotation = RandomFlip("horizontal", input_shape=(6, 6, 1)), RandomRotation(0.05)
    conv, dense = Conv2D(2, 3, activation="relu"), Dense(1, activation="sigmoid")
    model = Sequential([flip, rotation, conv, Flatten(), dense])
    model.compile(Adam(0.05), "binary_crossentropy")
    calls = []
    for layer in (flip, rotation):
        for method in ("backward", "call_backward", "augment_backward"):
            spy_on(layer, method, calls)
    # the first trainable layer's backward step: its weight gradient through the relu
    spy_on(conv, "gradients_through_activation", calls)
    x, y = bright_or_dark()
    history = model.fit(x, y, epochs=15, batch_size=16, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.5 * losses[0], losses
    assert calls and set(calls) == {(conv.name, "gradients_through_activation")}
    assert conv.input_gradient_needed is False
    assert dense.input_gradient_needed is True
    # inference: deterministic and the same as the model without augmentation
    prediction = model.predict(x)
    np.testing.assert_array_equal(prediction, model.predict(x))
    np.testing.assert_allclose(prediction, dense(Flatten()(conv(x))), rtol=1e-6)
    assert model.evaluate(x, y, verbose=0) == model.evaluate(x, y, verbose=0)


def test_training_starts_backprop_at_the_first_trainable_layer():
    frozen = Dense(8, activation="relu", input_shape=(4,), trainable=False)
    middle, head = Dense(8, activation="relu"), Dense(1)
    model = Sequential([frozen, middle, head])
    model.compile(Adam(0.01), "mse")
    calls = []
    spy_on(frozen, "backward", calls)
    spy_on(middle, "backward", calls)
    before = [frozen.get_weights(), middle.get_weights()]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 4)).astype(np.float32)
    model.fit(x, x.sum(axis=1, keepdims=True), epochs=2, batch_size=8, verbose=0)
    assert calls and set(calls) == {(middle.name, "backward")}
    assert middle.input_gradient_needed is False and head.input_gradient_needed is True
    for a, b in zip(frozen.get_weights(), before[0]):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(middle.get_weights(), before[1]))
    # unfreezing: the first layer learns again, and takes part in backprop
    frozen.trainable = True
    model.compile(Adam(0.01), "mse")
    model.fit(x, x.sum(axis=1, keepdims=True), epochs=1, batch_size=8, verbose=0)
    assert (frozen.name, "backward") in calls
    assert frozen.input_gradient_needed is False and middle.input_gradient_needed is True
    assert any(not np.array_equal(a, b) for a, b in zip(frozen.get_weights(), before[0]))
