"""conv2d_relu_max_pool2d (csrc/conv2d_direct.c): a first layer's convolution,
ReLU and max pool in one pass, and the pooled weight gradient from its winners.

The fused forward must give, bit for bit, what the unfused kernels give --
``max_pool2d(conv2d(x, w, b, activation="relu"))`` -- since it runs the same
tiles: on every SIMD path and thread count.  Its winners (one byte per pooled
value) are checked against an independent NumPy argmax
(``reference.max_pool2d_winners``: the first maximum in row-major window
order, 255 where that maximum is <= 0), and the weight gradient from them
against the one that finds the winners in y, bit for bit.  Inputs of small
integers make every sum exact, so ties -- the case the first-maximum rule
is about -- and windows whose maximum is exactly 0 are common and the float64
reference gives the same numbers.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fastnn
from fastnn.kernels import (conv2d, conv2d_pooled_weight_gradient, conv2d_relu_max_pool2d,
                            max_pool2d, reference)
from fastnn.kernels._native import native
from fastnn.kernels.convolution import POOL_NO_WINNER, direct_conv_takes
from fastnn.kernels.geometry import Window2D

from conftest import NATIVE_IMPLS, each_simd_path, seeds, simd_path, uniform

THREADS = (1, 2, 3)


def small_integers(rng, shape, low, high):
    """Integers in [low, high] as float32: sums of a few hundred products are exact."""
    return rng.integers(low, high + 1, shape).astype(np.float32)


def integer_case(rng, batch, size, in_c, kernel, out_c):
    """x, w, b of small integers: exact sums, many ties and many zeros after the ReLU."""
    return (small_integers(rng, (batch, *size, in_c), -2, 2),
            small_integers(rng, (*kernel, in_c, out_c), -1, 1),
            small_integers(rng, (out_c,), -2, 1))


def unfused(x, w, b, strides, padding, pool, impl="fast"):
    """The two kernels the fused one replaces, and y, the array it never writes."""
    y = conv2d(x, w, b, strides, padding, impl=impl, activation="relu")
    return max_pool2d(y, pool, impl=impl), y


def assert_same_bits(got, want, what):
    assert got.dtype == want.dtype and got.shape == want.shape, what
    assert got.tobytes() == want.tobytes(), f"{what}: the bits differ"


def assert_fused_matches_unfused(x, w, b, strides, padding, pool, context=""):
    """Fused == unfused bit for bit; winners == NumPy's first maximum; the weight
    gradient from the winners == the one from y, bit for bit."""
    p, winners = conv2d_relu_max_pool2d(x, w, b, strides, padding, pool)
    p_unfused, y = unfused(x, w, b, strides, padding, pool)
    assert_same_bits(p, p_unfused, f"p{context}")
    np.testing.assert_array_equal(winners, reference.max_pool2d_winners(y, pool, POOL_NO_WINNER),
                                  err_msg=f"winners{context}")
    dp = uniform(np.random.default_rng(1), p.shape)
    from_y = conv2d_pooled_weight_gradient(x, w, y, dp, strides, padding, pool)
    from_winners = conv2d_pooled_weight_gradient(x, w, None, dp, strides, padding, pool,
                                                 winners=winners)
    for got, want, name in zip(from_winners, from_y, ("dw", "db")):
        assert_same_bits(got, want, f"{name}{context}")
    return winners


@st.composite
def cases(draw):
    in_c = draw(st.integers(1, 8))
    k_h, k_w = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    pool = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    strides = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    size = tuple(draw(st.integers(k + p * s, k + p * s + 7)) for k, p, s in
                 zip((k_h, k_w), pool, strides))
    return dict(batch=draw(st.integers(1, 3)), size=size, in_c=in_c, kernel=(k_h, k_w),
                out_c=draw(st.integers(1, 41)), strides=strides,
                padding=draw(st.sampled_from(["valid", "same"])), pool=pool,
                integers=draw(st.booleans()))


@given(case=cases(), seed=seeds)
def test_fused_forward_is_the_unfused_one(case, seed):
    """Any shape the direct kernels take, odd sizes (windows the pool drops at the
    right and bottom edges), 1 to 41 channels, with and without exact ties."""
    kernel = case["kernel"] + (case["in_c"],)
    if not direct_conv_takes(kernel):
        return
    rng = np.random.default_rng(seed)
    shape = (case["batch"], case["size"], case["in_c"], case["kernel"], case["out_c"])
    if case["integers"]:
        x, w, b = integer_case(rng, *shape)
    else:
        x, w, b = (uniform(rng, (case["batch"], *case["size"], case["in_c"])),
                   uniform(rng, kernel + (case["out_c"],)), uniform(rng, (case["out_c"],)))
    assert_fused_matches_unfused(x, w, b, case["strides"], case["padding"], case["pool"])


@each_simd_path
@pytest.mark.parametrize("in_c, kernel, out_c, padding", [
    (1, (3, 3), 32, "valid"),   # the demo's first layer
    (1, (3, 3), 1, "same"),
    (3, (3, 3), 6, "valid"),    # out_c < 8: W padded to 8 lanes, 16-pixel tiles on avx512
    (1, (5, 5), 16, "same"),
    (3, (7, 7), 32, "same"),    # a ResNet-style stem, K = 147 on 3 channels
    (3, (5, 5), 33, "valid"),   # 33: a last vector overlapping the one before, a scalar tail
    (8, (3, 3), 16, "same"),    # K = 72 on 8 channels
])
def test_every_simd_path_and_thread_count(simd, restore_threads, in_c, kernel, out_c, padding):
    """Above the size where the work is split between threads (27x27: the last
    column and row of y belong to no 2x2 window); exact ties on small integers."""
    x, w, b = integer_case(np.random.default_rng(3), 7, (27, 29), in_c, kernel, out_c)
    with simd_path(simd):
        results = []
        for threads in THREADS:
            fastnn.set_num_threads(threads)
            results.append(assert_fused_matches_unfused(x, w, b, (1, 1), padding, (2, 2),
                                                        f" [{simd}, {threads} threads]"))
    assert all(r.tobytes() == results[0].tobytes() for r in results)


def test_ties_go_to_the_first_maximum_and_cut_maxima_to_no_winner():
    """Small integers: windows with tied maxima, windows whose maximum is exactly 0
    (the ReLU made it so, or the sum was 0), windows all negative before the ReLU."""
    x, w, b = integer_case(np.random.default_rng(5), 4, (14, 15), 2, (3, 3), 12)
    winners = assert_fused_matches_unfused(x, w, b, (1, 1), "same", (2, 2))
    p, _ = conv2d_relu_max_pool2d(x, w, b, padding="same")
    _, y = unfused(x, w, b, (1, 1), "same", (2, 2))
    taps = y[:, :14, :14].reshape(4, 7, 2, 7, 2, 12).transpose(0, 1, 3, 5, 2, 4)
    taps = taps.reshape(4, 7, 7, 12, 4)
    tied = (taps == taps.max(axis=-1, keepdims=True)).sum(axis=-1) > 1
    # the test sees each situation many times
    assert (tied & (p > 0)).sum() > 20 and ((p == 0) & (winners == POOL_NO_WINNER)).sum() > 20
    assert (winners[tied & (p > 0)] == np.argmax(taps, axis=-1)[tied & (p > 0)]).all()
    assert ((winners == POOL_NO_WINNER) == (p <= 0)).all()


def test_a_window_that_peaks_at_zero_has_no_winner():
    """y = 0 everywhere (every sum negative or 0): p = 0, no window has a winner,
    and no gradient reaches the weights."""
    x = np.ones((2, 6, 6, 1), np.float32)
    w = -np.ones((3, 3, 1, 8), np.float32)
    b = np.concatenate([np.zeros(4, np.float32), -np.ones(4, np.float32)])
    for impl in NATIVE_IMPLS + ("numpy",):
        p, winners = conv2d_relu_max_pool2d(x, w, b, impl=impl)
        assert p.shape == winners.shape == (2, 2, 2, 8) and not p.any()
        assert (winners == POOL_NO_WINNER).all()
        dw, db = conv2d_pooled_weight_gradient(x, w, None, np.ones_like(p), impl=impl,
                                               winners=winners)
        assert not dw.any() and not db.any()


@given(case=cases(), seed=seeds)
def test_naive_and_numpy_implementations(case, seed):
    """impl="naive" (naive convolution, ReLU, the textbook loop over windows) is the
    naive kernels' composition bit for bit; impl="numpy" the float64 reference; and
    the weight gradient from the winners agrees with the composed reference."""
    kernel = case["kernel"] + (case["in_c"],)
    if not direct_conv_takes(kernel) or not case["integers"]:
        return
    args = (case["strides"], case["padding"], case["pool"])
    x, w, b = integer_case(np.random.default_rng(seed), case["batch"], case["size"],
                           case["in_c"], case["kernel"], case["out_c"])
    p_naive, y_naive = unfused(x, w, b, *args, impl="naive")
    p, winners = conv2d_relu_max_pool2d(x, w, b, *args, impl="naive")
    assert_same_bits(p, p_naive, "p")
    np.testing.assert_array_equal(winners, reference.max_pool2d_winners(y_naive, case["pool"],
                                                                         POOL_NO_WINNER))
    p_numpy, winners_numpy = conv2d_relu_max_pool2d(x, w, b, *args, impl="numpy")
    np.testing.assert_array_equal(p_numpy, p)   # exact sums: the same numbers
    np.testing.assert_array_equal(winners_numpy, winners)
    dp = uniform(np.random.default_rng(seed + 1), p.shape)
    want = conv2d_pooled_weight_gradient(x, w, y_naive, dp, *args, impl="numpy")
    for impl in NATIVE_IMPLS + ("numpy",):
        got = conv2d_pooled_weight_gradient(x, w, None, dp, *args, impl=impl, winners=winners)
        for g, e in zip(got, want):
            np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-5)


def test_inference_skips_the_winners():
    x, w, b = integer_case(np.random.default_rng(2), 2, (9, 9), 1, (3, 3), 5)
    for impl in NATIVE_IMPLS + ("numpy",):
        p, winners = conv2d_relu_max_pool2d(x, w, b, impl=impl, winners=False)
        assert winners is None
        assert_same_bits(p, conv2d_relu_max_pool2d(x, w, b, impl=impl)[0], impl)


def test_an_empty_batch():
    p, winners = conv2d_relu_max_pool2d(np.ones((0, 6, 6, 1), np.float32),
                                        np.ones((3, 3, 1, 2), np.float32))
    assert p.shape == winners.shape == (0, 2, 2, 2)


@pytest.mark.parametrize("change, message", [
    (dict(w=np.ones((3, 3, 9, 2), np.float32), x=np.ones((1, 6, 6, 9), np.float32)),
     r"kernels of at most 75 values per patch .* only, got \(3, 3, 9\)"),
    (dict(b=np.ones(3, np.float32)), r"b must have shape \(2,\)"),
    (dict(pool_size=9), r"pool windows of at most 64 values only"),
    (dict(pool_size=5), r"pool_size"),
    (dict(impl="fastest"), r"impl"),
])
def test_bad_arguments_are_named(change, message):
    args = dict(x=np.ones((1, 6, 6, 1), np.float32), w=np.ones((3, 3, 1, 2), np.float32),
                b=np.ones(2, np.float32), pool_size=2)
    args.update(change)
    with pytest.raises(ValueError, match="conv2d_relu_max_pool2d: .*" + message):
        conv2d_relu_max_pool2d(**args)


@pytest.mark.parametrize("change, message", [
    (dict(y=None), r"give y \(the forward output\) or winners .*, got neither"),
    (dict(winners=np.zeros((1, 2, 2, 2), np.uint8)), r"got both"),
    (dict(y=None, winners=np.zeros((1, 2, 2, 2), np.int64)), r"winners must be uint8"),
    (dict(y=None, winners=np.zeros((1, 2, 3, 2), np.uint8)),
     r"winners must have shape \(1, 2, 2, 2\)"),
])
def test_the_gradient_takes_y_or_winners(change, message):
    args = dict(x=np.ones((1, 6, 6, 1), np.float32), w=np.ones((3, 3, 1, 2), np.float32),
                y=np.ones((1, 4, 4, 2), np.float32), dp=np.ones((1, 2, 2, 2), np.float32))
    args.update(change)
    with pytest.raises(ValueError, match="conv2d_pooled_weight_gradient: .*" + message):
        conv2d_pooled_weight_gradient(**args)


@pytest.mark.parametrize("kernel, in_c, pool, takes", [
    ((5, 5), 3, (8, 8), True),     # K = 75, 64 taps: both limits exactly
    ((11, 11), 4, (2, 2), True),   # K = 484 on 4 channels
    ((11, 11), 5, (2, 2), False),  # K = 605 on 5 channels
    ((3, 3), 1, (5, 13), False),   # 65 taps
])
def test_the_c_kernel_refuses_what_it_cannot_do(kernel, in_c, pool, takes):
    """Straight into the bridge: at the limits of fastnn.h the fast kernel is the
    naive one bit for bit (exact sums); one past either it returns FASTNN_ELIMIT
    (a ValueError here) and writes nothing."""
    rng = np.random.default_rng(17)
    out_h, out_w = 2 * pool[0], 2 * pool[1]
    x, w, b = integer_case(rng, 1, (out_h + kernel[0] - 1, out_w + kernel[1] - 1), in_c,
                           kernel, 3)
    win = Window2D.over(x.shape[1], x.shape[2], kernel, (1, 1), "valid")
    pool_win = Window2D.over(out_h, out_w, pool, pool, "valid")

    def run(naive):
        p, winners = np.full(12, 7, np.float32), np.full(12, 7, np.uint8)
        native.conv2d_relu_max_pool(x.reshape(-1), w.reshape(-1), b, p, winners, 1, in_c, 3,
                                    win, pool_win, naive)
        return p, winners

    naive = run(naive=True)
    if takes:
        for got, want in zip(run(naive=False), naive):
            assert_same_bits(got, want, "fast against naive")
    else:
        p, winners = np.full(12, 7, np.float32), np.full(12, 7, np.uint8)
        with pytest.raises(ValueError, match="conv2d_relu_max_pool2d: arguments past the C "
                                             "kernel's limits"):
            native.conv2d_relu_max_pool(x.reshape(-1), w.reshape(-1), b, p, winners, 1, in_c,
                                        3, win, pool_win, False)
        assert (p == 7).all() and (winners == 7).all()

