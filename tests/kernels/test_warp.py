"""Affine warps, forward and backward: every impl against the NumPy reference.

The reference is checked independently: known answers (identity, integer
shifts as slices, the fill-mode table, half-pixel means, a 180° turn as a
double flip, nearest rounding) run on every impl, and the backward pass is
checked as the transpose of the forward one (<warp(x), dy> == <x, warp^T(dy)>).
"""
import math
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastnn
from fastnn.kernels import affine_warp, affine_warp_backward, reference

from conftest import (NATIVE_IMPLS, assert_matches, each_impl, each_simd_path, f64,
                      pairs, seeds, simd_path, uniform)

FILL_MODES = ("reflect", "wrap", "nearest", "constant")
INTERPOLATIONS = ("bilinear", "nearest")
each_fill_mode = pytest.mark.parametrize("fill_mode", FILL_MODES)
each_interpolation = pytest.mark.parametrize("interpolation", INTERPOLATIONS)

# How far the random matrices may send a pixel (a multiple of the image size):
# "near" stays within a few pixels of the image, "far" goes many periods out
# so every fill mode's periodic/reflective branch is taken on both sides.
MATRIX_KINDS = ("near", "far", "integer")


def random_matrices(rng, kind, batch, in_hw, out_hw):
    """(batch, 6) output-to-input matrices: rotation·scale·shear plus a shift,
    or (kind "integer") axis flips/doublings with whole-pixel shifts."""
    t = np.zeros((batch, 6))
    for n in range(batch):
        if kind == "integer":
            linear = np.diag(rng.choice([-2, -1, 1, 2], 2)).astype(float)
            shift = rng.integers(-15, 16, 2).astype(float)
        else:
            angle = rng.uniform(-np.pi, np.pi)
            rotation = np.array([[np.cos(angle), -np.sin(angle)],
                                 [np.sin(angle), np.cos(angle)]])
            scale_shear = np.array([[rng.uniform(0.3, 2.5) * rng.choice([-1, 1]),
                                     rng.uniform(-0.5, 0.5)],
                                    [0.0, rng.uniform(0.3, 2.5) * rng.choice([-1, 1])]])
            linear = rotation @ scale_shear
            out_centre = (np.array(out_hw[::-1]) - 1) / 2
            in_centre = (np.array(in_hw[::-1]) - 1) / 2
            reach = 3.0 if kind == "near" else rng.uniform(5, 60) * max(in_hw)
            shift = in_centre - linear @ out_centre + rng.uniform(-reach, reach, 2)
        t[n] = [linear[0, 0], linear[0, 1], shift[0], linear[1, 0], linear[1, 1], shift[1]]
    return t


@dataclass(frozen=True)
class WarpCase:
    batch: int
    in_hw: Tuple[int, int]
    out_hw: Optional[Tuple[int, int]]   # None: the kernel's default, the input size
    channels: int
    kind: str
    interpolation: str
    fill_mode: str
    fill_value: float
    seed: int

    @property
    def output_hw(self):
        return self.in_hw if self.out_hw is None else self.out_hw

    @property
    def options(self):
        return {"interpolation": self.interpolation, "fill_mode": self.fill_mode,
                "fill_value": self.fill_value}

    def arrays(self):
        """float32 (x, transforms, dy)."""
        rng = np.random.default_rng(self.seed)
        x = uniform(rng, (self.batch,) + self.in_hw + (self.channels,))
        t = random_matrices(rng, self.kind, self.batch, self.in_hw,
                            self.output_hw).astype(np.float32)
        dy = uniform(rng, (self.batch,) + self.output_hw + (self.channels,))
        return x, t, dy


@st.composite
def warp_cases(draw, max_batch=4, max_size=12, max_channels=20):
    """Sizes from 1 pixel up, output sizes equal to or different from the input."""
    return WarpCase(
        batch=draw(st.integers(1, max_batch)), in_hw=draw(pairs(1, max_size)),
        out_hw=draw(st.none() | pairs(1, max_size)),
        channels=draw(st.integers(1, max_channels)),
        kind=draw(st.sampled_from(MATRIX_KINDS)),
        interpolation=draw(st.sampled_from(INTERPOLATIONS)),
        fill_mode=draw(st.sampled_from(FILL_MODES)),
        fill_value=draw(st.floats(-2, 2, allow_nan=False)), seed=draw(seeds))


