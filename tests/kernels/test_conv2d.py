"""conv2d forward and backward: every impl against the NumPy reference.

The reference itself is checked independently: its forward against plain
Python loops, its backward against central finite differences in float64.
"""
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastnn
from fastnn.kernels import conv2d, conv2d_backward, reference
from fastnn.kernels.convolution import DIRECT_FEW_C
from fastnn.kernels.geometry import Window2D, conv_output_length, same_padding

from conftest import (ConvCase, assert_matches, conv_cases, each_impl,
                      each_simd_path, f64, numerical_gradient, output_length, pad_before,
                      pairs, paddings, seeds, simd_path)


def check_forward(case, impl):
    x, w, b, _ = case.arrays()
    y = conv2d(x, w, b, strides=case.strides, padding=case.padding, impl=impl)
    expected = reference.conv2d(f64(x), f64(w), f64(b), case.strides, case.padding)
    assert expected.shape == case.out_shape
    assert_matches(y, expected, case.k_h * case.k_w * case.in_c)


def check_backward(case, impl):
    x, w, _, dy = case.arrays()
    dx, dw, db = conv2d_backward(x, w, dy, strides=case.strides, padding=case.padding,
                                 impl=impl)
    ex, ew, eb = reference.conv2d_backward(f64(x), f64(w), f64(dy), case.strides,
                                           case.padding)
    pixels = case.batch * case.out_shape[1] * case.out_shape[2]
    assert_matches(dx, ex, case.k_h * case.k_w * case.out_c)
    assert_matches(dw, ew, pixels)
    assert_matches(db, eb, pixels)


@each_impl
@given(case=conv_cases())
def test_forward_matches_reference(impl, case):
    check_forward(case, impl)


@each_impl
@given(case=conv_cases())
def test_backward_matches_reference(impl, case):
    check_backward(case, impl)


def case(batch, size, in_c, kernel, out_c, strides=(1, 1), padding="same", bias=True):
    return ConvCase(batch, size[0], size[1], in_c, kernel[0], kernel[1], out_c, strides,
                    padding, bias, seed=batch + in_c + out_c)


