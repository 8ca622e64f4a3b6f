"""conv2d_pooled_weight_gradient (csrc/conv2d_direct.c): the weight and bias
gradients of max_pool(relu(conv2d(x, w) + b)) from the pool's output gradient,
against the composition of the NumPy references (pool backward, ReLU backward,
convolution backward), for every impl, thread count and SIMD path."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fastnn
from fastnn.kernels import (conv2d, conv2d_pooled_weight_gradient, conv2d_relu_max_pool2d,
                            max_pool2d, reference)
from fastnn.kernels._native import native
from fastnn.kernels.convolution import (DIRECT_ANY_C_MAX_K, DIRECT_FEW_C, DIRECT_MAX_K,
                                        pooled_weight_gradient_takes)
from fastnn.kernels.geometry import Window2D

from conftest import NATIVE_IMPLS, each_simd_path, seeds, simd_path, uniform


def pooled_case(rng, batch, size, in_c, kernel, out_c, strides, padding, pool):
    """x, w, b, y = relu(conv + b) with some zeros, dp, and the float64 reference (dw, db)."""
    x = uniform(rng, (batch, size[0], size[1], in_c))
    w = uniform(rng, kernel + (in_c, out_c))
    b = uniform(rng, (out_c,))
    y = conv2d(x, w, b, strides, padding, activation="relu")
    dp = uniform(rng, max_pool2d(y, pool).shape)
    y64 = y.astype(np.float64)
    dz = reference.relu_backward(y64, reference.max_pool2d_backward(y64, dp.astype(np.float64),
                                                                   pool))
    _, dw, db = reference.conv2d_backward(x.astype(np.float64), w.astype(np.float64), dz,
                                          strides, padding)
    return x, w, b, y, dp, dw, db


@st.composite
def cases(draw):
    in_c = draw(st.integers(1, DIRECT_FEW_C))
    k_h = draw(st.integers(1, 7))
    k_w = draw(st.integers(1, 7))
    pool = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = draw(st.sampled_from(["valid", "same"]))
    strides = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    # the convolution's output must hold at least one pooling window
    size = tuple(draw(st.integers(k + p * s, k + p * s + 7)) for k, p, s in
                 zip((k_h, k_w), pool, strides))
    return dict(batch=draw(st.integers(1, 4)), size=size, in_c=in_c, kernel=(k_h, k_w),
                out_c=draw(st.integers(1, 41)), strides=strides, padding=padding, pool=pool)


def check(case, seed, impl):
    """dw, db against the reference; and the same bits from the fused forward's
    winners as from y (where the kernel picks each channel's winning tap
    with a permute instead of building the taps' gradients: 2-7 taps, out_c
    a multiple of 8, short patches)."""
    x, w, b, y, dp, dw64, db64 = pooled_case(np.random.default_rng(seed), **case)
    geometry = (case["strides"], case["padding"], case["pool"])
    dw, db = conv2d_pooled_weight_gradient(x, w, y, dp, *geometry, impl=impl)
    if impl != "numpy":
        _, winners = conv2d_relu_max_pool2d(x, w, b, *geometry, impl=impl)
        picked = conv2d_pooled_weight_gradient(x, w, None, dp, *geometry, impl=impl,
                                               winners=winners)
        np.testing.assert_array_equal(picked[0], dw)
        np.testing.assert_array_equal(picked[1], db)
    assert dw.dtype == db.dtype == np.float32 and dw.shape == w.shape
    terms = math.sqrt(y.shape[0] * y.shape[1] * y.shape[2])
    np.testing.assert_allclose(dw, dw64, rtol=1e-4, atol=1e-5 * terms)
    np.testing.assert_allclose(db, db64, rtol=1e-4, atol=1e-5 * terms)


@given(case=cases(), seed=seeds)
def test_matches_the_composed_reference(case, seed):
    for impl in NATIVE_IMPLS + ("numpy",):
        check(case, seed, impl)


@each_simd_path
def test_demo_layer_on_both_simd_paths_and_thread_counts(simd, restore_threads):
    case = dict(batch=16, size=(28, 28), in_c=1, kernel=(3, 3), out_c=32, strides=(1, 1),
                padding="valid", pool=(2, 2))
    with simd_path(simd):
        for threads in (1, 2):
            fastnn.set_num_threads(threads)
            check(case, 7, "fast")


@each_simd_path
@pytest.mark.parametrize("in_c, kernel, out_c, padding, pool", [
    (3, (3, 3), 24, "same", (2, 3)),     # 6 taps, K + 1 = 28; 16 + 8 channels
    (1, (5, 5), 8, "valid", (2, 2)),     # K + 1 = 26: two groups of patch values
    (2, (3, 3), 40, "valid", (3, 2)),    # 6 taps; 2 x 16 + 8 channels
])
def test_winner_picking_on_every_path_and_thread_count(simd, in_c, kernel, out_c, padding,
                                                       pool, restore_threads):
    """Windows of 2-7 taps, out_c a multiple of 8, patches of at most 31
    values: the winners' path (check compares it with y's bit for bit)."""
    case = dict(batch=5, size=(19, 22), in_c=in_c, kernel=kernel, out_c=out_c,
                strides=(1, 1), padding=padding, pool=pool)
    with simd_path(simd):
        for threads in (1, 2, 3):
            fastnn.set_num_threads(threads)
            check(case, 13, "fast")


@each_simd_path
@pytest.mark.parametrize("in_c, kernel, out_c, padding, pool", [
    (3, (7, 7), 32, "same", (2, 2)),     # a ResNet-style stem, K = 147
    (1, (9, 9), 5, "same", (3, 3)),      # K = 81, out_c < 8
    (3, (11, 11), 17, "valid", (2, 2)),  # K = 363
    (4, (9, 9), 33, "same", (2, 3)),     # K = 324
    (4, (11, 11), 1, "same", (2, 2)),    # K = 484: the longest patch
])
def test_long_patches_on_few_channels(simd, in_c, kernel, out_c, padding, pool):
    """First layers with wide kernels: patch rows up to FASTNN_DIRECT_MAX_K values,
    summed in register groups of KB, on each SIMD path."""
    case = dict(batch=3, size=(20, 21), in_c=in_c, kernel=kernel, out_c=out_c,
                strides=(1, 1), padding=padding, pool=pool)
    with simd_path(simd):
        check(case, 11, "fast")


def test_windows_that_peak_at_zero_pass_no_gradient():
    # all outputs negative before the ReLU: y = 0 everywhere, every window's
    # maximum is 0, so nothing reaches the weights
    x = np.ones((2, 6, 6, 1), np.float32)
    w = -np.ones((3, 3, 1, 8), np.float32)
    y = conv2d(x, w, activation="relu")
    dp = np.ones((2, 2, 2, 8), np.float32)
    for impl in NATIVE_IMPLS:
        dw, db = conv2d_pooled_weight_gradient(x, w, y, dp, impl=impl)
        assert not dw.any() and not db.any()


@pytest.mark.parametrize("change, message", [
    (dict(w=np.ones((3, 3, 9, 2), np.float32), x=np.ones((1, 6, 6, 9), np.float32)),
     r"kernels of at most 75 values per patch \(kh\*kw\*in_channels\), or 484 with at most 4 "
     r"input channels only, got \(3, 3, 9\)"),
    (dict(y=np.ones((1, 4, 4, 3), np.float32)), r"y must have shape \(1, 4, 4, 2\)"),
    (dict(dp=np.ones((1, 3, 3, 2), np.float32)), r"dp must have shape \(1, 2, 2, 2\)"),
    (dict(pool_size=9), r"pool windows of at most 64 values only"),
    (dict(pool_size=5), r"pool_size"),
])
def test_bad_arguments_are_named(change, message):
    args = dict(x=np.ones((1, 6, 6, 1), np.float32), w=np.ones((3, 3, 1, 2), np.float32),
                y=np.ones((1, 4, 4, 2), np.float32), dp=np.ones((1, 2, 2, 2), np.float32),
                pool_size=2)
    args.update(change)
    if "x" in change:
        args["y"] = np.ones((1, 4, 4, 2), np.float32)
    with pytest.raises(ValueError, match="conv2d_pooled_weight_gradient: .*" + message):
        conv2d_pooled_weight_gradient(**args)


@pytest.mark.parametrize("kernel, in_c, pool", [
    ((5, 5), 3, (8, 8)),    # K = 75, 64 taps: both limits exactly
    ((5, 3), 5, (2, 2)),    # K = 75 on 5 channels
    ((11, 11), 4, (2, 2)),  # K = 484 on 4 channels: the longest patch
    ((4, 19), 5, (2, 2)),   # K = 380 on 5 channels: too many for a long patch
    ((4, 19), 1, (2, 2)),   # K = 76 on 1 channel: a long patch on few
    ((11, 11), 5, (2, 2)),  # K = 605 on 5 channels
    ((11, 12), 4, (2, 2)),  # K = 528 on 4 channels
    ((3, 3), 1, (5, 13)),   # 65 taps
], ids=["at-limits", "K75-5-channels", "K484-4-channels", "K380-5-channels-past",
        "K76-1-channel", "K605-past", "K528-past", "taps-past"])
def test_the_c_kernel_refuses_what_it_cannot_do(kernel, in_c, pool):
    """Straight into the bridge, past the Python checks: at the limits fastnn.h
    states the fast C kernel agrees with the naive one; one past either it
    returns FASTNN_ELIMIT (a ValueError here) without writing, and
    pooled_weight_gradient_takes says which is which."""
    rng = np.random.default_rng(17)
    out_h, out_w = 2 * pool[0], 2 * pool[1]
    x = uniform(rng, (1, out_h + kernel[0] - 1, out_w + kernel[1] - 1, in_c))
    w = uniform(rng, kernel + (in_c, 3))
    y = np.maximum(uniform(rng, (1, out_h, out_w, 3)), 0)
    dp = uniform(rng, (1, 2, 2, 3))
    win = Window2D.over(x.shape[1], x.shape[2], kernel, (1, 1), "valid")
    pool_win = Window2D.over(out_h, out_w, pool, pool, "valid")
    takes = pooled_weight_gradient_takes(w.shape, pool)
    k = kernel[0] * kernel[1] * in_c
    assert takes == ((k <= DIRECT_ANY_C_MAX_K or (in_c <= DIRECT_FEW_C and k <= DIRECT_MAX_K))
                     and pool[0] * pool[1] <= native.POOLED_MAX_TAPS)

    def run(naive):
        dw, db = np.full(w.size, 7, np.float32), np.full(3, 7, np.float32)
        native.conv2d_pooled_weight_gradient(x.reshape(-1), y.reshape(-1), None,
                                             dp.reshape(-1), dw, db, 1, in_c, 3, win, pool_win,
                                             naive)
        return dw, db

    naive_dw, naive_db = run(naive=True)
    if takes:
        dw, db = run(naive=False)
        np.testing.assert_allclose(dw, naive_dw, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(db, naive_db, rtol=1e-5, atol=1e-5)
    else:
        dw, db = np.full(w.size, 7, np.float32), np.full(3, 7, np.float32)
        with pytest.raises(ValueError, match="conv2d_pooled_weight_gradient: arguments past "
                                             "the C kernel's limits"):
            native.conv2d_pooled_weight_gradient(x.reshape(-1), y.reshape(-1), None,
                                                 dp.reshape(-1), dw, db, 1, in_c, 3, win,
                                                 pool_win, False)
        assert (dw == 7).all() and (db == 7).all()
