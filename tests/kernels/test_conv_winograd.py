"""3x3 stride-1 convolutions by Winograd's F(4x4, 3x3) (csrc/conv2d_winograd.c).

The forward pass (bias, every activation of the epilogue) and the input
gradient, forced with ``algorithm="winograd"``, against the float64 NumPy
reference (fastnn/kernels/reference.py).  Winograd rounds a few times worse
than the definition -- its transforms scale values by up to 8 and add them
up before the products -- so the tolerance is relative to the size of the
terms each output sums: |fast - exact| <= TOL * (sum |x| |w| + |b|), the
same sum taken over absolute values (for dx: sum |dy| |w|), its largest
over each image's pixels.  Measured: at most 2.2e-6 of that on these
cases; TOL is 4.5x above.  A transform coefficient off by 1/4000 (4.001 for
4 in A^T) fails 86 of these tests, 1/24.1 for 1/24 in G 107.

Then: 1, 2 and 3 threads give the same bits on every SIMD path; the fused
activation is the separate pass bit for bit; and "auto" takes Winograd
exactly where fastnn_winograd_takes (csrc/fastnn.h) says.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastnn
from fastnn.kernels import activation, conv2d, conv2d_backward, reference, relu
from fastnn.kernels.activation import FROM_OUTPUT

from conftest import each_simd_path, f64, seeds, simd_path

TOL = 1e-5
ALPHA = {"elu": 0.7, "leaky_relu": 0.15}


def arrays(batch, size, in_c, out_c, padding, bias=True, seed=0):
    """x, w, b (or None), dy: normal values, as a trained net's are."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, *size, in_c)).astype(np.float32)
    w = rng.standard_normal((3, 3, in_c, out_c)).astype(np.float32)
    b = rng.standard_normal(out_c).astype(np.float32) if bias else None
    out = size if padding == "same" else (size[0] - 2, size[1] - 2)
    dy = rng.standard_normal((batch, *out, out_c)).astype(np.float32)
    return x, w, b, dy


def assert_close_to_terms(got, want, terms, what):
    """|got - want| <= TOL * terms, the terms' largest sum over the image's
    pixels (per image and channel): a 4x4 tile mixes the 36 patch values of
    its neighbours into each of its outputs, so an output near the border,
    with few terms of its own, rounds like its tile's full ones."""
    assert got.dtype == np.float32 and got.shape == want.shape, what
    scale = terms.max(axis=(1, 2), keepdims=True)
    err = np.abs(got - want) / np.maximum(scale, 1e-30)
    assert err.max() <= TOL, f"{what}: error {err.max():.3g} of the terms' size > {TOL}"


def check_forward(x, w, b, padding, name=None):
    """y within TOL of the exact convolution; with an activation (all of
    them rise monotonically), between act(z - e) and act(z + e) for the
    error e allowed to z, give or take act's own float32 rounding."""
    y = conv2d(x, w, b, padding=padding, activation=name, alpha=ALPHA.get(name),
               algorithm="winograd")
    z = reference.conv2d(f64(x), f64(w), f64(b), (1, 1), padding)
    terms = reference.conv2d(np.abs(f64(x)), np.abs(f64(w)),
                             None if b is None else np.abs(f64(b)), (1, 1), padding)
    if name is None:
        assert_close_to_terms(y, z, terms, "forward")
        return
    e = TOL * terms.max(axis=(1, 2), keepdims=True)
    lo, hi = (reference.epilogue(name, z + s, ALPHA.get(name)) for s in (-e, e))
    rounding = 1e-6 * np.abs(hi) + 1e-30
    assert y.dtype == np.float32 and y.shape == z.shape
    assert np.all((y >= lo - rounding) & (y <= hi + rounding)), f"forward {name}"
    assert_close_to_terms(conv2d(x, w, b, padding=padding, algorithm="winograd"), z, terms,
                          "forward")