# Larger fixed cases: 70 channels; kh*kw*ci past KC=256 and pixels past MC=144;
# in_c around 16, where the fast backward switches from col2im to implicit GEMM;
# enough images (17 x 32x32 x 135 patch values) for col2im to work in chunks.
# On the avx512 path the forward pass and dx run on 32-wide panels of W
# (out_c, resp. in_c, columns): a full one and a last one of 17 (two vectors)
# or 16 and 1 (one vector) columns.
FIXED = {
    "70-channels": case(2, (9, 9), 70, (3, 3), 70),
    "avx512-panels-49-out-48-in": case(3, (7, 6), 48, (3, 3), 49),
    "avx512-panels-33-out-49-in": case(2, (6, 7), 49, (2, 3), 33, (1, 2)),
    # last panels of at most 8 columns (8-wide vectors on avx512 and avx2: 40 =
    # 32 + 8, 38 = 32 + 6, 5) and of 17-24 (a 16- and an 8-wide vector: 20)
    "panel-tails-40-out-20-in": case(2, (8, 7), 20, (3, 2), 40),
    "panel-tails-5-out-38-in": case(2, (7, 9), 38, (3, 3), 5, (2, 1), "valid"),
    "70-out-channels-valid": case(3, (11, 7), 3, (5, 3), 70, (2, 1), "valid"),
    "in-c-15": case(2, (13, 13), 15, (3, 3), 17),
    "in-c-16": case(2, (13, 13), 16, (3, 3), 17, (2, 2)),
    "in-c-17": case(2, (13, 13), 17, (3, 3), 9, (1, 2), "valid", False),
    "col2im-chunks": case(17, (32, 32), 15, (3, 3), 4),
    "kernel-as-large-as-input": case(3, (6, 9), 5, (6, 9), 7, (1, 1), "valid"),
    "same-kernel-larger-than-input": case(2, (3, 2), 4, (5, 6), 3, (2, 3)),
    "one-by-one": case(4, (17, 19), 20, (1, 1), 20, (3, 3), "valid"),
    "even-kernel-same": case(2, (10, 11), 6, (4, 2), 5, (3, 2)),
    # the weight gradient read in place: kernel rows as runs of k_w*in_c values
    # (ragged 18, 36, 15, 30; whole 16, 32), dy in place or packed (out_c 16 | 20, 17)
    "in-c-6-ragged-runs": case(2, (9, 8), 6, (3, 3), 20, (2, 2)),
    "in-c-12-runs-of-36": case(3, (11, 9), 12, (3, 3), 16, (1, 1), "valid"),
    "in-c-3-runs-of-15": case(2, (12, 12), 3, (5, 5), 17),
    "lenet-6-to-16": case(2, (14, 14), 6, (5, 5), 16, (1, 1), "valid"),
    "runs-of-16-in-place": case(3, (9, 9), 8, (2, 2), 16, (1, 1), "valid"),
    # pointwise, stride 1 and 2: dx phases without taps are zero
    "one-by-one-same": case(3, (9, 11), 24, (1, 1), 20, (1, 1), "same"),
    "one-by-one-stride-2": case(3, (9, 11), 32, (1, 1), 32, (2, 2), "valid"),
    "one-by-one-stride-2-same": case(2, (10, 7), 17, (1, 1), 16, (2, 2), "same"),
    # pointwise dx on the direct kernel (input_gradient_pointwise in csrc/conv2d.c, in_c and out_c
    # <= 32): W^T with 1-7 filters (one padded vector), 9 and 17 (a last vector
    # overlapping the one before), the 32x32 limit; 33 channels stay on the GEMM
    "pointwise-5-to-3": case(3, (7, 9), 5, (1, 1), 3, (1, 1), "valid"),
    "pointwise-9-to-2": case(2, (5, 11), 9, (1, 1), 2, (1, 1), "same", False),
    "pointwise-17-to-31": case(2, (9, 8), 17, (1, 1), 31),
    "pointwise-32-to-32": case(2, (9, 8), 32, (1, 1), 32, (1, 1), "valid"),
    "pointwise-33-to-16": case(2, (6, 7), 33, (1, 1), 16),
    "pointwise-16-to-33": case(2, (6, 7), 16, (1, 1), 33),
    # stride 2 (and 3) on odd sizes: dx by phases, each a stride-1 sub-kernel
    "stride-2-odd-same": case(3, (15, 13), 20, (3, 3), 24, (2, 2), "same"),
    "stride-2-odd-valid": case(2, (13, 11), 18, (3, 3), 17, (2, 2), "valid"),
    "stride-2-even-kernel": case(2, (9, 9), 16, (2, 2), 16, (2, 2), "same"),
    "stride-3-over-2x2": case(2, (11, 10), 16, (2, 2), 8, (3, 3), "same"),
    "stride-2-by-1": case(2, (9, 10), 16, (5, 3), 16, (2, 1), "same"),
    "stride-3-by-1-over-2x3": case(2, (11, 9), 16, (2, 3), 8, (3, 1), "same"),
    # the indirect GEMM leaves out the taps that read only padding for a whole
    # tile: dx of "valid" convolutions (13 x 13 from 11 x 11) and a forward with
    # wide padding; with fewer than 6 images every tile mixes pixels, which may
    # straddle grid rows and the border
    "valid-dx-border-taps": case(3, (13, 13), 32, (3, 3), 33, (1, 1), "valid"),
    "valid-dx-5x5-on-7x8": case(2, (7, 8), 9, (5, 5), 20, (1, 1), "valid"),
    # its tiles are one pixel of 6 images: 13 images are two blocks of 6 and a
    # remainder of 1 (whose tiles mix pixels), 12 are two blocks exactly
    "image-blocks-13-valid": case(13, (7, 6), 20, (3, 3), 17, (1, 1), "valid"),
    "image-blocks-12-stride-2": case(12, (9, 7), 16, (3, 3), 24, (2, 2), "same"),
    "image-blocks-8-same": case(8, (5, 9), 17, (3, 3), 33),
}


@each_impl
@pytest.mark.parametrize("name", FIXED)
def test_fixed_cases(impl, name):
    check_forward(FIXED[name], impl)
    check_backward(FIXED[name], impl)


@each_simd_path
@given(case=conv_cases())
def test_fast_simd_paths(simd, case):
    with simd_path(simd):
        check_forward(case, "fast")
        check_backward(case, "fast")


