"""Winograd's weight gradient of 3x3 stride-1 convolutions against the definition.

``conv2d_backward(..., algorithm="winograd")`` computes dW by F(4x4, 3x3)
(csrc/conv2d_winograd_weight_gradient.c).  Its transforms multiply by
constants up to 8 and divide by 6 and 24, and each of the 36 products it
sums mixes all nine taps of a (ci, co) pair -- so a weight's rounding error
scales with what all nine taps sum, not with its own sum alone (a 1x1 output
has dW = x · dy, one product, yet comes out of B^T d B and G^T M G with the
error of their nine-term sums).  Every dW[kh, kw, ci, co] is checked against
the float64 reference within

    |dW - dW_64| <= 2e-6 · T[ci, co],   T = Σ over taps and pixels of |x| · |dy|

(T: the reference's dW of |x| and |dy|, summed over the 3x3 taps).  Measured
over 300 random shapes: at most 5.9e-7 · T (5 float32 epsilons); the
definition's GEMM: 5.8e-8 · T.  db must match as tightly as every other
kernel's (``assert_matches``).
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastnn
from fastnn.kernels import conv2d_backward, reference

from conftest import (ConvCase, assert_matches, each_simd_path, f64, output_length,
                      seeds, simd_path)

T_RTOL = 2e-6


def case(batch, size, in_c, out_c, padding, seed=0):
    return ConvCase(batch, size[0], size[1], in_c, 3, 3, out_c, (1, 1), padding, False, seed)


def winograd_dw(c, algorithm="winograd"):
    x, w, _, dy = c.arrays()
    _, dw, db = conv2d_backward(x, w, dy, padding=c.padding, compute_dx=False,
                                algorithm=algorithm)
    return dw, db


def check(c, dw, db):
    """dw and db of case c against the float64 reference (tolerance above)."""
    x, w, _, dy = c.arrays()
    _, ew, eb = reference.conv2d_backward(f64(x), f64(w), f64(dy), (1, 1), c.padding)
    _, size, _ = reference.conv2d_backward(np.abs(f64(x)), f64(w), np.abs(f64(dy)), (1, 1),
                                           c.padding)
    assert dw.dtype == np.float32 and dw.shape == ew.shape
    error = np.abs(dw - ew)
    allowed = np.broadcast_to(T_RTOL * size.sum(axis=(0, 1), keepdims=True), error.shape)
    worst = np.unravel_index(np.argmax(error - allowed), error.shape)
    assert np.all(error <= allowed), (
        f"dW{worst}: {dw[worst]} vs {ew[worst]}, error {error[worst]:.3g} > {allowed[worst]:.3g}")
    pixels = c.batch * c.out_shape[1] * c.out_shape[2]
    assert_matches(db, eb, pixels)


# Output sizes 1..5, 11 and 13 (tiles of 4 that overhang the output by 3, 2, 1
# or 0 rows and columns), both paddings, channels 1/3/16/17/33/64 (the GEMM's
# panels of 16 or 6 rows: full, partial, a single channel), batch 1 and more.
FIXED = [
    case(1, (3, 3), 1, 1, "valid"),          # one output pixel, one channel
    case(2, (4, 5), 3, 16, "valid"),         # 2x3 outputs
    case(1, (5, 5), 16, 3, "valid"),         # 3x3
    case(3, (6, 6), 17, 17, "valid"),        # 4x4: one full tile
    case(1, (7, 6), 33, 64, "valid"),        # 5x4
    case(2, (13, 13), 32, 64, "valid"),      # 11x11: the demo CNN's second conv
    case(1, (15, 15), 64, 33, "valid"),      # 13x13
    case(1, (1, 1), 3, 17, "same"),          # every tap but the centre reads padding
    case(2, (2, 3), 17, 1, "same"),
    case(1, (5, 4), 64, 16, "same"),
    case(2, (11, 13), 16, 33, "same"),
    case(1, (13, 11), 1, 64, "same"),
]


@pytest.mark.parametrize("c", FIXED, ids=lambda c: f"{c.batch}x{c.in_h}x{c.in_w}x{c.in_c}"
                         f"-{c.out_c}-{c.padding}")
def test_fixed_cases_match_the_definition(c):
    check(c, *winograd_dw(c))


# Above the line where the work is shared by threads (fastnn_threads_for: 2·10⁵
# operations; these are 10⁷ and more) and over several blocks of 128 tiles
# (7·7·9 = 441 and 9·4·4 = 144 tiles), on every SIMD path.
LARGE = [case(9, (27, 27), 17, 33, "valid", seed=1),
         case(9, (15, 13), 32, 64, "same", seed=2)]


@each_simd_path
@pytest.mark.parametrize("c", LARGE, ids=["27x27-17-33-valid", "15x13-32-64-same"])
def test_thread_counts_give_the_same_bits(simd, c, restore_threads):
    """On each path, dW and db are bit for bit the same on 1, 2, 3, 4 and 7
    threads (the 6x6 positions' rows split 3+3, 2+2+2, 1+2+1+2, 1 each),
    and match the definition."""
    with simd_path(simd):
        results = []
        for threads in (1, 2, 3, 4, 7):
            fastnn.set_num_threads(threads)
            results.append(winograd_dw(c))
    for dw, db in results[1:]:
        np.testing.assert_array_equal(dw, results[0][0])
        np.testing.assert_array_equal(db, results[0][1])
    check(c, *results[0])


@st.composite
def winograd_cases(draw):
    """3x3 stride-1 convolutions: outputs 1..14 each way, 1..40 channels."""
    padding = draw(st.sampled_from(["valid", "same"]))
    extra = 2 if padding == "valid" else 0
    size = (draw(st.integers(1, 14)) + extra, draw(st.integers(1, 14)) + extra)
    return case(draw(st.integers(1, 3)), size, draw(st.integers(1, 40)),
                draw(st.integers(1, 40)), padding, draw(seeds))


@each_simd_path
@settings(max_examples=30)
@given(c=winograd_cases())
def test_any_3x3_stride_1_convolution_on_every_simd_path(simd, c):
    with simd_path(simd):
        check(c, *winograd_dw(c))


def takes(c):
    """fastnn_winograd_weight_gradient_takes (csrc/conv2d_winograd_weight_gradient.c):
    16+ channels each way and in_c·out_c >= 512; of the tiles' pixels at least
    7/8 in the output below 1024 channel pairs, 3/4 from 1024."""
    out_h = output_length(c.in_h, 3, 1, c.padding)
    out_w = output_length(c.in_w, 3, 1, c.padding)
    tiled = -(-out_h // 4) * -(-out_w // 4) * 16
    pairs, inside = c.in_c * c.out_c, out_h * out_w
    share = (3, 4) if pairs >= 1024 else (7, 8)
    return c.in_c >= 16 and c.out_c >= 16 and pairs >= 512 and \
        share[1] * inside >= share[0] * tiled


@pytest.mark.parametrize("c", [case(4, (13, 13), 32, 64, "valid"),   # the demo CNN's
                               case(2, (16, 16), 32, 32, "same"),
                               case(2, (16, 16), 24, 24, "same"),    # 576 pairs, full tiles
                               case(2, (13, 13), 24, 24, "valid"),   # 576 pairs, 0.84 inside
                               case(2, (13, 13), 16, 64, "valid"),   # 1024 pairs, 0.84 inside
                               case(2, (7, 7), 64, 128, "valid"),    # 5x5: 4 tiles for 1.6
                               case(2, (16, 16), 16, 16, "same"),    # 256 channel pairs
                               case(2, (16, 16), 3, 64, "same")],
                         ids=["demo", "32-32", "24-24-full", "24-24-edge", "16-64-edge",
                              "5x5-outputs", "16-16", "3-channels"])
def test_auto_takes_winograd_by_the_documented_rule(c):
    """algorithm="auto" gives the same bits as "winograd" where the rule takes
    it, as "gemm" elsewhere (the two differ in their last bits)."""
    auto, chosen = winograd_dw(c, "auto"), winograd_dw(c, "winograd" if takes(c) else "gemm")
    other = winograd_dw(c, "gemm" if takes(c) else "winograd")
    np.testing.assert_array_equal(auto[0], chosen[0])
    assert not np.array_equal(auto[0], other[0])