def check_dx(x, w, dy, padding):
    dx, _, _ = conv2d_backward(x, w, dy, padding=padding, compute_dw=False,
                               algorithm="winograd")
    exact = reference.conv2d_backward(f64(x), f64(w), f64(dy), (1, 1), padding)[0]
    terms = reference.conv2d_backward(f64(x), np.abs(f64(w)), np.abs(f64(dy)), (1, 1),
                                      padding)[0]
    assert_close_to_terms(dx, exact, terms, "dx")


# (batch, (h, w), in_c, out_c, padding): outputs of 1x1 .. 5x5 pixels (tiles
# reaching past them), 11x11 and 13x13; 1, 3, 16, 17, 33, 64 channels; batch 1;
# 300 input channels (two reduction chunks of the engine's 256).
CASES = [
    (1, (3, 3), 1, 1, "valid"),
    (2, (1, 1), 3, 17, "same"),
    (3, (4, 4), 16, 3, "valid"),
    (2, (5, 6), 17, 33, "valid"),
    (1, (5, 5), 33, 16, "same"),
    (2, (7, 6), 3, 64, "valid"),
    (3, (13, 13), 64, 17, "valid"),
    (2, (13, 13), 33, 33, "same"),
    (1, (11, 11), 16, 64, "same"),
    (1, (6, 5), 300, 20, "same"),
]
CASE_IDS = [f"{b}x{h}x{w}x{ci}-{co}-{p}" for b, (h, w), ci, co, p in CASES]


@each_simd_path
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_forward_matches_reference(case, bias, simd):
    batch, size, in_c, out_c, padding = case
    x, w, b, _ = arrays(batch, size, in_c, out_c, padding, bias)
    with simd_path(simd):
        check_forward(x, w, b, padding)
        check_forward(x, w, b, padding, "relu")


@each_simd_path
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_input_gradient_matches_reference(case, simd):
    batch, size, in_c, out_c, padding = case
    x, w, _, dy = arrays(batch, size, in_c, out_c, padding)
    with simd_path(simd):
        check_dx(x, w, dy, padding)


@pytest.mark.parametrize("name", FROM_OUTPUT)
def test_every_epilogue_activation_matches_reference(name):
    x, w, b, _ = arrays(2, (9, 10), 17, 20, "same")
    check_forward(0.3 * x, w, b, "same", name)


@each_simd_path
@pytest.mark.parametrize("name", ("relu",) + FROM_OUTPUT)
def test_fused_activation_is_the_separate_pass_bit_for_bit(name, simd):
    x, w, b, _ = arrays(2, (9, 10), 17, 20, "same")
    x = 0.3 * x
    with simd_path(simd):
        fused = conv2d(x, w, b, padding="same", activation=name, alpha=ALPHA.get(name),
                       algorithm="winograd")
        plain = conv2d(x, w, b, padding="same", algorithm="winograd")
        unfused = relu(plain) if name == "relu" else activation(name, plain, ALPHA.get(name))
    np.testing.assert_array_equal(fused, unfused)


@each_simd_path
@pytest.mark.parametrize("case", [(7, (27, 27), 17, 33, "valid"),
                                  (7, (26, 26), 17, 33, "valid"),
                                  (13, (15, 15), 32, 40, "same")],
                         ids=["7x27x27x17-33-valid", "7x26x26x17-33-valid-transposed",
                              "13x15x15x32-40-same"])