@each_simd_path
def test_fast_simd_paths_fixed_cases(simd):
    with simd_path(simd):
        for c in FIXED.values():
            check_forward(c, "fast")
            check_backward(c, "fast")


@st.composite
def first_layers(draw):
    """Convolutions on the direct kernels (direct_conv_takes): 1-4 input
    channels, windows up to 7x7 (K up to 196), out_c around the vector width (1-7: W padded
    to 8 lanes; 9, 17: a last vector overlapping the one before) or any up to 40."""
    in_c = draw(st.integers(1, DIRECT_FEW_C))
    k_h = draw(st.integers(1, 7))
    k_w = draw(st.integers(1, 7))
    padding = draw(paddings)
    extra = 0 if padding == "same" else 1
    size = (draw(st.integers(k_h * extra or 1, 20)), draw(st.integers(k_w * extra or 1, 20)))
    out_c = draw(st.sampled_from([1, 3, 6, 7, 9, 17]) | st.integers(1, 40))
    return ConvCase(batch=draw(st.integers(1, 3)), in_h=size[0], in_w=size[1], in_c=in_c,
                    k_h=k_h, k_w=k_w, out_c=out_c, strides=draw(pairs(1, 2)), padding=padding,
                    bias=draw(st.booleans()), seed=draw(seeds))


@each_simd_path
@settings(max_examples=60)
@given(c=first_layers())
def test_direct_kernels_on_every_simd_path(simd, c):
    with simd_path(simd):
        check_forward(c, "fast")
        check_backward(c, "fast")


@st.composite
def pointwise_layers(draw):
    """1x1 convolutions of stride 1 (dx on the direct kernel up to 32 channels
    each way, input_gradient_pointwise in csrc/conv2d.c), channels on both sides of that limit."""
    return ConvCase(batch=draw(st.integers(1, 3)), in_h=draw(st.integers(1, 12)),
                    in_w=draw(st.integers(1, 12)), in_c=draw(st.integers(1, 36)), k_h=1,
                    k_w=1, out_c=draw(st.integers(1, 36)), strides=(1, 1),
                    padding=draw(paddings), bias=draw(st.booleans()), seed=draw(seeds))


@each_simd_path
@settings(max_examples=40)
@given(c=pointwise_layers())
def test_pointwise_on_every_simd_path(simd, c):
    with simd_path(simd):
        check_forward(c, "fast")
        check_backward(c, "fast")


@each_simd_path
@pytest.mark.parametrize("c", [case(4, (20, 20), 24, (3, 3), 32, padding="same"),
                               case(8, (13, 13), 33, (3, 3), 49, padding="valid"),
                               case(16, (12, 12), 3, (3, 3), 20, padding="valid"),
                               case(16, (28, 28), 1, (5, 5), 6, padding="same"),
                               case(9, (27, 27), 1, (7, 7), 17, (2, 2), "same"),
                               case(9, (23, 25), 3, (5, 5), 3, (2, 1), "valid"),
                               case(7, (28, 28), 1, (3, 3), 1, (1, 2), "same"),
                               case(8, (15, 13), 24, (3, 3), 20, (2, 2), "same"),
                               case(8, (16, 15), 32, (1, 1), 16, (1, 1), "valid"),
                               case(64, (16, 16), 16, (1, 1), 16, (1, 1), "valid"),
                               case(8, (14, 14), 6, (5, 5), 16, (1, 1), "valid"),
                               case(13, (11, 11), 19, (3, 3), 35, padding="valid")],
                         ids=["indirect", "indirect-partial-panels", "direct-and-col2im",
                              "direct-lenet-5x5-6", "direct-7x7-17-stride-2",
                              "direct-5x5x3-3", "direct-1-channel",
                              "phases-and-in-place-dW", "pointwise", "pointwise-16-to-16",
                              "lenet-col2im", "indirect-image-blocks-13"])
def test_thread_counts_give_the_same_bits(simd, c, restore_threads):
    """On each path, y, dx, dw and db are bit for bit the same on 1, 2 and 3 threads."""
    x, w, b, dy = c.arrays()
    with simd_path(simd):
        results = []
        for threads in (1, 2, 3):
            fastnn.set_num_threads(threads)
            results.append((conv2d(x, w, b, c.strides, c.padding),
                            *conv2d_backward(x, w, dy, c.strides, c.padding)))
        check_forward(c, "fast")
        check_backward(c, "fast")
    for other in results[1:]:
        for first, array in zip(results[0], other):
            np.testing.assert_array_equal(array, first)