def check_forward(case, impl):
    x, t, _ = case.arrays()
    y = affine_warp(x, t, case.out_hw, **case.options, impl=impl)
    expected = reference.affine_warp(f64(x), f64(t), case.output_hw, case.interpolation,
                                     case.fill_mode, case.fill_value)
    assert_matches(y, expected, 4)


def check_backward(case, impl):
    x, t, dy = case.arrays()
    dx = affine_warp_backward(dy, t, case.in_hw, **case.options, impl=impl)
    expected = reference.affine_warp_backward(f64(dy), f64(t), case.in_hw, case.interpolation,
                                              case.fill_mode)
    # an input pixel may receive from every output pixel (4 taps each)
    assert_matches(dx, expected, 4 * math.prod(case.output_hw))


@pytest.mark.parametrize("impl", NATIVE_IMPLS)
@given(case=warp_cases())
def test_forward_and_backward_match_reference(impl, case):
    check_forward(case, impl)
    check_backward(case, impl)


def fixed_case(batch, in_hw, out_hw, channels, kind, interpolation, fill_mode, seed):
    return WarpCase(batch, in_hw, out_hw, channels, kind, interpolation, fill_mode, 0.5, seed)


# Big enough for the fast kernels to use two threads (rows forward, images backward).
THREADED = fixed_case(4, (20, 24), (32, 30), 16, "near", "bilinear", "reflect", 1)
FIXED = {
    "threaded": THREADED,
    "far-wrap-nearest": fixed_case(3, (7, 5), (16, 18), 9, "far", "nearest", "wrap", 2),
    "far-constant": fixed_case(2, (12, 1), (9, 9), 20, "far", "bilinear", "constant", 3),
    "one-pixel-reflect": fixed_case(2, (1, 1), (5, 6), 3, "near", "bilinear", "reflect", 4),
    "shrink-nearest": fixed_case(3, (12, 12), (3, 2), 17, "near", "bilinear", "nearest", 5),
}


@each_simd_path
@pytest.mark.parametrize("name", FIXED)
def test_fast_fixed_cases_on_both_simd_paths(simd, name):
    with simd_path(simd):
        check_forward(FIXED[name], "fast")
        check_backward(FIXED[name], "fast")


@pytest.mark.parametrize("impl", NATIVE_IMPLS)
def test_one_and_two_threads_agree(impl, restore_threads):
    x, t, dy = THREADED.arrays()
    results = []
    for threads in (1, 2):
        fastnn.set_num_threads(threads)
        check_forward(THREADED, impl)
        check_backward(THREADED, impl)
        results.append((affine_warp(x, t, THREADED.out_hw, **THREADED.options, impl=impl),
                        affine_warp_backward(dy, t, THREADED.in_hw, **THREADED.options,
                                             impl=impl)))
    # each output pixel (forward) and each image (backward) is computed the same way
    for one, two in zip(*results):
        np.testing.assert_array_equal(one, two)


def test_a_mnist_sized_batch_runs():
    """64 x 28x28x1, every sampling option (performance is measured in benchmarks)."""
    rng = np.random.default_rng(0)
    x = rng.random((64, 28, 28, 1), dtype=np.float32)
    t = random_matrices(rng, "near", 64, (28, 28), (28, 28)).astype(np.float32)
    for interpolation in INTERPOLATIONS:
        for fill_mode in FILL_MODES:
            y = affine_warp(x, t, interpolation=interpolation, fill_mode=fill_mode)
            dx = affine_warp_backward(y, t, (28, 28), interpolation=interpolation,
                                      fill_mode=fill_mode)
            assert y.shape == dx.shape == x.shape
            assert np.isfinite(y).all() and np.isfinite(dx).all()
    assert_matches(y, reference.affine_warp(f64(x), f64(t), (28, 28), interpolation, fill_mode),
                   4)


# ---- known answers (every impl, so these also check the reference) ------------

def image(rows):
    return np.array(rows, np.float32)[None, :, :, None]


def shifted(shift_x, shift_y=0.0):
    """Output (i, j) reads input (i + shift_y, j + shift_x)."""
    return [[1, 0, shift_x, 0, 1, shift_y]]