def test_thread_counts_give_the_same_bits(case, simd, restore_threads):
    """Enough tiles for several blocks per thread (the threads' blocks start
    anywhere in the grid, the last block is partial); the second case's dx
    runs the transposed algorithm (24x24 dy: 36 tiles an image, against 49
    on dx's own grid), whose threads split the 7 images 3+4, 2+2+3, ..."""
    batch, size, in_c, out_c, padding = case
    x, w, b, dy = arrays(batch, size, in_c, out_c, padding)
    results = []
    with simd_path(simd):
        for threads in (1, 2, 3, 4, 8):
            fastnn.set_num_threads(threads)
            results.append((conv2d(x, w, b, padding=padding, activation="relu",
                                   algorithm="winograd"),
                            conv2d_backward(x, w, dy, padding=padding, compute_dw=False,
                                            algorithm="winograd")[0]))
        check_forward(x, w, b, padding, "relu")
        check_dx(x, w, dy, padding)
    for other in results[1:]:
        for first, array in zip(results[0], other):
            np.testing.assert_array_equal(array, first)


@st.composite
def winograd_cases(draw):
    padding = draw(st.sampled_from(["valid", "same"]))
    low = 3 if padding == "valid" else 1
    return (draw(st.integers(1, 3)), (draw(st.integers(low, 14)), draw(st.integers(low, 14))),
            draw(st.integers(1, 40)), draw(st.integers(1, 40)), padding,
            draw(st.booleans()), draw(seeds))


@settings(max_examples=40, deadline=None)
@given(case=winograd_cases())
def test_any_shape_matches_reference(case):
    batch, size, in_c, out_c, padding, bias, seed = case
    x, w, b, dy = arrays(batch, size, in_c, out_c, padding, bias, seed)
    check_forward(x, w, b, padding, "relu")
    check_dx(x, w, dy, padding)


def test_dilated_convolution_runs_on_phases():
    """A dilated 3x3 convolution is undilated ones on the input's phases
    (kernels.dilation), each on Winograd."""
    x, w, b, _ = arrays(2, (12, 11), 16, 16, "valid")
    y = conv2d(x, w, b, dilation_rate=2, algorithm="winograd")
    exact = conv2d(x, w, b, dilation_rate=2, impl="numpy")
    terms = conv2d(np.abs(x), np.abs(w), np.abs(b), dilation_rate=2, impl="numpy")
    assert_close_to_terms(y, exact, terms, "dilated forward")
    assert not bits(y, conv2d(x, w, b, dilation_rate=2, algorithm="gemm"))


def bits(a, b):
    return a.shape == b.shape and np.array_equal(a.view(np.uint32), b.view(np.uint32))


@pytest.mark.parametrize("case, forward, dx", [
    # 16+ channels each way, tiles mostly used: both passes
    ((4, (26, 26), 32, 64, "valid"), True, True),
    ((2, (16, 16), 32, 32, "same"), True, True),
    # the demo's 13x13 -> 11x11: dx on dy's 9 tiles (the transposed
    # algorithm; dx's own grid would take 16, 0.47 of them useful)
    ((4, (13, 13), 32, 64, "valid"), True, True),
    ((4, (9, 9), 64, 64, "valid"), True, True),
    # 16 -> 16: only from 9 tiles an image
    ((2, (14, 14), 16, 16, "valid"), True, True),
    ((2, (8, 8), 16, 16, "same"), False, False),
    # fewer than 16 channels either way: the GEMM (direct kernels, col2im)
    ((2, (16, 16), 8, 32, "same"), False, False),
    ((2, (16, 16), 32, 15, "same"), False, False),
])
def test_auto_takes_winograd_where_the_rule_says(case, forward, dx):
    batch, size, in_c, out_c, padding = case
    x, w, b, dy = arrays(batch, size, in_c, out_c, padding)
    y = {a: conv2d(x, w, b, padding=padding, algorithm=a) for a in ("auto", "gemm", "winograd")}
    d = {a: conv2d_backward(x, w, dy, padding=padding, compute_dw=False, algorithm=a)[0]
         for a in ("auto", "gemm", "winograd")}
    assert not bits(y["gemm"], y["winograd"]) and not bits(d["gemm"], d["winograd"])
    assert bits(y["auto"], y["winograd" if forward else "gemm"])
    assert bits(d["auto"], d["winograd" if dx else "gemm"])