@each_impl
def test_float64_and_strided_inputs(impl):
    x, w, b, _ = case(2, (7, 8), 3, (3, 2), 4).arrays()
    x_strided = np.zeros((2, 14, 8, 3))[:, ::2]
    x_strided[...] = x
    y = conv2d(x_strided, np.asfortranarray(f64(w)), b.tolist(), padding="same", impl=impl)
    expected = reference.conv2d(f64(x), f64(w), f64(b), (1, 1), "same")
    assert_matches(y, expected, 3 * 2 * 3)
    assert y.flags.c_contiguous


@each_impl
def test_int_strides_and_uppercase_padding(impl):
    x, w, b, _ = case(1, (9, 9), 2, (3, 3), 2).arrays()
    y = conv2d(x, w, b, strides=2, padding="SAME", impl=impl)
    expected = reference.conv2d(f64(x), f64(w), f64(b), (2, 2), "same")
    assert_matches(y, expected, 18)


# ---- the reference, checked independently -----------------------------------

def conv2d_loops(x, w, b, strides, padding):
    """Keras Conv2D as plain loops, zero padding read as "outside the image"."""
    n, in_h, in_w, in_c = x.shape
    k_h, k_w, _, out_c = w.shape
    (s_h, s_w) = strides
    out_h, top = output_length(in_h, k_h, s_h, padding), pad_before(in_h, k_h, s_h, padding)
    out_w, left = output_length(in_w, k_w, s_w, padding), pad_before(in_w, k_w, s_w, padding)
    y = np.zeros((n, out_h, out_w, out_c))
    for i, oh, ow, co in itertools.product(range(n), range(out_h), range(out_w), range(out_c)):
        total = 0.0 if b is None else b[co]
        for kh, kw, ci in itertools.product(range(k_h), range(k_w), range(in_c)):
            h, v = oh * s_h - top + kh, ow * s_w - left + kw
            if 0 <= h < in_h and 0 <= v < in_w:
                total += x[i, h, v, ci] * w[kh, kw, ci, co]
        y[i, oh, ow, co] = total
    return y


@given(case=conv_cases(max_batch=2, max_size=6, max_channels=3))
def test_reference_forward_matches_loops(case):
    x, w, b, _ = map(f64, case.arrays())
    expected = conv2d_loops(x, w, b, case.strides, case.padding)
    np.testing.assert_allclose(reference.conv2d(x, w, b, case.strides, case.padding),
                               expected, rtol=1e-12, atol=1e-12)


def test_reference_forward_by_hand():
    """2x3 image, 2x2 kernel with "same" padding: the extra zero column goes right."""
    x = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]).reshape(1, 2, 3, 1)
    w = np.array([[1.0, 10.0], [100.0, 1000.0]]).reshape(2, 2, 1, 1)
    y = reference.conv2d(x, w, np.array([0.5]), (1, 1), "same")[0, :, :, 0]
    # pad bottom 1, right 1: window (0,0) = [[1,2],[4,5]] -> 1 + 20 + 400 + 5000
    expected = [[5421.5, 6532.5, 603.5], [54.5, 65.5, 6.5]]
    np.testing.assert_array_equal(y, expected)


@settings(max_examples=15)
@given(case=conv_cases(max_batch=2, max_size=5, max_channels=2))
def test_reference_backward_matches_finite_differences(case):
    x, w, b, dy = map(f64, case.arrays())
    b = np.zeros(case.out_c) if b is None else b
    s, p = case.strides, case.padding

    def loss(x=x, w=w, b=b):
        return float(np.sum(reference.conv2d(x, w, b, s, p) * dy))

    dx, dw, db = reference.conv2d_backward(x, w, dy, s, p)
    np.testing.assert_allclose(dx, numerical_gradient(lambda v: loss(x=v), x), atol=1e-7)
    np.testing.assert_allclose(dw, numerical_gradient(lambda v: loss(w=v), w), atol=1e-7)
    np.testing.assert_allclose(db, numerical_gradient(lambda v: loss(b=v), b), atol=1e-7)


# ---- geometry shared by kernels and reference -------------------------------

