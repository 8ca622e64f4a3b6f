"""conv2d_weight_gradient_through (csrc/conv2d.c): a first layer's weight and
bias gradients with its activation's derivative folded in, dz = dy · f'(y)
computed block by block inside the weight sums (conv2d_direct.c's, or the
tiles of conv2d_weight_gradient.c for wide kernel rows).  Against the float64
composition of the NumPy references (the activation's derivative, then the
convolution's backward pass) for every impl, and bit for bit against the
separate C passes it replaces (activation_backward or relu_backward, then
conv2d_backward without dx) on every SIMD path and thread count."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fastnn
from fastnn.kernels import (activation_backward, conv2d_backward,
                            conv2d_weight_gradient_through, reference, relu_backward)
from fastnn.kernels.activation import DEFAULT_ALPHA, FROM_OUTPUT
from fastnn.kernels.convolution import DIRECT_FEW_C
from fastnn.kernels.geometry import Window2D

from conftest import NATIVE_IMPLS, each_simd_path, seeds, simd_path, uniform

THROUGH = ("relu",) + FROM_OUTPUT + (None,)


def through_case(rng, batch, size, in_c, kernel, out_c, strides, padding, through):
    """x, w, y = through(z) for a random z, dy, and the float64 reference (dw, db)."""
    alpha = DEFAULT_ALPHA.get(through, 0.0)
    x = uniform(rng, (batch, size[0], size[1], in_c))
    w = uniform(rng, kernel + (in_c, out_c))
    win = Window2D.over(size[0], size[1], kernel, strides, padding)
    out = (batch, win.out_h, win.out_w, out_c)
    y = reference.epilogue(through, 2 * uniform(rng, out), alpha)
    dy = uniform(rng, out)
    dz = reference.epilogue_backward(through, y.astype(np.float64), dy.astype(np.float64), alpha)
    _, dw, db = reference.conv2d_backward(x.astype(np.float64), w.astype(np.float64), dz,
                                          strides, padding)
    return x, w, y, dy, dw, db


def separate_passes(x, w, y, dy, through, strides, padding):
    """What the fold replaces: the derivative's own C pass, then dW without dx."""
    if through is None:
        dz = dy
    elif through == "relu":
        dz = relu_backward(y, dy)
    else:
        dz = activation_backward(through, y, dy)
    _, dw, db = conv2d_backward(x, w, dz, strides, padding, compute_dx=False)
    return dw, db


@st.composite
def cases(draw):
    in_c = draw(st.integers(1, DIRECT_FEW_C + 2))   # 5, 6: the tile kernel too
    kernel = (draw(st.integers(1, 7)), draw(st.integers(1, 7)))
    strides = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    size = tuple(draw(st.integers(k, k + 9)) for k in kernel)
    return dict(batch=draw(st.integers(1, 4)), size=size, in_c=in_c, kernel=kernel,
                out_c=draw(st.integers(1, 41)), strides=strides,
                padding=draw(st.sampled_from(["valid", "same"])),
                through=draw(st.sampled_from(THROUGH)))


def check(case, seed, impl):
    x, w, y, dy, dw64, db64 = through_case(np.random.default_rng(seed), **case)
    dw, db = conv2d_weight_gradient_through(x, w, y, dy, case["through"], case["strides"],
                                            case["padding"], impl=impl)
    assert dw.dtype == db.dtype == np.float32 and dw.shape == w.shape and db.shape == (w.shape[3],)
    terms = math.sqrt(y.shape[0] * y.shape[1] * y.shape[2])
    np.testing.assert_allclose(dw, dw64, rtol=1e-4, atol=1e-5 * terms)
    np.testing.assert_allclose(db, db64, rtol=1e-4, atol=1e-5 * terms)
    return x, w, y, dy, dw, db


@given(case=cases(), seed=seeds)
def test_matches_the_composed_reference(case, seed):
    for impl in NATIVE_IMPLS + ("numpy",):
        check(case, seed, impl)