@each_impl
@each_interpolation
@each_fill_mode
def test_identity_returns_x_exactly(impl, interpolation, fill_mode):
    x = uniform(np.random.default_rng(1), (3, 5, 7, 4))
    t = np.tile([1, 0, 0, 0, 1, 0], (3, 1))
    options = {"interpolation": interpolation, "fill_mode": fill_mode, "fill_value": 7.0}
    np.testing.assert_array_equal(affine_warp(x, t, **options, impl=impl), x)
    np.testing.assert_array_equal(affine_warp_backward(x, t, (5, 7), **options, impl=impl), x)


@each_impl
@each_interpolation
def test_integer_shift_is_a_slice_plus_fill(impl, interpolation):
    x = uniform(np.random.default_rng(2), (2, 4, 6, 3))
    options = {"interpolation": interpolation, "fill_mode": "constant", "fill_value": -5.0}
    # [1, 0, 3, 0, 1, 0]: column j shows column j + 3: the image moves 3 left
    expected = np.full_like(x, -5.0)
    expected[:, :, :3] = x[:, :, 3:]
    t = np.tile([1, 0, 3, 0, 1, 0], (2, 1))
    np.testing.assert_array_equal(affine_warp(x, t, **options, impl=impl), expected)
    # [1, 0, 0, 0, 1, -2]: row i shows row i - 2: the image moves 2 down
    expected = np.full_like(x, -5.0)
    expected[:, 2:] = x[:, :2]
    t = np.tile([1, 0, 0, 0, 1, -2], (2, 1))
    np.testing.assert_array_equal(affine_warp(x, t, **options, impl=impl), expected)


# The 1x4 row [a b c d] = [1 2 3 4] seen through a 12-wide window starting
# 4 pixels left of it: "left of the image | the image | right of the image".
FILL_TABLE = {
    "reflect": "4 3 2 1 | 1 2 3 4 | 4 3 2 1",
    "wrap": "1 2 3 4 | 1 2 3 4 | 1 2 3 4",
    "nearest": "1 1 1 1 | 1 2 3 4 | 4 4 4 4",
    "constant": "9 9 9 9 | 1 2 3 4 | 9 9 9 9",
}


def table_row(text):
    return [float(v) for v in text.split() if v != "|"]


@each_impl
@each_interpolation
@pytest.mark.parametrize("periods", [0, 1, -1, 1000, -1000])
@each_fill_mode
def test_fill_mode_table(impl, interpolation, periods, fill_mode):
    """8 pixels is a whole period of both reflect and wrap, so a window moved
    by whole periods (8000 pixels away) sees the same pattern."""
    row = image([[1, 2, 3, 4]])
    expected = table_row(FILL_TABLE[fill_mode])
    if fill_mode in ("nearest", "constant") and periods:
        edge = {"nearest": (1, 4), "constant": (9, 9)}[fill_mode][periods > 0]
        expected = [edge] * 12
    options = {"interpolation": interpolation, "fill_mode": fill_mode, "fill_value": 9.0}
    y = affine_warp(row, shifted(-4 + 8 * periods), (1, 12), **options, impl=impl)
    np.testing.assert_array_equal(y[0, 0, :, 0], expected)
    # the same along the height: the column [a b c d]^T
    column = image([[1], [2], [3], [4]])
    y = affine_warp(column, shifted(0, -4 + 8 * periods), (12, 1), **options, impl=impl)
    np.testing.assert_array_equal(y[0, :, 0, 0], expected)


@each_impl
def test_bilinear_half_pixel_shift_is_the_mean_of_neighbours(impl):
    x = uniform(np.random.default_rng(3), (2, 5, 6, 3))
    y = affine_warp(x, np.tile(shifted(0.5), (2, 1)), (5, 5), fill_mode="constant", impl=impl)
    np.testing.assert_allclose(y, (x[:, :, :-1] + x[:, :, 1:]) / 2, rtol=1e-6, atol=1e-7)
    y = affine_warp(x, np.tile(shifted(0.5, 0.5), (2, 1)), (4, 5), fill_mode="constant",
                    impl=impl)
    mean = (x[:, :-1, :-1] + x[:, :-1, 1:] + x[:, 1:, :-1] + x[:, 1:, 1:]) / 4
    np.testing.assert_allclose(y, mean, rtol=1e-6, atol=1e-7)