@pytest.mark.parametrize("size,kernel,stride,padding,expected", [
    (28, 3, 1, "valid", 26), (28, 3, 1, "same", 28), (4, 3, 1, "valid", 2),
    (26, 2, 2, "valid", 13), (5, 2, 2, "valid", 2), (5, 2, 2, "same", 3),
    (7, 7, 3, "valid", 1), (1, 4, 1, "same", 1), (10, 3, 3, "same", 4), (3, 5, 1, "valid", 0),
])
def test_conv_output_length_examples(size, kernel, stride, padding, expected):
    assert conv_output_length(size, kernel, stride, padding) == expected


@pytest.mark.parametrize("size,kernel,stride,expected", [
    (28, 3, 1, (1, 1)), (4, 3, 1, (1, 1)), (7, 4, 1, (1, 2)), (5, 2, 2, (0, 1)),
    (13, 6, 5, (1, 2)), (6, 1, 2, (0, 0)), (7, 2, 4, (0, 0)), (1, 5, 3, (2, 2)),
])
def test_same_padding_examples(size, kernel, stride, expected):
    assert same_padding(size, kernel, stride) == expected


@given(size=st.integers(1, 40), kernel=st.integers(1, 9), stride=st.integers(1, 5))
def test_geometry_matches_window_counting(size, kernel, stride):
    """Output length = windows that fit; same = least padding fitting ceil(size/s) windows."""
    fitting = len(range(0, size - kernel + 1, stride))
    assert conv_output_length(size, kernel, stride, "valid") == fitting
    out = -(-size // stride)
    assert conv_output_length(size, kernel, stride, "same") == out
    total = next(p for p in itertools.count() if (out - 1) * stride + kernel <= size + p)
    before, after = same_padding(size, kernel, stride)
    assert (before, after) == (total // 2, total - total // 2)


@given(size=pairs(1, 20), kernel=pairs(1, 6), strides=pairs(1, 4), padding=paddings)
def test_window2d_agrees_with_the_functions(size, kernel, strides, padding):
    win = Window2D.over(size[0], size[1], kernel, strides, padding)
    assert (win.out_h, win.out_w) == tuple(
        conv_output_length(n, k, s, padding) for n, k, s in zip(size, kernel, strides))
    if padding == "same":
        assert (win.pad_top, win.pad_bottom) == same_padding(size[0], kernel[0], strides[0])
        assert (win.pad_left, win.pad_right) == same_padding(size[1], kernel[1], strides[1])
    else:
        assert (win.pad_top, win.pad_bottom, win.pad_left, win.pad_right) == (0, 0, 0, 0)


@pytest.mark.parametrize("impl", ["fast", "naive", "numpy"])
def test_backward_without_input_gradient_gives_the_same_weight_gradients(impl):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 7, 6, 3)).astype(np.float32)
    w = rng.standard_normal((3, 3, 3, 4)).astype(np.float32)
    dy = rng.standard_normal((2, 7, 6, 4)).astype(np.float32)
    _, dw, db = conv2d_backward(x, w, dy, padding="same", impl=impl)
    dx, dw_only, db_only = conv2d_backward(x, w, dy, padding="same", impl=impl, compute_dx=False)
    assert dx is None
    np.testing.assert_array_equal(dw_only, dw)
    np.testing.assert_array_equal(db_only, db)


@pytest.mark.parametrize("impl", ["fast", "naive", "numpy"])
@pytest.mark.parametrize("in_c", [1, 16])  # the direct kernels (few channels) and the GEMM
def test_skipping_the_weight_gradient_leaves_dx_and_db_unchanged(impl, in_c):
    rng = np.random.default_rng(in_c)
    x = rng.normal(size=(2, 7, 6, in_c)).astype(np.float32)
    w = rng.normal(size=(3, 3, in_c, 5)).astype(np.float32)
    dy = rng.normal(size=(2, 4, 3, 5)).astype(np.float32)
    full = conv2d_backward(x, w, dy, (2, 2), "same", impl=impl)
    dx, dw, db = conv2d_backward(x, w, dy, (2, 2), "same", impl=impl, compute_dw=False)
    assert dw is None
    np.testing.assert_array_equal(dx, full[0])
    np.testing.assert_allclose(db, full[2], rtol=1e-6, atol=1e-6)