@given(case=cases(), seed=seeds)
def test_bit_for_bit_the_separate_passes(case, seed):
    x, w, y, dy, dw, db = check(case, seed, "fast")
    dw0, db0 = separate_passes(x, w, y, dy, case["through"], case["strides"], case["padding"])
    np.testing.assert_array_equal(dw, dw0)
    np.testing.assert_array_equal(db, db0)


@each_simd_path
@pytest.mark.parametrize("in_c, kernel, out_c, strides, padding, through", [
    (1, (3, 3), 32, (1, 1), "valid", "relu"),      # mnist_cnn's first layer
    (1, (5, 5), 6, (1, 1), "valid", "tanh"),       # LeNet's: out_c < 8
    (3, (3, 3), 33, (1, 1), "same", "elu"),        # a last single channel vector
    (2, (1, 1), 16, (2, 2), "same", "sigmoid"),    # a 1x1 kernel, stride 2
    (4, (3, 3), 1, (2, 1), "valid", "leaky_relu"),
    (3, (7, 7), 32, (2, 2), "same", "relu"),       # a 7x7 stem, K = 147
    (4, (11, 11), 5, (1, 1), "same", "selu"),      # K = 484: the longest direct patch
    # runs of k_w * in_c >= 16 values: the tile kernel of conv2d_weight_gradient.c,
    # dy read in place (out_c 32) or packed into panels (33)
    (8, (3, 3), 32, (1, 1), "same", "tanh"),
    (16, (3, 3), 33, (2, 2), "valid", "relu"),
])
def test_first_layers_on_every_simd_path_and_thread_count(simd, restore_threads, in_c, kernel,
                                                          out_c, strides, padding, through):
    """Sized above the split threshold (fastnn_parts_for): 1, 2 and 3 threads
    give the same bits, which are those of the separate passes."""
    case = dict(batch=6, size=(29, 27), in_c=in_c, kernel=kernel, out_c=out_c,
                strides=strides, padding=padding, through=through)
    with simd_path(simd):
        results = []
        for threads in (1, 2, 3):
            fastnn.set_num_threads(threads)
            x, w, y, dy, dw, db = check(case, 5, "fast")
            results.append((dw, db))
        dw0, db0 = separate_passes(x, w, y, dy, through, strides, padding)
        for dw, db in results:
            np.testing.assert_array_equal(dw, dw0)
            np.testing.assert_array_equal(db, db0)


def test_no_gradient_passes_where_the_derivative_is_zero():
    # relu's output 0 and hard_sigmoid's 0 or 1: f'(y) = 0 everywhere, nothing
    # reaches the weights, whatever dy holds (inf included: a select, not a product)
    x = np.ones((2, 6, 6, 1), np.float32)
    w = np.ones((3, 3, 1, 8), np.float32)
    dy = np.full((2, 4, 4, 8), np.inf, np.float32)
    for impl in NATIVE_IMPLS:
        dw, db = conv2d_weight_gradient_through(x, w, np.zeros_like(dy), dy, "relu", impl=impl)
        assert not dw.any() and not db.any()


@pytest.mark.parametrize("change, message", [
    (dict(y=np.ones((1, 4, 3, 2), np.float32)), r"y must have shape \(1, 4, 4, 2\)"),
    (dict(dy=np.ones((1, 4, 4, 3), np.float32)), r"dy must have shape \(1, 4, 4, 2\)"),
    (dict(through="silu"), r"through must be None, 'relu' or one of .*silu's backward pass "
                           r"reads the activation's input z"),
    (dict(through="softmax"), r"through must be .*softmax mixes a row"),
    (dict(through="elu", alpha=-1.0), r"elu's alpha must be > 0"),
])
def test_bad_arguments_are_named(change, message):
    args = dict(x=np.ones((1, 6, 6, 1), np.float32), w=np.ones((3, 3, 1, 2), np.float32),
                y=np.ones((1, 4, 4, 2), np.float32), dy=np.ones((1, 4, 4, 2), np.float32),
                through="tanh")
    args.update(change)
    with pytest.raises(ValueError, match="conv2d_weight_gradient_through: " + message):
        conv2d_weight_gradient_through(**args)