@each_impl
@each_interpolation
@pytest.mark.parametrize("size", [(5, 7), (4, 6), (1, 3)])
def test_half_turn_about_the_centre_flips_both_axes(impl, interpolation, size):
    height, width = size
    x = uniform(np.random.default_rng(4), (2, height, width, 3))
    # exact: (x, y) -> (W-1-x, H-1-y)
    t = np.tile([-1, 0, width - 1, 0, -1, height - 1], (2, 1))
    flipped = x[:, ::-1, ::-1]
    np.testing.assert_array_equal(affine_warp(x, t, interpolation=interpolation, impl=impl),
                                  flipped)
    # as a rotation by pi about the centre, with cos/sin rounding
    cos, sin = np.cos(np.pi), np.sin(np.pi)
    cx, cy = (width - 1) / 2, (height - 1) / 2
    t = np.tile([cos, -sin, cx - cos * cx + sin * cy, sin, cos, cy - sin * cx - cos * cy], (2, 1))
    y = affine_warp(x, t, interpolation=interpolation, fill_mode="nearest", impl=impl)
    np.testing.assert_allclose(y, flipped, atol=1e-5)


@each_impl
def test_nearest_interpolation_rounds_to_the_closest_pixel(impl):
    row = image([[1, 2, 3, 4, 5]])
    options = {"interpolation": "nearest", "fill_mode": "constant", "fill_value": 0.0}
    for shift, expected in [(0.4, [1, 2, 3, 4, 5]), (-0.4, [1, 2, 3, 4, 5]),
                            (0.6, [2, 3, 4, 5, 0]), (-0.6, [0, 1, 2, 3, 4]),
                            (1.45, [2, 3, 4, 5, 0]), (1.55, [3, 4, 5, 0, 0])]:
        y = affine_warp(row, shifted(shift), **options, impl=impl)
        np.testing.assert_array_equal(y[0, 0, :, 0], expected, err_msg=f"shift {shift}")


@each_impl
def test_each_image_uses_its_own_matrix(impl):
    x = uniform(np.random.default_rng(5), (3, 4, 4, 2))
    t = np.array([[1, 0, 0, 0, 1, 0], [-1, 0, 3, 0, 1, 0], [1, 0, 0, 0, -1, 3]])
    y = affine_warp(x, t, impl=impl)
    np.testing.assert_array_equal(y[0], x[0])
    np.testing.assert_array_equal(y[1], x[1, :, ::-1])
    np.testing.assert_array_equal(y[2], x[2, ::-1])


@each_impl
def test_an_empty_batch_gives_an_empty_result(impl):
    x = np.zeros((0, 3, 4, 2), np.float32)
    assert affine_warp(x, np.zeros((0, 6)), (5, 6), impl=impl).shape == (0, 5, 6, 2)
    assert affine_warp_backward(x, np.zeros((0, 6)), (2, 2), impl=impl).shape == (0, 2, 2, 2)


# ---- the backward pass is the transpose ------------------------------------------

def inner(a, b):
    return float(np.sum(f64(a) * f64(b)))


@each_impl
@each_fill_mode
@settings(max_examples=10)
@given(case=warp_cases(max_channels=4))
def test_backward_is_the_transpose(impl, fill_mode, case):
    """<warp(x), dy> == <x, warp_backward(dy)>; "constant" with fill_value 0
    is linear too."""
    x, t, dy = case.arrays()
    options = {"interpolation": case.interpolation, "fill_mode": fill_mode, "fill_value": 0.0}
    y = affine_warp(x, t, case.out_hw, **options, impl=impl)
    dx = affine_warp_backward(dy, t, case.in_hw, **options, impl=impl)
    terms = 4 * y.size
    assert abs(inner(y, dy) - inner(x, dx)) <= 1e-5 * math.sqrt(terms) * (1 + abs(inner(y, dy)))


@each_impl
@settings(max_examples=15)
@given(case=warp_cases(max_channels=4))
def test_constant_fill_with_a_value_is_affine_with_the_same_transpose(impl, case):
    """warp(x) - warp(0) is the linear part, whatever fill_value; its
    transpose is the backward pass, which fill_value does not change."""
    x, t, dy = case.arrays()
    options = {"interpolation": case.interpolation, "fill_mode": "constant"}
    fill = case.fill_value
    linear = (affine_warp(x, t, case.out_hw, **options, fill_value=fill, impl=impl).astype(float)
              - affine_warp(np.zeros_like(x), t, case.out_hw, **options, fill_value=fill,
                            impl=impl))
    dx = affine_warp_backward(dy, t, case.in_hw, **options, fill_value=fill, impl=impl)
    np.testing.assert_array_equal(
        dx, affine_warp_backward(dy, t, case.in_hw, **options, fill_value=0.0, impl=impl))
    terms = 4 * linear.size
    assert (abs(inner(linear, dy) - inner(x, dx))
            <= 1e-5 * math.sqrt(terms) * (1 + abs(fill) + abs(inner(linear, dy))))


# ---- validation -------------------------------------------------------------------

X = np.zeros((2, 3, 4, 1), np.float32)
T = np.tile([1.0, 0, 0, 0, 1, 0], (2, 1))
BAD_ARGUMENTS = [
    ("interpolation", {"interpolation": "bicubic"}),
    ("interpolation", {"interpolation": None}),
    ("fill_mode", {"fill_mode": "mirror"}),
    ("fill_mode", {"fill_mode": "Reflect"}),
    ("fill_value", {"fill_value": float("nan")}),
    ("fill_value", {"fill_value": float("inf")}),
    ("fill_value", {"fill_value": True}),
    ("fill_value", {"fill_value": "0"}),
    ("fill_value", {"fill_value": None}),
    ("transforms", {"transforms": np.zeros((2, 5))}),
    ("transforms", {"transforms": np.zeros((3, 6))}),
    ("transforms", {"transforms": np.zeros(6)}),
    ("transforms", {"transforms": [["a"] * 6] * 2}),
    ("transforms", {"transforms": np.where(np.eye(2, 6) > 0, np.nan, 0.0)}),
    ("transforms", {"transforms": np.where(np.eye(2, 6) > 0, np.inf, 0.0)}),
    ("transforms", {"transforms": T + [0, 0, 2e6, 0, 0, 0]}),
    ("impl", {"impl": "fastest"}),
]
BAD_SIZES = [0, (3,), (3, 0), (2.5, 3), (True, 3), (-1, 2), "3x3", (3, 3, 3)]


def check_raises(call, kernel, argument):
    with pytest.raises(ValueError) as info:
        call()
    message = str(info.value)
    assert message.startswith(f"{kernel}:"), message
    assert argument in message, message


@pytest.mark.parametrize("argument, bad", BAD_ARGUMENTS)
def test_bad_arguments_are_rejected_by_name(argument, bad):
    forward = {"x": X, "transforms": T, **bad}
    check_raises(lambda: affine_warp(**forward), "affine_warp", argument)
    backward = {"dy": X, "transforms": T, "input_size": (3, 3), **bad}
    check_raises(lambda: affine_warp_backward(**backward), "affine_warp_backward", argument)


@pytest.mark.parametrize("size", BAD_SIZES)
def test_bad_sizes_are_rejected(size):
    check_raises(lambda: affine_warp(X, T, output_size=size), "affine_warp", "output_size")
    check_raises(lambda: affine_warp_backward(X, T, input_size=size), "affine_warp_backward",
                 "input_size")


@pytest.mark.parametrize("shape", [(2, 0, 4, 1), (2, 3, 0, 1), (2, 3, 4, 0), (3, 4, 1),
                                   (1, 2, 3, 4, 1), ()])
def test_empty_or_misshapen_images_are_rejected(shape):
    bad = np.zeros(shape, np.float32)
    check_raises(lambda: affine_warp(bad, T), "affine_warp", "x")
    check_raises(lambda: affine_warp_backward(bad, T, (3, 3)), "affine_warp_backward", "dy")


def test_non_numeric_images_are_rejected():
    check_raises(lambda: affine_warp(X.astype(str), T), "affine_warp", "x")


@pytest.mark.parametrize("fill_value", [1e39, -1e39, 10**400], ids=["1e39", "-1e39", "10**400"])
def test_fill_value_beyond_float32_is_rejected(fill_value):
    """A fill_value finite as a Python float but beyond float32 would become
    ±inf in C and turn bilinear "constant" output into NaN (0-weight taps ×
    inf); an int too large for any float must not leak NumPy's TypeError."""
    with pytest.raises(ValueError, match="fill_value"):
        affine_warp(X, T + [0, 0, 10, 0, 0, 0], fill_mode="constant", fill_value=fill_value)
